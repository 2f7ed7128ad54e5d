"""The RAM tier: entry files in a private directory on a tmpfs (shared memory).

Why files on a tmpfs rather than `multiprocessing.shared_memory`: a POSIX
shared memory segment *is* a file on `/dev/shm` mapped with `mmap`, which
is what this tier uses too, but a directory of our own gives atomic
publication (`os.replace`), a name per entry that every process can compute
from the key, and cleanup by removing one directory. `SharedMemory` adds a
resource tracker that, on Python < 3.13, unlinks a segment when any
process that merely attached to it exits, and reports the rest as leaked.

Every process holding the cache (threads, forked or spawned workers) sees
the same directory, so an entry decoded by one worker is a hit for all of
them, and the budget is one budget for all of them:

- A store takes a lock (a `threading.Lock` plus `flock` on the index file,
  for threads and processes), evicts if needed, writes and renames the
  entry and updates the byte count in the index file. Writes happen under
  the lock, so the directory never holds more than the budget, not even
  for a moment.
- A hit takes no lock: it maps the file, copies the samples and sets the
  file's mtime to now. Eviction removes the oldest mtimes first, so the
  order is least recently used across all processes.
- When a store would overflow the budget, the directory is scanned and the
  least recently used entries are removed down to `LOW_WATER` of the
  budget, so the scan (one `stat` per entry) happens once per tenth of the
  budget stored, not on every store. The scan also corrects the index's
  byte count from the files themselves.

Every entry is charged its size rounded up to whole pages: that is the
memory a tmpfs file occupies.

A tmpfs holds its files until they are deleted, and a process killed by
SIGKILL or SIGTERM, or ended by `os._exit`, deletes nothing: its tier would
hold RAM until reboot. So every process using a tier holds a shared `flock`
on the tier's `alive` file (forked children inherit the owner's), and every
new tier first sweeps the shared-memory root: a tier directory whose
`alive` file can be locked exclusively has no live user left and is
removed. A lock, unlike a PID in the name, dies with its process, is not
fooled by PID reuse and works across PID namespaces sharing one /dev/shm.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from audiodecode.cache.entry import EntryKey, Packed, scan, write_atomically

LOW_WATER = 0.9
# Torch and Grain workers pass their batches through /dev/shm too; filling
# it would make them fail with "No space left on device".
SHM_SHARE = 0.5
_INDEX = "index"
_ALIVE = "alive"
PREFIX = "audiodecode-cache-"
# A tier is made under this prefix and renamed to PREFIX once its `alive`
# lock is held, so a sweep never sees a live tier without its lock. One
# left this old was made by a process that died in those microseconds.
_NEW_PREFIX = ".audiodecode-cache-new-"
_STALE_NEW_SECONDS = 3600


def charge(nbytes: int) -> int:
    """The memory a tmpfs file of `nbytes` holds: whole pages."""
    return -(-nbytes // mmap.PAGESIZE) * mmap.PAGESIZE


def shared_memory_root() -> str:
    """Where the RAM tier lives: /dev/shm where it exists (Linux), else the temp directory."""
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return tempfile.gettempdir()


class SharedMemoryTier:
    """An LRU store of entry files under `directory`, at most `budget` bytes in all.

    Parameters
    ----------
    directory : str
        An existing directory made by `create`; other processes attach to
        it by constructing this class with the same arguments.
    budget : int
        The most bytes (page-rounded) the directory may hold.
    """

    def __init__(self, directory: str, budget: int, *, alive_fd: int | None = None) -> None:
        self.directory = directory
        self.budget = budget
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._index_fd: int | None = None
        # This process's shared lock on the tier (see the module's notes).
        self._alive_fd = alive_fd if alive_fd is not None else _hold_alive(directory)

    @classmethod
    def create(cls, budget: int) -> SharedMemoryTier:
        """A new, empty tier, after removing the tiers of dead processes;
        the budget is capped at `SHM_SHARE` of the filesystem's free space."""
        root = shared_memory_root()
        sweep_orphans(root)
        vfs = os.statvfs(root)
        budget = min(budget, int(SHM_SHARE * vfs.f_bavail * vfs.f_frsize))
        new = tempfile.mkdtemp(prefix=f"{_NEW_PREFIX}{os.getpid()}-", dir=root)
        alive_fd = _hold_alive(new)
        directory = os.path.join(root, PREFIX + os.path.basename(new)[len(_NEW_PREFIX):])
        os.rename(new, directory)
        return cls(directory, budget, alive_fd=alive_fd)

    def path_of(self, key: EntryKey) -> str:
        return os.path.join(self.directory, key.file_name)

    def put(self, key: EntryKey, packed: Packed) -> int:
        """Store the entry, evicting least recently used ones to make room.

        Returns
        -------
        int
            How many entries were evicted. An entry larger than the whole
            budget is not stored.

        Raises
        ------
        OSError
            The directory is gone (the owner closed the cache) or the
            filesystem is full; nothing was stored.
        """
        size = charge(packed.nbytes)
        if size > self.budget:
            return 0
        with self._locked() as fd:
            held = int.from_bytes(os.pread(fd, 8, 0).ljust(8, b"\0"), "little")
            evicted = 0
            if held + size > self.budget:
                held, evicted = self._evict(size)
            final = self.path_of(key)
            try:
                held -= charge(os.stat(final).st_size)  # a stale version, replaced below
            except FileNotFoundError:
                pass
            write_atomically(final, self.directory, packed)
            # New entries start as the most recently used, at the clock's
            # full resolution (a new file's own mtime is a coarse tick).
            now = time.time_ns()
            os.utime(final, ns=(now, now))
            os.pwrite(fd, (held + size).to_bytes(8, "little"), 0)
        return evicted

    def _evict(self, incoming: int) -> tuple[int, int]:
        """Remove the least recently used entries until `incoming` more bytes
        fit under `LOW_WATER` of the budget. Called with the lock held.

        Returns the bytes held afterwards and the number of entries removed.
        """
        entries, temporaries = scan(self.directory)
        # Every write holds the lock, so a temporary file seen here was left
        # by a writer that died.
        for path in temporaries:
            os.unlink(path)
        entries = [(mtime_ns, charge(size), path) for mtime_ns, size, path in entries]
        held = sum(size for _, size, _ in entries)
        entries.sort()
        evicted = 0
        for _, size, path in entries:
            if held + incoming <= LOW_WATER * self.budget:
                break
            try:
                os.unlink(path)
            except FileNotFoundError:  # a reader discarded it as corrupt
                pass
            held -= size
            evicted += 1
        return held, evicted

    def bytes_held(self) -> int:
        """The page-rounded size of every entry, counted from the files (one `stat` each)."""
        try:
            return sum(charge(size) for _, size, _ in scan(self.directory)[0])
        except FileNotFoundError:  # the owner closed the cache
            return 0

    def clear(self) -> None:
        """Remove every entry."""
        with self._locked() as fd:
            for item in os.scandir(self.directory):
                if item.name not in (_INDEX, _ALIVE):
                    os.unlink(item.path)
            os.pwrite(fd, bytes(8), 0)

    def close(self, *, remove: bool) -> None:
        """Release this process's handle; `remove` deletes the directory and every entry."""
        if remove:
            shutil.rmtree(self.directory, ignore_errors=True)
        for fd in (self._index_fd, self._alive_fd):
            # A forked child's copies: closing them leaves the parent's
            # locks alone (they belong to the shared open file).
            if fd is not None:
                os.close(fd)
        self._index_fd = self._alive_fd = None

    @contextmanager
    def _locked(self) -> Iterator[int]:
        """Hold the tier's lock against other threads and processes; yields the index file."""
        if self._pid != os.getpid():
            # A forked child: the parent's lock may have been copied while
            # held, and its flock belongs to the parent's open file (closing
            # our copy of the descriptor leaves the parent's lock alone).
            if self._index_fd is not None:
                os.close(self._index_fd)
            self._pid, self._lock, self._index_fd = os.getpid(), threading.Lock(), None
        with self._lock:
            if self._index_fd is None:
                self._index_fd = os.open(os.path.join(self.directory, _INDEX), os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._index_fd, fcntl.LOCK_EX)
            try:
                yield self._index_fd
            finally:
                fcntl.flock(self._index_fd, fcntl.LOCK_UN)


