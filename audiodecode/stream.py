"""Streaming: long recordings and live byte streams decoded chunk by chunk.

`stream(source, ...)` decodes as it goes and hands out `(chunk, start_seconds)`
pairs; concatenating the chunks (their overlap removed) gives exactly what
`load(source, sr=sr, mono=mono)` returns: the same decoders, the same
timeline trimming and the same resampling kernel, whose state is carried
from one chunk to the next. Nothing is sought or decoded twice, so the last
chunk of an hour costs what the first did, and memory stays a few chunks.

A URL is read through the native read engine the data loaders use
(``s3://``, ``gs://``, ``az://``, ``http(s)://``; fsspec for other
protocols), forward, in large ranged blocks with the next ones in flight.
The core decodes and resamples the next chunks on threads of its own while
the caller consumes the current one.

`PushDecoder` is the same for bytes that are pushed rather than pulled
(`feed(b)` / `close()`), as a network or capture callback delivers them.
"""

from __future__ import annotations

import atexit
import os
import queue
import threading
import warnings
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from audiodecode import _core
from audiodecode._core import FetchedBytes
from audiodecode._typing import AudioSource, OnError
from audiodecode.loading import DecodeWarning, _check_sr, _duration, _offset
from audiodecode.windows import ChunkWindows, window_frames

if TYPE_CHECKING:
    from audiodecode.data.sources.storage import Storage

#: Output frames asked of the core per call when a chunk needs more: small
#: enough that a chunk's memory is about the chunk, large enough that the
#: per-call overhead vanishes.
_BLOCK_FRAMES = 1 << 16
#: The largest block the threads decoding ahead hand over at once, in
#: output frames (a step of 30 s at 48 kHz fits).
_AHEAD_FRAMES = 1 << 21
#: Blocks each decoding-ahead stage holds ready.
_AHEAD_DEPTH = 2
#: Ranged requests of a URL kept in flight beyond the block being decoded.
_BLOCKS_AHEAD = 2


#: Streams decoding ahead, closed at exit: a core thread still reading a
#: Python file object when the interpreter shuts down would be ended by
#: CPython from inside its wait for the GIL, which aborts the process.
_RUNNING_AHEAD: weakref.WeakSet[StreamDecoder] = weakref.WeakSet()


@atexit.register
def _close_running_streams() -> None:
    for decoder in list(_RUNNING_AHEAD):
        decoder.close()


def _strict(on_error: str) -> bool:
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    return on_error == "raise"


def _source_name(source: object) -> str | None:
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else None


def _is_url(source: object) -> bool:
    return isinstance(source, str) and "://" in source and not source.startswith("file://")


class _RangeReader:
    """A URL that the native engine does not read (fsspec protocols), read
    forward through `Storage.read`: one ranged request per block, with the
    storage's retry policy and named errors. `error` keeps the exception
    that ended the reads, for the stream to raise as it is."""

    def __init__(self, storage: Storage, url: str, block_bytes: int) -> None:
        self.name = url
        self.error: BaseException | None = None
        self._storage, self._block = storage, block_bytes
        self._size = storage.size(url)
        self._pos = 0  # where the next block starts
        self._buffer, self._at = b"", 0

    def read(self, n: int) -> bytes:
        if self._at == len(self._buffer) and self._pos < self._size:
            end = min(self._pos + self._block, self._size)
            try:
                self._buffer, self._at = self._storage.read(self.name, self._pos, end), 0
            except BaseException as err:
                self.error = err
                raise
            self._pos = end
        out = self._buffer[self._at : self._at + n]
        self._at += len(out)
        return out


def _open_url(url: str, storage: Storage | None, block_bytes: int) -> Any:
    """The source object of a URL: the native engine's `UrlSource`, or a
    `_RangeReader` over fsspec. Raises the storage's named errors
    (`FileNotFoundError`, `PermissionError`, `SourceReadError`)."""
    from audiodecode.data.sources.storage import Storage

    if isinstance(block_bytes, bool) or not isinstance(block_bytes, int) or block_bytes < 1:
        raise ValueError(f"block_bytes must be an int >= 1, got {block_bytes!r}")
    storage = Storage() if storage is None else storage
    if storage.is_native(url):
        size, etag = storage.head(url)
        return _core.UrlSource(url, size, etag, storage.native_options(url), storage.engine_policy(), block_bytes,
                               _BLOCKS_AHEAD)
    return _RangeReader(storage, url, block_bytes)


