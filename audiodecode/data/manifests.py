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
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from audiodecode._typing import OnError, StrPath
from audiodecode.data import columnar as columnar_reader
from audiodecode.data.durations import finish
from audiodecode.data.rows import Columns, bad_cells, build_table, json_line, parse_or_reason
from audiodecode.data.table import AudioFiles


def read_manifest(
    manifest: StrPath,
    columns: Columns = Columns(),
    *,
    probe: bool | None = None,
    on_error: OnError = "raise",
    duration_cache: StrPath | bool = True,
    num_threads: int | None = None,
    audio_root: StrPath | None = None,
    columnar: bool | None = None,
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
    columnar : bool or None
        How rows are read: True, in blocks by pyarrow's JSON and CSV readers
        (`audiodecode.data.columnar`: ten million rows in seconds, in about
        the memory of the finished table); False, one dict per row
        (`json.loads`, `csv.DictReader`). Both give the same table and the
        same messages. None: columnar when pyarrow (the ``sources`` extra)
        is installed.

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
    options = dict(probe=True if probe is None else probe, on_error=on_error, duration_cache=duration_cache,
                   num_threads=num_threads, where=str(manifest))
    if columnar and not columnar_reader.available():
        raise ImportError("columnar=True reads with pyarrow: pip install 'audiodecode[sources]'")
    if suffix in (".jsonl", ".ndjson", ".json", ".csv", ".tsv") and columnar is not False and columnar_reader.available():
        base_of = lambda first: str(_audio_root(manifest, [(1, first)], columns, audio_root))  # noqa: E731
        try:
            if suffix in (".csv", ".tsv"):
                table, bad = columnar_reader.read_delimited(
                    manifest, columns, delimiter="\t" if suffix == ".tsv" else ",", base_of=base_of, origin=str(manifest)
                )
            else:
                table, bad = columnar_reader.read_json_lines(manifest, columns, base_of=base_of, origin=str(manifest))
            return finish(table, bad=[reason for _, reason in bad], **options)
        except columnar_reader.RowReaderNeeded:
            pass  # a layout only the row reader reads (see columnar.RowReaderNeeded)
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
    bad: list[tuple[int, str]] = [(n, f"{manifest} line {n}: not a JSON object") for n, row in rows if not isinstance(row, dict)]
    rows = [(n, row) for n, row in rows if isinstance(row, dict)]
    for n, line in lines:
        parsed = json_line(manifest, n, line)
        if isinstance(parsed, str):
            bad.append((n, parsed))
        else:
            rows.append((n, parsed))
    return rows, bad


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
                bad.append((n, bad_cells(manifest, n, cells, len(reader.fieldnames))))
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
        parsed = parse_or_reason(n, row, names, roles, base, columns.label_separator, origin)
        if isinstance(parsed, str):
            bad.append((n, parsed))
        else:
            good.append(parsed)
    bad.sort()
    table = build_table(good, names["text"] is not None, origin) if good else None
    return finish(table, bad=[reason for _, reason in bad], probe=True if probe is None else probe, on_error=on_error,
                  duration_cache=duration_cache, num_threads=num_threads, where=where)


