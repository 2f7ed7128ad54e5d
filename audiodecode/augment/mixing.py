"""Batch-level mixing: Mixup and CutMix on padded waveform batches, with
the targets mixed in the same proportions.

They act on a whole batch (each row is mixed with another row of the same
batch), so they run after collation, not inside the per-record
augmentations; the loaders take them in `augmentations=` beside the
per-record transforms (`resolve_mixing` picks them out) and then yield a
"target" array of shape (batch, classes), float32: one-hot rows of the
labels (all zeros for an unlabelled record) mixed like the audio.

The Rust core renders them (core_rs/src/augment/mixing.rs): rows in
parallel with the GIL released, bit-identical on any thread count.

Randomness: one draw per batch (whether it mixes, the mixing weight, the
partner of each row and CutMix's span start), seeded by a hash of the
batch's record seeds. Those are functions of (seed, epoch, record index),
and a batch's records of (seed, epoch, batch index), so a batch mixes the
same way on any thread or worker and after a resume. The draws are the
core's own SplitMix64 streams (Beta variates from Marsaglia-Tsang Gamma
variates), so they do not depend on the numpy release.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from audiodecode import _core
from audiodecode.data import seeding

#: The stream of a record's seed that feeds its batch's mixing seed.
MIX_STREAM = 4


def one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Targets of integer labels.

    Parameters
    ----------
    labels : np.ndarray [shape=(b,)], int
        Class indices; -1 (unlabelled) gives an all-zero row.
    num_classes : int

    Returns
    -------
    np.ndarray [shape=(b, num_classes)], float32
    """
    labels = np.asarray(labels)
    if labels.ndim == 2:
        # Already multi-hot (or soft) targets.
        return labels.astype(np.float32)
    out = np.zeros((len(labels), num_classes), np.float32)
    known = labels >= 0
    out[np.flatnonzero(known), labels[known]] = 1.0
    return out


def batch_seed(record_seeds: np.ndarray) -> int:
    """One seed for a batch from its records' seeds (order-independent)."""
    derived = seeding.derive(np.asarray(record_seeds, dtype=np.uint64), MIX_STREAM)
    return int(seeding.mix(np.bitwise_xor.reduce(derived, initial=np.uint64(0))))


class BatchMix:
    """Base of the batch-level transforms; a subclass names its `kind`.

    Parameters
    ----------
    alpha : float
        The mixing weight is drawn from Beta(alpha, alpha); > 0.
    p : float
        Probability that a batch is mixed at all.
    """

    #: The core's name for the mix ("Mixup" or "CutMix").
    kind: ClassVar[str]

    def __init__(self, alpha: float, p: float = 1.0) -> None:
        if not (np.isfinite(alpha) and alpha > 0):
            raise ValueError(f"alpha must be finite and > 0, got {alpha}")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.alpha, self.p = float(alpha), float(p)

    def sample_params(self, seed: int, batch_size: int) -> dict[str, Any]:
        """What `seed` draws for a batch of `batch_size` rows.

        Returns
        -------
        dict
            "name": the kind; "applied": whether the batch mixes; "lam": the
            weight of each row's own audio, in [0, 1]; "permutation":
            np.ndarray [shape=(batch_size,)], int64, row i's partner;
            "start": CutMix's span start as a fraction of the free
            positions, in [0, 1). All are drawn whether or not it applies.
        """
        return _core.mix_params(self.kind, seed, self.alpha, self.p, batch_size)

    def __call__(
        self,
        audio: np.ndarray,
        targets: np.ndarray,
        length: np.ndarray | None = None,
        *,
        seed: int,
        num_threads: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mix a batch.

        Parameters
        ----------
        audio : np.ndarray [shape=(b, n)], float32
            Padded clips; not modified. Other dtypes and layouts are
            converted to C-contiguous float32 first.
        targets : np.ndarray [shape=(b, classes)] or [shape=(b,)]
            Soft/multi-hot targets, or integer labels (then one-hot over
            `labels.max() + 1` classes; the loaders pass the data set's).
        length : np.ndarray [shape=(b,)], int, optional
            Valid samples per row, each in [0, n]; all of `n` by default.
        seed : int
        num_threads : int or None
            Rust threads; None: one per core. The result does not depend
            on it.

        Returns
        -------
        audio : np.ndarray [shape=(b, n)], float32
        targets : np.ndarray [shape=(b, classes)], float32
        length : np.ndarray [shape=(b,)], int32
            Valid samples after mixing (the longer of the two rows' where
            they overlap).

        Raises
        ------
        ValueError
            Bad shapes, a length outside [0, n], or rows of 0 samples.
        """
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        if audio.ndim != 2:
            raise ValueError(f"audio must be (batch, samples), got shape {audio.shape}")
        b, n = audio.shape
        targets = np.asarray(targets)
        if targets.ndim == 1:
            targets = one_hot(targets, int(targets.max()) + 1 if len(targets) else 0)
        targets = np.ascontiguousarray(targets, dtype=np.float32)
        if len(targets) != b:
            raise ValueError(f"{b} clips but {len(targets)} targets")
        length = np.full(b, n, np.int32) if length is None else np.ascontiguousarray(length, dtype=np.int32)
        return _core.mix_batch(self.kind, audio, targets, length, seed, self.alpha, self.p, num_threads)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(alpha={self.alpha!r}, p={self.p!r})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)

    __hash__ = None  # type: ignore[assignment]


class Mixup(BatchMix):
    """Mixup (Zhang et al., 2018) on waveforms: every row becomes
    ``lam * x[i] + (1 - lam) * x[perm[i]]`` and its target likewise, with
    one `lam ~ Beta(alpha, alpha)` and one permutation per batch; a row's
    length becomes the longer of the two.

    Parameters
    ----------
    alpha : float
        Beta parameter (> 0); 0.2-0.4 is usual for audio tagging.
    p : float
        Probability that a batch is mixed.
    """

    kind = "Mixup"

    def __init__(self, alpha: float = 0.4, p: float = 1.0) -> None:
        super().__init__(alpha, p)


class CutMix(BatchMix):
    """CutMix (Yun et al., 2019) in time: a span of ``round((1 - lam) * n)``
    samples at a random start is replaced by the same span of the partner
    row; targets are weighted by the share of the row each source fills.
    A row's length grows to the end of the partner's audio inside the span.

    Parameters
    ----------
    alpha : float
        Beta parameter (> 0); 1.0 (uniform `lam`) is the paper's.
    p : float
        Probability that a batch is mixed.
    """

    kind = "CutMix"

    def __init__(self, alpha: float = 1.0, p: float = 1.0) -> None:
        super().__init__(alpha, p)


def resolve_mixing(augmentations: Any) -> tuple[Any, BatchMix | None]:
    """Split a loader's `augmentations=` into the per-record part and at
    most one batch-level mixer.

    Parameters
    ----------
    augmentations : None, a transform, a `Mixup`/`CutMix`, or a list of them

    Returns
    -------
    per_record : None, a transform or a list of transforms
    mix : BatchMix or None

    Raises
    ------
    ValueError
        More than one batch-level mixer.
    """
    if isinstance(augmentations, BatchMix):
        return None, augmentations
    if not isinstance(augmentations, (list, tuple)):
        return augmentations, None
    mixers = [a for a in augmentations if isinstance(a, BatchMix)]
    if len(mixers) > 1:
        raise ValueError(f"at most one batch-level mixer (Mixup or CutMix), got {mixers}")
    rest: Sequence[Any] = [a for a in augmentations if not isinstance(a, BatchMix)]
    return (list(rest) or None), (mixers[0] if mixers else None)
