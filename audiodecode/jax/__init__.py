"""JAX adapter: the Grain `loader`, and features as jittable functions.

Everything here is a pure function of arrays plus static configuration, so it
runs on the accelerator inside a jitted training step, or on its own::

    import jax
    from audiodecode.jax import log_mel, mfcc, spec_augment

    feats = mfcc(batch, sr=16000, n_mfcc=40)  # already jitted: (batch, 40, frames)

    @jax.jit
    def train_step(state, audio, key):
        x = log_mel(audio, sr=16000, n_fft=400, hop_length=160, n_mels=80, layout="features_last")
        x = spec_augment(key, x, freq_mask_param=27, time_mask_param=40, layout="features_last")
        ...

Configuration (sizes, ``sr``, window, ...) must be plain Python values: to
jit a feature function yourself, bind it with ``functools.partial(mfcc,
sr=16000)`` rather than passing ``sr`` to the jitted function as an array.

The feature functions (:mod:`audiodecode.jax.features`) match librosa's
functions of the same names; :func:`spec_augment` masks frequency bands and
time spans of a batch of features.
"""

from typing import TYPE_CHECKING, Any

from audiodecode.jax.features import log_mel, melspectrogram, mfcc, power_to_db, spectrogram
from audiodecode.jax.specaugment import spec_augment
from audiodecode.jax.streaming import StreamingLogMel

if TYPE_CHECKING:  # imported lazily below; named here for type checkers and the API reference
    from audiodecode.jax.data_loader import AudioLoader, loader

__all__ = [
    "AudioLoader", "StreamingLogMel", "loader", "log_mel", "melspectrogram", "mfcc", "power_to_db", "spec_augment",
    "spectrogram",
]  # fmt: skip


def __getattr__(name: str) -> Any:
    # The loader needs Grain; the feature functions need only JAX. Importing
    # it on first use keeps `from audiodecode.jax import mfcc` free of Grain.
    if name in ("loader", "AudioLoader"):
        from audiodecode.jax import data_loader

        return getattr(data_loader, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
