"""Parquet files (and Hugging Face `datasets`) with an audio-bytes column.

The layout is the one `datasets` writes for an ``Audio`` feature: a struct
column ``{"bytes": binary, "path": string}`` (a plain binary column works
too), next to target columns. A ``ClassLabel`` target's names are read
from the ``huggingface`` schema metadata, so labels keep their numbering.

The audio is never decoded by `datasets` or pyarrow: the encoded bytes go
to the Rust core. Parquet is read by row group, so reading one record
reads its row group's audio column (one or a few ranged requests); the
row groups read last are kept (`row_group_cache_mb`), so a batch that
touches a row group twice reads it once. Small row groups (tens of rows,
as `datasets` writes for audio) keep random access cheap.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from audiodecode._typing import OnError
from audiodecode.data.records import AudioFiles, vocabulary
from audiodecode.data.sources.base import RecordSource, skipped
from audiodecode.data.sources.storage import RangeFile, Storage

ROW_GROUP_CACHE_MB = 256


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError("Parquet sources need pyarrow: pip install 'audiodecode[sources]'") from err
    return pyarrow


class _RowGroups:
    """Per-process reader state: each file's footer and the row groups read
    last (bytes bounded)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.lock = threading.Lock()
        self.metadata: dict[int, Any] = {}
        self.groups: OrderedDict[tuple[int, int], tuple[list, int]] = OrderedDict()
        self.held = 0

    def get(self, key: tuple[int, int]) -> list | None:
        with self.lock:
            found = self.groups.get(key)
            if found is not None:
                self.groups.move_to_end(key)
            return None if found is None else found[0]

    def put(self, key: tuple[int, int], rows: list, nbytes: int) -> None:
        with self.lock:
            if key in self.groups:
                return
            self.groups[key] = (rows, nbytes)
            self.held += nbytes
            while self.held > self.budget and len(self.groups) > 1:
                _, (_, freed) = self.groups.popitem(last=False)
                self.held -= freed


