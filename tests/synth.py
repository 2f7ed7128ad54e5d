"""Synthetic test audio: numpy signals, encoded to real files with PyAV.

Every test makes its own fixtures from these; nothing is downloaded.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# container format, codec, PyAV sample format, planar?
FORMATS: dict[str, tuple[str, str, str]] = {
    "wav": ("wav", "pcm_s16le", "s16"),
    "wav24": ("wav", "pcm_s24le", "s32"),
    "wav32": ("wav", "pcm_s32le", "s32"),
    "wavf32": ("wav", "pcm_f32le", "flt"),
    "wavf64": ("wav", "pcm_f64le", "dbl"),
    "wavu8": ("wav", "pcm_u8", "u8"),
    "wavalaw": ("wav", "pcm_alaw", "s16"),
    "wavmulaw": ("wav", "pcm_mulaw", "s16"),
    "aiff": ("aiff", "pcm_s16be", "s16"),
    "flac": ("flac", "flac", "s16"),
    "flac24": ("flac", "flac", "s32"),
    "mp3": ("mp3", "libmp3lame", "fltp"),
    "ogg": ("ogg", "vorbis", "fltp"),
    "m4a": ("ipod", "aac", "fltp"),
    "opus": ("ogg", "libopus", "flt"),
}

EXTENSIONS = {
    "wav24": "wav", "wav32": "wav", "wavf32": "wav", "wavf64": "wav", "wavu8": "wav",
    "wavalaw": "wav", "wavmulaw": "wav", "flac24": "flac",
}

# Decoders of these are exact: ours must equal FFmpeg's output to 1e-6.
LOSSLESS = {"wav", "wav24", "wav32", "wavf32", "wavf64", "wavu8", "wavalaw", "wavmulaw", "aiff", "flac", "flac24"}


def sine(freq_hz: float, seconds: float, sr: int, amplitude: float = 0.5, phase: float = 0.0) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (amplitude * np.sin(2 * np.pi * freq_hz * t + phase)).astype(np.float32)


def chirp(f0_hz: float, f1_hz: float, seconds: float, sr: int, amplitude: float = 0.5) -> np.ndarray:
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    k = (f1_hz - f0_hz) / seconds
    return (amplitude * np.sin(2 * np.pi * (f0_hz * t + 0.5 * k * t * t))).astype(np.float32)


def noise(seconds: float, sr: int, amplitude: float = 0.3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (amplitude * rng.uniform(-1, 1, int(round(seconds * sr)))).astype(np.float32)


def speech_like(seconds: float, sr: int, f0_hz: float = 140.0, seed: int = 0) -> np.ndarray:
    """A harmonic source with a slowly moving pitch through three formant resonances."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    f0 = f0_hz * (1 + 0.1 * np.sin(2 * np.pi * 2.5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    source = sum(np.sin(k * phase) / k for k in range(1, int(sr / 2 / (f0_hz * 1.2))))
    y = source + 0.01 * rng.standard_normal(n)
    for formant, bandwidth in ((700, 130), (1220, 70), (2600, 160)):
        if formant >= sr / 2:
            continue
        r = np.exp(-np.pi * bandwidth / sr)
        theta = 2 * np.pi * formant / sr
        y = lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], y)
    y *= 0.5 / np.max(np.abs(y))
    return y.astype(np.float32)


def encode(path: str | Path, y: np.ndarray, sr: int, fmt: str, bitrate: int | None = None) -> Path:
    """Write `y` (`(n,)` or `(channels, n)` float in [-1, 1]) to `path` as `fmt` (a key of FORMATS)."""
    container_format, codec, sample_format = FORMATS[fmt]
    y = np.atleast_2d(np.asarray(y, dtype=np.float32))
    channels = y.shape[0]
    if codec == "vorbis" and channels != 2:
        # FFmpeg's native Vorbis encoder (all PyAV's wheel has) is stereo-only.
        return _encode_with_ffmpeg_cli(Path(path), y, sr, "libvorbis")
    layout = {1: "mono", 2: "stereo"}.get(channels, f"{channels}c")
    path = Path(path)
    with av.open(str(path), mode="w", format=container_format) as container:
        # FFmpeg's native Vorbis encoder is marked experimental.
        options = {"strict": "-2"} if codec == "vorbis" else {}
        stream = container.add_stream(codec, rate=sr, layout=layout, options=options)
        if bitrate:
            stream.bit_rate = bitrate
        stream.time_base = Fraction(1, sr)
        frame_size = stream.codec_context.frame_size or 1024
        resampler = av.AudioResampler(format=sample_format, layout=layout, rate=sr, frame_size=frame_size)
        source = av.AudioFrame.from_ndarray(np.ascontiguousarray(y), format="fltp", layout=layout)
        source.sample_rate = sr
        source.pts = 0
        source.time_base = Fraction(1, sr)
        for frame in resampler.resample(source) + resampler.resample(None):
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def _encode_with_ffmpeg_cli(path: Path, y: np.ndarray, sr: int, codec: str) -> Path:
    import shutil
    import subprocess

    import pytest

    if shutil.which("ffmpeg") is None:
        pytest.skip("Debian's ffmpeg is needed to encode this format (`make env` installs it)")
    wav = encode(path.with_suffix(".src.wav"), y, sr, "wavf32")
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-c:a", codec, str(path)], check=True
    )
    wav.unlink()
    return path


def make(tmp_dir: str | Path, name: str, y: np.ndarray, sr: int, fmt: str) -> Path:
    """Encode into `tmp_dir/name.<ext>` with the extension the format usually has."""
    ext = EXTENSIONS.get(fmt, {"m4a": "m4a", "opus": "opus"}.get(fmt, FORMATS[fmt][0] if fmt != "ogg" else "ogg"))
    if fmt == "aiff":
        ext = "aiff"
    return encode(Path(tmp_dir) / f"{name}.{ext}", y, sr, fmt)


def pyav_decode(path: str | Path) -> tuple[np.ndarray, int]:
    """The oracle: decode every frame with PyAV to float32 `(channels, n)`."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        chunks = []
        for frame in container.decode(stream):
            a = frame.to_ndarray()
            if not frame.format.is_planar:
                a = a.reshape(-1, len(frame.layout.channels)).T
            chunks.append(_to_float(a, frame.format.name))
        sr = stream.codec_context.sample_rate
    return np.concatenate(chunks, axis=1), sr


def _to_float(a: np.ndarray, fmt: str) -> np.ndarray:
    base = fmt.rstrip("p")
    if base == "u8":
        return ((a.astype(np.float64) - 128) / 128).astype(np.float32)
    if base == "s16":
        return (a / 32768.0).astype(np.float32)
    if base == "s32":
        return (a / 2147483648.0).astype(np.float32)
    return a.astype(np.float32)
