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
    """`log_mel` of a signal that arrives in chunks.

    Parameters
    ----------
    sr, n_fft, hop_length, win_length, window, center, n_mels, fmin, fmax, htk, norm, power, ref, amin
        As for :func:`audiodecode.torch.features.log_mel` (``pad_mode="constant"``).
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

    def _compute(self, window: np.ndarray) -> torch.Tensor:
        return log_mel(torch.from_numpy(window), **self._args)

    def _empty(self, batch_shape: tuple[int, ...]) -> torch.Tensor:
        tail = (self._n_mels, 0) if self._features_first else (0, self._n_mels)
        return torch.zeros((*batch_shape, *tail), dtype=torch.float32)
