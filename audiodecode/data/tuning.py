"""Choose a loader's parallelism by measuring it on this machine.

Two settings decide how fast a loader's host side runs:

- `num_threads`: Rust threads decoding (and augmenting) one batch;
- `prefetch`: batches prepared at the same time, ahead of the consumer.

Which pair is fastest depends on the files (codec, length, rate), the
augmentations, the cores and the disk, so no formula of the CPU count gets
it right everywhere. `autotune` times real batches of the data set at
candidate settings and keeps the fastest. A value the user passes is kept
and only the other is searched.

Records fetched from object storage add a wait that costs no CPU: each
batch spends a latency L fetching its bytes, then W seconds of host work
(decode, crop, augment, collate). To keep the cores as busy as local files
do, more batches must be in flight than the CPU alone needs: by Little's
law, `lanes * (L + W) / W` (`read_ahead_depth`), where `lanes` is the
number of batches the cores work on at once. The loaders measure W on a
few batches read one at a time and L on the same batches fetched at once
(the store queues a loader's requests: L under that load is what the
loader sees), and read at least twice that many ahead (`ReadAhead`).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import cycle

log = logging.getLogger("audiodecode")

# Largest prefetch tried: beyond it a deeper queue only costs memory.
MAX_PREFETCH = 8
# Largest read-ahead for records behind a latency: each batch in flight
# holds its bytes and clips, and an object store's answers queue up (the
# latency grows) long before this many batches' requests are open.
MAX_READ_AHEAD = 32
# Little's law gives the depth that covers the mean latency; the loaders
# keep twice that, since latency and work per batch vary several-fold
# from batch to batch (a store's tail, a busy core), and a batch ready
# late stalls the consumer however many came early. Measured: at 20 ms
# and 50 ms per request, 1x left the torch loader at 0.74 of local on a
# loaded 2-core machine (docs/guide/object-storage.md).
READ_AHEAD_HEADROOM = 2.0
# Grids up to this size are measured whole (2 cores: 2 x 4 settings).
FULL_GRID = 8
# How many of the fastest settings are measured a second time.
CONFIRM = 4


@dataclass(frozen=True, order=True)
class Parallelism:
    """How a loader's host side runs.

    Attributes
    ----------
    num_threads : int
        Rust threads decoding and augmenting one batch.
    prefetch : int
        Batches read at the same time (threads), and kept ready, ahead of
        the consumer.
    """

    num_threads: int
    prefetch: int

    def __post_init__(self) -> None:
        if self.num_threads < 1 or self.prefetch < 1:
            raise ValueError(f"num_threads and prefetch must be >= 1, got {self}")


@dataclass(frozen=True)
class ReadAhead:
    """How deep the read-ahead of a loader over remote records is, and why.

    Attributes
    ----------
    fetch_s : float
        Wall time one batch waited for its bytes with the sample batches
        fetched at once (mean; every request of a batch goes out at once,
        so this is about the slowest request's latency). A loader keeps
        several batches in flight, whose requests queue at the store
        together; this is the latency they see, not `fetch_alone_s`.
    fetch_alone_s : float
        The same with one batch in flight at a time (no queue).
    work_s : float
        Host time one batch took apart from the fetch (decode, crop,
        augmentation, collation), with the chosen Rust threads.
    lanes : int
        Batches the cores work on at once (cores // Rust threads per batch).
    depth : int
        `read_ahead_depth(fetch_s, work_s, lanes, headroom=READ_AHEAD_HEADROOM)`.
    """

    fetch_s: float
    fetch_alone_s: float
    work_s: float
    lanes: int
    depth: int


def read_ahead_depth(
    fetch_s: float, work_s: float, lanes: int = 1, *, headroom: float = 1.0, limit: int = MAX_READ_AHEAD
) -> int:
    """Batches to keep in flight so that a fetch latency does not idle the cores.

    Little's law: the cores finish `lanes / work_s` batches per second
    when they never wait, and each batch stays `fetch_s + work_s` in
    flight, so `lanes * (fetch_s + work_s) / work_s` batches must be in
    flight at once (`lanes` with no latency at all), times `headroom`
    for the variation around those means.

    Parameters
    ----------
    fetch_s : float
        Seconds a batch waits for its bytes.
    work_s : float
        Seconds of host work per batch once the bytes are there.
    lanes : int
        Batches the cores work on at once.
    headroom : float
        Factor over the mean (>= 1; the loaders use `READ_AHEAD_HEADROOM`).
    limit : int
        Largest depth returned.

    Returns
    -------
    int
        In [1, limit].
    """
    if lanes < 1:
        raise ValueError(f"lanes must be >= 1, got {lanes}")
    if not (fetch_s >= 0 and work_s >= 0):
        raise ValueError(f"fetch_s and work_s must be >= 0, got {fetch_s} and {work_s}")
    if not headroom >= 1:
        raise ValueError(f"headroom must be >= 1, got {headroom}")
    work_s = max(work_s, 1e-4)  # a batch is never free: 0.1 ms keeps the ratio finite
    return int(min(limit, max(1, math.ceil(headroom * lanes * (fetch_s + work_s) / work_s - 1e-9))))


@dataclass(frozen=True)
class Tuning:
    """What `autotune` measured and chose.

    Attributes
    ----------
    choice : Parallelism
    measured : dict[Parallelism, float]
        Batches per second of every setting measured (empty when both
        values were given).
    seconds : float
        Time spent measuring.
    given : tuple of str
        The settings the caller fixed ("num_threads", "prefetch").
    read_ahead : ReadAhead or None
        For records fetched over a network: the latency and work measured
        and the depth they call for (`choice.prefetch` is at least that
        depth unless the caller fixed it); None for local records.
    """

    choice: Parallelism
    measured: dict[Parallelism, float] = field(default_factory=dict)
    seconds: float = 0.0
    given: tuple[str, ...] = ()
    read_ahead: ReadAhead | None = None


def available_cores() -> int:
    """Cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def throughput(
    read: Callable[[int, int], object], setting: Parallelism, num_samples: int, *, min_seconds: float = 0.25
) -> float:
    """Batches per second of `read` at `setting`.

    `setting.prefetch` batches are kept in flight on as many threads, each
    read with `setting.num_threads` Rust threads, as a loader's reader
    threads do, until at least `2 * prefetch` batches (and `min_seconds`)
    have passed.

    Parameters
    ----------
    read : callable (batch, num_threads) -> anything
        Reads sample batch `batch` in `range(num_samples)`.
    setting : Parallelism
    num_samples : int
        Sample batches to cycle through.
    """
    batches = cycle(range(num_samples))
    t0 = time.perf_counter()
    done = 0
    with ThreadPoolExecutor(setting.prefetch) as pool:
        in_flight = deque(pool.submit(read, next(batches), setting.num_threads) for _ in range(setting.prefetch))
        while in_flight:
            in_flight.popleft().result()
            done += 1
            if done + len(in_flight) < 2 * setting.prefetch or time.perf_counter() - t0 < min_seconds:
                in_flight.append(pool.submit(read, next(batches), setting.num_threads))
    return done / (time.perf_counter() - t0)


def _powers_of_two(limit: int) -> list[int]:
    values = [1]
    while values[-1] * 2 <= limit:
        values.append(values[-1] * 2)
    return values + ([limit] if values[-1] != limit else [])


def autotune(
    read: Callable[[int, int], object],
    num_samples: int,
    *,
    num_threads: int | None = None,
    prefetch: int | None = None,
    max_threads: int | None = None,
    tolerance: float = 0.05,
    min_seconds: float = 0.25,
    batch_size: int = 1,
) -> Tuning:
    """Measure candidate settings and pick the fastest.

    Candidates are Rust threads in powers of two up to the core count and
    prefetch in 1, 2, 4, 8. Where that grid is small (up to
    `FULL_GRID` settings, i.e. up to 2 cores), all of it is measured.
    Otherwise the search is coordinate-wise, so it stays short on a
    many-core machine: threads (at prefetch 2), then prefetch at the best
    threads, then threads next to that choice at the best prefetch.
    Either way the contenders are measured a second time, each keeping its
    better run: other processes come and go while this runs, and one run
    can fall on a busy moment. Every sample batch is read once first, so
    all settings see warm files.

    Among settings within `tolerance` of the fastest, the one with the
    fewest Rust threads per batch and then the most batches in flight wins:
    on a busy machine everything measures alike, and a deep queue of
    single-threaded batches uses the cores best once they are free again
    (and costs only memory while they are not).

    Parameters
    ----------
    read : callable (batch, num_threads) -> anything
        Reads sample batch `batch` (in `range(num_samples)`) with that many
        Rust threads. It should do what the loader does per batch (decode,
        crop, augment), without a cache that would turn later reads into
        hits.
    num_samples : int
        How many distinct sample batches `read` accepts.
    num_threads, prefetch : int or None
        Fixed by the caller: not searched.
    max_threads : int or None
        Upper end of the thread search; default `available_cores()`.
    tolerance : float
        Relative margin within which measurements count as a tie.
    min_seconds : float
        Minimum time measured per setting and run.
    batch_size : int
        Examples per batch, for the log message.

    Returns
    -------
    Tuning
        The choice, also logged at INFO on the "audiodecode" logger.
    """
    given = tuple(name for name, v in (("num_threads", num_threads), ("prefetch", prefetch)) if v is not None)
    if num_threads is not None and prefetch is not None:
        return Tuning(Parallelism(num_threads, prefetch), given=given)
    max_threads = max_threads or available_cores()
    t0 = time.perf_counter()
    for b in range(num_samples):
        read(b, num_threads or max_threads)
    measured: dict[Parallelism, float] = {}

    def measure(setting: Parallelism) -> float:
        if setting not in measured:
            measured[setting] = throughput(read, setting, num_samples, min_seconds=min_seconds)
        return measured[setting]

    def best_of(settings: list[Parallelism]) -> Parallelism:
        fastest = max(measure(s) for s in settings)
        return min(
            (s for s in settings if measured[s] >= fastest * (1 - tolerance)),
            key=lambda s: (s.num_threads, -s.prefetch),
        )

    threads = [num_threads] if num_threads else _powers_of_two(max_threads)
    prefetches = [prefetch] if prefetch else _powers_of_two(MAX_PREFETCH)
    grid = [Parallelism(t, p) for t in threads for p in prefetches]
    if len(grid) <= FULL_GRID:
        for setting in grid:
            measure(setting)
    else:
        best_threads = best_of([Parallelism(t, prefetch or 2) for t in threads]).num_threads
        best_prefetch = best_of([Parallelism(best_threads, p) for p in prefetches]).prefetch
        position = threads.index(best_threads)
        for t in threads[max(0, position - 1) : position + 2]:
            measure(Parallelism(t, best_prefetch))
    for setting in sorted(measured, key=measured.get, reverse=True)[:CONFIRM]:
        measured[setting] = max(measured[setting], throughput(read, setting, num_samples, min_seconds=min_seconds))
    choice = best_of(list(measured))
    fastest = max(measured.values())
    seconds = time.perf_counter() - t0
    log.info(
        "audiodecode autotune: num_threads=%d, prefetch=%d (%.0f examples/s; fastest measured %.0f; "
        "%d settings in %.1f s; pass num_threads=/prefetch= to override)",
        choice.num_threads, choice.prefetch, measured[choice] * batch_size, fastest * batch_size,
        len(measured), seconds,
    )
    return Tuning(choice, measured, seconds, given)
