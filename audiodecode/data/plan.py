"""The loader plan: everything both loaders decide before they read.

    plan = plan_loader(files, batch_size=32, sr=16000, clip_seconds=1.0, features="mfcc",
                       feature_functions=audiodecode.torch.features, feature_kwargs={"n_mfcc": 40})
    plan.host.reader.read(*plan.schedule.batch(0, plan.batch_size))   # batch 0's host arrays

`plan_loader` checks the arguments, opens the records (`open_records`:
a directory, manifest, list, shard pattern or URL), and builds the clip
spec, text transform, mixing, augmentation, count or bucket schedule, the
host reader (cache, threads, prefetch, stats) and the fingerprint.
`audiodecode.jax.loader` and `audiodecode.torch.AudioDataLoader` build one
each and add only framework glue, so the two cannot decide differently.

The fingerprint is a dict of named, JSON-able components, one per setting
that changes a batch. A checkpoint carries it; restoring into a loader
whose fingerprint differs raises a `ValueError` naming the components
that differ (`mismatch`).

The arguments both loaders share are documented once, in `PARAMETERS`;
`shared_parameters` fills them into each loader's docstring.
"""

from __future__ import annotations

import inspect
import logging
import re
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any, Literal, TypeVar

import numpy as np

from audiodecode.augment.mixing import resolve_mixing
from audiodecode.cache import AudioCache
from audiodecode.data.buckets import BucketSchedule, DurationBuckets, shard_local
from audiodecode.data.durations import with_durations
from audiodecode.data.reading import BatchAugmentation, ClipSpec, Crop, OnError, resolve_augment
from audiodecode.data.records import AudioFiles
from audiodecode.data.schedule import Schedule
from audiodecode.data.setup import FeatureSpec, HostReader, feature_spec, host_reader
from audiodecode.data.text import TextTransform, resolve_text_transform

log = logging.getLogger("audiodecode")

BatchBy = Literal["count", "duration"]


@dataclass(frozen=True)
class LoaderPlan:
    """What a loader reads, in what order, and how, decided at start-up.

    Attributes
    ----------
    files : AudioFiles
        The whole data set (every process's records).
    spec : ClipSpec
    shard : np.ndarray [shape=(records,)], int64
        The records this process may read (duration buckets: all of them,
        since every process takes its rows of every batch).
    schedule : Schedule or BucketSchedule
        Which records each batch holds.
    buckets : DurationBuckets or None
        The buckets of `batch_by="duration"`.
    batch_size : int
        Rows per batch on this process (duration buckets: of the largest
        bucket).
    steps_per_epoch : int
        Batches in one pass over this process's shard (count mode: full
        batches only).
    features : FeatureSpec or None
        The feature function the adapter calls on the device, checked.
    text_transform : TextTransform or None
    token_width : int or None
        The longest transcript in tokens: one token width for every batch.
    host : HostReader
        The reader, the cache behind it, its counters and the parallelism.
    processes : int
        Processes reading the data set (JAX processes or DDP ranks).
    owns_source : bool
        The plan opened `files` from a pattern or URL (its storage is closed
        with the plan).
    fingerprint : dict
        Named, JSON-able components: everything that changes a batch.
    """

    files: AudioFiles
    spec: ClipSpec
    shard: np.ndarray
    schedule: Schedule | BucketSchedule
    buckets: DurationBuckets | None
    batch_size: int
    steps_per_epoch: int
    features: FeatureSpec | None
    text_transform: TextTransform | None
    token_width: int | None
    host: HostReader
    processes: int
    fingerprint: dict[str, Any]
    owns_source: bool = False

    def close(self) -> None:
        """Release what the plan made: a cache (`cache="auto"`) and the I/O
        threads of a source it opened itself from a pattern or URL (the
        caller's own sources and caches stay theirs)."""
        self.host.close()
        if self.owns_source:
            _close_storage(self.files)

    def read(self, job: tuple[np.ndarray, ...], num_threads: int | None) -> dict[str, np.ndarray]:
        """One batch's host arrays (`ClipReader.read`) from a schedule's job:
        (epochs, indices), or (epochs, indices, bucket) padded to the
        bucket's width and this process's share of its rows."""
        text = {"text_transform": self.text_transform, "token_width": self.token_width}
        if self.buckets is None:
            return self.host.reader.read(*job, num_threads=num_threads, **text)
        epochs, indices, bucket = job
        return self.host.reader.read(
            epochs, indices, num_threads=num_threads, width=self.buckets.widths(self.spec.sr)[bucket],
            rows=self.buckets.rows[bucket] // self.processes, **text,
        )


