"""Loading audio: `load`, `load_batch` and `info`, mirroring `librosa.load`.

The Rust core decodes WAV, FLAC, MP3, OGG Vorbis, M4A/AAC and AIFF; any
other format FFmpeg can read (Opus, WMA, AC-3, ...) falls back to PyAV.
"""

from __future__ import annotations

import math
import os
import stat
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from audiodecode import _core, _pyav
from audiodecode._core import (
    MAX_SAMPLE_RATE,
    MAX_SECONDS,
    AudioDecodeError,
    DecodeError,
    FetchedBytes,
    UnsupportedFormatError,
)
from audiodecode._typing import AudioSource, Backend, Encoded, OnError

_T = TypeVar("_T")


class DecodeWarning(UserWarning):
    """Part of a file was damaged and skipped; the message names the file."""


@dataclass(frozen=True)
class AudioInfo:
    """Stream properties read from the headers, without decoding the audio.

    `frames` and `duration` (seconds) count the audio after encoder delay and
    padding; they are None when the container does not declare them.
    `bits_per_sample` is the depth of a lossless stream (PCM, FLAC, ALAC;
    32 or 64 for float PCM), None for lossy codecs and where the PyAV
    fallback read the headers.
    """

    sample_rate: int
    channels: int
    frames: int | None
    duration: float | None
    codec: str
    container: str
    bits_per_sample: int | None = None


def _normalize(source: AudioSource) -> tuple[str | Encoded, str]:
    """The source as something the core takes (a path or encoded bytes) and
    its name. `bytes` and `FetchedBytes` are passed on as they are (the core
    reads them without a copy); a mutable buffer is copied, since it could
    change while the core reads it with the GIL released."""
    if isinstance(source, (bytes, FetchedBytes)):
        return source, "<bytes>"
    if isinstance(source, (bytearray, memoryview)):
        return bytes(source), "<bytes>"
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        return path, path
    if hasattr(source, "read"):
        data = source.read()
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("file objects must be opened in binary mode ('rb')")
        return bytes(data), str(getattr(source, "name", "<file object>"))
    raise TypeError(f"source must be a path, bytes or a binary file object, not {type(source).__name__}")


def _refuse_special_file(data: str | Encoded) -> None:
    """Raise DecodeError if the path `data` (bytes are content) is a FIFO, a
    socket or a device: PyAV would block opening or reading it forever (the
    core opens paths non-blocking and refuses them itself)."""
    if not isinstance(data, str):
        return
    try:
        mode = os.stat(data).st_mode
    except (OSError, ValueError):
        return  # missing, unreadable or malformed: the backend says so in its own words
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        raise DecodeError(f"{data}: not a regular file ({kind})")


def _check_backend(backend: str) -> None:
    if backend not in ("auto", "rust", "pyav"):
        raise ValueError(f"backend must be 'auto', 'rust' or 'pyav', not {backend!r}")


def _check_sr(sr: int | None) -> None:
    """Raise ValueError unless `sr` is None or an integer rate in [1, MAX_SAMPLE_RATE] Hz."""
    if sr is None:
        return
    # bool is an int subclass: sr=True would be 1 Hz.
    if isinstance(sr, (bool, np.bool_)) or not isinstance(sr, (int, np.integer)):
        raise ValueError(f"sr must be an integer number of Hz or None, got {sr!r}")
    if not 1 <= sr <= MAX_SAMPLE_RATE:
        raise ValueError(f"sr must be in [1, {MAX_SAMPLE_RATE}] Hz, got {sr}")


