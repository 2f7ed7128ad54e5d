"""Batches read ahead of the consumer, on background threads.

    reads:   `depth` threads, each running one `read(job)` (a whole batch:
             a parallel Rust decode + augmentation, GIL released)
    device:  one thread taking the reads in order and running
             `finish(batch)` (to the device, features), `ready` ahead
    consumer: `next(prefetcher)`

Threads suffice because the work they wait on (the Rust decode and
augmentation, torch kernels) releases the GIL; nothing is pickled or
copied between processes.
"""

from __future__ import annotations

import queue
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from typing import Generic, TypeVar

Job = TypeVar("Job")
Batch = TypeVar("Batch")

# How often a blocked background thread checks whether it should stop, in seconds.
POLL_S = 0.1


class _End:
    """Queued after the last batch."""


class _Failure:
    """Queued instead of a batch when reading or finishing it raised."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Pipeline:
    """The threads and the queue: everything the background threads touch.

    Kept apart from `Prefetcher` so that the threads hold no reference to
    the iterator, which can then be garbage-collected (and stop them) when
    a consumer abandons it mid-epoch.
    """

    def __init__(self, depth: int, ready: int) -> None:
        self.reads = ThreadPoolExecutor(depth, thread_name_prefix="audiodecode-read")
        self.depth = depth
        self.out: queue.Queue[object] = queue.Queue(maxsize=ready)
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def run(self, jobs: Sequence[object], read: Callable[[object], object], finish: Callable[[object], object]) -> None:
        """The device thread: keep `depth` reads in flight, finish them in order."""
        try:
            upcoming = iter(jobs)
            pending: deque[Future[object]] = deque(self.reads.submit(read, job) for job in islice(upcoming, self.depth))
            while pending and not self.stop.is_set():
                batch = pending.popleft().result()
                pending.extend(self.reads.submit(read, job) for job in islice(upcoming, 1))
                if not self._put(finish(batch)):
                    return
            self._put(_End())
        except BaseException as error:  # noqa: BLE001 (handed to the consumer, which re-raises it)
            self._put(_Failure(error))

    def _put(self, item: object) -> bool:
        """Queue `item` unless told to stop first; False if stopped."""
        while not self.stop.is_set():
            try:
                self.out.put(item, timeout=POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def close(self) -> None:
        """Stop both stages; reads already running finish and are dropped."""
        self.stop.set()
        # Unblock a device thread waiting for room in the queue.
        while True:
            try:
                self.out.get_nowait()
            except queue.Empty:
                break
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join()
        self.reads.shutdown(wait=True, cancel_futures=True)


class Prefetcher(Iterator[Batch], Generic[Job, Batch]):
    """Iterate over `finish(read(job))` for `jobs`, in order, computed ahead.

    Parameters
    ----------
    jobs : sequence
        What each batch is (e.g. its epochs and record indices), in order.
    read : callable job -> host batch
        Run on `depth` reader threads at once.
    finish : callable host batch -> batch
        Run on one device thread, in job order, up to `ready` batches ahead
        of the consumer.
    depth : int >= 1
        Reads in flight.
    ready : int >= 1
        Finished batches waiting for the consumer.

    Notes
    -----
    An exception in `read` or `finish` is raised by the `next()` that
    would have returned that batch, after which the iterator is closed.
    Closing (explicitly, at exhaustion, or when the iterator is garbage
    collected) stops the threads and drops what was read ahead.
    """

    def __init__(
        self,
        jobs: Sequence[Job],
        read: Callable[[Job], object],
        finish: Callable[[object], Batch],
        *,
        depth: int,
        ready: int,
    ) -> None:
        if depth < 1 or ready < 1:
            raise ValueError(f"depth and ready must be >= 1, got {depth} and {ready}")
        self._pipeline = _Pipeline(depth, ready)
        self._pipeline.thread = threading.Thread(
            target=self._pipeline.run, args=(jobs, read, finish), name="audiodecode-device", daemon=True
        )
        self._closer = weakref.finalize(self, self._pipeline.close)
        self._pipeline.thread.start()

    def __iter__(self) -> Prefetcher[Job, Batch]:
        return self

    def __next__(self) -> Batch:
        if not self._closer.alive:
            raise StopIteration
        item = self._pipeline.out.get()
        if isinstance(item, _End):
            self.close()
            raise StopIteration
        if isinstance(item, _Failure):
            self.close()
            raise item.error
        return item  # type: ignore[return-value]

    def close(self) -> None:
        """Stop the background threads (idempotent)."""
        self._closer()
