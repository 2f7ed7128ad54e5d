"""Shared helpers for the benchmark scripts: generated corpora, timing, tables."""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
# Benchmarks run from a checkout: the package and the test signal generators.
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from synth import encode, speech_like  # noqa: E402


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.system()}"


def header(title: str) -> None:
    from audiodecode import _core

    if _core.DEBUG_BUILD:
        raise SystemExit("audiodecode is a test (debug) build here: run `make build-release` first")
    print(f"# {title}")
    print(f"# {datetime.date.today().isoformat()} on {machine()}")


def corpus(root: Path, fmt: str, seconds: list[float], sr: int = 44100, channels: int = 2) -> list[Path]:
    """Speech-like stereo clips of the given lengths, encoded once and reused."""
    root.mkdir(parents=True, exist_ok=True)
    ext = {"m4a": "m4a"}.get(fmt, fmt)
    paths = []
    for i, s in enumerate(seconds):
        path = root / f"{fmt}_{i:04d}_{s:g}s.{ext}"
        if not path.exists():
            # Synthesis is slow; long files repeat a 20 s phrase.
            phrase = speech_like(min(s, 20.0), sr, f0_hz=100 + 7 * (i % 20), seed=i)
            y = np.resize(phrase, int(round(s * sr)))
            encode(path, np.stack([y, np.roll(y, 100)])[:channels], sr, fmt)
        paths.append(path)
    return paths


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """Best wall time of `repeat` runs (the least disturbed by a noisy machine)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


# Where every benchmark writes its JSON (plot.py reads them); `AUDIODECODE_BENCH_DIR` moves it.
RESULTS = Path(os.environ.get("AUDIODECODE_BENCH_DIR", ROOT / "benchmarks" / "results"))


def write_json(name: str, rows: list[dict], **meta: object) -> Path:
    """Write a benchmark's result rows to `RESULTS/<name>.json` for `plot.py`.

    Parameters
    ----------
    name : str
        The benchmark's name (the script's stem), also the file's.
    rows : list of dict
        One dict per table row: plain numbers and strings, e.g.
        ``{"tool": "audiodecode", "files_per_s": 812.0, "ratio": 4.1}``.
    **meta
        Anything else worth keeping beside the rows (settings, notes).

    Returns
    -------
    Path
        The file written; also printed.
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    doc = {"benchmark": name, "date": datetime.date.today().isoformat(), "machine": machine(), **meta, "rows": rows}
    path.write_text(json.dumps(doc, indent=1, default=float) + "\n")
    print(f"# results: {path}")
    return path


def show(name: str, rows: list[list[str]], headers: list[str]) -> None:
    """Print a table and write its rows (header -> cell) with `write_json`;
    `plot.py` reads the numbers back out of the formatted cells."""
    print(table(rows, headers))
    write_json(name, [dict(zip(headers, map(str, row))) for row in rows])


def utilization_curves(rows: list[dict]) -> dict[str, dict[float, float]]:
    """`benchmarks/utilization.py`'s rows as curves: per loader, utilization
    by device step time (ms) with augmentation on, for the loaders measured
    at more than one step time."""
    curves: dict[str, dict[float, float]] = {}
    for r in rows:
        if r["augment"]:
            curves.setdefault(r["loader"], {})[r["step_ms"]] = r["utilization"]
    return {k: v for k, v in curves.items() if len(v) > 1}
