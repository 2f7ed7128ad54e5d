"""`prepare`: a corpus of audio files turned into a prepared data set of
shards the loaders read (tar/WebDataset, ArrayRecord or Parquet), with a
manifest and a list of rejected files.

One concept per module:

- `config`: the settings that decide the output, ``prepare.json`` and the
  refusal of a folder prepared with other settings.
- `records`: the input (folder, list, manifest, URL prefix) as records.
- `probe`: each record's headers (duration, rate, channels, size estimate).
- `table`: the probed records as columns (`RecordTable`), for millions of files.
- `plan`: the deterministic assignment of records to shards (and buckets).
- `convert`: validation, resampling/down-mixing/trimming, FLAC encoding.
- `shards`: one shard written under a temporary name and renamed.
- `runners`: the local thread pool and Ray Data.
- `progress`: the progress line and the summary.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from audiodecode._typing import StrPath
from audiodecode.data.sources import Storage
from audiodecode.preparation.config import ConfigMismatchError, PrepareConfig, check_output, parse_size
from audiodecode.preparation.output import Output
from audiodecode.preparation.plan import ShardPlan, assign
from audiodecode.preparation.progress import PrepareSummary, Progress
from audiodecode.preparation.records import by_kind, collect, describe_source
from audiodecode.preparation.runners import make_runner, quiet
from audiodecode.preparation.shards import PARTS, is_finished, read_part
from audiodecode.preparation.table import RecordTable, TableBuilder

__all__ = ["ConfigMismatchError", "PrepareSummary", "prepare"]

PLAN_FORMAT = "audiodecode-prepare-plan/2"


def _plan(source: Any, config: PrepareConfig, output: Output, runner: Any, storage: Storage,
          show: bool) -> tuple[dict[str, Any], ShardPlan]:
    """The job's plan: read from ``.prepare/plan.json`` and ``plan.npz``
    when an earlier run made them, else probed and packed now and stored
    (the table first: ``plan.json`` marks a complete plan)."""
    name = f"{PARTS}/plan.json"
    try:
        stored = json.loads(output.read(name))
        if stored.get("format") == PLAN_FORMAT:
            table, extra = RecordTable.from_bytes(output.read(f"{PARTS}/plan.npz"))
            return stored, ShardPlan(table, extra["order"], stored["shards"])
    except (OSError, ValueError, KeyError):
        pass
    records, rejects = collect(source, storage)
    progress = Progress("probing", len(records), enabled=show)
    builder = TableBuilder()
    for probed in runner.probe(records, config, storage, progress):
        builder.add([p["ok"] for p in probed if "ok" in p])
        rejects += [p["reject"] for p in probed if "reject" in p]
    progress.close()
    table = builder.build()
    order, shards = assign(table, config)
    plan = {"format": PLAN_FORMAT, "records": len(records), "shards": shards, "rejects": rejects}
    output.write(f"{PARTS}/plan.npz", table.to_bytes(order=order))
    output.write(name, json.dumps(plan, sort_keys=True).encode())
    return plan, ShardPlan(table, order, shards)


def _raise_first(rejects: Sequence[dict[str, Any]]) -> None:
    if rejects:
        first = rejects[0]
        raise ValueError(f"{first['source']}: {first['reason']} (on_error='raise'; {len(rejects)} bad file(s) so far)")


def _finish(output: Output, plan: dict[str, Any], on_error: str) -> tuple[int, float, list, list[int]]:
    """Write ``manifest.jsonl`` (streamed, a shard's part at a time) and
    ``rejects.jsonl`` from the parts, in shard order.

    Returns
    -------
    files, seconds, rejects, shard_bytes
    """
    rejects = list(plan["rejects"])
    files, seconds, sizes = 0, 0.0, []
    tmp = output.temporary("manifest.jsonl")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            for shard in plan["shards"]:
                part = read_part(output, shard["name"])
                f.writelines(json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n" for row in part["rows"])
                files += len(part["rows"])
                for row in part["rows"]:
                    seconds += row["duration"]
                rejects += part["rejects"]
                sizes.append(part["bytes"])
        if on_error == "raise":
            _raise_first(rejects[len(plan["rejects"]):])
        output.publish(tmp, "manifest.jsonl")
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    rejects.sort(key=lambda r: (r.get("index", -1), r["stage"]))
    output.write("rejects.jsonl",
                 "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in rejects).encode())
    return files, seconds, rejects, sizes


def prepare(
    source: StrPath | Sequence[Any],
    out: StrPath,
    *,
    format: Literal["tar", "array_record", "parquet"] = "tar",  # noqa: A002 - the CLI's --format
    sr: int | None = None,
    mono: bool = False,
    codec: Literal["flac", "copy"] = "flac",
    shard_size: int | str = "256MB",
    validate: Literal["full", "sampled", "none"] = "full",
    bucket_by_duration: bool | Sequence[float] = False,
    runner: Literal["local", "ray"] = "local",
    num_workers: int | None = None,
    storage: Storage | None = None,
    progress: bool = True,
    on_error: Literal["skip", "raise"] = "skip",
) -> PrepareSummary:
    """Turn a corpus into shards the loaders read, resumably.

    Every record is probed (`audiodecode.info`), planned into a shard from
    its probed size alone, decoded (validated, trimmed by the manifest's
    offset and duration, resampled, down-mixed) and re-encoded as FLAC or
    kept as it is. A file that fails any step is listed in
    ``OUT/rejects.jsonl`` with its reason and the job goes on. A re-run
    with the same settings keeps the finished shards and writes the others
    to the same bytes; both runners write the same bytes.

    Parameters
    ----------
    source : path, URL prefix or sequence
        A folder (labels from its sub-folders), a manifest (NeMo JSONL,
        Common Voice TSV, LibriSpeech/CSV/JSONL with a path column), a
        list of paths or dicts, or a URL prefix ending in ``/``
        (``s3://bucket/clips/``: every audio object under it).
    out : path or URL
        The output folder: local (a file system every node sees, for a
        Ray cluster) or a URL prefix in object storage (``s3://bucket/prepared``,
        written through `storage`): ``shard-000000.tar``..., ``manifest.jsonl`` (one row per
        record: shard, member, source, duration, sr, channels,
        bits_per_sample, label, text), ``rejects.jsonl`` (index, source, stage, reason) and
        ``prepare.json`` (the settings).
    format : {"tar", "array_record", "parquet"}
        Shard layout: WebDataset tar, ArrayRecord (audiodecode-record/1
        with a ``.json`` sidecar) or Parquet (the `datasets` Audio layout).
    sr : int or None
        Resample to this rate; None keeps each file's own.
    mono : bool
        Down-mix to one channel.
    codec : {"flac", "copy"}
        Re-encode as FLAC at the source's depth (24-bit for lossless
        sources of more than 16 bits, else 16-bit: lossless at the source's
        own rate and channels), or keep the original bytes (no `sr`,
        `mono` or manifest trimming then).
    shard_size : int or str
        Target shard size (``"256MB"``, ``"1GiB"``, bytes), planned from
        each record's PCM size at the FLAC depth (so FLAC shards come out
        smaller) or its file size for "copy".
    validate : {"full", "sampled", "none"}
        "full" decodes every file strictly (a damaged packet rejects it);
        "sampled" decodes the first and last seconds of a copied file
        (FLAC output decodes everything anyway, skipping damaged packets);
        "none" trusts the headers.
    bucket_by_duration : bool or sequence of float
        Group records so that each shard holds one duration range: True
        takes 8 ranges of equal counts from the probed durations, or give
        the edges in seconds. The manifest names each row's range.
    runner : {"local", "ray"}
        A thread pool on this machine, or Ray Data tasks (``pip install
        'audiodecode[ray]'``).
    num_workers : int, optional
        Threads (local; default the cores) or concurrent Ray tasks.
    storage : Storage, optional
        Credentials and retries for URL inputs and outputs.
    progress : bool
        A progress line (files/s, hours of audio/s, ETA) and the summary
        on stderr.
    on_error : {"skip", "raise"}
        A bad file is listed in ``rejects.jsonl`` and left out ("skip"), or
        stops the job with its reason once the phase that found it ends
        ("raise"; the finished shards are kept for a re-run).

    Returns
    -------
    PrepareSummary
        Files, hours, rejects by reason, shard sizes.

    Raises
    ------
    FileNotFoundError
        `source` does not exist (before anything is written).
    PermissionError
        `out` cannot be created or written.
    ConfigMismatchError
        `out` holds a data set prepared with other settings (named).
    ValueError
        A bad argument, named; with ``on_error="raise"``, the first bad file
        and its reason.
    ImportError
        runner="ray" without Ray installed.
    """
    started = time.monotonic()
    if on_error not in ("skip", "raise"):
        raise ValueError(f"on_error must be 'skip' or 'raise', not {on_error!r}")
    edges = tuple(float(e) for e in bucket_by_duration) if not isinstance(bucket_by_duration, bool) else bucket_by_duration
    config = PrepareConfig(describe_source(source), format, sr, mono, codec, parse_size(shard_size), validate, edges)
    if isinstance(source, (str, os.PathLike)) and "://" not in os.fspath(source) and not os.path.exists(source):
        raise FileNotFoundError(f"{os.fspath(source)}: no such file or folder to prepare")
    storage = storage if storage is not None else Storage()
    output = Output(os.fspath(out), storage)
    check_output(config, output)
    output.remove_leftovers()
    work = make_runner(runner, num_workers)
    with warnings.catch_warnings():
        quiet()
        plan, shards = _plan(source, config, output, work, storage, progress)
        if on_error == "raise":
            _raise_first(plan["rejects"])
        todo = [s for s in plan["shards"] if not is_finished(output, s["name"])]
        rows = np.concatenate([shards.rows(s) for s in todo]) if todo else np.zeros(0, dtype=np.int64)
        meter = Progress("writing", len(rows), float(shards.table.seconds[rows].sum()), enabled=progress)
        work.write(todo, shards, config, output, storage, meter)
        meter.close()
    files, seconds, rejects, sizes = _finish(output, plan, on_error)
    summary = PrepareSummary(
        out=output.root, files=files, hours=seconds / 3600, rejects=by_kind(rejects), shards=len(sizes),
        shard_bytes=tuple(sizes), skipped_shards=len(plan["shards"]) - len(todo), elapsed_s=time.monotonic() - started)
    if progress:
        print(summary, file=sys.stderr)
    return summary
