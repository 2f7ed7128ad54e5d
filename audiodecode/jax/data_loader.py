"""`loader`: batches of audio (or features) on the accelerator, from files.

    from audiodecode.jax import loader

    train = loader("data/", batch_size=32, clip_seconds=1.0, features="mfcc",
                   augmentations=[ad.Gain(-6, 6, p=0.5), ad.PitchShift(-2, 2, p=0.5)])
    for batch in train:          # dict of jax.Array, already on the device
        state = train_step(state, batch["features"], batch["label"])

The pipeline is Grain's:

    MapDataset.source(AudioRecordSource)  records, one per file
      -> EpochShuffle                     this process's shard; shuffle, then repeat
      -> batch                            record indices, not audio
      -> ReadClips                        one parallel Rust decode + crop + augment per batch
      -> to_iter_dataset(ReadOptions)     `prefetch` batches read at once, in threads
      -> device placement and features    in a background thread, two batches ahead

Batches are read whole: one `load_batch` decodes all of a batch's files in
Rust threads with the GIL released, so Python threads suffice and no
worker processes are needed. Host parallelism (Rust threads per batch,
batches in flight) is measured at start-up (`audiodecode.data.tuning`).
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import re
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Literal

import grain
import jax
import jax.numpy as jnp
import numpy as np

from audiodecode.cache import AudioCache
from audiodecode.data.records import AudioFiles, StrPath, audio_files
from audiodecode.data.setup import HostReader, feature_spec, host_reader, loader_stats, rust_threads
from audiodecode.jax.source import AudioRecordSource, BucketBatchSource, EpochShuffle, ReadBuckets, ReadClips, to_indices
from audiodecode.data.reading import (
    BatchAugmentation,
    ClipSpec,
    Crop,
    OnError,
    resolve_augment,
)
from audiodecode.data.buckets import BucketSchedule, DurationBuckets
from audiodecode.data.durations import with_durations
from audiodecode.augment.mixing import resolve_mixing
from audiodecode.data.schedule import Schedule
from audiodecode.data.stats import PipelineStats
from audiodecode.data.text import TextTransform, resolve_text_transform

log = logging.getLogger("audiodecode")

# Batches held on the device ahead of the consumer: one in use, one ready.
DEVICE_BUFFER = 2

Batch = dict[str, jax.Array]

# Loaders not closed yet. Grain's prefetch threads, left to close in
# `__del__` during interpreter shutdown, find their modules torn down and
# print tracebacks (grain 0.2.18); closing what is left at exit, before that
# teardown, makes a script that never calls `close()` end silently. Weak: a
# registry must not keep a dropped loader alive.
_OPEN: weakref.WeakSet[AudioLoader] = weakref.WeakSet()


@atexit.register
def _close_open_loaders() -> None:
    for it in list(_OPEN):
        it.close()


class AudioLoader(grain.DatasetIterator):
    """The iterator `loader` returns: dict batches of `jax.Array`s.

    Attributes
    ----------
    files : AudioFiles
        The whole data set (all processes); `files.classes[label]` names a label.
    batch_size : int
        Rows per batch, over all processes.
    steps_per_epoch : int
        Batches that make one pass over this process's shard.
    tuning : audiodecode.data.tuning.Tuning
        The parallelism in use and what was measured to choose it.

    Notes
    -----
    A `grain.DatasetIterator`: `get_state`/`set_state` return and take a
    JSON-able dict, and Orbax saves it with
    `grain.checkpoint.CheckpointSave(loader)` / `CheckpointRestore(loader)`.
    The state counts batches delivered to the caller, not batches
    prefetched, so a restored loader continues with the batch that follows
    the last one the caller received.
    """

    def __init__(
        self,
        parent: grain.DatasetIterator,
        *,
        files: AudioFiles,
        batch_size: int,
        local_batch_size: int,
        steps_per_epoch: int,
        host: HostReader,
        fingerprint: str,
        text_transform: TextTransform | None = None,
        buckets: DurationBuckets | None = None,
    ) -> None:
        super().__init__(parent)
        self.files = files
        self.text_transform = text_transform
        self.buckets = buckets
        self.batch_size = batch_size
        self.steps_per_epoch = steps_per_epoch
        self.tuning = host.tuning
        self._local_batch_size = local_batch_size
        self._host = host
        self._fingerprint = fingerprint
        _OPEN.add(self)

    def __next__(self) -> Batch:
        self._assert_not_closed()
        requested = time.perf_counter()
        batch = next(self._parent)
        if "mask" in batch:  # a duration bucket: its real rows (a few bytes from the device)
            rows = int(sum(np.asarray(shard.data).sum() for shard in batch["mask"].addressable_shards))
        else:
            rows = batch["label"].shape[0] * self._local_batch_size // self.batch_size
        self._host.stats.delivered(requested, rows)
        return batch

    def transcripts(self, batch: Batch) -> list[str | None]:
        """The transcripts of a batch's real rows, from its `"index"` (kept
        on the host, not the device: for evaluation, e.g. word error rate)."""
        texts = self.files.texts
        return [None if texts is None else texts[int(i)] for i in np.asarray(batch["index"]) if i >= 0]

    def get_state(self) -> dict[str, Any]:
        """The position in the stream, as a JSON-able dict."""
        return {"pipeline": self._fingerprint, "grain": self._parent.get_state()}

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from a `get_state()` of a loader made with the same files,
        seed, batch size, clip settings and process layout."""
        if state.get("pipeline") != self._fingerprint:
            raise ValueError(
                "this state comes from a loader with other files or settings "
                f"(pipeline {state.get('pipeline')!r}, this one {self._fingerprint!r})"
            )
        self._parent.set_state(state["grain"])

    def stats(self) -> dict[str, Any]:
        """Throughput and where the time goes.

        Returns
        -------
        dict
            samples_per_s (this process's examples per second of wall time,
            first request to last delivery), data_stall_share (share of that
            time the caller waited for a batch), batches, samples,
            elapsed_s, wait_s, skipped (unreadable records replaced),
            skipped_rows (manifest rows dropped at start-up),
            stage_s and stage_ms_per_batch (decode (with the crop), augment, collate,
            to_device: host time per stage, summed over threads), cache
            (the cache's counters, or None), parallelism (num_threads,
            prefetch, given: the settings the caller fixed).
        """
        return loader_stats(self._host)

    def close(self) -> None:
        """Stop the background threads and release a cache the loader made."""
        if self._closed:
            return
        super().close()
        # Drop the Grain iterators now: their __del__ closes them again, which
        # fails if it only runs at interpreter shutdown (grain 0.2.18).
        self._parents = ()
        self._host.close()
        _OPEN.discard(self)

    def __enter__(self) -> AudioLoader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __str__(self) -> str:
        return f"AudioLoader({self.files!r}, batch_size={self.batch_size})"


