"""Time and pitch: tempo changes (`TimeStretch`), pitch shifts
(`PitchShift`) and Kaldi-style speed perturbation (`SpeedPerturbation`),
the transforms that stretch or resample a clip (the core's `stretch.rs`,
`wsola.rs` and resampler).
"""

from __future__ import annotations

from collections.abc import Sequence

from audiodecode.augment.base import Augmentation


class TimeStretch(Augmentation):
    """Change the tempo by a factor drawn from `[min_rate, max_rate]`; the
    pitch stays. `rate > 1` speeds up (shorter output: `round(n / rate)`).

    `method="wsola"` (default) overlap-adds 40 ms segments of the input,
    each placed where its waveform best continues the previous one (sox's
    `tempo`, used by Kaldi and ESPnet): fast, and faithful on speech.
    `method="phase_vocoder"` uses a phase vocoder with identity phase
    locking and 64 ms frames: better on dense music, several times slower."""

    def __init__(self, min_rate: float = 0.8, max_rate: float = 1.25, p: float = 1.0, method: str = "wsola") -> None:
        self.min_rate, self.max_rate, self.p, self.method = float(min_rate), float(max_rate), float(p), method
        self._validate()

    def _spec(self, sr: int | None = None) -> tuple:
        return ("TimeStretch", self.min_rate, self.max_rate, self.method, self.p)


class PitchShift(Augmentation):
    """Shift the pitch by semitones drawn from `[min_semitones,
    max_semitones]`; the duration stays (time stretch, then band-limited
    resampling back to the original length). `method` is the stretch's, as
    in `TimeStretch`."""

    def __init__(
        self, min_semitones: float = -4.0, max_semitones: float = 4.0, p: float = 1.0, method: str = "wsola"
    ) -> None:
        self.min_semitones, self.max_semitones = float(min_semitones), float(max_semitones)
        self.p, self.method = float(p), method
        self._validate()

    def _spec(self, sr: int | None = None) -> tuple:
        return ("PitchShift", self.min_semitones, self.max_semitones, self.method, self.p)


class SpeedPerturbation(Augmentation):
    """Kaldi-style speed perturbation: play `rate` times faster by
    resampling, so tempo and pitch change together (output length
    `round(n / rate)`).

    `rates` lists the factors to choose from uniformly (Kaldi's
    `(0.9, 1.0, 1.1)`); pass `min_rate=` and `max_rate=` instead for a
    continuous range."""

    def __init__(
        self,
        rates: Sequence[float] = (0.9, 1.0, 1.1),
        p: float = 1.0,
        *,
        min_rate: float | None = None,
        max_rate: float | None = None,
    ) -> None:
        if (min_rate is None) != (max_rate is None):
            raise ValueError("give both min_rate and max_rate for a range, or neither")
        self.rates = tuple(float(r) for r in rates)
        self.min_rate = None if min_rate is None else float(min_rate)
        self.max_rate = None if max_rate is None else float(max_rate)
        self.p = float(p)
        self._validate()

    def _spec(self, sr: int | None = None) -> tuple:
        if self.min_rate is not None:
            return ("SpeedPerturbation", [self.min_rate, self.max_rate], True, self.p)
        return ("SpeedPerturbation", list(self.rates), False, self.p)