class ParquetSource(RecordSource):
    """The `ByteSource` of Parquet files with an audio column: a record is
    a row, read with its row group. Made by `parquet_records`.

    Attributes
    ----------
    files : tuple of str
        Parquet URLs.
    sizes, versions : tuple
        Each file's size and version when opened.
    locations : np.ndarray [shape=(n, 3)], int64
        Per record: file number, row group, row within the row group.
    audio_column : str
    row_group_cache_mb : float
    """

    def __init__(self, keys: Sequence[str], storage: Storage, files: Sequence[str], sizes: Sequence[int],
                 versions: Sequence[str], locations: np.ndarray, audio_column: str,
                 row_group_cache_mb: float = ROW_GROUP_CACHE_MB) -> None:
        super().__init__(keys, storage)
        self.files = tuple(files)
        self.sizes = tuple(sizes)
        self.versions = tuple(versions)
        self.locations = np.asarray(locations, dtype=np.int64).reshape(-1, 3)
        self.locations.setflags(write=False)
        self.audio_column = audio_column
        self.row_group_cache_mb = row_group_cache_mb
        self._init_process_state()  # again: the row-group budget is known now

    def _init_process_state(self) -> None:
        super()._init_process_state()
        self._state = _RowGroups(int(getattr(self, "row_group_cache_mb", ROW_GROUP_CACHE_MB) * 2**20))

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in super().__getstate__().items() if k != "_state"}

    def _identity(self) -> tuple:
        return self.files, self.versions, self.audio_column

    def objects(self) -> np.ndarray:
        """The Parquet file each record lies in."""
        return self.locations[:, 0].copy()

    def _metadata(self, file: int) -> Any:
        md = self._state.metadata.get(file)
        if md is None:
            pq = _pyarrow().parquet
            md = self._state.metadata[file] = pq.ParquetFile(
                RangeFile(self.storage, self.files[file], self.sizes[file])
            ).metadata
        return md

    def _row_group(self, file: int, group: int) -> list:
        """The audio bytes of one row group, one entry per row (None: null)."""
        found = self._state.get((file, group))
        if found is not None:
            return found
        pq = _pyarrow().parquet
        pf = pq.ParquetFile(RangeFile(self.storage, self.files[file], self.sizes[file]), metadata=self._metadata(file))
        column = pf.read_row_group(group, columns=[self.audio_column]).column(0).combine_chunks()
        if hasattr(column.type, "get_field_index") and column.type.num_fields:
            column = column.field("bytes")
        rows = column.to_pylist()
        self._state.put((file, group), rows, sum(len(r) for r in rows if r is not None))
        return rows

    def _read_rows(self, rows_wanted: list[int]) -> list[bytes | Exception]:
        locs = [tuple(int(v) for v in self.locations[r]) for r in rows_wanted]
        groups = sorted({(f, g) for f, g, _ in locs})
        results: dict[tuple[int, int], list | Exception] = {}

        def read(key: tuple[int, int]) -> None:
            try:
                results[key] = self._row_group(*key)
            except (OSError, ValueError) as err:
                results[key] = err
            except Exception as err:  # pyarrow.ArrowInvalid and friends: a damaged file
                results[key] = ValueError(f"unreadable Parquet row group {key[1]} ({type(err).__name__}: {err})")

        if len(groups) > 1:
            with ThreadPoolExecutor(min(len(groups), self.storage.max_in_flight)) as pool:
                list(pool.map(read, groups))
        elif groups:
            read(groups[0])
        out: list[bytes | Exception] = []
        for r, (f, g, k) in zip(rows_wanted, locs):
            name = self.keys[r]
            rows = results[(f, g)]
            if isinstance(rows, Exception):
                out.append(rows if name in str(rows) else type(rows)(f"{name}: {rows}"))
            elif rows[k] is None:
                out.append(ValueError(f"{name}: the audio is null"))
            else:
                out.append(rows[k])
        return out

    def _entry(self, row: int) -> tuple[int, str]:
        # A row's byte size is unknown before it is read; its position in a
        # file of this version identifies it.
        return 0, self.versions[int(self.locations[row, 0])]


def _classlabel_names(schema: Any, column: str) -> list[str] | None:
    """The ClassLabel names `datasets` stored for `column`, if any."""
    meta = (schema.metadata or {}).get(b"huggingface")
    if not meta:
        return None
    try:
        feature = json.loads(meta)["info"]["features"][column]
    except (ValueError, KeyError, TypeError):
        return None
    if isinstance(feature, dict) and feature.get("_type") == "ClassLabel" and "names" in feature:
        return [str(n) for n in feature["names"]]
    return None


