"""The demo's data set: eight kinds of synthetic sound, encoded as MP3, FLAC
and Ogg Vorbis, generated once into ~/.cache/audiodecode/demo_data.

Every clip is drawn from its class with random pitch, timing, length
(0.8 to 1.6 s), sampling rate, background noise and often a quieter sound
of another class, so the classes are learnable but not trivially: a model
has to tell a rising chirp from a falling one and a tremolo from a pulse
train, through the noise and the augmentation.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# Bump when the synthesis changes: a new version is generated beside the old.
VERSION = 2
DEFAULT_ROOT = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "audiodecode" / "demo_data"
FILES_PER_CLASS = 80
RATES = (16000, 22050, 44100)
# format: (file extension, container, codec, sample format, channels)
FORMATS = {
    "mp3": ("mp3", "mp3", "libmp3lame", "fltp", 1),
    "flac": ("flac", "flac", "flac", "s16", 1),
    # FFmpeg's built-in Vorbis encoder (PyAV's) only writes stereo; the
    # loader mixes it down to mono.
    "ogg": ("ogg", "ogg", "vorbis", "fltp", 2),
}


def _tone(t: np.ndarray, f: np.ndarray | float, sr: int, harmonics: int = 3) -> np.ndarray:
    phase = 2 * np.pi * np.cumsum(np.broadcast_to(f, t.shape)) / sr
    return sum(np.sin(k * phase) / k for k in range(1, harmonics + 1))


def tone(rng: np.random.Generator, t: np.ndarray, sr: int) -> np.ndarray:
    """A steady harmonic tone."""
    return _tone(t, rng.uniform(200, 900), sr)


def chirp_up(rng: np.random.Generator, t: np.ndarray, sr: int) -> np.ndarray:
    """A tone sweeping up over an octave or more."""
    f0 = rng.uniform(200, 500)
    return _tone(t, f0 * (1 + rng.uniform(1, 2) * t / t[-1]), sr)


def chirp_down(rng: np.random.Generator, t: np.ndarray, sr: int) -> np.ndarray:
    """A tone sweeping down over an octave or more."""
    f1 = rng.uniform(200, 500)
    return _tone(t, f1 * (1 + rng.uniform(1, 2) * (1 - t / t[-1])), sr)


def beeps(rng: np.random.Generator, t: np.ndarray, sr: int) -> np.ndarray:
    """A tone switched on and off a few times a second."""
    rate = rng.uniform(3, 7)
    gate = (np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi)) > 0).astype(float)
    return _tone(t, rng.uniform(500, 1500), sr, harmonics=1) * gate


def tremolo(rng: np.random.Generator, t: np.ndarray, sr: int) -> np.ndarray:
    """A tone whose loudness swells smoothly (amplitude modulation)."""
    depth = rng.uniform(0.6, 0.9)
    return _tone(t, rng.uniform(200, 900), sr) * (1 - depth * (0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(4, 10) * t)))


def clicks(rng: np.random.Generator, t: np.ndarray, sr: int) -> np.ndarray:
    """A train of short decaying clicks."""
    y = np.zeros_like(t)
    period = int(sr / rng.uniform(8, 25))
    y[rng.integers(0, period) :: period] = 1.0
    n = np.arange(int(0.004 * sr))
    kernel = np.exp(-n / (0.001 * sr)) * np.sin(2 * np.pi * rng.uniform(1500, 3000) * n / sr)
    return np.convolve(y, kernel)[: len(t)]


def noise_bursts(rng: np.random.Generator, t: np.ndarray, sr: int) -> np.ndarray:
    """Band-limited noise in irregular bursts."""
    from scipy.signal import butter, sosfilt

    centre = rng.uniform(800, 3000)
    sos = butter(4, [centre * 0.7, min(centre * 1.4, 0.45 * sr)], btype="band", fs=sr, output="sos")
    envelope = np.repeat(rng.random(len(t) // int(0.05 * sr) + 1) > 0.5, int(0.05 * sr))[: len(t)]
    return sosfilt(sos, rng.standard_normal(len(t))) * envelope


def vowel(rng: np.random.Generator, t: np.ndarray, sr: int) -> np.ndarray:
    """A voice-like source with vibrato through three formant resonances."""
    from scipy.signal import lfilter

    f0 = rng.uniform(100, 220) * (1 + 0.05 * np.sin(2 * np.pi * rng.uniform(3, 6) * t))
    y = _tone(t, f0, sr, harmonics=int(sr / 2 / 300))
    for formant, bandwidth in ((rng.uniform(500, 900), 100), (rng.uniform(1000, 1600), 80), (2600, 160)):
        r = np.exp(-np.pi * bandwidth / sr)
        y = lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * formant / sr), r * r], y)
    return y


CLASSES: dict[str, Callable[[np.random.Generator, np.ndarray, int], np.ndarray]] = {
    f.__name__: f for f in (tone, chirp_up, chirp_down, beeps, tremolo, clicks, noise_bursts, vowel)
}


def synthesize(kind: str, seed: int) -> tuple[np.ndarray, int]:
    """One clip of class `kind`: (float32 (n,) in [-1, 1], sampling rate).

    The sound starts at a random time, over background noise (5-30 dB
    below it) and, in half the clips, a quieter sound of another class.
    """
    rng = np.random.default_rng(seed)
    sr = int(rng.choice(RATES))
    t = np.arange(int(rng.uniform(0.8, 1.6) * sr)) / sr
    y = _unit(CLASSES[kind](rng, t, sr), t)
    y = np.roll(y * (t < rng.uniform(0.6, 1.0) * t[-1]), int(rng.uniform(0, 0.3) * sr))
    if rng.random() < 0.5:
        other = rng.choice([k for k in CLASSES if k != kind])
        y = y + _unit(CLASSES[other](rng, t, sr), t) * 10 ** (-rng.uniform(8, 16) / 20)
    y = y + rng.standard_normal(len(t)) * 10 ** (-rng.uniform(5, 30) / 20) / 3
    y = y / np.max(np.abs(y)) * rng.uniform(0.2, 0.8)
    return y.astype(np.float32), sr


def _unit(y: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Peak 1, faded in and out over 10 ms (no clicks at the edges)."""
    return y / (np.max(np.abs(y)) + 1e-9) * np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.01)


