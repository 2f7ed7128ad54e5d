"""Where the data set lives: loose files, tar shards, ArrayRecord and
Parquet, on local disk and through an S3 server 20 ms away; and
webdataset's own pipeline over the same shards.

One generated data set (`--clips`, default 2,000 speech-like clips of
2-10 s at 44.1 kHz mono, MP3 and FLAC alternating, ten classes) is written
as loose files, as tar shards of 100 clips, as one ArrayRecord file
(`write_array_record`) and as one Parquet file in the `datasets` Audio
layout (row groups of 8 rows). Every variant is read for one epoch by the
same loader (`audiodecode.torch.AudioDataLoader` on the CPU: batches of 32,
1 s random crops at 16 kHz, 2 Rust threads, 4 batches read ahead, no
cache), after the source is opened (tar indexes built, the ArrayRecord
file staged, Parquet footers read).

"s3" runs read the same objects from moto's S3 server (`tests/s3server.py`,
in a child process on 127.0.0.1) that sleeps 20 ms in every request
before answering. Bytes read are what the source fetched (`Storage`
counters), or for loose local files what the process read (`rchar`).

"http" runs (`--http`, or alone with `--http-only`) read the same tar
shards through an HTTP range server in a child process (one core) that
waits 0, 20 and 50 ms before answering each request: `tests/leanserver.py`
(an asyncio protocol answering from memory, about 0.05 ms of CPU per
request), or with `--server aiohttp` `tests/rangeserver.py` (aiohttp's
`FileResponse`, about 0.5 ms per request: on 2 cores it answers fewer
requests per second than the loaders ask for). Side by side: the native read engine
(`Storage()`: the whole batch in one call to the Rust core) in the exact
global shuffle and in the shard-streaming order (`shuffle_buffer=500`:
whole shards in 4 MiB blocks through a shuffle buffer; the blocks the
autotuner read are dropped before the timed epoch), by the torch
loader and by the JAX loader; the fsspec path it replaced
(`Storage(engine="fsspec", max_in_flight=16)`, its old default); the
ArrayRecord file staged over HTTP, then read; and webdataset's pipeline
streaming the shards over HTTP. Each is divided by the same loader and
order on the local copies, measured in the same rounds. The server's own
ceiling (ranged requests per second it answers with no added delay, 256
in flight from the native engine) is printed with them, and so are the
CPU seconds each timed epoch cost the loader's process and the server's
(the server shares the two cores: a store elsewhere would not). The loaders'
read-ahead is chosen by the autotuner from the measured latency unless
`--prefetch` fixes it.

The competitor is webdataset's pipeline as its documentation shows it:
`wds.WebDataset(shards).shuffle(...)` decoding each sample with librosa
(the same random 1 s crop at 16 kHz, via `offset`/`duration`), batched by a
torch `DataLoader`; the best of `num_workers` 1 and 2 is shown.

    python benchmarks/sources.py [--clips 2000] [--quick] [--http | --http-only] [--repeats 3] [--prefetch N]
                                 [--server lean|aiohttp]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from common import ROOT, best_of, header, table

import audiodecode  # noqa: F401
from audiodecode.data.records import AudioFiles, audio_files
from audiodecode.data.sources import (
    RetryPolicy,
    Storage,
    array_records,
    object_files,
    parquet_records,
    tar_shards,
    write_array_record,
    write_parquet,
    write_tar_shards,
)
from audiodecode.torch import AudioDataLoader
from cpu_time import cpu_seconds
from synth import encode, speech_like

SR = 16000
FILE_SR = 44100
BATCH = 32
CLIP_S = 1.0
PER_SHARD = 100
LATENCY_S = 0.02
HTTP_DELAYS_S = (0.0, 0.02, 0.05)
# The HTTP servers the "http" runs may read from (`--server`), in tests/.
SERVERS = {"lean": "leanserver.py", "aiohttp": "rangeserver.py"}
# Shard-streaming rows: records through a shuffle buffer of this many
# (webdataset's pipeline below shuffles with the same buffer).
BUFFER = 500
LOADER = dict(batch_size=BATCH, target_sr=SR, clip_seconds=CLIP_S, cache=None, num_threads=2, prefetch=None,
              device="cpu", drop_last=True)


def rchar() -> int:
    with open("/proc/self/io") as f:
        for line in f:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    raise RuntimeError("no rchar in /proc/self/io")


class EpochClock:
    """Wall time and CPU seconds of one timed epoch: this process's (the
    loader, its threads and the engine's) and the HTTP server's, whose
    child process shares the machine's cores with it; with `count`, also
    the wait for the first batch and the rate after it (an epoch of a
    thousand clips lasts under half a second here, so the first batch's
    wait, one request's latency and more, weighs on the whole epoch's
    rate as it would not on a longer one)."""

    def __init__(self, server_pid: int | None = None) -> None:
        self.server_pid = server_pid
        self.wall = self.cpu = self.server_cpu = 0.0
        self.first_s, self.clips, self.first_clips = 0.0, 0, 0

    def count(self, batches: Iterable, clips: Callable[[object], int]) -> int:
        """Iterate `batches` inside the clock; the clips they hold."""
        with self:
            for batch in batches:
                if not self.clips:
                    self.first_s = time.perf_counter() - self._start[0]
                    self.first_clips = clips(batch)
                self.clips += clips(batch)
        return self.clips

    @property
    def rate_after_first(self) -> float:
        """Clips per second after the first batch came."""
        return (self.clips - self.first_clips) / max(self.wall - self.first_s, 1e-9)

    def __enter__(self) -> EpochClock:
        self._start = (time.perf_counter(), cpu_seconds(), cpu_seconds(self.server_pid) if self.server_pid else 0.0)
        return self

    def __exit__(self, *exc: object) -> None:
        wall, cpu, server = self._start
        self.wall = time.perf_counter() - wall
        self.cpu = cpu_seconds() - cpu
        self.server_cpu = (cpu_seconds(self.server_pid) - server) if self.server_pid else 0.0


def make_corpus(root: Path, n: int) -> AudioFiles:
    """n clips (2-10 s, MP3/FLAC alternating), written once and reused."""
    loose = root / "loose"
    loose.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    seconds = rng.uniform(2.0, 10.0, n)
    phrases: dict[int, np.ndarray] = {}
    paths, labels = [], []
    for i, s in enumerate(seconds):
        fmt = "mp3" if i % 2 == 0 else "flac"
        path = loose / f"{i:05d}.{fmt}"
        if not path.exists():
            k = i % 8
            if k not in phrases:  # synthesis is slow: eight 10 s phrases, cut to length
                phrases[k] = speech_like(10.0, FILE_SR, f0_hz=100 + 9 * k, seed=k)
            encode(path, phrases[k][: int(s * FILE_SR)] * (0.6 + 0.04 * (i % 10)), FILE_SR, fmt)
        paths.append(str(path))
        labels.append(f"class{i % 10}")
    return audio_files(paths, labels=labels)


def write_formats(files: AudioFiles, root: Path) -> dict[str, str]:
    done = root / ".formats-done"
    pairs = [(p, files.classes[k]) for p, k in zip(files.paths, files.labels.tolist())]
    n_shards = -(-len(files) // PER_SHARD)
    out = {
        "tar": str(root / f"shards/train-{{000000..{n_shards - 1:06d}}}.tar"),
        "array_record": str(root / "clips.array_record"),
        "parquet": str(root / "clips.parquet"),
    }
    if not done.exists():
        write_tar_shards(pairs, str(root / "shards/train-{:06d}.tar"), per_shard=PER_SHARD)
        write_array_record(files, out["array_record"])
        write_parquet([(p, int(k)) for p, k in zip(files.paths, files.labels)], out["parquet"], rows_per_group=8,
                      classes=files.classes)
        done.touch()
    return out


class ChildServer:
    """A test server in a child process, driven by lines on its stdin."""

    proc: subprocess.Popen

    def command(self, line: str) -> str:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


class Server(ChildServer):
    """tests/s3server.py in a child process."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "s3server.py")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)
        self.endpoint = self.proc.stdout.readline().strip()

    def options(self) -> dict:
        sys.path.insert(0, str(ROOT / "tests"))
        from s3server import ACCESS_KEY, REGION, SECRET_KEY

        return {"key": ACCESS_KEY, "secret": SECRET_KEY, "skip_instance_cache": True,
                "client_kwargs": {"endpoint_url": self.endpoint, "region_name": REGION},
                "config_kwargs": {"max_pool_connections": 64}}


