"""Butterworth filters as augmentations: low-pass, high-pass, band-pass and
band-stop, with the cutoff (or centre) and slope drawn per record.

Rendered by the Rust core as cascades of second-order sections designed by
the bilinear transform with prewarped edges, so the response is exactly
-3 dB at the drawn cutoff (band edges for the band kinds) and falls by
`rolloff` dB per octave beyond it. `zero_phase=True` runs the filter
forwards and backwards (no phase shift, no delay; edges extended by odd
reflection as `scipy.signal.filtfilt` does) with each pass designed so
that the two together are still -3 dB at the cutoff and `rolloff` steep.
Unlike audiomentations (which is -6 dB at the cutoff in zero-phase mode),
the cutoff means the same in both modes.

Cutoffs and centres are drawn log-uniformly (an octave near 200 Hz is as
likely as one near 4 kHz); the slope is one of the multiples of 6 dB/octave
(12 in zero-phase mode) in `[min_rolloff, max_rolloff]`.
"""

from __future__ import annotations

from audiodecode.augment.base import Augmentation


class _Butterworth(Augmentation):
    _kind = ""

    def _spec(self, sr: int | None = None) -> tuple:
        bandwidth = getattr(self, "min_bandwidth_fraction", 0.0), getattr(self, "max_bandwidth_fraction", 0.0)
        low, high = self._freq_range()
        return (self._kind, low, high, *bandwidth, self.min_rolloff, self.max_rolloff, self.zero_phase, self.p)

    def _freq_range(self) -> tuple[float, float]:
        return self.min_cutoff_freq, self.max_cutoff_freq  # type: ignore[attr-defined]


class LowPassFilter(_Butterworth):
    """Keep what lies below a cutoff frequency drawn per record.

    Parameters
    ----------
    min_cutoff_freq, max_cutoff_freq : float
        Cutoff range in Hz (> 0; below the clip's Nyquist frequency, checked
        when called).
    min_rolloff, max_rolloff : float
        Slope range in dB/octave, within [6, 96]; multiples of 6 (12 when
        `zero_phase`) are drawn.
    zero_phase : bool
        Forward-backward filtering: no phase shift, twice the work.
    p : float
        Probability of applying.
    """

    _kind = "LowPassFilter"

    def __init__(
        self,
        min_cutoff_freq: float = 150.0,
        max_cutoff_freq: float = 7500.0,
        min_rolloff: float = 12.0,
        max_rolloff: float = 24.0,
        zero_phase: bool = False,
        p: float = 1.0,
    ) -> None:
        self.min_cutoff_freq, self.max_cutoff_freq = float(min_cutoff_freq), float(max_cutoff_freq)
        self.min_rolloff, self.max_rolloff = float(min_rolloff), float(max_rolloff)
        self.zero_phase, self.p = bool(zero_phase), float(p)
        self._validate()


class HighPassFilter(LowPassFilter):
    """Keep what lies above a cutoff frequency drawn per record; parameters
    as `LowPassFilter` (default cutoffs 20-2400 Hz)."""

    _kind = "HighPassFilter"

    def __init__(
        self,
        min_cutoff_freq: float = 20.0,
        max_cutoff_freq: float = 2400.0,
        min_rolloff: float = 12.0,
        max_rolloff: float = 24.0,
        zero_phase: bool = False,
        p: float = 1.0,
    ) -> None:
        super().__init__(min_cutoff_freq, max_cutoff_freq, min_rolloff, max_rolloff, zero_phase, p)


class BandPassFilter(_Butterworth):
    """Keep a band around a centre frequency drawn per record.

    The band's edges are ``center_freq * (1 -+ bandwidth_fraction / 2)``;
    the response is -3 dB at both and 0 dB at their geometric mean.

    Parameters
    ----------
    min_center_freq, max_center_freq : float
        Centre range in Hz (> 0; the upper edge must stay below Nyquist,
        checked when called).
    min_bandwidth_fraction, max_bandwidth_fraction : float
        Bandwidth as a fraction of the centre, in (0, 2).
    min_rolloff, max_rolloff : float
        Slope of each skirt in dB/octave, as for `LowPassFilter`.
    zero_phase : bool
        Forward-backward filtering.
    p : float
        Probability of applying.
    """

    _kind = "BandPassFilter"

    def __init__(
        self,
        min_center_freq: float = 200.0,
        max_center_freq: float = 4000.0,
        min_bandwidth_fraction: float = 0.5,
        max_bandwidth_fraction: float = 1.99,
        min_rolloff: float = 12.0,
        max_rolloff: float = 24.0,
        zero_phase: bool = False,
        p: float = 1.0,
    ) -> None:
        self.min_center_freq, self.max_center_freq = float(min_center_freq), float(max_center_freq)
        self.min_bandwidth_fraction = float(min_bandwidth_fraction)
        self.max_bandwidth_fraction = float(max_bandwidth_fraction)
        self.min_rolloff, self.max_rolloff = float(min_rolloff), float(max_rolloff)
        self.zero_phase, self.p = bool(zero_phase), float(p)
        self._validate()

    def _freq_range(self) -> tuple[float, float]:
        return self.min_center_freq, self.max_center_freq


class BandStopFilter(BandPassFilter):
    """Remove a band around a centre frequency drawn per record; parameters
    as `BandPassFilter` (-3 dB at both edges, a null at the centre)."""

    _kind = "BandStopFilter"
