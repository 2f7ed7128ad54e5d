"""Preparing a corpus into 16 kHz FLAC tar shards: audiodecode.prepare's
local runner, its Ray runner on a local cluster and lhotse's Shar export,
side by side, in hours of audio prepared per second.

    python benchmarks/prepare.py                   # 2,000 files, 2 workers
    python benchmarks/prepare.py --files 500 --workers 2

The corpus is generated once under ~/.cache/audiodecode/bench/prepare-<n>:
files of 1-20 s, MP3/FLAC/WAV in turn, at 44.1 and 48 kHz, one in three
stereo, and 1% damaged (empty, garbage, cut short). Every tool reads the
same files and writes 16 kHz FLAC shards, keeping the channels:

- audiodecode local: `prepare(corpus, out, sr=16000, codec="flac")` with
  `num_workers` threads (validate="full": every file decoded strictly).
- audiodecode Ray: the same on `ray.init(num_cpus=workers)`; the cluster
  is started before the clock (a cluster is up before a job is sent).
- lhotse: each file probed with `Recording.from_file` in a process pool of
  `workers` (a damaged file is dropped, as lhotse's own `from_dir` cannot:
  one bad file stops it), then `CutSet.resample(16000).to_shar(fields=
  {"recording": "flac"}, num_jobs=workers, fault_tolerant=True)`.

Throughput is the hours of audio in each tool's output over its wall time,
probing included. Needs a release build (`make build-release`).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from common import ROOT, header, show

from synth import encode, speech_like

BENCH = Path.home() / ".cache" / "audiodecode" / "bench"
FORMATS = ("mp3", "flac", "wav")


def make_corpus(n: int) -> Path:
    root = BENCH / f"prepare-{n}"
    done = root / ".complete"
    if done.exists():
        return root
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(21)
    # Synthesis is slow: each file is a slice of one of a few 20 s phrases.
    phrases = {sr: [speech_like(20.0, sr, f0_hz=90 + 15 * k, seed=k) for k in range(4)] for sr in (44100, 48000)}
    damaged = set(range(50, n, 100))  # 1%
    for i in range(n):
        fmt, sr = FORMATS[i % 3], (44100, 48000)[(i // 3) % 2]
        path = root / f"{i // 100:02d}" / f"clip{i:05d}.{fmt}"
        path.parent.mkdir(exist_ok=True)
        if path.exists():
            continue
        if i in damaged:
            kind = (i // 100) % 3
            data = b"" if kind == 0 else bytes(rng.integers(0, 256, 4096, dtype=np.uint8)) if kind == 1 else None
            if data is not None:
                path.write_bytes(data)
                continue
        seconds = float(rng.uniform(1.0, 20.0))
        y = phrases[sr][i % 4][: int(seconds * sr)]
        if i % 3 == 1:
            y = np.stack([y, np.roll(y, 50)])
        encode(path, y, sr, fmt)
        if i in damaged:
            whole = path.read_bytes()
            path.write_bytes(whole[: len(whole) // 2])
    done.touch()
    return root


def files_of(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("clip*"))


def ours(corpus: Path, out: Path, runner: str, workers: int, shard_size: str) -> tuple[float, float]:
    import audiodecode

    t0 = time.perf_counter()
    summary = audiodecode.prepare(corpus, out, sr=16000, codec="flac", shard_size=shard_size, runner=runner,
                                  num_workers=workers, progress=False)
    return time.perf_counter() - t0, summary.hours


def _lhotse_probe(path: str) -> object:
    from lhotse import Recording

    try:
        return Recording.from_file(path)
    except Exception:  # noqa: BLE001 - lhotse has no per-file fault tolerance here
        return None


def lhotse(corpus: Path, out: Path, workers: int, per_shard: int) -> tuple[float, float]:
    from lhotse import CutSet, RecordingSet

    t0 = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        recordings = [r for r in pool.map(_lhotse_probe, files_of(corpus), chunksize=16) if r is not None]
    cuts = CutSet.from_manifests(recordings=RecordingSet.from_recordings(recordings)).resample(16000)
    written = cuts.to_shar(out, fields={"recording": "flac"}, shard_size=per_shard, num_jobs=workers, fault_tolerant=True)
    elapsed = time.perf_counter() - t0
    hours = sum(c.duration for c in CutSet.from_files(written["cuts"])) / 3600
    return elapsed, hours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    # Planned from the 16-bit PCM size: 16MB plans FLAC shards of about 9MB,
    # about 40 files, like lhotse's --per-shard; more shards than workers
    # keep the Ray tasks busy to the end.
    parser.add_argument("--shard-size", default="16MB", help="ours; lhotse's shards hold --per-shard cuts")
    parser.add_argument("--per-shard", type=int, default=40)
    parser.add_argument("--tools", default="local,ray,lhotse")
    args = parser.parse_args()
    header(f"prepare: {args.files} files into 16 kHz FLAC tar shards, {args.workers} workers")
    corpus = make_corpus(args.files)
    tools = args.tools.split(",")
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-prepare-") as tmp:
        if "local" in tools:
            results["audiodecode local"] = ours(corpus, Path(tmp) / "local", "local", args.workers, args.shard_size)
        if "ray" in tools:
            import ray

            # The workers import audiodecode from this checkout, as the driver does.
            ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
            try:
                results["audiodecode Ray (local 2-CPU cluster)"] = ours(corpus, Path(tmp) / "ray", "ray", args.workers,
                                                                          args.shard_size)
            finally:
                ray.shutdown()
        if "local" in tools and "ray" in tools:
            same = all((Path(tmp) / "local" / p.name).read_bytes() == p.read_bytes()
                       for p in sorted((Path(tmp) / "ray").glob("shard-*.tar")))
            print(f"# Ray and local shards byte-identical: {same}")
        if "lhotse" in tools:
            results["lhotse Shar (FLAC)"] = lhotse(corpus, Path(tmp) / "lhotse", args.workers, args.per_shard)
        print(f"# (wall s, hours) per tool: {results}", flush=True)
        shutil.rmtree(tmp, ignore_errors=True)
    base = results.get("lhotse Shar (FLAC)")
    rows = []
    for tool, (elapsed, hours) in results.items():
        rate = hours * 3600 / elapsed
        ratio = f"{rate / (base[1] * 3600 / base[0]):.2f}x" if base else "-"
        rows.append([tool, f"{hours:.3f}", f"{elapsed:.1f}", f"{rate:.1f}", ratio])
    show("prepare", rows, ["tool", "hours out", "wall s", "audio s per s", "vs lhotse"])


if __name__ == "__main__":
    main()
