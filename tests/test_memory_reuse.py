"""Freed outputs' pages are reused by the next decode (core_rs/src/python/allocator.rs).

`load_batch` allocates each array on a worker thread and numpy frees it on
the caller's. With glibc's per-thread arenas the freed block went back to
the kernel and every file faulted its output's pages in again: one minor
fault per 4 KiB page, 86 per second of stereo float32. The extension's own
allocator keeps those pages for the next call. Page faults are counted,
not timed."""

from __future__ import annotations

import resource
from pathlib import Path

import numpy as np
import pytest

import audiodecode as ad

soundfile = pytest.importorskip("soundfile")

SR = 44100
FILES, SECONDS = 8, 2.0


def minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def test_a_freed_batch_is_reused_by_the_next_one(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(FILES):
        path = tmp_path / f"clip{i}.wav"
        soundfile.write(path, rng.uniform(-0.5, 0.5, (int(SR * SECONDS), 2)), SR, subtype="PCM_16")
        paths.append(path)
    output_pages = FILES * int(SR * SECONDS) * 2 * 4 // 4096

    def faults_of_one_batch() -> int:
        before = minor_faults()
        # One worker thread: the arrays are allocated there and freed here.
        out = ad.load_batch(paths, sr=None, mono=False, num_threads=1)
        assert all(y.shape == (2, int(SR * SECONDS)) for y, _ in out)
        del out
        return minor_faults() - before

    faults_of_one_batch()
    # The allocator gives idle pages back to the kernel some seconds after a
    # free; the least of three back-to-back batches is past any such purge.
    least = min(faults_of_one_batch() for _ in range(3))
    assert least < output_pages // 4, f"{least} minor faults for {output_pages} pages of output"
