"""The probed records of a job as columns, for corpora of millions of files.

A record dict costs about 700 bytes in memory and 300 in JSON; ten
million of them, held from the probe to the end of the job and stored in
the plan, would take 7 GB and a 3 GB plan. `RecordTable` keeps the good
records' fields (the manifest's: path, offset, duration, label, text,
row; the probe's: rate, channels, codec, bits, seconds, size estimate) in
numpy arrays and `Strings`, about 100 bytes a record beyond its path and
text, and makes a record's dict only when its shard is written
(`record`), exactly as the probe gave it. It is stored in the plan as one
``.npz`` and pickles by its buffers (Ray tasks get it whole).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from audiodecode.data.columns import Strings

# Stands for None in an integer column (row, bits_in) or a vocabulary code.
NONE = -1
_INTS = ("index", "row", "sr_in", "channels_in", "bits_in", "est_bytes")
_FLOATS = ("offset", "duration", "seconds", "total")


def _concat(parts: Sequence[Strings]) -> Strings:
    """One `Strings` of `parts` back to back (their buffers joined)."""
    data, ends, base = [], [np.zeros(1, dtype=np.int64)], 0
    for part in parts:
        d, e = part.buffers()
        data.append(d)
        ends.append(e[1:] + base)
        base += len(d)
    return Strings.from_buffers(b"".join(data), np.concatenate(ends))


@dataclass(frozen=True)
class RecordTable:
    """Good records and their probe, one row each, in record order.

    Attributes
    ----------
    ints : dict of str to np.ndarray, int64
        index, row, sr_in, channels_in, bits_in, est_bytes (`NONE`: None).
    floats : dict of str to np.ndarray, float64
        offset, duration (NaN: None), seconds, total.
    path, text : Strings
        The record's path; its transcript ("" where `has_text` is False).
    has_text : np.ndarray, bool
    label, codec : np.ndarray, int32
        Codes into `labels` and `codecs` (`NONE`: None).
    labels, codecs : tuple of str
    """

    ints: dict[str, np.ndarray]
    floats: dict[str, np.ndarray]
    path: Strings
    text: Strings
    has_text: np.ndarray
    label: np.ndarray
    codec: np.ndarray
    labels: tuple[str, ...]
    codecs: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.path)

    @property
    def seconds(self) -> np.ndarray:
        return self.floats["seconds"]

    @property
    def est_bytes(self) -> np.ndarray:
        return self.ints["est_bytes"]

    def record(self, i: int) -> dict[str, Any]:
        """Row `i` as the probe's dict (what `convert` and the shard writer take)."""
        ints = {k: int(v[i]) for k, v in self.ints.items()}
        duration = float(self.floats["duration"][i])
        label, codec = int(self.label[i]), int(self.codec[i])
        return {
            "index": ints["index"], "path": self.path[i], "offset": float(self.floats["offset"][i]),
            "duration": None if math.isnan(duration) else duration,
            "label": None if label == NONE else self.labels[label],
            "text": self.text[i] if self.has_text[i] else None,
            "row": None if ints["row"] == NONE else ints["row"],
            "sr_in": ints["sr_in"], "channels_in": ints["channels_in"],
            "codec": None if codec == NONE else self.codecs[codec],
            "bits_in": None if ints["bits_in"] == NONE else ints["bits_in"],
            "seconds": float(self.floats["seconds"][i]), "total": float(self.floats["total"][i]),
            "est_bytes": ints["est_bytes"],
        }

    def to_bytes(self, **extra: np.ndarray) -> bytes:
        """The table, and `extra` arrays, as one ``.npz`` (`from_bytes` reads them back)."""
        path, ends = self.path.buffers()
        text, text_ends = self.text.buffers()
        arrays = {f"i_{k}": v for k, v in self.ints.items()} | {f"f_{k}": v for k, v in self.floats.items()}
        buffer = io.BytesIO()
        np.savez(buffer, **arrays, path=np.frombuffer(path, dtype=np.uint8), path_ends=ends,
                 text=np.frombuffer(text, dtype=np.uint8), text_ends=text_ends, has_text=self.has_text,
                 label=self.label, codec=self.codec, labels=np.array(self.labels, dtype=str),
                 codecs=np.array(self.codecs, dtype=str), **{f"x_{k}": v for k, v in extra.items()})
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> tuple[RecordTable, dict[str, np.ndarray]]:
        """The table and the `extra` arrays `to_bytes` was given."""
        z = np.load(io.BytesIO(data), allow_pickle=False)
        extra = {k[2:]: z[k] for k in z.files if k.startswith("x_")}
        return cls(
            ints={k: z[f"i_{k}"] for k in _INTS}, floats={k: z[f"f_{k}"] for k in _FLOATS},
            path=Strings.from_buffers(z["path"].tobytes(), z["path_ends"].copy()),
            text=Strings.from_buffers(z["text"].tobytes(), z["text_ends"].copy()), has_text=z["has_text"],
            label=z["label"], codec=z["codec"], labels=tuple(str(s) for s in z["labels"]),
            codecs=tuple(str(s) for s in z["codecs"]),
        ), extra


class TableBuilder:
    """A `RecordTable` made from the probe's answers, a batch at a time, so
    no more than a batch of record dicts exists at once."""

    def __init__(self) -> None:
        self._parts: list[dict[str, Any]] = []
        self._labels: dict[str, int] = {}
        self._codecs: dict[str, int] = {}

    @staticmethod
    def _code(vocabulary: dict[str, int], value: str | None) -> int:
        return NONE if value is None else vocabulary.setdefault(value, len(vocabulary))

    def add(self, probed: Sequence[dict[str, Any]]) -> None:
        """Append the good records (the ``"ok"`` dicts of `probe_many`), in order."""
        if not probed:
            return
        none = float("nan")
        self._parts.append({
            "ints": {k: np.array([NONE if r[k] is None else r[k] for r in probed], dtype=np.int64) for k in _INTS},
            "floats": {k: np.array([none if r[k] is None else r[k] for r in probed], dtype=np.float64)
                       for k in _FLOATS},
            "path": Strings(r["path"] for r in probed),
            "text": Strings(r["text"] or "" for r in probed),
            "has_text": np.array([r["text"] is not None for r in probed], dtype=bool),
            "label": np.array([self._code(self._labels, r["label"]) for r in probed], dtype=np.int32),
            "codec": np.array([self._code(self._codecs, r["codec"]) for r in probed], dtype=np.int32),
        })

    def build(self) -> RecordTable:
        parts = self._parts

        def cat(key: str, dtype: type) -> np.ndarray:
            return np.concatenate([p[key] for p in parts]) if parts else np.zeros(0, dtype=dtype)

        return RecordTable(
            ints={k: np.concatenate([p["ints"][k] for p in parts]) if parts else np.zeros(0, np.int64)
                  for k in _INTS},
            floats={k: np.concatenate([p["floats"][k] for p in parts]) if parts else np.zeros(0, np.float64)
                    for k in _FLOATS},
            path=_concat([p["path"] for p in parts]), text=_concat([p["text"] for p in parts]),
            has_text=cat("has_text", bool), label=cat("label", np.int32), codec=cat("codec", np.int32),
            labels=tuple(self._labels), codecs=tuple(self._codecs),
        )
