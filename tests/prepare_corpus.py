"""A small generated corpus for `prepare`: mixed formats, rates and
channels, two classes by folder, and the damaged files a real corpus has
(empty, garbage, truncated). Shared by the tests and benchmarks/prepare.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import synth

# name -> reason prepare must give (a prefix of the reject's reason).
DAMAGED = ("empty", "garbage", "truncated")


def make_corpus(root: str | Path, n: int = 12, seconds: tuple[float, float] = (0.5, 2.0), seed: int = 0) -> Path:
    """`n` good files under root/{cat,dog}/ plus the damaged ones in root/dog/."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    formats = ("wav", "flac", "mp3")
    for i in range(n):
        folder = root / ("cat" if i % 2 else "dog")
        folder.mkdir(parents=True, exist_ok=True)
        sr = (44100, 48000)[i % 2]
        length = float(rng.uniform(*seconds))
        y = synth.speech_like(length, sr, f0_hz=100 + 10 * i, seed=i)
        if i % 3 == 0:
            y = np.stack([y, 0.5 * y])
        synth.encode(folder / f"clip{i:04d}.{formats[i % 3]}", y, sr, formats[i % 3])
    dog = root / "dog"
    dog.mkdir(parents=True, exist_ok=True)
    (dog / "empty.wav").write_bytes(b"")
    (dog / "garbage.flac").write_bytes(bytes(rng.integers(0, 256, 5000, dtype=np.uint8)))
    whole = (dog / "clip0004.flac").read_bytes()  # n >= 5: a good FLAC to cut short
    (dog / "truncated.flac").write_bytes(whole[: len(whole) * 2 // 3])
    return root
