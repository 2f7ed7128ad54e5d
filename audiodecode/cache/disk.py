"""The disk tier: every decoded clip stored once under `cache_dir`, kept across runs.

A second run over the same data set finds every clip here and reads no
compressed audio at all. The tier has no budget: it holds the whole data
set's decoded PCM (4 bytes per sample per channel); `AudioCache.clear()`
empties it. Entries are written to `cache_dir/.tmp/` and renamed into
place, so concurrent workers and concurrent runs never see a half-written
entry; any number of processes may share one `cache_dir`.
"""

from __future__ import annotations

import contextlib
import os
import time

from audiodecode._typing import StrPath
from audiodecode.cache.entry import EntryKey, Packed, scan, write_atomically

# A temporary file this old was left by a writer that died (a live one
# finishes in milliseconds); younger ones may belong to a live writer.
STALE_TMP_SECONDS = 24 * 3600


class DiskTier:
    """Entry files under `directory` (created if missing)."""

    def __init__(self, directory: StrPath) -> None:
        self.directory = os.path.abspath(os.fspath(directory))
        self._tmp = os.path.join(self.directory, ".tmp")
        os.makedirs(self._tmp, exist_ok=True)
        cutoff = time.time() - STALE_TMP_SECONDS
        for item in os.scandir(self._tmp):
            # Another process starting at the same time may sweep it first.
            with contextlib.suppress(FileNotFoundError):
                if item.stat().st_mtime < cutoff:
                    os.unlink(item.path)

    def path_of(self, key: EntryKey) -> str:
        return os.path.join(self.directory, key.file_name)

    def put(self, key: EntryKey, packed: Packed) -> None:
        """Store the entry; a `cache_dir` deleted while in use is made again."""
        try:
            write_atomically(self.path_of(key), self._tmp, packed)
        except FileNotFoundError:
            os.makedirs(self._tmp, exist_ok=True)
            write_atomically(self.path_of(key), self._tmp, packed)

    def _entries(self) -> list[tuple[int, int, str]]:
        """`scan`'s entries; none when the directory was deleted."""
        try:
            return scan(self.directory)[0]
        except FileNotFoundError:
            return []

    def bytes_held(self) -> int:
        """The size of every entry file (one `stat` each)."""
        return sum(size for _, size, _ in self._entries())

    def clear(self) -> None:
        """Remove every entry."""
        for _, _, path in self._entries():
            with contextlib.suppress(FileNotFoundError):  # another process cleared it
                os.unlink(path)
