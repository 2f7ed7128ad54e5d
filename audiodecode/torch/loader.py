"""`AudioDataLoader`: batches of audio (or features) as tensors on the device.

    from audiodecode.torch import AudioDataLoader

    loader = AudioDataLoader("data/", batch_size=32, sr=16000, clip_seconds=1.0,
                             features="mfcc", n_mfcc=40, device="cuda")
    for epoch in range(epochs):
        for features, labels in loader:       # one epoch per iteration
            loss = criterion(model(features), labels)
        torch.save({"model": model.state_dict(), "data": loader.state_dict()}, path)

The batches are those of `audiodecode.jax.loader` for the same files and
seed (both are built from one `audiodecode.data.plan.LoaderPlan`): one
parallel Rust decode + crop + augmentation per batch, read `prefetch`
batches ahead by threads, then moved to the device and turned into
features by `audiodecode.torch.features` on a background thread.
"""

from __future__ import annotations

import logging
import math
import numbers
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from audiodecode.cache import AudioCache
from audiodecode.data.plan import BatchBy, mismatch, plan_loader, shared_parameters
from audiodecode.data.reading import BatchAugmentation, Crop, OnError
from audiodecode.data.records import AudioFiles, StrPath
from audiodecode.data.setup import FeatureSpec, loader_stats, rust_threads
from audiodecode.data.stats import PipelineStats
from audiodecode.data.text import TextTransform
from audiodecode.torch import features as feature_functions
from audiodecode.torch.prefetch import Prefetcher

log = logging.getLogger("audiodecode")

# Finished batches (on the device, features computed) waiting for the
# consumer, as in the JAX loader: one in use, one ready.
DEVICE_BUFFER = 2

Batch = tuple[torch.Tensor, ...]


