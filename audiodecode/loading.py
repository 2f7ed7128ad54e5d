"""Loading audio: `load`, `load_batch` and `info`, mirroring `librosa.load`.

The Rust core decodes WAV, FLAC, MP3, OGG Vorbis, M4A/AAC and AIFF; any
other format FFmpeg can read (Opus, WMA, AC-3, ...) falls back to PyAV.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Literal, TypeVar, Union

import numpy as np

from audiodecode import _core, _pyav
from audiodecode._core import AudioDecodeError, DecodeError, UnsupportedFormatError

Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, BinaryIO]
Backend = Literal["auto", "rust", "pyav"]
_T = TypeVar("_T")


class DecodeWarning(UserWarning):
    """Part of a file was damaged and skipped; the message names the file."""


@dataclass(frozen=True)
class AudioInfo:
    """Stream properties read from the headers, without decoding the audio.

    `frames` and `duration` (seconds) count the audio after encoder delay and
    padding; they are None when the container does not declare them.
    """

    sample_rate: int
    channels: int
    frames: int | None
    duration: float | None
    codec: str
    container: str


def _normalize(source: Source) -> tuple[str | bytes, str]:
    """The source as something the core takes (a path or bytes) and its name."""
    if isinstance(source, (bytes, bytearray, memoryview)):
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


def _check_backend(backend: str) -> None:
    if backend not in ("auto", "rust", "pyav"):
        raise ValueError(f"backend must be 'auto', 'rust' or 'pyav', not {backend!r}")


def _check_sr(sr: int | None) -> None:
    if sr is not None and (not isinstance(sr, (int, np.integer)) or sr <= 0):
        raise ValueError(f"sr must be a positive integer or None, got {sr!r}")


def _rename(err: Exception, name: str) -> Exception:
    """Core errors about bytes say `<bytes>`; name the file object instead."""
    if name != "<bytes>" and str(err).startswith("<bytes>"):
        return type(err)(name + str(err)[len("<bytes>"):])
    return err


def _warn(warning: str | None, name: str) -> None:
    if warning:
        warnings.warn(warning.replace("<bytes>", name, 1), DecodeWarning, stacklevel=3)


def load(
    source: Source,
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
        file name.
    sr : int or None
        Target sampling rate in Hz; None keeps the file's own rate.
    mono : bool
        Mix the channels down to their mean.
    offset : float
        Start reading this many seconds in. The decoder seeks; it does not
        decode the skipped part.
    duration : float or None
        Read at most this many seconds.
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
        A bad argument (negative offset, offset past the end, sr <= 0).
    """
    _check_backend(backend)
    _check_sr(sr)
    data, name = _normalize(source)
    if backend == "pyav":
        return _pyav.load(data, name, sr, mono, float(offset), duration)
    try:
        y, out_sr, warning = _core.load(data, sr, mono, float(offset), duration, strict)
    except ValueError as err:
        raise _rename(err, name) from None
    except AudioDecodeError as err:
        refusal = _rename(err, name)
        if backend == "rust" or not _may_fall_back(refusal, strict):
            raise refusal from None
        return _fall_back(refusal, lambda: _pyav.load(data, name, sr, mono, float(offset), duration))
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
    sources: Sequence[Source],
    sr: int | None = None,
    mono: bool = True,
    offset: float | Sequence[float] = 0.0,
    duration: float | Sequence[float | None] | None = None,
    *,
    num_threads: int | None = None,
    on_error: Literal["raise", "skip"] = "raise",
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
    offsets = [float(o) for o in _per_item(offset, n, "offset")]
    durations = _per_item(duration, n, "duration")
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

        def pyav(data: str | bytes = data, name: str = name, i: int = i) -> tuple[np.ndarray, int]:
            return _pyav.load(data, name, sr, mono, offsets[i], durations[i])

        try:
            items[i] = pyav() if refusal is None else _fall_back(refusal, pyav)
        except (AudioDecodeError, OSError, ValueError) as err:
            errors[i] = err
    if errors and on_error == "raise":
        raise errors[min(errors)]
    return BatchResult(items, errors)


def info(source: Source, *, backend: Backend = "auto") -> AudioInfo:
    """Sample rate, channels, frames, duration, codec and container, read
    from the headers without decoding the audio."""
    _check_backend(backend)
    data, name = _normalize(source)
    if backend == "pyav":
        return AudioInfo(**_pyav.info(data, name))
    try:
        return AudioInfo(**_core.info(data))
    except AudioDecodeError as err:
        refusal = _rename(err, name)
        if backend == "rust" or not _may_fall_back(refusal):
            raise refusal from None
        return _fall_back(refusal, lambda: AudioInfo(**_pyav.info(data, name)))
