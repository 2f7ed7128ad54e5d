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
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from audiodecode.data.sources import Storage
from audiodecode.preparation.config import PrepareConfig
from audiodecode.preparation.convert import convert
from audiodecode.preparation.output import Output
from audiodecode.preparation.plan import ShardPlan
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
              progress: Progress) -> Iterator[list[dict[str, Any]]]:
        """`probe_many`'s answers for `records`, a batch at a time, in order."""
        for start in range(0, len(records), LOCAL_PROBE_BATCH):
            got = probe_many(records[start:start + LOCAL_PROBE_BATCH], config, storage, self.num_workers)
            progress.update(len(got), sum(p["ok"]["seconds"] for p in got if "ok" in p))
            yield got

    def write(self, shards: Sequence[dict[str, Any]], plan: ShardPlan, config: PrepareConfig, output: Output,
              storage: Storage, progress: Progress) -> None:
        def one(record: dict[str, Any]) -> dict[str, Any]:
            got = convert(record, config, storage)
            progress.update(1, record["seconds"])
            return got

        with ThreadPoolExecutor(self.num_workers) as pool:
            for shard in shards:
                write_shard(plan.with_records(shard), config, output, one, pool.map)


def _probe_batch(batch: dict[str, np.ndarray], records: Any, config: PrepareConfig,
                 storage: Storage) -> dict[str, np.ndarray]:
    import ray

    quiet()
    if isinstance(records, ray.ObjectRef):  # the object store's copy, shared by the tasks on a node
        records = ray.get(records)
    # One thread: the task holds one CPU of the cluster.
    out = [json.dumps(probe_many(records[int(a):int(b)], config, storage, num_threads=1))
           for a, b in zip(batch["start"], batch["stop"])]
    return {"results": np.array(out, dtype=object)}


def _write_batch(batch: dict[str, np.ndarray], plan: Any, config: PrepareConfig, output: Output,
                 storage: Storage) -> dict[str, np.ndarray]:
    import ray

    quiet()
    if isinstance(plan, ray.ObjectRef):
        plan = ray.get(plan)

    def one(record: dict[str, Any]) -> dict[str, Any]:
        return convert(record, config, storage)

    parts = [json.dumps(write_shard(plan.with_records(json.loads(s)), config, output, one)) for s in batch["shard"]]
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

    def _run(self, items: list[dict[str, Any]], fn: Callable, column: str, tick: Callable[[Any], None],
             **kwargs: Any) -> Iterator[Any]:
        import ray.data

        if not items:
            return
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.verbose_stats_logs = False
        # Results in input order: the probe's feed the record table in order.
        ctx.execution_options.preserve_order = True
        compute = ray.data.TaskPoolStrategy(size=None if self.num_workers is None else max(1, self.num_workers))
        ds = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
            fn, batch_size=1, fn_kwargs=kwargs, compute=compute, num_cpus=1, batch_format="numpy")
        for row in ds.iter_rows():
            value = json.loads(row[column])
            tick(value)
            yield value

    def probe(self, records: Sequence[dict[str, Any]], config: PrepareConfig, storage: Storage,
              progress: Progress) -> Iterator[list[dict[str, Any]]]:
        """`probe_many`'s answers, a task's batch at a time, in order. The
        tasks get the records whole (one copy in the object store) and a
        range each, not the records themselves."""
        chunks = [{"start": i, "stop": min(i + PROBE_BATCH, len(records))} for i in range(0, len(records), PROBE_BATCH)]

        def tick(results: list[dict[str, Any]]) -> None:
            progress.update(len(results), sum(r["ok"]["seconds"] for r in results if "ok" in r))

        yield from self._run(chunks, _probe_batch, "results", tick, records=self.ray.put(records), config=config,
                             storage=storage)

    def write(self, shards: Sequence[dict[str, Any]], plan: ShardPlan, config: PrepareConfig, output: Output,
              storage: Storage, progress: Progress) -> None:
        lock = threading.Lock()

        def tick(part: dict[str, Any]) -> None:
            with lock:
                progress.update(len(part["rows"]) + len(part["rejects"]), sum(r["duration"] for r in part["rows"]))

        items = [{"shard": json.dumps(s)} for s in shards]
        for _ in self._run(items, _write_batch, "part", tick, plan=self.ray.put(plan), config=config, output=output,
                           storage=storage):
            pass


def make_runner(runner: str, num_workers: int | None) -> LocalRunner | RayRunner:
    if runner == "local":
        return LocalRunner(num_workers)
    if runner == "ray":
        return RayRunner(num_workers)
    raise ValueError(f"runner must be 'local' or 'ray', not {runner!r}")
