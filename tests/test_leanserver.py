"""The lean range server the throughput benchmarks read from
(`tests/leanserver.py`) answers ranged reads as an object store does: the
native engine, fsspec and a plain HTTP client get the right bytes, sizes,
statuses and the delay asked for."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from audiodecode.data.sources import ByteRange, Storage

HERE = Path(__file__).resolve().parent


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, str, bytes]]:
    data = bytes(range(256)) * 400  # 102,400 bytes, each offset recognisable
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "blob.bin").write_bytes(data)
    proc = subprocess.Popen([sys.executable, str(HERE / "leanserver.py"), str(tmp_path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        yield proc, f"{url}/sub/blob.bin", data
    finally:
        proc.stdin.close()  # the server ends when its stdin closes
        proc.wait(timeout=30)


def command(proc: subprocess.Popen, line: str) -> str:
    proc.stdin.write(line + "\n")
    proc.stdin.flush()
    return proc.stdout.readline().strip()


def get(url: str, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_the_native_engine_reads_sizes_and_ranges(served: tuple) -> None:
    proc, url, data = served
    storage = Storage()
    try:
        assert storage.size(url) == len(data)
        spans = [(0, 10), (1000, 70_000), (102_000, 102_400)]
        got = storage.read_many([ByteRange(url, a, b) for a, b in spans])
        assert [bytes(g) for g in got] == [data[a:b] for a, b in spans]
        (missing,) = storage.read_many([ByteRange(url.replace("blob", "none"), 0, 10)])
        assert isinstance(missing, FileNotFoundError), missing
    finally:
        storage.close()
    assert int(command(proc, "requests")) >= 3


def test_the_engine_keeps_its_connections_alive(served: tuple) -> None:
    # The server counts the connections it accepted: batch after batch, the
    # engine's requests go over the connections its first batch opened.
    proc, url, data = served
    storage = Storage(max_in_flight=8, coalesce_gap=0)
    try:
        spans = [(k * 10_000, k * 10_000 + 100) for k in range(8)]
        for _ in range(5):
            got = storage.read_many([ByteRange(url, a, b) for a, b in spans])
            assert [bytes(g) for g in got] == [data[a:b] for a, b in spans]
    finally:
        storage.close()
    assert int(command(proc, "requests")) == 40
    assert 1 <= int(command(proc, "connections")) <= 8


def test_ranges_statuses_and_headers(served: tuple) -> None:
    _, url, data = served
    status, headers, body = get(url, {"Range": "bytes=100-199"})
    assert (status, body, headers["Content-Range"]) == (206, data[100:200], f"bytes 100-199/{len(data)}")
    assert headers["ETag"] and headers["Last-Modified"]
    assert get(url, {"Range": "bytes=102300-"})[2] == data[102_300:]
    assert get(url, {"Range": "bytes=-50"})[2] == data[-50:]
    status, _, body = get(url)
    assert (status, body) == (200, data)
    status, headers, body = get(url, method="HEAD")
    assert (status, int(headers["Content-Length"]), body) == (200, len(data), b"")
    status, headers, _ = get(url, {"Range": f"bytes={len(data)}-"})
    assert (status, headers["Content-Range"]) == (416, f"bytes */{len(data)}")
    assert get(url.replace("blob.bin", "../../etc/passwd"))[0] == 404
    assert get(url, method="POST")[0] == 405


def test_the_delay_holds_each_answer(served: tuple) -> None:
    proc, url, data = served
    assert command(proc, "delay 0.3") == "ok"
    t0 = time.perf_counter()
    assert get(url, {"Range": "bytes=0-9"})[2] == data[:10]
    assert time.perf_counter() - t0 >= 0.3
