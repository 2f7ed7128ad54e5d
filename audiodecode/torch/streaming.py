"""`StreamingLogMel`: `log_mel` over a stream, chunk by chunk, with torch.

The STFT overlap between chunks is carried (`audiodecode.frame_carry`), so
the frames of a stream equal those of `log_mel` on the whole signal.
"""

from __future__ import annotations

import numpy as np
import torch

from audiodecode.frame_carry import StreamingLogMelBase
from audiodecode.torch.features import log_mel


class StreamingLogMel(StreamingLogMelBase):
    """`log_mel` (audiodecode.torch.features) of a signal that arrives in chunks;
    the arguments and behaviour are `audiodecode.frame_carry.StreamingLogMelBase`'s."""

    def _compute(self, window: np.ndarray) -> torch.Tensor:
        return log_mel(torch.from_numpy(window), **self._args)

    def _empty(self, batch_shape: tuple[int, ...]) -> torch.Tensor:
        tail = (self._n_mels, 0) if self._features_first else (0, self._n_mels)
        return torch.zeros((*batch_shape, *tail), dtype=torch.float32)
