"""PyTorch adapter: a loader that yields tensors on the device, a
`torch.utils.data.Dataset` for your own DataLoader, and features as torch
functions::

    from audiodecode.torch import AudioDataLoader

    loader = AudioDataLoader("data/", batch_size=32, sr=16000, clip_seconds=1.0,
                             features="mfcc", n_mfcc=40, device="cuda")
    for epoch in range(10):
        for features, labels in loader:      # (32, 40, frames) and (32,), on the GPU
            ...

Decoding, cropping and augmentation run in the framework-free core
(`audiodecode.data`), shared with `audiodecode.jax`: for the same seed
and files both adapters produce the same audio.

Layout: `loader` (`AudioDataLoader`), `prefetch` (the background thread
that reads batches ahead), `dataset` (`AudioDataset`, `collate`),
`features` (spectrogram, melspectrogram, power_to_db, log_mel, mfcc).
"""

try:
    import torch  # noqa: F401 (the adapter's one hard dependency, checked here with a useful message)
except ImportError as err:
    raise ImportError(
        'audiodecode.torch needs PyTorch, which is not installed: pip install "audiodecode[torch]"'
    ) from err

from audiodecode.torch.dataset import AudioDataset, collate
from audiodecode.torch.features import log_mel, melspectrogram, mfcc, power_to_db, spectrogram
from audiodecode.torch.loader import AudioDataLoader
from audiodecode.torch.streaming import StreamingLogMel

__all__ = [
    "AudioDataLoader",
    "StreamingLogMel",
    "AudioDataset",
    "collate",
    "log_mel",
    "melspectrogram",
    "mfcc",
    "power_to_db",
    "spectrogram",
]
