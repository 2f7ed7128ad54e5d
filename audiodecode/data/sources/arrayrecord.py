"""ArrayRecord files (Grain's random-access format) of audio records.

Record layout ("audiodecode-record/1"), one record per audio clip:

    offset  size  content
    0       4     magic b"ADR1"
    4       4     H, little-endian uint32: length of the header
    8       H     header: UTF-8 JSON object {"name": str, "label": str | null, ...}
    8 + H   rest  the encoded audio file, byte for byte (FLAC, MP3, WAV, ...)

`write_array_record` converts a manifest (anything `audio_files` takes)
into this layout, written with ``group_size:1,uncompressed`` so every
record is its own chunk (one read per record, nothing to decompress), and writes a sidecar ``<out>.json`` with the
names, labels and classes: opening the data set then reads the sidecar, not
every record. Without a sidecar the records' headers are read once.

The array-record reader is C++ that opens local files only: a remote file
(``s3://`` and the like) is first copied, once per version, to a local
staging folder (several ranged requests in flight) and read from there.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from audiodecode._typing import OnError, StrPath
from audiodecode.data.records import AudioFiles, audio_files, vocabulary
from audiodecode.data.sources.base import RecordSource, skipped
from audiodecode.data.sources.storage import ByteRange, Storage, is_local, local_path

MAGIC = b"ADR1"
LAYOUT = "audiodecode-record/1"
_HEAD = struct.Struct("<4sI")
# Remote files are staged in pieces of this size, several at once.
STAGE_PIECE = 8 << 20
READER_OPTIONS = "readahead_buffer_size:0,max_parallelism:0"


def _module() -> Any:
    try:
        from array_record.python import array_record_module
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError("ArrayRecord sources need array-record: pip install 'audiodecode[sources]'") from err
    return array_record_module


def encode_record(audio: bytes, name: str, label: str | None, **extra: Any) -> bytes:
    """One record in the audiodecode-record/1 layout."""
    header = json.dumps({"name": name, "label": label, **extra}, separators=(",", ":")).encode()
    return _HEAD.pack(MAGIC, len(header)) + header + audio


def decode_record(record: bytes, where: str = "record") -> tuple[dict[str, Any], memoryview]:
    """(header, audio bytes) of one record.

    Raises
    ------
    ValueError
        Not an audiodecode-record/1 record; the message names `where`.
    """
    if len(record) < _HEAD.size:
        raise ValueError(f"{where}: {len(record)} bytes, too short for an {LAYOUT} record")
    magic, h = _HEAD.unpack_from(record)
    if magic != MAGIC or _HEAD.size + h > len(record):
        raise ValueError(f"{where}: not an {LAYOUT} record (magic {magic!r}, header length {h})")
    try:
        header = json.loads(bytes(record[_HEAD.size : _HEAD.size + h]))
    except ValueError as err:
        raise ValueError(f"{where}: unreadable record header ({err})") from None
    return header, memoryview(record)[_HEAD.size + h :]


def write_array_record(
    manifest: StrPath | Sequence[StrPath] | AudioFiles, out: StrPath, *, options: str = "group_size:1,uncompressed"
) -> str:
    """Convert a data set's audio files into one ArrayRecord file.

    Parameters
    ----------
    manifest : directory, manifest, list of paths or AudioFiles
        What `audiodecode.data.records.audio_files` accepts.
    out : path
        The ArrayRecord file; ``<out>.json`` is written beside it.
    options : str
        array-record writer options. ``group_size:1`` makes each record
        its own chunk, the fastest for random reads; ``uncompressed``
        because encoded audio does not compress (12% for MP3/FLAC with the
        default zstd) while decompressing made reads 5x slower.

    Returns
    -------
    str
        `out`.
    """
    files = audio_files(manifest)
    out = os.fspath(out)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    names, labels = [], []
    writer = _module().ArrayRecordWriter(out, options)
    try:
        for i in range(len(files)):
            path = files.paths[i]
            label = None if files.labels[i] < 0 else files.classes[files.labels[i]]
            with open(path, "rb") as f:
                writer.write(encode_record(f.read(), os.path.basename(path), label))
            names.append(os.path.basename(path))
            labels.append(label)
    finally:
        writer.close()
    sidecar = {"layout": LAYOUT, "records": len(files), "names": names, "labels": labels, "classes": list(files.classes)}
    Path(out + ".json").write_text(json.dumps(sidecar))
    return out


def _stage(url: str, storage: Storage, stage_dir: str | None) -> str:
    """A local path holding `url`'s current version (copied once)."""
    if is_local(url):
        return local_path(url)
    folder = Path(stage_dir or os.path.join(os.path.expanduser("~/.cache"), "audiodecode", "staged"))
    version = storage.version(url)
    target = folder / (hashlib.sha256(f"{url}\0{version}".encode()).hexdigest()[:32] + Path(url).suffix)
    if target.exists():
        return str(target)
    size = storage.size(url)
    folder.mkdir(parents=True, exist_ok=True)
    pieces = storage.read_many([ByteRange(url, s, min(s + STAGE_PIECE, size)) for s in range(0, size, STAGE_PIECE)])
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        for piece in pieces:
            if isinstance(piece, Exception):
                tmp.unlink()
                raise piece
            f.write(piece)
    os.replace(tmp, target)
    return str(target)