def parquet_records(
    files: str | Sequence[str],
    *,
    audio_column: str = "audio",
    label_column: str | None = "label",
    storage: Storage | None = None,
    on_error: OnError = "raise",
    row_group_cache_mb: float = ROW_GROUP_CACHE_MB,
) -> AudioFiles:
    """Open Parquet files with an audio column as records.

    Parameters
    ----------
    files : str or sequence of str
        Paths or URLs; brace patterns and globs are expanded.
    audio_column : str
        A struct ``{"bytes", "path"}`` (the `datasets` Audio layout) or binary column.
    label_column : str or None
        The target column (integers, or names numbered in sorted order; a
        `datasets` ClassLabel keeps its own names). None or a missing
        column: unlabelled.
    storage : Storage, optional
    on_error : {"raise", "skip"}
        An unreadable file raises, or is left out with a warning (counted
        in `skipped_rows`). A null audio value is found when the record is read:
        the loader's `on_error` then raises or replaces it.
    row_group_cache_mb : float
        Row groups kept in memory per process.

    Raises
    ------
    FileNotFoundError, ValueError
        A missing or unreadable file (with "raise"), or no `audio_column`.
    """
    pa = _pyarrow()
    storage = storage if storage is not None else Storage()
    urls = storage.expand([files] if isinstance(files, (str, os.PathLike)) else [os.fspath(f) for f in files])
    if not urls:
        raise ValueError(f"no Parquet files match {files!r}")
    names, labels, locations, used, sizes, versions = [], [], [], [], [], []
    problems: list[tuple[str, str]] = []
    classes: list[str] | None = None
    for url in urls:
        try:
            size = storage.size(url)
            pf = pa.parquet.ParquetFile(RangeFile(storage, url, size))
            schema = pf.schema_arrow
            if audio_column not in schema.names:
                raise ValueError(f"{url}: no audio column {audio_column!r} (columns: {', '.join(schema.names)})")
            column = label_column if label_column in schema.names else None
            values = pf.read(columns=[column]).column(0).to_pylist() if column else None
            version = storage.version(url)
        except (OSError, ValueError, pa.ArrowException) as err:
            if on_error == "raise":
                raise (err if url in str(err) else type(err)(f"{url}: {err}")) if isinstance(err, (OSError, ValueError)) \
                    else ValueError(f"{url}: not a readable Parquet file ({err})") from None
            problems.append((url, str(err)))
            continue
        if column is not None:
            found = _classlabel_names(schema, column)
            if found is not None:
                classes = found
        number = len(used)
        used.append(url)
        sizes.append(size)
        versions.append(version)
        row = 0
        for group in range(pf.metadata.num_row_groups):
            for r in range(pf.metadata.row_group(group).num_rows):
                names.append(f"{url}#row{row}")
                locations.append((number, group, r))
                labels.append(None if values is None else values[row])
                row += 1
    count, reasons = skipped("Parquet files", problems)
    if not names:
        raise ValueError(f"no rows in {len(urls)} Parquet file(s) ({urls[0]}, ...)")
    if all(label is None for label in labels):
        ids, vocab = vocabulary(None, len(names))
    elif classes is not None:
        ids, vocab = np.array([-1 if v is None else int(v) for v in labels], dtype=np.int32), tuple(classes)
    else:
        if any(label is None for label in labels):
            raise ValueError(f"{names[labels.index(None)]}: null label while other rows have one")
        ids, vocab = vocabulary(labels, len(names))
    source = ParquetSource(names, storage, used, sizes, versions, np.array(locations, dtype=np.int64),
                           audio_column, row_group_cache_mb)
    return AudioFiles(paths=source.keys, labels=ids, classes=vocab, source=source, origin=urls[0],
                      skipped_rows=count, skip_reasons=reasons)


def write_parquet(
    records: Sequence[tuple[str, Any]], out: str, *, rows_per_group: int = 64, classes: Sequence[str] | None = None
) -> str:
    """Write (audio path, label) pairs as a Parquet file in the `datasets`
    Audio layout (``audio: struct<bytes, path>``, ``label``).

    Parameters
    ----------
    records : sequence of (path, label)
    out : str
        A local path.
    rows_per_group : int
        Rows per row group (the unit of random access).
    classes : sequence of str, optional
        Stored as a `datasets` ClassLabel when given (labels are then
        integers indexing it).

    Returns
    -------
    str
        `out`.
    """
    pa = _pyarrow()
    audio = [{"bytes": open(path, "rb").read(), "path": os.path.basename(path)} for path, _ in records]
    label_values = [label for _, label in records]
    table = pa.table({
        "audio": pa.array(audio, type=pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
        "label": pa.array(label_values),
    })
    if classes is not None:
        features = {"audio": {"_type": "Audio"}, "label": {"_type": "ClassLabel", "names": list(classes)}}
        table = table.replace_schema_metadata({"huggingface": json.dumps({"info": {"features": features}})})
    pa.parquet.write_table(table, out, row_group_size=rows_per_group)
    return out
