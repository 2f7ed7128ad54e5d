"""What every record source hands the loaders: records whose audio is a
byte string fetched on demand, not a file on disk.

A `MemoryRecords` is an `AudioFiles` (names, integer labels, vocabulary,
fingerprint, `shard`) whose "paths" are record names such as
``s3://bucket/train-000003.tar#utt042.flac``; the reader calls `fetch` for
the audio bytes of a batch and decodes them from memory, and the cache
keys a record by `entry_key` (the record's name and the version of the
object it lives in), so a cached record is never fetched again.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from audiodecode.data.records import AudioFiles
from audiodecode.data.sources.storage import Storage


class SkippedSourceWarning(UserWarning):
    """Records left out of a source when it was opened (`on_error="skip"`):
    a member without audio, a Parquet row with null audio, an unreadable
    shard. The message names them; `MemoryRecords.skipped` counts them."""


@dataclass(frozen=True)
class RecordKey:
    """How the cache names a fetched record: its name, its size in bytes and
    a version of the object it lives in (size and ETag or mtime), so a
    rewritten shard is decoded afresh."""

    name: str
    size: int
    version: str

    def entry_fields(self) -> tuple[str, int, int]:
        """(path, size, mtime_ns) for `audiodecode.cache.entry.EntryKey`:
        the version folded into a signed 64-bit integer."""
        digest = hashlib.sha256(self.version.encode()).digest()[:8]
        return self.name, self.size, int.from_bytes(digest, "little", signed=True)


@dataclass(frozen=True, eq=False)
class MemoryRecords(AudioFiles):
    """Records fetched as bytes: the base of tar shards, ArrayRecord and Parquet.

    Attributes
    ----------
    paths : tuple of str
        Record names (``<object>#<member or row>``), used in messages and
        for the fingerprint.
    labels, classes
        As `AudioFiles`.
    storage : Storage
        How bytes are read (retries, requests in flight, counters).
    skipped : tuple of (str, str)
        (what, why) for every record left out when the source was opened.
    """

    storage: Storage = field(default_factory=Storage)
    skipped: tuple[tuple[str, str], ...] = ()

    def fetch(self, indices: Sequence[int] | np.ndarray) -> list[bytes | Exception]:
        """The encoded audio of each record, in order, or the exception
        that prevented reading it (the caller raises or skips)."""
        raise NotImplementedError

    def record_keys(self, indices: Sequence[int] | np.ndarray) -> list[RecordKey]:
        """Cache keys of the records, known without fetching them."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n={len(self)}, classes={len(self.classes)}, fingerprint={self.fingerprint!r})"


def report_skipped(kind: str, skipped: list[tuple[str, str]]) -> None:
    """Warn once about the records a source left out when it was opened."""
    if skipped:
        shown = "; ".join(f"{what}: {why}" for what, why in skipped[:5])
        more = f" (and {len(skipped) - 5} more)" if len(skipped) > 5 else ""
        warnings.warn(
            f"{kind}: {len(skipped)} record(s) left out: {shown}{more}", SkippedSourceWarning, stacklevel=3
        )
