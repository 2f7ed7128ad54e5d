"""The host side of a loader plan (`audiodecode.data.plan`): the cache
`cache="auto"` means, the reader and the parallelism measured on this
machine, which feature function `features=` names with what settings, and
what `stats()` reports.

Framework-free, shared by `audiodecode.jax.loader` and
`audiodecode.torch.AudioDataLoader`, so that the two choose alike.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

import numpy as np

from audiodecode.augment.mixing import BatchMix
from audiodecode.cache import AudioCache, resolve_cache
from audiodecode.cache.budget import ENTRY_OVERHEAD, auto_ram_budget
from audiodecode.data.buckets import BucketSchedule
from audiodecode.data.reading import BatchAugmentation, ClipReader, ClipSpec, estimate_decoded_bytes
from audiodecode.data.records import AudioFiles
from audiodecode.data.schedule import Schedule
from audiodecode.data.stats import PipelineStats
from audiodecode.data.tuning import (
    READ_AHEAD_HEADROOM,
    Parallelism,
    ReadAhead,
    Tuning,
    autotune,
    available_cores,
    read_ahead_depth,
)

log = logging.getLogger("audiodecode")

# Sample batches the autotuner cycles through.
TUNING_BATCHES = 4

# Names `features=` accepts, and the function of an adapter's features
# module each means.
FEATURES = {
    "spectrogram": "spectrogram",
    "melspectrogram": "melspectrogram",
    "mel": "melspectrogram",
    "log_mel": "log_mel",
    "mfcc": "mfcc",
}


def auto_cache(files: AudioFiles, shard_size: int, sr: int) -> AudioCache | None:
    """What `cache="auto"` means for a shard of `shard_size` of `files`: a
    RAM cache if the shard's decoded audio fits the automatic budget, else
    none.

    Read in a random order, a cache that holds a share h of the data set
    hits about h of the time, and every miss decodes a whole file; without
    a cache only each clip's window is decoded, which is cheaper unless
    nearly everything hits.
    """
    total = estimate_decoded_bytes(files, sr)
    needed = None if total is None else total * shard_size // len(files)
    if needed is not None and needed * ENTRY_OVERHEAD > auto_ram_budget():
        log.info("audiodecode: no cache: this shard is about %.1f GB decoded, more than the automatic "
                 "budget of %.1f GB; decoding each clip's window instead", needed / 1e9, auto_ram_budget() / 1e9)
        return None
    return resolve_cache("auto", dataset_bytes_estimate=needed)


@dataclass(frozen=True)
class HostReader:
    """A loader's host side: its reader, the cache behind it, the counters
    it reports to, and the parallelism measured for it.

    Attributes
    ----------
    reader : ClipReader
    cache : AudioCache or None
    owns_cache : bool
        The loader made `cache` (`cache="auto"`) and closes it with itself.
    stats : PipelineStats
    tuning : Tuning
    """

    reader: ClipReader
    cache: AudioCache | None
    owns_cache: bool
    stats: PipelineStats
    tuning: Tuning

    def close(self) -> None:
        """Release the cache if this loader made it (a cache the caller
        passed stays theirs), and stop the storage's I/O threads and
        connections (they start again on the next read)."""
        if self.owns_cache and self.cache is not None:
            self.cache.close()
        storage = getattr(self.reader.files.source, "storage", None)
        if storage is not None:
            storage.close()


def host_reader(
    files: AudioFiles,
    spec: ClipSpec,
    augment: BatchAugmentation | None,
    shard: np.ndarray,
    schedule: Schedule | BucketSchedule,
    cache: AudioCache | Literal["auto"] | None,
    batch_size: int,
    num_threads: int | None,
    prefetch: int | None,
    mix: BatchMix | None = None,
) -> HostReader:
    """Resolve `cache=` for `shard` of `files`, make the reader over it and
    measure the parallelism (`num_threads`/`prefetch` given are kept). A
    cache made here is closed again if the measurement fails (an
    unreadable file with `on_error="raise"`), so a failed loader leaves no
    shared memory behind."""
    owns_cache = isinstance(cache, str)
    resolved = auto_cache(files, len(shard), spec.sr) if owns_cache else resolve_cache(cache)
    stats = PipelineStats()
    reader = ClipReader(files, spec, augment=augment, cache=resolved, candidates=shard, stats=stats, mix=mix)
    try:
        # The probe has no cache: measuring neither fills it nor times hits.
        probe = ClipReader(files, spec, augment=augment, candidates=shard, mix=mix)
        tuning = tune_reader(probe, schedule, batch_size, num_threads, prefetch)
    except BaseException:
        if owns_cache and resolved is not None:
            resolved.close()
        raise
    return HostReader(reader, resolved, owns_cache, stats, tuning)


def tune_reader(
    probe: ClipReader, schedule: Schedule | BucketSchedule, batch_size: int, num_threads: int | None, prefetch: int | None
) -> Tuning:
    """Measure `probe` on the first batches of epoch 0. `probe` has no
    cache, so measuring neither fills the cache nor times cache hits.

    Records fetched over a network then get the read-ahead their latency
    calls for (`measure_read_ahead`): the grid's prefetch stops at
    `MAX_PREFETCH`, and on a loaded store its measurements mostly time
    the latency."""
    samples = schedule.first_batches(TUNING_BATCHES, batch_size)
    tuning = autotune(
        lambda b, t: probe.read(*samples[b], num_threads=rust_threads(t)), len(samples),
        num_threads=num_threads, prefetch=prefetch, batch_size=batch_size,
    )
    ahead = measure_read_ahead(probe, samples, tuning.choice.num_threads)
    if ahead is None:
        return tuning
    depth = tuning.choice.prefetch if prefetch is not None else max(tuning.choice.prefetch, ahead.depth)
    log.info("audiodecode read-ahead: %d batches (fetch %.1f ms with the sample batches at once, %.1f ms alone; "
             "work %.1f ms per batch, %d lanes: depth %d%s)",
             depth, 1e3 * ahead.fetch_s, 1e3 * ahead.fetch_alone_s, 1e3 * ahead.work_s, ahead.lanes, ahead.depth,
             "; prefetch= given, kept" if prefetch is not None else "")
    return dataclasses.replace(tuning, choice=Parallelism(tuning.choice.num_threads, depth), read_ahead=ahead)


def measure_read_ahead(
    probe: ClipReader, samples: list[tuple[np.ndarray, np.ndarray]], num_threads: int
) -> ReadAhead | None:
    """The fetch latency and host work of `probe`'s batches, and the
    read-ahead depth they call for; None when the records are not fetched
    over a network (local files and shards: no latency worth hiding, and
    the grid's prefetch stands).

    The work is measured one batch at a time (a batch's own host time).
    The latency is measured twice: one batch at a time, then with all the
    sample batches fetched at once, and the larger is kept. A loader keeps
    several batches in flight, whose requests wait in the store's queue
    together, so the latency it sees is the second: measured alone, it was
    a half to a quarter of what the loaders then saw (32-56 ms against
    90-240 ms per batch through the 20 ms benchmark server), which called
    for too shallow a read-ahead.

    Means, not medians: Little's law holds for means, and in the
    shard-streaming order most batches find their blocks read already
    while a few wait for a new one. The blocks read before are dropped
    before each pass, so those waits are measured."""
    storage = getattr(probe.files.source, "storage", None)
    if storage is None or not samples:
        return None
    blocks = getattr(probe.files.source, "blocks", None)
    fetches, works = [], []
    if blocks is not None:
        blocks.clear()
    for sample in samples:
        probe.stats.reset()
        started = time.perf_counter()
        probe.read(*sample, num_threads=rust_threads(num_threads))
        total = time.perf_counter() - started
        # Asked after a read of this probe's own: with num_threads= and
        # prefetch= given no grid has read anything, and a tar index read
        # from `index_dir` reads nothing either.
        if storage.stats()["p50_latency_s"] is None:
            return None
        fetched = probe.stats.snapshot()["stage_s"].get("fetch", 0.0)
        fetches.append(fetched)
        works.append(max(0.0, total - fetched))
    fetch_alone_s, work_s = statistics.fmean(fetches), statistics.fmean(works)
    if blocks is not None:
        blocks.clear()
    probe.stats.reset()
    with ThreadPoolExecutor(len(samples), thread_name_prefix="audiodecode-tune") as pool:
        for done in [pool.submit(probe.read, *sample, num_threads=rust_threads(num_threads)) for sample in samples]:
            done.result()
    # The fetch stage's seconds, summed over the threads: the mean per batch.
    fetch_s = max(fetch_alone_s, probe.stats.snapshot()["stage_s"].get("fetch", 0.0) / len(samples))
    lanes = max(1, available_cores() // num_threads)
    depth = read_ahead_depth(fetch_s, work_s, lanes, headroom=READ_AHEAD_HEADROOM)
    return ReadAhead(fetch_s, fetch_alone_s, work_s, lanes, depth)


def loader_stats(host: HostReader) -> dict[str, Any]:
    """A loader's `stats()`: the pipeline's counters, the cache's, and the
    parallelism it runs with (and which settings the caller fixed)."""
    out = host.stats.snapshot()
    # Rows dropped at start-up (on_error="skip"), apart from records
    # replaced while reading ("skipped").
    out["skipped_rows"] = host.reader.files.skipped_rows
    out["cache"] = host.cache.stats() if host.cache is not None else None
    # A record source's reads: requests, bytes, retries, latency
    # percentiles, batches in flight, and the read-ahead chosen for them.
    storage = getattr(host.reader.files.source, "storage", None)
    out["storage"] = storage.stats() | {"read_ahead": host.tuning.choice.prefetch} if storage is not None else None
    ahead = host.tuning.read_ahead
    out["parallelism"] = {
        "num_threads": host.tuning.choice.num_threads,
        "prefetch": host.tuning.choice.prefetch,
        "given": list(host.tuning.given),
        # Why the prefetch is what it is for remote records (None: local).
        "read_ahead": None if ahead is None else dataclasses.asdict(ahead),
    }
    return out


def rust_threads(num_threads: int) -> int | None:
    """`num_threads` for the core: None (its shared pool, one thread per
    core) for all the cores, since naming that many builds a new pool per call."""
    return None if num_threads >= available_cores() else num_threads


@dataclass(frozen=True)
class FeatureSpec:
    """A feature function and the keyword arguments to call it with; for a
    named feature also `(n_fft, hop_length, center)`, which decide how many
    frames a row of valid samples gives (None for the caller's function)."""

    fn: Callable[..., Any]
    settings: dict[str, Any]
    stft: tuple[int, int, bool] | None


def feature_spec(
    features: str | Callable[..., Any] | None, functions: ModuleType, kwargs: dict[str, Any], **fixed: Any
) -> FeatureSpec | None:
    """Check `features=` and its keyword arguments against `functions` (the
    adapter's features module); `fixed` are the loader's own arguments the
    function takes too (`sr`, the torch loader's `n_mfcc`)."""
    if features is None:
        if kwargs:
            raise TypeError(f"feature settings {sorted(kwargs)} given without features=")
        return None
    if callable(features):
        if kwargs:
            raise TypeError(f"feature settings {sorted(kwargs)} are for named features; bind them in the callable")
        return FeatureSpec(features, {}, None)
    if features not in FEATURES:
        raise ValueError(f"features must be one of {sorted(FEATURES)}, a callable or None, not {features!r}")
    fn = getattr(functions, FEATURES[features])
    params = inspect.signature(fn).parameters
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise TypeError(f"{FEATURES[features]}() takes no {', '.join(unknown)}")
    settings = {**kwargs, **{name: value for name, value in fixed.items() if name in params}}

    def setting(name: str, default: Any = None) -> Any:
        if name in settings:
            return settings[name]
        return params[name].default if name in params else default

    n_fft, hop = setting("n_fft"), setting("hop_length")
    if hop is None:
        # librosa's default hop: a quarter of the window.
        hop = (setting("win_length") or n_fft) // 4
    return FeatureSpec(fn, settings, (n_fft, hop, setting("center", True)))
