"""Freed outputs' pages are reused by the next decode (core_rs/src/python/allocator.rs).

`load_batch` allocates each array on a worker thread and numpy frees it on
the caller's. With glibc's per-thread arenas the freed block went back to
the kernel and every file faulted its output's pages in again: one minor
fault per 4 KiB page, 86 per second of stereo float32. The extension's own
allocator keeps those pages for the next call. Page faults are counted,
not timed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

soundfile = pytest.importorskip("soundfile")

SR = 44100
FILES, SECONDS = 8, 2.0

# In a fresh interpreter: the count is the process's, and threads that
# earlier tests left in this one (a loader's, a stream's) would add theirs.
LEAST_FAULTS = textwrap.dedent(
    """
    import resource, sys
    import audiodecode as ad

    paths, frames = sys.argv[2:], int(sys.argv[1])

    def faults_of_one_batch():
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        # One worker thread: the arrays are allocated there and freed here.
        out = ad.load_batch(paths, sr=None, mono=False, num_threads=1)
        assert all(y.shape == (2, frames) for y, _ in out)
        del out
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    faults_of_one_batch()
    # The allocator gives idle pages back to the kernel some seconds after a
    # free; the least of three back-to-back batches is past any such purge.
    print(min(faults_of_one_batch() for _ in range(3)))
    """
)


def test_a_freed_batch_is_reused_by_the_next_one(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(FILES):
        path = tmp_path / f"clip{i}.wav"
        soundfile.write(path, rng.uniform(-0.5, 0.5, (int(SR * SECONDS), 2)), SR, subtype="PCM_16")
        paths.append(str(path))
    output_pages = FILES * int(SR * SECONDS) * 2 * 4 // 4096
    out = subprocess.run([sys.executable, "-c", LEAST_FAULTS, str(int(SR * SECONDS)), *paths],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    least = int(out.stdout)
    assert least < output_pages // 4, f"{least} minor faults for {output_pages} pages of output"
