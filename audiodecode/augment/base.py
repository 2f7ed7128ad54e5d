"""The base of every augmentation: its call forms, checks and seeding.

Augmentations are rendered by the Rust core: seeded, deterministic and
parallel over a batch with the GIL released.

Every transform is called the same way::

    pipe = Compose([TimeStretch(0.8, 1.2), PitchShift(-2, 2), AddNoise(snr_db=20)])
    y_aug = pipe(y, sr, seed=1234)              # one clip, (n,) or (channels, n)
    ys_aug = pipe.batch(ys, sr, seeds)          # a list, in parallel
    pipe.sample_params(1234)                    # what seed 1234 draws

The same `(seed, input)` gives bit-identical output on any number of
threads and at any batch position; the input is never modified. Seeding
rule: the k-th transform of a recipe (depth first, nested ones counted)
draws from its own stream of the seed, so adding, removing or disabling one
transform does not change what the others draw. All channels of a clip get
the same drawn parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from audiodecode import _core

_U64 = 2**64


def _as_audio(y: Any) -> np.ndarray:
    """float32 `(n,)` or `(channels, n)`; float64 is cast, anything else refused."""
    a = np.asarray(y)
    if a.dtype == np.float64:
        a = a.astype(np.float32)
    elif a.dtype != np.float32:
        raise ValueError(f"audio must be float32 (or float64, which is cast), got {a.dtype}")
    if a.ndim not in (1, 2):
        raise ValueError(f"audio must be (n,) or (channels, n), got shape {a.shape}")
    if a.size == 0:
        raise ValueError("cannot augment an empty clip")
    return a


def _as_seed(seed: Any) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an int in [0, 2**64), got {seed!r}")
    if not 0 <= int(seed) < _U64:
        raise ValueError(f"seed must be in [0, 2**64), got {seed}")
    return int(seed)


def _as_sr(sr: Any) -> int:
    if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise ValueError(f"sr must be a positive int, got {sr!r}")
    return int(sr)


def _range(value: float | Sequence[float], what: str) -> tuple[float, float]:
    """A number is the range (v, v); a pair is (min, max)."""
    if isinstance(value, (int, float, np.number)):
        return float(value), float(value)
    low, high = value  # type: ignore[misc]
    return float(low), float(high)


class Augmentation:
    """Base of every transform: the call forms and the parameter check.

    A subclass describes itself to the core as a tuple (`_spec`). Transforms
    that read recordings (`AddBackgroundNoise`, `ApplyImpulseResponse`) need
    the clip's rate to hand over the recordings decoded at that rate; for
    checking and drawing (`sr=None`) they describe themselves without them.
    Public attributes are the parameters (repr, equality, pickling);
    underscore attributes are per-process state and are left out of all three.
    """

    def _spec(self, sr: int | None = None) -> tuple:
        raise NotImplementedError

    def _leaves(self) -> list[Augmentation]:
        """The leaf transforms depth first, in the order `sample_params` lists them."""
        return [self]

    def _describe(self, params: dict[str, Any]) -> dict[str, Any]:
        """Adds what only Python knows to one `sample_params` entry (file names)."""
        return params

    def _public(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __getstate__(self) -> dict[str, Any]:
        return self._public()

    def _validate(self) -> None:
        # Fail where the recipe is written, not in a worker later.
        _core.augment_validate(self._spec())

    def __call__(self, y: np.ndarray, sr: int, seed: int = 0) -> np.ndarray:
        """Augment one clip.

        Parameters
        ----------
        y : np.ndarray [shape=(n,) or (channels, n)], float32
            Finite audio; float64 is cast to float32. Not modified.
        sr : int
            Its sampling rate in Hz.
        seed : int in [0, 2**64)
            Decides every random choice.

        Returns
        -------
        np.ndarray [shape=(n',) or (channels, n')], float32
            `n' = n` except after a TimeStretch or SpeedPerturbation.
        """
        sr = _as_sr(sr)
        return _core.augment(self._spec(sr), _as_audio(y), sr, _as_seed(seed))

    def batch(
        self, ys: Sequence[np.ndarray], sr: int, seeds: Sequence[int], *, num_threads: int | None = None
    ) -> list[np.ndarray]:
        """Augment clips in parallel (Rust threads, GIL released);
        `seeds[i]` goes with `ys[i]`. Returns a list in input order."""
        arrays = [_as_audio(y) for y in ys]
        seed_list = [_as_seed(s) for s in seeds]
        if len(seed_list) != len(arrays):
            raise ValueError(f"{len(arrays)} clips but {len(seed_list)} seeds")
        if num_threads is not None and num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {num_threads}")
        sr = _as_sr(sr)
        return _core.augment_batch(self._spec(sr), arrays, sr, seed_list, num_threads)

    def sample_params(self, seed: int) -> list[dict[str, Any]]:
        """What `seed` draws: one dict per transform (depth first) with its
        name, whether it fired, and its drawn values by name (rate,
        semitones, snr_db, gain_db, cutoff_freq, ...; None when it did not
        fire). Recording-based transforms also name the file they drew."""
        drawn = _core.augment_params(self._spec(), _as_seed(seed))
        return [leaf._describe(params) for leaf, params in zip(self._leaves(), drawn)]

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self._public().items())
        return f"{type(self).__name__}({fields})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self._public() == other._public()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]
