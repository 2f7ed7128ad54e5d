"""Duration buckets: which records each batch holds when batches are sized in
audio seconds rather than rows.

Records are grouped by duration into `num_buckets` buckets (boundaries that
minimise padding, equal-count quantiles, or given); bucket `k` holds
durations in `(boundaries[k-1], boundaries[k]]`. Every batch of bucket `k`
is padded to `boundaries[k]` seconds and to `rows[k]` rows (a mask tells the
real rows), so at most `num_buckets` distinct shapes ever reach the device.
`rows[k] = max(1, floor(max_batch_seconds / boundaries[k]))`: short
utterances make big batches.

The plan of an epoch is a function of (seed, epoch) only: records are visited
in `seeding.epoch_order`, split by bucket into global batches of
`rows[k] * process_count` records, and the batches are put in an order drawn
from the same hash. The state of a run is one integer (the next batch), and
every process computes the same plan, so at step `b` all processes hold a
batch of the same bucket (process `p` takes records `p, p + P, p + 2P, ...` of
the global batch, at most `rows[k]`, padded to `rows[k]`) and `jax.make_array_from_process_local_data` can
assemble it.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from audiodecode.data import seeding

# Stream of the batch order's hash (apart from seeding's per-record streams).
_BATCH_ORDER = 0x42_55_43_4B  # "BUCK"

TOO_LONG_POLICIES = ("reject", "cut")


def estimate_boundaries(durations: np.ndarray, num_buckets: int) -> np.ndarray:
    """Upper bucket boundaries holding about equally many records each.

    The boundaries are the durations' quantiles at `k / num_buckets`,
    `k = 1..num_buckets` (the last one is the longest duration), with
    duplicates removed, so fewer buckets come back when many durations are
    equal.

    Parameters
    ----------
    durations : np.ndarray [shape=(n,)], float
        Seconds per record.
    num_buckets : int >= 1

    Returns
    -------
    np.ndarray [shape=(<= num_buckets,)], float64
        Strictly increasing upper boundaries in seconds.
    """
    durations = np.asarray(durations, dtype=np.float64)
    if num_buckets < 1:
        raise ValueError(f"num_buckets must be >= 1, got {num_buckets}")
    if len(durations) == 0:
        raise ValueError("estimating duration buckets needs at least one duration")
    if not np.all(np.isfinite(durations)) or np.any(durations <= 0):
        raise ValueError("durations must be finite and positive to estimate buckets")
    qs = np.arange(1, num_buckets + 1) / num_buckets
    # "higher": a boundary is always an actual duration, so the longest record fits exactly.
    bounds = np.quantile(durations, qs, method="higher")
    return np.unique(bounds)


def min_padding_boundaries(durations: np.ndarray, num_buckets: int, max_candidates: int = 2000) -> np.ndarray:
    """Upper bucket boundaries that minimise the padding of rows to their bucket.

    Exact dynamic programming over candidate boundaries (the distinct
    durations, or `max_candidates` quantiles of them when there are more):
    the padding of a bucket `(lo, hi]` is `sum(hi - d)` over its durations.
    Long-tailed sets (LibriSpeech: most 10-16 s, a few up to 35 s) get narrow
    buckets where durations are dense and in the tail, where equal-count
    quantiles put one wide bucket.

    Parameters
    ----------
    durations : np.ndarray [shape=(n,)], float
    num_buckets : int >= 1
    max_candidates : int
        Bounds the work: O(num_buckets * max_candidates**2).

    Returns
    -------
    np.ndarray [shape=(<= num_buckets,)], float64
        Strictly increasing; the last is the longest duration.
    """
    d = np.sort(np.asarray(durations, dtype=np.float64))
    estimate_boundaries(d, num_buckets)  # the same argument checks
    cand = np.unique(d)
    if len(cand) > max_candidates:
        cand = np.unique(np.quantile(d, np.linspace(0, 1, max_candidates), method="higher"))
    count = np.searchsorted(d, cand, side="right")
    total = np.concatenate([[0.0], np.cumsum(d)])[count]
    count = count.astype(np.float64)
    m = len(cand)
    # best[j]: least padding of all durations <= cand[j] with a boundary at cand[j].
    best = count * cand - total
    back = []
    for _ in range(1, min(num_buckets, m)):
        new, arg = best.copy(), np.arange(m)
        for j in range(1, m):
            cost = best[:j] + (count[j] - count[:j]) * cand[j] - (total[j] - total[:j])
            i = int(np.argmin(cost))
            if cost[i] < new[j]:
                new[j], arg[j] = cost[i], i
        back.append(arg)
        best = new
    j, bounds = m - 1, [cand[m - 1]]
    for arg in reversed(back):
        j = int(arg[j])
        bounds.append(cand[j])
    return np.unique(bounds)


def bucket_of(durations: np.ndarray, boundaries: np.ndarray) -> np.ndarray:
    """The bucket of each duration: the first boundary >= it.

    Durations above the last boundary get `len(boundaries)` (no bucket).

    Returns
    -------
    np.ndarray [shape=(n,)], int64
    """
    return np.searchsorted(np.asarray(boundaries, dtype=np.float64), np.asarray(durations, dtype=np.float64), side="left").astype(np.int64)


@dataclass(frozen=True)
class BucketBatch:
    """One process's share of one step.

    Attributes
    ----------
    epoch : int
    bucket : int
        Same on every process at the same step.
    indices : np.ndarray [shape=(m,)], int64
        Data-set indices of this process's real rows, `0 <= m <= rows`.
    rows : int
        Static rows of the bucket (the batch is padded to it).
    seconds : float
        The bucket's upper boundary: every row is padded (or cut) to it.
    """

    epoch: int
    bucket: int
    indices: np.ndarray
    rows: int
    seconds: float


class BucketSchedule:
    """Batches of similar durations whose order depends only on (seed, epoch).

    Parameters
    ----------
    indices : np.ndarray [shape=(n,)], int
        The records (data-set indices) to visit, the same on every process.
    durations : np.ndarray [shape=(n,)], float
        Seconds of each record of `indices` (of its segment for a segment record).
    max_batch_seconds : float
        Audio seconds per global batch row budget per process: bucket `k` has
        `max(1, floor(max_batch_seconds / boundaries[k]))` rows per process.
    num_buckets : int, optional
        Buckets estimated from `durations` (see `bucket_method`). Default 8
        when `bucket_boundaries` is not given.
    bucket_boundaries : sequence of float, optional
        Explicit increasing upper boundaries in seconds.
    seed : int
    shuffle : bool
        False keeps `indices`' order inside each bucket and the batches in
        bucket order.
    num_epochs : int or None
        None repeats forever.
    process_index, process_count : int
        This process and how many read together (`jax.process_index()`,
        `jax.process_count()`).
    too_long : {"reject", "cut"}
        Records longer than the last boundary: "reject" raises at start-up
        naming them; "cut" puts them in the last bucket, where they are cut
        to its boundary (the readers keep the first `boundaries[-1]` seconds).
    drop_remainder : bool
        Drop each bucket's last, partial global batch of an epoch.
    bucket_method : {"min_padding", "quantile"}
        How `num_buckets` boundaries are estimated: `min_padding_boundaries`
        or `estimate_boundaries` (equal-count quantiles, as lhotse).
    """

    def __init__(
        self,
        indices: np.ndarray,
        durations: np.ndarray,
        *,
        max_batch_seconds: float,
        num_buckets: int | None = None,
        bucket_boundaries: Any = None,
        seed: int = 0,
        shuffle: bool = True,
        num_epochs: int | None = 1,
        process_index: int = 0,
        process_count: int = 1,
        too_long: str = "reject",
        drop_remainder: bool = False,
        bucket_method: str = "min_padding",
    ) -> None:
        self.indices = np.asarray(indices, dtype=np.int64)
        self.durations = np.asarray(durations, dtype=np.float64)
        if len(self.indices) == 0:
            raise ValueError("a schedule needs at least one record")
        if self.durations.shape != self.indices.shape:
            raise ValueError(f"durations {self.durations.shape} do not match indices {self.indices.shape}")
        if not np.all(np.isfinite(self.durations)) or np.any(self.durations < 0):
            bad = int(self.indices[~(np.isfinite(self.durations) & (self.durations >= 0))][0])
            raise ValueError(f"record {bad} has no valid duration (needed for batch_by='duration')")
        if not max_batch_seconds > 0:
            raise ValueError(f"max_batch_seconds must be > 0, got {max_batch_seconds}")
        if num_epochs is not None and num_epochs < 1:
            raise ValueError(f"num_epochs must be >= 1 or None, got {num_epochs}")
        if not 0 <= process_index < process_count:
            raise ValueError(f"process_index {process_index} is not in [0, {process_count})")
        if too_long not in TOO_LONG_POLICIES:
            raise ValueError(f"too_long must be one of {TOO_LONG_POLICIES}, got {too_long!r}")
        if bucket_boundaries is not None and num_buckets is not None:
            raise ValueError("give num_buckets or bucket_boundaries, not both")
        if bucket_boundaries is not None:
            bounds = np.asarray(bucket_boundaries, dtype=np.float64)
            if bounds.ndim != 1 or len(bounds) == 0 or np.any(bounds <= 0) or np.any(np.diff(bounds) <= 0):
                raise ValueError(f"bucket_boundaries must be positive and strictly increasing, got {bucket_boundaries}")
        else:
            if bucket_method not in ("min_padding", "quantile"):
                raise ValueError(f"bucket_method must be 'min_padding' or 'quantile', got {bucket_method!r}")
            estimate = min_padding_boundaries if bucket_method == "min_padding" else estimate_boundaries
            bounds = estimate(np.maximum(self.durations, 1e-9), 8 if num_buckets is None else num_buckets)
        self.boundaries = bounds
        self.max_batch_seconds = float(max_batch_seconds)
        self.rows = np.maximum(1, np.floor(self.max_batch_seconds / bounds + 1e-9)).astype(np.int64)
        self.seed = seed
        self.shuffle = shuffle
        self.num_epochs = num_epochs
        self.process_index = process_index
        self.process_count = process_count
        self.too_long = too_long
        self.drop_remainder = drop_remainder

        buckets = bucket_of(self.durations, bounds)
        over = buckets >= len(bounds)
        if over.any():
            if too_long == "reject":
                worst = int(np.argmax(self.durations))
                raise ValueError(
                    f"{int(over.sum())} records are longer than the largest bucket ({bounds[-1]:g} s), "
                    f"e.g. record {int(self.indices[worst])} ({self.durations[worst]:g} s); "
                    f"raise the last bucket boundary or pass too_long='cut'"
                )
            buckets = np.minimum(buckets, len(bounds) - 1)
        self._bucket = dict(zip(self.indices.tolist(), buckets.tolist()))
        counts = np.bincount(buckets, minlength=len(bounds))
        global_rows = self.rows * process_count
        if drop_remainder:
            per_bucket = counts // global_rows
        else:
            per_bucket = -(-counts // global_rows)
        self.batches_per_bucket = per_bucket.astype(np.int64)
        self.batches_per_epoch = int(per_bucket.sum())
        if self.batches_per_epoch == 0:
            raise ValueError("no full batch in any bucket: lower max_batch_seconds or pass drop_remainder=False")
        self._plans: dict[int, list[tuple[int, np.ndarray]]] = {}
        self._next = 0

    def __len__(self) -> int:
        """Steps in the run (`sys.maxsize` when it repeats forever)."""
        if self.num_epochs is None:
            return sys.maxsize
        return self.batches_per_epoch * self.num_epochs

    def __repr__(self) -> str:
        return (
            f"BucketSchedule(n={len(self.indices)}, boundaries={self.boundaries.round(3).tolist()}, "
            f"rows={self.rows.tolist()}, seed={self.seed}, process={self.process_index}/{self.process_count})"
        )

    @property
    def num_buckets(self) -> int:
        return len(self.boundaries)

    def bucket(self, index: int) -> int:
        """The bucket of data-set record `index`."""
        return self._bucket[int(index)]

    def plan(self, epoch: int) -> list[tuple[int, np.ndarray]]:
        """All global batches of `epoch` in order: (bucket, data-set indices).

        Each batch holds at most `rows[bucket] * process_count` records.
        """
        cached = self._plans.get(epoch)
        if cached is not None:
            return cached
        order = seeding.epoch_order(self.indices, self.seed, epoch, self.shuffle)
        ob = np.array([self._bucket[i] for i in order.tolist()], dtype=np.int64)
        batches: list[tuple[int, np.ndarray]] = []
        for k in range(self.num_buckets):
            members = order[ob == k]
            size = int(self.rows[k] * self.process_count)
            for j in range(int(self.batches_per_bucket[k])):
                batches.append((k, members[j * size : (j + 1) * size]))
        if self.shuffle:
            # The batch order is a permutation drawn from (seed, epoch) like the records'.
            keys = seeding.derive(seeding.record_seeds(self.seed, epoch, np.arange(len(batches))), _BATCH_ORDER)
            batches = [batches[i] for i in np.argsort(keys, kind="stable")]
        self._plans = {epoch: batches}  # one epoch is enough: steps advance in order
        return batches

    def batch(self, step: int) -> BucketBatch:
        """This process's share of step `step`."""
        if not 0 <= step < len(self):
            raise IndexError(f"step {step} is past the end of the run ({len(self)} steps)")
        epoch, j = divmod(step, self.batches_per_epoch)
        k, members = self.plan(epoch)[j]
        rows = int(self.rows[k])
        # Interleaved, so a short last batch is spread evenly over the processes.
        mine = members[self.process_index :: self.process_count]
        return BucketBatch(epoch=epoch, bucket=k, indices=mine, rows=rows, seconds=float(self.boundaries[k]))

    def shapes(self, sr: int) -> list[tuple[int, int]]:
        """(rows, samples) of each bucket's padded audio at `sr`."""
        return [(int(r), bucket_samples(b, sr)) for r, b in zip(self.rows, self.boundaries)]

    # Iteration and checkpoint state: the next step is the whole state.
    def __iter__(self) -> BucketSchedule:
        return self

    def __next__(self) -> BucketBatch:
        if self._next >= len(self):
            raise StopIteration
        out = self.batch(self._next)
        self._next += 1
        return out

    def get_state(self) -> dict[str, int]:
        """JSON-able state: the next step and what the plan depends on."""
        return {"next_step": self._next, "seed": self.seed, "process_count": self.process_count}

    def set_state(self, state: dict[str, int]) -> None:
        """Resume at `state["next_step"]`; the seed and process count must match."""
        extra = set(state) - {"next_step", "seed", "process_count"}
        if extra:
            raise ValueError(f"unknown keys in a bucket schedule state: {sorted(extra)}")
        if state.get("seed", self.seed) != self.seed:
            raise ValueError(f"the state was saved with seed {state['seed']}, this schedule has {self.seed}")
        if state.get("process_count", self.process_count) != self.process_count:
            raise ValueError(
                f"the state was saved with {state['process_count']} processes, this run has {self.process_count}"
            )
        self._next = int(state["next_step"])


def bucket_samples(seconds: float, sr: int) -> int:
    """Samples of a bucket of `seconds` at `sr`: ceil, so the longest record fits."""
    return int(math.ceil(seconds * sr - 1e-6))


def header_durations(paths: Any) -> np.ndarray:
    """Seconds of each file from its header (`audiodecode.info`), no decode.

    Raises
    ------
    ValueError
        Naming the file whose header gives no length (bucketing needs one).
    """
    from audiodecode import loading

    out = np.empty(len(paths), dtype=np.float64)
    for i, path in enumerate(paths):
        header = loading.info(path)
        if header.frames is None:
            raise ValueError(f"{path}: the header gives no length, which batch_by='duration' needs")
        out[i] = header.frames / header.sample_rate
    return out