def encode(path: Path, y: np.ndarray, sr: int, fmt: str) -> None:
    """Write mono `y` to `path` in `fmt` (a key of FORMATS) with PyAV."""
    _, container_format, codec, sample_format, channels = FORMATS[fmt]
    layout = "stereo" if channels == 2 else "mono"
    planar = np.ascontiguousarray(np.tile(y, (channels, 1)))
    with av.open(str(path), mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=sr, layout=layout, options={"strict": "-2"} if codec == "vorbis" else {})
        stream.time_base = Fraction(1, sr)
        frame_size = stream.codec_context.frame_size or 1024
        resampler = av.AudioResampler(format=sample_format, layout=layout, rate=sr, frame_size=frame_size)
        frame = av.AudioFrame.from_ndarray(planar, format="fltp", layout=layout)
        frame.sample_rate, frame.pts, frame.time_base = sr, 0, Fraction(1, sr)
        for chunk in resampler.resample(frame) + resampler.resample(None):
            container.mux(stream.encode(chunk))
        container.mux(stream.encode(None))


def ensure_dataset(root: Path = DEFAULT_ROOT, files_per_class: int = FILES_PER_CLASS) -> Path:
    """The demo data set's folder (one sub-folder per class), generated if missing.

    Generation writes into a temporary folder renamed into place at the
    end, so an interrupted run leaves nothing half-made.
    """
    target = root / f"v{VERSION}-{files_per_class}"
    if target.is_dir():
        return target
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    try:
        formats = list(FORMATS)
        for c, kind in enumerate(CLASSES):
            (staging / kind).mkdir()
            for i in range(files_per_class):
                fmt = formats[i % len(formats)]
                y, sr = synthesize(kind, seed=1000 * c + i)
                encode(staging / kind / f"{kind}_{i:03d}.{FORMATS[fmt][0]}", y, sr, fmt)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