class HttpServer(ChildServer):
    """tests/leanserver.py (or `server`: a key of `SERVERS`) serving `root` in a child process."""

    def __init__(self, root: Path, server: str = "lean") -> None:
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / SERVERS[server]), str(root)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip()


def http_ceiling(server: HttpServer, url: str, in_flight: int = 256, rounds: int = 8) -> float:
    """Ranged requests per second the HTTP server answers with no added
    delay: batches of `in_flight` reads of up to 50 kB of `url`, apart, by
    the native engine, counted by the server (one asyncio process, so this
    is one core's worth, on a machine the client shares)."""
    from audiodecode.data.sources import ByteRange

    server.command("delay 0")
    storage = Storage(max_in_flight=in_flight, coalesce_gap=0)
    size = storage.size(url)
    step = size // in_flight
    length = min(50_000, step // 2)
    ranges = [ByteRange(url, k * step, k * step + length) for k in range(in_flight)]
    storage.read_many(ranges)
    before = int(server.command("requests"))
    t0 = time.perf_counter()
    for _ in range(rounds):
        storage.read_many(ranges)
    elapsed = time.perf_counter() - t0
    storage.close()
    return (int(server.command("requests")) - before) / elapsed


def http_section(
    root: Path, n: int, local_records: AudioFiles, repeats: int, server_name: str = "lean"
) -> list[list[str]]:
    """Tar shards (and the ArrayRecord file) through the HTTP range server
    at each delay, each reader beside the same reader on the local copies
    (medians of `repeats` alternating rounds); webdataset (best of 1 and 2
    workers) against the local native run. Rows for the table."""
    n_shards = -(-n // PER_SHARD)
    server = HttpServer(root, server_name)
    local_array = array_records(str(root / "clips.array_record"), storage=Storage())
    rows = []
    try:
        shards = f"{server.url}/shards/train-{{000000..{n_shards - 1:06d}}}.tar"
        ceiling = http_ceiling(server, f"{server.url}/shards/train-000000.tar")
        print(f"# HTTP range server ({SERVERS[server_name]}), no added delay, 256 ranged reads in flight: "
              f"{ceiling:.0f} requests/s", flush=True)
        # reader -> (loader, options, local records); remote records are opened per delay.
        readers = {
            "tar, native engine": ("torch", {}, local_records),
            "tar, native engine, shard stream": ("torch", {"shuffle_buffer": BUFFER}, local_records),
            "tar, native engine, JAX loader": ("jax", {}, local_records),
            "tar, native engine, JAX loader, shard stream": ("jax", {"shuffle_buffer": BUFFER}, local_records),
            "tar, fsspec (before)": ("torch", {}, local_records),
            "ArrayRecord, staged over HTTP": ("torch", {}, local_array),
        }
        # webdataset first: its DataLoader workers fork, which must happen
        # before the JAX loader has started threads in this process.
        competitors = {}
        for delay in HTTP_DELAYS_S:
            server.command(f"delay {delay}")
            competitors[delay] = max(webdataset_epoch(shards, w) for w in (1, 2))
            print(f"# webdataset + librosa, {delay * 1e3:.0f} ms/request: {competitors[delay]:.0f} clips/s", flush=True)
        for delay in HTTP_DELAYS_S:
            server.command(f"delay {delay}")
            label = f"HTTP, {delay * 1e3:.0f} ms/request"
            storages = {name: Storage(engine="fsspec", max_in_flight=16) if "fsspec" in name else Storage()
                        for name in readers}
            opened, staged_s = {}, 0.0
            for name, storage in storages.items():
                if name.startswith("ArrayRecord"):
                    shutil.rmtree(root / f"staged-{delay}", ignore_errors=True)  # time a first staging
                    t0 = time.perf_counter()
                    opened[name] = array_records(f"{server.url}/clips.array_record", storage=storage,
                                                 stage_dir=str(root / f"staged-{delay}"))
                    staged_s = time.perf_counter() - t0
                else:
                    opened[name] = tar_shards(shards, storage=storage,
                                              index_dir=str(root / f"tar-index-http-{'fsspec' in name}"))
            # Alternating runs, medians: the machine is shared, so its load
            # drifts between runs; local is measured in the same rounds.
            rates: dict[str, list[float]] = {}
            local_rates: dict[str, list[float]] = {}
            latency: dict[str, list[float]] = {name: [] for name in readers}
            requests: dict[str, int] = {}
            ahead: dict[str, int] = {}
            # CPU seconds of the timed epochs: (loader, server) remote, loader local.
            cpu: dict[str, list[tuple[float, float]]] = {name: [] for name in readers}
            local_cpu: dict[str, list[float]] = {name: [] for name in readers}
            # The first batch's wait and the rate after it: (remote, local).
            first: dict[str, list[tuple[float, float]]] = {name: [] for name in readers}
            after: dict[str, list[tuple[float, float]]] = {name: [] for name in readers}
            for _ in range(repeats):
                for name, (which, options, local) in readers.items():
                    local_clock = EpochClock()
                    local_rates.setdefault(name, []).append(run_epoch(which, local, None, local_clock, **options)[0])
                    local_cpu[name].append(local_clock.cpu)
                    storage = storages[name]
                    storage.reset_stats()
                    clock = EpochClock(server.proc.pid)
                    rate, _, prefetch = run_epoch(which, opened[name], storage, clock, **options)
                    cpu[name].append((clock.cpu, clock.server_cpu))
                    first[name].append((clock.first_s, local_clock.first_s))
                    after[name].append((clock.rate_after_first, local_clock.rate_after_first))
                    rates.setdefault(name, []).append(rate)
                    stats = storage.stats()
                    requests[name] = int(stats["requests"])
                    latency[name].append(stats["p50_latency_s"] or 0.0)
                    ahead[name] = prefetch
                    storage.close()
            for name in readers:
                rate, local = float(np.median(rates[name])), float(np.median(local_rates[name]))
                where = label + (f" (staged in {staged_s:.1f} s)" if name.startswith("ArrayRecord") else "")
                loader_cpu, server_cpu = np.median(cpu[name], axis=0)
                first_s, local_first_s = np.median(first[name], axis=0)
                after_ratio = float(np.median([r / max(l_, 1e-9) for r, l_ in after[name]]))
                rows.append([name, where, f"{ahead[name]}", f"{rate:.0f}", f"{local:.0f}", f"{rate / local:.2f}",
                             f"{first_s * 1e3:.0f} ({local_first_s * 1e3:.0f})", f"{after_ratio:.2f}",
                             f"{requests[name]}", f"{np.median(latency[name]) * 1e3:.0f}",
                             f"{loader_cpu:.2f} ({np.median(local_cpu[name]):.2f})", f"{server_cpu:.2f}"])
                print(f"# {name}, {label}: {rate:.0f} clips/s, {ahead[name]} ahead (local {local:.0f}; runs "
                      f"{', '.join(f'{r:.0f}' for r in rates[name])})", flush=True)
            local = float(np.median(local_rates["tar, native engine"]))
            competitor = competitors[delay]
            rows.append(["webdataset + librosa", label, "", f"{competitor:.0f}", f"{local:.0f}",
                         f"{competitor / local:.2f}", "", "", "", "", "", ""])
    finally:
        server.close()
    rows.append(["(server ceiling, one core)", "HTTP, 0 ms", "", f"{ceiling:.0f} requests/s", "", "", "", "", "", "", "",
                 ""])
    return rows


def bytes_handoff_cost(records: AudioFiles, rounds: int = 20) -> tuple[float, float]:
    """What handing a batch's bytes to the decoder costs: ms per batch of
    `BATCH` tar members read by the native engine to decode their 1 s
    windows (2 Rust threads) from the engine's buffers, as the loaders do
    (`FetchedBytes`, no copy), and the same with each record's bytes
    copied twice first, as before 2026-12-07 (into a Python `bytes`, then
    into the decoder's input). Both in one run, the fastest of several."""
    from audiodecode import _core
    from audiodecode.data.sources import Storage
    from audiodecode.loading import load_batch

    source = records.source
    picks = np.random.default_rng(0).choice(len(records), BATCH, replace=False)
    ranges = []
    for pick in picks:
        shard, offset, size = (int(v) for v in source.locations[pick])
        ranges.append((Path(source.shards[shard]).resolve().as_uri(), offset, offset + size, None))
    fetched, _ = _core.storage_read_batch(ranges, [], Storage().engine_policy())

    def decode(blobs: list) -> object:
        return load_batch(blobs, sr=SR, offset=0.5, duration=CLIP_S, num_threads=2)

    in_place_ms = best_of(lambda: decode(fetched), rounds) * 1e3
    copied_ms = best_of(lambda: decode([bytes(bytearray(b)) for b in fetched]), rounds) * 1e3
    return in_place_ms, copied_ms


def upload(server: Server, root: Path, files: AudioFiles) -> None:
    import boto3
    import s3fs

    opts = server.options()
    boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id=opts["key"],
                 aws_secret_access_key=opts["secret"]).create_bucket(Bucket="bench")
    fs = s3fs.S3FileSystem(**opts)
    local = [str(p) for p in sorted((root / "shards").glob("*.tar"))]
    local += [str(root / "clips.array_record"), str(root / "clips.array_record.json"), str(root / "clips.parquet")]
    local += list(files.paths)
    remote = [f"bench/{Path(p).relative_to(root)}" for p in local]
    fs.put(local, remote)


def server_ceiling(server: Server, latency_s: float, url: str, in_flight: int = 32) -> float:
    """Requests per second the S3 server answers for batches of `in_flight`
    ranged reads of up to 50 kB of `url` (what this machine allows the test
    server and the client together, whatever the source)."""
    from audiodecode.data.sources import ByteRange

    server.command(f"latency {latency_s}")
    storage = Storage(server.options(), max_in_flight=in_flight)
    size = storage.size(url)
    ranges = [ByteRange(url, (k * 50_000) % max(1, size - 50_000), min(size, (k * 50_000) % max(1, size - 50_000) + 50_000))
              for k in range(in_flight)]
    storage.read_many(ranges)
    t0 = time.perf_counter()
    for _ in range(3):
        storage.read_many(ranges)
    return 3 * in_flight / (time.perf_counter() - t0)


def run_epoch(
    which: str, files: AudioFiles, storage: Storage | None, clock: EpochClock | None = None, **options: object
) -> tuple[float, int, int]:
    """Clips per second, bytes read and the read-ahead of one epoch of the
    torch loader ("torch", `epoch`) or the JAX loader ("jax"); `clock`
    times the epoch (not the loader's start-up)."""
    clock = clock or EpochClock()
    if which == "torch":
        return epoch(files, storage, clock, **options)
    from audiodecode.jax import loader

    settings = {k: v for k, v in LOADER.items() if k not in ("target_sr", "device", "drop_last")}
    it = loader(files, sr=SR, num_epochs=1, drop_remainder=True, **settings, **options)
    try:
        forget_tuning_blocks(it.plan.files)
        if storage is not None:
            storage.reset_stats()
        n = clock.count(it, lambda b: int(b["label"].shape[0]))
        return n / clock.wall, 0, it.tuning.choice.prefetch
    finally:
        it.close()


def forget_tuning_blocks(files: AudioFiles) -> None:
    """Drop the shard blocks the autotuner read (shard-streaming order), so
    the timed epoch fetches every block it reads, as a first epoch of a
    data set larger than the blocks kept does."""
    blocks = getattr(files.source, "blocks", None)
    if blocks is not None:
        blocks.clear()


def epoch(
    files: AudioFiles, storage: Storage | None, clock: EpochClock | None = None, **options: object
) -> tuple[float, int, int]:
    """Clips per second, bytes read and the read-ahead for one epoch of the
    torch loader."""
    clock = clock or EpochClock()

    loader = AudioDataLoader(files, **LOADER, **options)
    try:
        forget_tuning_blocks(loader.plan.files)
        if storage is not None:
            storage.reset_stats()
        before = rchar()
        n = clock.count(loader, lambda b: len(b[1]))
        # rchar counts every read() and pread() of the process (local files,
        # the Rust decoder's and array-record's reads, a staged copy), not
        # network receives: remote bytes come from the Storage counters.
        read = rchar() - before
        if storage is not None and storage.storage_options:
            read += storage.stats()["bytes_read"]
        prefetch = loader.tuning.choice.prefetch
    finally:
        loader.close()
    return n / clock.wall, read, prefetch


def webdataset_epoch(urls: str, workers: int) -> float:
    """Clips per second of webdataset's pipeline decoding with librosa."""
    import librosa
    import soundfile
    import torch
    import webdataset as wds

    def decode(sample: dict) -> tuple[np.ndarray, int]:
        ext = "mp3" if "mp3" in sample else "flac"
        data = sample[ext]
        rng = np.random.default_rng(int(sample["__key__"]))
        total = soundfile.info(io.BytesIO(data)).duration
        offset = float(rng.uniform(0, max(0.0, total - CLIP_S)))
        y, _ = librosa.load(io.BytesIO(data), sr=SR, mono=True, offset=offset, duration=CLIP_S)
        clip = np.zeros(int(SR * CLIP_S), np.float32)
        clip[: len(y)] = y[: len(clip)]
        return clip, int(sample["txt"].decode().removeprefix("class"))

    dataset = wds.WebDataset(urls, shardshuffle=100, seed=0, empty_check=False,
                             workersplitter=wds.split_by_worker).shuffle(500).map(decode)
    loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, num_workers=workers, drop_last=True)
    t0 = time.perf_counter()
    n = sum(len(labels) for _, labels in loader)
    return n / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="200 clips, to try the script")
    parser.add_argument("--http", action="store_true", help="add the HTTP range server runs")
    parser.add_argument("--http-only", action="store_true", help="only local tar shards and the HTTP runs")
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs per HTTP delay (medians)")
    parser.add_argument("--prefetch", type=int, default=None,
                        help="batches the loaders read ahead (default: chosen from the measured latency)")
    parser.add_argument("--server", choices=sorted(SERVERS), default="lean",
                        help="the HTTP server: tests/leanserver.py (default) or tests/rangeserver.py (aiohttp)")
    args = parser.parse_args()
    LOADER["prefetch"] = args.prefetch
    n = 200 if args.quick else args.clips
    header(f"sources: {n} clips of 2-10 s (44.1 kHz MP3/FLAC), 1 s crops at 16 kHz, batches of {BATCH}, "
           f"{args.prefetch or 'autotuned'} read ahead")
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "audiodecode" / f"bench-sources-{n}"
    t0 = time.perf_counter()
    files = make_corpus(root, n)
    where = write_formats(files, root)
    print(f"# data set ready in {time.perf_counter() - t0:.0f} s: {sum(os.path.getsize(p) for p in files.paths) / 1e6:.0f} MB")

    results: dict[tuple[str, str], tuple[float, int]] = {}
    local = Storage()
    index_dir = str(root / "tar-index")
    if args.http_only:
        local_tar = tar_shards(where["tar"], storage=local, index_dir=index_dir)
        print_shuffle_mix(local_tar)
        print_bytes_cost(local_tar)
        print_http(http_section(root, n, local_tar, args.repeats, args.server))
        return
    opened = {
        "loose files": (files, None),
        "tar shards": (tar_shards(where["tar"], storage=local, index_dir=index_dir), local),
        "ArrayRecord": (array_records(where["array_record"], storage=local), local),
        "Parquet": (parquet_records(where["parquet"], storage=local), local),
    }
    for name, (records, storage) in opened.items():
        results[(name, "local")] = epoch(records, storage)[:2]
        print(f"# {name}, local: {results[(name, 'local')][0]:.0f} clips/s", flush=True)

    at_open: dict[str, int] = {}
    server = Server()
    try:
        upload(server, root, files)
        probes = {"a loose clip": f"s3://bench/loose/{Path(files.paths[0]).name}",
                  "a tar shard": "s3://bench/shards/train-000000.tar", "the Parquet file": "s3://bench/clips.parquet"}
        ceiling = {(what, lat): server_ceiling(server, lat, url) for what, url in probes.items()
                   for lat in (0.0, LATENCY_S)}
        server.command(f"latency {LATENCY_S}")
        remote = Storage(server.options(), retry=RetryPolicy(), max_in_flight=32)
        keys = [f"s3://bench/{Path(p).relative_to(root)}" for p in files.paths]
        n_shards = -(-n // PER_SHARD)
        openers = {
            "loose files": lambda: object_files(keys, [files.classes[k] for k in files.labels], storage=remote),
            "tar shards": lambda: tar_shards(f"s3://bench/shards/train-{{000000..{n_shards - 1:06d}}}.tar",
                                             storage=remote, index_dir=str(root / "tar-index-s3")),
            "ArrayRecord": lambda: array_records("s3://bench/clips.array_record", storage=remote,
                                                 stage_dir=str(root / "staged")),
            "Parquet": lambda: parquet_records("s3://bench/clips.parquet", storage=remote),
        }
        for name, open_source in openers.items():
            # Opening reads once what a first run reads once: the shards for
            # their index, the ArrayRecord file to stage it, Parquet footers.
            remote.reset_stats()
            records = open_source()
            at_open[name] = remote.stats()["bytes_read"]
            results[(name, "s3")] = epoch(records, remote)[:2]
            print(f"# {name}, S3 + {LATENCY_S * 1e3:.0f} ms: {results[(name, 's3')][0]:.0f} clips/s", flush=True)
    finally:
        server.close()

    competitor = max(webdataset_epoch(where["tar"], w) for w in (1, 2))
    print(f"# webdataset + librosa, local shards: {competitor:.0f} clips/s", flush=True)

    loose_local = results[("loose files", "local")][0]
    rows = []
    for (name, place), (rate, nbytes) in results.items():
        vs_local = "" if place == "local" else f"{rate / results[(name, 'local')][0]:.2f}"
        opening = "" if place == "local" else f"{at_open[name] / 1e6:.0f}"
        rows.append([name, "local disk" if place == "local" else f"S3, {LATENCY_S * 1e3:.0f} ms/request",
                     f"{rate:.0f}", f"{nbytes / 1e6:.0f}", opening, f"{rate / loose_local:.2f}", vs_local])
    rows.append(["webdataset + librosa (tar shards)", "local disk", f"{competitor:.0f}", "", "",
                 f"{competitor / loose_local:.2f}", ""])
    print()
    print(table(rows, ["source", "where", "clips/s", "MB read/epoch", "MB read at open", "vs loose local",
                       "S3 / local"]))
    print("\nWhat the S3 server answers on this machine, 32 ranged reads of 50 kB in flight (requests/s):")
    print(table([[what, f"{ceiling[(what, 0.0)]:.0f}", f"{ceiling[(what, LATENCY_S)]:.0f}"] for what in probes],
                ["object read", "no added latency", f"{LATENCY_S * 1e3:.0f} ms per request"]))
    tar_local = results[("tar shards", "local")][0]
    print(f"\naudiodecode over tar shards / webdataset + librosa: {tar_local / competitor:.1f}x")
    if args.http:
        print_http(http_section(root, n, opened["tar shards"][0], args.repeats, args.server))


def print_shuffle_mix(records: AudioFiles) -> None:
    """How mixed the batches of each order are: distinct shards in a batch
    (epoch 0, seed 0), the shuffle quality shard streaming gives up."""
    from audiodecode.data.seeding import epoch_order, stream_order

    indices = np.arange(len(records))
    objects = records.source.objects()
    orders = {"exact shuffle": epoch_order(indices, 0, 0)}
    orders |= {f"shard stream, buffer {b}": stream_order(indices, objects, 0, 0, b) for b in (100, BUFFER)}
    print(f"\nDistinct shards in a batch of {BATCH} ({objects.max() + 1} shards of {PER_SHARD} records):")
    for name, order in orders.items():
        batches = order[: len(order) // BATCH * BATCH].reshape(-1, BATCH)
        counts = [len(set(objects[b].tolist())) for b in batches]
        print(f"  {name}: mean {np.mean(counts):.1f}, min {min(counts)}, max {max(counts)}")


def print_bytes_cost(records: AudioFiles) -> None:
    in_place_ms, copied_ms = bytes_handoff_cost(records)
    print(f"\nDecoding a batch's {BATCH} windows from the engine's buffers: {in_place_ms:.2f} ms; with each record's "
          f"bytes copied twice first (the path before): {copied_ms:.2f} ms ({copied_ms / in_place_ms:.3f}x; fastest "
          "of several runs each)")


def print_http(rows: list[list[str]]) -> None:
    print("\nTar shards through the HTTP range server:")
    print(table(rows, ["reader", "where", "read ahead", "clips/s", "local clips/s", "vs local",
                       "first batch ms (local)", "vs local after it", "requests", "p50 latency ms",
                       "loader CPU s (local)", "server CPU s"]))
    print("first batch: the wait for an epoch's first batch (medians); vs local after it: the rate from the first "
          "batch on, divided by the local run's. CPU s: CPU seconds of the timed epoch (medians), the loader's "
          "process (all its threads) and the HTTP server's; in brackets the same loader on the local copies.")


if __name__ == "__main__":
    main()
