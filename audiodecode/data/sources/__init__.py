"""Record sources: where a data set's audio lives, locally or in object storage.

- `storage`: ranged, retried, concurrent reads of local paths and fsspec
  URLs (``s3://``, ``gs://``, ``https://``, ``file://``).
- `base`: `RecordSource`, the `ByteSource` (see `audiodecode.data.records`)
  of records stored inside larger objects, fetched as bytes and decoded
  from memory, and their cache keys.
- `tar`: WebDataset tar shards with a member index per shard.
- `arrayrecord`: ArrayRecord files (layout audiodecode-record/1) and
  `write_array_record`.
- `parquet`: Parquet files / Hugging Face `datasets` with an Audio column.
- `objects`: loose audio objects in a bucket (one object per record).

`open_records` picks one by what it is given. fsspec, s3fs, pyarrow and
array-record are imported only when a source needs them (the ``sources``
extra installs them).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Literal

from audiodecode.data.records import AudioFiles, audio_files
from audiodecode.data.sources.arrayrecord import ArrayRecordSource, array_records, write_array_record
from audiodecode.data.sources.base import RecordSource, SkippedSourceWarning
from audiodecode.data.sources.objects import ObjectSource, object_files
from audiodecode.data.sources.parquet import ParquetSource, parquet_records, write_parquet
from audiodecode.data.sources.storage import ByteRange, FetchedBytes, RetryPolicy, SourceReadError, Storage
from audiodecode.data.sources.tar import TarSource, tar_shards, write_tar_shards

__all__ = [
    "ArrayRecordSource", "ByteRange", "FetchedBytes", "ObjectSource", "ParquetSource", "RecordSource", "RetryPolicy",
    "SkippedSourceWarning",
    "SourceReadError", "Storage", "TarSource", "array_records", "object_files", "open_records", "parquet_records",
    "tar_shards",
    "write_array_record", "write_parquet", "write_tar_shards",
]

_BY_SUFFIX = {
    ".tar": tar_shards,
    ".parquet": parquet_records,
    ".array_record": array_records,
    ".arrayrecord": array_records,
}


def open_records(
    source: Any, labels: Sequence[int | str] | None = None, *, on_error: Literal["raise", "skip"] = "raise", **kwargs: Any
) -> AudioFiles:
    """The records of `source`, whatever it is.

    Parameters
    ----------
    source : path, URL, pattern, sequence of them, or AudioFiles
        ``*.tar`` shards, ``*.parquet`` files, ``*.array_record`` files
        (by the first name's suffix; brace patterns and globs expanded);
        other remote URLs are loose audio objects (`object_files`); an
        `AudioFiles` as it is; anything else goes to `audio_files` (a
        directory, manifest or list of files).
    labels : sequence of int or str, optional
        One per file of a list of audio files or objects; the archive
        formats carry their own.
    on_error : {"raise", "skip"}
        What the opener does with a bad record or row (loose objects are
        checked when read).
    **kwargs
        Passed to the source's opener (`storage=`, `index_dir=`, ...).

    Returns
    -------
    AudioFiles
        With a `RecordSource` as `source` for the archive formats.

    Raises
    ------
    ValueError
        `labels` given for an archive format or an `AudioFiles`.
    """
    if isinstance(source, AudioFiles):
        return audio_files(source, labels, on_error=on_error)  # as it is (labels= refused, named)
    first = source if isinstance(source, (str, os.PathLike)) else (source[0] if isinstance(source, Sequence) and source else None)
    if first is not None:
        suffix = os.path.splitext(os.fspath(first))[1].lower()
        opener = _BY_SUFFIX.get(suffix)
        if opener is not None:
            if labels is not None:
                raise ValueError(f"labels= given with {suffix} records, which carry their own labels")
            return opener(source, on_error=on_error, **kwargs)
        if "://" in os.fspath(first) and not os.fspath(first).startswith("file://"):
            return object_files(source, labels, **kwargs)
    return audio_files(source, labels, on_error=on_error, **kwargs)
