"""`loader`: batches of audio (or features) on the accelerator, from files.

    from audiodecode.jax import loader

    train = loader("data/", batch_size=32, clip_seconds=1.0, features="mfcc",
                   augmentations=[ad.Gain(-6, 6, p=0.5), ad.PitchShift(-2, 2, p=0.5)])
    for batch in train:          # dict of jax.Array, already on the device
        state = train_step(state, batch["features"], batch["label"])

What to read, in what order and how is the loader plan
(`audiodecode.data.plan`, shared with the torch loader); the pipeline
that reads it is Grain's:

    MapDataset.source(AudioRecordSource)  records, one per file
      -> EpochShuffle                     this process's shard; shuffle, then repeat
      -> batch                            record indices, not audio
      -> ReadBatch                        one parallel Rust decode + crop + augment per batch
      -> to_iter_dataset(ReadOptions)     `prefetch` batches read at once, in threads
      -> device placement and features    in a background thread, two batches ahead

Batches are read whole: one `load_batch` decodes all of a batch's files in
Rust threads with the GIL released, so Python threads suffice and no
worker processes are needed. Host parallelism (Rust threads per batch,
batches in flight) is measured at start-up (`audiodecode.data.tuning`).
"""

from __future__ import annotations

import atexit
import logging
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Literal

import grain
import jax
import jax.numpy as jnp
import numpy as np

