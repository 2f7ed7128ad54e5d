"""audiodecode: the audio input pipeline for machine-learning training.

Decode, resample, augment and featurize audio fast enough that the
accelerator never waits. The core is Rust; this package is its numpy API.
`audiodecode.jax` and `audiodecode.torch` are the framework adapters.
"""

from audiodecode._core import AudioDecodeError, DecodeError, UnsupportedFormatError
from audiodecode.augment import (
    AddBackgroundNoise,
    AddNoise,
    ApplyImpulseResponse,
    Augmentation,
    BandPassFilter,
    BandStopFilter,
    Clipping,
    Compose,
    CutMix,
    Gain,
    HighPassFilter,
    LowPassFilter,
    Mixup,
    OneOf,
    PitchShift,
    PolarityInversion,
    Reverb,
    Shift,
    SpeedPerturbation,
    TimeMask,
    TimeStretch,
    VolumeAdjust,
)
from audiodecode.cache import AudioCache, resolve_cache
from audiodecode.live import LiveQueue
from audiodecode.loading import AudioInfo, BatchResult, DecodeWarning, info, info_batch, load, load_batch
from audiodecode.stream import PushDecoder, StreamDecoder, stream

__all__ = [
    "AudioDataLoader",
    "AudioDataset",
    "AddNoise",
    "Augmentation",
    "Compose",
    "Gain",
    "OneOf",
    "PitchShift",
    "SpeedPerturbation",
    "TimeStretch",
    "VolumeAdjust",
    # augment/: recorded.py, filters.py, waveform.py
    "AddBackgroundNoise",
    "ApplyImpulseResponse",
    "Reverb",
    "LowPassFilter",
    "HighPassFilter",
    "BandPassFilter",
    "BandStopFilter",
    "Clipping",
    "PolarityInversion",
    "Shift",
    "TimeMask",
    # augment/mixing.py: batch-level, for the loaders' augmentations=
    "Mixup",
    "CutMix",
    "AudioCache",
    "AudioDecodeError",
    "AudioInfo",
    "BatchResult",
    "DecodeError",
    "DecodeWarning",
    "UnsupportedFormatError",
    "info",
    "info_batch",
    "load",
    "load_batch",
    "resolve_cache",
    # preparation/: corpora into shards
    "prepare",
    # stream.py and live.py: long and live audio, chunk by chunk
    "LiveQueue",
    "PushDecoder",
    "StreamDecoder",
    "stream",
]
__version__ = "0.1.0"

# The torch adapter's classes, imported on first use so that `import
# audiodecode` never imports (or needs) torch.
_TORCH_EXPORTS = ("AudioDataLoader", "AudioDataset")


def __getattr__(name: str) -> object:
    if name in _TORCH_EXPORTS:
        import audiodecode.torch as torch_adapter

        return getattr(torch_adapter, name)
    if name == "prepare":
        # Imported on first use: it pulls in the record sources.
        from audiodecode.preparation import prepare

        return prepare
    raise AttributeError(f"module 'audiodecode' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_TORCH_EXPORTS, "prepare"])
