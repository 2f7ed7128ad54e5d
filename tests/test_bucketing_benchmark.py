"""benchmarks/bucketing.py's padding and shape figures (no audio: durations only)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import bucketing  # noqa: E402


def test_target_durations_are_librispeech_like():
    d = bucketing.target_durations(1000)
    assert len(d) == 1000 and 1 <= d.min() and d.max() <= 35
    assert 0.7 <= np.mean((d >= 10) & (d <= 16)) <= 0.85


def test_padding_figures_bound_shapes_and_beat_random_batches():
    d = bucketing.target_durations(400)
    f = bucketing.padding_figures(d, 200.0, 6, 2)
    assert 1 <= f["shapes"] <= 6
    assert 0 < f["ours"] < f["random"] < 1
