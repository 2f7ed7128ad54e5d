"""One manifest row -> one record: the column roles, the per-row checks and
the table built from parsed rows.

Both manifest readers share these: the row reader (`audiodecode.data.manifests`,
a dict per row) and the columnar one (`audiodecode.data.columnar`, which
sends here every row it does not vouch for), so a row gives the same record
or the same message whichever reader meets it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from audiodecode.data.columns import Ragged, Strings
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


def parse_row(row: dict, names: dict, roles: set, base: str | None, separator: str | None) -> tuple:
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
    offset = seconds(row.get(names["offset"]), "offset", 0.0) if names["offset"] else 0.0
    duration = seconds(row.get(names["duration"]), "duration", math.nan) if names["duration"] else math.nan
    if duration == 0:
        raise ValueError("duration 0")
    if len(row) > len(roles) or any(k not in roles for k in row):
        meta = {k: v for k, v in row.items() if k not in roles}
        return path, label, text, offset, duration, json.dumps(meta, sort_keys=True, ensure_ascii=False)
    return path, label, text, offset, duration, "{}"


def seconds(value: Any, what: str, default: float) -> float:
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


def build_table(good: list[tuple], has_text: bool, origin: str | None) -> AudioFiles:
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


def parse_or_reason(
    n: int, row: dict, names: dict, roles: set, base: str | None, separator: str | None, origin: str | None
) -> tuple | str:
    """`(n, path, label, text, offset, duration, meta json)` of row `n`, or the
    message that names it ("m.jsonl line 7 (a.wav): empty transcript")."""
    try:
        return (n, *parse_row(row, names, roles, base, separator))
    except ValueError as err:
        path = row.get(names["path"]) if names["path"] else None
        return f"{origin} line {n} ({path}): {err}" if origin else f"record {n} ({path}): {err}"


def csv_row(manifest: object, n: int, fieldnames: Sequence[str], cells: Sequence[str]) -> dict | str:
    """The cells of line `n` as `csv.DictReader` gives them, keyed by a
    header of distinct names; or the message naming a row whose cell count
    is not the header's (DictReader's None key and values)."""
    row: dict = dict(zip(fieldnames, cells))
    if len(cells) != len(fieldnames):
        return bad_cells(manifest, n, len(cells), len(fieldnames))
    return row


def bad_cells(manifest: object, n: int, cells: int, columns: int) -> str:
    """The message for line `n` of a CSV/TSV manifest with `cells` cells
    under a header of `columns`."""
    return f"{manifest} line {n}: {cells} cells, the header has {columns}"


def json_line(manifest: object, n: int, line: str) -> dict | str:
    """Line `n` of a JSON Lines manifest as a dict, or the message saying
    why it is not one."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as err:
        return f"{manifest} line {n}: not a JSON object ({err.msg})"
    return row if isinstance(row, dict) else f"{manifest} line {n}: not a JSON object"


def table_from_lists(paths: Sequence[str], labels: Sequence | None, *, origin: str | None) -> AudioFiles:
    """Records of a list of paths (a directory scan), labelled by `labels`
    (classes, or lists of classes for multi-label)."""
    good = [(i, os.fspath(p), None if labels is None else labels[i], None, 0.0, math.nan, "{}")
            for i, p in enumerate(paths)]
    return build_table(good, False, origin)
