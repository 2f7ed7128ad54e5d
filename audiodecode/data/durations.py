"""Record durations from the files' headers, read once and remembered.

Bucketing by duration needs every record's length before the first batch,
and a manifest often lacks it (Common Voice has none) or lists segments
whose offsets must be checked against their file. `check` reads each
distinct file's header once with `audiodecode.info_batch` (the Rust `info`
on the core's threads, GIL released, a few thousand files a call; the
machinery `audiodecode.prepare` probes with too) and remembers the durations in a JSON file keyed by each file's
absolute path, size and modification time: a changed file is probed again,
an unchanged one never.

`finish` is where every reader's table ends: it probes (when asked), then
raises the first bad row or drops the bad rows with one warning
(`on_error`). It lives here, below the readers, so that the readers
(`manifests`, `records`) import it and nothing here imports them.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from audiodecode import loading
from audiodecode._typing import OnError, StrPath
from audiodecode.data.table import MANIFEST_EXTENSIONS, AudioFiles, BadRowError, ByteSource, SkippedRowsWarning

# A segment may end this far past its file's end (manifests round their
# durations); its duration is then cut to the file's end. Further is a bad row.
END_TOLERANCE_SECONDS = 0.1
CACHE_VERSION = 1
# Headers read per parallel call: local paths, and records of a source
# (whose bytes are read whole, so fewer are held at once).
PROBE_CHUNK = 4096
SOURCE_CHUNK = 256
# How many reasons a SkippedRowsWarning quotes.
REASONS_SHOWN = 3


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/audiodecode/durations`` (``~/.cache/...`` by default)."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "audiodecode" / "durations"


def cache_file(files: AudioFiles, duration_cache: StrPath | bool) -> Path | None:
    """Where `files`' probed durations are kept.

    Parameters
    ----------
    files : AudioFiles
    duration_cache : path or bool
        False: nowhere. True: next to the manifest the records came from
        (``.<manifest name>.durations.json``), or, when that folder is not
        writable or there is no manifest, in `default_cache_dir()` under a
        name hashed from the manifest's path (or from the record keys). A
        path: a folder to use instead of `default_cache_dir()`.

    Returns
    -------
    Path or None
    """
    if duration_cache is False or files.source is not None:
        return None
    folder = default_cache_dir() if duration_cache is True else Path(duration_cache)
    origin = Path(files.origin).resolve() if files.origin else None
    if origin is not None and origin.suffix.lower() in MANIFEST_EXTENSIONS:
        if duration_cache is True and os.access(origin.parent, os.W_OK):
            return origin.parent / f".{origin.name}.durations.json"
        name = hashlib.sha1(str(origin).encode()).hexdigest()[:16]
    elif origin is not None:
        name = hashlib.sha1(str(origin).encode()).hexdigest()[:16]
    else:
        h = hashlib.sha1()
        for key in sorted({os.path.abspath(p) for p in files.paths}):
            h.update(key.encode() + b"\0")
        name = h.hexdigest()[:16]
    return folder / f"{name}.durations.json"


def probe(
    keys: Sequence[str],
    *,
    source: ByteSource | None = None,
    cache: Path | None = None,
    num_threads: int | None = None,
) -> dict[str, float | None | Exception]:
    """The duration of each distinct key, from its header.

    Parameters
    ----------
    keys : sequence of str
        Local paths, or keys of `source`.
    source : ByteSource, optional
    cache : Path, optional
        JSON file of durations already read (see `cache_file`); new ones
        are added to it (written atomically).
    num_threads : int, optional
        Rust threads reading headers; None: one per core.

    Returns
    -------
    dict
        key -> seconds, None where the header does not say, or the
        exception `audiodecode.info` raised (FileNotFoundError,
        DecodeError, ...).
    """
    unique = list(dict.fromkeys(keys))
    known = _read_cache(cache)
    found: dict[str, float | None | Exception] = {}
    stamps: dict[str, list] = {}
    todo = []
    for key in unique:
        stamp = _stamp(key) if source is None else None
        entry = known.get(os.path.abspath(key)) if stamp is not None else None
        if entry is not None and entry[:2] == stamp:
            found[key] = entry[2]
        else:
            todo.append(key)
            if stamp is not None:
                stamps[key] = stamp

    # In chunks: one parallel Rust call each (`info_batch`), and a remote
    # source's bytes for one chunk in memory at a time.
    step = PROBE_CHUNK if source is None else SOURCE_CHUNK
    for lo in range(0, len(todo), step):
        chunk = todo[lo : lo + step]
        for key, result in zip(chunk, headers(chunk, source, num_threads)):
            found[key] = result if isinstance(result, Exception) else result.duration
    if todo:
        fresh = {os.path.abspath(k): [*stamps[k], found[k]] for k in todo
                 if k in stamps and not isinstance(found[k], Exception)}
        if cache is not None and fresh:
            _write_cache(cache, {**known, **fresh})
    return found


def headers(keys: Sequence[str], source: ByteSource | None = None,
            num_threads: int | None = None) -> list[loading.AudioInfo | Exception]:
    """`audiodecode.info_batch` of local paths, or of the bytes of keys of
    `source` (read together, `read_many`); a failure in its slot."""
    if source is None:
        return loading.info_batch(keys, num_threads=num_threads)
    # Imported here: the sources import this module (through `records`).
    from audiodecode.data.sources.base import read_keys

    data = read_keys(source, keys)
    infos = loading.info_batch([d for d in data if not isinstance(d, Exception)], num_threads=num_threads)
    it = iter(infos)
    return [d if isinstance(d, Exception) else next(it) for d in data]


def _stamp(path: str) -> list | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _read_cache(cache: Path | None) -> dict[str, list]:
    if cache is None or not cache.is_file():
        return {}
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # a damaged cache is only a slower start
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
        return {}
    return data.get("files", {})


def _write_cache(cache: Path, entries: dict[str, list]) -> None:
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache.parent, prefix=cache.name, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"version": CACHE_VERSION, "files": entries}, f)
        os.replace(tmp, cache)  # atomic: concurrent processes never read half a file
    except OSError:
        pass  # nowhere writable: probe again next time


def check(
    files: AudioFiles,
    *,
    duration_cache: StrPath | bool = True,
    num_threads: int | None = None,
    on_error: OnError = "raise",
) -> tuple[AudioFiles, list[str]]:
    """Probe every record's file: fill unknown durations, find bad rows.

    A row is bad when its file is missing or unreadable, its offset is at
    or past the file's end, or its segment ends more than
    `END_TOLERANCE_SECONDS` past the file's end (within that, the duration
    is cut to the end).

    Parameters
    ----------
    files : AudioFiles
    duration_cache, num_threads
        See `cache_file` and `probe`.
    on_error : {"raise", "skip"}
        "raise": `BadRowError` for the first bad row, naming it.

    Returns
    -------
    files : AudioFiles
        The good records, with every duration known where the header
        states one (segment length: file duration minus offset for rows
        without a duration).
    reasons : list of str
        One message per dropped row (empty with "raise").
    """
    found = probe(files.paths, source=files.source, cache=cache_file(files, duration_cache), num_threads=num_threads)
    durations = files.durations.copy()
    keep = np.ones(len(files), dtype=bool)
    reasons: list[str] = []
    for i, key in enumerate(files.paths):
        total = found[key]
        offset, duration = float(files.offsets[i]), float(durations[i])
        reason = None
        if isinstance(total, FileNotFoundError):
            reason = "file not found"
        elif isinstance(total, Exception):
            reason = f"unreadable: {total}"
        elif total is not None:
            if offset >= total:
                reason = f"offset {offset:g} s is past the end of the file ({total:g} s)"
            elif not math.isnan(duration) and offset + duration > total + END_TOLERANCE_SECONDS:
                reason = f"segment [{offset:g}, {offset + duration:g}) s ends past the end of the file ({total:g} s)"
            else:
                durations[i] = total - offset if math.isnan(duration) else min(duration, total - offset)
        if reason is not None:
            message = f"{files.describe(i)}: {reason}"
            if on_error == "raise":
                raise BadRowError(message) from (total if isinstance(total, Exception) else None)
            keep[i] = False
            reasons.append(message)
    checked = replace(files, durations=durations)
    return (checked if keep.all() else checked.subset(np.flatnonzero(keep))), reasons


def with_durations(
    files: AudioFiles,
    *,
    on_error: OnError = "raise",
    duration_cache: StrPath | bool = True,
    num_threads: int | None = None,
) -> AudioFiles:
    """`files` with every record's duration read from its header where it is
    unknown, bad rows raised or dropped (see `check`; a drop warns once and
    is counted in `skipped_rows`). What duration bucketing starts from.

    Returns
    -------
    AudioFiles
        `files` itself when every duration is known already.
    """
    if not np.isnan(files.durations).any():
        return files
    return finish(files, probe=True, on_error=on_error, duration_cache=duration_cache, num_threads=num_threads,
                  where=files.origin)


def finish(
    table: AudioFiles | None,
    *,
    bad: Sequence[str] = (),
    probe: bool,
    on_error: OnError,
    duration_cache: StrPath | bool,
    num_threads: int | None,
    where: str | None = None,
) -> AudioFiles:
    """Probe (if asked), drop or raise on bad rows, warn once."""
    if bad and on_error == "raise":
        raise BadRowError(bad[0])
    reasons = list(bad)
    if table is not None and probe:
        table, more = check(table, duration_cache=duration_cache, num_threads=num_threads, on_error=on_error)
        reasons += more
    if table is None or len(table) == 0:
        raise ValueError(f"{where or 'records'}: no usable rows ({len(reasons)} bad: {'; '.join(reasons[:REASONS_SHOWN])})")
    if reasons:
        shown = "; ".join(reasons[:REASONS_SHOWN]) + ("; ..." if len(reasons) > REASONS_SHOWN else "")
        warnings.warn(f"skipped {len(reasons)} of {len(table) + len(reasons)} rows of {where or table.origin or 'records'}: "
                      f"{shown}", SkippedRowsWarning, stacklevel=3)
        table = replace(table, skipped_rows=table.skipped_rows + len(reasons),
                        skip_reasons=table.skip_reasons + tuple(reasons))
    return table
