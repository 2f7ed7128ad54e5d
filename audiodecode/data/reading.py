"""The framework-free half of a training loader: which records a batch
holds, and how a batch of records becomes padded numpy arrays.

    schedule = Schedule(files.shard(0, 1), seed=0, shuffle=True, num_epochs=None)
    reader = ClipReader(files, ClipSpec(sr=16000, clip_seconds=1.0), augment=pipe)
    epochs, indices = schedule.batch(0, batch_size=32)
    batch = reader.read(epochs, indices)
    # {"audio": (32, 16000) float32, "length": (32,) int32, "label": (32,) int32}

A batch is read with one parallel decode (`audiodecode.load_batch`, or the
cache's), a crop or pad to `clip_seconds`, one parallel augmentation call
(`pipe.batch`) and a copy into one array. Every random choice comes from
`audiodecode.data.seeding` (seed, epoch, record index), so the arrays do not
depend on the number of threads, on which thread reads a batch, or on the
framework adapter (JAX, torch) driving the reader.
"""

from __future__ import annotations

import inspect
import math
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, get_args

import numpy as np

from audiodecode import loading
from audiodecode._typing import Crop, Encoded, OnError
from audiodecode.augment.mixing import BatchMix, batch_seed, one_hot
from audiodecode.data import seeding
from audiodecode.data.collate import pad_clips, pad_rows, tokens
from audiodecode.data.records import AudioFiles
from audiodecode.data.sources.base import entry_keys, fetch, read_keys
from audiodecode.data.stats import PipelineStats
from audiodecode.data.text import TextTransform
from audiodecode.data.turns import Turns, at_once_for

# Output samples either side of a clip decoded with it, so that the core's
# resampler (a 32-zero-crossing sinc) sees the same input as for the whole file.
RESAMPLER_REACH = 40
# How many candidates are tried, per bad record, before concluding that the
# data set is mostly unreadable.
MAX_REPLACEMENT_TRIES = 100
# `estimate_decoded_bytes` reads the headers of this many files.
SIZE_SAMPLE = 16


class SkippedRecordWarning(UserWarning):
    """A record could not be read and was replaced (`on_error="skip"`); the
    message names the file and the error."""


class BatchAugmentation(Protocol):
    """What `augment=` takes: `audiodecode.Compose` and the other transforms.

    `batch` may also take a keyword `num_threads` (the audiodecode
    transforms do); the reader then passes its own.
    """

    def batch(self, ys: list[np.ndarray], sr: int, seeds: Sequence[int]) -> list[np.ndarray]: ...


class BatchDecoder(Protocol):
    """`audiodecode.cache.AudioCache`, as far as the reader uses it."""

    def load_batch(
        self, paths: Sequence[str], sr: int | None, mono: bool, *, on_error: OnError, num_threads: int | None
    ) -> loading.BatchResult: ...

    def stats(self) -> dict[str, int]: ...


@dataclass(frozen=True)
class ClipSpec:
    """Static configuration of how a record becomes a clip.

    Attributes
    ----------
    sr : int
        Sampling rate of the clips, Hz.
    clip_seconds : float or None
        Clip length. Longer files are cropped, shorter ones zero-padded at
        the end. None keeps whole files and pads each batch to its longest.
    crop : {"random", "start", "center"}
        Where a longer file is cropped: at an offset drawn from the record's
        seed (uniform over all offsets), at the start, or in the middle.
        Offsets are rounded down to the file's resampling grid (every
        `sr / gcd(sr, file rate)` samples: 10 ms for 44.1 -> 16 kHz, 1
        sample without resampling), so a clip decoded on its own equals the
        same crop of the whole decoded file, with or without a cache.
    seed : int
        The run's seed (`audiodecode.data.seeding`).
    on_error : {"raise", "skip"}
        A record that cannot be read raises, or is replaced by another
        record of the shard chosen from its seed, with a
        `SkippedRecordWarning` (once per file) and a count in the stats.
    """

    sr: int = 16000
    clip_seconds: float | None = None
    crop: Crop = "random"
    seed: int = 0
    on_error: OnError = "raise"

    def __post_init__(self) -> None:
        if self.sr is None:
            raise ValueError("a loader needs a fixed sampling rate; sr=None is for load()")
        loading._check_sr(self.sr)
        if self.clip_seconds is not None and not self.clip_seconds > 0:
            raise ValueError(f"clip_seconds must be > 0 or None, got {self.clip_seconds}")
        if self.crop not in get_args(Crop):
            raise ValueError(f"crop must be 'random', 'start' or 'center', not {self.crop!r}")
        if self.on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', not {self.on_error!r}")

    @property
    def clip_samples(self) -> int | None:
        """Samples per clip, or None for whole files."""
        return None if self.clip_seconds is None else max(1, round(self.clip_seconds * self.sr))


