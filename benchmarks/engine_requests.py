"""What one ranged request costs the host: the native read engine's batch
read against plain Python HTTP clients, no decoding.

All read the same ranges of one 64 MB object from `tests/leanserver.py`
(no added delay unless `--delay-ms`) on 127.0.0.1, in batches of 32 and 256 ranges of 84 kB
(the mean record of `benchmarks/sources.py`), none close enough to share a
request:

- `Storage.read_many` (native): the path the loaders take (`ByteRange`
  list in, `bytes` out), one call per batch, the GIL released throughout;
- `_core.storage_read_batch`: the same engine without the Python around it;
- `http.client`: one kept-alive connection, one request after the other
  (the least a Python client can do per request);
- fsspec `HTTPFileSystem.cat_ranges` (aiohttp), the batch at once.

For each, CPU seconds per request of this process (all its threads: the
engine's runtime included) and of the server (its own process, sharing the
two cores), requests/s, and the connections the server accepted. With
`--baseline DIR` (a folder holding another build of the `audiodecode`
package, for example main's), the native rows are measured again with
that build in a child process against the same server, in the same run.

    python benchmarks/engine_requests.py [--seconds 2] [--delay-ms 20] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cpu_time import cpu_seconds

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OBJECT_BYTES = 64 << 20
RANGE_BYTES = 84_000
BATCHES = (32, 256)


class Server:
    """`tests/leanserver.py` over `root` in a child process."""

    def __init__(self, root: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "leanserver.py"), str(root)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip()

    def count(self, what: str) -> int:
        self.proc.stdin.write(what + "\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def batches(batch: int, seed: int = 0) -> list[list[tuple[int, int]]]:
    """64 batches of `batch` ranges at random record-aligned offsets."""
    rng = random.Random(seed)
    slots = OBJECT_BYTES // (2 * RANGE_BYTES)  # a range and a gap: nothing coalesces
    out = []
    for _ in range(64):
        starts = rng.sample(range(slots), batch)
        out.append([(s * 2 * RANGE_BYTES, s * 2 * RANGE_BYTES + RANGE_BYTES) for s in starts])
    return out


def measure(server_pid: int, server: Server | Relay, read: Callable[[list[tuple[int, int]]], list[bytes]], batch: int,
            seconds: float) -> dict:
    """Reads batches with `read` for about `seconds`; the figures per request."""
    todo = batches(batch)
    for got, (start, end) in zip(read(todo[0]), todo[0]):  # warm: connections, runtime
        assert len(got) == end - start, (len(got), start, end)
    requests, connections = server.count("requests"), server.count("connections")
    wall, cpu, served = time.perf_counter(), cpu_seconds(), cpu_seconds(server_pid)
    n = 0
    while True:
        read(todo[n % len(todo)])
        n += 1
        if time.perf_counter() - wall >= seconds and n >= 2:
            break
    wall, cpu, served = time.perf_counter() - wall, cpu_seconds() - cpu, cpu_seconds(server_pid) - served
    done = server.count("requests") - requests
    return {"batch": batch, "requests": done, "per_s": done / wall, "cpu_us": 1e6 * cpu / done,
            "server_us": 1e6 * served / done, "connections": server.count("connections") - connections}


def native_readers(base: str) -> dict[str, Callable[[int], Callable[[list[tuple[int, int]]], list[bytes]]]]:
    """The engine's two entry points, for a batch size (in flight: all of it)."""
    from audiodecode import _core
    from audiodecode.data.sources import ByteRange, Storage

    url = base + "/blob.bin"

    def read_many(batch: int) -> Callable:
        storage = Storage(max_in_flight=batch, coalesce_gap=0)

        def read(ranges: list[tuple[int, int]]) -> list[bytes]:
            return storage.read_many([ByteRange(url, a, b) for a, b in ranges])
        return read

    def raw(batch: int) -> Callable:
        policy = (6, 0.05, 2.0, 60.0, batch, 0, 64)

        def read(ranges: list[tuple[int, int]]) -> list[bytes]:
            results, _ = _core.storage_read_batch([(url, a, b, None) for a, b in ranges], [], policy)
            return results
        return read

    return {"native Storage.read_many": read_many, "native _core.storage_read_batch": raw}


