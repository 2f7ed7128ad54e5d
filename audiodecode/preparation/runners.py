"""Runners: where the probing and the shard writing run.

Both run the same functions (`probe.probe`, `shards.write_shard`) on the
same plan, so they write the same bytes:

- `LocalRunner`: this machine's cores, no extra dependency. Headers are
  read a few hundred files a call (`audiodecode.info_batch`: Rust threads,
  GIL released); shards are written one after another, each one's records
  converted across a thread pool (decoding and resampling are Rust calls
  that release the GIL too).
- `RayRunner`: Ray Data ``map_batches`` tasks on a Ray cluster (the ``ray``
  extra; ``ray.init(address=...)`` beforehand reaches one, otherwise a
  local one is started). Each write task converts and writes whole shards
  straight to the output: a URL prefix in object storage, or a folder
  every worker sees (a shared file system on a cluster).
"""

from __future__ import annotations

import json
import os
import threading
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from audiodecode.data.sources import Storage
from audiodecode.preparation.config import PrepareConfig
from audiodecode.preparation.convert import convert
from audiodecode.preparation.output import Output
from audiodecode.preparation.probe import probe_many
from audiodecode.preparation.progress import Progress
from audiodecode.preparation.shards import write_shard

# Records per probing call (one parallel `info_batch`, a remote batch's
# bytes held at once) and per Ray probing task: enough to hide a call's
# or a task's overhead.
PROBE_BATCH = 64
LOCAL_PROBE_BATCH = 256


def quiet() -> None:
    """Decode warnings (a skipped damaged packet) and skipped-row warnings
    are reported in the rejects, not on stderr, once per record."""
    from audiodecode import DecodeWarning
    from audiodecode.data.table import SkippedRowsWarning

    warnings.simplefilter("ignore", DecodeWarning)
    warnings.simplefilter("ignore", SkippedRowsWarning)


class LocalRunner:
    """A thread pool of `num_workers` threads (default: the cores)."""

    def __init__(self, num_workers: int | None = None) -> None:
        self.num_workers = num_workers or os.cpu_count() or 1

    def probe(self, records: Sequence[dict[str, Any]], config: PrepareConfig, storage: Storage,
              progress: Progress) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for start in range(0, len(records), LOCAL_PROBE_BATCH):
            got = probe_many(records[start:start + LOCAL_PROBE_BATCH], config, storage, self.num_workers)
            progress.update(len(got), sum(p["ok"]["seconds"] for p in got if "ok" in p))
            out += got
        return out

    def write(self, shards: Sequence[dict[str, Any]], config: PrepareConfig, output: Output, storage: Storage,
              progress: Progress) -> list[dict[str, Any]]:
        def one(record: dict[str, Any]) -> dict[str, Any]:
            got = convert(record, config, storage)
            progress.update(1, record["seconds"])
            return got

        with ThreadPoolExecutor(self.num_workers) as pool:
            return [write_shard(shard, config, output, one, pool.map) for shard in shards]


def _probe_batch(batch: dict[str, np.ndarray], config: PrepareConfig, storage: Storage) -> dict[str, np.ndarray]:
    quiet()
    # One thread: the task holds one CPU of the cluster.
    out = [json.dumps(probe_many(json.loads(chunk), config, storage, num_threads=1)) for chunk in batch["records"]]
    return {"results": np.array(out, dtype=object)}


def _write_batch(batch: dict[str, np.ndarray], config: PrepareConfig, output: Output,
                 storage: Storage) -> dict[str, np.ndarray]:
    quiet()

    def one(record: dict[str, Any]) -> dict[str, Any]:
        return convert(record, config, storage)

    parts = [json.dumps(write_shard(json.loads(s), config, output, one)) for s in batch["shard"]]
    return {"part": np.array(parts, dtype=object)}


class RayRunner:
    """Ray Data tasks; `num_workers` caps the tasks running at once."""

    def __init__(self, num_workers: int | None = None) -> None:
        try:
            import ray
        except ImportError as err:
            raise ImportError("runner='ray' needs Ray Data: pip install 'audiodecode[ray]'") from err
        self.ray = ray
        self.num_workers = num_workers
        if not ray.is_initialized():
            ray.init(num_cpus=num_workers, log_to_driver=False)

    def _run(self, items: list[dict[str, str]], fn: Callable, column: str, tick: Callable[[Any], None],
             **kwargs: Any) -> list[Any]:
        import ray.data

        if not items:
            return []
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.verbose_stats_logs = False
        compute = ray.data.TaskPoolStrategy(size=None if self.num_workers is None else max(1, self.num_workers))
        ds = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
            fn, batch_size=1, fn_kwargs=kwargs, compute=compute, num_cpus=1, batch_format="numpy")
        out = []
        for row in ds.iter_rows():
            value = json.loads(row[column])
            tick(value)
            out.append(value)
        return out

    def probe(self, records: Sequence[dict[str, Any]], config: PrepareConfig, storage: Storage,
              progress: Progress) -> list[dict[str, Any]]:
        chunks = [{"records": json.dumps(list(records[i:i + PROBE_BATCH]))} for i in range(0, len(records), PROBE_BATCH)]

        def tick(results: list[dict[str, Any]]) -> None:
            progress.update(len(results), sum(r["ok"]["seconds"] for r in results if "ok" in r))

        got = [r for results in self._run(chunks, _probe_batch, "results", tick, config=config, storage=storage)
               for r in results]
        # Ray Data need not keep the order: the record index restores it.
        return sorted(got, key=lambda r: (r.get("ok") or r["reject"])["index"])

    def write(self, shards: Sequence[dict[str, Any]], config: PrepareConfig, output: Output, storage: Storage,
              progress: Progress) -> list[dict[str, Any]]:
        lock = threading.Lock()

        def tick(part: dict[str, Any]) -> None:
            with lock:
                progress.update(len(part["rows"]) + len(part["rejects"]), sum(r["duration"] for r in part["rows"]))

        items = [{"shard": json.dumps(s)} for s in shards]
        return self._run(items, _write_batch, "part", tick, config=config, output=output, storage=storage)


def make_runner(runner: str, num_workers: int | None) -> LocalRunner | RayRunner:
    if runner == "local":
        return LocalRunner(num_workers)
    if runner == "ray":
        return RayRunner(num_workers)
    raise ValueError(f"runner must be 'local' or 'ray', not {runner!r}")
