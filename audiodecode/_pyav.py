"""The PyAV backend: every format FFmpeg reads that symphonia does not (Opus,
WMA, AC-3, ...). It decodes to the same float32 layout as the Rust core and
resamples with the core's resampler, so the two backends agree.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from audiodecode import _core
from audiodecode._core import DecodeError

_SCALE = {"u8": 128.0, "s16": 32768.0, "s32": 2147483648.0, "s64": 9223372036854775808.0}


def _open(source: str | bytes, name: str) -> Any:
    import av

    try:
        return av.open(io.BytesIO(source) if isinstance(source, bytes) else source)
    except FileNotFoundError:
        raise
    except av.error.FFmpegError as err:
        raise DecodeError(f"{name}: not a readable audio file ({err})") from None


def _to_float(frame: Any) -> np.ndarray:
    """One decoded frame as float32 `(channels, n)`."""
    a = frame.to_ndarray()
    fmt = frame.format.name
    if not frame.format.is_planar:
        a = a.reshape(-1, len(frame.layout.channels)).T
    base = fmt.rstrip("p")
    if base == "u8":
        return ((a.astype(np.float32) - 128.0) / 128.0).astype(np.float32)
    if base in _SCALE:
        return (a / _SCALE[base]).astype(np.float32)
    return a.astype(np.float32, copy=False)


def load(
    source: str | bytes,
    name: str,
    sr: int | None,
    mono: bool,
    offset: float,
    duration: float | None,
) -> tuple[np.ndarray, int]:
    import av

    with _open(source, name) as container:
        if not container.streams.audio:
            raise DecodeError(f"{name}: no audio stream")
        stream = container.streams.audio[0]
        native_sr = stream.codec_context.sample_rate
        if not native_sr:
            raise DecodeError(f"{name}: no sample rate in the stream header")
        start = int(round(offset * native_sr))
        stop = None if duration is None else start + int(round(duration * native_sr))
        if stop == start:
            raise ValueError(f"duration {duration} s is less than half a frame at {name}'s rate ({native_sr} Hz)")
        chunks: list[np.ndarray] = []
        position = 0
        try:
            for frame in container.decode(stream):
                data = _to_float(frame)
                n = data.shape[1]
                lo, hi = max(start - position, 0), n if stop is None else min(stop - position, n)
                if hi > lo:
                    chunks.append(data[:, lo:hi])
                position += n
                if stop is not None and position >= stop:
                    break
        except av.error.FFmpegError as err:
            if not chunks:
                raise DecodeError(f"{name}: damaged stream ({err})") from None
    if not chunks:
        raise DecodeError(f"{name}: no audio frames could be decoded")
    y = np.concatenate(chunks, axis=1)
    if mono:
        y = y.mean(axis=0, keepdims=True, dtype=np.float32)
    if sr is not None and sr != native_sr:
        y = _core.resample(np.ascontiguousarray(y), native_sr, sr)
    return (y[0] if mono else y), (sr or native_sr)


def info(source: str | bytes, name: str) -> dict[str, Any]:
    with _open(source, name) as container:
        if not container.streams.audio:
            raise DecodeError(f"{name}: no audio stream")
        stream = container.streams.audio[0]
        sr = stream.codec_context.sample_rate
        frames = None
        if stream.duration is not None and stream.time_base is not None:
            frames = int(round(float(stream.duration * stream.time_base) * sr))
        elif container.duration is not None:
            frames = int(round(container.duration / 1_000_000 * sr))
        extradata = stream.codec_context.extradata or b""
        if frames is not None and extradata.startswith(b"OpusHead"):
            # Ogg Opus durations count the encoder's pre-skip, which FFmpeg
            # drops when decoding (always at 48 kHz).
            frames -= int.from_bytes(extradata[10:12], "little")
        return {
            "sample_rate": sr,
            "channels": stream.codec_context.channels,
            "frames": frames,
            "duration": None if frames is None else frames / sr,
            "codec": stream.codec_context.name,
            "container": container.format.name,
        }