def loader(
    files: StrPath | Sequence[StrPath] | AudioFiles,
    labels: Sequence[int | str] | None = None,
    *,
    batch_size: int = 32,
    sr: int = 16000,
    clip_seconds: float | None = None,
    crop: Crop = "random",
    features: str | Callable[[jax.Array], jax.Array] | None = None,
    augmentations: BatchAugmentation | Sequence[Any] | None = None,
    shuffle: bool = True,
    seed: int = 0,
    num_epochs: int | None = None,
    drop_remainder: bool | None = None,
    sharding: jax.sharding.Sharding | None = None,
    on_error: OnError = "raise",
    cache: AudioCache | Literal["auto"] | None = "auto",
    num_threads: int | None = None,
    prefetch: int | None = None,
    batch_by: Literal["count", "duration"] = "count",
    max_batch_seconds: float | None = None,
    num_buckets: int = 8,
    bucket_boundaries: Sequence[float] | None = None,
    text_transform: TextTransform | Literal["chars"] | None = None,
    **feature_kwargs: Any,
) -> AudioLoader:
    """Iterate over a data set as batches on the accelerator.

    Parameters
    ----------
    files : directory, manifest, list of paths or AudioFiles
        See `audiodecode.data.records.audio_files`: a directory with one
        sub-folder per class, a CSV/JSONL manifest (path and label
        columns), or a list of paths.
    labels : sequence of int or str, optional
        One per path when `files` is a list.
    batch_size : int
        Rows per batch over all JAX processes (each reads
        `batch_size // jax.process_count()`).
    sr : int
        Sampling rate the audio is resampled to.
    clip_seconds : float or None
        Clip length; None keeps whole files, padded to each batch's longest
        (every new length recompiles jitted consumers).
    crop : {"random", "start", "center"}
        Where files longer than `clip_seconds` are cut.
    features : None, "spectrogram", "melspectrogram" ("mel"), "log_mel",
        "mfcc" or a callable
        Computed on the device from the audio batch by the jitted
        functions of `audiodecode.jax.features`, with `feature_kwargs`
        (n_fft, hop_length, n_mels, n_mfcc, ...); a callable gets the
        (batch, samples) audio array and should be jitted.
    augmentations : transform, list of transforms or None
        `audiodecode` augmentations (a list is wrapped in `Compose`),
        applied per record with seeds from (seed, epoch, record). A list
        may also hold one batch-level `Mixup` or `CutMix`
        (`audiodecode.augment.mixing`), applied after padding.
    shuffle : bool
        Visit records in a new random order every epoch.
    seed : int
        Determines the order, crops, augmentations and replacements of bad
        records: the same seed and files give the same batches, with any
        number of threads.
    num_epochs : int or None
        None repeats forever.
    drop_remainder : bool or None
        Drop the last, short batch of a finite stream (with duration
        buckets: each bucket's last, partial batch of every epoch, which is
        otherwise padded with masked rows). None: True for `batch_by="count"`,
        False for "duration" (no utterance is left out).
    sharding : jax.sharding.Sharding or None
        How each batch is laid out across devices; its first axis splits
        the batch axis (a NamedSharding's other axes are ignored: labels
        and lengths have one axis, audio two, features three). None: the
        one device, or the batch split over all devices when there are
        several (or several processes).
    on_error : {"raise", "skip"}
        An unreadable file raises, or is replaced by another record of the
        shard chosen from the seed (counted in `stats()["skipped"]`, with a
        `SkippedRecordWarning` naming the file). Also what `audio_files`
        does with a bad manifest row: raise naming it, or drop it at
        start-up (counted in `stats()["skipped_rows"]`).
    cache : "auto", None or AudioCache
        Whole decoded files kept for later epochs (`audiodecode.cache`).
        "auto": a RAM cache when this process's share of the data set fits
        the automatic budget (a quarter of the free memory), else none.
        Without a cache each clip is decoded as a window of its file (the
        same samples as the crop of the whole file).
    num_threads, prefetch : int or None
        Rust threads per batch, and batches read at once ahead of the
        consumer. None: measured on this machine at start-up.
    batch_by : {"count", "duration"}
        "count": `batch_size` records a batch. "duration": duration
        buckets (`audiodecode.data.buckets`) for utterances of any length:
        records of similar duration batched together, each batch padded to
        its bucket's upper boundary and to the bucket's static row count
        (`max_batch_seconds // boundary`, rows past the data are zeros with
        `"mask"` False), so at most `num_buckets` shapes reach the device.
        Needs `clip_seconds=None` and `max_batch_seconds`; `batch_size` is
        then unused. Missing durations are read from the headers once.
    max_batch_seconds : float, optional
        Audio seconds a bucketed batch holds, padding included, over all
        processes.
    num_buckets : int
        Buckets of about equal record counts (quantiles of the durations).
    bucket_boundaries : sequence of float, optional
        Explicit upper edges in seconds instead; a record longer than the
        last one is refused at start-up (named), never cut.
    text_transform : callable str -> list of int, "chars" or None
        Tokenize transcripts into the batch's `"tokens"` (rows, width)
        int32 (padded with 0, also the CTC blank) and `"token_length"`;
        "chars" builds a character vocabulary from the manifest
        (`loader.text_transform` decodes ids back). The width is the data
        set's longest transcript, the same in every batch.
    **feature_kwargs
        Passed to the feature function.

    Returns
    -------
    AudioLoader
        An iterator of dicts: "features" (batch, ...) float32 or "audio"
        (batch, samples) float32; "label" (batch,) int32 (-1 when
        unlabelled); "length" (batch,) int32, the valid samples of each row,
        or frames with a named feature (then also "feature_length", the
        same frames, counted with the feature's framing rule); with
        duration buckets "mask" (batch,) bool and "index" (the records;
        `loader.transcripts(batch)` gives their transcripts, kept on the
        host); with `text_transform` "tokens" and "token_length"; with
        Mixup/CutMix also "target" (batch, classes) float32, the one-hot
        labels mixed like the audio.

    Raises
    ------
    ValueError
        Bad settings; a batch size that does not split over the processes
        or devices; `clip_seconds=None` with several processes (rows must
        have one length everywhere).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if batch_by not in ("count", "duration"):
        raise ValueError(f"batch_by must be 'count' or 'duration', not {batch_by!r}")
    files = audio_files(files, labels, on_error=on_error)
    if batch_by == "duration":
        drop_remainder = bool(drop_remainder)
        return _bucketed_loader(
            files, sr=sr, crop=crop, features=features, augmentations=augmentations, shuffle=shuffle, seed=seed,
            num_epochs=num_epochs, drop_remainder=drop_remainder, sharding=sharding, on_error=on_error,
            cache=cache, num_threads=num_threads, prefetch=prefetch, clip_seconds=clip_seconds,
            max_batch_seconds=max_batch_seconds, num_buckets=num_buckets, bucket_boundaries=bucket_boundaries,
            text_transform=text_transform, feature_kwargs=feature_kwargs,
        )
    transform = _text_transform(text_transform, files)
    drop_remainder = True if drop_remainder is None else drop_remainder
    spec = ClipSpec(sr=sr, clip_seconds=clip_seconds, crop=crop, seed=seed, on_error=on_error)
    process, processes = jax.process_index(), jax.process_count()
    if batch_size % processes:
        raise ValueError(f"batch_size {batch_size} does not split over {processes} processes")
    if processes > 1 and clip_seconds is None:
        raise ValueError("several processes need clip_seconds: every process's rows must have the same length")
    local_batch_size = batch_size // processes
    shard = files.shard(process, processes)
    if len(files) % processes:
        log.warning("%d of %d files left out so %d processes get equal shards", len(files) % processes,
                    len(files), processes)
    placement = _placement(sharding, batch_size)
    featurize = _featurizer(features, sr, feature_kwargs)
    per_record, mix = resolve_mixing(augmentations)
    augment = resolve_augment(per_record)
    schedule = Schedule(shard, seed=seed, shuffle=shuffle, num_epochs=num_epochs)
    host = host_reader(files, spec, augment, shard, schedule, cache, local_batch_size, num_threads, prefetch, mix=mix)
    choice = host.tuning.choice
    batches = (
        EpochShuffle(grain.MapDataset.source(AudioRecordSource(files)), schedule)
        .batch(local_batch_size, drop_remainder=drop_remainder, batch_fn=to_indices)
        .map(ReadClips(host.reader, rust_threads(choice.num_threads), transform, _token_width(transform, files)))
        .to_iter_dataset(grain.ReadOptions(num_threads=choice.prefetch, prefetch_buffer_size=choice.prefetch))
    )
    device = grain.experimental.ThreadPrefetchIterDataset(
        batches.map(_ToDevice(placement, featurize, host.stats)), prefetch_buffer_size=DEVICE_BUFFER
    )
    fingerprint = hashlib.sha1(
        repr((files.fingerprint, spec, local_batch_size, processes, process, shuffle, num_epochs,
              drop_remainder, _stable_repr(augment), features if isinstance(features, str) else None,
              sorted(feature_kwargs.items()))).encode()
    ).hexdigest()[:16]
    return AudioLoader(
        iter(device),
        files=files,
        batch_size=batch_size,
        local_batch_size=local_batch_size,
        steps_per_epoch=len(shard) // local_batch_size,
        host=host,
        fingerprint=fingerprint,
        text_transform=transform,
    )


def _bucketed_loader(
    files: AudioFiles,
    *,
    sr: int,
    crop: Crop,
    features: str | Callable[[jax.Array], jax.Array] | None,
    augmentations: BatchAugmentation | Sequence[Any] | None,
    shuffle: bool,
    seed: int,
    num_epochs: int | None,
    drop_remainder: bool,
    sharding: jax.sharding.Sharding | None,
    on_error: OnError,
    cache: AudioCache | Literal["auto"] | None,
    num_threads: int | None,
    prefetch: int | None,
    clip_seconds: float | None,
    max_batch_seconds: float | None,
    num_buckets: int,
    bucket_boundaries: Sequence[float] | None,
    text_transform: TextTransform | Literal["chars"] | None,
    feature_kwargs: dict[str, Any],
) -> AudioLoader:
    """`loader(batch_by="duration")`: see `loader`."""
    if clip_seconds is not None:
        raise ValueError("batch_by='duration' pads each batch to its bucket: clip_seconds must be None")
    if max_batch_seconds is None:
        raise ValueError("batch_by='duration' needs max_batch_seconds (audio seconds per batch)")
    files = with_durations(files, on_error=on_error)
    spec = ClipSpec(sr=sr, clip_seconds=None, crop=crop, seed=seed, on_error=on_error)
    process, processes = jax.process_index(), jax.process_count()
    placement = _placement(sharding, None)
    ways = processes * (_batch_ways(placement.sharding) if placement.sharding is not None else 1)
    buckets = DurationBuckets.estimate(
        files.durations, max_batch_seconds=max_batch_seconds, num_buckets=num_buckets,
        boundaries=bucket_boundaries, row_multiple=ways,
    )
    schedule = BucketSchedule(buckets, files.durations, seed=seed, shuffle=shuffle, num_epochs=num_epochs,
                              drop_remainder=drop_remainder, process=process, processes=processes)
    transform = _text_transform(text_transform, files)
    featurize = _featurizer(features, sr, feature_kwargs)
    per_record, mix = resolve_mixing(augmentations)
    augment = resolve_augment(per_record)
    everything = np.arange(len(files), dtype=np.int64)
    local_rows = max(buckets.rows) // processes
    host = host_reader(files, spec, augment, everything, schedule, cache, local_rows, num_threads, prefetch, mix=mix)
    choice = host.tuning.choice
    read = ReadBuckets(host.reader, rust_threads(choice.num_threads), buckets.widths(sr),
                       [rows // processes for rows in buckets.rows], transform, _token_width(transform, files))
    batches = grain.MapDataset.source(BucketBatchSource(schedule)).map(read).to_iter_dataset(
        grain.ReadOptions(num_threads=choice.prefetch, prefetch_buffer_size=choice.prefetch)
    )
    device = grain.experimental.ThreadPrefetchIterDataset(
        batches.map(_ToDevice(placement, featurize, host.stats)), prefetch_buffer_size=DEVICE_BUFFER
    )
    fingerprint = hashlib.sha1(
        repr((files.fingerprint, spec, repr(schedule), _stable_repr(augment), _stable_repr(mix), _stable_repr(transform),
              features if isinstance(features, str) else None, sorted(feature_kwargs.items()))).encode()
    ).hexdigest()[:16]
    return AudioLoader(
        iter(device),
        files=files,
        batch_size=max(buckets.rows),
        local_batch_size=local_rows,
        steps_per_epoch=schedule.batches_per_epoch,
        host=host,
        fingerprint=fingerprint,
        text_transform=transform,
        buckets=buckets,
    )


def _text_transform(text_transform: TextTransform | Literal["chars"] | None, files: AudioFiles) -> TextTransform | None:
    """`text_transform=` resolved: None, the user's callable, or a character
    vocabulary of every transcript ("chars")."""
    if text_transform is None:
        return None
    if files.texts is None:
        raise ValueError("text_transform= needs transcripts (a manifest with a text column)")
    return resolve_text_transform(None if text_transform == "chars" else text_transform, files.texts)


def _token_width(transform: TextTransform | None, files: AudioFiles) -> int | None:
    """The longest transcript in tokens: one static token width for every batch."""
    if transform is None:
        return None
    return max(1, max((len(transform(text)) for text in files.texts), default=1))




def _stable_repr(obj: object) -> str:
    """`repr` without memory addresses (a custom object's default repr has
    one), so the same settings fingerprint alike in every run."""
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(obj))






class _Placement:
    """Puts a host batch on the devices: one device, or a global array
    assembled from every process's rows."""

    def __init__(self, sharding: jax.sharding.Sharding | None) -> None:
        self.sharding = sharding

    def __call__(self, batch: dict[str, np.ndarray]) -> Batch:
        if self.sharding is None:
            return jax.device_put(batch, jax.local_devices()[0])
        return {k: jax.make_array_from_process_local_data(self._for(v.ndim), v) for k, v in batch.items()}

    def _for(self, ndim: int) -> jax.sharding.Sharding:
        """The sharding of a leaf of rank `ndim`: split along axis 0 only."""
        if isinstance(self.sharding, jax.sharding.NamedSharding):
            spec = self.sharding.spec
            return jax.sharding.NamedSharding(self.sharding.mesh, jax.sharding.PartitionSpec(spec[0] if spec else None))
        return self.sharding


