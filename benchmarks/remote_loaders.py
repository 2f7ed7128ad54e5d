"""Why one loader reads remote records slower than the other: the torch
loader and the JAX loader side by side over the same delayed HTTP server.

The tar shards of `sources.py` (its data set, `--clips`, written by it
first) are read for one epoch by `AudioDataLoader` (torch) and by
`audiodecode.jax.loader` with the same settings as there (2 Rust threads,
batches of 32, 1 s random crops at 16 kHz, no cache), once from local disk
and once through an HTTP server (`--server`: `tests/leanserver.py`, or
`tests/rangeserver.py`, aiohttp's) waiting `--delay` seconds before each
answer, alternating for `--rounds` rounds. `--prefetch` fixes the
read-ahead of both (default: each chooses its own, as a user's loader
does), which separates the pipelines from the depth they are given.

Per run it prints what the loaders' `stats()` say and what the process
measured around the timed epoch:

- clips/s remote and local, and their ratio;
- the read-ahead depth in use and what it was chosen from (fetch per
  batch alone and with the sample batches at once, host work per batch);
- the batches being fetched (`Storage.stats()["in_flight"]`, sampled
  every 10 ms: mean; and the peak);
- the fetch stage's milliseconds per batch during the epoch;
- CPU seconds of the epoch: this process's (all threads), its Python
  threads' (readers, Grain's, the device thread, the main thread: the
  process's less the core's Rust threads') and the server's child process.

    python benchmarks/remote_loaders.py [--clips 1000] [--delay 0.02] [--rounds 4] [--prefetch N]
                                        [--server lean|aiohttp]
"""

from __future__ import annotations

import argparse
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from common import header, table

from audiodecode.data.records import AudioFiles
from audiodecode.data.sources import Storage, tar_shards
from sources import (
    BATCH,
    LOADER,
    PER_SHARD,
    SERVERS,
    SR,
    EpochClock,
    HttpServer,
    forget_tuning_blocks,
    make_corpus,
    write_formats,
)

TICK = os.sysconf("SC_CLK_TCK")


def rust_threads_cpu() -> float:
    """CPU seconds so far of the core's threads in this process: its
    decoders (`audiodecode-<n>`) and the engine's runtime
    (`audiodecode-io`), which live as long as the process; the rest of
    the process's CPU is its Python threads (readers, Grain's, the device
    thread, the main thread), which come and go with each loader."""
    total = 0.0
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:  # a thread that ended between the listing and the read
            continue
        if name.startswith("audiodecode"):
            total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def one_epoch(which: str, files: AudioFiles, storage: Storage | None, server_pid: int | None) -> dict[str, Any]:
    """One timed epoch of loader `which` over `files`, with what it measured."""
    if which == "torch":
        from audiodecode.torch import AudioDataLoader

        loader: Any = AudioDataLoader(files, **LOADER)
    else:
        from audiodecode.jax import loader as jax_loader

        settings = {k: v for k, v in LOADER.items() if k not in ("target_sr", "device", "drop_last")}
        loader = jax_loader(files, sr=SR, num_epochs=1, drop_remainder=True, **settings)
    try:
        forget_tuning_blocks(loader.plan.files)
        if storage is not None:
            storage.reset_stats()
        fetching: list[int] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.01):
                fetching.append(int(storage.stats()["in_flight"]))

        sampler = threading.Thread(target=sample, daemon=True)
        if storage is not None:
            sampler.start()
        clock = EpochClock(server_pid)
        before = rust_threads_cpu()
        with clock:
            n = sum(int(b["label"].shape[0]) if which == "jax" else len(b[1]) for b in loader)
        rust_cpu = rust_threads_cpu() - before
        stop.set()
        if storage is not None:
            sampler.join()
        stats = loader.stats()
    finally:
        loader.close()
    ahead = stats["parallelism"]["read_ahead"]
    return {
        "rate": n / clock.wall, "depth": stats["parallelism"]["prefetch"], "ahead": ahead,
        "fetching": float(np.mean(fetching)) if fetching else None,
        "peak": stats["storage"]["peak_in_flight"] if storage is not None else None,
        "fetch_ms": stats["stage_ms_per_batch"].get("fetch", 0.0),
        "cpu": clock.cpu, "python_cpu": clock.cpu - rust_cpu, "server_cpu": clock.server_cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=1000)
    parser.add_argument("--delay", type=float, default=0.02, help="seconds the server waits before each answer")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--prefetch", type=int, default=None, help="read-ahead of both loaders (default: autotuned)")
    parser.add_argument("--server", choices=sorted(SERVERS), default="lean",
                        help="the HTTP server: tests/leanserver.py (default) or tests/rangeserver.py (aiohttp)")
    args = parser.parse_args()
    LOADER["prefetch"] = args.prefetch
    header(f"remote loaders: torch and JAX over an HTTP server ({SERVERS[args.server]}) {args.delay * 1e3:.0f} ms away, "
           f"{args.clips} clips, "
           f"batches of {BATCH}, {args.prefetch or 'autotuned'} read ahead")
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "audiodecode" / f"bench-sources-{args.clips}"
    files = make_corpus(root, args.clips)
    write_formats(files, root)
    n_shards = -(-args.clips // PER_SHARD)
    local = tar_shards(str(root / f"shards/train-{{000000..{n_shards - 1:06d}}}.tar"), storage=Storage(),
                       index_dir=str(root / "tar-index"))
    server = HttpServer(root, args.server)
    rows = []
    try:
        server.command(f"delay {args.delay}")
        remote = tar_shards(f"{server.url}/shards/train-{{000000..{n_shards - 1:06d}}}.tar", storage=Storage(),
                            index_dir=str(root / "tar-index-http-False"))
        for r in range(args.rounds):
            for which in ("torch", "jax"):
                here = one_epoch(which, local, None, None)
                there = one_epoch(which, remote, remote.source.storage, server.proc.pid)
                ahead = there["ahead"] or {}
                rows.append([
                    f"{r + 1}", which, f"{there['rate']:.0f}", f"{here['rate']:.0f}",
                    f"{there['rate'] / here['rate']:.2f}", f"{there['depth']}",
                    f"{1e3 * ahead.get('fetch_alone_s', 0):.0f} / {1e3 * ahead.get('fetch_s', 0):.0f} / "
                    f"{1e3 * ahead.get('work_s', 0):.0f}",
                    f"{there['fetching']:.1f} / {there['peak']}", f"{there['fetch_ms']:.0f}",
                    f"{there['cpu']:.2f} ({here['cpu']:.2f})", f"{there['python_cpu']:.2f}",
                    f"{there['server_cpu']:.2f}",
                ])
                print(" | ".join(rows[-1]), flush=True)
    finally:
        server.close()
    print()
    print(table(rows, ["round", "loader", "clips/s", "local clips/s", "vs local", "read ahead",
                       "tuning ms: fetch alone / at once / work", "fetching: mean / peak", "fetch ms/batch",
                       "CPU s (local)", "Python threads CPU s", "server CPU s"]))


if __name__ == "__main__":
    main()
