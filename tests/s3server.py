"""A real S3-protocol server for the tests and benchmarks: moto's server on
127.0.0.1 (an ephemeral port), wrapped in a WSGI layer that can add
latency to every request, answer the next requests with 503, and refuse
access keys other than the one it was started with. Signed ranged GETs
are answered from moto's store reading only the range (moto's handler
copies the whole object per request).

    with S3Server() as server:
        server.make_bucket("data")
        fs = server.filesystem()              # an s3fs file system for it
        server.fail_next(3)                   # the next 3 requests get 503
        server.latency_s = 0.02               # 20 ms per request

Everything lives in this process (moto's backends are in memory); the
server thread is stopped by `stop()` or the context manager.
"""

from __future__ import annotations

import threading
import time
from typing import Any

ACCESS_KEY = "audiodecode-test"
SECRET_KEY = "audiodecode-secret"
REGION = "us-east-1"


class _FaultInjector:
    """WSGI middleware between the HTTP server and moto."""

    def __init__(self, app: Any, server: S3Server) -> None:
        self.app = app
        self.server = server

    def __call__(self, environ: dict, start_response: Any) -> Any:
        server = self.server
        with server.lock:
            server.requests += 1
            fail = server._failures > 0
            if fail:
                server._failures -= 1
                server.failures_served += 1
        if server.latency_s:
            time.sleep(server.latency_s)
        if fail:
            return _error(start_response, "503 Service Unavailable", "ServiceUnavailable", "injected failure")
        auth = environ.get("HTTP_AUTHORIZATION", "")
        if "Credential=" in auth:
            key = auth.split("Credential=", 1)[1].split("/", 1)[0]
            if key != ACCESS_KEY:
                return _error(start_response, "403 Forbidden", "InvalidAccessKeyId",
                              "The AWS Access Key Id you provided does not exist in our records.")
            ranged = _ranged_get(environ, start_response)
            if ranged is not None:
                return ranged
        return self.app(environ, start_response)


def _ranged_get(environ: dict, start_response: Any) -> list[bytes] | None:
    """Answer a signed ranged GET of one object from moto's store, reading
    only the range. moto's own handler copies the whole object (under the
    object's lock) for every ranged GET, so 50 kB of a 100 MB Parquet file
    would cost 100 MB of copying and requests to one object would queue:
    that would measure moto, not the client. None: leave it to moto."""
    from urllib.parse import unquote

    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    spec = environ.get("HTTP_RANGE", "")
    if environ["REQUEST_METHOD"] != "GET" or environ.get("QUERY_STRING") or not spec.startswith("bytes="):
        return None
    first, _, last = spec[len("bytes="):].partition("-")
    bucket, _, name = unquote(environ.get("PATH_INFO", "")).lstrip("/").partition("/")
    if not (first.isdigit() and last.isdigit() and bucket and name):
        return None
    try:
        key = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_object(bucket, name)
    except Exception:
        return None  # missing bucket or key: moto's own error answer
    if key is None or int(first) >= key.size:
        return None
    begin, end = int(first), min(int(last), key.size - 1)
    with key.lock:
        key._value_buffer.seek(begin)
        body = key._value_buffer.read(end - begin + 1)
    start_response("206 Partial Content", [
        ("Content-Type", "binary/octet-stream"), ("Content-Length", str(len(body))),
        ("Content-Range", f"bytes {begin}-{end}/{key.size}"), ("Accept-Ranges", "bytes"),
        ("ETag", key.etag), ("Last-Modified", key.last_modified_RFC1123),
    ])
    return [body]


def _error(start_response: Any, status: str, code: str, message: str) -> list[bytes]:
    body = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'
    start_response(status, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
    return [body.encode()]


class S3Server:
    """moto's S3 server on 127.0.0.1 with fault injection (see the module doc)."""

    def __init__(self, latency_s: float = 0.0) -> None:
        self.latency_s = latency_s
        self.lock = threading.Lock()
        self.requests = 0
        self.failures_served = 0
        self._failures = 0
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> S3Server:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        app = _FaultInjector(DomainDispatcherApplication(create_backend_app), self)
        self._server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="s3-test-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=10)
            self._server = None

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def fail_next(self, n: int) -> None:
        """Answer the next `n` requests with 503 Service Unavailable."""
        with self.lock:
            self._failures = n

    def storage_options(self, *, key: str = ACCESS_KEY, botocore_retries: bool = False, timeout_s: float = 5) -> dict:
        """s3fs options for this server. botocore's own retries are off by
        default, so the tests see audiodecode's retries at work."""
        config: dict[str, Any] = {"connect_timeout": timeout_s, "read_timeout": timeout_s}
        if not botocore_retries:
            config["retries"] = {"total_max_attempts": 1, "mode": "standard"}
        return {
            "key": key, "secret": SECRET_KEY,
            "client_kwargs": {"endpoint_url": self.endpoint_url, "region_name": REGION},
            "config_kwargs": config,
            # A new instance per options: cached ones would outlive the server.
            "skip_instance_cache": True,
            "use_listings_cache": False,
        }

    def filesystem(self, **kwargs: Any) -> Any:
        import s3fs

        return s3fs.S3FileSystem(**self.storage_options(**kwargs))

    def make_bucket(self, name: str) -> None:
        import boto3  # moto's own dependency

        client = boto3.client("s3", endpoint_url=self.endpoint_url, region_name=REGION,
                              aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
        client.create_bucket(Bucket=name)


def serve() -> None:
    """Run the server in this process until stdin closes (benchmarks run it
    in a child process, so that serving does not take the reader's GIL).
    Prints the endpoint; reads commands from stdin: ``latency <seconds>``,
    ``fail <n>``, ``requests`` (prints the count)."""
    import sys

    with S3Server() as server:
        print(server.endpoint_url, flush=True)
        for line in sys.stdin:
            command, *args = line.split()
            if command == "latency":
                server.latency_s = float(args[0])
            elif command == "fail":
                server.fail_next(int(args[0]))
            if command == "requests":
                print(server.requests, flush=True)
            else:
                print("ok", flush=True)


if __name__ == "__main__":
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    serve()