def _placement(sharding: jax.sharding.Sharding | None, batch_size: int | None) -> _Placement:
    if sharding is None and jax.device_count() > 1:
        mesh = jax.sharding.Mesh(np.array(jax.devices()), ("batch",))
        sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch"))
    if sharding is not None:
        ways = _batch_ways(sharding)
        if batch_size is not None and batch_size % ways:
            raise ValueError(f"batch_size {batch_size} does not split over {ways} devices")
    return _Placement(sharding)


def _batch_ways(sharding: jax.sharding.Sharding) -> int:
    """Into how many parts `sharding` splits the batch axis."""
    if isinstance(sharding, jax.sharding.NamedSharding) and sharding.spec and sharding.spec[0] is not None:
        axes = sharding.spec[0] if isinstance(sharding.spec[0], tuple) else (sharding.spec[0],)
        return int(np.prod([sharding.mesh.shape[a] for a in axes]))
    return 1


class _Featurizer:
    """A named feature of `audiodecode.jax.features` with its settings, and
    the number of frames a row of `length` valid samples gives."""

    def __init__(self, fn: Callable[..., jax.Array], kwargs: dict[str, Any], frames: Callable | None) -> None:
        self.fn = fn
        self.kwargs = kwargs
        self.frames = frames

    def __call__(self, audio: jax.Array, length: jax.Array) -> tuple[jax.Array, jax.Array]:
        out = self.fn(audio, **self.kwargs)
        return out, (self.frames(length) if self.frames is not None else length)


