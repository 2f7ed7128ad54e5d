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
    """`log_mel` (audiodecode.jax) of a signal that arrives in chunks;
    the arguments and behaviour are `audiodecode.frame_carry.StreamingLogMelBase`'s."""

    def _compute(self, window: np.ndarray) -> jax.Array:
        return log_mel(jnp.asarray(window), **self._args)

    def _empty(self, batch_shape: tuple[int, ...]) -> jax.Array:
        tail = (self._n_mels, 0) if self._features_first else (0, self._n_mels)
        return jnp.zeros((*batch_shape, *tail), jnp.float32)