@shared_parameters
class AudioDataLoader:
    """Iterate over a data set as `(features, labels)` tensors on `device`.

    A drop-in for a `torch.utils.data.DataLoader` over an audio data set:
    `len()` is batches per epoch, each `iter()` is one epoch, `set_epoch`
    works as with a `DistributedSampler`, every rank of a distributed job
    reads its own shard, and `state_dict`/`load_state_dict` resume mid-epoch
    (the convention of torchdata's `StatefulDataLoader`).

    Why threads, not worker processes: a batch is read with one
    `audiodecode.load_batch`, whose decode, resampling and augmentation run
    in Rust threads with the GIL released, so `prefetch` Python threads
    keep every core busy. A multi-process DataLoader would pay for what
    threads do not: forking (or spawning and importing) workers each epoch
    or keeping them resident, pickling every batch through shared memory,
    per-worker copies of the decoded-audio cache, and per-item Python
    calls (`__getitem__` then `collate`) instead of one call per batch.

    The arguments both loaders share are documented once, in
    `audiodecode.data.plan.PARAMETERS`, and filled in here at import;
    the table in the docs' loader-arguments page maps both loaders'.

    Parameters
    ----------
    batch_size : int
        Rows per batch on each rank (as with a DataLoader under DDP; the
        JAX loader's `batch_size` is global instead).
    sr : int, optional
        Sampling rate the audio is resampled to. None: `target_sr` if
        given, else 16000 (the JAX loader's default).
    target_sr : int, optional
        The earlier name of `sr`, still accepted; giving both is a
        ValueError.
    device : str or torch.device
        Where batches are delivered. On CUDA, host batches are pinned and
        copied with `non_blocking=True` on a side stream that the
        consumer's current stream waits on, so copies and features overlap
        the training step.
    drop_last : bool
        Drop the last, short batch of each epoch (with duration buckets:
        each bucket's last, partial batch, which is otherwise padded with
        masked rows), as the JAX loader's `drop_remainder`.
    rank, world_size : int or None
        This process's shard of the data set. None: from
        `torch.distributed` when it is initialised, else one process. Each
        rank reads `len(files) // world_size` records, disjoint from the
        other ranks', so every rank has the same number of batches (as
        DDP needs; the `len(files) % world_size` left over are skipped).
    return_lengths : bool
        Yield `(features, labels, lengths)` instead of `(features, labels)`.
    as_dict : bool
        Yield the JAX loader's dict of named tensors ("audio" or
        "features", "label", "length", ...: see `audiodecode.jax.loader`)
        instead of tuples; duration buckets and transcripts always do.

    Attributes
    ----------
    files : AudioFiles
        The whole data set; `files.classes[label]` names a label.
    plan : LoaderPlan
        What the loader decided at start-up (`audiodecode.data.plan`).
    indices : np.ndarray [shape=(records,)], int64
        The records of this rank's shard.
    epoch : int
        The epoch the next `iter()` reads; each `iter()` then advances it.
    tuning : audiodecode.data.tuning.Tuning
        The parallelism in use and what was measured to choose it.
    reader : ClipReader
        Reads a batch of (epochs, indices) into numpy arrays, as the
        loader does.

    Yields
    ------
    features : torch.Tensor, float32, on `device`
        Audio (batch, samples) with `features=None`; (batch, n_mfcc,
        frames) for "mfcc", (batch, n_mels, frames) for "mel"/"log_mel",
        (batch, 1 + n_fft // 2, frames) for "spectrogram" (frames and
        features swap with `layout="features_last"`).
    labels : torch.Tensor [shape=(batch,)], int64, on `device`
        (batch, classes) float32 multi-hot for a multi-label data set.
        -1 where there is no label. With Mixup/CutMix: the targets,
        (batch, classes) float32, one-hot (or multi-hot) labels mixed like
        the audio (what `torch.nn.CrossEntropyLoss` takes as class
        probabilities, or BCE for multi-label).
    lengths : torch.Tensor [shape=(batch,)], int64, on `device`
        Only with `return_lengths=True`: valid samples of each row, or
        valid frames (those whose window starts inside the valid samples)
        with a named feature.
    """

    def __init__(
        self,
        files: StrPath | Sequence[StrPath] | AudioFiles,
        labels: Sequence[int | str] | None = None,
        batch_size: int = 32,
        *,
        sr: int | None = None,
        target_sr: int | None = None,
        features: str | Callable[[torch.Tensor], torch.Tensor] | None = None,
        augmentations: BatchAugmentation | Sequence[Any] | None = None,
        device: str | torch.device = "cpu",
        clip_seconds: float | None = None,
        crop: Crop = "random",
        shuffle: bool = True,
        shuffle_buffer: int | None = None,
        seed: int = 0,
        drop_last: bool = False,
        on_error: OnError = "raise",
        cache: AudioCache | Literal["auto"] | None = "auto",
        num_threads: int | None = None,
        prefetch: int | None = None,
        rank: int | None = None,
        world_size: int | None = None,
        return_lengths: bool = False,
        as_dict: bool = False,
        batch_by: BatchBy = "count",
        max_batch_seconds: float | None = None,
        num_buckets: int = 8,
        bucket_boundaries: Sequence[float] | None = None,
        text_transform: TextTransform | Literal["chars"] | None = None,
        **feature_kwargs: Any,
    ) -> None:
        if sr is not None and target_sr is not None:
            raise ValueError(f"give sr or its alias target_sr, not both (sr={sr}, target_sr={target_sr})")
        sr = sr if sr is not None else target_sr if target_sr is not None else 16000
        self.device = torch.device(device)
        self.rank, self.world_size = _process_group(rank, world_size)
        self.plan = plan_loader(
            files, labels, batch_size=batch_size, sr=sr, clip_seconds=clip_seconds, crop=crop, features=features,
            feature_functions=feature_functions, feature_kwargs=feature_kwargs, augmentations=augmentations,
            shuffle=shuffle, shuffle_buffer=shuffle_buffer, seed=seed, num_epochs=None, drop_remainder=drop_last,
            on_error=on_error, cache=cache,
            num_threads=num_threads, prefetch=prefetch, batch_by=batch_by, max_batch_seconds=max_batch_seconds,
            num_buckets=num_buckets, bucket_boundaries=bucket_boundaries, text_transform=text_transform,
            process=self.rank, processes=self.world_size,
            check_features=lambda spec, clip: _featurizer(spec).check(self.device, clip.clip_samples),
        )
        self._host = self.plan.host
        featurize = _featurizer(self.plan.features)
        self.files = self.plan.files
        self.indices = self.plan.shard
        self.buckets = self.plan.buckets
        self.text_transform = self.plan.text_transform
        self.batch_size = self.plan.batch_size
        self.drop_last = drop_last
        self.return_lengths = return_lengths
        self.reader = self._host.reader
        self.tuning = self._host.tuning
        self._num_threads = rust_threads(self.tuning.choice.num_threads)
        self._to_device = _ToDevice(self.device, featurize, self._host.stats, return_lengths, as_dict)
        self._iterators: weakref.WeakSet[_EpochIterator] = weakref.WeakSet()
        self._position: _Position | None = None  # the latest iteration's (not the iterator: it may be dropped)
        self._closed = False
        self.epoch = 0
        self._start = 0  # the batch the next iter() starts at (after load_state_dict)

    def __len__(self) -> int:
        """Batches per epoch on this rank."""
        if self.buckets is not None:
            return self.plan.steps_per_epoch
        if self.drop_last:
            return len(self.indices) // self.batch_size
        return math.ceil(len(self.indices) / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next `iter()` read epoch `epoch` (its order, crops and
        augmentations) from its start, as `DistributedSampler.set_epoch`
        does. Without it, each `iter()` reads the epoch after the previous one."""
        self.epoch = _count("epoch", epoch)
        self._start = 0

    def batches(self, epoch: int) -> list[tuple[np.ndarray, ...]]:
        """The (epochs, record indices) of each batch of `epoch`, in order
        (with duration buckets also the bucket).

        Returns
        -------
        list of (np.ndarray [shape=(b,)], np.ndarray [shape=(b,)]), int64
            `plan.read(batches[k], None)` is batch k's host arrays.
        """
        schedule = self.plan.schedule
        if self.buckets is not None:
            first = epoch * len(self)
            return [schedule.batch(first + k) for k in range(len(self))]
        order = schedule.order(epoch)
        chunks = [order[start : start + self.batch_size] for start in range(0, len(self) * self.batch_size, self.batch_size)]
        return [(np.full(len(chunk), epoch, dtype=np.int64), chunk) for chunk in chunks]

    def __iter__(self) -> Iterator[Batch]:
        """One epoch: `self.epoch` (from the batch a loaded state names),
        after which `self.epoch` advances by one."""
        if self._closed:
            raise RuntimeError("this AudioDataLoader is closed")
        epoch, self.epoch = self.epoch, self.epoch + 1
        start, self._start = self._start, 0
        it = _EpochIterator(self, epoch, start)
        self._iterators.add(it)
        self._position = it.position
        return it

    def state_dict(self) -> dict[str, Any]:
        """Where the stream stands, as a small JSON-able dict.

        Taken between batches, mid-epoch or at an epoch's end; a loader
        made with the same files and settings continues after
        `load_state_dict(state)` with the batch that follows the last one
        delivered (in-flight prefetched batches are read again), bit for
        bit, since every order, crop and augmentation is derived from
        (seed, epoch, record).

        Returns
        -------
        dict
            "epoch" (the epoch the next batch belongs to), "batch" (its
            index in that epoch) and "fingerprint" (the settings, by name:
            `audiodecode.data.plan.LoaderPlan.fingerprint`).
        """
        at = self._position
        if at is not None and at.remaining > 0:
            epoch, batch = at.epoch, at.delivered
        else:
            epoch, batch = self.epoch, self._start
        return {"epoch": epoch, "batch": batch, "fingerprint": self.plan.fingerprint}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Make the next `iter()` continue from a `state_dict()`.

        Raises
        ------
        ValueError
            The state comes from a loader with other files or settings
            (the message names each that differs, e.g. "checkpoint was
            taken with sr=22050, this loader has sr=16000"), or is not a
            state of this loader.
        """
        unknown = sorted(set(state) - {"epoch", "batch", "fingerprint"})
        if unknown or "epoch" not in state or "batch" not in state:
            raise ValueError(f"not an AudioDataLoader state (keys {sorted(state)})")
        why = mismatch(state.get("fingerprint"), self.plan.fingerprint)
        if why is not None:
            raise ValueError(f"this state comes from a loader with other files or settings: {why}")
        epoch, batch = _count("epoch", state["epoch"]), _count("batch", state["batch"])
        if batch >= len(self):
            raise ValueError(f"batch {batch} is past the end of an epoch of {len(self)} batches")
        self.epoch, self._start = epoch, batch

    def transcripts(self, batch: dict[str, torch.Tensor]) -> list[str | None]:
        """The transcripts of a dict batch's real rows, from its `"index"`."""
        texts = self.files.texts
        return [None if texts is None else texts[int(i)] for i in batch["index"].cpu().tolist() if i >= 0]

    def stats(self) -> dict[str, Any]:
        """Throughput and where the time goes.

        Returns
        -------
        dict
            samples_per_s (this rank's examples per second of wall time,
            first request to last delivery), data_stall_share (share of that
            time the caller waited for a batch), batches, samples,
            elapsed_s, wait_s, skipped (unreadable records replaced),
            skipped_rows (manifest rows dropped at start-up),
            stage_s and stage_ms_per_batch (decode (with the fetch and
            the turn), fetch (a record source's bytes), turn (waiting for
            the core's pool behind older batches, in decode and augment:
            `audiodecode.data.turns`), augment, collate, to_device:
            time per stage, summed over threads; on CUDA, to_device counts
            launching the copies and features, not their run time), cache
            (the cache's counters, or None), storage (a record source's
            reads: requests, bytes_read, retries, failures,
            p50/p99_latency_s, in_flight, peak_in_flight, read_ahead; or
            None), parallelism (num_threads, prefetch, given: the settings
            the caller fixed, read_ahead: the latency and work the
            prefetch was chosen from, None for local records).
        """
        return loader_stats(self._host)

    def close(self) -> None:
        """Stop the background threads of open iterations and release a
        cache the loader made (idempotent)."""
        if self._closed:
            return
        self._closed = True
        for it in list(self._iterators):
            it.close()
        self.plan.close()

    def __enter__(self) -> AudioDataLoader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"AudioDataLoader({self.files!r}, batch_size={self.batch_size}, device={str(self.device)!r}, "
                f"rank={self.rank}/{self.world_size}, {len(self)} batches per epoch)")


