"""The records a job prepares: what `prepare` was given, as plain dicts.

A record travels to worker threads, processes and Ray tasks, so it is a
small JSON-able dict: ``index`` (its position, which names it in the
output), ``path`` (a local path or URL), ``offset``/``duration`` (seconds;
None: the whole file), ``label``, ``text`` and ``row`` (where it came from,
for the rejects). Rows a manifest reader drops as unusable become rejects
right away.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence
from typing import Any

from audiodecode.data.sources import Storage, object_files, open_records
from audiodecode.data.sources.storage import is_local
from audiodecode.data.table import AUDIO_EXTENSIONS, UNLABELLED, AudioFiles


def describe_source(source: Any) -> str:
    """A stable name of `source` for ``prepare.json``: its path or URL, or a
    digest of a list (a list of ten million paths does not belong there)."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        return path if not is_local(path) else os.path.abspath(path)
    items = [os.fspath(x) if isinstance(x, (str, os.PathLike)) else json.dumps(x, sort_keys=True, default=str)
             for x in source]
    return f"list of {len(items)}, sha256 {hashlib.sha256(chr(0).join(items).encode()).hexdigest()[:16]}"


def _remote(source: Any) -> bool:
    return isinstance(source, str) and "://" in source and not is_local(source)


def _objects(source: str, storage: Storage) -> AudioFiles:
    """The audio objects under a URL prefix (``s3://bucket/clips/``), sorted,
    labelled by their top-level folder under the prefix as a local folder
    is (unlabelled when some lie at the top level)."""
    urls = [u for u in storage.expand([source + "**"]) if os.path.splitext(u)[1].lower() in AUDIO_EXTENSIONS]
    if not urls:
        raise FileNotFoundError(f"{source}: no audio objects under this prefix")
    # fsspec lists without the prefix's own spelling (memory:// adds a slash): cut at the prefix's path.
    tails = [u.split(source.split("://", 1)[1].lstrip("/"), 1)[-1] for u in urls]
    labels = [t.split("/", 1)[0] for t in tails] if all("/" in t for t in tails) else None
    return object_files(urls, labels, storage=storage)


def collect(source: Any, storage: Storage) -> tuple[Records, list[dict[str, Any]]]:
    """The records of `source` and the rows its reader refused.

    Parameters
    ----------
    source : path, URL, URL prefix, sequence of them, or AudioFiles
        A folder, a manifest (NeMo, Common Voice, LibriSpeech, CSV/JSONL),
        a list of files, loose objects, or tar/ArrayRecord/Parquet shards
        (anything `audiodecode.data.open_records` opens).
    storage : Storage

    Returns
    -------
    records : Records
    rejects : list of dict
        ``{"source", "stage": "manifest", "reason"}`` per dropped row.

    Raises
    ------
    FileNotFoundError
        `source` does not exist.
    """
    if _remote(source) and source.endswith("/"):
        files = _objects(source, storage)
    elif _remote(source) or (isinstance(source, Sequence) and not isinstance(source, str) and source
                             and all(_remote(x) for x in source)):
        files = object_files(source, storage=storage)
    elif isinstance(source, AudioFiles):
        files = source
    else:
        # probe=False: the job probes every record itself, in parallel, and
        # a file that fails becomes a reject instead of stopping the opener.
        files = open_records(source, on_error="skip", probe=False, duration_cache=False)
    if files.source is not None and type(files.source).__name__ != "ObjectSource":
        raise ValueError("prepare reads audio files, a manifest or loose objects; "
                         f"{type(files.source).__name__} records are prepared already")
    return Records(files), [{"source": files.origin, "stage": "manifest", "reason": why} for why in files.skip_reasons]


class Records(Sequence[dict[str, Any]]):
    """The records of `files` as dicts, each made when it is asked for (a
    corpus of millions of files is probed a batch at a time, and its
    records never all exist as dicts at once). Picklable: Ray probing
    tasks get it whole and take their slice."""

    def __init__(self, files: AudioFiles) -> None:
        self.files = files

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i):  # noqa: ANN001, ANN204 (Sequence's signature: int or slice)
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        files = self.files
        label = None if files.labels[i] == UNLABELLED else files.classes[files.labels[i]]
        if files.label_sets is not None:
            label = ",".join(files.classes[k] for k in files.label_sets[i])
        duration = float(files.durations[i])
        return {
            "index": i,
            "path": files.paths[i],
            "offset": float(files.offsets[i]),
            "duration": None if math.isnan(duration) else duration,
            "label": label,
            "text": None if files.texts is None else files.texts[i],
            "row": None if files.rows is None else int(files.rows[i]),
        }


def read_source(path: str, storage: Storage) -> str | bytes:
    """What the decoder is given: a local path as it is, a remote object's bytes."""
    return path if is_local(path) else storage.read(path)


def reason(err: BaseException) -> str:
    """A reject's reason: the exception's type and message."""
    return f"{type(err).__name__}: {err}"


def reject(record: dict[str, Any], stage: str, err: BaseException) -> dict[str, Any]:
    row = {"index": record["index"], "source": record["path"], "stage": stage, "reason": reason(err)}
    if record.get("row") is not None:
        row["row"] = record["row"]
    return row


def by_kind(rejects: Sequence[dict[str, Any]]) -> dict[str, int]:
    """How many rejects each exception type caused (the summary's breakdown)."""
    counts: dict[str, int] = {}
    for r in rejects:
        kind = r["reason"].split(":", 1)[0]
        counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
