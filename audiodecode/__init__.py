"""audiodecode: the audio input pipeline for machine-learning training.

Decode, resample, augment and featurize audio fast enough that the
accelerator never waits. The core is Rust; this package is its numpy API.
`audiodecode.jax` and `audiodecode.torch` are the framework adapters.
"""

from audiodecode._core import AudioDecodeError, DecodeError, UnsupportedFormatError
from audiodecode.augment import (
    AddNoise,
    Augmentation,
    Compose,
    Gain,
    OneOf,
    PitchShift,
    SpeedPerturbation,
    TimeStretch,
    VolumeAdjust,
)
from audiodecode.cache import AudioCache, resolve_cache
from audiodecode.loading import AudioInfo, BatchResult, DecodeWarning, info, load, load_batch

__all__ = [
    "AddNoise",
    "Augmentation",
    "Compose",
    "Gain",
    "OneOf",
    "PitchShift",
    "SpeedPerturbation",
    "TimeStretch",
    "VolumeAdjust",
    "AudioCache",
    "AudioDecodeError",
    "AudioInfo",
    "BatchResult",
    "DecodeError",
    "DecodeWarning",
    "UnsupportedFormatError",
    "info",
    "load",
    "load_batch",
    "resolve_cache",
]
__version__ = "0.1.0"
