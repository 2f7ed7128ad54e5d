"""Padding clips into a batch of static shape: audio, lengths, row mask and
valid feature frames. Host-side numpy only (the adapters move it to a device).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from audiodecode import filters


def pad_rows(ys: Sequence[np.ndarray], width: int, rows: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clips as rows of `width` samples, and the batch padded to `rows` rows.

    A clip longer than `width` is cut to its first `width` samples (the
    bucket's "cut" policy, or an augmentation that lengthened it).

    Parameters
    ----------
    ys : sequence of np.ndarray [shape=(n_i,)], float32
    width : int >= 0
        Samples per row.
    rows : int, optional
        Rows of the batch, >= len(ys); default len(ys). Extra rows are zeros.

    Returns
    -------
    audio : np.ndarray [shape=(rows, width)], float32
    lengths : np.ndarray [shape=(rows,)], int32
        Valid samples per row (0 for padding rows).
    mask : np.ndarray [shape=(rows,)], bool
        True for real rows.
    """
    rows = len(ys) if rows is None else rows
    if rows < len(ys):
        raise ValueError(f"{len(ys)} clips do not fit a batch of {rows} rows")
    if width < 0:
        raise ValueError(f"width must be >= 0, got {width}")
    audio = np.zeros((rows, width), dtype=np.float32)
    lengths = np.zeros(rows, dtype=np.int32)
    for i, y in enumerate(ys):
        n = min(len(y), width)
        audio[i, :n] = y[:n]
        lengths[i] = n
    mask = np.zeros(rows, dtype=bool)
    mask[: len(ys)] = True
    return audio, lengths, mask


def feature_lengths(lengths: np.ndarray, *, n_fft: int, hop_length: int, center: bool = True) -> np.ndarray:
    """Valid feature frames of each row: the frames the feature functions
    (`audiodecode.jax.features`, librosa) make from `lengths[i]` samples alone.

    Frames beyond it see only padding. A row of 0 samples (a padding row), or
    one too short for an uncentred frame, has 0 valid frames.

    Parameters
    ----------
    lengths : np.ndarray [shape=(rows,)], int
    n_fft, hop_length : int > 0
    center : bool

    Returns
    -------
    np.ndarray [shape=(rows,)], int32
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    out = np.zeros(lengths.shape, dtype=np.int32)
    for i, n in enumerate(lengths.tolist()):
        padded = n + 2 * (n_fft // 2) if center else n
        if n > 0 and padded >= n_fft:
            out[i] = filters.frame_count(n, n_fft, hop_length, center)
    return out


def multi_hot(label_sets: Sequence[Sequence[int]], num_classes: int, rows: int | None = None) -> np.ndarray:
    """Multi-label targets as a (rows, num_classes) float32 0/1 matrix.

    Parameters
    ----------
    label_sets : sequence of sequence of int
        Class indices of each clip, each in [0, num_classes).
    num_classes : int
    rows : int, optional
        Batch rows (padding rows are all zero); default len(label_sets).

    Returns
    -------
    np.ndarray [shape=(rows, num_classes)], float32
    """
    rows = len(label_sets) if rows is None else rows
    out = np.zeros((rows, num_classes), dtype=np.float32)
    for i, labels in enumerate(label_sets):
        for c in labels:
            if not 0 <= c < num_classes:
                raise ValueError(f"label {c} of row {i} is outside [0, {num_classes})")
            out[i, c] = 1.0
    return out
