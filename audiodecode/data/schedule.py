"""Which records each batch holds: the epoch order (shuffle, then repeat)
and fixed-size batches over it. The state of a run is one integer (the next
batch); every order is derived from (seed, epoch)."""

from __future__ import annotations

import sys
import threading
from typing import Any

import numpy as np

from audiodecode.data import seeding


class Schedule:
    """The stream of records a reader consumes: shuffle, then repeat.

    Position `p` of the stream is record `epoch_order(indices, seed, e)[p % n]`
    of epoch `e = p // n`: every epoch visits each record of `indices` once,
    in its own order, and epochs never mix. Batch `b` is positions
    `[b * batch_size, (b + 1) * batch_size)`, so a batch can span two epochs.

    Parameters
    ----------
    indices : np.ndarray [shape=(n,)], int
        The records (data-set indices) to visit: `AudioFiles.shard(...)`.
    seed : int
    shuffle : bool
        False visits `indices` in order every epoch.
    num_epochs : int or None
        None repeats forever.
    objects : np.ndarray [shape=(n,)], int, optional
        With `buffer`: the object (tar shard, ArrayRecord file) each of
        `indices` lies in, for the shard-streaming order.
    buffer : int, optional
        Shard-streaming order (`seeding.stream_order`): objects in a random
        order, read sequentially through a shuffle buffer of this many
        records; None: `seeding.epoch_order`, an exact global shuffle.
    """

    def __init__(self, indices: np.ndarray, *, seed: int, shuffle: bool, num_epochs: int | None,
                 objects: np.ndarray | None = None, buffer: int | None = None) -> None:
        self.indices = np.asarray(indices, dtype=np.int64)
        if len(self.indices) == 0:
            raise ValueError("a schedule needs at least one record")
        if num_epochs is not None and num_epochs < 1:
            raise ValueError(f"num_epochs must be >= 1 or None, got {num_epochs}")
        if (objects is None) != (buffer is None):
            raise ValueError("the shard-streaming order needs both objects and buffer")
        self.seed = seed
        self.shuffle = shuffle
        self.num_epochs = num_epochs
        self.objects = None if objects is None else np.asarray(objects, dtype=np.int64)
        self.buffer = buffer
        self._init_cache()

    def _init_cache(self) -> None:
        # The last two epochs' orders: reader threads straddle at most one
        # epoch boundary at a time.
        self._orders: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Positions in the stream (`sys.maxsize` when it repeats forever)."""
        if self.num_epochs is None:
            return sys.maxsize
        return len(self.indices) * self.num_epochs

    def __repr__(self) -> str:
        return (
            f"Schedule(n={len(self.indices)}, first={int(self.indices[0])}, last={int(self.indices[-1])}, "
            f"seed={self.seed}, shuffle={self.shuffle}, num_epochs={self.num_epochs}"
            + ("" if self.buffer is None else f", buffer={self.buffer}") + ")"
        )

    def order(self, epoch: int) -> np.ndarray:
        """The records of `epoch` in visiting order, shape (n,), int64."""
        with self._lock:
            order = self._orders.get(epoch)
        if order is None:
            if self.buffer is not None and self.shuffle:
                order = seeding.stream_order(self.indices, self.objects, self.seed, epoch, self.buffer)
            else:
                order = seeding.epoch_order(self.indices, self.seed, epoch, self.shuffle)
            with self._lock:
                self._orders[epoch] = order
                for old in [e for e in self._orders if e < epoch - 1]:
                    del self._orders[old]
        return order

    def record_at(self, position: int) -> tuple[int, int]:
        """(epoch, record index) at a stream position."""
        if not 0 <= position < len(self):
            raise IndexError(f"position {position} is outside a stream of {len(self)}")
        epoch, offset = divmod(position, len(self.indices))
        return epoch, int(self.order(epoch)[offset])

    def batch(self, b: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Epochs and record indices of batch `b`, each shape (<= batch_size,), int64.

        The last batch of a finite stream may be short.
        """
        start = b * batch_size
        stop = min(start + batch_size, len(self))
        pairs = [self.record_at(p) for p in range(start, stop)]
        if not pairs:
            raise IndexError(f"batch {b} is past the end of the stream")
        epochs, indices = zip(*pairs)
        return np.array(epochs, dtype=np.int64), np.array(indices, dtype=np.int64)

    def first_batches(self, count: int, batch_size: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """(epochs, indices) of up to `count` batches of epoch 0 (what the
        autotuner measures)."""
        return [self.batch(b, batch_size) for b in range(count) if b * batch_size < len(self.indices)]

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_orders", "_lock")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_cache()
