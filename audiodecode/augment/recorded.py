"""Augmentations that draw from recordings: background noise (MUSAN-style
noise folders) and room impulse responses.

The recordings are decoded once per process and sample rate, on the first
call at that rate (mono, at the clip's rate, through an `AudioCache` when
one is given), and handed to the Rust core, which shares them read-only
between all threads and calls. Which recording a record gets, where its
excerpt starts and the SNR are drawn from the record's seed like every
other parameter.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from audiodecode import _core
from audiodecode._typing import StrPath
from audiodecode.augment.base import Augmentation, _range
from audiodecode.data.records import AUDIO_EXTENSIONS, MANIFEST_EXTENSIONS, audio_files
from audiodecode.loading import load_batch

#: Longest impulse response accepted: a room's reverberation dies within a
#: few seconds; anything longer is almost surely the wrong file.
MAX_IR_SECONDS = 10.0


def recording_paths(source: StrPath | Sequence[StrPath], what: str) -> tuple[str, ...]:
    """The audio files `source` names.

    Parameters
    ----------
    source : path or sequence of paths
        A directory (every audio file below it, by extension, sorted; any
        depth, sub-folders carry no meaning), a ``.csv``/``.tsv``/``.jsonl``
        manifest with a ``path`` column, or a list of files.
    what : str
        The parameter's name, for error messages.

    Raises
    ------
    ValueError
        No audio files.
    FileNotFoundError
        A directory, manifest or listed file that does not exist.
    """
    if isinstance(source, (str, os.PathLike)):
        root = Path(source)
        if root.is_dir():
            paths = sorted(
                str(Path(d) / f)
                for d, subdirs, files in os.walk(root)
                for f in files
                if not f.startswith(".") and Path(f).suffix.lower() in AUDIO_EXTENSIONS
            )
        elif root.suffix.lower() in MANIFEST_EXTENSIONS and root.exists():
            paths = [str(p) for p in audio_files(root).paths]
        elif root.exists():
            paths = [str(root)]
        else:
            raise FileNotFoundError(f"{what}: {root} does not exist")
    else:
        paths = [os.fspath(p) for p in source]
        missing = [p for p in paths if not os.path.exists(p)]
        if missing:
            raise FileNotFoundError(f"{what}: {missing[0]} does not exist")
    if not paths:
        raise ValueError(f"{what}: no audio files in {source!r}")
    return tuple(paths)


class _Recordings(Augmentation):
    """Shared by the two: the file list, and one decoded bank per rate."""

    _what = "recordings"

    def _init_files(self, source: StrPath | Sequence[StrPath], cache: Any) -> None:
        self.files = recording_paths(source, self._what)
        self._cache = cache
        self._banks: dict[int, Any] = {}
        self._lock = threading.Lock()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._cache, self._banks, self._lock = None, {}, threading.Lock()

    def _check(self, path: str, y: np.ndarray, sr: int) -> None:
        if not np.any(y):
            raise ValueError(f"{self._what}: {path} is silent")

    def _bank(self, sr: int | None) -> Any:
        """The recordings at `sr`, decoded on first use; None for `sr=None`."""
        if sr is None:
            return None
        with self._lock:
            bank = self._banks.get(sr)
            if bank is None:
                if self._cache is not None:
                    decoded = [y for y, _ in self._cache.load_batch(self.files, sr=sr, mono=True)]
                else:
                    decoded = [y for y, _ in load_batch(self.files, sr=sr, mono=True)]
                for path, y in zip(self.files, decoded):
                    self._check(path, y, sr)
                bank = self._banks[sr] = _core.AudioBank(decoded, sr)
            return bank


class AddBackgroundNoise(_Recordings):
    """Mix in an excerpt of a recorded noise at a signal-to-noise ratio.

    Each record draws one file of `noises`, a start position in it and an
    SNR in dB from `snr_db`; the excerpt has the clip's length (a recording
    shorter than the clip is looped, the repeats joined by 10 ms
    equal-power crossfades). The SNR is RMS-based over the whole clip, as
    in audiomentations: the noise is scaled so that
    ``20 log10(rms(clip) / rms(added noise)) == snr_db`` (mean power over
    channels; every channel gets the same mono noise). A silent clip, or a
    silent stretch of a recording, leaves the clip unchanged.

    Parameters
    ----------
    noises : path or sequence of paths
        A folder (searched recursively), a manifest (``path`` column) or a
        list of audio files in any format `audiodecode.load` reads.
    snr_db : float or (float, float)
        The SNR, or the range to draw it from, within [-60, 120] dB.
    p : float
        Probability of applying.
    cache : AudioCache, optional
        Decode the recordings through it (shared by a loader's workers).

    Raises
    ------
    ValueError
        No audio files, `snr_db` outside [-60, 120] or min > max, bad `p`;
        when first used: a silent file (named).
    DecodeError
        When first used: a file that does not decode (named).
    """

    _what = "noises"

    def __init__(
        self,
        noises: StrPath | Sequence[StrPath],
        snr_db: float | tuple[float, float] = (3.0, 30.0),
        p: float = 1.0,
        *,
        cache: Any = None,
    ) -> None:
        self._init_files(noises, cache)
        self.snr_db = snr_db if isinstance(snr_db, (int, float)) else tuple(float(v) for v in snr_db)
        self.p = float(p)
        self._validate()

    def _spec(self, sr: int | None = None) -> tuple:
        low, high = _range(self.snr_db, "snr_db")
        return ("AddBackgroundNoise", self._bank(sr), len(self.files), low, high, self.p)

    def _describe(self, params: dict[str, Any]) -> dict[str, Any]:
        index = params.get("noise_index")
        return params | {"noise": None if index is None else self.files[index]}


class ApplyImpulseResponse(_Recordings):
    """Reverberate with a room impulse response drawn from files.

    The clip is convolved (FFT overlap-add) with one response per record;
    the result has the clip's length and starts at the response's direct
    path (its largest sample), so no delay is added, and it keeps the
    clip's RMS. `wet` mixes it with the dry clip: ``(1 - wet) dry + wet
    reverberant``. Responses are mono; every channel gets the same one.

    Parameters
    ----------
    irs : path or sequence of paths
        A folder (searched recursively), a manifest (``path`` column) or a
        list of audio files, each at most 10 s long.
    p : float
        Probability of applying.
    wet : float
        Share of the reverberant signal, in [0, 1].
    cache : AudioCache, optional
        Decode the responses through it.

    Raises
    ------
    ValueError
        No audio files, `wet` outside [0, 1], bad `p`; when first used: a
        silent response or one longer than 10 s (named).
    DecodeError
        When first used: a file that does not decode (named).
    """

    _what = "irs"

    def __init__(
        self, irs: StrPath | Sequence[StrPath], p: float = 1.0, wet: float = 1.0, *, cache: Any = None
    ) -> None:
        self._init_files(irs, cache)
        self.p, self.wet = float(p), float(wet)
        self._validate()

    def _check(self, path: str, y: np.ndarray, sr: int) -> None:
        super()._check(path, y, sr)
        if len(y) > MAX_IR_SECONDS * sr:
            raise ValueError(f"irs: {path} is {len(y) / sr:.1f} s long; impulse responses are limited to {MAX_IR_SECONDS:g} s")

    def _spec(self, sr: int | None = None) -> tuple:
        return ("ApplyImpulseResponse", self._bank(sr), len(self.files), self.wet, self.p)

    def _describe(self, params: dict[str, Any]) -> dict[str, Any]:
        index = params.get("ir_index")
        return params | {"ir": None if index is None else self.files[index]}


Reverb = ApplyImpulseResponse