def _count(name: str, value: object) -> int:
    """A non-negative integer argument, or a ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


@dataclass
class _Position:
    """Where an iteration stands: its epoch, the batches of it delivered
    (those a loaded state skipped included) and those left."""

    epoch: int
    delivered: int
    remaining: int


class _EpochIterator(Iterator[Batch]):
    """One epoch of an `AudioDataLoader`, from batch `start`: batches
    prefetched on background threads, handed over on the consumer's thread."""

    def __init__(self, loader: AudioDataLoader, epoch: int, start: int = 0) -> None:
        self.epoch = epoch
        self._stats = loader._host.stats
        self._to_device = loader._to_device
        jobs = loader.batches(epoch)[start:]
        self.position = _Position(epoch, start, len(jobs))
        threads = loader._num_threads
        self._prefetcher = Prefetcher(jobs, lambda job: loader.plan.read(job, threads), self._to_device,
                                      depth=loader.tuning.choice.prefetch, ready=DEVICE_BUFFER)

    def __len__(self) -> int:
        """Batches left in this epoch."""
        return self.position.remaining

    def __next__(self) -> Batch:
        requested = time.perf_counter()
        ready = next(self._prefetcher)
        batch = self._to_device.hand_over(ready)
        self.position.remaining -= 1
        self.position.delivered += 1
        self._stats.delivered(requested, ready.rows)
        return batch

    def close(self) -> None:
        """Stop reading ahead; the iteration ends."""
        self._prefetcher.close()