class ArrayRecordSource(RecordSource):
    """The `ByteSource` of ArrayRecord files in the audiodecode-record/1
    layout. Made by `array_records`.

    Attributes
    ----------
    files : tuple of str
        The ArrayRecord URLs.
    local : tuple of str
        Where each is read from (the file itself, or its staged copy).
    versions : tuple of str
    locations : np.ndarray [shape=(n, 2)], int64
        Per record: file number, record number in the file.
    """

    def __init__(self, keys: Sequence[str], storage: Storage, files: Sequence[str], local: Sequence[str],
                 versions: Sequence[str], locations: np.ndarray) -> None:
        super().__init__(keys, storage)
        self.files = tuple(files)
        self.local = tuple(local)
        self.versions = tuple(versions)
        self.locations = np.asarray(locations, dtype=np.int64).reshape(-1, 2)
        self.locations.setflags(write=False)

    def _init_process_state(self) -> None:
        super()._init_process_state()
        self._readers: dict[tuple[int, int], Any] = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in super().__getstate__().items() if k not in ("_readers", "_lock")}

    def _identity(self) -> tuple:
        return self.files, self.versions

    def objects(self) -> np.ndarray:
        """The ArrayRecord file each record lies in."""
        return self.locations[:, 0].copy()

    def _reader(self, file: int) -> Any:
        # One reader per thread and file: the C++ reader is not documented
        # as safe for concurrent reads. (A staged copy lives on local disk.)
        key = (file, threading.get_ident())
        reader = self._readers.get(key)
        if reader is None:
            reader = _module().ArrayRecordReader(self.local[file], READER_OPTIONS)
            with self._lock:
                self._readers[key] = reader
        return reader

    def _read_rows(self, rows: list[int]) -> list[bytes | Exception]:
        by_file: dict[int, list[int]] = {}
        for j, r in enumerate(rows):
            by_file.setdefault(int(self.locations[r, 0]), []).append(j)
        out: list[bytes | Exception] = [b""] * len(rows)
        for file, slots in by_file.items():
            positions = [int(self.locations[rows[j], 1]) for j in slots]
            try:
                records: list[Any] = self._reader(file).read(positions)
            except Exception:  # the C++ reader raises RuntimeError on a corrupt chunk
                # Read one by one to tell the damaged records from the rest.
                records = []
                for p in positions:
                    try:
                        records.append(self._reader(file).read([p])[0])
                    except Exception as one:
                        records.append(ValueError(f"corrupt ArrayRecord chunk ({type(one).__name__}: {one})"))
            for j, record in zip(slots, records):
                name = self.keys[rows[j]]
                if isinstance(record, Exception):
                    out[j] = ValueError(f"{name}: {record}")
                    continue
                try:
                    out[j] = bytes(decode_record(record, name)[1])
                except ValueError as err:
                    out[j] = err
        return out

    def _entry(self, row: int) -> tuple[int, str]:
        return 0, self.versions[int(self.locations[row, 0])]


