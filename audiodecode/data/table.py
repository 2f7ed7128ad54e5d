"""What a data set is: its records, their targets, and the table loaders read.

A record is one training example:

- a **source**: `path`, a str key. By default a local file path; a data
  set whose audio lives elsewhere (shard members, object storage, bytes in
  a table) sets `AudioFiles.source` to an object whose `read(key)` returns
  the encoded bytes, and keeps the keys here.
- an optional **segment**: `offset` seconds into the source and `duration`
  seconds of it. A record with a finite duration is decoded as the window
  `[offset, offset + duration)` (seeking, never the whole file); NaN means
  "to the end of the file" (its length is not known until it is probed).
- **targets**, any of: an integer/str class (`label`, as a class index), a
  set of classes (`labels`, multi-label: a multi-hot vector in a batch), a
  transcript (`text`), and JSON-able metadata passed through untouched
  (`meta`: speaker, language, ...).

`AudioFiles` holds all records as columns (numpy arrays and flat string
buffers, `audiodecode.data.columns`), so a table of millions of records
pickles in milliseconds into Grain's worker processes, and its
`fingerprint` is stable across processes and runs (checkpoints compare it).

This module is the model only and imports no reader: the readers
(`audiodecode.data.manifests`, `audiodecode.data.sources`) and the probe
(`audiodecode.data.durations`) build tables, and
`audiodecode.data.records.audio_files` picks the reader for what a user has.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np

from audiodecode.data.columns import Ragged, Strings, digest

# What a directory scan picks up: the formats the core or its PyAV fallback
# decode. Other files (READMEs, transcripts, .DS_Store) are not records.
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".wave", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".mp4", ".aac",
     ".aif", ".aiff", ".aifc", ".wma", ".webm", ".mka"}
)
MANIFEST_EXTENSIONS = frozenset({".csv", ".tsv", ".jsonl", ".ndjson", ".json"})
UNLABELLED = -1


class ByteSource(Protocol):
    """Where the bytes of a record's key come from, when keys are not local
    paths (tar-shard members, object-store URLs, blobs in a table).

    Implementations must be picklable, thread-safe and have a `__repr__`
    that depends only on what they read (checkpoints compare it).
    """

    def read(self, key: str) -> bytes:
        """The encoded audio of `key` (the whole file; segments are cut
        after decoding starts, by seeking)."""
        ...


class Record(NamedTuple):
    """One record of a data set, as plain Python values.

    Attributes
    ----------
    index : int
        Position in the data set.
    path : str
        Source key: a local path, or a key of `AudioFiles.source`.
    label : int
        Class index into `AudioFiles.classes`; `UNLABELLED` (-1) if none.
    offset : float
        Seconds into the source where the record starts.
    duration : float or None
        Seconds of audio; None: to the end of the source, length unknown
        (NaN in `AudioFiles.durations`; None here so records compare equal).
    text : str or None
        Transcript, if the data set has them.
    labels : tuple of int
        Class indices of a multi-label record (empty otherwise).
    meta : dict
        Other JSON-able fields of the record, passed through untouched.
    """

    index: int
    path: str
    label: int
    offset: float = 0.0
    duration: float | None = None
    text: str | None = None
    labels: tuple[int, ...] = ()
    meta: Mapping[str, Any] = {}


class BadRowError(ValueError):
    """A record (manifest row) that cannot be used: the message names the
    row (manifest line, or list position) and the path, then the reason."""


class SkippedRowsWarning(UserWarning):
    """Rows dropped at start-up (`on_error="skip"`); the message gives the
    count and the first reasons. `AudioFiles.skipped_rows` holds the count."""


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class AudioFiles:
    """The records of a data set, as columns.

    Construct with `audiodecode.data.records.audio_files(...)`; the constructor is for readers of new
    formats. Every column has one entry per record, in data-set order (a
    record's index is its position).

    Attributes
    ----------
    paths : Strings (sequence of str)
        Source keys: local paths, or keys of `source`.
    labels : np.ndarray [shape=(n,)], int32
        `classes[labels[i]]` names the class of record i; `UNLABELLED` (-1)
        where there is none (and for every record of a multi-label set).
    classes : tuple of str
        The class vocabulary: sorted class names, or "0".."k" when the labels
        were integers already.
    offsets : np.ndarray [shape=(n,)], float64
        Start of each record in its source, seconds (0 by default).
    durations : np.ndarray [shape=(n,)], float64
        Length of each record, seconds; NaN where unknown (the record runs
        to the end of its source). A record with a finite duration is
        decoded as `[offset, offset + duration)`; `probe_durations` fills
        the NaNs from the files' headers.
    texts : Strings or None
        One transcript per record, or None when the data set has none.
    label_sets : Ragged or None
        Multi-label sets: `label_sets[i]` is the (k,) int32 array of class
        indices of record i; None for single-label sets.
    metadata : Strings or None
        One JSON object per record (the row's other fields), or None.
    source : ByteSource or None
        How keys become bytes; None: keys are local file paths.
    rows : np.ndarray [shape=(n,)], int64 or None
        Where each record came from: the manifest line (1-based), or the
        position in the list it was built from; error messages name it.
    origin : str or None
        The manifest or directory the records were read from.
    skipped_rows : int
        Rows dropped at start-up as unusable (`on_error="skip"`).
    skip_reasons : tuple of str
        Why, one message per dropped row (naming its line and path).
    """

    paths: Strings
    labels: np.ndarray
    classes: tuple[str, ...]
    offsets: np.ndarray | None = None
    durations: np.ndarray | None = None
    texts: Strings | None = None
    label_sets: Ragged | None = None
    metadata: Strings | None = None
    source: ByteSource | None = None
    rows: np.ndarray | None = None
    origin: str | None = None
    skipped_rows: int = 0
    skip_reasons: tuple[str, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        n = len(self.paths)
        set_ = object.__setattr__  # frozen: columns are normalized once, here
        if not isinstance(self.paths, Strings):
            set_(self, "paths", Strings(os.fspath(p) for p in self.paths))
        set_(self, "labels", _readonly(np.array(self.labels, dtype=np.int32)))
        set_(self, "classes", tuple(str(c) for c in self.classes))
        offsets = np.zeros(n) if self.offsets is None else self.offsets
        durations = np.full(n, np.nan) if self.durations is None else self.durations
        set_(self, "offsets", _readonly(np.array(offsets, dtype=np.float64)))
        set_(self, "durations", _readonly(np.array(durations, dtype=np.float64)))
        if self.texts is not None and not isinstance(self.texts, Strings):
            set_(self, "texts", Strings(self.texts))
        if self.metadata is not None and not isinstance(self.metadata, Strings):
            set_(self, "metadata", Strings(self.metadata))
        if self.rows is not None:
            set_(self, "rows", _readonly(np.array(self.rows, dtype=np.int64)))
        for name in ("labels", "offsets", "durations", "texts", "label_sets", "metadata", "rows"):
            column = getattr(self, name)
            if column is not None and len(column) != n:
                raise ValueError(f"{len(column)} {name} for {n} records")
        if self.label_sets is not None and len(self.label_sets.values) and (
            self.label_sets.values.min() < 0 or self.label_sets.values.max() >= len(self.classes)
        ):
            raise ValueError(f"label_sets index outside the {len(self.classes)} classes")

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Record:
        i = int(index)
        return Record(
            index=i,
            path=self.paths[i],
            label=int(self.labels[i]),
            offset=float(self.offsets[i]),
            duration=float(self.durations[i]) if math.isfinite(self.durations[i]) else None,
            text=None if self.texts is None else self.texts[i],
            labels=() if self.label_sets is None else tuple(self.label_sets[i].tolist()),
            meta=self.meta(i),
        )

    @property
    def multi_label(self) -> bool:
        """Whether records carry sets of classes (`label_sets`)."""
        return self.label_sets is not None

    def meta(self, index: int) -> dict[str, Any]:
        """Record `index`'s metadata (the row's other fields); {} if none."""
        return {} if self.metadata is None else json.loads(self.metadata[int(index)])

    def describe(self, index: int) -> str:
        """Where record `index` came from, for messages: "m.jsonl line 7
        (clips/a.wav)", or "record 7 (clips/a.wav)" (its position in the
        list or directory it was built from)."""
        path = self.paths[int(index)]
        if self.rows is None or not self.origin or Path(self.origin).suffix.lower() not in MANIFEST_EXTENSIONS:
            return f"record {int(index) if self.rows is None else int(self.rows[int(index)])} ({path})"
        return f"{self.origin} line {int(self.rows[int(index)])} ({path})"

    def targets(self, indices: np.ndarray | Sequence[int]) -> dict[str, np.ndarray]:
        """The class targets of a batch of records, as arrays.

        Parameters
        ----------
        indices : array-like [shape=(b,)], int
            Data-set indices.

        Returns
        -------
        dict
            "label": (b,) int32 class indices (`UNLABELLED` where none; all
            of them in a multi-label set); and for a multi-label set
            "labels": (b, len(classes)) float32 multi-hot vectors.
            Transcripts are not here: see `texts` and `audiodecode.data.text`.
        """
        indices = np.asarray(indices, dtype=np.int64)
        if self.label_sets is not None:
            return {"label": self.labels[indices], "labels": self.label_sets.multi_hot(indices, len(self.classes))}
        return {"label": self.labels[indices]}

    @cached_property
    def fingerprint(self) -> str:
        """A short hash of every record (keys, segments, targets, metadata,
        source): equal for equal data sets, in every process and run
        (checkpoints compare it)."""
        return digest(
            self.paths, self.labels, self.classes, self.offsets, self.durations,
            self.texts, self.label_sets, self.metadata, None if self.source is None else repr(self.source),
        )

    def __repr__(self) -> str:
        kinds = [k for k, v in (("text", self.texts), ("multi-label", self.label_sets), ("meta", self.metadata)) if v is not None]
        extra = f", targets={'+'.join(kinds)}" if kinds else ""
        skipped = f", skipped_rows={self.skipped_rows}" if self.skipped_rows else ""
        return (f"AudioFiles(n={len(self)}, classes={len(self.classes)}{extra}{skipped}, "
                f"fingerprint={self.fingerprint!r})")

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "fingerprint"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def subset(self, indices: np.ndarray | Sequence[int]) -> AudioFiles:
        """The records at `indices` (in that order), as a new data set with
        the same classes, source and origin (e.g. a train/validation split).

        Parameters
        ----------
        indices : array-like [shape=(m,)], int
        """
        picks = np.asarray(indices, dtype=np.int64).reshape(-1)
        if len(picks) and (picks.min() < -len(self) or picks.max() >= len(self)):
            raise IndexError(f"subset index out of range for {len(self)} records")
        return replace(
            self,
            paths=self.paths[picks],
            labels=self.labels[picks],
            offsets=self.offsets[picks],
            durations=self.durations[picks],
            texts=None if self.texts is None else self.texts[picks],
            label_sets=None if self.label_sets is None else self.label_sets.take(picks),
            metadata=None if self.metadata is None else self.metadata[picks],
            rows=None if self.rows is None else self.rows[picks],
        )

    def shard(self, index: int, count: int) -> np.ndarray:
        """The record indices one of `count` readers owns.

        Records are dealt round-robin (`index, index + count, ...`), so each
        shard has a share of every class of a sorted data set, and cut to
        `len(self) // count`: every shard yields the same number of
        batches, which a multi-process step needs. Shards are disjoint and
        cover all but `len(self) % count` records.

        Returns
        -------
        np.ndarray [shape=(len(self) // count,)], int64
        """
        if not 0 <= index < count:
            raise ValueError(f"shard index {index} is not in [0, {count})")
        per_shard = len(self) // count
        if per_shard == 0:
            raise ValueError(f"{len(self)} files cannot fill {count} shards")
        return np.arange(index, len(self), count, dtype=np.int64)[:per_shard]


def vocabulary(names: Sequence | None, n: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """Integer labels and the class names they index.

    Labels that are all integers (or integer strings) are kept as they are,
    with classes "0".."max"; names are numbered in sorted order.

    Returns
    -------
    labels : np.ndarray [shape=(n,)], int32
        `UNLABELLED` everywhere when `names` is None.
    classes : tuple of str
    """
    if names is None:
        return np.full(n, UNLABELLED, dtype=np.int32), ()
    if all(_is_int(x) for x in names):
        ids = np.array([int(x) for x in names], dtype=np.int64)
        if len(ids) and ids.min() < 0:
            raise ValueError(f"integer labels must be >= 0, got {ids.min()}")
        return ids.astype(np.int32), tuple(str(i) for i in range(int(ids.max()) + 1 if len(ids) else 0))
    classes = tuple(sorted({str(x) for x in names}))
    lookup = {c: i for i, c in enumerate(classes)}
    return np.array([lookup[str(x)] for x in names], dtype=np.int32), classes


def _is_int(x: object) -> bool:
    if isinstance(x, (bool, np.bool_)):
        return False
    if isinstance(x, (int, np.integer)):
        return True
    return isinstance(x, str) and x.strip().lstrip("-").isdigit()
