"""Fixed-length, overlapping windows cut from audio that arrives in blocks.

`ChunkWindows` is the windowing behind `audiodecode.stream`, the push
decoder and the live queue: blocks of any length go in, chunks of
`chunk_frames` come out, each `step_frames` after the previous one (so
consecutive chunks share `overlap_frames`), with the frame where each
starts. Only the frames a coming chunk still needs are kept.
"""

from __future__ import annotations

import math

import numpy as np


def _positive_seconds(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{what} must be a number of seconds, got {value!r}")
    seconds = float(value)
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(f"{what} must be a finite number of seconds > 0, got {value!r}")
    return seconds


def window_frames(
    sr: int,
    chunk_seconds: float,
    overlap_seconds: float = 0.0,
    frame_length: int | None = None,
    hop_length: int | None = None,
) -> tuple[int, int]:
    """`(chunk_frames, overlap_frames)` at `sr` for the arguments of `stream`.

    With `hop_length`, the step between chunks is rounded down to a multiple
    of `hop_length` and the overlap is at least `frame_length - hop_length`
    (`frame_length` defaults to `hop_length`), so that analysis frames of
    consecutive chunks fall on one grid and every frame of the whole signal
    lies inside some chunk: the overlap grows to `chunk_frames - step`.

    Raises
    ------
    ValueError
        Naming `chunk_seconds`, `overlap_seconds`, `frame_length` or
        `hop_length` when they are not positive or leave no step.
    """
    chunk_seconds = _positive_seconds(chunk_seconds, "chunk_seconds")
    if isinstance(overlap_seconds, bool) or not isinstance(overlap_seconds, (int, float, np.integer, np.floating)):
        raise ValueError(f"overlap_seconds must be a number of seconds, got {overlap_seconds!r}")
    if not 0 <= overlap_seconds < chunk_seconds:
        raise ValueError(f"overlap_seconds must be in [0, chunk_seconds={chunk_seconds}), got {overlap_seconds!r}")
    chunk = round(chunk_seconds * sr)
    overlap = round(float(overlap_seconds) * sr)
    if chunk < 1:
        raise ValueError(f"chunk_seconds={chunk_seconds} is less than one frame at {sr} Hz")
    if hop_length is not None or frame_length is not None:
        hop = _positive_int(hop_length if hop_length is not None else frame_length, "hop_length")
        frame = _positive_int(frame_length if frame_length is not None else hop, "frame_length")
        if frame > chunk:
            raise ValueError(f"frame_length={frame} is longer than a chunk ({chunk} frames at {sr} Hz)")
        step = (chunk - max(overlap, frame - hop)) // hop * hop
        if step < hop:
            raise ValueError(
                f"overlap_seconds={overlap_seconds} leaves less than one hop_length={hop} between chunks of {chunk} frames"
            )
        overlap = chunk - step
    if overlap >= chunk:
        raise ValueError(f"overlap_seconds={overlap_seconds} leaves no step between chunks of {chunk} frames")
    return chunk, overlap


def _positive_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


class ChunkWindows:
    """Cuts `(channels, n)` blocks into chunks of `chunk_frames`, each
    `chunk_frames - overlap_frames` after the previous one.

    Parameters
    ----------
    chunk_frames : int > 0
    overlap_frames : int in [0, chunk_frames)
    mono : bool
        Hand out chunks as `(n,)` (the one channel) instead of `(1, n)`.

    Notes
    -----
    Every chunk is full length but the last, which holds what is left (it
    is left out when it would hold no frame the previous chunk did not).
    Dropping the first `overlap_frames` of every chunk but the first and
    concatenating gives back the input exactly.
    """

    def __init__(self, chunk_frames: int, overlap_frames: int = 0, *, mono: bool = False) -> None:
        if not 0 <= overlap_frames < chunk_frames:
            raise ValueError(f"overlap_frames must be in [0, {chunk_frames}), got {overlap_frames}")
        self.chunk_frames = chunk_frames
        self.overlap_frames = overlap_frames
        self.step_frames = chunk_frames - overlap_frames
        self._mono = mono
        self._kept: np.ndarray | None = None  # frames from `_kept_from` on
        self._kept_from = 0
        self._next = 0  # first frame of the next chunk
        self._emitted_to = 0  # frames handed out so far

    @property
    def frames_needed(self) -> int:
        """Frames still to push before the next chunk is complete."""
        have = self._kept_from + (0 if self._kept is None else self._kept.shape[-1])
        return max(1, self._next + self.chunk_frames - have)

    def push(self, block: np.ndarray) -> list[tuple[np.ndarray, int]]:
        """Adds `block` (`(channels, n)` or `(n,)`); returns the chunks it
        completed as `(chunk, start_frame)`."""
        block = np.atleast_2d(np.asarray(block, dtype=np.float32))
        if self._kept is None:
            self._kept = block
        elif self._kept.shape[0] != block.shape[0]:
            raise ValueError(f"a block of {block.shape[0]} channels after blocks of {self._kept.shape[0]}")
        else:
            self._kept = np.concatenate([self._kept, block], axis=1)
        out = []
        while self._kept_from + self._kept.shape[1] >= self._next + self.chunk_frames:
            at = self._next - self._kept_from
            out.append(self._chunk(self._kept[:, at : at + self.chunk_frames], self._next))
            self._emitted_to = self._next + self.chunk_frames
            self._next += self.step_frames
        drop = min(self._next - self._kept_from, self._kept.shape[1])
        if drop:
            self._kept = self._kept[:, drop:]
            self._kept_from += drop
        return out

    def finish(self) -> list[tuple[np.ndarray, int]]:
        """Ends the input: the last, shorter chunk if it holds new frames."""
        if self._kept is None:
            return []
        end = self._kept_from + self._kept.shape[1]
        out = []
        if end > self._emitted_to:
            at = self._next - self._kept_from
            out.append(self._chunk(self._kept[:, at:], self._next))
            self._emitted_to = end
        self._kept = self._kept[:, :0]
        self._kept_from = end
        return out

    def _chunk(self, frames: np.ndarray, start: int) -> tuple[np.ndarray, int]:
        chunk = np.ascontiguousarray(frames[0] if self._mono else frames)
        return chunk, start