def plan_loader(
    files: Any,
    labels: Sequence[int | str] | None = None,
    *,
    batch_size: int,
    sr: int,
    clip_seconds: float | None,
    crop: Crop,
    features: str | Callable[..., Any] | None,
    feature_functions: ModuleType,
    feature_kwargs: Mapping[str, Any],
    augmentations: BatchAugmentation | Sequence[Any] | None,
    shuffle: bool,
    seed: int,
    num_epochs: int | None,
    drop_remainder: bool,
    on_error: OnError,
    cache: AudioCache | Literal["auto"] | None,
    num_threads: int | None,
    prefetch: int | None,
    batch_by: BatchBy,
    max_batch_seconds: float | None,
    num_buckets: int,
    bucket_boundaries: Sequence[float] | None,
    text_transform: TextTransform | Literal["chars"] | None,
    shuffle_buffer: int | None = None,
    process: int = 0,
    processes: int = 1,
    device_ways: int = 1,
    check_features: Callable[[FeatureSpec, ClipSpec], None] | None = None,
) -> LoaderPlan:
    """Check a loader's arguments and build its plan.

    Parameters
    ----------
    files, labels, sr, clip_seconds, crop, features, augmentations, shuffle, seed, on_error, cache,
    num_threads, prefetch, batch_by, max_batch_seconds, num_buckets, bucket_boundaries, text_transform,
    shuffle_buffer
        As the loaders take them (`PARAMETERS`).
    batch_size : int
        Rows per batch on this process (count mode).
    feature_functions : module
        The adapter's features module (`audiodecode.jax.features` or
        `audiodecode.torch.features`), which `features=` names a function of.
    feature_kwargs : mapping
        The feature function's settings (n_fft, n_mfcc, ...).
    num_epochs : int or None
        Epochs of the stream; None repeats forever (the torch loader reads
        one epoch per `iter()` and passes None).
    drop_remainder : bool
        Drop the last, short batch (count mode) or each bucket's partial
        batch of every epoch (duration buckets).
    process, processes : int
        This process's rank and the number of processes reading the data set.
    device_ways : int
        Parts each process's rows are split into on its devices: a bucket's
        row count is a multiple of `processes * device_ways`.
    check_features : callable (FeatureSpec, ClipSpec) -> None, optional
        The adapter's trial run of the feature function, called before
        anything is read, so settings it refuses fail at once.

    Returns
    -------
    LoaderPlan

    Raises
    ------
    ValueError
        A setting out of range, a combination that cannot work, or data
        the settings need and lack (durations, transcripts).
    TypeError
        Feature settings the feature function does not take.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if batch_by not in ("count", "duration"):
        raise ValueError(f"batch_by must be 'count' or 'duration', not {batch_by!r}")
    if not 0 <= process < processes:
        raise ValueError(f"rank {process} is not in [0, world_size={processes})")
    if batch_by == "duration":
        if clip_seconds is not None:
            raise ValueError("batch_by='duration' pads each batch to its bucket: clip_seconds must be None")
        if max_batch_seconds is None:
            raise ValueError("batch_by='duration' needs max_batch_seconds (audio seconds per batch)")
    if shuffle_buffer is not None:
        if isinstance(shuffle_buffer, bool) or not isinstance(shuffle_buffer, int) or shuffle_buffer < 1:
            raise ValueError(f"shuffle_buffer must be a positive integer or None, got {shuffle_buffer!r}")
        if not shuffle:
            raise ValueError("shuffle_buffer is a way to shuffle: with shuffle=False records are read in order")
        if batch_by == "duration":
            raise ValueError("shuffle_buffer (shard-streaming order) works with batch_by='count' only")
    # Imported here: `sources` imports this package's modules (records).
    from audiodecode.data.sources import open_records

    owns_source = not isinstance(files, AudioFiles)
    files = open_records(files, labels=labels, on_error=on_error)
    try:
        spec = ClipSpec(sr=sr, clip_seconds=clip_seconds, crop=crop, seed=seed, on_error=on_error)
        featurize = feature_spec(features, feature_functions, dict(feature_kwargs), sr=sr)
        if featurize is not None and check_features is not None:
            check_features(featurize, spec)
        per_record, mix = resolve_mixing(augmentations)
        augment = resolve_augment(per_record)
        if batch_by == "duration":
            files = with_durations(files, on_error=on_error)
        if shuffle_buffer is not None and hasattr(files.source, "streamed"):
            # The same records, read in blocks of their shards.
            files = replace(files, source=files.source.streamed(shuffle_buffer, batch_size))
        buckets, schedule, shard, rows = _schedule(
            files, batch_by=batch_by, batch_size=batch_size, max_batch_seconds=max_batch_seconds,
            num_buckets=num_buckets, bucket_boundaries=bucket_boundaries, seed=seed, shuffle=shuffle,
            num_epochs=num_epochs, drop_remainder=drop_remainder, process=process, processes=processes,
            device_ways=device_ways, shuffle_buffer=shuffle_buffer,
        )
        transform, width = _text_transform(text_transform, files)
        fingerprint = {
            "data": files.fingerprint,
            "records": len(files),
            "sr": sr,
            "clip_seconds": clip_seconds,
            "crop": crop,
            "seed": seed,
            "on_error": on_error,
            "shuffle": shuffle,
            "num_epochs": num_epochs,
            "drop_remainder": drop_remainder,
            "batch_by": batch_by,
            "batch_size": rows,
            "buckets": None if buckets is None else {"boundaries": list(buckets.boundaries), "rows": list(buckets.rows),
                                                     "shard_local": schedule.containers is not None},
            "process": process,
            "processes": processes,
            "augmentations": stable_repr(augment),
            "mixing": stable_repr(mix),
            "text_transform": stable_repr(transform),
            "features": features if features is None or isinstance(features, str) else stable_repr(features),
            "feature_kwargs": _feature_settings(featurize),
        }
        if shuffle_buffer is not None:
            # Only when set: states saved before the option existed still fit.
            fingerprint["shuffle_buffer"] = shuffle_buffer
        host = host_reader(files, spec, augment, shard, schedule, cache, rows, num_threads, prefetch, mix=mix)
    except BaseException:
        if owns_source:  # a loader that fails to start leaves no I/O threads behind
            _close_storage(files)
        raise
    steps = schedule.batches_per_epoch if isinstance(schedule, BucketSchedule) else len(shard) // rows
    return LoaderPlan(
        files=files, spec=spec, shard=shard, schedule=schedule, buckets=buckets, batch_size=rows,
        steps_per_epoch=steps, features=featurize, text_transform=transform, token_width=width, host=host,
        processes=processes, fingerprint=fingerprint, owns_source=owns_source,
    )


def _schedule(
    files: AudioFiles,
    *,
    batch_by: BatchBy,
    batch_size: int,
    max_batch_seconds: float | None,
    num_buckets: int,
    bucket_boundaries: Sequence[float] | None,
    seed: int,
    shuffle: bool,
    num_epochs: int | None,
    drop_remainder: bool,
    process: int,
    processes: int,
    device_ways: int,
    shuffle_buffer: int | None = None,
) -> tuple[DurationBuckets | None, Schedule | BucketSchedule, np.ndarray, int]:
    """The buckets (or None), the schedule, the records this process may
    read and its rows per batch (of the largest bucket)."""
    if batch_by == "duration":
        buckets = DurationBuckets.estimate(
            files.durations, max_batch_seconds=max_batch_seconds, num_buckets=num_buckets,
            boundaries=bucket_boundaries, row_multiple=processes * device_ways,
        )
        containers = shard_local(buckets, files.durations, _containers(files))
        schedule = BucketSchedule(buckets, files.durations, seed=seed, shuffle=shuffle, num_epochs=num_epochs,
                                  drop_remainder=drop_remainder, process=process, processes=processes,
                                  containers=containers)
        # Every process takes its rows of every batch.
        return buckets, schedule, np.arange(len(files), dtype=np.int64), max(buckets.rows) // processes
    if len(files) % processes:
        log.warning("%d of %d files left out so %d processes get equal shards", len(files) % processes,
                    len(files), processes)
    if shuffle_buffer is None:
        shard = files.shard(process, processes)
        return None, Schedule(shard, seed=seed, shuffle=shuffle, num_epochs=num_epochs), shard, batch_size
    # Shard streaming: each process streams a contiguous run of the records
    # (whole objects but at its two ends), not every n-th record.
    per = len(files) // processes
    if per == 0:
        raise ValueError(f"{len(files)} files cannot fill {processes} shards")
    shard = np.arange(process * per, (process + 1) * per, dtype=np.int64)
    objects = _containers(files)
    if objects is None:
        objects = np.arange(len(files), dtype=np.int64)
    schedule = Schedule(shard, seed=seed, shuffle=shuffle, num_epochs=num_epochs, objects=objects[shard],
                        buffer=shuffle_buffer)
    return None, schedule, shard, batch_size


def _containers(files: AudioFiles) -> np.ndarray | None:
    """The shard (object) each record of `files` lives in, shape (n,); None
    when each record is an object of its own."""
    containers = getattr(files.source, "containers", None)
    return None if containers is None else containers(files.paths)


def _close_storage(files: AudioFiles) -> None:
    """Stop the I/O threads of `files`' storage, if it has one."""
    storage = getattr(files.source, "storage", None)
    if storage is not None:
        storage.close()