def array_records(
    files: str | Sequence[str],
    *,
    storage: Storage | None = None,
    stage_dir: str | None = None,
    on_error: OnError = "raise",
) -> AudioFiles:
    """Open ArrayRecord files written by `write_array_record` (or in its layout).

    Parameters
    ----------
    files : str or sequence of str
        Paths or URLs; brace patterns and globs are expanded.
    storage : Storage, optional
    stage_dir : str, optional
        Where remote files are copied (default ``~/.cache/audiodecode/staged``).
    on_error : {"raise", "skip"}
        A missing or unreadable file raises, or is left out with a warning.

    Raises
    ------
    FileNotFoundError, ValueError
    """
    storage = storage if storage is not None else Storage()
    urls = storage.expand([files] if isinstance(files, (str, os.PathLike)) else [os.fspath(f) for f in files])
    if not urls:
        raise ValueError(f"no ArrayRecord files match {files!r}")
    names, labels, locations, used, local, versions = [], [], [], [], [], []
    problems: list[tuple[str, str]] = []
    for url in urls:
        try:
            version = storage.version(url)
            path = _stage(url, storage, stage_dir)
            reader = _module().ArrayRecordReader(path, READER_OPTIONS)
            try:
                count = reader.num_records()
                file_names, file_labels = _read_sidecar(url, storage, count)
                if file_names is None:
                    headers = [decode_record(reader.read([k])[0], f"{url}#{k}")[0] for k in range(count)]
                    file_names = [str(h.get("name", k)) for k, h in enumerate(headers)]
                    file_labels = [h.get("label") for h in headers]
            finally:
                reader.close()
        except (OSError, ValueError, RuntimeError) as err:
            if on_error == "raise":
                if isinstance(err, (FileNotFoundError, PermissionError)):
                    raise
                raise ValueError(f"{url}: not a readable ArrayRecord file ({err})") from None
            problems.append((url, str(err)))
            continue
        number = len(used)
        used.append(url)
        local.append(path)
        versions.append(version)
        for k in range(count):
            names.append(f"{url}#{k}:{file_names[k]}")
            labels.append(file_labels[k])
            locations.append((number, k))
    count, reasons = skipped("ArrayRecord files", problems)
    if not names:
        raise ValueError(f"no records in {len(urls)} ArrayRecord file(s) ({urls[0]}, ...)")
    has = [label is not None for label in labels]
    if any(has) and not all(has):
        raise ValueError(f"{names[has.index(False)]}: no label while other records have one")
    ids, classes = vocabulary(labels if all(has) else None, len(names))
    source = ArrayRecordSource(names, storage, used, local, versions, np.array(locations, dtype=np.int64))
    return AudioFiles(paths=source.keys, labels=ids, classes=classes, source=source, origin=urls[0],
                      skipped_rows=count, skip_reasons=reasons)


def _read_sidecar(url: str, storage: Storage, count: int) -> tuple[list | None, list | None]:
    """Names and labels from ``<url>.json``, or (None, None) when there is no
    usable sidecar (absent, another layout, or another record count)."""
    try:
        sidecar = json.loads(storage.read(url + ".json"))
    except (OSError, ValueError):
        return None, None
    if sidecar.get("layout") != LAYOUT or sidecar.get("records") != count:
        return None, None
    return list(sidecar["names"]), list(sidecar["labels"])
