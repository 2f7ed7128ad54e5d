"""Objects read in large blocks, for the shard-streaming order.

In the shard-streaming order (`audiodecode.data.seeding.stream_order`) a
batch's records lie close together in a few shards, and consecutive
batches move forward through them. Reading each record by its own ranged
request would cost one request per record; `ShardBlocks` reads each shard
in aligned blocks of `block_size` bytes instead (one request per block,
through the storage's engine, all of a batch's blocks at once) and keeps
the latest blocks, so the following batches find their records in memory.

The blocks are shared by a loader's reader threads: a block two batches
need is requested once, and the second reader waits for the first one's
answer. Keeping blocks only saves requests: a record whose block was
dropped (it lingered in the shuffle buffer) is read again, and the bytes
are the same either way.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from audiodecode._typing import Encoded
from audiodecode.data.sources.storage import ByteRange, SourceReadError, Storage

# Blocks of this many bytes: at 50 ms per request, 4 MiB a request is
# well beyond what a reader decodes in that time.
BLOCK_SIZE = 4 << 20
# The fewest blocks kept, whatever the capacity asked for.
MIN_BLOCKS = 4


class ShardBlocks:
    """Aligned blocks of objects, read on demand and kept up to a capacity.

    Parameters
    ----------
    storage : Storage
        Reads the blocks (its retries, time limit and ETag checks apply).
    block_size : int
        Bytes per block; block k of an object is bytes
        `[k * block_size, (k + 1) * block_size)` (the last one shorter).
    capacity : int
        Bytes of blocks kept (the least recently used go first; at least
        `MIN_BLOCKS` blocks).
    """

    def __init__(self, storage: Storage, block_size: int = BLOCK_SIZE, capacity: int = 64 * BLOCK_SIZE) -> None:
        if block_size < 1 or capacity < 0:
            raise ValueError(f"block_size must be >= 1 and capacity >= 0, got {block_size} and {capacity}")
        self.storage = storage
        self.block_size = block_size
        self.capacity = max(capacity, MIN_BLOCKS * block_size)
        self._init_process_state()

    def _init_process_state(self) -> None:
        self._lock = threading.Lock()
        self._kept: OrderedDict[tuple[str, int], Encoded] = OrderedDict()
        self._kept_bytes = 0
        self._pending: dict[tuple[str, int], Future[Encoded]] = {}
        self.blocks_read = 0

    def __getstate__(self) -> dict[str, Any]:
        return {"storage": self.storage, "block_size": self.block_size, "capacity": self.capacity}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_process_state()

    def __repr__(self) -> str:
        return f"ShardBlocks(block_size={self.block_size}, capacity={self.capacity})"

    def clear(self) -> None:
        """Drop the kept blocks (reads in flight finish and are kept)."""
        with self._lock:
            self._kept.clear()
            self._kept_bytes = 0

    def read(self, ranges: Sequence[ByteRange], sizes: Sequence[int]) -> list[Encoded | Exception]:
        """The bytes of each range (each within one object of `sizes[i]`
        bytes), in order, or the exception that ended its block's read."""
        size = self.block_size
        blocks: dict[tuple[str, int], ByteRange] = {}
        for r, total in zip(ranges, sizes):
            if r.end is None or not 0 <= r.start <= r.end <= total:
                raise ValueError(f"{r.describe()}: not a range of an object of {total} bytes")
            for k in range(r.start // size, max(r.start, r.end - 1) // size + 1):
                blocks[(r.url, k)] = ByteRange(r.url, k * size, min((k + 1) * size, total), r.etag)
        have: dict[tuple[str, int], Encoded | Exception] = {}
        mine: list[tuple[str, int]] = []
        waits: dict[tuple[str, int], Future[Encoded]] = {}
        with self._lock:
            for key in blocks:
                if key in self._kept:
                    self._kept.move_to_end(key)
                    have[key] = self._kept[key]
                elif key in self._pending:
                    waits[key] = self._pending[key]
                else:
                    self._pending[key] = Future()
                    mine.append(key)
        if mine:
            have.update(self._fetch(mine, blocks))
        # The reader that asked first answers within its time limit; the
        # margin covers its last try starting just before the limit.
        limit = 2 * self.storage.retry.timeout_s + 5
        for key, future in waits.items():
            try:
                have[key] = future.result(timeout=limit)
            except FutureTimeout:
                have[key] = SourceReadError(f"{blocks[key].describe()}: no answer within {limit:g} s")
            except (OSError, ValueError) as err:
                have[key] = err
        return [self._cut(r, have) for r in ranges]

    def _fetch(self, keys: list[tuple[str, int]], blocks: dict[tuple[str, int], ByteRange]) -> dict:
        """Read `keys` (pending in this thread) at once and answer their waiters."""
        try:
            got = self.storage.read_many([blocks[key] for key in keys])
        except BaseException as err:
            with self._lock:
                for key in keys:
                    self._pending.pop(key).set_exception(err)
            raise
        with self._lock:
            self.blocks_read += len(keys)
            for key, data in zip(keys, got):
                future = self._pending.pop(key)
                if isinstance(data, Exception):
                    future.set_exception(data)
                    continue
                self._kept[key] = data
                self._kept_bytes += len(data)
                future.set_result(data)
            while self._kept_bytes > self.capacity and len(self._kept) > 1:
                _, dropped = self._kept.popitem(last=False)
                self._kept_bytes -= len(dropped)
        return dict(zip(keys, got))

    def _cut(self, r: ByteRange, have: dict[tuple[str, int], Encoded | Exception]) -> Encoded | Exception:
        """Range `r` out of its blocks: a slice of its block (the engine's
        buffer, shared, not copied) when it lies in one, else one copy."""
        assert r.end is not None
        size = self.block_size
        pieces = []
        for k in range(r.start // size, max(r.start, r.end - 1) // size + 1):
            block = have[(r.url, k)]
            if isinstance(block, Exception):
                return block
            pieces.append(block[max(r.start - k * size, 0) : min(r.end - k * size, size)])
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)
