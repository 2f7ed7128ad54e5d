"""Duration bucketing: batches of utterances of similar length, in a few
static shapes.

Records are grouped by duration into buckets; a batch holds records of one
bucket and is padded to the bucket's upper boundary, and its row count is
fixed per bucket (`max_batch_seconds / boundary`: short utterances make big
batches, long ones small), padded with masked rows when a bucket runs out.
So at most `num_buckets` batch shapes ever reach the device, and XLA
compiles each once.

    buckets = DurationBuckets.estimate(files.durations, num_buckets=8, max_batch_seconds=200)
    schedule = BucketSchedule(buckets, files.durations, seed=0, shuffle=True, num_epochs=None)
    epochs, indices, bucket = schedule.batch(0)   # this process's rows of batch 0

Records stored in shards (tar, ArrayRecord, Parquet) can be batched shard
by shard (`containers`): a batch then holds records of one bucket and one
shard, so reading it is requests to one object. Shards written by
`audiodecode.prepare(bucket_by_duration=True)` hold one duration range
each, so this costs about one partial batch per shard; `shard_local`
decides when it is worth it.

Every order comes from (seed, epoch) through `audiodecode.data.seeding`; the
state of a run is the next batch's position. Every process builds the same
global batch list and takes its own slice of each batch's rows, so at each
step all processes hold rows of the same bucket, which is what
`jax.make_array_from_process_local_data` needs to assemble one global batch.
"""

from __future__ import annotations

import math
import sys
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from audiodecode.data import seeding

# Seed streams of the bucketed order (beside seeding.ORDER, CROP, ...).
BUCKET_ORDER = 0xB0C4E7
# Batches cut shard by shard when that adds at most this share of batches
# (their partial last batches): a shard of mixed durations splits into up
# to num_buckets groups and would pad many more rows.
SHARD_LOCAL_OVERHEAD = 0.1


