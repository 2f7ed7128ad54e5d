"""`AudioCache`: decoded, resampled audio kept for the next epoch (and run)."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from audiodecode import loading
from audiodecode._typing import Encoded, OnError, StrPath
from audiodecode.cache.budget import auto_ram_budget
from audiodecode.cache.disk import DiskTier
from audiodecode.cache.entry import CorruptEntry, EntryKey, pack, read_entry
from audiodecode.cache.memory import SharedMemoryTier

_GIB = 2**30
#: A decoded clip and its rate, or why it could not be had.
Decoded = tuple[np.ndarray, int] | Exception
_COUNTERS = ("hits", "disk_hits", "misses", "evictions", "corrupt_discarded", "store_errors")


class AudioCache:
    """A cache of whole decoded files, shared by every thread and process of a loader.

    Entries hold a file decoded and resampled at a rate and channel mode,
    before any crop, augmentation or feature: those differ every epoch and
    are never cached. An entry is keyed by the file's absolute path, size
    and mtime, the rate and the channel mode; every lookup stats the file,
    so a rewritten file is decoded afresh and a deleted one raises
    `FileNotFoundError` (it is never served from the cache).

    Two tiers, looked up in order:

    - RAM: entry files in a private directory on /dev/shm (a tmpfs: shared
      memory) with a strict byte budget and least-recently-used eviction.
      Every process that holds this object (threads, forked workers, or
      spawned ones that received it pickled) reads and fills the same
      directory, so a clip decoded by any worker is a hit for all of them.
    - Disk (`cache_dir`): every decoded clip stored once and kept across
      runs, so a second run reads no compressed audio. A disk hit is
      copied into the RAM tier.

    A hit returns a fresh array (a copy out of the shared mapping, tens of
    microseconds for a clip): the caller may modify it.

    Parameters
    ----------
    max_ram_gb : float or None
        RAM budget in GiB (2**30 bytes). None sizes it from the available
        memory like `resolve_cache("auto")`; 0 keeps no RAM tier (disk
        only). It is capped at half the free space of /dev/shm, which torch
        and Grain workers also use to pass batches.
    cache_dir : path or None
        Where the disk tier lives (created if missing); None: no disk tier.

    Notes
    -----
    The object that constructs the RAM tier owns it: its `close()`, or its
    garbage collection, removes the directory. Pickled copies and forked
    children hold handles that only detach when closed; use them while the
    owner is open (after it closes, their stores are dropped and counted in
    `store_errors`). A RAM tier whose processes all died without closing it
    (SIGKILL, SIGTERM, `os._exit`) is removed by the next `AudioCache` made
    on the machine (see `audiodecode.cache.memory`).

    Files are decoded with `audiodecode.load_batch`'s defaults (backend
    "auto", strict=False): a damaged file's `DecodeWarning` comes from the
    decode that fills its entry, not from later hits.
    """

    def __init__(self, max_ram_gb: float | None = None, cache_dir: StrPath | None = None) -> None:
        if max_ram_gb is None:
            budget = auto_ram_budget()
        elif max_ram_gb >= 0:
            budget = int(max_ram_gb * _GIB)
        else:
            raise ValueError(f"max_ram_gb must be >= 0 or None, got {max_ram_gb}")
        if budget == 0 and cache_dir is None:
            raise ValueError("max_ram_gb=0 and no cache_dir caches nothing; pass cache=None to turn caching off")
        self._settings = (max_ram_gb, None if cache_dir is None else os.fspath(cache_dir))
        self._ram = SharedMemoryTier.create(budget) if budget > 0 else None
        self._disk = DiskTier(cache_dir) if cache_dir is not None else None
        self._closed = False
        self._owner = os.getpid()
        self._reset_process_state()
        self._finalizer = weakref.finalize(self, _remove_if_owner, self._ram, self._owner) if self._ram else None

    # -- loading --------------------------------------------------------

    def load(self, path: StrPath, sr: int | None = None, mono: bool = True) -> np.ndarray:
        """The whole file decoded at `sr`, from the cache if it is there.

        Parameters
        ----------
        path : str or path-like
            A file path (bytes and file objects have no path to key by).
        sr : int or None
            Target rate; None keeps the file's own (then use `load_batch`
            to learn it).
        mono : bool
            Mix the channels down to their mean.

        Returns
        -------
        np.ndarray [shape=(n,) or (channels, n)], float32
            Bit-identical to `audiodecode.load(path, sr, mono)[0]`; the
            caller's to modify.

        Raises
        ------
        FileNotFoundError, audiodecode.DecodeError, ValueError
            As `audiodecode.load`.
        """
        return self.load_batch([path], sr, mono)[0][0]

    def load_batch(
        self,
        paths: Sequence[StrPath],
        sr: int | None = None,
        mono: bool = True,
        *,
        on_error: OnError = "raise",
        num_threads: int | None = None,
    ) -> loading.BatchResult:
        """`audiodecode.load_batch` for whole files, through the cache.

        Hits are copied out of the cache; the misses are decoded together
        in one `audiodecode.load_batch` call (parallel in Rust, GIL
        released) and stored. A path repeated within the batch is decoded
        once.

        Returns
        -------
        audiodecode.BatchResult
            `(y, sr)` per path in input order. With `on_error="skip"` a
            failed path gives None and its exception is in `.errors`; with
            `on_error="raise"` the first failure in input order is raised.
        """
        keys: list[EntryKey | Exception] = []
        for path in paths:
            if not isinstance(path, (str, os.PathLike)):
                raise TypeError(f"AudioCache loads file paths, not {type(path).__name__}: entries are keyed by path")
            try:
                keys.append(EntryKey.of(path, sr, mono))
            except OSError as err:
                keys.append(err)

        def decode(misses: list[EntryKey], positions: list[int]) -> list[Decoded]:
            decoded = loading.load_batch(
                [key.path for key in misses], sr, mono, num_threads=num_threads, on_error="skip"
            )
            return [decoded.errors[j] if item is None else item for j, item in enumerate(decoded)]

        # A file rewritten while it was decoded: which version was read is unknown.
        return self._load_keyed(keys, decode, sr, on_error, store_if=_unchanged)

    def load_records(
        self,
        keys: Sequence[tuple[str, int, int]],
        fetch: Callable[[list[int]], list[Encoded | Exception]],
        sr: int | None = None,
        mono: bool = True,
        *,
        on_error: OnError = "raise",
        num_threads: int | None = None,
    ) -> loading.BatchResult:
        """`load_batch` for records held in memory (a tar member, a Parquet
        row), keyed without reading them.

        Parameters
        ----------
        keys : sequence of (name, size, version)
            Per record: a name unique in the data set (``shard#member``),
            its size in bytes (0 if unknown) and a signed 64-bit version of
            the object it lives in (`audiodecode.data.sources.RecordKey.
            entry_fields`). They take the place of a file's path, size and
            mtime: a new version of the object is decoded afresh.
        fetch : callable
            `fetch(positions)` returns the encoded bytes of the records at
            those positions of `keys` (or an exception per record). It is
            called once, for the misses only: a batch of hits reads nothing.

        Returns
        -------
        audiodecode.BatchResult
            As `load_batch`; errors name the record.
        """
        entry_keys: list[EntryKey | Exception] = [
            EntryKey(str(name), int(size), int(version), None if sr is None else int(sr), bool(mono))
            for name, size, version in keys
        ]

        def decode(misses: list[EntryKey], positions: list[int]) -> list[Decoded]:
            fetched = fetch(positions)
            readable = [j for j, data in enumerate(fetched) if not isinstance(data, Exception)]
            decoded = loading.load_batch(
                [fetched[j] for j in readable], sr, mono, num_threads=num_threads, on_error="skip"
            )
            outcome: list[Decoded] = list(fetched)  # the fetch errors stay
            for k, j in enumerate(readable):
                if decoded[k] is None:
                    err = decoded.errors[k]
                    outcome[j] = loading._rename(err, misses[j].path) if str(err).startswith("<bytes>") else err
                else:
                    outcome[j] = decoded[k]
            return outcome

        return self._load_keyed(entry_keys, decode, sr, on_error)

    def _load_keyed(
        self,
        keys: list[EntryKey | Exception],
        decode: Callable[[list[EntryKey], list[int]], list[Decoded]],
        sr: int | None,
        on_error: str,
        store_if: Callable[[EntryKey], bool] = lambda key: True,
    ) -> loading.BatchResult:
        """What `load_batch` and `load_records` share: hits from the tiers,
        each distinct miss decoded once (`decode(misses, first positions)`),
        stored (when `store_if` agrees) and handed to every position that
        asked for it. A key that is an exception is that position's error."""
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
        loading._check_sr(sr)
        self._ready()
        items: list[tuple[np.ndarray, int] | None] = [None] * len(keys)
        errors: dict[int, Exception] = {}
        pending: dict[EntryKey, list[int]] = {}
        for i, key in enumerate(keys):
            if isinstance(key, Exception):
                errors[i] = key
            elif key in pending:
                pending[key].append(i)
            elif (found := self._lookup(key)) is not None:
                items[i] = found
            else:
                pending[key] = [i]
        if pending:
            misses = list(pending)
            self._count("misses", len(misses))
            for key, result in zip(misses, decode(misses, [pending[key][0] for key in misses])):
                first, *repeats = pending[key]
                if isinstance(result, Exception):
                    for i in pending[key]:
                        errors[i] = result
                    continue
                y, out_sr = result
                if store_if(key):
                    self._store(key, y, out_sr, (self._ram, self._disk))
                items[first] = (y, out_sr)
                for i in repeats:
                    items[i] = (y.copy(), out_sr)
        if errors and on_error == "raise":
            raise errors[min(errors)]
        return loading.BatchResult(items, errors)

    def _lookup(self, key: EntryKey) -> tuple[np.ndarray, int] | None:
        """The entry from the RAM tier, else from the disk tier (copied into RAM), else None."""
        for tier, counter in ((self._ram, "hits"), (self._disk, "disk_hits")):
            if tier is None:
                continue
            path = tier.path_of(key)
            try:
                found = read_entry(path, key, touch=tier is self._ram)
            except CorruptEntry:
                self._count("corrupt_discarded")
                try:
                    os.unlink(path)
                except OSError:  # another worker discarded it first, or a directory is in the way
                    pass
                continue
            if found is not None:
                self._count(counter)
                if tier is self._disk:
                    self._store(key, *found, (self._ram,))
                return found
        return None

    def _store(
        self, key: EntryKey, y: np.ndarray, sr: int, tiers: tuple[SharedMemoryTier | DiskTier | None, ...]
    ) -> None:
        """Write the clip to `tiers`; a failed write only costs a later decode."""
        packed = pack(key, y, sr)
        for tier in tiers:
            if tier is None:
                continue
            try:
                evicted = tier.put(key, packed)
            except OSError:
                # /dev/shm or the disk is full, or the owner closed the cache.
                self._count("store_errors")
                continue
            if evicted:
                self._count("evictions", evicted)

    # -- state ----------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Counters of this handle and the sizes of the shared store.

        Returns
        -------
        dict
            hits, disk_hits, misses (files decoded), evictions,
            corrupt_discarded, store_errors: what this handle did in this
            process; bytes_held (RAM tier, page-rounded, counted from the
            files), budget_bytes, disk_bytes: the store as every process
            sees it.
        """
        self._ready()
        with self._stats_lock:
            counts = dict(self._counts)
        counts["bytes_held"] = self._ram.bytes_held() if self._ram else 0
        counts["budget_bytes"] = self._ram.budget if self._ram else 0
        counts["disk_bytes"] = self._disk.bytes_held() if self._disk else 0
        return counts

    @property
    def ram_dir(self) -> str | None:
        """The shared-memory directory holding the RAM tier (None without one)."""
        return self._ram.directory if self._ram else None

    def clear(self) -> None:
        """Remove every entry from both tiers, for every process; the counters stay."""
        self._ready()
        if self._ram:
            self._ram.clear()
        if self._disk:
            self._disk.clear()

    def close(self) -> None:
        """Release the cache. In the owning process this deletes the RAM tier;
        the disk tier stays for the next run. Closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        if self._finalizer is not None:
            self._finalizer.detach()
        if self._ram:
            self._ram.close(remove=os.getpid() == self._owner)

    def __enter__(self) -> AudioCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        # Only the settings, not the shared-memory path: loaders' reprs
        # (Grain checkpoints compare them) stay equal across runs.
        max_ram_gb, cache_dir = self._settings
        return f"AudioCache(max_ram_gb={max_ram_gb!r}, cache_dir={cache_dir!r})"

    # -- processes ------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        """A handle to the same shared store (not a copy of it) for another process."""
        self._ready()
        return {
            "settings": self._settings,
            "ram": (self._ram.directory, self._ram.budget) if self._ram else None,
            "disk": self._disk.directory if self._disk else None,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._settings = state["settings"]
        self._ram = SharedMemoryTier(*state["ram"]) if state["ram"] else None
        self._disk = DiskTier(state["disk"]) if state["disk"] else None
        self._owner = None  # the process that made the cache removes the store, not a handle
        self._closed = False
        self._finalizer = None
        self._reset_process_state()

    def _reset_process_state(self) -> None:
        self._pid = os.getpid()
        self._stats_lock = threading.Lock()
        self._counts = dict.fromkeys(_COUNTERS, 0)

    def _count(self, counter: str, n: int = 1) -> None:
        with self._stats_lock:
            self._counts[counter] += n

    def _ready(self) -> None:
        """Refuse a closed cache; start a forked child's counters at zero
        (and with a fresh lock: the parent's may have been copied while held)."""
        if self._closed:
            raise ValueError("the AudioCache is closed")
        if self._pid != os.getpid():
            self._reset_process_state()


def _unchanged(key: EntryKey) -> bool:
    """Whether the source still has the size and mtime it had before it was
    decoded; if not, which version was decoded is unknown, so it is not stored."""
    try:
        return EntryKey.of(key.path, key.sr, key.mono) == key
    except FileNotFoundError:
        return False


def _remove_if_owner(ram: SharedMemoryTier, owner: int) -> None:
    """Finalizer: delete the RAM tier, but only in the process that made it
    (a forked child garbage-collecting its copy must not)."""
    ram.close(remove=os.getpid() == owner)


def resolve_cache(
    cache: AudioCache | Literal["auto"] | None, *, dataset_bytes_estimate: int | None = None
) -> AudioCache | None:
    """The cache a loader's `cache=` argument asks for.

    Parameters
    ----------
    cache : "auto", None or an AudioCache
        "auto": a RAM-only cache with `audiodecode.cache.budget.
        AUTO_RAM_FRACTION` (a quarter) of the available memory, capped by
        the data set. None: no cache. An `AudioCache` is used as it is.
    dataset_bytes_estimate : int or None
        The data set's decoded size in bytes at the loader's rate and
        channel mode, if known.

    Returns
    -------
    AudioCache or None
        None also for "auto" when the budget comes to zero (an empty data
        set). The loader that asked for "auto" owns the cache it gets and
        should close it.
    """
    if cache is None or isinstance(cache, AudioCache):
        return cache
    if cache != "auto":
        raise ValueError(f"cache must be 'auto', None or an AudioCache, not {cache!r}")
    budget = auto_ram_budget(dataset_bytes_estimate)
    return AudioCache(max_ram_gb=budget / _GIB) if budget > 0 else None