class StreamDecoder:
    """An iterator of `(chunk, start_seconds)` over one audio stream.

    Made by :func:`stream`, which documents the arguments. `chunk` is
    float32 `(n,)` when mono, else `(channels, n)`; `start_seconds` is where
    it starts on the source's timeline (`offset` included).

    Attributes
    ----------
    sample_rate : int
        The rate of the chunks.
    chunk_frames, overlap_frames, step_frames : int
        The windowing at `sample_rate` (after frame alignment).
    damaged_packets : int
        Damaged packets skipped so far (each warned about).

    `close()` (or leaving a `with` block, or dropping the decoder) stops
    the threads decoding ahead.
    """

    def __init__(
        self,
        source: AudioSource,
        *,
        sr: int | None = None,
        mono: bool = True,
        chunk_seconds: float = 10.0,
        overlap_seconds: float = 0.0,
        offset: float = 0.0,
        duration: float | None = None,
        on_error: OnError = "skip",
        frame_length: int | None = None,
        hop_length: int | None = None,
        decode_ahead: bool = True,
        storage: Storage | None = None,
        block_bytes: int = 2 << 20,
    ) -> None:
        _check_sr(sr)
        strict = _strict(on_error)
        offset_s, duration_s = _offset(offset), _duration(duration)
        # The window arguments are checked before any byte is read.
        window_frames(sr or 48_000, chunk_seconds, overlap_seconds, frame_length, hop_length)
        if isinstance(source, (bytearray, memoryview)):
            source = bytes(source)
        if not isinstance(source, (str, bytes, FetchedBytes, os.PathLike)) and not hasattr(source, "read"):
            raise TypeError(f"source must be a path, URL, bytes or a binary file object, not {type(source).__name__}")
        self._storage, self._counted = storage, False
        self._url = _open_url(source, storage, block_bytes) if _is_url(source) else None
        if self._url is not None:
            source = self._url
        elif isinstance(source, str) and source.startswith("file://"):
            source = source[len("file://") :]
        try:
            self._reader = _core.StreamReader(source, sr, mono, offset_s, duration_s, strict, _source_name(source))
        except OSError as err:
            raise self._source_error(err) from err
        self._warn()
        self.sample_rate: int = self._reader.sample_rate
        chunk, overlap = window_frames(self.sample_rate, chunk_seconds, overlap_seconds, frame_length, hop_length)
        self._windows = ChunkWindows(chunk, overlap, mono=mono)
        self.chunk_frames, self.overlap_frames = chunk, overlap
        self.step_frames = chunk - overlap
        self._offset = offset_s
        self._pending: list[tuple[np.ndarray, int]] = []
        self._ended = False
        self._ahead = decode_ahead
        if decode_ahead:
            # Blocks of one step: after the first chunk, one block per chunk.
            self._reader.decode_ahead(min(self.step_frames, _AHEAD_FRAMES), _AHEAD_DEPTH)
            _RUNNING_AHEAD.add(self)

    @property
    def damaged_packets(self) -> int:
        return self._reader.damaged_packets

    @property
    def name(self) -> str:
        """The source's name, as messages give it."""
        return self._reader.name

    @property
    def mode(self) -> str:
        """How the stream is decoded: "inline" (in the caller's thread when
        it asks for a chunk), "ahead" (on threads of the core), "ahead in
        pieces" (a long path or bytes: the next pieces at once on the core's
        pool, as `load` splits a long file), or "closed"."""
        return self._reader.mode

    def __iter__(self) -> Iterator[tuple[np.ndarray, float]]:
        return self

    def __next__(self) -> tuple[np.ndarray, float]:
        while not self._pending:
            if self._ended:
                raise StopIteration
            needed = self._windows.frames_needed
            try:
                block = self._reader.read(needed if self._ahead else min(needed, _BLOCK_FRAMES))
            except OSError as err:
                self._account()
                raise self._source_error(err) from err
            self._warn()
            if block is None:
                self._ended = True
                self._account()
                self._pending.extend(self._windows.finish())
            else:
                self._pending.extend(self._windows.push(block))
        chunk, start = self._pending.pop(0)
        return chunk, self._offset + start / self.sample_rate

    def close(self) -> None:
        """Stops decoding: the threads decoding ahead end, the source is let go."""
        _RUNNING_AHEAD.discard(self)
        self._reader.close()
        self._account()
        self._ended, self._pending = True, []

    def __enter__(self) -> StreamDecoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _source_error(self, err: OSError) -> BaseException:
        """The storage's own exception when a URL's read failed (named:
        `SourceReadError`, `FileNotFoundError`, ...; the message names the
        URL and the byte range), else `err`."""
        if isinstance(self._url, _RangeReader):
            return self._url.error or err
        if self._url is not None and self._url.error is not None:
            from audiodecode.data.sources.storage import _native_error

            return _native_error(*self._url.error)
        return err

    def _account(self) -> None:
        """Adds a native URL's requests to its `Storage`'s counters, once
        (fsspec reads count themselves)."""
        url = self._url
        if self._counted or self._storage is None or url is None or isinstance(url, _RangeReader):
            return
        self._counted = True
        requests, nbytes, retries = url.stats
        self._storage._count(requests=requests, bytes_read=nbytes, retries=retries, failures=int(url.error is not None))

    def _warn(self) -> None:
        for message in self._reader.take_warnings():
            warnings.warn(message, DecodeWarning, stacklevel=3)