def _text_transform(
    text_transform: TextTransform | Literal["chars"] | None, files: AudioFiles
) -> tuple[TextTransform | None, int | None]:
    """`text_transform=` resolved (None, the user's callable, or a character
    vocabulary of every transcript for "chars"), and the longest transcript
    in its tokens."""
    if text_transform is None:
        return None, None
    if files.texts is None:
        raise ValueError("text_transform= needs transcripts (a manifest with a text column)")
    transform = resolve_text_transform(None if text_transform == "chars" else text_transform, files.texts)
    return transform, max(1, max((len(transform(text)) for text in files.texts), default=1))


def _feature_settings(featurize: FeatureSpec | None) -> dict[str, Any]:
    """Every setting a named feature runs with, its defaults included, so
    `n_mfcc=20` given and left at its default fingerprint alike."""
    if featurize is None:
        return {}
    settings = dict(featurize.settings)
    if featurize.stft is not None:  # a named feature: its signature's defaults
        for name, param in inspect.signature(featurize.fn).parameters.items():
            if param.default is not inspect.Parameter.empty:
                settings.setdefault(name, param.default)
    return {k: _jsonable(v) for k, v in sorted(settings.items())}


def stable_repr(obj: object) -> str | None:
    """`repr` without memory addresses (a custom object's default repr has
    one), so the same settings fingerprint alike in every run; None stays None."""
    return None if obj is None else re.sub(r" at 0x[0-9a-fA-F]+", "", repr(obj))


