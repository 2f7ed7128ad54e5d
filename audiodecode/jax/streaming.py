"""`StreamingLogMel`: `log_mel` over a stream, chunk by chunk, with JAX.

The STFT overlap between chunks is carried (`audiodecode.frame_carry`), so
the frames of a stream equal those of `log_mel` on the whole signal; for a
fixed chunk length the jitted `log_mel` compiles once.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from audiodecode.frame_carry import StreamingLogMelBase
from audiodecode.jax.features import log_mel


class StreamingLogMel(StreamingLogMelBase):
    """`log_mel` of a signal that arrives in chunks.

    Parameters
    ----------
    sr, n_fft, hop_length, win_length, window, center, n_mels, fmin, fmax, htk, norm, power, ref, amin
        As for :func:`audiodecode.jax.log_mel` (``pad_mode="constant"``).
    layout : {"features_first", "features_last"}

    Notes
    -----
    ``top_db`` is not taken: its floor is relative to the maximum over the
    whole signal, which a stream does not know yet; apply it afterwards.

    Examples
    --------
    >>> lm = StreamingLogMel(sr=16000, n_fft=400, hop_length=160, n_mels=80)  # doctest: +SKIP
    >>> for chunk, _ in audiodecode.stream(path, sr=16000, chunk_seconds=1.0):  # doctest: +SKIP
    ...     frames = lm.push(chunk)           # (80, new frames)
    >>> frames = lm.finish()                  # the frames over the end padding
    """

    def _compute(self, window: np.ndarray) -> jax.Array:
        return log_mel(jnp.asarray(window), **self._args)

    def _empty(self, batch_shape: tuple[int, ...]) -> jax.Array:
        tail = (self._n_mels, 0) if self._features_first else (0, self._n_mels)
        return jnp.zeros((*batch_shape, *tail), jnp.float32)
