"""The shard plan: which records go into which shard, decided up front.

The plan is computed from the probed durations and size estimates only,
in record order, so it is the same on every run and every runner: a
re-run after a kill finds the same shard numbers holding the same records,
skips the finished ones and rewrites the others byte for byte. It is kept
in ``OUT/.prepare/plan.json`` so a resumed job does not probe again.

With ``bucket_by_duration`` records are first grouped by duration range
and each group is packed on its own, so a shard holds one range: a
bucketed loader's batch then reads from shards of its bucket only.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

import numpy as np

from audiodecode.preparation.config import PrepareConfig

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


def assign(records: Sequence[dict[str, Any]], config: PrepareConfig) -> list[dict[str, Any]]:
    """Pack probed records into shards of at most `config.shard_size`
    estimated bytes (a record larger than that gets a shard of its own).

    Returns
    -------
    list of dict
        One per shard, in order: ``{"name", "bucket": [lo, hi] or None,
        "records": [...]}``; names are ``shard-000000<suffix>``, numbered
        across buckets.
    """
    edges = bucket_edges([r["seconds"] for r in records], config.bucket_by_duration)
    groups: dict[int, list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault(bisect.bisect_right(edges, r["seconds"]), []).append(r)
    bounds = [0.0, *edges, None]
    shards: list[dict[str, Any]] = []
    for b in sorted(groups):
        bucket = [bounds[b], bounds[b + 1]] if edges else None
        current: list[dict[str, Any]] = []
        size = 0
        for r in groups[b]:
            if current and size + r["est_bytes"] > config.shard_size:
                shards.append({"bucket": bucket, "records": current})
                current, size = [], 0
            current.append(r)
            size += r["est_bytes"]
        if current:
            shards.append({"bucket": bucket, "records": current})
    return [{"name": f"shard-{n:06d}{config.suffix}", **s} for n, s in enumerate(shards)]
