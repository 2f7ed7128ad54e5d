"""Bytes from wherever a data set lives: local paths, object stores and
every URL fsspec understands.

A record is read as one byte range of a larger object (a tar member, a
Parquet column chunk, an ArrayRecord file staged once). ``s3://``,
``gs://``, ``az://`` and ``http(s)://`` URLs go to the core's native read
engine (Rust, `object_store` on a tokio runtime): `Storage.read_many`
hands it the whole batch in one call, with the GIL released; it sends
every request at once (at most `max_in_flight` open), reads neighbouring
ranges of one object with one request (`coalesce_gap`), retries transient
errors with back-off within `RetryPolicy.timeout_s`, and checks every
body's length and the object's ETag. Other protocols (``hf://``, custom
file systems, presigned URLs with a query string) go through fsspec with
the same retry and error contract: threads keep several requests in flight.

Local paths are positional reads (`os.pread`); fsspec is imported only when
a URL needs it.
"""

from __future__ import annotations

import io
import os
import random
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from audiodecode import _core
from audiodecode._core import FetchedBytes
from audiodecode._typing import Encoded

# Errors no retry can cure: the object is not there, access is refused, or
# the request itself is wrong.
PERMANENT_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, ValueError, TypeError)


# HTTP client errors worth retrying (timeout, too early, too many requests);
# other 4xx answers are final.
RETRIED_4XX = frozenset({408, 425, 429})
# Protocol names `storage_options` may be keyed by.
_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "adl", "http", "https", "hf", "ftp", "sftp", "hdfs"})


class SourceReadError(OSError):
    """A byte range could not be read (after every retry); the message names
    the URL, the range and the last reason."""


class ObjectChangedError(SourceReadError):
    """The object was rewritten after it was indexed (its ETag changed): the
    offsets of the index may no longer point at the record. Open the source
    again to re-index it."""


# The native engine's error kinds and the exceptions they become.
_NATIVE_ERRORS: dict[str, type[Exception]] = {
    "not_found": FileNotFoundError, "permission": PermissionError, "changed": ObjectChangedError,
    "invalid": ValueError, "failed": SourceReadError,
}
# Schemes the native engine reads (file:// stays a local positional read).
NATIVE_SCHEMES = frozenset(_core.STORAGE_SCHEMES) - {"file"}
# Latencies kept for the percentiles of `Storage.stats`.
_LATENCY_WINDOW = 4096


