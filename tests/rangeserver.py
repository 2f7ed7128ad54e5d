"""An HTTP server of a folder's files with ranged GETs, for the tests and
benchmarks of remote reads: aiohttp's `FileResponse` (Range, ETag,
Last-Modified) on 127.0.0.1 (an ephemeral port), with a delay added to
every request and faults injected on demand.

    with RangeServer(folder, delay_s=0.02) as server:
        url = f"{server.url}/shard-000000.tar"
        server.fail_next(2, "503")        # the next 2 requests get 503
        server.fail_next(1, "cut")        # half the body, then the connection closes

Faults (`fail_next(n, fault)`): an HTTP status (``"404"``, ``"503"``, ...),
``"cut"`` (a 206 whose body stops halfway), ``"reset"`` (the connection
is dropped before any answer), ``"whole"`` (200 with the whole object, as
a server that ignores ``Range`` answers), ``"stall"`` (no answer for
`stall_s` seconds).

The server runs an asyncio loop in a thread of this process (tests) or
in a child process (`serve`, so that serving does not take the reader's
GIL in a benchmark).
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any


class RangeServer:
    """aiohttp file server with delay and fault injection (see the module doc)."""

    def __init__(self, root: str | Path, delay_s: float = 0.0, stall_s: float = 30.0) -> None:
        self.root = Path(root).resolve()
        self.delay_s = delay_s
        self.stall_s = stall_s
        self.requests = 0
        self.faults_served = 0
        self._faults: list[str] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: Any = None
        self._thread: threading.Thread | None = None
        self._port = 0

    def fail_next(self, n: int, fault: str = "503") -> None:
        """Answer the next `n` requests with `fault` (see the module doc)."""
        with self._lock:
            self._faults = [fault] * n

    def _take_fault(self) -> str | None:
        with self._lock:
            self.requests += 1
            if self._faults:
                self.faults_served += 1
                return self._faults.pop()
            return None

    async def _handle(self, request: Any) -> Any:
        from aiohttp import web

        fault = self._take_fault()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        path = (self.root / request.match_info["name"]).resolve()
        if self.root not in path.parents or not path.is_file():
            raise web.HTTPNotFound()
        if fault is None:
            return web.FileResponse(path)
        if fault.isdigit():
            return web.Response(status=int(fault), text=f"injected {fault}")
        if fault == "stall":
            await asyncio.sleep(self.stall_s)
            return web.FileResponse(path)
        if fault == "reset":
            request.transport.abort()
            return web.Response(status=500)
        data = path.read_bytes()
        etag = f'"{path.stat().st_mtime_ns:x}-{len(data):x}"'
        if fault == "whole":
            return web.Response(body=data, headers={"ETag": etag})
        # "cut": promise the range, send half of it, drop the connection.
        first, _, last = request.headers.get("Range", "bytes=0-").removeprefix("bytes=").partition("-")
        begin, end = int(first), min(int(last) if last else len(data) - 1, len(data) - 1)
        response = web.StreamResponse(status=206, headers={
            "Content-Range": f"bytes {begin}-{end}/{len(data)}", "ETag": etag, "Content-Length": str(end - begin + 1)})
        await response.prepare(request)
        await response.write(data[begin : begin + (end - begin + 1) // 2])
        request.transport.abort()
        return response

    def start(self) -> RangeServer:
        from aiohttp import web

        ready = threading.Event()

        async def setup() -> None:
            app = web.Application()
            app.router.add_get("/{name:.+}", self._handle)  # HEAD too
            self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            self._port = site._server.sockets[0].getsockname()[1]

        def run() -> None:
            loop = self._loop = asyncio.new_event_loop()
            loop.run_until_complete(setup())
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="range-test-server", daemon=True)
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError("the range server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            # Cleanup cancels handlers still waiting (a stall) before the loop stops.
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop = self._thread = None

    def __enter__(self) -> RangeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"


def serve(root: str, delay_s: float = 0.0) -> None:
    """Serve `root` in this process until stdin closes (benchmarks run it
    in a child process). Prints the URL; reads commands from stdin:
    ``delay <seconds>``, ``fail <n> <fault>``, ``requests`` (prints the count)."""
    import sys

    with RangeServer(root, delay_s) as server:
        print(server.url, flush=True)
        for line in sys.stdin:
            command, *args = line.split()
            if command == "delay":
                server.delay_s = float(args[0])
            elif command == "fail":
                server.fail_next(int(args[0]), args[1])
            print(server.requests if command == "requests" else "ok", flush=True)


if __name__ == "__main__":
    import sys

    serve(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 0.0)
