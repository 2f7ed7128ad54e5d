"""Bytes from wherever a data set lives: local paths and every URL fsspec
understands (``s3://``, ``gs://``, ``https://``, ``file://``).

A record is read as one byte range of a larger object (a tar member, a
Parquet column chunk, an ArrayRecord file staged once): `Storage.read`
is one ranged request, retried with exponential back-off and jitter on
transient errors within a total time limit; `Storage.read_many` keeps
several requests in flight (threads that wait on the network with the
GIL released), so a batch of records costs about one round trip, not one
per record.

Local paths never touch fsspec (a positional read, `os.pread`), so the
package imports fsspec only when a URL names a remote store.
"""

from __future__ import annotations

import io
import os
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

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
    """Bytes `[start, end)` of `url`; `end=None` reads to the end."""

    url: str
    start: int = 0
    end: int | None = None

    def describe(self) -> str:
        return f"{self.url} bytes {self.start}-{'end' if self.end is None else self.end}"


def is_local(url: str) -> bool:
    """Whether `url` is a local path (no scheme, or ``file://``)."""
    return "://" not in url or url.startswith("file://")


def local_path(url: str) -> str:
    return url[len("file://"):] if url.startswith("file://") else url


@dataclass
class Storage:
    """Ranged, retried, concurrent reads from local files and fsspec URLs.

    Picklable: a worker process gets the settings and opens its own
    connections (fsspec file systems and thread pools are per process).

    Parameters
    ----------
    storage_options : dict, optional
        Keyword arguments for the fsspec file system of the remote URLs
        (e.g. ``{"key": ..., "secret": ..., "client_kwargs": {"endpoint_url": ...}}``
        for ``s3://``), or one such dict per protocol
        (``{"s3": {...}, "gs": {...}}``).
    retry : RetryPolicy
    max_in_flight : int
        Requests `read_many` keeps open at once.
    """

    storage_options: dict[str, Any] = field(default_factory=dict)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_in_flight: int = 16

    def __post_init__(self) -> None:
        if self.max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {self.max_in_flight}")
        self._init_process_state()

    def _init_process_state(self) -> None:
        self._lock = threading.Lock()
        self._filesystems: dict[str, Any] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._pid = os.getpid()
        self._rng = random.Random()
        self._counts = {"requests": 0, "bytes_read": 0, "retries": 0, "failures": 0}

    def __getstate__(self) -> dict[str, Any]:
        return {"storage_options": self.storage_options, "retry": self.retry, "max_in_flight": self.max_in_flight}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_process_state()

    def __repr__(self) -> str:
        # No secrets in reprs (Grain checkpoints store the source's repr).
        return f"Storage(options={sorted(self.storage_options)}, retry={self.retry}, max_in_flight={self.max_in_flight})"

    # -- counters -------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """requests, bytes_read, retries and failures of this process."""
        self._check_process()
        with self._lock:
            return dict(self._counts)

    def reset_stats(self) -> None:
        with self._lock:
            for k in self._counts:
                self._counts[k] = 0

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

    def size(self, url: str) -> int:
        """The object's size in bytes (retried like a read)."""
        if is_local(url):
            return os.stat(local_path(url)).st_size
        fs, path = self.filesystem(url)
        return int(self._retrying(ByteRange(url), lambda: fs.size(path)))

    def version(self, url: str) -> str:
        """A token that changes when the object is rewritten (size and mtime
        or ETag), for index files and cache keys."""
        if is_local(url):
            st = os.stat(local_path(url))
            return f"{st.st_size}-{st.st_mtime_ns}"
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
        return self._read(ByteRange(url, start, end))

    def read_many(self, ranges: Sequence[ByteRange]) -> list[bytes | Exception]:
        """Read `ranges` with up to `max_in_flight` requests at once.

        Returns
        -------
        list
            The bytes of each range in input order, or the exception that
            ended its reads (the caller decides to raise or skip).
        """
        self._check_process()
        if len(ranges) <= 1 or all(is_local(r.url) for r in ranges):
            # Local reads are page-cache copies: threads would only add overhead.
            return [self._read_or_error(r) for r in ranges]
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.max_in_flight, thread_name_prefix="audiodecode-io")
            pool = self._pool
        return list(pool.map(self._read_or_error, ranges))

    def _read_or_error(self, r: ByteRange) -> bytes | Exception:
        try:
            return self._read(r)
        except (OSError, ValueError) as err:
            return err

    def _read(self, r: ByteRange) -> bytes:
        if r.start < 0 or (r.end is not None and r.end < r.start):
            raise ValueError(f"{r.describe()}: not a valid range")
        if is_local(r.url):
            data = _pread(local_path(r.url), r.start, r.end)
        else:
            fs, path = self.filesystem(r.url)
            data = self._retrying(r, lambda: fs.cat_file(path, start=r.start, end=r.end))
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
        """Stop the I/O threads of this process (the object stays usable)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)


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
        data = self.storage.read(self.url, self._pos, end)
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