def stream(
    source: AudioSource,
    *,
    sr: int | None = None,
    mono: bool = True,
    chunk_seconds: float = 10.0,
    overlap_seconds: float = 0.0,
    offset: float = 0.0,
    duration: float | None = None,
    on_error: OnError = "skip",
    frame_length: int | None = None,
    hop_length: int | None = None,
    decode_ahead: bool = True,
    storage: Storage | None = None,
    block_bytes: int = 2 << 20,
) -> StreamDecoder:
    """Decode `source` chunk by chunk: an iterator of `(chunk, start_seconds)`.

    Parameters
    ----------
    source : path, URL, bytes or binary file object
        A file object is read forward in blocks of at most 64 KiB through
        its `read1` where it has one (what has arrived: a live pipe is not
        waited on for a whole block), else its `read` (a pipe,
        `sys.stdin.buffer`, a socket's `makefile("rb")`, an HTTP response
        body); it need not seek, except for MP4/M4A, whose
        index may sit at the end (pass a path or the bytes). A URL
        (``s3://``, ``gs://``, ``az://``, ``http(s)://``; any other fsspec
        protocol) is read forward too, through `storage`.
    sr : int > 0 or None
        Output rate; None keeps the source's.
    mono : bool
        Mix down to one channel (chunks `(n,)`); else `(channels, n)`.
    chunk_seconds : float > 0
        Length of each chunk (the last one holds what is left).
    overlap_seconds : float in [0, chunk_seconds)
        Frames each chunk shares with the previous one (Whisper-style
        windows: `chunk_seconds=30, overlap_seconds=5`).
    offset, duration : float
        Seconds to skip (decoded and discarded: nothing is sought), and to
        read (None: to the end).
    on_error : {"skip", "raise"}
        A damaged packet is skipped with a `DecodeWarning` and the stream
        goes on, or raises `DecodeError`.
    frame_length, hop_length : int or None
        Frame alignment for STFT-like analysis of each chunk: the step
        between chunks becomes a multiple of `hop_length` and the overlap at
        least `frame_length - hop_length`, so frame `j` of chunk `i` is frame
        `i * step_frames // hop_length + j` of the whole signal.
    decode_ahead : bool
        Decode and resample the next chunks on threads of the core (two
        stages, a couple of chunks buffered each) while the caller
        consumes the current one; False decodes in the caller's thread
        when it asks for a chunk. The chunks are the same.
    storage : audiodecode.data.sources.Storage, optional
        How a URL is read: its options (credentials, endpoint), retry
        policy and engine, as for the data loaders. Default: `Storage()`.
        Its `stats()` count the stream's requests once it ends or closes.
    block_bytes : int
        A URL is read in ranged requests of this many bytes, two more in
        flight beyond the one being decoded: memory is three blocks,
        whatever the object's size.

    Returns
    -------
    StreamDecoder
        Iterating it yields `(chunk, start_seconds)`; `chunk` is float32.
        Dropping the first `overlap_frames` of every chunk but the first and
        concatenating equals `load(source, sr=sr, mono=mono)` (to the
        sample; tested to 1e-6).

    Raises
    ------
    ValueError
        A bad argument, named (`chunk_seconds <= 0`, an overlap that leaves
        no step, ...).
    DecodeError
        The source is not audio this core decodes (the message names it),
        or, with `on_error="raise"`, a damaged packet.
    OSError
        The source failed while being read (the message names it and the
        exception its `read` raised). For a URL, the storage's named errors:
        `FileNotFoundError`, `PermissionError`, `SourceReadError` (every
        retry failed), `ObjectChangedError` (rewritten mid-stream); each
        names the URL and the byte range.
    """
    return StreamDecoder(
        source, sr=sr, mono=mono, chunk_seconds=chunk_seconds, overlap_seconds=overlap_seconds,
        offset=offset, duration=duration, on_error=on_error, frame_length=frame_length, hop_length=hop_length,
        decode_ahead=decode_ahead, storage=storage, block_bytes=block_bytes,
    )  # fmt: skip


