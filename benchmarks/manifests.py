"""Opening NeMo JSON Lines manifests of 1M and 10M rows: the columnar reader
(pyarrow, audiodecode.data.columnar) against the row reader (a json.loads
dict per row), side by side.

    python benchmarks/manifests.py                # NeMo JSONL, 1M and 10M rows
    python benchmarks/manifests.py --rows 1000000
    python benchmarks/manifests.py --formats tsv --rows 1000000   # Common Voice TSV

The manifests are generated once under ~/.cache/audiodecode/bench/manifests
and reused. Each open runs in a fresh subprocess (`audio_files(path,
probe=False)`: the files do not exist, and probing is the duration cache's
business, not the reader's) and reports its wall time, its CPU time (user +
system, all threads: what a busy shared machine inflates less than the wall
time) and its peak RSS (`resource.getrusage(RUSAGE_SELF).ru_maxrss`). The
Rust core plays no part, so a debug build measures the same as a release
build.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from common import ROOT, machine, show

BENCH = Path.home() / ".cache" / "audiodecode" / "bench" / "manifests"
WORDS = ("the of and to in a is that for it as was with be by on not he i this are or his from at which but have an they "
         "you were her she there one all we their its been has would more will so no if out time about up them said "
         "what into could other than then these two may first any only new some like should very over people").split()
ROWS_PER_WRITE = 100_000

CHILD = """
import json, resource, sys, time
from audiodecode.data.manifests import read_manifest
from audiodecode.data.records import audio_files
path, reader = sys.argv[1], sys.argv[2]
before = resource.getrusage(resource.RUSAGE_SELF)
cpu_before = before.ru_utime + before.ru_stime
start = time.perf_counter()
if reader == "columnar":
    files = audio_files(path, probe=False)
else:
    files = read_manifest(path, probe=False, columnar=False)
seconds = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu = usage.ru_utime + usage.ru_stime - cpu_before
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "peak_bytes": usage.ru_maxrss * 1024, "records": len(files)}))
"""


# Common Voice's columns (validated.tsv): the path and sentence are roles,
# the others metadata, passed through as JSON.
CV_HEADER = "client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\tlocale\n"


def manifest(rows: int, folder: Path = BENCH, fmt: str = "jsonl") -> Path:
    """A manifest of `rows` rows, written once into `folder`: NeMo JSONL
    (path, duration, transcript; ~116 bytes a row) or Common Voice TSV
    (eight columns, no durations; ~120 bytes a row)."""
    path = folder / (f"nemo-{rows}.jsonl" if fmt == "jsonl" else f"cv-{rows}.tsv")
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        if fmt == "tsv":
            f.write(CV_HEADER)
        for lo in range(0, rows, ROWS_PER_WRITE):
            n = min(ROWS_PER_WRITE, rows - lo)
            durations = rng.uniform(1.0, 20.0, n).round(2)
            words = rng.integers(0, len(WORDS), (n, 9))
            texts = [" ".join(WORDS[w] for w in words[i]) for i in range(n)]
            if fmt == "tsv":
                f.write("".join(f"{lo + i:040x}\tcommon_voice_en_{lo + i}.mp3\t{texts[i]}\t{(lo + i) % 5}\t0\ttwenties\t\ten\n"
                                for i in range(n)))
            else:
                f.write("".join(
                    json.dumps({"audio_filepath": f"audio/{(lo + i) // 1000:05d}/{lo + i:08d}.flac",
                                "duration": float(durations[i]), "text": texts[i]}) + "\n"
                    for i in range(n)
                ))
    os.replace(tmp, path)
    return path


def measure(path: Path, reader: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), reader], capture_output=True, text=True,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--formats", nargs="+", choices=["jsonl", "tsv"], default=["jsonl"])
    parser.add_argument("--dir", type=Path, default=BENCH, help="where the manifests are generated and kept")
    args = parser.parse_args()
    print("# Opening manifests: audio_files(path, probe=False)")
    print(f"# {__import__('datetime').date.today().isoformat()} on {machine()}")
    table = []
    for fmt, rows in ((fmt, rows) for fmt in args.formats for rows in args.rows):
        path = manifest(rows, args.dir, fmt)
        size_mb = path.stat().st_size / 1e6
        new = measure(path, "columnar")
        old = measure(path, "rows")
        assert new["records"] == old["records"] == rows
        table.append([
            {"jsonl": "NeMo JSONL", "tsv": "Common Voice TSV"}[fmt], f"{rows:,}", f"{size_mb:,.0f} MB",
            f"{new['seconds']:.1f} s", f"{new['cpu_seconds']:.1f} s", f"{new['peak_bytes'] / 1e9:.2f} GB",
            f"{old['seconds']:.1f} s", f"{old['cpu_seconds']:.1f} s", f"{old['peak_bytes'] / 1e9:.2f} GB",
            f"{old['seconds'] / new['seconds']:.1f}x", f"{old['peak_bytes'] / new['peak_bytes']:.1f}x",
        ])
    name = "manifests" if args.formats == ["jsonl"] else "manifests-" + "-".join(args.formats)
    show(name, table, ["manifest", "rows", "file", "columnar: time", "columnar: CPU", "columnar: peak RSS",
                       "row reader: time", "row reader: CPU", "row reader: peak RSS", "faster", "less memory"])


if __name__ == "__main__":
    main()
