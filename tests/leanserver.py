"""A lean HTTP range server of a folder's files, for throughput benchmarks.

`rangeserver.py` (aiohttp's `FileResponse`) costs about half a
millisecond of CPU per request: on a 2-core machine that shares its cores
with the reader it answers fewer requests per second than a loader asks
for with one request per record, so it measured the server, not the
reader. This one answers the same requests (GET and HEAD, one `Range`
of `bytes=a-b`, `bytes=a-` or `bytes=-n`; ETag and Last-Modified;
HTTP/1.1 keep-alive) straight from an asyncio protocol, with the files
held in memory, and waits a settable delay before each answer. It has no
fault injection: the tests use `rangeserver.py`.

    python tests/leanserver.py FOLDER [DELAY_S]

prints its URL, then reads commands on stdin, as `rangeserver.serve`:
``delay <seconds>``, ``requests`` (prints the count of requests so far),
``connections`` (the count of connections accepted so far: a client that
keeps its connections alive opens few); it ends when stdin closes.
"""

from __future__ import annotations

import asyncio
import ctypes
import sys
import threading
from email.utils import formatdate
from pathlib import Path

REASONS = {200: "OK", 206: "Partial Content", 404: "Not Found", 405: "Method Not Allowed",
           416: "Range Not Satisfiable"}


class Files:
    """The folder's files, read once each and kept: (bytes, ETag, Last-Modified)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._kept: dict[str, tuple[bytes, str, str]] = {}

    def get(self, name: str) -> tuple[bytes, str, str] | None:
        kept = self._kept.get(name)
        if kept is None:
            path = (self.root / name.lstrip("/")).resolve()
            if self.root not in path.parents or not path.is_file():
                return None
            stat = path.stat()
            kept = self._kept[name] = (path.read_bytes(), f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"',
                                       formatdate(stat.st_mtime, usegmt=True))
        return kept


class Server:
    """Counts and delays requests; one `Protocol` per connection."""

    def __init__(self, root: Path, delay_s: float) -> None:
        self.files = Files(root)
        self.delay_s = delay_s
        self.requests = 0
        self.connections = 0


def byte_range(header: str | None, size: int) -> tuple[int, int] | None | bool:
    """[first, end) of a `Range` header over `size` bytes; None: the whole
    object; False: not satisfiable."""
    if header is None or not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[6:].partition("-")
    if not first:  # a suffix: the last n bytes
        n = int(last)
        return (max(0, size - n), size) if n > 0 and size > 0 else False
    begin = int(first)
    end = min(size, int(last) + 1) if last else size
    return (begin, end) if begin < size and begin < end else False


class Protocol(asyncio.Protocol):
    def __init__(self, server: Server) -> None:
        self.server = server
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server.connections += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            self.answer(head.decode("latin-1"))

    def answer(self, head: str) -> None:
        self.server.requests += 1
        request, *lines = head.split("\r\n")
        method, target, _ = (request.split(" ") + ["", ""])[:3]
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        status, extra, body = self.respond(method, target.partition("?")[0], headers.get("range"))
        close = headers.get("connection", "").lower() == "close"
        # HEAD: the length a GET would have, and no body.
        length = extra.pop("_length", len(body)) if method == "HEAD" else len(body)
        out = [f"HTTP/1.1 {status} {REASONS[status]}", f"Content-Length: {length}"]
        out += [f"{k}: {v}" for k, v in extra.items() if not k.startswith("_")]
        if close:
            out.append("Connection: close")
        message = ("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + (body if method != "HEAD" else b"")
        loop = asyncio.get_running_loop()
        if self.server.delay_s > 0:
            loop.call_later(self.server.delay_s, self.send, message, close)
        else:
            self.send(message, close)

    def respond(self, method: str, path: str, range_header: str | None) -> tuple[int, dict, bytes]:
        if method not in ("GET", "HEAD"):
            return 405, {}, b""
        kept = self.server.files.get(path)
        if kept is None:
            return 404, {}, b""
        data, etag, modified = kept
        extra: dict = {"ETag": etag, "Last-Modified": modified, "Accept-Ranges": "bytes"}
        span = byte_range(range_header, len(data))
        if span is False:
            return 416, {**extra, "Content-Range": f"bytes */{len(data)}"}, b""
        if span is None:
            return 200, {**extra, "_length": len(data)}, data
        begin, end = span
        return 206, {**extra, "Content-Range": f"bytes {begin}-{end - 1}/{len(data)}", "_length": end - begin}, \
            data[begin:end]

    def send(self, message: bytes, close: bool) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(message)
        if close:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


def keep_heap() -> None:
    """glibc's malloc thresholds as the extension sets them
    (`core_rs/src/python/heap.rs`): each answer's body is a fresh `bytes`,
    and with the defaults every burst of answers faulted its memory in
    afresh, half the server's CPU per request. The server stands in for a
    store on another machine: its CPU is not what the benchmarks measure."""
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc: its defaults stay
        pass


def serve(root: str, delay_s: float = 0.0) -> None:
    """Serve `root` until stdin closes (see the module doc)."""
    keep_heap()
    loop = asyncio.new_event_loop()
    server = Server(Path(root), delay_s)
    listener = loop.run_until_complete(loop.create_server(lambda: Protocol(server), "127.0.0.1", 0))
    port = listener.sockets[0].getsockname()[1]
    print(f"http://127.0.0.1:{port}", flush=True)

    def commands() -> None:
        for line in sys.stdin:
            command, *args = line.split()
            if command == "delay":
                server.delay_s = float(args[0])
            counts = {"requests": server.requests, "connections": server.connections}
            print(counts.get(command, "ok"), flush=True)
        loop.call_soon_threadsafe(loop.stop)

    threading.Thread(target=commands, daemon=True).start()
    try:
        loop.run_forever()
    finally:
        listener.close()
        loop.close()


if __name__ == "__main__":
    serve(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 0.0)
