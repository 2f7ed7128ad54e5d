"""A batch of records' `bytes`, freed, is reused by the next batch
(core_rs/src/python/heap.rs).

The read engine hands every record to Python as a `bytes` of tens to
hundreds of kB, allocated by glibc's malloc. With glibc's defaults the
heap is trimmed as soon as 128 kB are free at its top, so each batch
faulted its pages in afresh; importing the extension raises the
thresholds, unless the user set them. Page faults are counted, not timed,
in a fresh interpreter each (the test process's heap has a history)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                reason="glibc's malloc only")

# 32 records of 84 kB (the mean record of benchmarks/sources.py), filled
# as the engine fills them, freed, then a second batch; prints the minor
# faults of the second batch.
BATCHES = """
import resource, sys
sys.path.insert(0, sys.argv[1])
import audiodecode  # noqa: F401  (the extension sets the thresholds on import)

def batch():
    return [bytes(bytearray(b"x") * 84_000) for _ in range(32)]

kept = batch()
del kept
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
kept = batch()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def second_batch_faults(**env: str) -> int:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    out = subprocess.run([sys.executable, "-c", BATCHES, str(ROOT)], env={**clean, **env}, capture_output=True,
                         text=True, timeout=120, check=True)
    return int(out.stdout.split()[-1])


def test_a_freed_batch_of_records_is_reused_by_the_next_one() -> None:
    pages = 32 * 84_000 // 4096  # 656
    kept = second_batch_faults()
    trimmed = second_batch_faults(MALLOC_TRIM_THRESHOLD_="131072")  # glibc's default, chosen by the user
    # The user's choice is kept: the second batch faults its pages in again.
    assert trimmed > pages // 2, trimmed
    # The extension's thresholds: the first batch's pages are reused.
    assert kept < pages // 8, (kept, trimmed)
