"""The CTC demo runs end to end on a tiny corpus (a smoke test: that CER
falls is what `python -m demo --task ctc` shows in the README)."""

from __future__ import annotations

from pathlib import Path

import pytest

from demo.ctc import edit_distance, run


def test_edit_distance() -> None:
    assert edit_distance("three", "tree") == 1
    assert edit_distance("", "one") == 3
    assert edit_distance("nine", "nine") == 0


@pytest.mark.slow
def test_ctc_demo_trains_on_bucketed_batches(tmp_path: Path) -> None:
    result = run(steps=8, max_batch_seconds=24.0, num_buckets=3, seed=0, root=tmp_path, utterances=36)
    assert 1 <= result["shapes"] <= 3
    assert 0.0 <= result["padding_share"] < 0.6
    assert 0.0 <= result["cer_after"] <= 2.0
