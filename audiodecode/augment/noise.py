"""Synthetic noise (white, pink or brown) added at a drawn signal-to-noise
ratio. Recorded noise is `audiodecode.augment.recorded.AddBackgroundNoise`.
"""

from __future__ import annotations

from audiodecode.augment.base import Augmentation, _range


class AddNoise(Augmentation):
    """Add noise at a signal-to-noise ratio in dB: a number, or `(min, max)`
    to draw from. `color` is "white", "pink" (-3 dB/octave) or "brown"
    (-6 dB/octave). A silent clip has no SNR and is returned unchanged."""

    def __init__(self, snr_db: float | tuple[float, float] = (10.0, 30.0), p: float = 1.0, color: str = "white") -> None:
        self.snr_db = snr_db if isinstance(snr_db, (int, float)) else tuple(float(v) for v in snr_db)
        self.p, self.color = float(p), color
        self._validate()

    def _spec(self, sr: int | None = None) -> tuple:
        low, high = _range(self.snr_db, "snr_db")
        return ("AddNoise", low, high, self.color, self.p)