@dataclass(frozen=True)
class DurationBuckets:
    """Bucket boundaries and the static rows of each bucket's batches.

    Attributes
    ----------
    boundaries : tuple of float
        Upper edges in seconds, ascending; a record of duration `d` belongs
        to the first bucket with `d <= boundary`.
    rows : tuple of int
        Rows of a global batch (over all processes) of each bucket.
    """

    boundaries: tuple[float, ...]
    rows: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.boundaries:
            raise ValueError("duration bucketing needs at least one bucket")
        if any(b <= 0 or not math.isfinite(b) for b in self.boundaries):
            raise ValueError(f"bucket boundaries must be positive and finite, got {self.boundaries}")
        if list(self.boundaries) != sorted(set(self.boundaries)):
            raise ValueError(f"bucket boundaries must be strictly increasing, got {self.boundaries}")
        if len(self.rows) != len(self.boundaries) or min(self.rows) < 1:
            raise ValueError(f"every bucket needs >= 1 row per batch, got {self.rows}")

    @classmethod
    def estimate(
        cls,
        durations: np.ndarray,
        *,
        max_batch_seconds: float,
        num_buckets: int = 8,
        boundaries: tuple[float, ...] | list[float] | None = None,
        row_multiple: int = 1,
    ) -> DurationBuckets:
        """Buckets for a data set's durations.

        Parameters
        ----------
        durations : np.ndarray [shape=(n,)], float
            Every record's duration in seconds.
        max_batch_seconds : float
            Audio seconds a batch may hold, padding included: bucket `k`'s
            batches have `max(1, floor(max_batch_seconds / boundary_k))` rows
            (rounded down to `row_multiple`, at least `row_multiple`).
        num_buckets : int
            With no `boundaries`: the boundaries that waste the least padding
            (`least_padding_boundaries`), the last one the longest duration.
            Fewer when durations repeat.
        boundaries : sequence of float, optional
            Explicit upper edges in seconds.
        row_multiple : int
            Rows divisible by this (the number of processes times the
            devices the batch axis is split over).

        Raises
        ------
        ValueError
            A record longer than the last explicit boundary (named by its
            position), or a batch budget shorter than the longest bucket.
        """
        durations = np.asarray(durations, dtype=np.float64)
        if len(durations) == 0:
            raise ValueError("duration bucketing needs at least one record")
        if not np.isfinite(durations).all() or (durations <= 0).any():
            raise ValueError("duration bucketing needs every record's duration (positive, finite)")
        if not max_batch_seconds > 0:
            raise ValueError(f"max_batch_seconds must be > 0, got {max_batch_seconds}")
        if boundaries is None:
            if num_buckets < 1:
                raise ValueError(f"num_buckets must be >= 1, got {num_buckets}")
            edges = least_padding_boundaries(durations, num_buckets)
        else:
            edges = tuple(float(b) for b in boundaries)
            too_long = np.flatnonzero(durations > edges[-1]) if edges else np.array([])
            if len(too_long):
                raise ValueError(
                    f"{len(too_long)} records are longer than the last bucket boundary {edges[-1]} s (record "
                    f"{int(too_long[0])}: {durations[too_long[0]]:.3f} s); raise the boundary or drop them"
                )
        if max_batch_seconds < edges[-1]:
            raise ValueError(
                f"max_batch_seconds={max_batch_seconds} cannot hold one record of the longest bucket ({edges[-1]} s)"
            )
        rows = tuple(
            max(row_multiple, int(max_batch_seconds // edge) // row_multiple * row_multiple) for edge in edges
        )
        return cls(edges, rows)

    def of(self, durations: np.ndarray) -> np.ndarray:
        """The bucket of each duration, shape (n,), int64."""
        return np.searchsorted(np.asarray(self.boundaries), np.asarray(durations, dtype=np.float64), side="left")

    def widths(self, sr: int) -> tuple[int, ...]:
        """Each bucket's padded length in samples at `sr` (the boundary,
        rounded up, plus one sample for resampling's rounding)."""
        return tuple(math.ceil(b * sr) + 1 for b in self.boundaries)


class BucketSchedule:
    """The bucketed stream of batches: epoch after epoch, each a seeded
    shuffle of every bucket's records cut into that bucket's batches, the
    batches then shuffled together.

    Parameters
    ----------
    buckets : DurationBuckets
    durations : np.ndarray [shape=(n,)], float
        Every record's duration (the whole data set's, in every process).
    seed : int
    shuffle : bool
        False: records in data-set order within a bucket, buckets in order.
    num_epochs : int or None
        None repeats forever.
    drop_remainder : bool
        Drop each bucket's last, partial batch per epoch (else it is padded
        with masked rows).
    process, processes : int
        This process's slice of every global batch.
    containers : np.ndarray [shape=(n,)], int, optional
        The shard each record lives in: a batch then holds records of one
        bucket and one shard (each shard's last batch of a bucket partial).
        None: a bucket's batches mix its records from every shard.
    """

    def __init__(
        self,
        buckets: DurationBuckets,
        durations: np.ndarray,
        *,
        seed: int,
        shuffle: bool = True,
        num_epochs: int | None = None,
        drop_remainder: bool = False,
        process: int = 0,
        processes: int = 1,
        containers: np.ndarray | None = None,
    ) -> None:
        if not 0 <= process < processes:
            raise ValueError(f"process {process} is not in [0, {processes})")
        if any(r % processes for r in buckets.rows):
            raise ValueError(f"bucket rows {buckets.rows} do not split over {processes} processes")
        if num_epochs is not None and num_epochs < 1:
            raise ValueError(f"num_epochs must be >= 1 or None, got {num_epochs}")
        self.buckets = buckets
        self.seed = seed
        self.shuffle = shuffle
        self.num_epochs = num_epochs
        self.drop_remainder = drop_remainder
        self.process = process
        self.processes = processes
        bucket_of = buckets.of(durations)
        self.members = tuple(np.flatnonzero(bucket_of == k).astype(np.int64) for k in range(len(buckets.rows)))
        # int32 and only when used: it travels to every Grain worker.
        self.containers = None if containers is None else np.asarray(containers, dtype=np.int32)
        if self.containers is not None and len(self.containers) != len(durations):
            raise ValueError(f"{len(self.containers)} containers for {len(durations)} records")
        self.batches_per_epoch = batch_count(self.members, buckets.rows, self.containers, drop_remainder)
        if self.batches_per_epoch == 0:
            raise ValueError("no bucket fills one batch: lower max_batch_seconds or keep partial batches")
        self._init_cache()

    def _init_cache(self) -> None:
        self._epochs: dict[int, list[tuple[int, np.ndarray]]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Batches in the stream (`sys.maxsize` when it repeats forever)."""
        return sys.maxsize if self.num_epochs is None else self.batches_per_epoch * self.num_epochs

    def __repr__(self) -> str:
        return (
            f"BucketSchedule(boundaries={self.buckets.boundaries}, rows={self.buckets.rows}, "
            f"records={sum(len(m) for m in self.members)}, seed={self.seed}, shuffle={self.shuffle}, "
            f"num_epochs={self.num_epochs}, drop_remainder={self.drop_remainder}, "
            f"shard_local={self.containers is not None}, process={self.process}/{self.processes})"
        )

    def epoch(self, epoch: int) -> list[tuple[int, np.ndarray]]:
        """The global batches of `epoch` in order: (bucket, record indices)."""
        with self._lock:
            batches = self._epochs.get(epoch)
        if batches is None:
            batches = []
            for k, (members, rows) in enumerate(zip(self.members, self.buckets.rows)):
                order = seeding.epoch_order(members, self._bucket_seed(k), epoch, self.shuffle)
                for group in self._by_container(order):
                    stop = len(group) // rows * rows if self.drop_remainder else len(group)
                    batches += [(k, group[i : i + rows]) for i in range(0, stop, rows)]
            if self.shuffle:
                keys = seeding.record_seeds(self._bucket_seed(len(self.members)), epoch, np.arange(len(batches)))
                batches = [batches[i] for i in np.argsort(keys, kind="stable")]
            with self._lock:
                self._epochs[epoch] = batches
                for old in [e for e in self._epochs if e < epoch - 1]:
                    del self._epochs[old]
        return batches

    def _by_container(self, order: np.ndarray) -> list[np.ndarray]:
        """`order` as one group, or cut into one group per shard (shards in
        order, each keeping `order`'s order: the stable sort)."""
        if self.containers is None or not len(order):
            return [order]
        order = order[np.argsort(self.containers[order], kind="stable")]
        return np.split(order, np.flatnonzero(np.diff(self.containers[order])) + 1)

    def _bucket_seed(self, stream: int) -> int:
        return int(seeding.derive(np.array([self.seed], dtype=np.uint64), BUCKET_ORDER + stream)[0])

    def batch(self, b: int) -> tuple[np.ndarray, np.ndarray, int]:
        """This process's rows of batch `b`: (epochs, record indices, bucket).

        The rows are `rows[bucket] // processes` or fewer (a partial batch;
        the reader pads it with masked rows).
        """
        if not 0 <= b < len(self):
            raise IndexError(f"batch {b} is outside a stream of {len(self)}")
        epoch, k = divmod(b, self.batches_per_epoch)
        bucket, records = self.epoch(epoch)[k]
        local = self.buckets.rows[bucket] // self.processes
        mine = records[self.process * local : (self.process + 1) * local]
        return np.full(len(mine), epoch, dtype=np.int64), mine, bucket

    def first_batches(self, count: int, batch_size: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """(epochs, indices) of this process's rows of the first `count`
        non-empty batches (what the autotuner measures; `batch_size` is
        set by the buckets)."""
        batches = (self.batch(b)[:2] for b in range(min(len(self), 4 * count)))
        return [batch for batch in batches if len(batch[1])][:count]

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_epochs", "_lock")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_cache()


def batch_count(members: tuple[np.ndarray, ...], rows: tuple[int, ...], containers: np.ndarray | None,
                drop_remainder: bool) -> int:
    """Batches in one epoch of buckets `members` with `rows` each, cut shard
    by shard when `containers` is given."""
    total = 0
    for m, r in zip(members, rows):
        sizes = np.bincount(containers[m]) if containers is not None and len(m) else np.array([len(m)])
        total += int((sizes // r).sum() if drop_remainder else (-(-sizes // r)).sum())
    return total


def shard_local(buckets: DurationBuckets, durations: np.ndarray, containers: np.ndarray | None) -> np.ndarray | None:
    """`containers` when cutting batches shard by shard adds at most
    `SHARD_LOCAL_OVERHEAD` of the batches (shards of one duration range
    each, as `prepare(bucket_by_duration=True)` writes them), else None
    (batches mix shards, as for shards of every duration, where each shard
    would end in up to one partial batch per bucket)."""
    if containers is None:
        return None
    bucket_of = buckets.of(durations)
    members = tuple(np.flatnonzero(bucket_of == k) for k in range(len(buckets.rows)))
    # Counted with partial batches kept: dropping them would hide the cost.
    mixed = batch_count(members, buckets.rows, None, False)
    local = batch_count(members, buckets.rows, np.asarray(containers), False)
    return containers if local <= mixed * (1 + SHARD_LOCAL_OVERHEAD) else None


# Candidate boundaries `least_padding_boundaries` chooses among (quantiles
# of the durations): the search is O(num_buckets x CANDIDATES^2).
CANDIDATES = 256


def least_padding_boundaries(durations: np.ndarray, num_buckets: int) -> tuple[float, ...]:
    """Upper edges that minimise the padding of bucketing `durations` into
    `num_buckets` buckets (each record padded to its bucket's edge).

    Equal-count buckets (lhotse's choice is equal total duration) waste a
    fifth of the audio on a LibriSpeech-like spread with 6 buckets; this is
    the exact optimum over edges taken from `CANDIDATES` quantiles of the
    durations, by dynamic programming: the cost of a bucket is
    `count x edge - sum of its durations`.
    """
    d = np.sort(np.asarray(durations, dtype=np.float64))
    picks = np.unique(np.quantile(d, np.linspace(0, 1, min(len(d), CANDIDATES)), method="higher"))
    ends = np.searchsorted(d, picks, side="right")  # records <= each candidate
    sums = np.concatenate([[0.0], np.cumsum(d)])[ends]
    # cost[i, j]: one bucket of the records above candidate i up to candidate j.
    counts = ends[None, :] - ends[:, None]
    with np.errstate(invalid="ignore"):
        cost = np.where(counts > 0, counts * picks[None, :] - (sums[None, :] - sums[:, None]), np.inf)
    first = ends * picks - sums  # one bucket from the shortest record up to candidate j
    return _backtrack(picks, cost, first, min(num_buckets, len(picks)))


def _backtrack(picks: np.ndarray, cost: np.ndarray, first: np.ndarray, k: int) -> tuple[float, ...]:
    """The optimal edges (the last candidate always among them) for at most
    `k` buckets, from the per-bucket `cost` matrix."""
    m = len(picks)
    best = [first]
    arg = [np.full(m, -1)]
    for _ in range(1, k):
        total = best[-1][:, None] + cost
        total[np.tril_indices(m)] = np.inf
        i = np.argmin(total, axis=0)
        value = total[i, np.arange(m)]
        keep = value < best[-1]
        best.append(np.where(keep, value, best[-1]))
        arg.append(np.where(keep, i, -2))  # -2: as good with fewer buckets
    edges, j, level = [], m - 1, k - 1
    while level >= 0:
        while level > 0 and arg[level][j] == -2:
            level -= 1
        edges.append(float(picks[j]))
        if level == 0:
            break
        j, level = int(arg[level][j]), level - 1
    return tuple(sorted(edges))


def padding_share(buckets: DurationBuckets, durations: np.ndarray, sr: int) -> float:
    """Padded samples / all samples if every record were batched in its
    bucket (full batches, padded to the boundary): the bucketing's cost."""
    widths = np.asarray(buckets.widths(sr), dtype=np.float64)
    valid = np.round(np.asarray(durations) * sr)
    total = widths[buckets.of(durations)].sum()
    return float(1.0 - valid.sum() / total)
