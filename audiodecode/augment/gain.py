"""Loudness: a gain in dB drawn per clip (`Gain`, also named `VolumeAdjust`)."""

from __future__ import annotations

from audiodecode.augment.base import Augmentation


class Gain(Augmentation):
    """Multiply by a gain in dB drawn from `[min_db, max_db]`."""

    def __init__(self, min_db: float = -12.0, max_db: float = 12.0, p: float = 1.0) -> None:
        self.min_db, self.max_db, self.p = float(min_db), float(max_db), float(p)
        self._validate()

    def _spec(self, sr: int | None = None) -> tuple:
        return ("Gain", self.min_db, self.max_db, self.p)


VolumeAdjust = Gain
