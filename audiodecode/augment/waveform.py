"""Simple waveform augmentations: clipping, polarity inversion, time shift
and time masking. Rendered by the Rust core like the others: seeded,
deterministic, parallel over a batch."""

from __future__ import annotations

from audiodecode.augment.base import Augmentation, _range


class Clipping(Augmentation):
    """Hard-clip the clip at a threshold drawn per record.

    With `percentile_threshold=(lo, hi)` (the default) a percentage q is
    drawn and the threshold is the (100 - q)-th percentile of the absolute
    sample values of all channels, so about q % of the samples are clipped
    (audiomentations' `ClippingDistortion` clips q/2 % at each sign; this
    is symmetric in magnitude). With `threshold_db=(lo, hi)` the threshold
    is that many dB below the clip's peak.

    Parameters
    ----------
    percentile_threshold : float or (float, float)
        Percent of samples to clip, within [0, 100].
    threshold_db : float or (float, float), optional
        Threshold relative to the peak, within [-60, 0] dB; replaces
        `percentile_threshold` when given.
    p : float
        Probability of applying.
    """

    def __init__(
        self,
        percentile_threshold: float | tuple[float, float] = (0.0, 40.0),
        p: float = 1.0,
        *,
        threshold_db: float | tuple[float, float] | None = None,
    ) -> None:
        self.percentile_threshold = _range(percentile_threshold, "percentile_threshold")
        self.threshold_db = None if threshold_db is None else _range(threshold_db, "threshold_db")
        self.p = float(p)
        self._validate()

    def _spec(self, sr: int | None = None) -> tuple:
        if self.threshold_db is not None:
            return ("Clipping", "db", *self.threshold_db, self.p)
        return ("Clipping", "percentile", *self.percentile_threshold, self.p)


class PolarityInversion(Augmentation):
    """Flip the sign of every sample (with probability `p`)."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = float(p)
        self._validate()

    def _spec(self, sr: int | None = None) -> tuple:
        return ("PolarityInversion", self.p)


class Shift(Augmentation):
    """Move the clip in time by an amount drawn from `[min_shift, max_shift]`.

    Positive amounts move it later. With `rollover=True` the samples pushed
    off one end come back at the other (a circular shift); otherwise the
    gap is silence. The length never changes.

    Parameters
    ----------
    min_shift, max_shift : float
        Range in `shift_unit`.
    shift_unit : {"fraction", "seconds", "samples"}
        "fraction" of the clip's length (audiomentations' default).
    rollover : bool
        Circular shift, or fill with silence.
    p : float
        Probability of applying.
    """

    def __init__(
        self,
        min_shift: float = -0.5,
        max_shift: float = 0.5,
        shift_unit: str = "fraction",
        rollover: bool = True,
        p: float = 1.0,
    ) -> None:
        self.min_shift, self.max_shift = float(min_shift), float(max_shift)
        self.shift_unit, self.rollover, self.p = shift_unit, bool(rollover), float(p)
        self._validate()

    def _spec(self, sr: int | None = None) -> tuple:
        return ("Shift", self.min_shift, self.max_shift, self.shift_unit, self.rollover, self.p)


class TimeMask(Augmentation):
    """Silence a span of the waveform: its length is a fraction of the clip
    drawn from `[min_band_part, max_band_part]`, its start uniform over the
    positions where it fits.

    Parameters
    ----------
    min_band_part, max_band_part : float
        Fraction of the clip to silence, within [0, 1].
    p : float
        Probability of applying.
    """

    def __init__(self, min_band_part: float = 0.0, max_band_part: float = 0.5, p: float = 1.0) -> None:
        self.min_band_part, self.max_band_part, self.p = float(min_band_part), float(max_band_part), float(p)
        self._validate()

    def _spec(self, sr: int | None = None) -> tuple:
        return ("TimeMask", self.min_band_part, self.max_band_part, self.p)
