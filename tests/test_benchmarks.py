"""The benchmark tooling: the emulated training loop's arithmetic, the knee,
the charts, and `benchmarks/gpu.py` end to end on the CPU (so it is known to
work before a GPU is at hand)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import plot  # noqa: E402
import utilization  # noqa: E402


def slow_stream(delay_s: float):  # noqa: ANN201
    """Batches that each take `delay_s` to arrive (without using the CPU)."""
    while True:
        time.sleep(delay_s)
        yield object()


def test_emulated_step_fully_busy_when_batches_are_ready() -> None:
    r = utilization.train(slow_stream(0.0), lambda b: b, step_s=0.02, steps=15, warmup=1)
    assert r["utilization"] > 0.9
    assert r["stall_share"] < 0.05
    assert r["utilization"] + r["stall_share"] <= 1.0 + 1e-9


def test_emulated_step_waits_for_a_slow_loader() -> None:
    # A batch every 40 ms and a 20 ms step: the device is busy a third of the time.
    r = utilization.train(slow_stream(0.04), lambda b: b, step_s=0.02, steps=10, warmup=1)
    assert 0.2 < r["utilization"] < 0.4
    assert 0.55 < r["stall_share"] < 0.8
    assert r["steps_per_s"] == pytest.approx(10 / r["wall_s"])


def test_knee_interpolates_where_utilization_crosses_90_percent() -> None:
    assert utilization.knee({10: 0.5, 20: 0.8, 40: 1.0}) == pytest.approx(20 * 2 ** 0.5)
    assert utilization.knee({10: 0.95, 20: 0.99}) is None  # never below 90%
    assert utilization.knee({10: 0.2, 20: 0.4}) is None  # never reaches it


@pytest.mark.parametrize(("cell", "value"), [("1,462", 1462.0), ("5.7x", 5.7), ("56%", 56.0), ("12.3 ms", 12.3),
                                             ("9.2e-05", 9.2e-05), ("-", None), (3, 3.0)])
def test_plot_reads_numbers_from_table_cells(cell: object, value: float | None) -> None:
    assert plot.number(cell) == value


def test_plot_writes_a_chart_per_result(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    rows = [{"loader": name, "augment": aug, "step_ms": ms, "setting": "s", "utilization": u,
             "stall_share": 1 - u, "steps_per_s": u / ms * 1e3, "wall_s": 1.0}
            for name, scale in ((utilization.BEFORE, 0.2), (utilization.OURS[0], 1.0))
            for aug in (False, True) for ms in (20, 50, 100) for u in [min(1.0, scale * ms / 50)]]
    (results / "utilization.json").write_text(json.dumps(
        {"benchmark": "utilization", "step_ms": 50, "knee_ms": {utilization.OURS[0]: 45.0}, "rows": rows}))
    (results / "decode.json").write_text(json.dumps({"benchmark": "decode", "rows": [
        {"format": "mp3", "tool": "audiodecode", "audio s / s": "1,200", "vs librosa": "4.00x"},
        {"format": "mp3", "tool": "librosa", "audio s / s": "300", "vs librosa": "1.00x"}]}))
    (results / "epochs.json").write_text(json.dumps({"benchmark": "epochs", "rows": [
        {"loader": "jax", "cache": "ram", "epoch 1 clips/s": "500", "epoch 2 clips/s": "2,000",
         "epoch 2 / epoch 1": "4.0x"}]}))
    out = tmp_path / "docs"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "plot.py"), "--results", str(results), "--out",
                    str(out)], check=True, capture_output=True, timeout=120)
    written = sorted(p.name for p in out.glob("*.png"))
    assert written == ["decode.png", "epochs.png", "utilization.png", "utilization_curve.png"]
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


@pytest.mark.slow
def test_gpu_benchmark_runs_on_the_cpu(tmp_path: Path) -> None:
    out = tmp_path / "gpu.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--device", "cpu", "--quick", "--out", str(out),
         "--data", str(tmp_path / "data")], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    doc = json.loads(out.read_text())
    for part in ("features", "jax", "torch"):
        assert "error" not in doc[part], doc[part]
    mfcc = doc["features"]["tools"]["mfcc"]
    assert mfcc["audiodecode.jax (jit, on device)"]["max_abs_diff"] < 1e-3
    assert mfcc["torchaudio on cpu"]["max_abs_diff"] < 1e-2
    for name, r in {**doc["jax"]["models"], **doc["torch"]["loaders"]}.items():
        assert r["steps_per_s"] > 0 and 0 <= r["data_stall_share"] <= 1, name
        assert r["gpu_utilization"] is None  # no nvidia-smi here
    assert len(doc["jax"]["models"]) == 2 and len(doc["torch"]["loaders"]) == 2
    charts = tmp_path / "docs"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "plot.py"), "--results", str(tmp_path / "none"),
                    "--out", str(charts), "--gpu", str(out)], check=True, capture_output=True, timeout=120)
    assert (charts / "gpu.png").stat().st_size > 5000


def test_the_manifest_benchmark_runs_both_readers(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    env = {**os.environ, "AUDIODECODE_BENCH_DIR": str(tmp_path / "results")}
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "manifests.py"), "--rows", "3000", "--dir", str(tmp_path),
                          "--formats", "jsonl", "tsv"], capture_output=True, text=True, env=env, timeout=300, check=True).stdout
    assert "| 3,000 " in out
    rows = json.loads((tmp_path / "results" / "manifests-jsonl-tsv.json").read_text())["rows"]
    assert [r["manifest"] for r in rows] == ["NeMo JSONL", "Common Voice TSV"]
    assert rows[0]["rows"] == "3,000" and rows[1]["columnar: time"].endswith(" s")
