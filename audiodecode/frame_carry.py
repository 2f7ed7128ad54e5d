"""STFT framing carried across the chunks of a stream, framework-free.

The batch feature functions frame a whole signal: with ``center=True`` it
is padded with ``n_fft // 2`` zeros on both sides and frame ``t`` is
``padded[t * hop : t * hop + n_fft]``. `FrameCarry` hands out, for each
chunk of a stream, the window of samples whose uncentred frames are exactly
the next frames of that whole-signal framing, and keeps the samples the
following frames still need. With chunks of one length the windows have one
length too, so a jitted feature function compiles once.

The trick for fixed shapes: the carry always holds `carry_frames` samples.
At the start it is zeros, longer than the ``n_fft // 2`` of padding by a
whole number of hops; the frames over the surplus zeros are dropped.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class FrameCarry:
    """Windows of a chunked stream whose frames continue one framing.

    Parameters
    ----------
    n_fft : int > 0
        Frame length.
    hop_length : int > 0
    center : bool
        Pad ``n_fft // 2`` zeros before the first and after the last sample
        (``pad_mode="constant"``, the batch functions' default).

    Notes
    -----
    `push(chunk)` returns ``(window, drop)``: the caller computes features
    of `window` uncentred (``center=False``) and drops the first `drop`
    frames. `finish()` returns the last window (or None when no frame is
    left). Together they give every frame of the whole signal once.
    """

    def __init__(self, n_fft: int, hop_length: int, center: bool = True) -> None:
        for name, value in (("n_fft", n_fft), ("hop_length", hop_length)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.n_fft, self.hop_length, self.center = int(n_fft), int(hop_length), center
        lead = self.n_fft // 2 if center else 0
        #: Samples kept between chunks once the stream runs.
        self.carry_frames = self.n_fft - self.hop_length + (lead - self.n_fft) % self.hop_length
        self._drop = (self.carry_frames - lead) // self.hop_length
        self._carry: np.ndarray | None = None

    def push(self, chunk: np.ndarray) -> tuple[np.ndarray, int]:
        """The window to frame for `chunk` (`(..., n)`), and frames to drop."""
        chunk = np.asarray(chunk, dtype=np.float32)
        if self._carry is None:
            self._carry = np.zeros((*chunk.shape[:-1], self.carry_frames), np.float32)
        window = np.concatenate([self._carry, chunk], axis=-1)
        frames = self._frames(window.shape[-1])
        self._carry = window[..., frames * self.hop_length :]
        drop = min(self._drop, frames)
        self._drop -= drop
        return window, drop

    def finish(self) -> tuple[np.ndarray, int] | None:
        """The last window (the end padding included), or None."""
        if self._carry is None:
            return None
        pad = self.n_fft // 2 if self.center else 0
        window = np.pad(self._carry, [(0, 0)] * (self._carry.ndim - 1) + [(0, pad)])
        self._carry = None
        frames = self._frames(window.shape[-1])
        if frames == 0:
            return None
        return window, min(self._drop, frames)

    def _frames(self, n: int) -> int:
        return 0 if n < self.n_fft else 1 + (n - self.n_fft) // self.hop_length


class StreamingLogMelBase:
    """The framework-free half of the adapters' `StreamingLogMel`:
    `push(chunk)` returns the log-mel frames the chunk (`(..., n)`)
    completed, `finish()` the rest; together, the frames of `log_mel` on
    the whole signal. Subclasses implement `_compute(window)` (their
    framework's `log_mel` with the arguments in `_args`, uncentred) and
    `_empty(shape)`.

    Parameters
    ----------
    sr, n_fft, hop_length, win_length, window, center, n_mels, fmin, fmax, htk, norm, power, ref, amin
        As for `log_mel` (``pad_mode="constant"``).
    layout : {"features_first", "features_last"}

    Notes
    -----
    ``top_db`` is not taken: its floor is relative to the maximum over the
    whole signal, which a stream does not know yet; apply it afterwards.
    Chunks of one length (a multiple of `hop_length`) give windows of one
    length, so a jitted `log_mel` compiles once.
    """

    def __init__(
        self,
        sr: float = 22050,
        n_fft: int = 2048,
        hop_length: int = 512,
        win_length: int | None = None,
        window: str = "hann",
        center: bool = True,
        n_mels: int = 128,
        fmin: float = 0.0,
        fmax: float | None = None,
        htk: bool = False,
        norm: str | float | None = "slaney",
        power: float = 2.0,
        ref: float = 1.0,
        amin: float = 1e-10,
        layout: str = "features_first",
    ) -> None:
        self._carry = FrameCarry(n_fft, hop_length, center)
        self._args: dict[str, Any] = dict(
            sr=sr, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=False,
            n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm, power=power, ref=ref, amin=amin,
            top_db=None, layout=layout,
        )  # fmt: skip
        self._features_first = layout == "features_first"
        self._n_mels = n_mels

    def push(self, chunk: object) -> object:
        """Frames (`(..., n_features, t)` features first) completed by `chunk` (`(..., n)`)."""
        window, drop = self._carry.push(np.asarray(chunk))
        return self._frames(window, drop)

    def finish(self) -> object:
        """The remaining frames, over the end of the signal."""
        last = self._carry.finish()
        return self._empty(()) if last is None else self._frames(*last)

    def _frames(self, window: np.ndarray, drop: int) -> object:
        if window.shape[-1] < self._carry.n_fft:
            return self._empty(window.shape[:-1])
        S = self._compute(window)
        return S[..., drop:] if self._features_first else S[..., drop:, :]

    def _compute(self, window: np.ndarray) -> object:
        raise NotImplementedError

    def _empty(self, batch_shape: tuple[int, ...]) -> object:
        raise NotImplementedError
