"""Labelled audio data sets: the records a training loader reads.

`audio_files` turns what users have into one `AudioFiles` (paths, integer
labels and the label vocabulary):

- a directory whose sub-folders are the classes (``root/dog/1.mp3``),
- a CSV or JSON Lines manifest with a path and a label column,
- a list of paths, with an optional list of labels.

The loaders of both adapters (`audiodecode.jax.loader`, the torch one)
start from it, so the same inputs give the same records in the same order.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Union

import numpy as np

StrPath = Union[str, "os.PathLike[str]"]

# What a directory scan picks up: the formats the core or its PyAV fallback
# decode. Other files (READMEs, transcripts, .DS_Store) are not records.
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".wave", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".mp4", ".aac",
     ".aif", ".aiff", ".aifc", ".wma", ".webm", ".mka"}
)
MANIFEST_EXTENSIONS = frozenset({".csv", ".tsv", ".jsonl", ".ndjson"})
UNLABELLED = -1


class Record(NamedTuple):
    """One file of a data set: its position in the data set, path and label."""

    index: int
    path: str
    label: int


@dataclass(frozen=True, eq=False)
class AudioFiles:
    """A list of audio files with integer labels.

    Attributes
    ----------
    paths : tuple of str
        The files, in data-set order (a record's index is its position).
    labels : np.ndarray [shape=(n,)], int32
        `classes[labels[i]]` names the class of `paths[i]`; `UNLABELLED` (-1)
        where there is no label.
    classes : tuple of str
        The label vocabulary: sorted class names, or "0".."k" when the labels
        were integers already.
    """

    paths: tuple[str, ...]
    labels: np.ndarray
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.labels) != len(self.paths):
            raise ValueError(f"{len(self.labels)} labels for {len(self.paths)} files")
        self.labels.setflags(write=False)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Record:
        return Record(int(index), self.paths[index], int(self.labels[index]))

    @property
    def fingerprint(self) -> str:
        """A short hash of the paths and labels: equal for equal data sets,
        in every process and run (checkpoints compare it)."""
        h = hashlib.sha1()
        for path, label in zip(self.paths, self.labels.tolist()):
            h.update(f"{path}\0{label}\n".encode())
        return h.hexdigest()[:16]

    def __repr__(self) -> str:
        return f"AudioFiles(n={len(self)}, classes={len(self.classes)}, fingerprint={self.fingerprint!r})"

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


def audio_files(
    files: StrPath | Sequence[StrPath] | AudioFiles,
    labels: Sequence[int | str] | None = None,
    *,
    path_column: str = "path",
    label_column: str = "label",
) -> AudioFiles:
    """Collect the records of a data set.

    Parameters
    ----------
    files : path, sequence of paths or AudioFiles
        - a directory: every audio file below it (by extension), sorted; the
          name of the top-level sub-folder a file is in is its label. A
          directory with audio files only at its top level is unlabelled.
        - a ``.csv``/``.tsv`` or ``.jsonl``/``.ndjson`` manifest: one row per
          file; relative paths are relative to the manifest's folder; the
          label column is optional.
        - a sequence of file paths, labelled by `labels`.
    labels : sequence of int or str, optional
        One label per path when `files` is a sequence.
    path_column, label_column : str
        Manifest column (or JSON key) names.

    Returns
    -------
    AudioFiles
        Integer labels: labels that are all integers (or integer strings in
        a CSV) are kept as they are; names are numbered in sorted order.

    Raises
    ------
    ValueError
        No audio files, a manifest without the path column, labels that do
        not match the files, or audio files both at a directory's top level
        and in its sub-folders (labelled and unlabelled at once).
    FileNotFoundError
        `files` names a path that does not exist.
    """
    if isinstance(files, AudioFiles):
        if labels is not None:
            raise ValueError("labels must be None when files is an AudioFiles")
        return files
    if isinstance(files, (str, os.PathLike)):
        root = Path(files)
        if labels is not None:
            raise ValueError("labels are only for a list of files; a directory or manifest carries its own")
        if root.is_dir():
            paths, names = _scan(root)
        elif root.suffix.lower() in MANIFEST_EXTENSIONS:
            paths, names = _read_manifest(root, path_column, label_column)
        elif root.exists():
            raise ValueError(f"{root} is neither a directory nor a manifest ({', '.join(sorted(MANIFEST_EXTENSIONS))})")
        else:
            raise FileNotFoundError(root)
    else:
        paths = [os.fspath(p) for p in files]
        if labels is not None and len(labels) != len(paths):
            raise ValueError(f"{len(labels)} labels for {len(paths)} files")
        names = list(labels) if labels is not None else None
    if not paths:
        raise ValueError(f"no audio files in {files!r}")
    ids, classes = _vocabulary(names, len(paths))
    return AudioFiles(tuple(paths), ids, classes)


def _scan(root: Path) -> tuple[list[str], list[str] | None]:
    found: list[tuple[str, ...]] = []
    for directory, subdirs, filenames in os.walk(root):
        subdirs[:] = [d for d in subdirs if not d.startswith(".")]
        rel = Path(directory).relative_to(root).parts
        found += [(*rel, f) for f in filenames if not f.startswith(".") and Path(f).suffix.lower() in AUDIO_EXTENSIONS]
    found.sort()
    nested = [parts for parts in found if len(parts) > 1]
    if nested and len(nested) != len(found):
        top = next(parts[0] for parts in found if len(parts) == 1)
        raise ValueError(
            f"{root} has audio files in class sub-folders and at its top level ({top}); "
            "move them into a class folder or list the files explicitly"
        )
    paths = [str(root.joinpath(*parts)) for parts in found]
    return paths, ([parts[0] for parts in found] if nested else None)


def _read_manifest(manifest: Path, path_column: str, label_column: str) -> tuple[list[str], list | None]:
    if manifest.suffix.lower() in (".jsonl", ".ndjson"):
        with open(manifest, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
    else:
        with open(manifest, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f, delimiter="\t" if manifest.suffix.lower() == ".tsv" else ","))
    if rows and path_column not in rows[0]:
        raise ValueError(f"{manifest} has no {path_column!r} column (columns: {', '.join(rows[0])})")
    base = manifest.parent
    paths = [str(base / row[path_column]) for row in rows]
    has_labels = bool(rows) and label_column in rows[0]
    return paths, ([row[label_column] for row in rows] if has_labels else None)


def _vocabulary(names: Sequence | None, n: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """Integer labels and the class names they index."""
    if names is None:
        return np.full(n, UNLABELLED, dtype=np.int32), ()
    if all(_is_int(x) for x in names):
        ids = np.array([int(x) for x in names], dtype=np.int64)
        if ids.min() < 0:
            raise ValueError(f"integer labels must be >= 0, got {ids.min()}")
        return ids.astype(np.int32), tuple(str(i) for i in range(int(ids.max()) + 1))
    classes = tuple(sorted({str(x) for x in names}))
    lookup = {c: i for i, c in enumerate(classes)}
    return np.array([lookup[str(x)] for x in names], dtype=np.int32), classes


def _is_int(x: object) -> bool:
    if isinstance(x, (bool, np.bool_)):
        return False
    if isinstance(x, (int, np.integer)):
        return True
    return isinstance(x, str) and x.strip().lstrip("-").isdigit()
