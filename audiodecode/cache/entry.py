"""One cached clip as one file: a 64-byte header, then the float32 samples.

Both tiers store this format: the RAM tier on a tmpfs (shared memory), the
disk tier under `cache_dir`. A file is named by what it holds (source path,
rate, channel mode); its header records the source's size and mtime, so a
changed source makes the old entry stale and its re-decode overwrites it
instead of leaving garbage under another name. The header also records a
hash of the source path and a read checks it: two files with the same size
and mtime (common after extracting an archive) are never served each
other's audio, whatever happens to the entries' names.

Readers map the file rather than `read()` it: a hit copies straight from
the page cache (no read syscall, nothing counted as I/O by the kernel), and
a file replaced or deleted while mapped stays valid until unmapped. Every
read checks the magic, the header fields, the length and a CRC-32 of the
samples (about 4 GB/s, tens of microseconds per clip), so a truncated,
half-copied or bit-flipped file is never returned.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import stat
import struct
import tempfile
import time
import zlib
from dataclasses import dataclass

import numpy as np

from audiodecode._typing import StrPath

MAGIC = b"ADPCM\x00v2"
# magic, source size, source mtime_ns, requested sr (0: native), mono,
# ndim, output sr, channels, frames, source path hash; then a CRC-32 of
# these fields and the samples (a flipped bit in the rate or the shape is
# as wrong as one in a sample). Version 1 had no path hash: its entries
# read as corrupt, are discarded and decoded again.
_FIELDS = struct.Struct("<8sQqIBBxxIIQ12s")
_CRC = struct.Struct("<I")
HEADER_BYTES = 64  # the samples start 64-byte aligned
ENTRY_SUFFIX = ".pcm"
TMP_PREFIX = ".tmp-"


class CorruptEntry(Exception):
    """An entry file that is not a complete, intact entry: discard it."""


@dataclass(frozen=True)
class EntryKey:
    """What an entry is the decode of: a file as it is now, at a rate and channel mode.

    Attributes
    ----------
    path : str
        Absolute path of the source file.
    size, mtime_ns : int
        The source's size and modification time when it was looked up; a
        rewritten file differs in at least one of them.
    sr : int or None
        The requested rate (None: the file's own).
    mono : bool
        Whether the channels were mixed down.
    """

    path: str
    size: int
    mtime_ns: int
    sr: int | None
    mono: bool

    @classmethod
    def of(cls, source: StrPath, sr: int | None, mono: bool) -> EntryKey:
        """Stat `source` (one syscall) and key it.

        Raises
        ------
        FileNotFoundError
            The file does not exist (worded like `audiodecode.load`'s).
        """
        path = os.path.abspath(os.fsdecode(source))
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: no such file") from None
        return cls(path, st.st_size, st.st_mtime_ns, None if sr is None else int(sr), bool(mono))

    @property
    def source_id(self) -> bytes:
        """A hash of the source path, recorded in the entry and checked on every read."""
        return hashlib.sha256(self.path.encode("utf-8", "surrogateescape")).digest()[:12]

    @property
    def file_name(self) -> str:
        """The entry's file name: a hash of path, rate and channel mode (not size or mtime)."""
        ident = f"{self.path}\0{self.sr or 0}\0{int(self.mono)}".encode("utf-8", "surrogateescape")
        return hashlib.sha256(ident).hexdigest()[:32] + ENTRY_SUFFIX


@dataclass(frozen=True)
class Packed:
    """A decoded clip ready to write: its header and its samples."""

    header: bytes
    samples: np.ndarray

    @property
    def nbytes(self) -> int:
        return HEADER_BYTES + self.samples.nbytes


def pack(key: EntryKey, y: np.ndarray, sr: int) -> Packed:
    """Header and contiguous little-endian samples for `y` decoded at `sr` under `key`."""
    samples = np.ascontiguousarray(y, dtype="<f4")
    channels, frames = (1, samples.shape[0]) if samples.ndim == 1 else samples.shape
    fields = _FIELDS.pack(
        MAGIC, key.size, key.mtime_ns, key.sr or 0, key.mono, samples.ndim, sr, channels, frames, key.source_id
    )
    crc = zlib.crc32(samples, zlib.crc32(fields))
    return Packed((fields + _CRC.pack(crc)).ljust(HEADER_BYTES, b"\0"), samples)


def write_atomically(final_path: str, tmp_dir: str, packed: Packed) -> None:
    """Write the entry to a temporary file in `tmp_dir`, then rename it over `final_path`.

    The rename is atomic, so a concurrent reader sees the old entry, no
    entry or the whole new one, never a half-written file. No fsync: a file
    left incomplete by a crash fails its length or checksum check and is
    discarded on read.
    """
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=tmp_dir)
    try:
        with open(fd, "wb") as f:
            f.write(packed.header)
            f.write(packed.samples.data)
        os.replace(tmp, final_path)
    except BaseException:
        os.unlink(tmp)
        raise


def scan(directory: str) -> tuple[list[tuple[int, int, str]], list[str]]:
    """The entries in `directory` as (mtime_ns, size, path), and its temporary files' paths.

    Files removed while the scan runs (by another process) are left out.
    """
    entries, temporaries = [], []
    for item in os.scandir(directory):
        if item.name.endswith(ENTRY_SUFFIX):
            try:
                st = item.stat()
            except FileNotFoundError:
                continue
            entries.append((st.st_mtime_ns, st.st_size, item.path))
        elif item.name.startswith(TMP_PREFIX):
            temporaries.append(item.path)
    return entries, temporaries


def read_entry(path: str, key: EntryKey, *, touch: bool = False) -> tuple[np.ndarray, int] | None:
    """The clip stored at `path` for `key`, as a fresh writable array, and its rate.

    Parameters
    ----------
    path : str
        The entry file.
    key : EntryKey
        What the caller wants; an entry for another version of the source
        (size or mtime differ) is stale and gives None.
    touch : bool
        Set the entry's mtime to now: the RAM tier's least-recently-used
        order, shared by every process, is the files' mtimes.

    Returns
    -------
    (y, sr) or None
        None when there is no entry or it is stale (another version of the
        source, or another source).

    Raises
    ------
    CorruptEntry
        The file is truncated, has a bad header, fails its checksum, or is
        not a regular file at all.
    """
    try:
        # Non-blocking: a FIFO at an entry's name would otherwise block the
        # open until a writer comes, forever.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise CorruptEntry(f"{path}: not a regular file")
        size = st.st_size
        if size < HEADER_BYTES:
            raise CorruptEntry(f"{path}: {size} bytes, shorter than the header")
        with mmap.mmap(fd, size, access=mmap.ACCESS_READ) as mapped:
            magic, src_size, mtime_ns, req_sr, mono, ndim, sr, channels, frames, source_id = _FIELDS.unpack_from(
                mapped
            )
            (crc,) = _CRC.unpack_from(mapped, _FIELDS.size)
            if magic != MAGIC or ndim not in (1, 2) or (ndim == 1 and channels != 1):
                raise CorruptEntry(f"{path}: not an audiodecode cache entry")
            found = (source_id, src_size, mtime_ns, req_sr, bool(mono))
            if found != (key.source_id, key.size, key.mtime_ns, key.sr or 0, key.mono):
                return None
            if size != HEADER_BYTES + 4 * channels * frames:
                raise CorruptEntry(f"{path}: {size} bytes, the header says {HEADER_BYTES + 4 * channels * frames}")
            with memoryview(mapped)[HEADER_BYTES:] as raw:
                if zlib.crc32(raw, zlib.crc32(mapped[: _FIELDS.size])) != crc:
                    raise CorruptEntry(f"{path}: checksum mismatch")
                # Copy out before unmapping: the caller owns the result.
                y = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        if touch:
            now = time.time_ns()
            os.utime(fd, ns=(now, now))
    finally:
        os.close(fd)
    return (y if ndim == 1 else y.reshape(channels, frames)), sr
