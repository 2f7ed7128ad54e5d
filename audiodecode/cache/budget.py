"""How much RAM `cache="auto"` may use."""

from __future__ import annotations

import os

# A quarter of the memory available when the cache is made: the model,
# the optimizer state, the framework's own buffers and the loader's
# prefetch queues need the rest.
AUTO_RAM_FRACTION = 0.25
# Each entry also holds a 64-byte header and is rounded up to whole pages
# (4 KiB): about 7 % more than the raw samples for 1 s clips at 16 kHz.
ENTRY_OVERHEAD = 1.25


def available_memory() -> int:
    """Bytes of memory available to new allocations without swapping.

    Linux's own estimate (`MemAvailable` in /proc/meminfo, which counts
    reclaimable page cache); elsewhere the free physical pages.
    """
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def auto_ram_budget(dataset_bytes_estimate: int | None = None) -> int:
    """The RAM budget `cache="auto"` gets, in bytes.

    Parameters
    ----------
    dataset_bytes_estimate : int or None
        The data set's decoded size as the loader will request it (samples
        x channels x 4 bytes). A cache never needs more than the whole data
        set plus the entries' overhead (`ENTRY_OVERHEAD`), so a small data
        set does not reserve a quarter of the machine.

    Returns
    -------
    int
        `AUTO_RAM_FRACTION` of the available memory, capped by the data set.
    """
    budget = int(AUTO_RAM_FRACTION * available_memory())
    if dataset_bytes_estimate is not None:
        if dataset_bytes_estimate < 0:
            raise ValueError(f"dataset_bytes_estimate must be >= 0, got {dataset_bytes_estimate}")
        budget = min(budget, int(ENTRY_OVERHEAD * dataset_bytes_estimate))
    return budget
