"""Manifests as they are: NeMo JSON Lines, CSV/TSV with a header, lists.

    {"audio_filepath": "a.flac", "duration": 3.2, "offset": 0.0, "text": "hello"}   # NeMo JSONL
    path<TAB>sentence<TAB>...                                                      # Common Voice TSV
    id,path,duration,text                                                          # LibriSpeech-like CSV

Columns are recognized by name (the first present of each alias list, or
the name given); every other column is metadata, passed through as JSON.
Each row becomes one record of an `AudioFiles` table; rows that cannot be
used (no path, bad numbers, empty transcript; and, once probed, missing or
unreadable files and offsets past the end) raise `BadRowError` naming the
line, or are dropped with `on_error="skip"`.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from audiodecode._typing import OnError, StrPath
from audiodecode.data.columns import Ragged, Strings
from audiodecode.data.durations import finish
from audiodecode.data.table import AudioFiles, vocabulary

PATH_COLUMNS = ("audio_filepath", "path", "audio_path", "audio", "file", "filename", "wav")
LABEL_COLUMNS = ("label", "labels", "class")
TEXT_COLUMNS = ("text", "sentence", "transcript", "transcription", "normalized_text")
OFFSET_COLUMNS = ("offset",)
DURATION_COLUMNS = ("duration",)


@dataclass(frozen=True)
class Columns:
    """Which manifest columns hold what; None recognizes the usual names
    (`PATH_COLUMNS`, `LABEL_COLUMNS`, `TEXT_COLUMNS`, "offset", "duration")."""

    path: str | None = None
    label: str | None = None
    text: str | None = None
    offset: str | None = None
    duration: str | None = None
    label_separator: str | None = None

    def resolve(self, keys: Sequence[str], origin: str) -> dict[str, str | None]:
        """The column name of each role among `keys`, or None if absent."""

        def pick(given: str | None, aliases: tuple[str, ...], role: str, required: bool = False) -> str | None:
            if given is not None:
                if given not in keys:
                    if required or role != "path":
                        raise ValueError(f"{origin} has no {given!r} column (columns: {', '.join(keys)})")
                return given
            found = next((a for a in aliases if a in keys), None)
            if found is None and required:
                raise ValueError(
                    f"{origin} has no path column: none of {', '.join(aliases)} (columns: {', '.join(keys)}); "
                    "name it with path_column="
                )
            return found

        return {
            "path": pick(self.path, PATH_COLUMNS, "path", required=True),
            "label": pick(self.label, LABEL_COLUMNS, "label"),
            "text": pick(self.text, TEXT_COLUMNS, "text"),
            "offset": pick(self.offset, OFFSET_COLUMNS, "offset"),
            "duration": pick(self.duration, DURATION_COLUMNS, "duration"),
        }


def read_manifest(
    manifest: StrPath,
    columns: Columns = Columns(),
    *,
    probe: bool | None = None,
    on_error: OnError = "raise",
    duration_cache: StrPath | bool = True,
    num_threads: int | None = None,
    audio_root: StrPath | None = None,
) -> AudioFiles:
    """Read a JSONL, CSV or TSV manifest into an `AudioFiles` table.

    Parameters
    ----------
    manifest : path
        ``.jsonl``/``.ndjson``/``.json``: one JSON object per line (a
        ``.json`` file holding one JSON array also works); ``.csv``/``.tsv``:
        a header line, then one row per record (TSV is read without quote
        handling, as Common Voice writes it).
    columns : Columns
        Column names (see `audiodecode.data.records.audio_files`).
    probe, on_error, duration_cache, num_threads
        As in `audiodecode.data.records.audio_files`; `probe=None` probes.
    audio_root : path, optional
        The folder relative paths resolve against (relative to the
        manifest's folder). None: the manifest's folder, or its ``clips``
        sub-folder when the first row's file is there and not beside the
        manifest (Common Voice's layout: ``validated.tsv`` lists
        ``clips/``' file names).

    Returns
    -------
    AudioFiles
        One record per usable row, in file order; `rows` holds each one's
        line number and `origin` the manifest's path.
    """
    manifest = Path(manifest)
    if not manifest.is_file():
        raise FileNotFoundError(manifest)
    suffix = manifest.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        rows, bad = _json_rows(manifest)
    elif suffix in (".csv", ".tsv"):
        rows, bad = _csv_rows(manifest, "\t" if suffix == ".tsv" else ",")
    else:
        raise ValueError(f"{manifest}: not a manifest (.jsonl, .ndjson, .json, .csv, .tsv)")
    base = str(_audio_root(manifest, rows, columns, audio_root))
    return read_rows(rows, columns, base=base, origin=str(manifest), probe=probe, on_error=on_error,
                     duration_cache=duration_cache, num_threads=num_threads, bad=bad)


def _audio_root(manifest: Path, rows: list[tuple[int, dict]], columns: Columns, audio_root: StrPath | None) -> Path:
    """The folder relative paths of `manifest` resolve against."""
    folder = manifest.parent
    if audio_root is not None:
        return folder / audio_root
    if not rows:
        return folder
    try:
        column = columns.resolve(list(rows[0][1]), str(manifest))["path"]
    except ValueError:
        return folder  # read_rows reports the missing column
    first = rows[0][1].get(column)
    if isinstance(first, str) and first.strip() and not os.path.isabs(first.strip()):
        first = first.strip()
        if not (folder / first).exists() and (folder / "clips" / first).exists():
            return folder / "clips"
    return folder


def _json_rows(manifest: Path) -> tuple[list[tuple[int, dict]], list[tuple[int, str]]]:
    text = manifest.read_text(encoding="utf-8-sig")  # -sig: a byte-order mark is not data
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{manifest}: not valid JSON: {err}") from None
        rows = [(i + 1, x) for i, x in enumerate(items)]
        lines: list[tuple[int, str]] = []
    else:
        rows, lines = [], [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    bad: list[tuple[int, str]] = []
    for n, line in lines:
        try:
            rows.append((n, json.loads(line)))
        except json.JSONDecodeError as err:
            bad.append((n, f"{manifest} line {n}: not a JSON object ({err.msg})"))
    for n, row in rows:
        if not isinstance(row, dict):
            bad.append((n, f"{manifest} line {n}: not a JSON object"))
    return [(n, row) for n, row in rows if isinstance(row, dict)], bad


def _csv_rows(manifest: Path, delimiter: str) -> tuple[list[tuple[int, dict]], list[tuple[int, str]]]:
    rows: list[tuple[int, dict]] = []
    bad: list[tuple[int, str]] = []
    with open(manifest, newline="", encoding="utf-8-sig") as f:
        quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
        reader = csv.DictReader(f, delimiter=delimiter, quoting=quoting)
        for row in reader:
            n = reader.line_num
            # DictReader files surplus cells under None and fills missing ones with None.
            if None in row or any(v is None for v in row.values()):
                cells = sum(v is not None for k, v in row.items() if k is not None) + len(row.get(None) or ())
                bad.append((n, f"{manifest} line {n}: {cells} cells, the header has {len(reader.fieldnames)}"))
                continue
            rows.append((n, row))
        if reader.fieldnames is None:
            raise ValueError(f"{manifest} is empty (no header line)")
    return rows, bad


def read_rows(
    rows: Sequence[tuple[int, dict[str, Any]]],
    columns: Columns = Columns(),
    *,
    base: str | None,
    origin: str | None,
    probe: bool | None = None,
    on_error: OnError = "raise",
    duration_cache: StrPath | bool = True,
    num_threads: int | None = None,
    bad: Sequence[tuple[int, str]] = (),
) -> AudioFiles:
    """Records from parsed rows.

    Parameters
    ----------
    rows : sequence of (row number, dict)
        The row number is what messages name (a manifest line, or a list
        position).
    base : str or None
        A folder; relative paths resolve against it (None: kept as they are).
    origin : str or None
        Where the rows came from, for messages.
    bad : sequence of (row number, reason)
        Rows that could not even be parsed.
    """
    where = origin or "records"
    if not rows and not bad:
        raise ValueError(f"{where}: no rows")
    keys: list[str] = []
    for _, row in rows:
        keys += [k for k in row if k not in keys]
    names = columns.resolve(keys, where) if rows else dict.fromkeys(("path", "label", "text", "offset", "duration"))
    roles = {v for v in names.values() if v is not None}
    bad = list(bad)
    good: list[tuple[int, str, Any, str | None, float, float, str | None]] = []
    for n, row in rows:
        label = f"{origin} line {n}" if origin else f"record {n}"
        try:
            good.append((n, *_parse(row, names, roles, base, columns.label_separator)))
        except ValueError as err:
            path = row.get(names["path"]) if names["path"] else None
            bad.append((n, f"{label} ({path}): {err}"))
    bad.sort()
    table = _table(good, names["text"] is not None, origin) if good else None
    return finish(table, bad=[reason for _, reason in bad], probe=True if probe is None else probe, on_error=on_error,
                  duration_cache=duration_cache, num_threads=num_threads, where=where)


def _parse(row: dict, names: dict, roles: set, base: str | None, separator: str | None) -> tuple:
    """(path, label, text, offset, duration, meta json) of one row; ValueError says why not.

    Run once per row of manifests with millions of them: plain str and dict
    operations only (no pathlib)."""
    raw = row.get(names["path"])
    path = raw.strip() if isinstance(raw, str) else ("" if raw is None else str(raw).strip())
    if not path:
        raise ValueError("no path")
    if path[0] == "~":
        path = os.path.expanduser(path)
    if base is not None and not os.path.isabs(path) and "://" not in path:
        path = os.path.join(base, path)
    label = row.get(names["label"]) if names["label"] else None
    if isinstance(label, str):
        if separator is not None:
            label = [x.strip() for x in label.split(separator) if x.strip()]
        elif not label.strip():
            label = None
    text = None
    if names["text"] is not None:
        text = row.get(names["text"])
        text = "" if text is None else text if isinstance(text, str) else str(text)
        if not text.strip():
            raise ValueError("empty transcript")
    offset = _seconds(row.get(names["offset"]), "offset", 0.0) if names["offset"] else 0.0
    duration = _seconds(row.get(names["duration"]), "duration", math.nan) if names["duration"] else math.nan
    if duration == 0:
        raise ValueError("duration 0")
    if len(row) > len(roles) or any(k not in roles for k in row):
        meta = {k: v for k, v in row.items() if k not in roles}
        return path, label, text, offset, duration, json.dumps(meta, sort_keys=True, ensure_ascii=False)
    return path, label, text, offset, duration, "{}"


def _seconds(value: Any, what: str, default: float) -> float:
    if value is None or value == "":
        return default
    if type(value) is float or type(value) is int:
        x = float(value)
        if x >= 0 and x != math.inf:  # NaN fails the comparison
            return x
        raise ValueError(f"{what} {value!r} is not a finite number >= 0")
    if isinstance(value, str) and not value.strip():
        return default
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} {value!r} is not a number") from None
    if math.isnan(x) or math.isinf(x) or x < 0:
        raise ValueError(f"{what} {value!r} is not a finite number >= 0")
    return x


def _table(good: list[tuple], has_text: bool, origin: str | None) -> AudioFiles:
    n_rows, paths, labels, texts, offsets, durations, metas = zip(*good)
    multi = any(isinstance(x, (list, tuple)) for x in labels)
    label_sets = None
    if multi:
        sets = [[] if x is None else (list(x) if isinstance(x, (list, tuple)) else [x]) for x in labels]
        flat = [c for s in sets for c in s]
        ids, classes = vocabulary(flat, len(flat)) if flat else (np.zeros(0, np.int32), ())
        ends = np.cumsum([0] + [len(s) for s in sets])
        label_sets = Ragged(sorted(set(ids[a:b].tolist())) for a, b in zip(ends[:-1], ends[1:]))
        ids = np.full(len(paths), -1, dtype=np.int32)
    elif all(x is None for x in labels):
        ids, classes = vocabulary(None, len(paths))
    else:
        named = [x for x in labels if x is not None]
        named_ids, classes = vocabulary(named, len(named))
        ids = np.full(len(paths), -1, dtype=np.int32)
        ids[[i for i, x in enumerate(labels) if x is not None]] = named_ids
    return AudioFiles(
        Strings(paths), ids, classes,
        offsets=np.array(offsets), durations=np.array(durations),
        texts=Strings(texts) if has_text else None,
        label_sets=label_sets,
        metadata=Strings(metas) if any(m != "{}" for m in metas) else None,
        rows=np.array(n_rows), origin=origin,
    )


def table_from_lists(paths: Sequence[str], labels: Sequence | None, *, origin: str | None) -> AudioFiles:
    """Records of a list of paths (a directory scan), labelled by `labels`
    (classes, or lists of classes for multi-label)."""
    good = [(i, os.fspath(p), None if labels is None else labels[i], None, 0.0, math.nan, "{}")
            for i, p in enumerate(paths)]
    return _table(good, False, origin)
