"""The PyAV backend: every format FFmpeg reads that symphonia does not (Opus,
WMA, AC-3, ...), and files symphonia refuses that FFmpeg reads. It decodes to
the same float32 layout as the Rust core and resamples with the core's
resampler, so the two backends agree.

FFmpeg guesses a container from the content, and on bytes that are not audio
it can guess a raw or game-console format and "decode" noise. A stream is
therefore accepted only from a container and codec that audio files use,
with a positive rate, a plausible channel count and finite samples; anything
else, and any exception PyAV raises on damaged input, is a `DecodeError`
naming the file.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from audiodecode import _core
from audiodecode._core import DecodeError
from audiodecode._typing import Encoded

_SCALE = {"u8": 128.0, "s16": 32768.0, "s32": 2147483648.0, "s64": 9223372036854775808.0}

# FFmpeg demuxers of audio files (names as `container.format.name` lists
# them, split at commas). Not here: raw and game-console formats FFmpeg only
# finds by sniffing, and video-only or image formats.
AUDIO_CONTAINERS = frozenset(
    {
        "wav", "w64", "rf64", "aiff", "flac", "mp3", "ogg", "mov", "mp4", "m4a", "3gp", "3g2", "mj2",
        "matroska", "webm", "asf", "aac", "ac3", "eac3", "dts", "truehd", "mlp", "amr", "amrnb", "amrwb",
        "ape", "wv", "tta", "caf", "au", "voc", "mpc", "mpc8", "tak", "shn", "dsf", "iff", "oma", "rm",
        "spdif", "avi", "mpeg", "mpegts", "flv", "aea", "xwma", "wsaud", "sox", "loas", "latm", "mp2",
    }
)
# Codecs of those containers' audio (FFmpeg decoder names); a sniffed ADPCM
# of a console format is not among them.
AUDIO_CODEC_PREFIXES = (
    "pcm_", "flac", "mp3", "mp2", "mp1", "vorbis", "opus", "libopus", "aac", "alac", "wma", "ac3", "eac3",
    "dca", "dts", "truehd", "mlp", "ape", "wavpack", "tta", "als", "mp4als", "amr", "gsm", "speex",
    "libspeex", "adpcm_ima_wav", "adpcm_ms", "adpcm_g722", "adpcm_g726", "adpcm_ima_qt", "adpcm_yamaha",
    "g723_1", "g729", "qdm2", "qdmc", "atrac", "ra_", "cook", "nellymoser", "shorten", "tak", "dsd_",
    "mpc", "sipr", "imc", "on2avc", "dolby_e", "comfortnoise", "ilbc", "libmp3lame", "libvorbis",
)
MAX_CHANNELS = 255  # as the Rust core (decode.rs)
# Planar channels PyAV converts safely (AV_NUM_DATA_POINTERS).
MAX_PLANES = 8
# RIFF chunks `_check_riff_sizes` walks (a WAV has a handful).
MAX_RIFF_CHUNKS = 1024


class ArgumentError(ValueError):
    """A bad argument found only once the file is open (it passes through
    `_reading`, unlike PyAV's own ValueErrors about a damaged file)."""


@contextmanager
def _reading(name: str) -> Iterator[None]:
    """Every exception PyAV raises on a damaged file as a `DecodeError` naming
    it: FFmpeg's errors, and the AttributeError, UnicodeDecodeError or
    ZeroDivisionError its wrappers raise on malformed headers."""
    try:
        yield
    except (DecodeError, ArgumentError, FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except Exception as err:  # noqa: BLE001 - the contract: one exception class for a bad file
        reason = str(err) or type(err).__name__
        raise DecodeError(f"{name}: not a readable audio file ({type(err).__name__}: {reason})") from None


def _check_riff_sizes(source: str | Encoded, name: str) -> None:
    """Refuse a RIFF (WAV) or RF64/BW64 file with a chunk other than `data`
    that declares more bytes than the whole file holds: FFmpeg's WAV demuxer
    allocates what a LIST chunk declares before reading it (up to gigabytes
    for a 70 kB file). `data` may run past the end (FFmpeg streams it)."""
    if not isinstance(source, str):
        view = memoryview(source)
        head, size = bytes(view[:12]), len(view)
        read = lambda at, n: bytes(view[at : at + n])  # noqa: E731
    else:
        try:
            size = os.path.getsize(source)
            handle = open(source, "rb")  # noqa: SIM115 - closed below
        except OSError:
            return  # PyAV says so in its own words
        with handle:
            head = handle.read(12)

            def read(at: int, n: int) -> bytes:
                handle.seek(at)
                return handle.read(n)

            _walk_riff(head, size, read, name)
        return
    _walk_riff(head[:12], size, read, name)


def _walk_riff(head: bytes, size: int, read: Any, name: str) -> None:
    # RF64 and BW64 are the same walk; the core reads those whose chunks
    # it can walk, and leaves the others (a LIST declaring gigabytes) here.
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64", b"BW64") or head[8:12] != b"WAVE":
        return
    at = 12
    for _ in range(MAX_RIFF_CHUNKS):
        header = read(at, 8)
        if len(header) < 8:
            return
        chunk, length = header[:4], int.from_bytes(header[4:8], "little")
        # Beyond the rest of the file is a quirk FFmpeg reads (the LIST that
        # outgrows its parent); beyond the whole file, a damaged header.
        if chunk != b"data" and length > size:
            raise DecodeError(
                f"{name}: chunk {chunk.decode('latin-1')!r} declares {length} bytes, more than the "
                f"{size}-byte file holds"
            )
        at += 8 + length + (length & 1)


def _open(source: str | Encoded, name: str) -> Any:
    import av

    _check_riff_sizes(source, name)
    with _reading(name):
        return av.open(source if isinstance(source, str) else io.BytesIO(source), metadata_errors="ignore")


def _audio_stream(container: Any, name: str) -> Any:
    """The first audio stream, if it is one an audio file has; else DecodeError."""
    demuxers = set(container.format.name.split(","))
    if not demuxers & AUDIO_CONTAINERS:
        raise DecodeError(f"{name}: not an audio file (FFmpeg guessed the container {container.format.name!r})")
    if not container.streams.audio:
        raise DecodeError(f"{name}: no audio stream")
    stream = container.streams.audio[0]
    codec = stream.codec_context.name or ""
    if not codec.startswith(AUDIO_CODEC_PREFIXES):
        raise DecodeError(f"{name}: {codec!r} in {container.format.name!r} is not a codec of audio files")
    if not stream.codec_context.sample_rate or stream.codec_context.sample_rate <= 0:
        raise DecodeError(f"{name}: no sample rate in the stream header")
    channels = stream.codec_context.channels
    if not channels or not 0 < channels <= MAX_CHANNELS:
        raise DecodeError(f"{name}: implausible channel count {channels} in the stream header")
    return stream


def _to_float(frame: Any, name: str) -> np.ndarray:
    """One decoded frame as float32 `(channels, n)`."""
    fmt = frame.format.name
    if frame.format.is_planar and len(frame.layout.channels) > MAX_PLANES:
        # PyAV reads planes past FFmpeg's 8 data pointers for more planar
        # channels (a segfault, found by make fuzz on garbage sniffed as ADTS
        # AAC with 38 channels).
        raise DecodeError(f"{name}: {len(frame.layout.channels)} planar channels (PyAV converts at most {MAX_PLANES})")
    if fmt.startswith("s64"):
        # PyAV has no numpy conversion for 64-bit integer samples.
        planes = frame.planes
        per_plane = frame.samples * (1 if frame.format.is_planar else len(frame.layout.channels))
        a = np.stack([np.frombuffer(bytes(p), dtype="<i8", count=per_plane) for p in planes])
        a = a if frame.format.is_planar else a[0]
    else:
        a = frame.to_ndarray()
    if not frame.format.is_planar:
        a = a.reshape(-1, len(frame.layout.channels)).T
    base = fmt.rstrip("p")
    if base == "u8":
        return ((a.astype(np.float32) - 128.0) / 128.0).astype(np.float32)
    if base in _SCALE:
        return (a / _SCALE[base]).astype(np.float32)
    # A damaged double can exceed float32's range: it becomes inf here and is
    # refused by the finite check, without numpy's overflow warning.
    with np.errstate(over="ignore"):
        return a.astype(np.float32, copy=False)


def _frames(container: Any, stream: Any) -> Iterator[Any]:
    """The stream's decoded frames. Opus goes through libopus, the reference
    decoder, where this FFmpeg build has it: FFmpeg's native Opus decoder
    lands only 19-25 dB from it. Pre-skip is applied the same way (FFmpeg's
    decode layer honours the demuxer's skip-samples for either decoder)."""
    import av

    if stream.codec_context.name != "opus" or "libopus" not in av.codecs_available:
        yield from container.decode(stream)
        return
    decoder = av.CodecContext.create("libopus", "r")
    decoder.extradata = stream.codec_context.extradata
    decoder.sample_rate = stream.codec_context.sample_rate
    decoder.layout = stream.codec_context.layout
    for packet in container.demux(stream):
        yield from decoder.decode(packet)  # the final, empty packet flushes


def load(
    source: str | Encoded,
    name: str,
    sr: int | None,
    mono: bool,
    offset: float,
    duration: float | None,
) -> tuple[np.ndarray, int]:
    import av

    with _open(source, name) as container, _reading(name):
        stream = _audio_stream(container, name)
        native_sr = stream.codec_context.sample_rate
        start = int(round(offset * native_sr))
        stop = None if duration is None else start + int(round(duration * native_sr))
        if stop == start:
            raise ArgumentError(f"duration {duration} s is less than half a frame at {name}'s rate ({native_sr} Hz)")
        chunks: list[np.ndarray] = []
        position = 0
        try:
            for frame in _frames(container, stream):
                data = _to_float(frame, name)
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
        if len({c.shape[0] for c in chunks}) > 1:
            raise DecodeError(f"{name}: the channel count changes inside the stream")
        y = np.concatenate(chunks, axis=1)
    if not np.isfinite(y).all():
        raise DecodeError(f"{name}: the decoded audio contains NaN or infinite samples")
    if mono:
        y = y.mean(axis=0, keepdims=True, dtype=np.float32)
    if sr is not None and sr != native_sr:
        y = _core.resample(np.ascontiguousarray(y), native_sr, sr)
    return (y[0] if mono else y), (sr or native_sr)


def info(source: str | Encoded, name: str) -> dict[str, Any]:
    with _open(source, name) as container, _reading(name):
        stream = _audio_stream(container, name)
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
        if frames is not None and frames < 0:
            raise DecodeError(f"{name}: negative duration in the stream header")
        return {
            "sample_rate": sr,
            "channels": stream.codec_context.channels,
            "frames": frames,
            "duration": None if frames is None else frames / sr,
            "codec": stream.codec_context.name,
            "container": container.format.name,
        }
