"""Collation: clips into padded arrays, with lengths, a row mask and tokens.

Every batch a reader makes passes through here, in the fixed-clip mode and
in duration buckets alike, so padding follows one rule: audio is padded
with zeros at the end (an augmentation that lengthened a clip is cut back
to the row width), missing rows (a bucket's last, partial batch) are zeros
with `mask` False, label -1 and no tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from audiodecode.data.text import PAD_ID, TextTransform, encode_batch

# What fills a missing row of each target.
ROW_FILL = {"label": -1, "index": -1}


def pad_clips(ys: Sequence[np.ndarray], width: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Rows of `width` samples (or the longest clip's), zero-padded at the end.

    Returns
    -------
    audio : np.ndarray [shape=(len(ys), width)], float32
    length : np.ndarray [shape=(len(ys),)], int32
        Valid samples per row (cut to `width`).
    """
    lengths = [len(y) for y in ys]
    width = width if width is not None else max(lengths, default=0)
    audio = np.zeros((len(ys), width), dtype=np.float32)
    for row, y in zip(audio, ys):
        n = min(len(y), width)
        row[:n] = y[:n]
    return audio, np.minimum(np.array(lengths, dtype=np.int64), width).astype(np.int32)


def pad_rows(batch: dict[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
    """`batch` with `rows` rows: missing rows filled (`ROW_FILL`, else 0) and
    a boolean `"mask"` that is True for the real ones.

    Parameters
    ----------
    batch : dict of np.ndarray, each (b, ...) with b <= rows
    rows : int
    """
    n = len(batch["length"])
    if n > rows:
        raise ValueError(f"a batch of {n} rows does not fit {rows}")
    out = {}
    for key, value in batch.items():
        padded = np.full((rows, *value.shape[1:]), ROW_FILL.get(key, 0), dtype=value.dtype)
        padded[:n] = value
        out[key] = padded
    out["mask"] = np.arange(rows) < n
    return out


def tokens(
    texts: Sequence[str], text_transform: TextTransform, rows: int | None = None, width: int | None = None
) -> dict[str, np.ndarray]:
    """`"tokens"` (rows, width) int32 padded with the pad id, and
    `"token_length"` (rows,) int32 (0 for missing rows)."""
    ids, length = encode_batch(texts, text_transform, pad_id=PAD_ID, width=width)
    if rows is not None and rows > len(texts):
        ids = np.concatenate([ids, np.full((rows - len(texts), ids.shape[1]), PAD_ID, dtype=np.int32)])
        length = np.concatenate([length, np.zeros(rows - len(texts), dtype=np.int32)])
    return {"tokens": ids, "token_length": length}
