"""What the archive sources share: records whose audio is a byte string
fetched on demand, not a file on disk.

A tar shard set, an ArrayRecord file or a Parquet table opens as an
`AudioFiles` whose keys (`paths`) are record names such as
``s3://bucket/train-000003.tar#utt042.flac`` and whose `source` is a
`RecordSource` (the record model's `ByteSource`): the reader asks it for
the bytes of a batch at once (`read_many`, several requests in flight) and
decodes them from memory; the cache keys a record by `entry_key` (its
name, size and the version of the object it lives in), known without
reading it, so a cached record is never fetched again.
"""

from __future__ import annotations

import hashlib
import threading
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from audiodecode._typing import Encoded
from audiodecode.data.columns import Strings, digest
from audiodecode.data.records import AudioFiles
from audiodecode.data.sources.storage import Storage


class SkippedSourceWarning(UserWarning):
    """Records left out of a source when it was opened (`on_error="skip"`):
    a member without audio, an unreadable shard. The message names them;
    the data set's `skipped_rows` counts them and `skip_reasons` lists them."""


def fold_version(version: str) -> int:
    """An object's version token as a signed 64-bit integer (the cache
    entry's mtime field)."""
    return int.from_bytes(hashlib.sha256(version.encode()).digest()[:8], "little", signed=True)


class RecordSource:
    """A `ByteSource` over records stored inside larger objects.

    Subclasses hold one row per record, in the order of `keys`, and
    implement `_read_rows(rows)` and `_entry(row)`.

    Parameters
    ----------
    keys : sequence of str
        Record names, unique; the data set's `paths`.
    storage : Storage
    """

    def __init__(self, keys: Sequence[str], storage: Storage) -> None:
        self.keys = keys if isinstance(keys, Strings) else Strings(keys)
        self.storage = storage
        self._init_process_state()

    def _init_process_state(self) -> None:
        self._rows: dict[str, int] | None = None
        self._rows_lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_rows", "_rows_lock")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_process_state()

    def _identity(self) -> tuple:
        """What the source reads (objects and versions); its repr hashes it."""
        raise NotImplementedError

    def __repr__(self) -> str:
        # Depends only on what is read (checkpoints compare reprs), never on
        # credentials or the process.
        return f"{type(self).__name__}(n={len(self.keys)}, digest={digest(self.keys, *self._identity())!r})"

    def row(self, key: str) -> int:
        """The row of record `key` (a per-process lookup table, built once)."""
        if self._rows is None:
            with self._rows_lock:
                if self._rows is None:
                    self._rows = {k: i for i, k in enumerate(self.keys)}
        try:
            return self._rows[key]
        except KeyError:
            raise KeyError(f"{key!r} is not a record of {self!r}") from None

    def read(self, key: str) -> Encoded:
        """The encoded audio of record `key` (`ByteSource`)."""
        data = self.read_many([key])[0]
        if isinstance(data, Exception):
            raise data
        return data

    def read_many(self, keys: Sequence[str]) -> list[Encoded | Exception]:
        """The encoded audio of each record, in order, read concurrently, or
        the exception that prevented reading it (naming the record)."""
        return self._read_rows([self.row(k) for k in keys])

    def entry_key(self, key: str) -> tuple[str, int, int]:
        """(name, size, version) the cache keys record `key` by
        (`AudioCache.load_records`), known without reading it."""
        size, version = self._entry(self.row(key))
        return key, size, fold_version(version)

    def objects(self) -> np.ndarray:
        """The object (shard, file) each record lies in, shape (n,), int64;
        here each record is an object of its own. Sources that store records
        in shards override it."""
        return np.arange(len(self.keys), dtype=np.int64)

    def containers(self, keys: Sequence[str]) -> np.ndarray | None:
        """`objects()` for the records `keys`, shape (len(keys),); None when
        every record is an object of its own. Duration buckets cut batches
        shard by shard with it (`audiodecode.data.buckets`), the
        shard-streaming order streams objects with it."""
        if type(self).objects is RecordSource.objects:
            return None
        objects = self.objects()
        if keys is self.keys:  # the data set as opened: rows in order, no lookups
            return objects
        rows = np.fromiter((self.row(k) for k in keys), dtype=np.int64, count=len(keys))
        return objects[rows]

    def streamed(self, buffer: int, batch_size: int) -> RecordSource:
        """This source as the shard-streaming order reads it best (records
        of an object read in large blocks, where the source can); itself
        here."""
        return self

    def _read_rows(self, rows: list[int]) -> list[Encoded | Exception]:
        raise NotImplementedError

    def _entry(self, row: int) -> tuple[int, str]:
        raise NotImplementedError


def named_error(err: Exception, key: str) -> Exception:
    """`err` of the same class with record `key` leading its message (the
    storage's message names the object and byte range, not the record)."""
    try:
        out = type(err)(f"{key}: {err}")
    except TypeError:  # a class whose constructor wants more than a message
        return err
    out.__cause__ = err
    return out


def fetch(files: AudioFiles, indices: Sequence[int] | np.ndarray) -> list[Encoded | Exception]:
    """The bytes of records of a data set with a `source`, in order; a
    failure is returned in its slot (a `ByteSource` without `read_many` is
    read one key at a time)."""
    return read_keys(files.source, [files.paths[int(i)] for i in indices])


def read_keys(source: Any, keys: Sequence[str]) -> list[Encoded | Exception]:
    """`source.read_many(keys)`, or one `read` per key for a `ByteSource`
    without it; failures in their slots."""
    if hasattr(source, "read_many"):
        return source.read_many(keys)
    out: list[Encoded | Exception] = []
    for key in keys:
        try:
            out.append(source.read(key))
        except (OSError, ValueError, KeyError) as err:
            out.append(err)
    return out


def entry_keys(files: AudioFiles, indices: Sequence[int] | np.ndarray) -> list[tuple[str, int, int]]:
    """Cache keys of records of a data set with a `source`. A `ByteSource`
    without `entry_key` keys by name and its repr (which depends only on
    what it reads)."""
    source = files.source
    keys = [files.paths[int(i)] for i in indices]
    if hasattr(source, "entry_key"):
        return [source.entry_key(k) for k in keys]
    version = fold_version(repr(source))
    return [(k, 0, version) for k in keys]


def skipped(kind: str, problems: list[tuple[str, str]]) -> tuple[int, tuple[str, ...]]:
    """Warn once about the records a source left out when it was opened;
    (count, reasons) for `AudioFiles.skipped_rows`/`skip_reasons`."""
    if problems:
        shown = "; ".join(f"{what}: {why}" for what, why in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        warnings.warn(
            f"{kind}: {len(problems)} record(s) left out: {shown}{more}", SkippedSourceWarning, stacklevel=3
        )
    return len(problems), tuple(f"{what}: {why}" for what, why in problems)