@dataclass(frozen=True)
class RetryPolicy:
    """How a ranged read survives transient errors (503s, resets, timeouts).

    Attempt k (k >= 1) waits `min(backoff_s * 2**(k-1), max_backoff_s)`
    times a random factor in [0.5, 1) before it starts; no attempt starts
    once `timeout_s` has passed since the first, so a dead endpoint fails
    in bounded time.

    Attributes
    ----------
    attempts : int
        Tries per read, the first included.
    backoff_s, max_backoff_s : float
        First and largest wait between tries, seconds.
    timeout_s : float
        Total time for one read over all its tries, seconds.
    """

    attempts: int = 6
    backoff_s: float = 0.05
    max_backoff_s: float = 2.0
    timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {self.attempts}")
        if self.backoff_s < 0 or self.max_backoff_s < 0 or not self.timeout_s > 0:
            raise ValueError("backoff_s and max_backoff_s must be >= 0 and timeout_s > 0")

    def wait_s(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before try `attempt` (1 = the first retry)."""
        return min(self.backoff_s * 2 ** (attempt - 1), self.max_backoff_s) * rng.uniform(0.5, 1.0)


class ByteRange(NamedTuple):
    """Bytes `[start, end)` of `url`; `end=None` reads to the end. `etag`,
    when given, is the object's ETag when it was indexed: the native engine
    fails the read with `ObjectChangedError` if the object has another now."""

    url: str
    start: int = 0
    end: int | None = None
    etag: str | None = None

    def describe(self) -> str:
        return f"{self.url} bytes {self.start}-{'end' if self.end is None else self.end}"


def is_local(url: str) -> bool:
    """Whether `url` is a local path (no scheme, or ``file://``)."""
    return "://" not in url or url.startswith("file://")


def local_path(url: str) -> str:
    return url[len("file://"):] if url.startswith("file://") else url


def etag_of(version: str) -> str | None:
    """The ETag inside a `Storage.version` token of a remote object (None
    when the store gave none)."""
    tag = version.partition("-")[2]
    return tag or None


@dataclass
class Storage:
    """Ranged, retried, concurrent reads from local files and fsspec URLs.

    Picklable: a worker process gets the settings and opens its own
    connections (fsspec file systems and thread pools are per process).

    Parameters
    ----------
    storage_options : dict, optional
        Options of the remote URLs, or one such dict per protocol
        (``{"s3": {...}, "gs": {...}}``). s3fs's names work for both engines
        (``key``, ``secret``, ``token``, ``anon``, ``endpoint_url`` and
        ``client_kwargs={"endpoint_url": ..., "region_name": ...}``);
        `object_store`'s own names (``aws_*``, ``google_*``, ``azure_*``,
        ``allow_http``, ...) reach the native engine; everything is passed
        to fsspec's file system on the fsspec path.
    retry : RetryPolicy
    max_in_flight : int
        Requests `read_many` keeps open at once (native engine: one batch's
        requests; fsspec: threads).
    engine : {"auto", "fsspec"}
        "auto" reads ``s3://``, ``gs://``, ``az://`` and ``http(s)://``
        with the native engine and other URLs with fsspec; "fsspec" reads
        every URL with fsspec (the engine before the native one).
    coalesce_gap : int
        Ranges of one object at most this many bytes apart are read by one
        request (native engine).
    """

    storage_options: dict[str, Any] = field(default_factory=dict)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_in_flight: int = 64
    engine: Literal["auto", "fsspec"] = "auto"
    coalesce_gap: int = 64 << 10

    def __post_init__(self) -> None:
        if self.max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {self.max_in_flight}")
        if self.engine not in ("auto", "fsspec"):
            raise ValueError(f"engine must be 'auto' or 'fsspec', not {self.engine!r}")
        if self.coalesce_gap < 0:
            raise ValueError(f"coalesce_gap must be >= 0, got {self.coalesce_gap}")
        self._init_process_state()

    def _init_process_state(self) -> None:
        self._lock = threading.Lock()
        self._filesystems: dict[str, Any] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._pid = os.getpid()
        self._rng = random.Random()
        self._counts = {"requests": 0, "bytes_read": 0, "retries": 0, "failures": 0}
        self._latencies: deque[float] = deque(maxlen=_LATENCY_WINDOW)
        # `read_many` calls running now (a loader's batches being fetched)
        # and the most seen at once.
        self._in_flight = 0
        self._peak_in_flight = 0

    def __getstate__(self) -> dict[str, Any]:
        return {"storage_options": self.storage_options, "retry": self.retry, "max_in_flight": self.max_in_flight,
                "engine": self.engine, "coalesce_gap": self.coalesce_gap}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_process_state()

    def __repr__(self) -> str:
        # No secrets in reprs (Grain checkpoints store the source's repr).
        return (f"Storage(options={sorted(self.storage_options)}, retry={self.retry}, "
                f"max_in_flight={self.max_in_flight}, engine={self.engine!r})")

    # -- counters -------------------------------------------------------

    def stats(self) -> dict[str, int | float | None]:
        """requests (that succeeded; ranges read together count once),
        bytes_read, retries and failures of this process; the median and
        99th percentile of the latest requests' latencies in seconds (None
        before the first remote read); in_flight and peak_in_flight, the
        batches (`read_many` calls) being read now and the most at once."""
        self._check_process()
        with self._lock:
            out: dict[str, int | float | None] = dict(self._counts)
            out["in_flight"], out["peak_in_flight"] = self._in_flight, self._peak_in_flight
            latencies = sorted(self._latencies)
        for name, q in (("p50_latency_s", 0.5), ("p99_latency_s", 0.99)):
            out[name] = latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else None
        return out

    def reset_stats(self) -> None:
        with self._lock:
            for k in self._counts:
                self._counts[k] = 0
            self._latencies.clear()
            self._peak_in_flight = self._in_flight

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for k, v in deltas.items():
                self._counts[k] += v

    def _check_process(self) -> None:
        # A forked child must not use the parent's pool or connections.
        if self._pid != os.getpid():
            self._init_process_state()

    # -- file systems ---------------------------------------------------

    def filesystem(self, url: str) -> tuple[Any, str]:
        """The fsspec file system for `url` (one per protocol and process)
        and the path within it."""
        self._check_process()
        try:
            import fsspec
            from fsspec.core import split_protocol
        except ImportError as err:  # pragma: no cover - depends on the install
            raise ImportError(f"reading {url} needs fsspec: pip install 'audiodecode[sources]'") from err
        protocol = split_protocol(url)[0] or "file"
        with self._lock:
            fs = self._filesystems.get(protocol)
            if fs is None:
                options = {} if protocol == "file" else self.options_for(protocol)
                fs = self._filesystems[protocol] = fsspec.filesystem(protocol, **options)
        return fs, fs._strip_protocol(url)

    def options_for(self, protocol: str) -> dict[str, Any]:
        """The file-system options of `protocol`: `storage_options[protocol]`
        when the options are given per protocol, else all of them."""
        if any(k in _PROTOCOLS and isinstance(v, dict) for k, v in self.storage_options.items()):
            return dict(self.storage_options.get(protocol) or {})
        return self.storage_options

    def is_native(self, url: str) -> bool:
        """Whether `url` is read by the native engine."""
        scheme, sep, rest = url.partition("://")
        # A query (a presigned URL's signature) or user information in the
        # URL: the native clients would drop or quote them; fsspec keeps them.
        return (self.engine == "auto" and bool(sep) and scheme.lower() in NATIVE_SCHEMES and "?" not in url
                and "@" not in rest.partition("/")[0])

    def native_options(self, url: str) -> list[tuple[str, str]]:
        """The options of `url`'s protocol as `object_store` names them."""
        protocol = url.partition("://")[0].lower()
        return native_options(protocol, self.options_for(protocol))

    def engine_policy(self) -> tuple[int, float, float, float, int, int, int]:
        """The retry policy and request limits as the native engine takes
        them: (attempts, backoff_s, max_backoff_s, timeout_s, max_in_flight,
        coalesce_gap, the largest coalesced request)."""
        r = self.retry
        return (r.attempts, r.backoff_s, r.max_backoff_s, r.timeout_s, self.max_in_flight, self.coalesce_gap,
                max(self.coalesce_gap, 1) * 64)

    def head(self, url: str) -> tuple[int, str | None]:
        """The size in bytes and the ETag (None where the store gives none)
        of an object the native engine reads, retried like a read."""
        size, etag, error = _core.storage_head(url, self.native_options(url), self.engine_policy())
        if error is not None:
            self._count(failures=1)
            raise _native_error(*error)
        return int(size), etag

    def size(self, url: str) -> int:
        """The object's size in bytes (retried like a read)."""
        if is_local(url):
            return os.stat(local_path(url)).st_size
        if self.is_native(url):
            return self.head(url)[0]
        fs, path = self.filesystem(url)
        return int(self._retrying(ByteRange(url), lambda: fs.size(path)))

    def version(self, url: str) -> str:
        """A token that changes when the object is rewritten (size and mtime
        or ETag), for index files and cache keys."""
        if is_local(url):
            st = os.stat(local_path(url))
            return f"{st.st_size}-{st.st_mtime_ns}"
        if self.is_native(url):
            size, etag = self.head(url)
            return f"{size}-{etag or ''}"
        fs, path = self.filesystem(url)
        info = self._retrying(ByteRange(url), lambda: fs.info(path))
        tag = info.get("ETag") or info.get("etag") or info.get("mtime") or info.get("LastModified") or ""
        return f"{info.get('size')}-{str(tag).strip(chr(34))}"

    def expand(self, urls: Sequence[str]) -> list[str]:
        """Brace patterns (``shard-{000000..000099}.tar``) and globs expanded,
        in sorted order per pattern; plain names kept."""
        out: list[str] = []
        for url in urls:
            for name in expand_braces(url):
                if any(c in name for c in "*?["):
                    if is_local(name):
                        import glob

                        out += sorted(glob.glob(local_path(name)))
                    else:
                        fs, path = self.filesystem(name)
                        protocol = name.split("://", 1)[0]
                        out += sorted(f"{protocol}://{p}" for p in fs.glob(path))
                else:
                    out.append(name)
        return out

    # -- writes ---------------------------------------------------------

    def put_file(self, url: str, path: str) -> int:
        """Upload local file `path` to `url` whole, in one request (retried;
        an object store shows the object only once it is complete): through
        the native engine where it reads `url`, else fsspec. Its size in bytes.

        Raises
        ------
        PermissionError, FileNotFoundError, SourceReadError
            As for a read of `url` (the bucket is refused or missing, or
            every try failed).
        """
        if self.is_native(url):
            self._check_process()
            size, error = _core.storage_put_file(url, path, self.native_options(url), self.engine_policy())
            if error is not None:
                self._count(failures=1)
                raise _native_error(*error)
            return int(size)
        fs, target = self.filesystem(url)
        self._retrying(ByteRange(url), lambda: fs.put_file(path, target))
        return os.path.getsize(path)

    # -- reads ----------------------------------------------------------

    def read(self, url: str, start: int = 0, end: int | None = None) -> bytes:
        """Bytes `[start, end)` of `url` in one ranged request, retried.

        Raises
        ------
        FileNotFoundError
            The object does not exist (not retried).
        PermissionError
            Access refused (not retried).
        SourceReadError
            Every try failed, or the total time ran out; names the URL.
        """
        data = self._read(ByteRange(url, start, end))
        return data if isinstance(data, bytes) else bytes(data)

    def read_many(self, ranges: Sequence[ByteRange]) -> list[Encoded | Exception]:
        """Read `ranges` with up to `max_in_flight` requests at once.

        Returns
        -------
        list
            The bytes of each range in input order, or the exception that
            ended its reads (the caller decides to raise or skip). What the
            native engine read is a `FetchedBytes`: its buffer, not a copy
            (`load`, `load_batch` and `info` read it where it lies;
            `bytes(x)` copies it); the rest is `bytes`.
        """
        self._check_process()
        with self._lock:
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
        try:
            return self._read_many(ranges)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _read_many(self, ranges: Sequence[ByteRange]) -> list[Encoded | Exception]:
        out: list[Encoded | Exception | None] = [None] * len(ranges)
        native = [i for i, r in enumerate(ranges) if self.is_native(r.url)]
        if native:
            for i, got in zip(native, self._read_native([ranges[i] for i in native])):
                out[i] = got
        rest = [i for i in range(len(ranges)) if out[i] is None]
        for i, got in zip(rest, self._read_threaded([ranges[i] for i in rest])):
            out[i] = got
        return out  # type: ignore[return-value]

    def _read_native(self, ranges: Sequence[ByteRange]) -> list[FetchedBytes | Exception]:
        """One call of the native engine; options are per protocol, so one
        call per protocol present."""
        out: list[FetchedBytes | Exception | None] = [None] * len(ranges)
        by_protocol: dict[str, list[int]] = {}
        for i, r in enumerate(ranges):
            if r.start < 0 or (r.end is not None and r.end < r.start):
                out[i] = ValueError(f"{r.describe()}: not a valid range")
            else:
                by_protocol.setdefault(r.url.partition("://")[0].lower(), []).append(i)
        for positions in by_protocol.values():
            batch = [(ranges[i].url, ranges[i].start, ranges[i].end, ranges[i].etag) for i in positions]
            results, (requests, nbytes, retries, latencies) = _core.storage_read_batch(
                batch, self.native_options(ranges[positions[0]].url), self.engine_policy()
            )
            failures = 0
            for i, got in zip(positions, results):
                if isinstance(got, tuple):
                    failures += 1
                    out[i] = _native_error(*got)
                else:
                    out[i] = got
            with self._lock:
                self._counts["requests"] += requests
                self._counts["bytes_read"] += nbytes
                self._counts["retries"] += retries
                self._counts["failures"] += failures
                self._latencies.extend(latencies)
        return out  # type: ignore[return-value]

    def _read_threaded(self, ranges: Sequence[ByteRange]) -> list[Encoded | Exception]:
        if len(ranges) <= 1 or all(is_local(r.url) for r in ranges):
            # Local reads are page-cache copies: threads would only add overhead.
            return [self._read_or_error(r) for r in ranges]
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.max_in_flight, thread_name_prefix="audiodecode-io")
            pool = self._pool
        return list(pool.map(self._read_or_error, ranges))

    def _read_or_error(self, r: ByteRange) -> Encoded | Exception:
        try:
            return self._read(r)
        except (OSError, ValueError) as err:
            return err

    def _read(self, r: ByteRange) -> Encoded:
        if r.start < 0 or (r.end is not None and r.end < r.start):
            raise ValueError(f"{r.describe()}: not a valid range")
        if self.is_native(r.url):
            got = self._read_native([r])[0]
            if isinstance(got, Exception):
                raise got
            return got
        if is_local(r.url):
            data = _pread(local_path(r.url), r.start, r.end)
        else:
            fs, path = self.filesystem(r.url)
            started = time.monotonic()
            data = self._retrying(r, lambda: fs.cat_file(path, start=r.start, end=r.end))
            with self._lock:
                self._latencies.append(time.monotonic() - started)
        if r.end is not None and len(data) != r.end - r.start:
            self._count(failures=1)
            raise SourceReadError(f"{r.describe()}: got {len(data)} bytes, the object is shorter (truncated?)")
        self._count(requests=1, bytes_read=len(data))
        return bytes(data)

    def _retrying(self, r: ByteRange, call: Any) -> Any:
        """`call()` with the retry policy; errors name the range."""
        deadline = time.monotonic() + self.retry.timeout_s
        last: BaseException | None = None
        for attempt in range(self.retry.attempts):
            if attempt:
                wait = self.retry.wait_s(attempt, self._rng)
                if time.monotonic() + wait >= deadline:
                    break
                time.sleep(wait)
                self._count(retries=1)
            try:
                return call()
            except PERMANENT_ERRORS as err:
                self._count(failures=1)
                raise type(err)(f"{r.url}: {err}") from err
            except Exception as err:  # transient: a 5xx, a reset, a timeout; or an HTTP 4xx
                status = getattr(err, "status", None)
                if isinstance(status, int) and 400 <= status < 500 and status not in RETRIED_4XX:
                    self._count(failures=1)
                    kind = {401: PermissionError, 403: PermissionError, 404: FileNotFoundError}.get(status, SourceReadError)
                    raise kind(f"{r.describe()}: HTTP {status} ({err})") from err
                last = err
            if time.monotonic() >= deadline:
                break
        self._count(failures=1)
        raise SourceReadError(
            f"{r.describe()}: {type(last).__name__}: {last} (gave up after {attempt + 1} tries, "
            f"{self.retry.timeout_s:g} s limit)"
        ) from last

    def close(self) -> None:
        """Stop the I/O threads of this process and close its connections:
        the fsspec threads and the native engine's runtime (shared by every
        `Storage` of the process; the next read starts them again)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        _core.storage_shutdown()


def _native_error(kind: str, message: str) -> Exception:
    return _NATIVE_ERRORS.get(kind, SourceReadError)(message)


# s3fs's option names and the `object_store` keys they become.
_S3FS_KEYS = {"key": "aws_access_key_id", "secret": "aws_secret_access_key", "token": "aws_session_token",
              "endpoint_url": "aws_endpoint", "region_name": "aws_region"}
# `object_store`'s own names pass through (its client options among them).
_NATIVE_PREFIXES = ("aws_", "google_", "azure_")
_CLIENT_KEYS = frozenset({"allow_http", "allow_invalid_certificates", "connect_timeout", "default_content_type",
                          "http1_only", "http2_only", "proxy_url", "timeout", "user_agent"})


def native_options(protocol: str, options: dict[str, Any]) -> list[tuple[str, str]]:
    """`options` (s3fs names or `object_store` names) as `object_store`
    config keys, sorted. s3fs-only settings (``config_kwargs``, caches) do
    not apply to the native engine and are left out."""
    out: dict[str, str] = {}
    if protocol in ("s3", "s3a"):
        nested = options.get("client_kwargs") or {}
        for name, key in _S3FS_KEYS.items():
            value = options.get(name, nested.get(name))
            if value is not None:
                out[key] = str(value)
        if options.get("anon"):
            out["aws_skip_signature"] = "true"
    for name, value in options.items():
        if (name.startswith(_NATIVE_PREFIXES) or name in _CLIENT_KEYS) and value is not None:
            out[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return sorted(out.items())


def _pread(path: str, start: int, end: int | None) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        if end is None:
            end = os.fstat(fd).st_size
        return os.pread(fd, end - start, start) if end > start else b""
    finally:
        os.close(fd)


def expand_braces(pattern: str) -> list[str]:
    """WebDataset's brace notation: ``a-{00..02}.tar`` -> a-00.tar, a-01.tar,
    a-02.tar (zero-padded like the first bound); ``{a,b}`` lists
    alternatives. Several groups multiply."""
    open_at = pattern.find("{")
    if open_at < 0:
        return [pattern]
    close_at = pattern.find("}", open_at)
    if close_at < 0:
        raise ValueError(f"unbalanced brace in {pattern!r}")
    head, body, tail = pattern[:open_at], pattern[open_at + 1 : close_at], pattern[close_at + 1 :]
    if ".." in body:
        lo, hi = body.split("..", 1)
        if not (lo.isdigit() and hi.isdigit()) or int(hi) < int(lo):
            raise ValueError(f"bad range {{{body}}} in {pattern!r}")
        width = len(lo)
        choices = [str(i).zfill(width) for i in range(int(lo), int(hi) + 1)]
    else:
        choices = body.split(",")
    return [head + c + rest for c in choices for rest in expand_braces(tail)]


class RangeFile(io.RawIOBase):
    """A read-only, seekable file over `Storage` ranged reads: every `read`
    is one retried request (readers that seek, like pyarrow's Parquet
    reader, fetch only the byte ranges they need).

    Parameters
    ----------
    storage : Storage
    url : str
    size : int, optional
        The object's size, if known (saves a request).
    """

    def __init__(self, storage: Storage, url: str, size: int | None = None) -> None:
        super().__init__()
        self.storage = storage
        self.url = url
        self.size = storage.size(url) if size is None else size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        end = min(self._pos + len(view), self.size)
        if end <= self._pos:
            return 0
        data = self.storage._read(ByteRange(self.url, self._pos, end))  # the engine's buffer, copied once, here
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def read(self, size: int = -1) -> bytes:
        end = self.size if size is None or size < 0 else min(self._pos + size, self.size)
        if end <= self._pos:
            return b""
        data = self.storage.read(self.url, self._pos, end)
        self._pos = end
        return data
