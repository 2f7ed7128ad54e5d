"""The loader core both framework adapters share, framework-free (numpy only).

- `records`: `audio_files`, which builds a data set from a directory, list
  or manifest (and re-exports the model's names).
- `table`: what a data set is (records, targets, the `AudioFiles` table).
- `columns`: the flat, cheap-to-pickle columns the table is made of.
- `manifests`: NeMo JSONL, CSV/TSV and dict lists as records.
- `columnar`: the same manifests read as columns (pyarrow), for millions of
  rows; `rows`: one row -> one record, shared by both readers.
- `durations`: record durations probed from headers once, and cached; the
  bad-row policy every reader's table ends with (`finish`).
- `text`: transcripts as tokens (character vocabulary, padded batches).
- `schedule`: which records each batch holds, epoch by epoch.
- `reading`: how a batch of records becomes padded numpy arrays (decode,
  crop, augment).
- `seeding`: every random choice, derived from (seed, epoch, record index).
- `tuning`: the measured choice of threads and prefetch depth.
- `plan`: everything both loaders decide before reading (`plan_loader`),
  its fingerprint, and the arguments' shared documentation.
- `setup`: the host side of a plan (cache, reader, tuning) and features.
- `stats`: the pipeline's counters.

`audiodecode.jax.loader` and `audiodecode.AudioDataLoader` are the public
entry points; this package is their machinery. Data sets are built from
here, one place for every kind:

    from audiodecode.data import audio_files, tar_shards, write_tar_shards
    files = audio_files("train.jsonl")                          # directory, manifest or list
    shards = tar_shards("shards/train-{000000..000099}.tar")    # or array_records, parquet_records,
                                                                # object_files, open_records (any)

The names resolve on first use, so this package imports without the
optional packages a source needs (pyarrow, fsspec, array-record).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # What type checkers, IDEs and the API reference (griffe reads this
    # statically) see; at run time `__getattr__` imports on first use.
    # tests/test_docs.py checks that these are `_EXPORTS`' names.
    from audiodecode.data.durations import with_durations
    from audiodecode.data.reading import SkippedRecordWarning
    from audiodecode.data.records import AudioFiles, BadRowError, Record, SkippedRowsWarning, audio_files
    from audiodecode.data.sources import (
        Storage,
        array_records,
        object_files,
        open_records,
        parquet_records,
        tar_shards,
        write_array_record,
        write_parquet,
        write_tar_shards,
    )

# Public name -> the module that defines it.
_EXPORTS = {
    "AudioFiles": "records",
    "audio_files": "records",
    "Record": "records",
    "BadRowError": "records",
    "SkippedRowsWarning": "records",
    "with_durations": "durations",
    "SkippedRecordWarning": "reading",
    "open_records": "sources",
    "tar_shards": "sources",
    "array_records": "sources",
    "parquet_records": "sources",
    "object_files": "sources",
    "Storage": "sources",
    "write_tar_shards": "sources",
    "write_array_record": "sources",
    "write_parquet": "sources",
}

__all__ = [
    "AudioFiles", "BadRowError", "Record", "SkippedRecordWarning", "SkippedRowsWarning", "Storage", "array_records",
    "audio_files", "object_files", "open_records", "parquet_records", "tar_shards", "with_durations",
    "write_array_record", "write_parquet", "write_tar_shards",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # once resolved, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