def python_readers(url: str) -> dict[str, Callable[[int], Callable[[list[tuple[int, int]]], list[bytes]]]]:
    import fsspec

    host, _, port = url.removeprefix("http://").partition(":")
    path = "/blob.bin"

    def keep_alive(batch: int) -> Callable:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)

        def read(ranges: list[tuple[int, int]]) -> list[bytes]:
            out = []
            for a, b in ranges:
                conn.request("GET", path, headers={"Range": f"bytes={a}-{b - 1}"})
                out.append(conn.getresponse().read())
            return out
        return read

    def fsspec_http(batch: int) -> Callable:
        fs = fsspec.filesystem("http", skip_instance_cache=True)
        blob = url + path

        def read(ranges: list[tuple[int, int]]) -> list[bytes]:
            return fs.cat_ranges([blob] * len(ranges), [a for a, _ in ranges], [b for _, b in ranges],
                                 batch_size=batch)
        return read

    return {"http.client, kept alive": keep_alive, "fsspec cat_ranges (aiohttp)": fsspec_http}


class Relay:
    """The parent's server as a child sees it: counts asked for over the pipes."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def count(self, what: str) -> int:
        print(what, flush=True)
        return int(sys.stdin.readline())


def run(readers: dict, server: Server | Relay, server_pid: int, seconds: float) -> list[dict]:
    rows = []
    for name, make in readers.items():
        for batch in BATCHES:
            rows.append({"client": name, **measure(server_pid, server, make(batch), batch, seconds)})
    return rows


def baseline_rows(package_dir: Path, server: Server, seconds: float) -> list[dict]:
    """The native rows with the build in `package_dir`, measured by a child
    process whose server counts this process relays."""
    env = {**os.environ, "PYTHONPATH": str(package_dir.resolve())}
    proc = subprocess.Popen([sys.executable, __file__, "--child", server.url, str(server.proc.pid),
                             "--seconds", str(seconds)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env=env, cwd=package_dir)
    rows = []
    for line in proc.stdout:
        if line.startswith("{"):
            row = json.loads(line)
            rows.append({**row, "client": row["client"] + " (baseline build)"})
        else:
            proc.stdin.write(f"{server.count(line.strip())}\n")
            proc.stdin.flush()
    if proc.wait() != 0:
        raise SystemExit(f"the baseline run failed ({proc.returncode})")
    return rows


def print_table(rows: list[dict]) -> None:
    reference = {r["batch"]: r["cpu_us"] for r in rows if r["client"] == "native Storage.read_many"}
    print("| client | batch | requests/s | client CPU us/request | x native | server CPU us/request | connections |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        ratio = r["cpu_us"] / reference[r["batch"]] if r["batch"] in reference else float("nan")
        print(f"| {r['client']} | {r['batch']} | {r['per_s']:,.0f} | {r['cpu_us']:.0f} | {ratio:.2f} | "
              f"{r['server_us']:.0f} | {r['connections']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per row")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="the server's wait before each answer")
    parser.add_argument("--baseline", type=Path, help="a folder holding another build of the audiodecode package")
    parser.add_argument("--child", nargs=2, metavar=("URL", "PID"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, pid = args.child[0], int(args.child[1])
        for row in run(native_readers(url), Relay(pid), pid, args.seconds):
            print(json.dumps(row), flush=True)
        return
    sys.path.insert(0, str(ROOT))
    from benchmarks.common import header

    header(f"CPU per ranged request: the native engine vs. Python HTTP clients (leanserver, {args.delay_ms:g} ms, "
           "127.0.0.1)")
    print(f"# load before: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "blob.bin").write_bytes(random.Random(1).randbytes(OBJECT_BYTES))
        server = Server(Path(tmp))
        server.proc.stdin.write(f"delay {args.delay_ms / 1000}\n")
        server.proc.stdin.flush()
        server.proc.stdout.readline()
        try:
            rows = run(native_readers(server.url), server, server.proc.pid, args.seconds)
            if args.baseline:
                rows += baseline_rows(args.baseline, server, args.seconds)
            rows += run(python_readers(server.url), server, server.proc.pid, args.seconds)
        finally:
            server.close()
    print_table(rows)
    print(f"# load after: {os.getloadavg()[0]:.2f} (1 min)")


if __name__ == "__main__":
    main()
