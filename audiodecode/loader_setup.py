"""What both loaders decide before they read: the cache `cache="auto"`
means, and the parallelism measured on this machine.

Framework-free, shared by `audiodecode.jax.loader` and
`audiodecode.torch.AudioDataLoader`, so that the two choose alike.
"""

from __future__ import annotations

import logging

from audiodecode.autotune import Tuning, autotune, available_cores
from audiodecode.cache import AudioCache, resolve_cache
from audiodecode.cache.budget import ENTRY_OVERHEAD, auto_ram_budget
from audiodecode.dataset import AudioFiles
from audiodecode.pipeline import ClipReader, Schedule, estimate_decoded_bytes

log = logging.getLogger("audiodecode")

# Sample batches the autotuner cycles through.
TUNING_BATCHES = 4


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


def tune_reader(
    probe: ClipReader, schedule: Schedule, batch_size: int, num_threads: int | None, prefetch: int | None
) -> Tuning:
    """Measure `probe` on the first batches of epoch 0. `probe` has no
    cache, so measuring neither fills the cache nor times cache hits."""
    samples = [schedule.batch(b, batch_size) for b in range(TUNING_BATCHES) if b * batch_size < len(schedule.indices)]
    return autotune(
        lambda b, t: probe.read(*samples[b], num_threads=rust_threads(t)), len(samples),
        num_threads=num_threads, prefetch=prefetch, batch_size=batch_size,
    )


def rust_threads(num_threads: int) -> int | None:
    """`num_threads` for the core: None (its shared pool, one thread per
    core) for all the cores, since naming that many builds a new pool per call."""
    return None if num_threads >= available_cores() else num_threads