def _seconds(value: object, what: str, *, zero: bool) -> float:
    """`value` as a float number of seconds in [0, MAX_SECONDS] (`zero`) or
    (0, MAX_SECONDS], else ValueError naming `what`. The bound keeps every
    frame index the core computes in range."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{what} must be a number of seconds, got {value!r}")
    try:
        seconds = float(value)
    except OverflowError:  # an int beyond float's range
        seconds = math.inf
    if not ((seconds >= 0 if zero else seconds > 0) and seconds <= MAX_SECONDS):
        interval = f"[0, {MAX_SECONDS:g}]" if zero else f"(0, {MAX_SECONDS:g}]"
        raise ValueError(f"{what} must be a number of seconds in {interval}, got {value!r}")
    return seconds


def _offset(value: object, what: str = "offset") -> float:
    return _seconds(value, what, zero=True)


def _duration(value: object, what: str = "duration") -> float | None:
    return None if value is None else _seconds(value, what, zero=False)


def _rename(err: Exception, name: str) -> Exception:
    """Core errors about bytes say `<bytes>`; name the file object instead."""
    if name != "<bytes>" and str(err).startswith("<bytes>"):
        return type(err)(name + str(err)[len("<bytes>"):])
    return err


def _warn(warning: str | None, name: str) -> None:
    if warning:
        warnings.warn(warning.replace("<bytes>", name, 1), DecodeWarning, stacklevel=3)


def load(
    source: AudioSource,
    sr: int | None = None,
    mono: bool = True,
    offset: float = 0.0,
    duration: float | None = None,
    *,
    backend: Backend = "auto",
    strict: bool = False,
) -> tuple[np.ndarray, int]:
    """Decode an audio file to float32, like `librosa.load`.

    Parameters
    ----------
    source : path, bytes or binary file object
        The encoded audio. The format is found from the content, not the
        file name. `bytes`, and the read engine's `FetchedBytes`
        (`audiodecode.data.sources.FetchedBytes`), are read where they lie;
        a `bytearray` or `memoryview` is copied first.
    sr : int or None
        Target sampling rate in Hz, in [1, 768000]; None keeps the file's
        own rate.
    mono : bool
        Mix the channels down to their mean.
    offset : float
        Start reading this many seconds in, in [0, 1e9]. The decoder seeks;
        it does not decode the skipped part.
    duration : float or None
        Read at most this many seconds, in (0, 1e9]. A duration shorter
        than half a frame at the file's rate is a ValueError (there is no
        frame to return), not an empty array.
    backend : {"auto", "rust", "pyav"}
        "auto" decodes with the Rust core and falls back to PyAV for formats
        the core does not support and for files it refuses (then with a
        `DecodeWarning` giving the core's reason).
    strict : bool
        Raise on a damaged packet instead of skipping it with a
        `DecodeWarning`; a file the core refuses as damaged is then not
        handed to PyAV either.

    Returns
    -------
    y : np.ndarray [shape=(n,) or (channels, n)], float32 in [-1, 1]
    sr : int
        The sampling rate of `y`.

    Raises
    ------
    FileNotFoundError
        The path does not exist.
    audiodecode.DecodeError
        Unsupported codec, zero bytes, garbage or a file truncated beyond use;
        the message names the file and the reason.
    ValueError
        A bad argument, named in the message: sr outside [1, 768000] or not
        an int, offset or duration outside their ranges, an offset past the
        end, a duration shorter than half a frame.
    """
    _check_backend(backend)
    _check_sr(sr)
    offset_s, duration_s = _offset(offset), _duration(duration)
    data, name = _normalize(source)

    def pyav() -> tuple[np.ndarray, int]:
        _refuse_special_file(data)
        return _pyav.load(data, name, sr, mono, offset_s, duration_s)

    if backend == "pyav":
        return pyav()
    try:
        y, out_sr, warning = _core.load(data, sr, mono, offset_s, duration_s, strict)
    except ValueError as err:
        raise _rename(err, name) from None
    except AudioDecodeError as err:
        refusal = _rename(err, name)
        if backend == "rust" or not _may_fall_back(refusal, strict):
            raise refusal from None
        return _fall_back(refusal, pyav)
    _warn(warning, name)
    return y, out_sr


def _may_fall_back(refusal: Exception, strict: bool = False) -> bool:
    """Whether PyAV may try a file the Rust core refused: an unsupported
    codec always; a file the core found damaged or quirky unless `strict`
    (PyAV cannot tell a complete decode from one that stopped at damage);
    never after a failure of the core itself (a bug of ours, not the
    file's)."""
    if isinstance(refusal, UnsupportedFormatError):
        return True
    return isinstance(refusal, DecodeError) and not strict


def _fall_back(refusal: Exception, pyav: Callable[[], _T]) -> _T:
    """PyAV's answer for a file the Rust core refused.

    An unsupported codec is simply PyAV's to decode. A file the core found
    damaged or too quirky is decoded by PyAV with a `DecodeWarning` naming
    the file and the core's reason (FFmpeg may have read only part of it,
    as for a cut Ogg file). When PyAV refuses the file too: one
    `DecodeError` naming the file and both reasons.
    """
    try:
        result = pyav()
    except AudioDecodeError as err:
        if isinstance(refusal, UnsupportedFormatError):
            raise err from None
        reason = str(err).split(": ", 1)[-1]
        raise DecodeError(f"{refusal} (PyAV: {reason})") from None
    if not isinstance(refusal, UnsupportedFormatError):
        warnings.warn(f"{refusal}; decoded with PyAV (FFmpeg) instead", DecodeWarning, stacklevel=3)
    return result


class BatchResult(list):
    """The list `load_batch` returns: `(y, sr)` per source, in input order,
    or None where a file failed with `on_error="skip"`.

    Attributes
    ----------
    errors : dict[int, Exception]
        The exception of every skipped source, by its index.
    """

    errors: dict[int, Exception]

    def __init__(self, items: list, errors: dict[int, Exception]) -> None:
        super().__init__(items)
        self.errors = errors


def _per_item(value: float | Sequence | None, n: int, what: str) -> list:
    if value is None or isinstance(value, (int, float, np.number)):
        return [value] * n
    values = list(value)
    if len(values) != n:
        raise ValueError(f"{what} has {len(values)} entries for {n} sources")
    return values


def load_batch(
    sources: Sequence[AudioSource],
    sr: int | None = None,
    mono: bool = True,
    offset: float | Sequence[float] = 0.0,
    duration: float | Sequence[float | None] | None = None,
    *,
    num_threads: int | None = None,
    on_error: OnError = "raise",
    backend: Backend = "auto",
    strict: bool = False,
) -> BatchResult:
    """Decode many files in parallel (Rust threads, GIL released).

    Takes `load`'s arguments; `offset` and `duration` may also be sequences,
    one entry per source. `num_threads=None` uses one thread per core.

    Returns
    -------
    BatchResult
        A list of `(y, sr)` in input order. With `on_error="skip"`, a failed
        source gives None and its exception is in `result.errors[index]`;
        with `on_error="raise"` the first failure (in input order) is raised.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    _check_backend(backend)
    _check_sr(sr)
    if num_threads is not None and num_threads < 1:
        raise ValueError(f"num_threads must be >= 1, got {num_threads}")
    normalized = [_normalize(s) for s in sources]
    n = len(normalized)
    offsets = [_offset(o, f"offset[{i}]") for i, o in enumerate(_per_item(offset, n, "offset"))]
    durations = [_duration(d, f"duration[{i}]") for i, d in enumerate(_per_item(duration, n, "duration"))]
    items: list = [None] * n
    errors: dict[int, Exception] = {}

    # Index -> the core's refusal (None: PyAV was asked for directly).
    pending: dict[int, Exception | None] = {}
    if backend == "pyav":
        pending = dict.fromkeys(range(n))
    else:
        results = _core.load_batch(
            [data for data, _ in normalized], sr, mono, offsets, durations, strict, num_threads
        )
        for i, result in enumerate(results):
            name = normalized[i][1]
            if isinstance(result, Exception):
                refusal = _rename(result, name)
                if backend == "auto" and _may_fall_back(refusal, strict):
                    pending[i] = refusal
                else:
                    errors[i] = refusal
            else:
                y, out_sr, warning = result
                _warn(warning, name)
                items[i] = (y, out_sr)
    for i, refusal in pending.items():
        data, name = normalized[i]

        def pyav(data: str | Encoded = data, name: str = name, i: int = i) -> tuple[np.ndarray, int]:
            return _pyav.load(data, name, sr, mono, offsets[i], durations[i])

        try:
            _refuse_special_file(data)
            items[i] = pyav() if refusal is None else _fall_back(refusal, pyav)
        except (AudioDecodeError, OSError, ValueError) as err:
            errors[i] = err
    if errors and on_error == "raise":
        raise errors[min(errors)]
    return BatchResult(items, errors)


def info(source: AudioSource, *, backend: Backend = "auto") -> AudioInfo:
    """Sample rate, channels, frames, duration, codec, container and (for
    lossless streams) bits per sample, read from the headers without
    decoding the audio."""
    _check_backend(backend)
    data, name = _normalize(source)
    if backend == "pyav":
        return _pyav_info(data, name)
    try:
        return AudioInfo(**_core.info(data))
    except AudioDecodeError as err:
        return _info_refused(err, data, name, backend)


def _pyav_info(data: str | Encoded, name: str) -> AudioInfo:
    _refuse_special_file(data)
    return AudioInfo(**_pyav.info(data, name))


def _info_refused(err: Exception, data: str | Encoded, name: str, backend: Backend) -> AudioInfo:
    """PyAV's answer for headers the core refused, or the refusal raised."""
    refusal = _rename(err, name)
    if backend == "rust" or not isinstance(err, AudioDecodeError) or not _may_fall_back(refusal):
        raise refusal from None
    return _fall_back(refusal, lambda: _pyav_info(data, name))


def info_batch(
    sources: Sequence[AudioSource], *, num_threads: int | None = None, backend: Backend = "auto"
) -> list[AudioInfo | Exception]:
    """`info` of many sources, their headers read in parallel (Rust
    threads, GIL released: what duration probing and `prepare` use).

    Parameters
    ----------
    sources : sequence of path, bytes or binary file object
    num_threads : int, optional
        Threads reading headers; None: one per core.
    backend : {"auto", "rust", "pyav"}
        As for `info` (PyAV reads what the core refuses, one at a time).

    Returns
    -------
    list of AudioInfo or Exception
        In input order; a source that failed gives the exception `info`
        would raise for it (FileNotFoundError, DecodeError, ...).
    """
    _check_backend(backend)
    if num_threads is not None and num_threads < 1:
        raise ValueError(f"num_threads must be >= 1, got {num_threads}")
    normalized = [_normalize(s) for s in sources]
    if backend == "pyav":
        results: list[Any] = [None] * len(normalized)
    else:
        results = _core.info_batch([data for data, _ in normalized], num_threads)
    out: list[AudioInfo | Exception] = []
    for (data, name), result in zip(normalized, results):
        try:
            if result is None:
                out.append(_pyav_info(data, name))
            elif isinstance(result, Exception):
                out.append(_info_refused(result, data, name, backend))
            else:
                out.append(AudioInfo(**result))
        except (AudioDecodeError, OSError, ValueError) as err:
            out.append(err)
    return out