def _jsonable(value: Any) -> Any:
    """A feature setting as JSON keeps it: numbers, strings, None and lists
    as they are, anything else by its stable repr."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return stable_repr(value)


def mismatch(saved: Any, current: Mapping[str, Any]) -> str | None:
    """Why a checkpoint's fingerprint does not fit this loader, or None.

    Returns
    -------
    str or None
        E.g. "checkpoint was taken with sr=22050, this loader has sr=16000",
        one clause per differing component (the data set by its record
        count and fingerprint).
    """
    if not isinstance(saved, Mapping):
        return "the checkpoint has no loader fingerprint this version reads (an older or foreign state)"
    differ = [k for k in current if k not in saved or saved[k] != current[k]]
    differ += [k for k in saved if k not in current]
    if not differ:
        return None
    return "; ".join(
        f"checkpoint was taken with {k}={saved.get(k, '(absent)')!r}, this loader has {k}={current.get(k, '(absent)')!r}"
        for k in differ
    )


# -- the shared parameter documentation -------------------------------------------------------

# Each argument both loaders take, in numpy-docstring form, written once.
# Framework-specific arguments (batch sharding, device, DDP ranks) stay in
# each loader's own docstring; `shared_parameters` merges the two.
PARAMETERS: dict[str, str] = {
    "files": """\
