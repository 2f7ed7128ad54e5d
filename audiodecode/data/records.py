"""Records from what users have: `audio_files` builds a data set's table.

A directory of class folders, a list of paths (with labels), a list of
dicts, or a manifest (NeMo JSONL, CSV/TSV; see `audiodecode.data.manifests`)
become one `AudioFiles` table (`audiodecode.data.table`). Both loaders start
from it, so the same inputs give the same records in the same order.

The model's names are re-exported here, so `from audiodecode.data.records
import AudioFiles, audio_files` is the one import a user needs. The
dependencies run one way: this module -> `manifests` -> `durations` ->
`table`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from audiodecode._typing import OnError, StrPath
from audiodecode.data import manifests
from audiodecode.data.durations import finish
from audiodecode.data.rows import Columns, table_from_lists
from audiodecode.data.table import (
    AUDIO_EXTENSIONS,
    MANIFEST_EXTENSIONS,
    UNLABELLED,
    AudioFiles,
    BadRowError,
    ByteSource,
    Record,
    SkippedRowsWarning,
    vocabulary,
)

__all__ = [
    "AUDIO_EXTENSIONS",
    "MANIFEST_EXTENSIONS",
    "UNLABELLED",
    "AudioFiles",
    "BadRowError",
    "ByteSource",
    "OnError",
    "Record",
    "SkippedRowsWarning",
    "StrPath",
    "audio_files",
    "vocabulary",
]


def audio_files(
    files: StrPath | Sequence[StrPath] | Sequence[Mapping[str, Any]] | AudioFiles,
    labels: Sequence[int | str | Sequence[int | str]] | None = None,
    *,
    path_column: str | None = None,
    label_column: str | None = None,
    text_column: str | None = None,
    offset_column: str | None = None,
    duration_column: str | None = None,
    label_separator: str | None = None,
    probe: bool | None = None,
    on_error: OnError = "raise",
    duration_cache: StrPath | bool = True,
    num_threads: int | None = None,
    audio_root: StrPath | None = None,
) -> AudioFiles:
    """Collect the records of a data set.

    Parameters
    ----------
    files : path, sequence of paths, sequence of dicts, or AudioFiles
        - a directory: every audio file below it (by extension), sorted; the
          name of the top-level sub-folder a file is in is its label. A
          directory with audio files only at its top level is unlabelled.
        - a manifest: NeMo-style JSON Lines (``.jsonl``/``.ndjson``/``.json``,
          one object per line), or CSV/TSV with a header (``.csv``/``.tsv``);
          see `audiodecode.data.manifests.read_manifest` for the columns it
          recognizes. Relative paths resolve against the manifest's folder.
        - a sequence of file paths, labelled by `labels`.
        - a sequence of dicts, one per record, with the keys of a JSONL
          manifest row (relative paths resolve against the working folder).
    labels : sequence, optional
        One label per path when `files` is a sequence of paths: an int or
        str class, or a list of them (multi-label).
    path_column, label_column, text_column, offset_column, duration_column : str, optional
        Manifest column (JSON key) names; None recognizes the usual ones
        (``audio_filepath``/``path``, ``label``, ``text``/``sentence``,
        ``offset``, ``duration``).
    label_separator : str, optional
        Splits a CSV label cell into several classes (multi-label), e.g. ",".
        (A JSON list is multi-label without it.)
    probe : bool or None
        Read every record's header once (`audiodecode.info`, in parallel) to
        fill missing durations and to find missing or unreadable files and
        offsets past the end at start-up. None: probe manifests and dict
        lists, not directories and path lists (whose bad files are handled
        while reading, as before).
    on_error : {"raise", "skip"}
        A bad row (missing or unreadable file, negative or NaN duration or
        offset, offset past the end, empty transcript) raises `BadRowError`
        naming the row; "skip" drops it, warns once with the count
        (`SkippedRowsWarning`) and counts it in `skipped_rows`.
    duration_cache : path or bool
        Where probed durations are remembered (keyed by each file's size
        and modification time): True, next to the manifest (or under
        ``~/.cache/audiodecode/durations`` when its folder is read-only);
        a path; False to probe every time.
    num_threads : int, optional
        Threads for probing; None: a few per core.
    audio_root : path, optional
        Where a manifest's relative paths point (relative to its folder);
        None: the manifest's folder, or its ``clips`` sub-folder for
        Common Voice's layout (see `audiodecode.data.manifests.read_manifest`).

    Returns
    -------
    AudioFiles
        Integer labels: labels that are all integers (or integer strings in
        a CSV) are kept as they are; names are numbered in sorted order.

    Raises
    ------
    ValueError
        No audio files, a manifest without a path column, labels that do
        not match the files, or audio files both at a directory's top level
        and in its sub-folders (labelled and unlabelled at once).
    BadRowError
        A bad row, with `on_error="raise"`.
    FileNotFoundError
        `files` names a path that does not exist.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    columns = Columns(path_column, label_column, text_column, offset_column, duration_column, label_separator)
    options = dict(probe=probe, on_error=on_error, duration_cache=duration_cache, num_threads=num_threads)
    if audio_root is not None and not (isinstance(files, (str, os.PathLike)) and Path(files).is_file()):
        raise ValueError("audio_root is for a manifest file")
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
            if not paths:
                raise ValueError(f"no audio files in {files!r}")
            return finish(
                table_from_lists(paths, names, origin=str(root)), **{**options, "probe": bool(probe)}
            )
        if root.suffix.lower() in MANIFEST_EXTENSIONS:
            return manifests.read_manifest(root, columns, audio_root=audio_root, **options)
        if root.exists():
            raise ValueError(f"{root} is neither a directory nor a manifest ({', '.join(sorted(MANIFEST_EXTENSIONS))})")
        raise FileNotFoundError(root)
    items = list(files)
    if items and all(isinstance(x, Mapping) for x in items):
        if labels is not None:
            raise ValueError("labels must be None when files are dicts; put a label key in each")
        return manifests.read_rows(
            [(i, dict(x)) for i, x in enumerate(items)], columns, base=None, origin=None, **options
        )
    paths = [os.fspath(p) for p in items]
    if labels is not None and len(labels) != len(paths):
        raise ValueError(f"{len(labels)} labels for {len(paths)} files")
    if not paths:
        raise ValueError(f"no audio files in {files!r}")
    table = table_from_lists(paths, None if labels is None else list(labels), origin=None)
    return finish(table, **{**options, "probe": bool(probe)})


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