class _BytePipe:
    """A file-like object whose `read` blocks until bytes are written or the
    pipe is closed: the core pulls from it on the decoding thread while
    `PushDecoder.feed` writes into it. Holds at most `limit` unread bytes."""

    def __init__(self, limit: int, name: str) -> None:
        self.name = name  # the core names the stream by it
        self._data = bytearray()
        self._closed = False
        self._limit = limit
        self._cond = threading.Condition()
        self.aborted = False

    def write(self, data: bytes) -> None:
        with self._cond:
            # Back-pressure: a producer faster than the decoder waits.
            self._cond.wait_for(lambda: len(self._data) < self._limit or self.aborted)
            self._data += data
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def abort(self) -> None:
        with self._cond:
            self.aborted = self._closed = True
            self._cond.notify_all()

    def read(self, n: int) -> bytes:
        with self._cond:
            self._cond.wait_for(lambda: self._data or self._closed)
            out = bytes(self._data[:n])
            del self._data[:n]
            self._cond.notify_all()
            return out


class PushDecoder:
    """Decodes bytes pushed in as they arrive: `feed(b)` returns the chunks
    completed so far, `close()` the rest.

    For containers that can be read front to back: WAV (also with an
    unknown length, as a live encoder writes it), FLAC, MP3, Ogg Vorbis and
    Opus (where the core reads them), ADTS AAC. MP4/M4A is refused: its
    index may come last. Decoding runs on a thread of its own, so `feed`
    does not wait for it. A raw frame stream (MP3, ADTS) is recognised
    from its first four frames when they start it (a few KB); one that
    starts mid-frame or after junk waits for up to 120 KB (the search).

    Parameters are those of :func:`stream` (no source, offset or duration);
    `name` names the stream in messages; `max_pending_bytes` bounds the
    bytes fed and not yet decoded (`feed` waits beyond it).
    """

    def __init__(
        self,
        *,
        sr: int | None = None,
        mono: bool = True,
        chunk_seconds: float = 1.0,
        overlap_seconds: float = 0.0,
        on_error: OnError = "skip",
        frame_length: int | None = None,
        hop_length: int | None = None,
        name: str = "<live>",
        max_pending_bytes: int = 4 << 20,
    ) -> None:
        _check_sr(sr)
        _strict(on_error)
        window_frames(sr or 48_000, chunk_seconds, overlap_seconds, frame_length, hop_length)
        self.name = name
        self._pipe = _BytePipe(max_pending_bytes, name)
        self._chunks: queue.SimpleQueue[tuple[np.ndarray, float] | BaseException | None] = queue.SimpleQueue()
        self._head = b""
        self._closed = False
        self._error: BaseException | None = None
        self._done = False
        args = dict(
            sr=sr, mono=mono, chunk_seconds=chunk_seconds, overlap_seconds=overlap_seconds, on_error=on_error,
            frame_length=frame_length, hop_length=hop_length,
        )  # fmt: skip
        self._thread = threading.Thread(target=self._decode, args=(args,), name=f"audiodecode-push {name}", daemon=True)
        self._thread.start()

    def _decode(self, args: dict) -> None:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                # This thread is the decoding-ahead one already.
                decoder = StreamDecoder(self._pipe, decode_ahead=False, **args)
                for item in decoder:
                    self._chunks.put(item)
                    self._flush_warnings(caught)
                self._flush_warnings(caught)
        except BaseException as err:  # handed to the caller's thread
            self._pipe.abort()
            self._chunks.put(err)
        self._chunks.put(None)

    def _flush_warnings(self, caught: list) -> None:
        while caught:
            self._chunks.put(DecodeWarning(str(caught.pop(0).message)))

    def feed(self, data: bytes) -> list[tuple[np.ndarray, float]]:
        """Adds `data`; returns the chunks complete so far (maybe none).

        Raises
        ------
        ValueError
            After `close()`, or when the stream is MP4/M4A.
        DecodeError, OSError
            What decoding the stream raised.
        """
        if self._closed:
            raise ValueError(f"{self.name}: feed() after close()")
        if len(self._head) < 12:
            self._head += bytes(data[: 12 - len(self._head)])
            if self._head[4:8] == b"ftyp":
                self._pipe.abort()
                raise ValueError(
                    f"{self.name}: MP4/M4A cannot be decoded in push mode: its index may come at the end "
                    "(it needs seeking); stream it from a path or bytes instead"
                )
        if not self._pipe.aborted:
            self._pipe.write(bytes(data))
        return self._drain(wait=False)

    def close(self) -> list[tuple[np.ndarray, float]]:
        """Ends the input; returns the remaining chunks (the last shorter)."""
        self._closed = True
        self._pipe.close()
        return self._drain(wait=True)

    def _drain(self, wait: bool) -> list[tuple[np.ndarray, float]]:
        out = []
        while not self._done:
            try:
                item = self._chunks.get(block=wait)
            except queue.Empty:
                break
            if item is None:
                self._done = True
            elif isinstance(item, DecodeWarning):
                warnings.warn(str(item), DecodeWarning, stacklevel=3)
            elif isinstance(item, BaseException):
                self._error = item
            else:
                out.append(item)
        if self._error is not None:
            raise self._error
        return out