class _Ready:
    """A batch finished on the device thread, and the CUDA event after its work."""

    def __init__(self, tensors: Batch | dict[str, torch.Tensor], event: torch.cuda.Event | None, rows: int) -> None:
        self.tensors = tensors
        self.event = event
        self.rows = rows  # real (unmasked) rows


class _ToDevice:
    """Host arrays -> tensors on the device (+ features), on the device thread;
    then `hand_over` on the consumer's thread.

    On CUDA the copies and features run on a side stream, so they overlap
    the consumer's kernels; `hand_over` makes the consumer's current stream
    wait for them and tells the allocator that stream uses the tensors.
    """

    def __init__(
        self,
        device: torch.device,
        featurize: _Featurizer | None,
        stats: PipelineStats,
        return_lengths: bool,
        as_dict: bool = False,
    ) -> None:
        self.device = device
        self.featurize = featurize
        self.stats = stats
        self.return_lengths = return_lengths
        self.as_dict = as_dict
        self.stream = torch.cuda.Stream(device) if device.type == "cuda" else None

    def __call__(self, host: dict[str, np.ndarray]) -> _Ready:
        with self.stats.stage("to_device"):
            length = host["length"]
            if self.featurize is not None:
                length = self.featurize.frames(length) * (length > 0)
            # A dict batch (asked for, duration buckets, transcripts): every array, by name.
            as_dict = self.as_dict or "mask" in host or "tokens" in host
            if as_dict:
                names = [k for k in host if k != "length"] + ["length"]
                arrays = tuple(host[k] if k != "length" else length.astype(np.int64) for k in names)
            else:
                # Mixup/CutMix: the mixed targets; a multi-label set's targets
                # are its multi-hot vectors (float32, for BCE).
                if "target" in host:
                    target = host["target"]
                else:
                    target = host["labels"] if "labels" in host else host["label"].astype(np.int64)
                names = ["audio", "label", "length"]
                arrays = (host["audio"], target, length.astype(np.int64))
            rows = int(host["mask"].sum()) if "mask" in host else len(length)
            if self.stream is None:
                tensors = tuple(torch.from_numpy(np.ascontiguousarray(a)).to(self.device) for a in arrays)
                return _Ready(self._finish(names, tensors, as_dict), None, rows)
            with torch.cuda.device(self.device), torch.cuda.stream(self.stream):
                tensors = tuple(torch.from_numpy(np.ascontiguousarray(a)).pin_memory().to(self.device, non_blocking=True)
                                for a in arrays)
                batch = self._finish(names, tensors, as_dict)
                event = torch.cuda.Event()
                event.record(self.stream)
            return _Ready(batch, event, rows)

    def _finish(self, names: list[str], tensors: tuple[torch.Tensor, ...], as_dict: bool) -> Batch | dict:
        if as_dict:
            batch = dict(zip(names, tensors))
            if self.featurize is not None:
                batch["features"] = self.featurize(batch.pop("audio"))
                batch["feature_length"] = batch["length"]
            return batch
        audio, labels, lengths = tensors
        x = self.featurize(audio) if self.featurize is not None else audio
        return (x, labels, lengths) if self.return_lengths else (x, labels)

    def hand_over(self, ready: _Ready) -> Batch:
        if ready.event is not None:
            stream = torch.cuda.current_stream(self.device)
            stream.wait_event(ready.event)
            tensors = ready.tensors.values() if isinstance(ready.tensors, dict) else ready.tensors
            for t in tensors:
                t.record_stream(stream)
        return ready.tensors