def _featurizer(
    features: str | Callable[[jax.Array], jax.Array] | None, sr: int, kwargs: dict[str, Any]
) -> _Featurizer | None:
    from audiodecode.jax import features as feature_functions

    spec = feature_spec(features, feature_functions, kwargs, sr=sr)
    if spec is None:
        return None
    if spec.stft is None:
        return _Featurizer(spec.fn, {}, None)
    n_fft, hop, center = spec.stft

    def frames(length: jax.Array) -> jax.Array:
        # `audiodecode.filterbanks.frame_count` per row: the frames whose window
        # starts inside the valid samples (+ centring pad).
        # An empty row (a bucket's padding row) has no frames.
        padded = length + 2 * (n_fft // 2) if center else length
        return jnp.where(length > 0, jnp.maximum(0, 1 + (padded - n_fft) // hop), 0).astype(jnp.int32)

    return _Featurizer(spec.fn, spec.settings, frames)


class _ToDevice(grain.transforms.Map):
    """Grain transform run in the device thread: place the batch, then
    start the features (asynchronously: JAX returns before they finish)."""

    def __init__(self, placement: _Placement, featurize: _Featurizer | None, stats: PipelineStats) -> None:
        self.placement = placement
        self.featurize = featurize
        self.stats = stats

    def map(self, batch: dict[str, np.ndarray]) -> Batch:
        with self.stats.stage("to_device"):
            out = self.placement(batch)
            if self.featurize is not None:
                out["features"], out["length"] = self.featurize(out.pop("audio"), out["length"])
                if self.featurize.frames is not None:
                    out["feature_length"] = out["length"]
        return out
