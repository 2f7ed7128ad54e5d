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

from audiodecode.jax.features import log_mel, melspectrogram, mfcc, power_to_db, spectrogram
from audiodecode.jax.specaugment import spec_augment

# Imported last: `audiodecode.jax.loader` is both the submodule and, once
# this line has run, the function (the submodule stays importable by name).
from audiodecode.jax.loader import loader  # noqa: E402

__all__ = ["loader", "log_mel", "melspectrogram", "mfcc", "power_to_db", "spec_augment", "spectrogram"]
