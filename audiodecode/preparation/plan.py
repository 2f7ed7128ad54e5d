"""The shard plan: which records go into which shard, decided up front.

The plan is computed from the probed durations and size estimates only,
in record order, so it is the same on every run and every runner: a
re-run after a kill finds the same shard numbers holding the same records,
skips the finished ones and rewrites the others byte for byte. It is kept
in ``OUT/.prepare/plan.json`` (the shards, as slices of one order of the
records) and ``plan.npz`` (the probed records, `RecordTable`) so a resumed
job does not probe again.

With ``bucket_by_duration`` records are first grouped by duration range
and each group is packed on its own, so a shard holds one range: a
bucketed loader's batch then reads from shards of its bucket only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from audiodecode.preparation.config import PrepareConfig
from audiodecode.preparation.table import RecordTable

# Buckets `bucket_by_duration=True` makes (equal numbers of records each).
DEFAULT_BUCKETS = 8


def bucket_edges(seconds: Sequence[float], spec: bool | Sequence[float]) -> list[float]:
    """The inner edges (seconds) between duration buckets: `spec` itself, or
    for True the quantiles that split `seconds` into `DEFAULT_BUCKETS`
    groups of equal size (rounded to milliseconds, so the plan does not
    hang on the last bit of a float)."""
    if spec is False:
        return []
    if spec is True:
        if not len(seconds):
            return []
        qs = np.quantile(np.asarray(seconds, dtype=np.float64), np.linspace(0, 1, DEFAULT_BUCKETS + 1)[1:-1])
        return sorted({round(float(q), 3) for q in qs})
    edges = sorted(float(e) for e in spec)
    if any(e <= 0 for e in edges):
        raise ValueError(f"bucket_by_duration edges must be positive seconds, got {list(spec)}")
    return edges


def assign(table: RecordTable, config: PrepareConfig) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Pack probed records into shards of at most `config.shard_size`
    estimated bytes (a record larger than that gets a shard of its own).

    Returns
    -------
    order : np.ndarray [shape=(len(table),)], int64
        Rows of `table` in shard order: by bucket, then record order.
    shards : list of dict
        One per shard, in order: ``{"name", "bucket": [lo, hi] or None,
        "start", "stop"}``, its rows being ``order[start:stop]``; names are
        ``shard-000000<suffix>``, numbered across buckets.
    """
    edges = bucket_edges(table.seconds, config.bucket_by_duration)
    buckets = np.searchsorted(np.asarray(edges, dtype=np.float64), table.seconds, side="right")
    order = np.argsort(buckets, kind="stable").astype(np.int64)
    bounds = [0.0, *edges, None]
    shards: list[dict[str, Any]] = []
    start, size = 0, 0
    sizes, keys = table.est_bytes[order].tolist(), buckets[order].tolist()
    for k, (est, b) in enumerate(zip(sizes, keys)):
        if k > start and (b != keys[start] or size + est > config.shard_size):
            shards.append({"bucket": keys[start], "start": start, "stop": k})
            start, size = k, 0
        size += est
    if len(order):
        shards.append({"bucket": keys[start], "start": start, "stop": len(order)})
    return order, [{"name": f"shard-{n:06d}{config.suffix}", **s,
                    "bucket": [bounds[s["bucket"]], bounds[s["bucket"] + 1]] if edges else None}
                   for n, s in enumerate(shards)]


@dataclass(frozen=True)
class ShardPlan:
    """The probed records and which shard holds which (`assign`'s answer).

    Attributes
    ----------
    table : RecordTable
    order : np.ndarray, int64
        Rows of `table` in shard order.
    shards : list of dict
        ``{"name", "bucket", "start", "stop"}``: rows ``order[start:stop]``.
    """

    table: RecordTable
    order: np.ndarray
    shards: list[dict[str, Any]]

    def rows(self, shard: dict[str, Any]) -> np.ndarray:
        return self.order[shard["start"]:shard["stop"]]

    def with_records(self, shard: dict[str, Any]) -> dict[str, Any]:
        """`shard` with its records' dicts (what `write_shard` takes), made now."""
        return {"name": shard["name"], "bucket": shard["bucket"],
                "records": [self.table.record(int(i)) for i in self.rows(shard)]}