from audiodecode.cache import AudioCache
from audiodecode.data.plan import BatchBy, LoaderPlan, mismatch, plan_loader, shared_parameters
from audiodecode.data.reading import BatchAugmentation, Crop, OnError
from audiodecode.data.records import AudioFiles, StrPath
from audiodecode.data.setup import FeatureSpec, loader_stats, rust_threads
from audiodecode.data.stats import PipelineStats
from audiodecode.data.text import TextTransform
from audiodecode.jax.source import AudioRecordSource, BucketBatchSource, EpochShuffle, ReadBatch, to_indices

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
    plan : LoaderPlan
        What the loader decided at start-up (`audiodecode.data.plan`).
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
    the last one the caller received. It carries the loader's fingerprint:
    a state taken under other files or settings is refused, naming them.
    """

    def __init__(self, parent: grain.DatasetIterator, *, plan: LoaderPlan, batch_size: int) -> None:
        super().__init__(parent)
        self.plan = plan
        self.files = plan.files
        self.text_transform = plan.text_transform
        self.buckets = plan.buckets
        self.batch_size = batch_size
        self.steps_per_epoch = plan.steps_per_epoch
        self.tuning = plan.host.tuning
        self._local_batch_size = plan.batch_size
        self._host = plan.host
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
        """The position in the stream, as a JSON-able dict (with the
        loader's fingerprint, `LoaderPlan.fingerprint`)."""
        return {"pipeline": self.plan.fingerprint, "grain": self._parent.get_state()}

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from a `get_state()` of a loader made with the same
        files and settings.

        Raises
        ------
        ValueError
            The state comes from a loader with other files or settings;
            the message names each that differs.
        """
        why = mismatch(state.get("pipeline"), self.plan.fingerprint)
        if why is not None:
            raise ValueError(f"this state comes from a loader with other files or settings: {why}")
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
            stage_s and stage_ms_per_batch (decode (with the crop, the
            fetch and the turn), fetch (a record source's bytes), turn
            (waiting for the core's pool behind older batches, in decode
            and augment: `audiodecode.data.turns`), augment, collate,
            to_device: host time per stage, summed over threads), cache
            (the cache's counters, or None), storage (a record source's
            reads: requests, bytes_read, retries, failures,
            p50/p99_latency_s, in_flight, peak_in_flight, read_ahead; or
            None), parallelism (num_threads, prefetch, given: the
            settings the caller fixed, read_ahead: the latency and work
            the prefetch was chosen from, None for local records).
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
        self.plan.close()
        _OPEN.discard(self)

    def __enter__(self) -> AudioLoader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __str__(self) -> str:
        return f"AudioLoader({self.files!r}, batch_size={self.batch_size})"


@shared_parameters
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
    shuffle_buffer: int | None = None,
    seed: int = 0,
    num_epochs: int | None = None,
    drop_remainder: bool = False,
    sharding: jax.sharding.Sharding | None = None,
    on_error: OnError = "raise",
    cache: AudioCache | Literal["auto"] | None = "auto",
    num_threads: int | None = None,
    prefetch: int | None = None,
    batch_by: BatchBy = "count",
    max_batch_seconds: float | None = None,
    num_buckets: int = 8,
    bucket_boundaries: Sequence[float] | None = None,
    text_transform: TextTransform | Literal["chars"] | None = None,
    **feature_kwargs: Any,
) -> AudioLoader:
    """Iterate over a data set as batches on the accelerator.

    The arguments both loaders share are documented once, in
    `audiodecode.data.plan.PARAMETERS`, and filled in here at import;
    the table in the docs' loader-arguments page maps both loaders'.

    Parameters
    ----------
    batch_size : int
        Rows per batch over all JAX processes (each reads
        `batch_size // jax.process_count()`).
    num_epochs : int or None
        Passes over the data; None repeats forever. Batches run on across
        epoch boundaries (one stream; `steps_per_epoch` is the count of a pass).
    drop_remainder : bool
        Drop the last, short batch of a finite stream (with duration
        buckets: each bucket's last, partial batch of every epoch, which is
        otherwise padded with masked rows), as the torch loader's `drop_last`.
    sharding : jax.sharding.Sharding or None
        How each batch is laid out across devices; its first axis splits
        the batch axis (a NamedSharding's other axes are ignored: labels
        and lengths have one axis, audio two, features three). None: the
        one device, or the batch split over all devices when there are
        several (or several processes).

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
    process, processes = jax.process_index(), jax.process_count()
    if batch_by == "count":
        if batch_size % processes:
            raise ValueError(f"batch_size {batch_size} does not split over {processes} processes")
        if processes > 1 and clip_seconds is None:
            raise ValueError("several processes need clip_seconds: every process's rows must have the same length")
    placement = _placement(sharding, batch_size if batch_by == "count" else None)
    ways = _batch_ways(placement.sharding) if placement.sharding is not None else 1
    plan = plan_loader(
        files, labels, batch_size=batch_size // processes, sr=sr,
        clip_seconds=clip_seconds, crop=crop, features=features, feature_functions=_feature_functions(),
        feature_kwargs=feature_kwargs, augmentations=augmentations, shuffle=shuffle, shuffle_buffer=shuffle_buffer,
        seed=seed,
        num_epochs=num_epochs, drop_remainder=drop_remainder, on_error=on_error, cache=cache,
        num_threads=num_threads, prefetch=prefetch, batch_by=batch_by, max_batch_seconds=max_batch_seconds,
        num_buckets=num_buckets, bucket_boundaries=bucket_boundaries, text_transform=text_transform,
        process=process, processes=processes, device_ways=ways,
    )
    try:
        _check_last_batch(plan, num_epochs, drop_remainder, ways)
    except BaseException:
        plan.close()
        raise
    choice = plan.host.tuning.choice
    if plan.buckets is None:
        jobs = EpochShuffle(grain.MapDataset.source(AudioRecordSource(plan.files)), plan.schedule).batch(
            plan.batch_size, drop_remainder=drop_remainder, batch_fn=to_indices
        )
        batch_size = plan.batch_size * processes
    else:
        jobs = grain.MapDataset.source(BucketBatchSource(plan.schedule))
        batch_size = max(plan.buckets.rows)
    batches = jobs.map(ReadBatch(plan, rust_threads(choice.num_threads))).to_iter_dataset(
        grain.ReadOptions(num_threads=choice.prefetch, prefetch_buffer_size=choice.prefetch)
    )
    device = grain.experimental.ThreadPrefetchIterDataset(
        batches.map(_ToDevice(placement, _featurizer(plan.features), plan.host.stats)),
        prefetch_buffer_size=DEVICE_BUFFER,
    )
    return AudioLoader(iter(device), plan=plan, batch_size=batch_size)


def _feature_functions() -> Any:
    from audiodecode.jax import features

    return features


def _check_last_batch(plan: LoaderPlan, num_epochs: int | None, drop_remainder: bool, ways: int) -> None:
    """Refuse at start-up a finite stream whose last, short batch could not
    be split over the devices (it would fail after the last epoch's work)."""
    if plan.buckets is not None or num_epochs is None or drop_remainder:
        return
    last = len(plan.shard) * num_epochs % plan.batch_size
    if last % ways:
        raise ValueError(f"the last batch has {last} rows per process, which do not split over {ways} devices: "
                         "pass drop_remainder=True")



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


def _featurizer(spec: FeatureSpec | None) -> _Featurizer | None:
    """The plan's checked feature function, with its frame count per row."""
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