files : directory, manifest, list of paths, shard pattern, URL or AudioFiles
    A directory with one sub-folder per class, a CSV/JSONL manifest (path
    and label columns), or a list of paths (`audiodecode.data.audio_files`);
    WebDataset tar shards (``"shards/train-{000000..000099}.tar"``, brace
    patterns and globs expanded), ``*.array_record`` or ``*.parquet``
    files, loose objects (``s3://bucket/clips/*.wav``) or any of them
    opened already (`audiodecode.data.open_records` decides by suffix and
    scheme).""",
    "labels": """\
labels : sequence of int or str, optional
    One per path when `files` is a list of audio files.""",
    "sr": """\
sr : int
    Sampling rate the audio is resampled to.""",
    "clip_seconds": """\
clip_seconds : float or None
    Clip length: longer files are cropped (see `crop`), shorter ones
    zero-padded, so every batch has one shape. None keeps whole files and
    pads each batch to its longest (the width then changes from batch to
    batch; the `length` of each row says what is valid).""",
    "crop": """\
crop : {"random", "start", "center"}
    Where files longer than `clip_seconds` are cut.""",
    "features": """\
features : None, "spectrogram", "melspectrogram" ("mel"), "log_mel", "mfcc" or a callable
    Computed on the device from the audio batch by the framework's
    `features` module (librosa's defaults, with `sr`), with
    `**feature_kwargs`; a callable gets the (batch, samples) audio and
    returns the features. None yields the audio itself.""",
    "augmentations": """\
augmentations : transform, list of transforms or None
    `audiodecode.augment` transforms (a list is chained with `Compose`),
    applied per record with seeds from (seed, epoch, record), before the
    clip is padded. A list may also hold one batch-level `Mixup` or
    `CutMix`, applied after padding; batches then carry mixed targets.""",
    "shuffle": """\
shuffle : bool
    Visit records in a new random order every epoch.""",
    "shuffle_buffer": """\
shuffle_buffer : int or None
    None: every epoch is an exact global shuffle (any record may follow
    any other; one ranged read per record). An int: the shard-streaming
    order, for data sets in object storage where one request per record
    is still too many: the shards (tar, ArrayRecord) of this process in a
    random order, each read sequentially in large blocks, through a
    shuffle buffer of this many records, as WebDataset's ``.shuffle(n)``
    (`audiodecode.data.seeding.stream_order`). Seeded per epoch, so exact
    resume still holds; each process streams a contiguous run of the
    records. Needs `shuffle=True` and `batch_by="count"`.""",
    "seed": """\
seed : int
    Determines the order, crops, augmentations and replacements of bad
    records: the same seed and files give the same batches, with any number
    of threads, in either loader.""",
    "on_error": """\
on_error : {"raise", "skip"}
    An unreadable file raises, or is replaced by another record of the
    shard chosen from the seed (counted in `stats()["skipped"]`, with a
    `SkippedRecordWarning` naming the file). Also what happens to a bad
    manifest row: raise naming it, or drop it at start-up (counted in
    `stats()["skipped_rows"]`).""",
    "cache": """\
cache : "auto", None or an AudioCache
    Whole decoded files kept for later epochs (`audiodecode.cache`).
    "auto": a RAM cache, closed with the loader, when this process's share
    of the data set fits the automatic budget (a quarter of the free
    memory), else none (each clip's window is decoded instead).""",
    "num_threads": """\
num_threads, prefetch : int or None
    Rust threads per batch, and batches read at once ahead of the consumer.
    None: measured on this machine when the loader is made
    (`audiodecode.data.tuning`, a second or two).""",
    "batch_by": """\
batch_by : {"count", "duration"}
    "count": `batch_size` records a batch. "duration": duration buckets
    (`audiodecode.data.buckets`) for utterances of any length: records of
    similar duration batched together, each batch padded to its bucket's
    upper boundary and to the bucket's static row count
    (`max_batch_seconds // boundary`; rows past the data are zeros with
    `"mask"` False), so at most `num_buckets` shapes occur. Needs
    `clip_seconds=None` and `max_batch_seconds`; `batch_size` is then
    unused. Missing durations are read from the headers once. Records in
    shards (tar, ArrayRecord, Parquet) are batched shard by shard when that
    adds at most a tenth more (partial) batches, as for shards of one
    duration range each (`audiodecode.prepare(bucket_by_duration=True)`):
    a batch then reads one shard.""",
    "max_batch_seconds": """\
max_batch_seconds : float, optional
    Audio seconds a bucketed batch holds, padding included, over all
    processes.""",
    "num_buckets": """\
num_buckets : int
    Buckets of about equal record counts (quantiles of the durations).""",
    "bucket_boundaries": """\
bucket_boundaries : sequence of float, optional
    Explicit upper edges in seconds instead; a record longer than the last
    one is refused at start-up (named), never cut.""",
    "text_transform": """\
text_transform : callable str -> list of int, "chars" or None
    Tokenize transcripts into the batch's `"tokens"` (rows, width) (padded
    with 0, also the CTC blank) and `"token_length"`; "chars" builds a
    character vocabulary from the manifest (`loader.text_transform` decodes
    ids back). The width is the data set's longest transcript, the same in
    every batch.""",
    "feature_kwargs": """\
**feature_kwargs
    The feature function's settings (n_fft, hop_length, n_mels, n_mfcc,
    layout, ...), with that function's defaults (librosa's: n_mfcc=20).""",
}

_SECTION = re.compile(
    r"^([ \t]*)(Parameters|Returns|Yields|Attributes|Raises|Notes|Examples|See Also)\n\1-+\n", re.MULTILINE
)

F = TypeVar("F")


def shared_parameters(obj: F) -> F:
    """Fill the arguments both loaders share into `obj`'s docstring.

    The Parameters section is rebuilt in the order of the signature: an
    argument documented in `obj`'s own docstring keeps that text (framework
    words), any other one takes its entry from `PARAMETERS`.
    """
    doc = obj.__doc__ or ""
    target = obj.__init__ if inspect.isclass(obj) else obj  # type: ignore[misc]
    names = [n for n in inspect.signature(target).parameters if n != "self"]
    sections = list(_SECTION.finditer(doc))
    start = next(i for i, m in enumerate(sections) if m.group(2) == "Parameters")
    head = sections[start]
    indent = head.group(1).lstrip("\n")
    end = sections[start + 1].start() if start + 1 < len(sections) else len(doc)
    own = _entries(textwrap.dedent(doc[head.end():end]))
    entries = []
    for name in names:
        text = own.get(name) or PARAMETERS.get(name)
        if text is None:
            raise ValueError(f"{obj.__name__}: argument {name} is documented nowhere")
        if text not in entries:
            entries.append(text)
    body = textwrap.indent("\n".join(entries), indent) + "\n"
    obj.__doc__ = doc[: head.end()] + body + ("\n" + doc[end:] if end < len(doc) else "")
    return obj


def _entries(section: str) -> dict[str, str]:
    """A numpy Parameters section's entries by every name they document
    (``num_threads, prefetch : ...`` under both; ``**kwargs`` as kwargs)."""
    out: dict[str, str] = {}
    blocks: list[list[str]] = []
    for line in section.strip("\n").splitlines():
        if line and not line[0].isspace():
            blocks.append([line])
        elif blocks:
            blocks[-1].append(line)
    for block in blocks:
        text = "\n".join(block).rstrip()
        for name in block[0].split(":")[0].split(","):
            out[name.strip().lstrip("*")] = text
    return out


for _text in list(PARAMETERS.values()):
    for _name, _entry in _entries(_text).items():
        PARAMETERS.setdefault(_name, _entry)
