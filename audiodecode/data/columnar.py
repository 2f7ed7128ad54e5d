"""Manifests of millions of rows, read as columns (pyarrow).

The row reader (`audiodecode.data.manifests`) makes a Python dict per row;
a NeMo manifest of ten million rows took minutes and a dozen gigabytes
there. This reader takes the file in blocks of whole lines (`BLOCK_BYTES`),
parses each block with pyarrow's JSON or CSV reader (C++, on every core)
and turns its columns into the table's flat buffers
(`audiodecode.data.columns`) with no Python object per row; metadata
columns of strings, ints and bools become the row reader's JSON text
column-wise too. One block is parsed at a time, so memory stays near the
size of the finished table.

The table is the row reader's, row for row. A row this reader cannot
vouch for (no path, a path with surrounding spaces or a leading "~", an
empty transcript, a number that is negative, zero, not finite or (in CSV)
not a plain decimal, a JSON null, a missing metadata key, a control
character in a metadata string) is parsed from its own line by the row
reader's code (`audiodecode.data.rows`), which keeps or names it exactly as
before. A block that pyarrow reads differently from `json.loads` or
`csv.DictReader` (a malformed line, a column that changes type, a cell
count that is not the header's, float or list labels, nested or float
metadata) is parsed line by line the same way. A file whose layout only the
row reader handles raises `RowReaderNeeded` (see there, and
`read_delimited`), and `audiodecode.data.manifests.read_manifest` then reads
it with the row reader.

pyarrow is in the ``sources`` extra; without it manifests are read by the
row reader.
"""

from __future__ import annotations

import csv
import functools
import importlib.util
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from audiodecode.data.columns import Strings
from audiodecode.data.rows import Columns, csv_row, json_line, parse_or_reason
from audiodecode.data.table import AudioFiles, vocabulary