class ClipReader:
    """Reads a batch of records into `{"audio", "length", "label"}` numpy arrays.

    Thread-safe: a loader calls `read` from several threads at once, each
    with its own batch.

    Parameters
    ----------
    files : AudioFiles
    spec : ClipSpec
    augment : object with `.batch(ys, sr, seeds)`, optional
        Applied to the cropped clips, one seed per record
        (`derive(record_seed, AUGMENT)`), e.g. `audiodecode.Compose([...])`.
    cache : AudioCache, optional
        Where whole decoded files come from; None decodes every time.
    mix : Mixup or CutMix, optional
        Batch-level mixing after collation (`audiodecode.augment.mixing`); the
        batch then also has "target", (b, classes) float32.
    candidates : np.ndarray [shape=(m,)], int, optional
        The records a bad record may be replaced with (the reader's shard);
        all of `files` by default.
    stats : PipelineStats, optional
        Where stage times and skipped records are counted.
    """

    def __init__(
        self,
        files: AudioFiles,
        spec: ClipSpec,
        *,
        augment: BatchAugmentation | None = None,
        cache: BatchDecoder | None = None,
        candidates: np.ndarray | None = None,
        stats: PipelineStats | None = None,
        mix: BatchMix | None = None,
    ) -> None:
        self.files = files
        self.mix = mix
        self.spec = spec
        self.augment = augment
        self.cache = cache
        self.candidates = np.arange(len(files)) if candidates is None else np.asarray(candidates, dtype=np.int64)
        self.stats = stats if stats is not None else PipelineStats()
        self._augment_takes_threads = augment is not None and "num_threads" in inspect.signature(augment.batch).parameters
        self._init_process_state()

    def _init_process_state(self) -> None:
        # Per-process memory: records known to be unreadable, and each
        # record's (sampling rate, frames) from its header.
        self._meta: dict[int, tuple[int, int | None]] = {}
        self._bad: set[int] = set()
        self._bad_lock = threading.Lock()
        # Batches read at once take turns to decode, the oldest first.
        self._turns = Turns()

    def __repr__(self) -> str:
        return f"ClipReader({self.files!r}, {self.spec}, augment={self.augment!r}, cache={self.cache!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_meta", "_bad", "_bad_lock", "_turns")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_process_state()

    def read(
        self,
        epochs: Sequence[int] | np.ndarray,
        indices: Sequence[int] | np.ndarray,
        *,
        num_threads: int | None = None,
        width: int | None = None,
        rows: int | None = None,
        text_transform: TextTransform | None = None,
        token_width: int | None = None,
    ) -> dict[str, np.ndarray]:
        """Decode, crop, augment and pad one batch.

        Parameters
        ----------
        epochs, indices : sequences of int, length b
            Each record's epoch and data-set index (`Schedule.batch`).
        num_threads : int or None
            Rust threads for the decode and the augmentation; None: one
            per core.
        width : int or None
            Pad (or cut) every row to this many samples (a duration
            bucket's boundary); None: `clip_samples` or the batch's longest.
        rows : int or None
            Pad the batch to this many rows and add a `"mask"` (a bucket's
            static row count); None: b rows, no mask.
        text_transform : callable str -> list of int, or None
            Adds `"tokens"` (rows, token_width) int32 and `"token_length"`
            from the records' transcripts.
        token_width : int or None
            Pad tokens to this width; None: the batch's longest.

        Returns
        -------
        dict
            "audio": (b, n) float32, clips padded with zeros to n samples
            (`clip_samples`, or the batch's longest without a clip length);
            "length": (b,) int32, valid samples per row;
            "label": (b,) int32, `UNLABELLED` (-1) where there is none; for a
            multi-label data set also "labels" (b, classes) float32
            multi-hot (`AudioFiles.targets`); with `rows`, "mask" (rows,)
            bool; with `text_transform`, "tokens" and "token_length"; with
            `mix` also "target" (b, classes) float32, the multi-hot (or
            one-hot labels) mixed like the audio.
        """
        epochs = np.asarray(epochs, dtype=np.int64)
        indices = np.asarray(indices, dtype=np.int64).copy()
        seeds = seeding.record_seeds(self.spec.seed, epochs, indices)
        ticket = self._turns.ticket()
        ys: list[np.ndarray] = []
        if len(indices):  # a process's share of a bucket's last batch can be empty
            with self.stats.stage("decode"):
                ys = self._decode(indices, seeds, num_threads, ticket)
            if self.augment is not None:
                with self.stats.stage("augment"), self._turns.turn(ticket, at_once_for(num_threads)) as waited_s:
                    self.stats.record("turn", waited_s)
                    aug_seeds = [int(s) for s in seeding.derive(seeds, seeding.AUGMENT)]
                    threads = {"num_threads": num_threads} if self._augment_takes_threads else {}
                    ys = self.augment.batch(ys, self.spec.sr, aug_seeds, **threads)
        with self.stats.stage("collate"):
            audio, length = pad_clips(ys, width if width is not None else self.spec.clip_samples)
            batch = {"audio": audio, "length": length, **self.files.targets(indices)}
            if text_transform is not None or rows is not None:
                batch["index"] = indices.astype(np.int32)  # which records (transcripts stay on the host)
            if text_transform is not None:
                if self.files.texts is None:
                    raise ValueError("text_transform= needs transcripts (a manifest with a text column)")
                # After a replacement (on_error="skip") indices name the records read.
                batch |= tokens([self.files.texts[i] for i in indices], text_transform, width=token_width)
        if self.mix is not None and len(indices):
            with self.stats.stage("mix"):
                # A multi-label set mixes its multi-hot vectors, others their one-hot labels.
                targets = batch["labels"] if "labels" in batch else one_hot(batch["label"], len(self.files.classes))
                batch["audio"], batch["target"], batch["length"] = self.mix(
                    batch["audio"], targets, batch["length"], seed=batch_seed(seeds), num_threads=num_threads
                )
        if rows is not None:
            batch = pad_rows(batch, rows)
        self.stats.collated(batch["audio"].shape, int(batch["length"].sum()))
        return batch

    def _decode(self, indices: np.ndarray, seeds: np.ndarray, num_threads: int | None, ticket: int) -> list[np.ndarray]:
        """The clips of a batch; with "skip", a bad record's slot in `indices`
        is overwritten with the record that replaced it. `ticket` orders its
        decodes among the batches read at once (`Turns`)."""
        draws = seeding.uniform(seeding.derive(seeds, seeding.CROP))
        ys, errors = self._clips(indices, draws, num_threads, self.spec.on_error, ticket)
        missing = sorted(errors)
        self._mark_bad(indices[missing], [errors[i] for i in missing])
        self.stats.add_skipped(len(missing))
        for k in range(1, MAX_REPLACEMENT_TRIES + 1):
            if not missing:
                return ys
            # The k-th candidate of a slot depends only on its record's seed:
            # the same record replaces it whichever batch or thread it is in.
            picks = self.candidates[seeding.derive(seeds[missing], seeding.REPLACE + k) % np.uint64(len(self.candidates))]
            with self._bad_lock:
                todo = [(slot, int(c)) for slot, c in zip(missing, picks) if int(c) not in self._bad]
            if todo:
                slots = [slot for slot, _ in todo]
                found, failed = self._clips(np.array([c for _, c in todo]), draws[slots], num_threads, "skip", ticket)
                for j, (slot, c) in enumerate(todo):
                    if j in failed:
                        self._mark_bad([c], [failed[j]])
                    else:
                        ys[slot] = found[j]
                        indices[slot] = c
            missing = [slot for slot in missing if ys[slot] is None]
        raise RuntimeError(
            f"no readable record replaced {self.files.paths[indices[missing[0]]]} after "
            f"{MAX_REPLACEMENT_TRIES} tries; most of the data set cannot be read"
        )

    def _clips(
        self, indices: np.ndarray, draws: np.ndarray, num_threads: int | None, on_error: OnError, ticket: int
    ) -> tuple[list[np.ndarray | None], dict[int, Exception]]:
        """Decode and crop records in one parallel call.

        Without a cache, a clip (or a segment of a longer file) is decoded
        as a window of its file (plus a margin for the resampler, trimmed
        off): for a 4 s file and 1 s clips that is a quarter of the work,
        and the samples equal the same crop of the whole decoded file. With
        a cache, whole files go through it and are cut here.

        Returns
        -------
        clips : list of np.ndarray or None
            None where the record failed (only with on_error="skip").
        errors : dict[int, Exception]
            Position in `indices` -> why it failed.
        """
        errors: dict[int, Exception] = {}
        plans: dict[int, _Plan] = {}
        # Records held in memory (tar members, Parquet rows: `files.source`)
        # are fetched as bytes: all of them without a cache; with one only
        # those whose header is needed and not known yet (the rest may be
        # hits, which read nothing).
        memory = self.files.source is not None
        needs_plan = [self.spec.clip_samples is not None or self._is_segment(int(i)) for i in indices]
        if memory:
            wanted = [j for j in range(len(indices))
                      if self.cache is None or (needs_plan[j] and int(indices[j]) not in self._meta)]
            inputs: dict[int, str | Encoded] = self._fetch(indices, wanted, on_error, errors)
        else:
            inputs = {j: self.files.paths[indices[j]] for j in range(len(indices))}
        for j, i in enumerate(indices):
            if j in errors or not needs_plan[j]:
                continue  # failed to fetch, or a whole file padded per batch: no header needed
            try:
                plans[j] = self._plan(int(i), float(draws[j]), inputs.get(j))
            except (OSError, loading.AudioDecodeError, ValueError) as err:
                if on_error == "raise":
                    raise
                errors[j] = err
        todo = [j for j in range(len(indices)) if j not in errors]
        windows = {j: plans[j].window() for j in todo if j in plans and self.cache is None}
        if self.cache is not None and memory:
            keys = entry_keys(self.files, [indices[j] for j in todo])

            def fetch_misses(positions: list[int]) -> list[Encoded | Exception]:
                need = [todo[p] for p in positions if todo[p] not in inputs]
                inputs.update(self._fetch(indices, need, "skip", errors))
                return [inputs[todo[p]] if todo[p] in inputs else errors.pop(todo[p]) for p in positions]

            decoded = self.cache.load_records(
                keys, fetch_misses, self.spec.sr, True, on_error=on_error, num_threads=num_threads
            )
        elif self.cache is not None:
            paths = [inputs[j] for j in todo]
            decoded = self.cache.load_batch(paths, self.spec.sr, True, on_error=on_error, num_threads=num_threads)
        else:
            # The fetch above overlaps other batches'; the decode waits its turn.
            with self._turns.turn(ticket, at_once_for(num_threads)) as waited_s:
                self.stats.record("turn", waited_s)  # a part of "decode", as "fetch" is
                decoded = self._decode_windows(indices, todo, inputs, windows, on_error, num_threads)
        ys: list[np.ndarray | None] = [None] * len(indices)
        for k, j in enumerate(todo):
            if decoded[k] is None:
                errors[j] = decoded.errors[k]
            elif windows.get(j):
                _, _, lead, count = windows[j]
                ys[j] = decoded[k][0][lead : lead + count]
            elif j in plans:
                ys[j] = plans[j].crop(decoded[k][0])
            else:
                ys[j] = decoded[k][0]
        return ys, errors

    def _is_segment(self, index: int) -> bool:
        """Whether record `index` may be a part of its file (an offset, or a
        duration that may end before the file does)."""
        return bool(self.files.offsets[index] > 0 or np.isfinite(self.files.durations[index]))

    def _fetch(
        self, indices: np.ndarray, positions: list[int], on_error: OnError, errors: dict[int, Exception]
    ) -> dict[int, Encoded]:
        """The bytes of the memory records at `positions` of `indices` (one
        concurrent fetch); failures go to `errors` (or raise)."""
        if not positions:
            return {}
        # Timed apart from the decode it sits in: the read-ahead depth
        # hides this wait (`audiodecode.data.setup.measure_read_ahead`).
        with self.stats.stage("fetch"):
            fetched = fetch(self.files, [int(indices[j]) for j in positions])
        out: dict[int, Encoded] = {}
        for j, data in zip(positions, fetched):
            if isinstance(data, Exception):
                if on_error == "raise":
                    raise data
                errors[j] = data
            else:
                out[j] = data
        return out

    def _decode_windows(
        self, indices: np.ndarray, todo: list[int], inputs: dict[int, str | Encoded],
        windows: dict[int, tuple[int, int, int, int] | None], on_error: OnError, num_threads: int | None,
    ) -> loading.BatchResult:
        """`load_batch` of each record's window (paths or fetched bytes);
        errors about bytes are renamed to the record."""
        decoded = loading.load_batch(
            [inputs[j] for j in todo], sr=self.spec.sr, mono=True, num_threads=num_threads, on_error="skip",
            offset=[windows[j][0] / self.spec.sr if windows.get(j) else 0.0 for j in todo],
            duration=[windows[j][1] / self.spec.sr if windows.get(j) else None for j in todo],
        )
        for k, err in list(decoded.errors.items()):
            decoded.errors[k] = loading._rename(err, self.files.paths[indices[todo[k]]])
        if decoded.errors and on_error == "raise":
            raise decoded.errors[min(decoded.errors)]
        return decoded

    def _plan(self, index: int, u: float, source: str | Encoded | None = None) -> _Plan:
        """How record `index`'s clip is cut, from its header (read once per
        reader; `source` is the record's path or fetched bytes)."""
        meta = self._meta.get(index)
        if meta is None:
            try:
                header = loading.info(self.files.paths[index] if source is None else source)
            except loading.AudioDecodeError as err:
                raise loading._rename(err, self.files.paths[index]) from None
            meta = self._meta[index] = (header.sample_rate, header.frames)
        rate, frames = meta
        sr = self.spec.sr
        length = None if frames is None else -(-frames * sr // rate)
        first, count = _segment(float(self.files.offsets[index]), float(self.files.durations[index]), rate, frames, sr)
        if length is not None and first > 0 and first >= length:
            raise ValueError(f"{self.files.describe(index)}: offset {self.files.offsets[index]:g} s is past the end "
                             f"of the file ({frames / rate:g} s)")
        return _Plan(self.spec, rate, length, u, first, count)

    def _mark_bad(self, indices: Sequence[int] | np.ndarray, errors: list[Exception]) -> None:
        for i, err in zip(indices, errors):
            with self._bad_lock:
                new = int(i) not in self._bad
                self._bad.add(int(i))
            if new:
                warnings.warn(
                    f"skipping {self.files.paths[int(i)]}: {err}", SkippedRecordWarning, stacklevel=2
                )


def _segment(offset: float, duration: float, rate: int, frames: int | None, sr: int) -> tuple[int, int | None]:
    """A record's samples in its file decoded at `sr`: (first, count), count
    None for "to the end". A segment that reaches the file's last frame
    runs to the end, so a whole file with its probed duration is the whole
    file, sample for sample."""
    first = round(offset * sr)
    if not math.isfinite(duration):
        return first, None
    end_frame = round(offset * rate) + round(duration * rate)  # as the core cuts: in whole input frames
    if frames is not None and end_frame >= frames:
        return first, None
    return first, round(duration * sr)


@dataclass(frozen=True)
class _Plan:
    """Where a clip lies in its file.

    A record is samples `[first, first + count)` of its file decoded at
    `spec.sr` (the whole file, or a segment); a clip is a crop of that.
    Crop starts (within the record) are rounded down to the resampling grid
    (`step` output samples, 10 ms for 44.1 -> 16 kHz). A window decoded
    from a grid point is resampled with the same phases as the whole file,
    so a clip or segment decoded alone equals the same samples of the whole
    decoded file (`window` starts its decode at the grid point before the
    wanted samples, minus a margin).

    Attributes
    ----------
    spec : ClipSpec
    rate : int
        The file's own sampling rate.
    length : int or None
        The file's length at `spec.sr` (the core's `ceil(frames * sr /
        rate)`), None when the header does not say.
    u : float
        The record's draw in [0, 1) for a random crop.
    first : int
        The record's first sample in the file (at `spec.sr`).
    count : int or None
        The record's samples; None: to the end of the file.
    """

    spec: ClipSpec
    rate: int
    length: int | None
    u: float
    first: int = 0
    count: int | None = None

    @property
    def step(self) -> int:
        return self.spec.sr // math.gcd(self.rate, self.spec.sr)

    def start(self, n: int) -> int:
        """First sample of the clip in a record of `n` samples (at `spec.sr`)."""
        if self.spec.clip_samples is None:
            return 0
        slack = n - self.spec.clip_samples
        if slack <= 0 or self.spec.crop == "start":
            return 0
        start = slack // 2 if self.spec.crop == "center" else math.floor(self.u * (slack + 1))
        return start - start % self.step

    def _span(self, n: int) -> tuple[int, int]:
        """(first, count) of the clip (or whole record) in a file of `n` samples."""
        record = max(0, n - self.first) if self.count is None else min(self.count, max(0, n - self.first))
        start = self.start(record)
        clip = self.spec.clip_samples
        return self.first + start, (record if clip is None else min(clip, record - start))

    def crop(self, y: np.ndarray) -> np.ndarray:
        """The clip (or the whole record) out of the whole decoded file."""
        first, count = self._span(len(y))
        return y[first : first + count]

    def window(self) -> tuple[int, int, int, int] | None:
        """(first sample, samples, lead, count) to decode at `spec.sr` so
        that `y[lead : lead + count]` is the clip; None: decode the whole
        file (the clip is all of it, or its length is unknown)."""
        if self.length is None:
            return None
        first, count = self._span(self.length)
        if first == 0 and count >= self.length:
            return None
        if self.rate == self.spec.sr:
            return first, count, 0, count
        # The core's resampler reads 32 zero crossings of its sinc either
        # side of a sample (about 34 input samples when upsampling, 34 output
        # samples when downsampling); decoding 40 of them more on each side
        # keeps the window's edges out of the clip.
        margin = math.ceil(RESAMPLER_REACH * max(1.0, self.spec.sr / self.rate))
        margin += -margin % self.step
        begin = max(0, first - margin)
        begin -= begin % self.step
        lead = first - begin
        return begin, lead + count + margin, lead, count


def resolve_augment(augmentations: BatchAugmentation | Sequence[Any] | None) -> BatchAugmentation | None:
    """A loader's `augmentations=` argument as one object with `.batch`.

    Parameters
    ----------
    augmentations : None, a transform or a list of transforms
        A list is chained with `audiodecode.Compose`.

    Returns
    -------
    object with `.batch(ys, sr, seeds)`, or None
    """
    if augmentations is None or hasattr(augmentations, "batch"):
        return augmentations
    if isinstance(augmentations, (list, tuple)):
        import audiodecode

        compose = getattr(audiodecode, "Compose", None)
        if compose is None:
            raise TypeError("a list of augmentations needs audiodecode.Compose, which this build lacks")
        return compose(list(augmentations))
    raise TypeError(
        f"augmentations must be None, a transform with .batch(ys, sr, seeds) or a list of them, "
        f"not {type(augmentations).__name__}"
    )


def estimate_decoded_bytes(files: AudioFiles, sr: int) -> int | None:
    """The data set's files' size decoded to mono float32 at `sr` (to size
    a cache): from the records' durations when all are known and none is
    a segment, else from the headers of up to `SIZE_SAMPLE` distinct files
    spread over it.

    Returns
    -------
    int or None
        None when none of the sampled headers states a duration.
    """
    # The cache holds whole files: segments of one file count it once.
    paths = list(dict.fromkeys(files.paths))
    if len(paths) == len(files) and np.isfinite(files.durations).all() and not files.offsets.any():
        return int(files.durations.sum() * sr * 4)  # probed or given by a manifest: exact
    picks = np.unique(np.linspace(0, len(paths) - 1, min(SIZE_SAMPLE, len(paths))).round().astype(int))
    # Records of a `source` (tar members, Parquet rows) are fetched: their keys are not paths.
    keys = [paths[i] for i in picks]
    sources = keys if files.source is None else read_keys(files.source, keys)
    durations = []
    for source in sources:
        if isinstance(source, Exception):
            continue
        try:
            duration = loading.info(source).duration
        except (OSError, loading.AudioDecodeError):
            continue
        if duration is not None:
            durations.append(duration)
    if not durations:
        return None
    return int(np.mean(durations) * sr * 4 * len(paths))
