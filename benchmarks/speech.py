"""A corpus of real synthetic speech: espeak-ng sentences encoded as MP3.

Speech-like test signals (tests/synth.py) are fine for decoding figures,
but a training pipeline's cost also depends on what real utterances look
like: their lengths vary, they start and end in silence, and MP3 of
speech has its own frame statistics. espeak-ng (a Debian package, see the
Makefile's DEBIAN_TOOLS) speaks seeded random sentences with varied
voices, rates and pitches; ffmpeg encodes each to a 44.1 kHz mono MP3 (the
rate most MP3 speech corpora such as Common Voice ship at), so the loader
also resamples. Files are generated once and reused.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

WORDS = (
    "the a of to and in that is was he for it with as his on be at by had are but from or have an they which one "
    "you were her all she there would their we him been has when who will more no if out so said what up its about "
    "into than them can only other new some could time these two may then do first any my now such like our over "
    "man me even most made after also did many before must through back years where much your way well down should "
    "because each just those people how too little state good very make world still own see men work long get here "
    "between both life being under never day same another know while last might us great old year off come since "
    "against go came right used take three river music signal morning window garden station number voice"
).split()
VOICES = ("m1", "m2", "m3", "m4", "m5", "m7", "f1", "f2", "f3", "f4", "f5")
SR = 44100


def sentence(rng: np.random.Generator) -> str:
    return " ".join(rng.choice(WORDS, size=int(rng.integers(5, 16))))


def speech_corpus(root: Path, n: int, *, seed: int = 0) -> tuple[list[str], list[int]]:
    """`n` spoken sentences as MP3 under `root`, and a label per file.

    Each file holds 5-15 random words (about 1.5 to 6 s) in one of eleven
    espeak-ng voices (the label is the voice's index, a speaker-ID task),
    at 130-190 words per minute and a random pitch.

    Returns
    -------
    paths : list of str
    labels : list of int
        The voice of each file, in `range(len(VOICES))`.
    """
    for tool in ("espeak-ng", "ffmpeg"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing: `make system-deps` installs it")
    folder = root / f"speech-{n}-{seed}"
    rng = np.random.default_rng(seed)
    paths, labels = [], []
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(n):
            voice = int(rng.integers(len(VOICES)))
            text, rate, pitch = sentence(rng), int(rng.integers(130, 191)), int(rng.integers(25, 76))
            path = folder / f"utt_{i:04d}.mp3"
            if not path.exists():
                wav = Path(tmp) / "utt.wav"
                subprocess.run(["espeak-ng", "-v", f"en+{VOICES[voice]}", "-s", str(rate), "-p", str(pitch),
                                "-w", str(wav), text], check=True, capture_output=True)
                partial = path.with_suffix(".part.mp3")
                subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-ar", str(SR), "-ac", "1",
                                "-b:a", "64k", str(partial)], check=True, capture_output=True)
                partial.rename(path)
            paths.append(str(path))
            labels.append(voice)
    return paths, labels
