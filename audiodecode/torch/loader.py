"""`AudioDataLoader`: batches of audio (or features) as tensors on the device.

    from audiodecode.torch import AudioDataLoader

    loader = AudioDataLoader("data/", batch_size=32, target_sr=16000, clip_seconds=1.0,
                             features="mfcc", n_mfcc=40, device="cuda")
    for epoch in range(epochs):
        for features, labels in loader:       # one epoch per iteration
            loss = criterion(model(features), labels)

The batches are those of `audiodecode.jax.loader` for the same files and
seed (both drive `audiodecode.data.reading.ClipReader` through the same
`Schedule`): one parallel Rust decode + crop + augmentation per batch, read
`prefetch` batches ahead by threads, then moved to the device and turned
into features by `audiodecode.torch.features` on a background thread.
"""

from __future__ import annotations

import logging
import math
import numbers
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

import numpy as np
import torch

from audiodecode.cache import AudioCache
from audiodecode.data.records import AudioFiles, StrPath, audio_files
from audiodecode.data.setup import feature_spec, host_reader, loader_stats, rust_threads
from audiodecode.data.reading import (
    BatchAugmentation,
    ClipSpec,
    Crop,
    OnError,
    resolve_augment,
)
from audiodecode.data.buckets import BucketSchedule, DurationBuckets
from audiodecode.data.durations import with_durations
from audiodecode.data.mixing import resolve_mixing
from audiodecode.data.schedule import Schedule
from audiodecode.data.text import TextTransform, resolve_text_transform
from audiodecode.data.stats import PipelineStats
from audiodecode.torch import features as feature_functions
from audiodecode.torch.prefetch import Prefetcher

log = logging.getLogger("audiodecode")

# Finished batches (on the device, features computed) waiting for the
# consumer, as in the JAX loader: one in use, one ready.
DEVICE_BUFFER = 2

Batch = tuple[torch.Tensor, ...]


