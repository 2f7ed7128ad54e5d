"""Live input: a bounded queue between a capture callback and the model.

A capture library (`sounddevice`, PortAudio, a WebRTC track) calls back on
its own thread with a block of samples every few milliseconds and must
never wait long. `LiveQueue.put` takes the block there; the consumer
iterates `chunks(...)` for fixed-length, optionally overlapping windows.
When the consumer falls behind, the queue either makes the producer wait
(`"block"`) or throws away its oldest block (`"drop_oldest"`), and counts.

Example
-------
>>> import sounddevice as sd                                   # doctest: +SKIP
>>> live = LiveQueue(max_blocks=64, policy="drop_oldest")      # doctest: +SKIP
>>> def callback(indata, frames, time, status):                # doctest: +SKIP
...     live.put(indata[:, 0].copy())
>>> with sd.InputStream(samplerate=16000, channels=1, callback=callback):  # doctest: +SKIP
...     for chunk, start in live.chunks(sr=16000, chunk_seconds=1.0):
...         print(start, chunk.shape, live.dropped)
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterator
from typing import Literal

import numpy as np

from audiodecode.windows import ChunkWindows, window_frames

#: What `put` does when the queue is full.
Policy = Literal["block", "drop_oldest"]


class LiveQueue:
    """A bounded, thread-safe queue of audio blocks.

    Parameters
    ----------
    max_blocks : int > 0
        Blocks held at most.
    policy : {"block", "drop_oldest"}
        When full, `put` waits for room (up to `timeout` seconds, then
        raises `TimeoutError`), or drops the oldest block held.
    timeout : float or None
        How long `put` waits under `"block"`; None waits for ever.

    Attributes
    ----------
    dropped : int
        Blocks thrown away under `"drop_oldest"`.
    dropped_frames : int
        Frames in them.
    """

    def __init__(self, max_blocks: int = 64, policy: Policy = "block", timeout: float | None = None) -> None:
        if isinstance(max_blocks, bool) or not isinstance(max_blocks, int) or max_blocks < 1:
            raise ValueError(f"max_blocks must be a positive integer, got {max_blocks!r}")
        if policy not in ("block", "drop_oldest"):
            raise ValueError(f"policy must be 'block' or 'drop_oldest', not {policy!r}")
        self.max_blocks, self.policy, self.timeout = max_blocks, policy, timeout
        self.dropped = 0
        self.dropped_frames = 0
        self._blocks: collections.deque[np.ndarray] = collections.deque()
        self._closed = False
        self._cond = threading.Condition()

    def put(self, block: np.ndarray) -> None:
        """Adds a block (`(n,)` or `(channels, n)`), from any thread."""
        block = np.asarray(block, dtype=np.float32)
        with self._cond:
            if self._closed:
                raise ValueError("put() on a closed LiveQueue")
            if len(self._blocks) >= self.max_blocks:
                if self.policy == "drop_oldest":
                    self.dropped += 1
                    self.dropped_frames += self._blocks.popleft().shape[-1]
                elif not self._cond.wait_for(lambda: len(self._blocks) < self.max_blocks, self.timeout):
                    raise TimeoutError(f"LiveQueue full ({self.max_blocks} blocks) for {self.timeout} s")
            self._blocks.append(block)
            self._cond.notify_all()

    def close(self) -> None:
        """No more blocks: iteration ends once the queue is drained."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        return len(self._blocks)

    def __iter__(self) -> Iterator[np.ndarray]:
        """The blocks in arrival order, waiting for each; ends after `close`."""
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._blocks or self._closed)
                if not self._blocks:
                    return
                block = self._blocks.popleft()
                self._cond.notify_all()
            yield block

    def chunks(
        self,
        sr: int,
        chunk_seconds: float = 1.0,
        overlap_seconds: float = 0.0,
        frame_length: int | None = None,
        hop_length: int | None = None,
    ) -> Iterator[tuple[np.ndarray, float]]:
        """`(chunk, start_seconds)` windows of the blocks, as `audiodecode.stream`
        cuts them (`start_seconds` counts the frames received, dropped blocks
        excluded: see `dropped_frames`). Mono blocks give `(n,)` chunks."""
        chunk, overlap = window_frames(sr, chunk_seconds, overlap_seconds, frame_length, hop_length)
        windows: ChunkWindows | None = None
        for block in self:
            if windows is None:
                windows = ChunkWindows(chunk, overlap, mono=block.ndim == 1)
            for out, start in windows.push(block):
                yield out, start / sr
        for out, start in windows.finish() if windows is not None else []:
            yield out, start / sr