# Bytes of whole lines parsed at once: large enough that pyarrow's threads
# share the work, small enough that a block's Arrow table is a fraction of
# the finished one.
BLOCK_BYTES = 64 << 20
BOM = b"\xef\xbb\xbf"
# Line breaks `str.splitlines` honours besides "\n" and "\r\n": the row reader
# numbers lines by them and a scan for "\n" would not, so a file holding one
# goes to the row reader (a lone "\r" is checked separately).
OTHER_BREAKS = (b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", b"\xc2\x85", b"\xe2\x80\xa8", b"\xe2\x80\xa9")
ROLES = ("path", "label", "text", "offset", "duration")
# The characters `str.strip()` removes (every c with c.isspace(); pyarrow's
# own whitespace trim knows fewer): what the row reader calls empty.
WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
              "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
# Numbers in CSV cells read by Arrow's cast as float() reads them; any other
# spelling float() accepts ("+1", " 2 ", "1_0", "inf") goes to the row reader.
DECIMAL = r"^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$"
# pyarrow's parse unit: blocks of lines are cut into these for its threads.
ARROW_BLOCK_BYTES = 4 << 20
# Roles whose absence reads as a default (no label, offset 0, duration
# unknown): a column for one may first appear in a later block.
OPTIONAL = ("label", "offset", "duration")


class RowReaderNeeded(Exception):
    """The manifest is read by the row reader instead: a JSON array, a line
    break other than "\\n" and "\\r\\n", a label separator, multi-label
    lists, or column names that later rows resolve differently from the
    first block (which role a column plays depends on every row's keys)."""


def available() -> bool:
    """Whether pyarrow is installed (the ``sources`` extra)."""
    return importlib.util.find_spec("pyarrow") is not None


@functools.cache
def _arrow() -> tuple[ModuleType, ModuleType, ModuleType]:
    import pyarrow
    import pyarrow.compute
    import pyarrow.json

    return pyarrow, pyarrow.compute, pyarrow.json


@functools.cache
def _arrow_csv() -> ModuleType:
    import pyarrow.csv

    return pyarrow.csv


@dataclass
class _Part:
    """The good rows of one block, as the table's columns."""

    lines: np.ndarray  # (m,) int64 line numbers, ascending
    paths: Strings | Any  # Any: an Arrow string array, copied once, at the end
    labels: np.ndarray  # (m,) int64 index into `values`; -1: no label
    values: list  # this part's distinct labels, as Python values
    texts: Strings | Any | None
    offsets: np.ndarray  # (m,) float64
    durations: np.ndarray  # (m,) float64
    metas: Strings | Any | None  # None: every row's metadata is "{}"; Any: an Arrow string column


def read_json_lines(
    manifest: Path, columns: Columns, *, base_of: Callable[[dict], str], origin: str
) -> tuple[AudioFiles | None, list[tuple[int, str]]]:
    """The records of a JSON Lines manifest, and its bad rows.

    Parameters
    ----------
    manifest : Path
    columns : Columns
    base_of : callable
        The folder relative paths resolve against, given the first row
        (`audiodecode.data.manifests` looks for Common Voice's ``clips``).
    origin : str
        The manifest's name in messages.

    Returns
    -------
    table : AudioFiles or None
        The good rows, as the row reader builds them (None: there are none).
    bad : list of (line number, message)
        In line order.

    Raises
    ------
    RowReaderNeeded
        The row reader must read this file.
    """
    return _read(_BlockReader(manifest, columns, base_of, origin))


def read_delimited(
    manifest: Path, columns: Columns, *, delimiter: str, base_of: Callable[[dict], str], origin: str
) -> tuple[AudioFiles | None, list[tuple[int, str]]]:
    """The records of a CSV (`delimiter` ",") or TSV ("\\t") manifest with a
    header line, and its bad rows; as `read_json_lines`.

    Files the row reader's `csv.DictReader` reads in ways not rebuilt here
    raise `RowReaderNeeded`: a CSV with a quote character anywhere (quoted
    fields may hold delimiters and line breaks), a lone "\\r" (a line
    break to `csv`), or a header with repeated or empty names.
    """
    return _read(_DelimitedReader(manifest, columns, base_of, origin, delimiter))


def _read(reader: _BlockReader) -> tuple[AudioFiles | None, list[tuple[int, str]]]:
    if reader.columns.label_separator is not None:
        raise RowReaderNeeded("label separator")
    parts, first = [], reader.first_line
    for data in _blocks(reader.manifest, reader.start):
        part, newlines = reader.block(first, reader.checked(data))
        parts.append(part)
        first += newlines
        _release()  # the block's Arrow table
    if reader.names is None:
        raise RowReaderNeeded("no rows")
    parts = [p for p in parts if len(p.lines)]
    table = _table(parts, reader.names["text"] is not None, reader.origin) if parts else None
    return table, sorted(reader.bad)


def _blocks(manifest: Path, start: int) -> Iterator[memoryview]:
    """The file from byte `start` in blocks of whole lines (the last may lack
    its "\\n"), each a view of one read: a partial last line is read again
    with the next block."""
    with open(manifest, "rb") as f:
        f.seek(start)
        while data := f.read(BLOCK_BYTES):
            cut = data.rfind(b"\n") + 1
            if len(data) == BLOCK_BYTES and cut < len(data):
                if cut == 0:  # a line longer than a block: read on to its end
                    rest = f.readline()
                    data, cut = data + rest, len(data) + len(rest)
                else:
                    f.seek(cut - len(data), os.SEEK_CUR)
            else:
                cut = len(data)  # the end of the file
            yield memoryview(data)[:cut]


def _lone_cr(data: memoryview) -> bool:
    raw = data.obj
    stop = len(data)
    return raw.find(b"\r", 0, stop) >= 0 and raw.count(b"\r", 0, stop) != raw.count(b"\r\n", 0, stop)


def _line(data: memoryview, start: int, stop: int) -> str:
    return str(data[start:stop], "utf-8")


class _BlockReader:
    """Turns blocks of JSON Lines into `_Part`s, collecting the keys, the
    column roles and the bad rows on the way. (`_DelimitedReader` reads
    CSV and TSV the same way.)"""

    def __init__(self, manifest: Path, columns: Columns, base_of: Callable[[dict], str], origin: str) -> None:
        self.manifest, self.columns, self.base_of, self.origin = manifest, columns, base_of, origin
        self.keys: dict[str, None] = {}  # every row's keys, first seen first (as the row reader lists them)
        self.names: dict[str, str | None] | None = None
        self.base: str | None = None
        self.bad: list[tuple[int, str]] = []
        self.start, self.first_line = 0, 1  # where the rows begin: byte, line number
        # The role columns' types as the first block read them: given to
        # pyarrow for the next blocks, it parses a third faster.
        self.schema: Any = None
        with open(manifest, "rb") as f:
            head = f.read(BLOCK_BYTES)
        if head.startswith(BOM):  # the row reader's utf-8-sig drops it
            self.start = len(BOM)
            head = head[len(BOM) :]
        if head.lstrip()[:1] == b"[":
            raise RowReaderNeeded("a JSON array")

    def checked(self, data: memoryview) -> memoryview:
        """`data`, if its only line breaks are "\\n" and "\\r\\n" (as `str.splitlines` sees them)."""
        raw, stop = data.obj, len(data)
        # Each break's last byte is looked for first (a memchr): most blocks
        # have none, and then the slower searches are skipped.
        if any(raw.find(b[-1:], 0, stop) >= 0 and raw.find(b, 0, stop) >= 0 for b in OTHER_BREAKS):
            raise RowReaderNeeded("line breaks other than \\n")
        if _lone_cr(data):
            raise RowReaderNeeded("a lone \\r")
        return data

    def blank(self, data: memoryview, buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray | None:
        """Which lines the row reader skips as blank (whitespace only); None: none."""
        opens = np.zeros(len(ends), dtype=bool)
        filled = ends > starts
        opens[filled] = buf[starts[filled]] == ord("{")
        if opens.all():  # the usual block: every line an object
            return None
        blank = np.zeros(len(ends), dtype=bool)
        for k in np.flatnonzero(~opens).tolist():  # anything but a line starting with "{"
            blank[k] = not str(data[starts[k] : ends[k]], "utf-8", "replace").strip()
        return blank

    def parse(self, data: memoryview) -> Any:
        """The block as an Arrow table (raises what pyarrow raises)."""
        pa, _, pj = _arrow()
        options = pj.ReadOptions(use_threads=True, block_size=ARROW_BLOCK_BYTES)
        if self.schema is not None:
            try:
                parse = pj.ParseOptions(explicit_schema=self.schema)  # other columns are still inferred
                return pj.read_json(pa.BufferReader(data), read_options=options, parse_options=parse)
            except pa.ArrowInvalid:
                pass  # a role column of another type here: infer them all
        return pj.read_json(pa.BufferReader(data), read_options=options)

    def remember_types(self, table: Any) -> None:
        """Keep the role columns' types of a block read by columns. Only
        roles: for them a missing key and a null read alike, which an
        explicit schema (filling absent columns with nulls) cannot tell apart."""
        if self.schema is not None or self.names is None:
            return
        pa, _, _ = _arrow()
        roles = [n for n in self.names.values() if n is not None and n in table.column_names]
        self.schema = pa.schema([table.schema.field(n) for n in roles if not pa.types.is_null(table.schema.field(n).type)])

    def row(self, n: int, line: str) -> dict | str:
        """Line `n` as the row reader reads it: a dict, or why it is bad."""
        return json_line(self.manifest, n, line)

    def block(self, first: int, data: memoryview) -> tuple[_Part, int]:
        """The part of the block whose first line is number `first`, and the
        number of line breaks in it."""
        lines, starts, ends, newlines = _nonblank_lines(data, first, self.blank)
        table = self._arrow_table(data, len(lines))
        if table is not None:
            self.keys.update(dict.fromkeys(table.column_names))
            self._settle(lambda: self._first_row(data, lines, starts, ends))
            part = self._columns(table, lines, starts, ends, data)
            if part is not None:
                self.remember_types(table)
                return part, newlines
        rows = self._dict_rows(data, lines, starts, ends, range(len(lines)))
        for _, row in rows:
            self.keys.update(dict.fromkeys(row))
        if rows:
            self._settle(lambda: rows[0][1])
        return self._rows(rows), newlines

    def _settle(self, first_row: Callable[[], dict | None]) -> None:
        """Fix the column roles and the base folder at the first rows seen;
        later blocks may add an optional column (label, offset, duration)
        that earlier rows lacked, which leaves those rows as they were."""
        if self.names is not None:
            try:
                names = self.columns.resolve(list(self.keys), self.origin)
            except ValueError:
                raise RowReaderNeeded("a given column appears after the first block") from None
            if any(names[r] != self.names[r] and not (r in OPTIONAL and self.names[r] is None) for r in ROLES):
                raise RowReaderNeeded("a later row's keys change which column plays which role")
            self.names = names
            return
        row = first_row()
        if row is None:
            raise RowReaderNeeded("no JSON object in the first block")
        try:
            self.names = self.columns.resolve(list(self.keys), self.origin)
        except ValueError:
            raise RowReaderNeeded("no path column in the first block") from None
        self.base = self.base_of(row)

    def _first_row(self, data: memoryview, lines: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> dict | None:
        for k in range(len(lines)):
            parsed = self.row(int(lines[k]), _line(data, starts[k], ends[k]))
            if isinstance(parsed, dict):
                return parsed
        return None

    def _arrow_table(self, data: memoryview, rows: int) -> Any:
        """The block as an Arrow table, one row per non-blank line; None if
        pyarrow refuses it or reads it as another number of rows."""
        pa, _, _ = _arrow()
        try:
            table = self.parse(data)
        except (pa.ArrowInvalid, UnicodeDecodeError):
            return None
        return table if table.num_rows == rows else None

    def _dict_rows(
        self, data: memoryview, lines: np.ndarray, starts: np.ndarray, ends: np.ndarray, picks: Iterable[int]
    ) -> list[tuple[int, dict]]:
        """Lines `picks` (positions in `lines`) as (line number, dict), as
        the row reader reads them; the others go to `self.bad`."""
        rows = []
        for k in picks:
            n = int(lines[k])
            parsed = self.row(n, _line(data, starts[k], ends[k]))
            if isinstance(parsed, str):
                self.bad.append((n, parsed))
            else:
                rows.append((n, parsed))
        return rows

    def _parse_rows(self, rows: list[tuple[int, dict]]) -> list[tuple]:
        """The row reader's parse of `rows`; bad ones go to `self.bad`."""
        names = self.names
        if names is None:  # no JSON object yet (so `rows` is empty)
            return []
        roles = {v for v in names.values() if v is not None}
        good = []
        for n, row in rows:
            parsed = parse_or_reason(n, row, names, roles, self.base, None, self.origin)
            if isinstance(parsed, str):
                self.bad.append((n, parsed))
            else:
                good.append(parsed)
        return good

    def _rows(self, rows: list[tuple[int, dict]]) -> _Part:
        good = self._parse_rows(rows)
        lines, paths, labels, texts, offsets, durations, metas = (list(c) for c in zip(*good)) if good else ([],) * 7
        indices, values = _encode(labels)
        has_text = self.names is not None and self.names["text"] is not None
        return _Part(
            np.array(lines, dtype=np.int64), Strings(paths), indices, values,
            Strings(texts) if has_text else None, np.array(offsets, dtype=np.float64),
            np.array(durations, dtype=np.float64), None if all(m == "{}" for m in metas) else Strings(metas),
        )

    def _columns(self, table: Any, lines: np.ndarray, starts: np.ndarray, ends: np.ndarray, data: memoryview) -> _Part | None:
        """The block's rows from its Arrow columns; the rows that need the row
        reader's judgement are parsed from their lines. None: the block's
        columns are not ones this reader converts (the row reader reads it)."""
        pa, pc, _ = _arrow()
        names = self.names
        assert names is not None
        roles = {v for v in names.values() if v is not None}
        n = table.num_rows
        extra = sorted(c for c in table.column_names if c not in roles)  # json.dumps(sort_keys=True)
        if not all(pa.types.is_string(t) or pa.types.is_integer(t) or pa.types.is_boolean(t) or pa.types.is_null(t)
                   for t in (table.column(c).type for c in extra)):
            return None  # floats print as Python's repr would not, nested values: the row reader's

        def column(role: str) -> Any:  # chunked as parsed: combining them would copy
            name = names[role]
            return table.column(name) if name in table.column_names else pa.chunked_array([pa.nulls(n)])

        def mask(array: Any) -> np.ndarray:
            return pc.fill_null(array, False).to_numpy(zero_copy_only=False)

        ws = WHITESPACE
        path, label, text = column("path"), column("label"), column("text")
        numbers = [column("offset"), column("duration")]
        kinds = pa.types
        if not (kinds.is_string(path.type) or kinds.is_null(path.type)):
            return None
        if not (kinds.is_string(label.type) or kinds.is_integer(label.type) or kinds.is_null(label.type)):
            return None  # floats read 1 as 1.0, bools and lists are the row reader's
        if names["text"] is not None and not (kinds.is_string(text.type) or kinds.is_null(text.type)):
            return None
        path, text = path.cast(pa.string()), text.cast(pa.string())  # all-null columns: strings too
        if not all(kinds.is_integer(x.type) or kinds.is_floating(x.type) or kinds.is_null(x.type) or kinds.is_string(x.type)
                   for x in numbers):
            return None
        slow = mask(pc.is_null(path)) | mask(pc.not_equal(pc.utf8_trim(path, ws), path))
        slow |= mask(pc.equal(pc.binary_length(path), 0)) | mask(pc.starts_with(path, "~"))
        if names["text"] is not None:
            slow |= mask(pc.is_null(text)) | mask(pc.equal(pc.utf8_trim(text, ws), ""))
        seconds = []
        for x, default in zip(numbers, (0.0, np.nan)):
            if kinds.is_string(x.type):  # a CSV cell: "" or spaces are the default, plain decimals are read here
                plain = pc.match_substring_regex(x, DECIMAL)
                slow |= ~(mask(plain) | mask(pc.equal(pc.utf8_trim(x, ws), "")))
                x = pc.if_else(plain, x, pa.scalar(None, pa.string()))
            x = pc.cast(x, pa.float64(), safe=False)  # ints past 2**53 round, as float() does
            slow |= mask(pc.is_nan(x))  # a NaN literal, not a missing value
            values = pc.fill_null(x, default).to_numpy(zero_copy_only=False)
            with np.errstate(invalid="ignore"):
                slow |= (values < 0) | np.isinf(values)
            seconds.append(values)
        offsets, durations = seconds
        slow |= durations == 0
        meta = None
        if extra:
            meta, odd = _metadata(table, extra)
            slow |= odd
        keep = np.flatnonzero(~slow)
        every = len(keep) == n

        def kept(array: Any) -> Any:
            return array if every else array.take(pa.array(keep))

        if self.base is not None:
            local = pc.invert(pc.or_(pc.starts_with(path, "/"), pc.match_substring(path, "://")))
            prefix = self.base if self.base.endswith("/") else self.base + "/"
            if pc.all(local).as_py() is not False:  # the usual manifest: every path relative
                path = pc.binary_join_element_wise(prefix, path, "")
            elif pc.any(local).as_py():
                path = pc.if_else(local, pc.binary_join_element_wise(prefix, path, ""), path)
        paths = kept(path)
        texts = kept(text) if names["text"] is not None else None
        metas = kept(meta) if meta is not None else None
        if kinds.is_string(label.type):  # "" or spaces: no label, as in the row reader
            label = pc.if_else(pc.equal(pc.utf8_trim(label, ws), ""), pa.scalar(None, label.type), label)
        if kinds.is_null(label.type):
            indices, values = np.full(len(keep), -1, dtype=np.int64), []
        else:
            label = kept(label)
            distinct = pc.unique(label).drop_null()
            indices = pc.fill_null(pc.index_in(label, value_set=distinct), -1).to_numpy(zero_copy_only=False)
            indices, values = indices.astype(np.int64), distinct.to_pylist()
        part_lines, part_offsets, part_durations = (x if every else x[keep] for x in (lines, offsets, durations))
        slow_rows = np.flatnonzero(slow)
        if len(slow_rows):
            good = self._parse_rows(self._dict_rows(data, lines, starts, ends, slow_rows.tolist()))
            if good:
                more_lines, more_paths, more_labels, more_texts, more_offsets, more_durations, more_metas = zip(*good)
                order = np.argsort(np.concatenate([part_lines, np.array(more_lines, dtype=np.int64)]), kind="stable")
                order_arrow = pa.array(order)
                paths = pa.chunked_array([*paths.chunks, pa.array(more_paths, pa.string())]).take(order_arrow)
                if texts is not None:
                    texts = pa.chunked_array([*texts.chunks, pa.array(more_texts, pa.string())]).take(order_arrow)
                if metas is not None or any(m != "{}" for m in more_metas):
                    metas = pa.chunked_array([
                        *(metas.chunks if metas is not None else [pa.repeat(pa.scalar("{}"), len(part_lines))]),
                        pa.array(more_metas, pa.string()),
                    ]).take(order_arrow)
                more_indices, values = _encode(list(more_labels), values)
                indices = np.concatenate([indices, more_indices])[order]
                part_lines = np.concatenate([part_lines, np.array(more_lines, dtype=np.int64)])[order]
                part_offsets = np.concatenate([part_offsets, np.array(more_offsets, dtype=np.float64)])[order]
                part_durations = np.concatenate([part_durations, np.array(more_durations, dtype=np.float64)])[order]
        return _Part(part_lines, paths, indices, values, texts, part_offsets, part_durations, metas)


def _metadata(table: Any, extra: list[str]) -> tuple[Any, np.ndarray]:
    """Each row's other columns as the row reader's
    `json.dumps(meta, sort_keys=True, ensure_ascii=False)`, built column-wise,
    and the rows it cannot vouch for: a missing or null value (absent key
    and JSON null both read as null here), or a control character, which
    json.dumps escapes in ways not rebuilt here."""
    pa, pc, _ = _arrow()
    odd = np.zeros(table.num_rows, dtype=bool)
    pieces: list[Any] = []
    for k, name in enumerate(extra):
        column = table.column(name)
        odd |= pc.fill_null(pc.is_null(column), True).to_numpy(zero_copy_only=False)
        if pa.types.is_string(column.type):
            odd |= pc.fill_null(pc.match_substring_regex(column, "[\\x00-\\x1f]"), False).to_numpy(zero_copy_only=False)
            escaped = pc.replace_substring(pc.replace_substring(column, "\\", "\\\\"), '"', '\\"')
            value = pc.binary_join_element_wise('"', escaped, '"', "")
        elif pa.types.is_boolean(column.type):
            value = pc.if_else(column, "true", "false")
        else:
            value = pc.cast(column, pa.string())
        pieces += [("{" if k == 0 else ", ") + json.dumps(name, ensure_ascii=False) + ": ", value]
    return pc.binary_join_element_wise(*pieces, "}", ""), odd


class _DelimitedReader(_BlockReader):
    """CSV and TSV with a header line, as the row reader's `csv.DictReader`
    reads them: every cell a string, a row per line (no quoted line breaks:
    see `read_delimited`)."""

    def __init__(self, manifest: Path, columns: Columns, base_of: Callable[[dict], str], origin: str, delimiter: str) -> None:
        self.manifest, self.columns, self.base_of, self.origin = manifest, columns, base_of, origin
        self.names, self.base, self.bad = None, None, []
        self.delimiter = delimiter
        # The row reader's quoting: none in TSV (Common Voice's), minimal in CSV.
        self.quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
        with open(manifest, "rb") as f:
            header = f.readline()
        self.start = len(header)
        if header.startswith(BOM):
            header = header[len(BOM) :]
        text = header.decode("utf-8").rstrip("\n")
        if not text.rstrip("\r") or "\r" in text.rstrip("\r") or (self.quoting != csv.QUOTE_NONE and '"' in text):
            raise RowReaderNeeded("an empty, quoted or \\r-broken header")
        self.fieldnames = next(csv.reader([text.rstrip("\r")], delimiter=delimiter, quoting=self.quoting))
        if len(set(self.fieldnames)) != len(self.fieldnames) or "" in self.fieldnames:
            raise RowReaderNeeded("repeated or empty column names")
        self.keys = dict.fromkeys(self.fieldnames)
        self.first_line = 2
        self.schema = None  # every cell is read as a string already

    def remember_types(self, table: Any) -> None:
        pass

    def checked(self, data: memoryview) -> memoryview:
        if self.quoting != csv.QUOTE_NONE and data.obj.find(b'"', 0, len(data)) >= 0:
            raise RowReaderNeeded("a quote character")
        if _lone_cr(data):
            raise RowReaderNeeded("a lone \\r")
        return data

    def blank(self, data: memoryview, buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray | None:
        # DictReader skips empty lines only; a line of spaces is a row (of one cell).
        lengths = ends - starts
        blank = lengths == 0
        ones = np.flatnonzero(lengths == 1)
        blank[ones] = buf[starts[ones]] == ord("\r")
        return blank if blank.any() else None

    def parse(self, data: memoryview) -> Any:
        pa, _, _ = _arrow()
        pcsv = _arrow_csv()
        return pcsv.read_csv(
            pa.BufferReader(data),
            read_options=pcsv.ReadOptions(column_names=self.fieldnames, use_threads=True, block_size=ARROW_BLOCK_BYTES),
            parse_options=pcsv.ParseOptions(delimiter=self.delimiter, quote_char=False, newlines_in_values=False,
                                            ignore_empty_lines=True),
            convert_options=pcsv.ConvertOptions(column_types=dict.fromkeys(self.fieldnames, pa.string()),
                                                strings_can_be_null=False, null_values=[]),
        )

    def row(self, n: int, line: str) -> dict | str:
        cells = next(csv.reader([line.rstrip("\r")], delimiter=self.delimiter, quoting=self.quoting))
        return csv_row(self.manifest, n, self.fieldnames, cells)


def _nonblank_lines(
    data: memoryview, first: int, blank_of: Callable[[memoryview, np.ndarray, np.ndarray, np.ndarray], np.ndarray | None]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Line numbers, starts and ends of the lines of `data` the row reader
    parses (`blank_of` says which it skips), and the number of line breaks."""
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10)
    newlines = len(ends)
    if len(data) and data[-1] != 10:
        ends = np.append(ends, len(data))
    starts = np.concatenate([np.zeros(1, dtype=np.int64), ends[:-1] + 1]) if len(ends) else ends
    blank = blank_of(data, buf, starts, ends)
    if blank is None:
        return first + np.arange(len(ends), dtype=np.int64), starts, ends, newlines
    keep = ~blank
    return first + np.flatnonzero(keep), starts[keep], ends[keep], newlines


def _encode(labels: list, values: list | None = None) -> tuple[np.ndarray, list]:
    """Indices of `labels` into `values` (extended with the new ones); -1
    for None. Keys carry the type: 1 and True (or 1 and 1.0) are different
    labels to the row reader's vocabulary."""
    values = list(values or [])
    index = {(type(v), v): i for i, v in enumerate(values)}
    out = np.full(len(labels), -1, dtype=np.int64)
    for j, v in enumerate(labels):
        if v is None:
            continue
        if isinstance(v, (list, tuple)):
            raise RowReaderNeeded("multi-label rows")
        key = (type(v), v)
        if key not in index:
            index[key] = len(values)
            values.append(v)
        out[j] = index[key]
    return out, values


def _buffers(column: Strings | Any) -> list[tuple[Any, np.ndarray]]:
    """The UTF-8 bytes (buffers, not copied) and (n + 1,) int64 ends of a
    `Strings` or of each chunk of an Arrow string column without nulls."""
    if isinstance(column, Strings):
        return [column.buffers()]
    pa, _, _ = _arrow()
    pieces = []
    for chunk in column.chunks:
        if pa.types.is_null(chunk.type):
            chunk = chunk.cast(pa.string())
        if chunk.null_count:
            raise ValueError("null strings")
        width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        offsets = np.frombuffer(chunk.buffers()[1], dtype=width)[chunk.offset : chunk.offset + len(chunk) + 1]
        offsets = offsets.astype(np.int64)
        start, stop = int(offsets[0]), int(offsets[-1])
        data = chunk.buffers()[2]
        pieces.append(((memoryview(data)[start:stop] if data is not None else b""), offsets - start))
    return pieces


def _concat(columns: list[Strings | Any]) -> Strings:
    """One `Strings` of the parts' columns, in order: one copy of the bytes."""
    pieces = [piece for c in columns for piece in _buffers(c)]
    shifts = np.cumsum([0] + [len(data) for data, _ in pieces[:-1]])
    ends = np.concatenate([np.zeros(1, dtype=np.int64)] + [e[1:] + shift for (_, e), shift in zip(pieces, shifts)])
    return Strings.from_buffers(b"".join(data for data, _ in pieces), ends)


def _release() -> None:
    """Hand the memory Arrow freed back to the system: its allocator keeps
    it for reuse, and the process's peak would count it twice."""
    pa, _, _ = _arrow()
    pa.default_memory_pool().release_unused()


def _table(parts: list[_Part], has_text: bool, origin: str) -> AudioFiles:
    """One table of the parts, labelled as the row reader's `build_table` does."""
    values: list = []
    maps = []
    for part in parts:
        _, values = _encode(part.values, values)
        index = {(type(v), v): i for i, v in enumerate(values)}
        maps.append(np.array([index[(type(v), v)] for v in part.values], dtype=np.int64))
    if values:
        ids, classes = vocabulary(values, len(values))
    else:
        ids, classes = np.zeros(0, dtype=np.int32), ()
    labels = np.concatenate([
        np.where(p.labels >= 0, ids[m[np.maximum(p.labels, 0)]] if len(m) else -1, -1) for p, m in zip(parts, maps)
    ]).astype(np.int32)
    metadata = None
    if any(p.metas is not None for p in parts):
        pa, _, _ = _arrow()
        metadata = _concat([
            p.metas if p.metas is not None else pa.chunked_array([pa.repeat(pa.scalar("{}"), len(p.lines))]) for p in parts
        ])
    # Each column joined, then its parts let go: ten million rows' strings
    # are gigabytes, and two copies of every column at once would double them.
    columns: dict[str, Any] = {}
    for name in ("lines", "offsets", "durations", "paths", "texts"):
        if name == "texts" and not has_text:
            continue
        pieces = [getattr(p, name) for p in parts]
        for p in parts:
            setattr(p, name, None)
        columns[name] = np.concatenate(pieces) if name in ("lines", "offsets", "durations") else _concat(pieces)
        del pieces
        _release()
    return AudioFiles(
        columns["paths"], labels, classes, offsets=columns["offsets"], durations=columns["durations"],
        texts=columns.get("texts"), metadata=metadata, rows=columns["lines"], origin=origin,
    )