class AudioDataLoader:
    """Iterate over a data set as `(features, labels)` tensors on `device`.

    A drop-in for a `torch.utils.data.DataLoader` over an audio data set:
    `len()` is batches per epoch, each `iter()` is one epoch, `set_epoch`
    works as with a `DistributedSampler`, and every rank of a distributed
    job reads its own shard.

    Why threads, not worker processes: a batch is read with one
    `audiodecode.load_batch`, whose decode, resampling and augmentation run
    in Rust threads with the GIL released, so `prefetch` Python threads
    keep every core busy. A multi-process DataLoader would pay for what
    threads do not: forking (or spawning and importing) workers each epoch
    or keeping them resident, pickling every batch through shared memory,
    per-worker copies of the decoded-audio cache, and per-item Python
    calls (`__getitem__` then `collate`) instead of one call per batch.

    Parameters
    ----------
    files : directory, manifest, list of paths or AudioFiles
        See `audiodecode.data.records.audio_files`: a directory with one
        sub-folder per class, a CSV/JSONL manifest (path and label
        columns), or a list of paths.
    labels : sequence of int or str, optional
        One per path when `files` is a list.
    batch_size : int
        Rows per batch on each rank (as with a DataLoader under DDP; the
        JAX loader's `batch_size` is global instead).
    target_sr : int
        Sampling rate the audio is resampled to.
    features : None, "spectrogram", "melspectrogram" ("mel"), "log_mel",
        "mfcc" or a callable
        Computed on `device` from the audio batch by
        `audiodecode.torch.features` (librosa's defaults, `sr=target_sr`),
        with `feature_kwargs`; a callable gets the (batch, samples) audio
        tensor. None yields the audio itself.
    n_mfcc : int
        MFCCs per frame with `features="mfcc"`; ignored otherwise.
    augmentations : transform, list of transforms or None
        `audiodecode` augmentations (a list is chained with `Compose`),
        applied per record with seeds from (seed, epoch, record), before
        the clip is padded (a time stretch changes the length; rows are
        cut or zero-padded to `clip_seconds` afterwards). A list may also
        hold one batch-level `Mixup` or `CutMix`, applied after padding;
        the loader then yields mixed targets in place of the labels.
    device : str or torch.device
        Where batches are delivered. On CUDA, host batches are pinned and
        copied with `non_blocking=True` on a side stream that the
        consumer's current stream waits on, so copies and features overlap
        the training step.
    clip_seconds : float or None
        Clip length: longer files are cropped (see `crop`), shorter ones
        zero-padded, so every batch has the same shape. None (the JAX
        loader's default too) keeps whole files and zero-pads each batch
        to its longest clip: batches still stack, but their width (and
        the number of feature frames) varies from batch to batch; pass
        `return_lengths=True` to know the valid part of each row.
    crop : {"random", "start", "center"}
        Where files longer than `clip_seconds` are cut.
    shuffle : bool
        Visit records in a new random order every epoch.
    seed : int
        Determines the order, crops, augmentations and replacements of bad
        records: the same seed and files give the same batches, with any
        number of threads, and the same audio as `audiodecode.jax.loader`.
    drop_last : bool
        Drop the last, short batch of each epoch.
    on_error : {"raise", "skip"}
        An unreadable file raises, or is replaced by another record of the
        shard chosen from the seed (counted in `stats()["skipped"]`, with a
        `SkippedRecordWarning` naming the file). Also what `audio_files`
        does with a bad manifest row: raise naming it, or drop it at
        start-up (counted in `stats()["skipped_rows"]`).
    cache : "auto", None or AudioCache
        Whole decoded files kept for later epochs (`audiodecode.cache`).
        "auto": a RAM cache, closed with the loader, when this rank's
        shard fits the automatic budget (a quarter of the free memory),
        else none (each clip's window is decoded instead).
    num_threads, prefetch : int or None
        Rust threads per batch, and batches read at once ahead of the
        consumer. None: measured on this machine when the loader is made
        (`audiodecode.data.tuning`, a second or two), as in the JAX loader.
    rank, world_size : int or None
        This process's shard of the data set. None: from
        `torch.distributed` when it is initialised, else one process. Each
        rank reads `len(files) // world_size` records, disjoint from the
        other ranks', so every rank has the same number of batches (as
        DDP needs; the `len(files) % world_size` left over are skipped).
    return_lengths : bool
        Yield `(features, labels, lengths)` instead of `(features, labels)`.
    batch_by : {"count", "duration"}
        "duration": duration buckets, as `audiodecode.jax.loader` (the same
        `audiodecode.data.buckets` schedule, so the same seed gives the
        same batches): batches of similar-length utterances padded to their
        bucket's boundary and static row count, yielded as dicts ("audio"
        or "features", "length" (frames with a named feature, then also
        "feature_length"), "mask", "label", "index", and "tokens" /
        "token_length" with `text_transform`). Needs `max_batch_seconds`
        and `clip_seconds=None`; `batch_size` is then unused.
    max_batch_seconds, num_buckets, bucket_boundaries
        As for `audiodecode.jax.loader`.
    text_transform : callable str -> list of int, "chars" or None
        Tokenize transcripts (batches become dicts with "tokens" and
        "token_length"); "chars": a character vocabulary of the manifest.
    **feature_kwargs
        Passed to the feature function (n_fft, hop_length, n_mels,
        layout, ...).

    Attributes
    ----------
    files : AudioFiles
        The whole data set; `files.classes[label]` names a label.
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
        target_sr: int = 16000,
        features: str | Callable[[torch.Tensor], torch.Tensor] | None = None,
        n_mfcc: int = 40,
        augmentations: BatchAugmentation | Sequence[Any] | None = None,
        device: str | torch.device = "cpu",
        *,
        clip_seconds: float | None = None,
        crop: Crop = "random",
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        on_error: OnError = "raise",
        cache: AudioCache | Literal["auto"] | None = "auto",
        num_threads: int | None = None,
        prefetch: int | None = None,
        rank: int | None = None,
        world_size: int | None = None,
        return_lengths: bool = False,
        batch_by: Literal["count", "duration"] = "count",
        max_batch_seconds: float | None = None,
        num_buckets: int = 8,
        bucket_boundaries: Sequence[float] | None = None,
        text_transform: TextTransform | Literal["chars"] | None = None,
        **feature_kwargs: Any,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.files = audio_files(files, labels, on_error=on_error)
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.return_lengths = return_lengths
        self.device = torch.device(device)
        self.rank, self.world_size = _process_group(rank, world_size)
        self.indices = self.files.shard(self.rank, self.world_size)
        if len(self.files) % self.world_size:
            log.warning("%d of %d files left out so %d ranks get equal shards",
                        len(self.files) % self.world_size, len(self.files), self.world_size)
        spec = ClipSpec(sr=target_sr, clip_seconds=clip_seconds, crop=crop, seed=seed, on_error=on_error)
        featurize = _featurizer(features, target_sr, n_mfcc, feature_kwargs)
        if featurize is not None:
            featurize.check(self.device, spec.clip_samples)
        per_record, mix = resolve_mixing(augmentations)
        augment = resolve_augment(per_record)
        if batch_by not in ("count", "duration"):
            raise ValueError(f"batch_by must be 'count' or 'duration', not {batch_by!r}")
        self.buckets: DurationBuckets | None = None
        self.text_transform = None
        self._token_width = None
        if text_transform is not None:
            if self.files.texts is None:
                raise ValueError("text_transform= needs transcripts (a manifest with a text column)")
            self.text_transform = resolve_text_transform(None if text_transform == "chars" else text_transform,
                                                         self.files.texts)
            self._token_width = max(1, max(len(self.text_transform(t)) for t in self.files.texts))
        if batch_by == "duration":
            if clip_seconds is not None or max_batch_seconds is None:
                raise ValueError("batch_by='duration' needs max_batch_seconds and clip_seconds=None")
            self.files = with_durations(self.files, on_error=on_error)
            self.indices = np.arange(len(self.files), dtype=np.int64)  # every rank splits every batch
            self.buckets = DurationBuckets.estimate(
                self.files.durations, max_batch_seconds=max_batch_seconds, num_buckets=num_buckets,
                boundaries=bucket_boundaries, row_multiple=self.world_size,
            )
            self._schedule = BucketSchedule(self.buckets, self.files.durations, seed=seed, shuffle=shuffle,
                                            drop_remainder=drop_last, process=self.rank, processes=self.world_size)
            self._widths = self.buckets.widths(target_sr)
            batch_size = max(self.buckets.rows) // self.world_size
        else:
            self._schedule = Schedule(self.indices, seed=seed, shuffle=shuffle, num_epochs=None)
        self._host = host_reader(self.files, spec, augment, self.indices, self._schedule, cache, batch_size,
                                 num_threads, prefetch, mix=mix)
        self.reader = self._host.reader
        self.tuning = self._host.tuning
        self._num_threads = rust_threads(self.tuning.choice.num_threads)
        self._to_device = _ToDevice(self.device, featurize, self._host.stats, return_lengths)
        self._iterators: weakref.WeakSet[_EpochIterator] = weakref.WeakSet()
        self._closed = False
        self.epoch = 0

    def __len__(self) -> int:
        """Batches per epoch on this rank."""
        if isinstance(self._schedule, BucketSchedule):
            return self._schedule.batches_per_epoch
        if self.drop_last:
            return len(self.indices) // self.batch_size
        return math.ceil(len(self.indices) / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next `iter()` read epoch `epoch` (its order, crops and
        augmentations), as `DistributedSampler.set_epoch` does. Without it,
        each `iter()` reads the epoch after the previous one."""
        if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative integer, got {epoch!r}")
        self.epoch = int(epoch)

    def batches(self, epoch: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """The (epochs, record indices) of each batch of `epoch`, in order.

        Returns
        -------
        list of (np.ndarray [shape=(b,)], np.ndarray [shape=(b,)]), int64
            `reader.read(*batches[k])` is batch k's host arrays.
        """
        if isinstance(self._schedule, BucketSchedule):
            first = epoch * len(self)
            return [self._schedule.batch(first + k) for k in range(len(self))]
        order = self._schedule.order(epoch)
        chunks = [order[start : start + self.batch_size] for start in range(0, len(self) * self.batch_size, self.batch_size)]
        return [(np.full(len(chunk), epoch, dtype=np.int64), chunk) for chunk in chunks]

    def __iter__(self) -> Iterator[Batch]:
        """One epoch: `self.epoch`, which then advances by one."""
        if self._closed:
            raise RuntimeError("this AudioDataLoader is closed")
        epoch, self.epoch = self.epoch, self.epoch + 1
        it = _EpochIterator(self, epoch)
        self._iterators.add(it)
        return it

    def _read(self, job: tuple[np.ndarray, ...]) -> dict[str, np.ndarray]:
        text = {"text_transform": self.text_transform, "token_width": self._token_width}
        if self.buckets is None:
            return self.reader.read(*job, num_threads=self._num_threads, **text)
        epochs, indices, bucket = job
        return self.reader.read(epochs, indices, num_threads=self._num_threads, width=self._widths[bucket],
                                rows=self.buckets.rows[bucket] // self.world_size, **text)

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
            stage_s and stage_ms_per_batch (decode, augment, collate,
            to_device: time per stage, summed over threads; on CUDA,
            to_device counts launching the copies and features, not their
            run time), cache (the cache's counters, or None), storage (a
            record source's reads: requests, bytes_read, retries, failures,
            p50/p99_latency_s; or None), parallelism
            (num_threads, prefetch, given: the settings the caller fixed).
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
        self._host.close()

    def __enter__(self) -> AudioDataLoader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"AudioDataLoader({self.files!r}, batch_size={self.batch_size}, device={str(self.device)!r}, "
                f"rank={self.rank}/{self.world_size}, {len(self)} batches per epoch)")


class _EpochIterator(Iterator[Batch]):
    """One epoch of an `AudioDataLoader`: batches prefetched on background
    threads, handed over on the consumer's thread."""

    def __init__(self, loader: AudioDataLoader, epoch: int) -> None:
        self.epoch = epoch
        self._stats = loader._host.stats
        self._to_device = loader._to_device
        self._remaining = len(loader)
        self._prefetcher = Prefetcher(loader.batches(epoch), loader._read, self._to_device,
                                      depth=loader.tuning.choice.prefetch, ready=DEVICE_BUFFER)

    def __len__(self) -> int:
        """Batches left in this epoch."""
        return self._remaining

    def __next__(self) -> Batch:
        requested = time.perf_counter()
        ready = next(self._prefetcher)
        batch = self._to_device.hand_over(ready)
        self._remaining -= 1
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
        self, device: torch.device, featurize: _Featurizer | None, stats: PipelineStats, return_lengths: bool
    ) -> None:
        self.device = device
        self.featurize = featurize
        self.stats = stats
        self.return_lengths = return_lengths
        self.stream = torch.cuda.Stream(device) if device.type == "cuda" else None

    def __call__(self, host: dict[str, np.ndarray]) -> _Ready:
        with self.stats.stage("to_device"):
            length = host["length"]
            if self.featurize is not None:
                length = self.featurize.frames(length) * (length > 0)
            # A dict batch (duration buckets, transcripts): every array, by name.
            as_dict = "mask" in host or "tokens" in host
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
        """Valid frames per row (`audiodecode.filters.frame_count` of the
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


def _featurizer(
    features: str | Callable[[torch.Tensor], torch.Tensor] | None, sr: int, n_mfcc: int, kwargs: dict[str, Any]
) -> _Featurizer | None:
    spec = feature_spec(features, feature_functions, kwargs, sr=sr, n_mfcc=n_mfcc)
    return None if spec is None else _Featurizer(spec.fn, spec.settings, spec.stft)
