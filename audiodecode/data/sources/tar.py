"""WebDataset tar shards with random access: a member index per shard.

A shard is a plain tar whose members are grouped into samples by key:
``utt042.flac``, ``utt042.cls`` and ``utt042.json`` form sample ``utt042``
(WebDataset's rule: the key is the member's path up to the first dot of
its file name). A sample's audio is its member with an audio extension;
its label comes from ``.cls`` (an integer), ``.txt`` (a class name) or
``.json`` (the `label_key` field), the first of these present.

The index lists, per sample, the audio member's offset and size in the
shard, so one record is one ranged read, and the loaders keep global
shuffling and exact resume instead of shard-level shuffling. It is built
once per shard and version (a header walk for local shards, one
sequential read for remote ones) and kept as JSON in `index_dir`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from audiodecode._typing import Encoded, OnError
from audiodecode.data.records import AUDIO_EXTENSIONS, AudioFiles, vocabulary
from audiodecode.data.sources.base import RecordSource, named_error, skipped
from audiodecode.data.sources.blocks import BLOCK_SIZE, ShardBlocks
from audiodecode.data.sources.storage import ByteRange, RangeFile, Storage, etag_of, is_local, local_path
from audiodecode.data.tuning import MAX_READ_AHEAD

INDEX_FORMAT = "audiodecode-tar-index/1"
LABEL_EXTENSIONS = ("cls", "txt", "json")
# The largest label member read while indexing: a label, not a payload.
MAX_LABEL_BYTES = 1 << 16
# Remote shards are streamed in blocks of this size while indexing.
STREAM_BLOCK = 8 << 20


def default_index_dir() -> str:
    return os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "audiodecode", "tar-index")


def split_key(member: str) -> tuple[str, str]:
    """(key, extension) of a member name, WebDataset's way: the extension
    starts at the first dot of the file name (``a/b.seg.flac`` -> ``a/b``, ``seg.flac``)."""
    folder, _, base = member.rpartition("/")
    stem, dot, ext = base.partition(".")
    return (f"{folder}/{stem}" if folder else stem), (ext if dot else "")


def _is_audio(ext: str) -> bool:
    return "." + ext.rsplit(".", 1)[-1].lower() in AUDIO_EXTENSIONS


@dataclass(frozen=True)
class ShardIndex:
    """Where each sample's audio lies in one shard.

    Attributes
    ----------
    url : str
    version : str
        `Storage.version` of the shard when it was indexed.
    samples : list of (key, member, offset, size, label)
        The audio member's data offset and size; label is the raw text of
        the label member, or None.
    problems : list of (what, why)
        Samples without audio, unreadable label members.
    """

    url: str
    version: str
    samples: list[tuple[str, str, int, int, str | None]]
    problems: list[tuple[str, str]]


def index_shard(url: str, storage: Storage, *, label_key: str = "label") -> ShardIndex:
    """Walk a shard's members and group them into samples.

    Raises
    ------
    FileNotFoundError
        The shard does not exist.
    ValueError
        The shard is not a tar or is truncated; the message names it.
    """
    version = storage.version(url)
    members: dict[str, dict[str, tuple[str, int, int]]] = {}
    label_text: dict[tuple[str, str], bytes] = {}
    order: list[str] = []

    def walk(tar: tarfile.TarFile) -> None:
        for info in tar:
            if not info.isfile():
                continue
            key, ext = split_key(info.name)
            if key not in members:
                members[key] = {}
                order.append(key)
            members[key][ext] = (info.name, info.offset_data, info.size)
            if ext.lower() in LABEL_EXTENSIONS and info.size <= MAX_LABEL_BYTES:
                f = tar.extractfile(info)
                label_text[(key, ext.lower())] = f.read() if f is not None else b""

    def build() -> None:
        members.clear()
        label_text.clear()
        order.clear()
        if is_local(url):
            with tarfile.open(local_path(url), mode="r:") as tar:
                walk(tar)
        elif storage.is_native(url):
            # One ranged request per block: the native engine's retries and
            # length checks apply to each.
            raw = RangeFile(storage, url, int(version.partition("-")[0]))
            with io.BufferedReader(raw, STREAM_BLOCK) as f, tarfile.open(fileobj=f, mode="r|") as tar:
                walk(tar)
        else:
            fs, path = storage.filesystem(url)
            with fs.open(path, "rb", block_size=STREAM_BLOCK) as f, tarfile.open(fileobj=f, mode="r|") as tar:
                walk(tar)

    try:
        if is_local(url) or storage.is_native(url):
            build()  # the native engine retries each block itself
        else:
            storage._retrying(ByteRange(url), build)
    except tarfile.TarError as err:
        # tarfile words a shard cut short as "unexpected end of data".
        what = "truncated tar shard" if "unexpected end" in str(err) else "not a readable tar shard"
        raise ValueError(f"{url}: {what} ({err})") from None
    except EOFError as err:
        raise ValueError(f"{url}: truncated tar shard ({err})") from None

    samples, problems = [], []
    for key in order:
        group = members[key]
        audio = [ext for ext in group if _is_audio(ext)]
        if not audio:
            problems.append((f"{url}#{key}", f"no audio member (members: {', '.join(sorted(group))})"))
            continue
        name, offset, size = group[sorted(audio)[0]]
        ext = next((e for e in LABEL_EXTENSIONS if (key, e) in label_text), None)
        label = None
        if ext is not None:
            try:
                text = label_text[(key, ext)].decode("utf-8").strip()
                label = str(json.loads(text)[label_key]) if ext == "json" else text
            except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
                problems.append((f"{url}#{key}.{ext}", f"unreadable label ({type(err).__name__}: {err})"))
                continue
        samples.append((key, name, offset, size, label))
    return ShardIndex(url, version, samples, problems)


def load_index(url: str, storage: Storage, index_dir: str | None, *, label_key: str = "label") -> ShardIndex:
    """The shard's index from `index_dir` if it is there for the shard's
    current version, else built now and stored (best effort: a read-only
    index folder only costs a rebuild next time)."""
    folder = Path(index_dir or default_index_dir())
    file = folder / (hashlib.sha256(f"{url}\0{label_key}".encode()).hexdigest()[:32] + ".json")
    version = storage.version(url)
    try:
        stored = json.loads(file.read_text())
        if stored.get("format") == INDEX_FORMAT and stored["url"] == url and stored["version"] == version:
            return ShardIndex(url, version, [tuple(s) for s in stored["samples"]], [tuple(p) for p in stored["problems"]])
    except (OSError, ValueError, KeyError):
        pass
    index = index_shard(url, storage, label_key=label_key)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = file.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps({"format": INDEX_FORMAT, "url": url, "version": index.version,
                                   "samples": index.samples, "problems": index.problems}))
        os.replace(tmp, file)
    except OSError:
        pass
    return index


class TarSource(RecordSource):
    """The `ByteSource` of WebDataset tar shards: a record is one ranged
    read of its audio member. Made by `tar_shards`.

    Attributes
    ----------
    shards : tuple of str
        Shard URLs.
    versions : tuple of str
        Each shard's version when it was indexed (cache keys).
    locations : np.ndarray [shape=(n, 3)], int64
        Per record (row of `keys`): shard number, audio offset, audio size.
    """

    # Set by `streamed`: records are cut out of blocks of their shards.
    blocks: ShardBlocks | None = None

    def __init__(self, keys: Sequence[str], storage: Storage, shards: Sequence[str], versions: Sequence[str],
                 locations: np.ndarray) -> None:
        super().__init__(keys, storage)
        self.shards = tuple(shards)
        self.versions = tuple(versions)
        self.locations = np.asarray(locations, dtype=np.int64).reshape(-1, 3)
        self.locations.setflags(write=False)

    def _identity(self) -> tuple:
        return self.shards, self.versions, self.locations

    def objects(self) -> np.ndarray:
        """The shard each record lies in."""
        return self.locations[:, 0].copy()

    def streamed(self, buffer: int, batch_size: int) -> TarSource:
        """A copy that reads whole blocks of its shards (`ShardBlocks`),
        keeping enough of them for a shuffle buffer of `buffer` records and
        the batches read ahead; the same records, repr and cache keys."""
        out = TarSource(self.keys, self.storage, self.shards, self.versions, self.locations)
        mean = float(self.locations[:, 2].mean()) if len(self.locations) else 0.0
        # The buffer's records and a full read-ahead's, twice over: records
        # linger in the buffer, and their blocks should still be there.
        capacity = int(2 * (buffer + MAX_READ_AHEAD * batch_size) * mean)
        out.blocks = ShardBlocks(self.storage, BLOCK_SIZE, capacity)
        return out

    def _read_rows(self, rows: list[int]) -> list[Encoded | Exception]:
        ranges = []
        for r in rows:
            shard, offset, size = (int(v) for v in self.locations[r])
            url = self.shards[shard]
            # The ETag the shard had when indexed: a rewritten shard's
            # offsets are stale, and reading them must fail, not decode.
            etag = etag_of(self.versions[shard]) if self.storage.is_native(url) else None
            ranges.append(ByteRange(url, offset, offset + size, etag))
        if self.blocks is None:
            out = self.storage.read_many(ranges)
        else:
            sizes = [int(self.versions[int(self.locations[r, 0])].partition("-")[0]) for r in rows]
            out = self.blocks.read(ranges, sizes)
        return [named_error(got, self.keys[r]) if isinstance(got, Exception) else got for r, got in zip(rows, out)]

    def _entry(self, row: int) -> tuple[int, str]:
        return int(self.locations[row, 2]), self.versions[int(self.locations[row, 0])]


def tar_shards(
    shards: str | Sequence[str],
    *,
    storage: Storage | None = None,
    index_dir: str | None = None,
    label_key: str = "label",
    on_error: OnError = "raise",
    num_threads: int = 8,
) -> AudioFiles:
    """Open WebDataset tar shards as records with random access.

    Parameters
    ----------
    shards : str or sequence of str
        Shard paths or URLs; brace patterns (``data-{000000..000099}.tar``)
        and globs are expanded.
    storage : Storage, optional
        Credentials, endpoint, retries; a default `Storage` otherwise.
    index_dir : str, optional
        Where shard indexes are kept (default ``~/.cache/audiodecode/tar-index``).
    label_key : str
        The field of a ``.json`` member that holds the label.
    on_error : {"raise", "skip"}
        A sample without audio, an unreadable label or an unreadable shard
        raises, or is left out with a `SkippedSourceWarning` and listed in
        `skip_reasons`.
    num_threads : int
        Shards indexed at once.

    Returns
    -------
    AudioFiles
        Records in shard order, then member order; keys are
        ``<shard>#<member>``, `source` a `TarSource`; `skipped_rows` counts
        what "skip" left out.

    Raises
    ------
    FileNotFoundError
        A shard does not exist (with "raise").
    ValueError
        A shard is not a tar or is truncated, a sample has no audio, or no
        records are left.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    storage = storage if storage is not None else Storage()
    urls = storage.expand([shards] if isinstance(shards, (str, os.PathLike)) else [os.fspath(s) for s in shards])
    if not urls:
        raise ValueError(f"no shards match {shards!r}")

    def one(url: str) -> ShardIndex | Exception:
        try:
            return load_index(url, storage, index_dir, label_key=label_key)
        except (OSError, ValueError) as err:
            return err

    with ThreadPoolExecutor(max(1, min(num_threads, len(urls)))) as pool:
        indexes = list(pool.map(one, urls))
    problems: list[tuple[str, str]] = []
    names, labels, locations, used, versions = [], [], [], [], []
    for url, index in zip(urls, indexes):
        if isinstance(index, Exception):
            if on_error == "raise":
                raise index
            problems.append((url, str(index)))
            continue
        if index.problems and on_error == "raise":
            what, why = index.problems[0]
            raise ValueError(f"{what}: {why}")
        problems += index.problems
        number = len(used)
        used.append(url)
        versions.append(index.version)
        for _key, member, offset, size, label in index.samples:
            names.append(f"{url}#{member}")
            labels.append(label)
            locations.append((number, offset, size))
    count, reasons = skipped("tar shards", problems)
    if not names:
        raise ValueError(f"no audio records in {len(urls)} shard(s) ({urls[0]}, ...)")
    has_labels = [label is not None for label in labels]
    if any(has_labels) and not all(has_labels):
        missing = names[has_labels.index(False)]
        raise ValueError(f"{missing}: no label member (.cls/.txt/.json) while other samples have one")
    ids, classes = vocabulary(labels if all(has_labels) else None, len(names))
    source = TarSource(names, storage, used, versions, np.array(locations, dtype=np.int64))
    return AudioFiles(paths=source.keys, labels=ids, classes=classes, source=source, origin=urls[0],
                      skipped_rows=count, skip_reasons=reasons)


def write_tar_shards(
    records: Sequence[tuple[str, Any]], pattern: str, *, per_shard: int = 1000
) -> list[str]:
    """Write (audio path, label) pairs as WebDataset shards (local paths).

    Sample ``{i:08d}`` holds the audio as ``{i:08d}.<ext>`` and, when the
    label is not None, ``{i:08d}.cls`` (an integer) or ``.txt`` (a name).

    Parameters
    ----------
    records : sequence of (path, label)
    pattern : str
        Shard file names with one ``{}`` for the shard number, e.g.
        ``"out/train-{:06d}.tar"``.
    per_shard : int
        Samples per shard.

    Returns
    -------
    list of str
        The shards written.
    """
    written = []
    for start in range(0, len(records), per_shard):
        out = pattern.format(start // per_shard)
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(out, "w") as tar:
            for i in range(start, min(start + per_shard, len(records))):
                path, label = records[i]
                key = f"{i:08d}"
                tar.add(path, arcname=f"{key}{Path(path).suffix.lower()}")
                if label is not None:
                    ext = "cls" if isinstance(label, (int, np.integer)) else "txt"
                    data = str(label).encode()
                    info = tarfile.TarInfo(f"{key}.{ext}")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
        written.append(out)
    return written