def _hold_alive(directory: str) -> int | None:
    """Open the tier's `alive` file and hold a shared lock on it for as long
    as the descriptor is open (the process's life, at most). None when the
    tier is gone (its owner closed it): this handle's stores then fail."""
    try:
        fd = os.open(os.path.join(directory, _ALIVE), os.O_RDWR | os.O_CREAT, 0o600)
    except FileNotFoundError:
        return None
    fcntl.flock(fd, fcntl.LOCK_SH)
    return fd


def sweep_orphans(root: str) -> list[str]:
    """Remove the tiers under `root` that no live process uses.

    A tier with an `alive` file is an orphan when an exclusive lock on that
    file is granted at once. A tier without one was made by an older
    version: it is an orphan when the process named in it no longer exists.

    Returns
    -------
    list of str
        The directories removed.
    """
    removed = []
    for item in os.scandir(root):
        try:
            if item.name.startswith(PREFIX) and item.is_dir(follow_symlinks=False):
                if _orphaned(item.path, item.name[len(PREFIX):]):
                    shutil.rmtree(item.path, ignore_errors=True)
                    removed.append(item.path)
            elif item.name.startswith(_NEW_PREFIX) and item.is_dir(follow_symlinks=False):
                if time.time() - item.stat(follow_symlinks=False).st_mtime > _STALE_NEW_SECONDS:
                    shutil.rmtree(item.path, ignore_errors=True)
                    removed.append(item.path)
        except OSError:  # removed or renamed meanwhile, or not ours to touch
            continue
    return removed


def _orphaned(directory: str, suffix: str) -> bool:
    """Whether the tier `directory` (named PREFIX + `suffix`) has no live user."""
    try:
        fd = os.open(os.path.join(directory, _ALIVE), os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        # An older version's tier: `suffix` starts with its maker's PID.
        pid = suffix.split("-", 1)[0]
        if not pid.isdigit():
            return False
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, another user's
            return False
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        # Closing drops the exclusive lock too; a process attaching to an
        # orphan in the moment before it is removed only fails its stores.
        os.close(fd)
    return True
