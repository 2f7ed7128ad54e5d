"""Augmentations: every transform, rendered by the Rust core.

One concept per module:

- `base`: `Augmentation`, the call forms (`y_aug = t(y, sr, seed)`,
  `t.batch(ys, sr, seeds)`, `t.sample_params(seed)`) and the seeding rule.
- `compose`: recipes, `Compose` (in order) and `OneOf`.
- `stretch`: time and pitch, `TimeStretch`, `PitchShift`, `SpeedPerturbation`.
- `gain`: loudness, `Gain` (`VolumeAdjust`).
- `noise`: synthetic noise, `AddNoise`.
- `waveform`: `Clipping`, `PolarityInversion`, `Shift`, `TimeMask`.
- `filters`: Butterworth `LowPassFilter`, `HighPassFilter`, `BandPassFilter`,
  `BandStopFilter`.
- `recorded`: transforms that draw from recordings, `AddBackgroundNoise` and
  `ApplyImpulseResponse` (`Reverb`).
- `mixing`: batch-level `Mixup` and `CutMix`, which mix rows of a collated
  batch and their targets (the loaders apply them after collation).

The per-record transforms are also exported by `audiodecode` itself.
"""

from audiodecode.augment.base import Augmentation
from audiodecode.augment.compose import Compose, OneOf
from audiodecode.augment.filters import BandPassFilter, BandStopFilter, HighPassFilter, LowPassFilter
from audiodecode.augment.gain import Gain, VolumeAdjust
from audiodecode.augment.mixing import BatchMix, CutMix, Mixup
from audiodecode.augment.noise import AddNoise
from audiodecode.augment.recorded import AddBackgroundNoise, ApplyImpulseResponse, Reverb
from audiodecode.augment.stretch import PitchShift, SpeedPerturbation, TimeStretch
from audiodecode.augment.waveform import Clipping, PolarityInversion, Shift, TimeMask

__all__ = [
    # base.py, compose.py
    "Augmentation",
    "Compose",
    "OneOf",
    # stretch.py, gain.py, noise.py
    "TimeStretch",
    "PitchShift",
    "SpeedPerturbation",
    "Gain",
    "VolumeAdjust",
    "AddNoise",
    # waveform.py
    "Clipping",
    "PolarityInversion",
    "Shift",
    "TimeMask",
    # filters.py
    "LowPassFilter",
    "HighPassFilter",
    "BandPassFilter",
    "BandStopFilter",
    # recorded.py
    "AddBackgroundNoise",
    "ApplyImpulseResponse",
    "Reverb",
    # mixing.py: batch-level, for the loaders' augmentations=
    "BatchMix",
    "Mixup",
    "CutMix",
]