def _process_group(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """(rank, world size): the given values, else torch.distributed's, else (0, 1)."""
    dist = torch.distributed
    initialised = dist.is_available() and dist.is_initialized()
    if rank is None:
        rank = dist.get_rank() if initialised else 0
    if world_size is None:
        world_size = dist.get_world_size() if initialised else 1
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
    return rank, world_size








class _Featurizer:
    """A feature function with its settings, and the number of frames a row
    of `length` valid samples gives."""

    def __init__(
        self, fn: Callable[..., torch.Tensor], kwargs: dict[str, Any], stft: tuple[int, int, bool] | None
    ) -> None:
        self.fn = fn
        self.kwargs = kwargs
        self.stft = stft

    def __call__(self, audio: torch.Tensor) -> torch.Tensor:
        return self.fn(audio, **self.kwargs)

    def frames(self, length: np.ndarray) -> np.ndarray:
        """Valid frames per row (`audiodecode.filterbanks.frame_count` of the
        valid samples); the lengths themselves for a callable."""
        if self.stft is None:
            return length
        n_fft, hop, center = self.stft
        padded = length.astype(np.int64) + (2 * (n_fft // 2) if center else 0)
        return np.maximum(0, 1 + (padded - n_fft) // hop)

    def check(self, device: torch.device, clip_samples: int | None) -> None:
        """Raise now, not in the first batch, for settings the function refuses."""
        if self.stft is None:
            return
        n = clip_samples if clip_samples is not None else self.stft[0]
        self(torch.zeros(1, n, device=device))


def _featurizer(spec: FeatureSpec | None) -> _Featurizer | None:
    """The plan's checked feature function, with its frame count per row."""
    return None if spec is None else _Featurizer(spec.fn, spec.settings, spec.stft)
