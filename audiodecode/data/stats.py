"""What a loader did: throughput, how long the consumer waited, time per stage.

The data-stall share is the fraction of the consumer's wall time spent
waiting for the next batch (inside the loader's `__next__`): 0 means the
accelerator never waited for data; 0.5 means it idled half the time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class PipelineStats:
    """Thread-safe counters shared by a loader's producer threads and its consumer.

    Stages (decode, augment, ...) are timed where they run, in
    whichever thread; the consumer side records each batch it received
    and how long it waited for it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Start counting from zero (e.g. after a warm-up)."""
        with self._lock:
            self._stage_s: dict[str, float] = {}
            self._stage_n: dict[str, int] = {}
            self._skipped = 0
            self._batches = 0
            self._samples = 0
            self._wait_s = 0.0
            self._first_request: float | None = None
            self._last_delivery: float | None = None
            self._valid_samples = 0
            self._padded_samples = 0
            self._shapes: set[tuple[int, int]] = set()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the body as one run of stage `name`."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.record(name, time.perf_counter() - t0)

    def record(self, name: str, seconds: float) -> None:
        """Count `seconds` as one run of stage `name`."""
        with self._lock:
            self._stage_s[name] = self._stage_s.get(name, 0.0) + seconds
            self._stage_n[name] = self._stage_n.get(name, 0) + 1

    def add_skipped(self, n: int) -> None:
        """Count `n` records replaced because they could not be read."""
        with self._lock:
            self._skipped += n

    def collated(self, shape: tuple[int, int], valid_samples: int) -> None:
        """A batch of audio `shape` (rows, samples) was padded from
        `valid_samples` samples of audio."""
        with self._lock:
            self._shapes.add(tuple(shape))
            self._valid_samples += valid_samples
            self._padded_samples += shape[0] * shape[1] - valid_samples

    def delivered(self, requested_at: float, samples: int) -> None:
        """The consumer asked for a batch at `requested_at` (`time.perf_counter()`)
        and has just received one of `samples` examples."""
        now = time.perf_counter()
        with self._lock:
            if self._first_request is None:
                self._first_request = requested_at
            self._last_delivery = now
            self._wait_s += now - requested_at
            self._batches += 1
            self._samples += samples

    def snapshot(self) -> dict[str, Any]:
        """The counters so far.

        Returns
        -------
        dict
            batches, samples (examples delivered), elapsed_s (from the first
            request to the last delivery), samples_per_s, data_stall_share
            (waiting / elapsed, in [0, 1]), wait_s, skipped (records
            replaced), stage_s (total seconds per stage, summed over
            threads), stage_ms_per_batch (mean per run), padding_share
            (padded samples / all audio samples collated, in [0, 1]) and
            batch_shapes (the distinct (rows, samples) audio shapes made).
        """
        with self._lock:
            elapsed = (
                self._last_delivery - self._first_request if self._first_request is not None else 0.0
            )
            return {
                "batches": self._batches,
                "samples": self._samples,
                "elapsed_s": elapsed,
                "samples_per_s": self._samples / elapsed if elapsed > 0 else 0.0,
                "data_stall_share": min(1.0, self._wait_s / elapsed) if elapsed > 0 else 0.0,
                "wait_s": self._wait_s,
                "skipped": self._skipped,
                "stage_s": dict(self._stage_s),
                "stage_ms_per_batch": {k: 1e3 * v / self._stage_n[k] for k, v in self._stage_s.items()},
                "padding_share": self._padded_samples / max(1, self._valid_samples + self._padded_samples),
                "batch_shapes": sorted(self._shapes),
            }

    def __getstate__(self) -> dict[str, Any]:
        # A copy sent to another process starts from zero: its counts could
        # never be merged back anyway.
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()
