"""Loose audio files in object storage: one object per record.

`object_files` turns a list of URLs (or a glob/brace pattern) into records
whose `source` reads each object whole, several at once; the cache keys
them by URL. Objects are taken as immutable (the usual case for training
data): a rewritten object keeps its cache entry until the cache is cleared,
since checking every object's version would cost a request per record.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from audiodecode._typing import Encoded
from audiodecode.data.records import AudioFiles, vocabulary
from audiodecode.data.sources.base import RecordSource
from audiodecode.data.sources.storage import ByteRange, Storage


class ObjectSource(RecordSource):
    """The `ByteSource` of loose objects: a record's key is its URL."""

    def _identity(self) -> tuple:
        return ()

    def _read_rows(self, rows: list[int]) -> list[Encoded | Exception]:
        return self.storage.read_many([ByteRange(self.keys[r]) for r in rows])

    def _entry(self, row: int) -> tuple[int, str]:
        return 0, ""


def object_files(
    urls: str | Sequence[str], labels: Sequence[int | str] | None = None, *, storage: Storage | None = None
) -> AudioFiles:
    """Records of audio objects (``s3://bucket/clips/a.flac``, ...).

    Parameters
    ----------
    urls : str or sequence of str
        URLs; brace patterns and globs are expanded (a listing request).
    labels : sequence of int or str, optional
        One per URL after expansion.
    storage : Storage, optional

    Returns
    -------
    AudioFiles
        Keys are the URLs, `source` an `ObjectSource`.
    """
    storage = storage if storage is not None else Storage()
    keys = storage.expand([urls] if isinstance(urls, (str, os.PathLike)) else [os.fspath(u) for u in urls])
    if not keys:
        raise ValueError(f"no objects match {urls!r}")
    if labels is not None and len(labels) != len(keys):
        raise ValueError(f"{len(labels)} labels for {len(keys)} objects")
    ids, classes = vocabulary(None if labels is None else list(labels), len(keys))
    source = ObjectSource(keys, storage)
    return AudioFiles(paths=source.keys, labels=ids, classes=classes, source=source, origin=keys[0])
