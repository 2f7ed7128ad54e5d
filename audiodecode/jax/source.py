"""Grain building blocks of `audiodecode.jax.loader`.

    grain.MapDataset.source(AudioRecordSource(files))   # Record per data-set index
      -> EpochShuffle(schedule)                         # (epoch, Record), shuffle then repeat
      -> .batch(b, batch_fn=to_indices)                 # (epochs, indices) of b records
      -> .map(ReadClips(reader))                        # one parallel decode per batch

    batch_by="duration":
    grain.MapDataset.range(len(bucket_schedule))        # step numbers
      -> .map(ReadBucket(reader, bucket_schedule))      # the step's bucket, padded to its shape

Grain sees only these cheap, picklable objects; the audio work happens in
`audiodecode.data.reading.ClipReader`, shared with the torch adapter.
"""

from __future__ import annotations

from collections.abc import Sequence

import grain
import numpy as np

from audiodecode.data.buckets import BucketSchedule
from audiodecode.data.records import AudioFiles, Record
from audiodecode.data.reading import ClipReader, read_bucket
from audiodecode.data.stats import ShapeCounter
from audiodecode.data.schedule import Schedule


class AudioRecordSource:
    """A `grain.sources.RandomAccessDataSource` over a data set's records.

    `source[i]` is the `Record(index, path, label)` of file `i`: no I/O, so
    it is thread-safe and instant. The repr depends only on the files and
    labels (Grain checkpoints compare it); the object pickles by value.
    """

    def __init__(self, files: AudioFiles) -> None:
        self.files = files

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> Record:
        return self.files[index]

    def __repr__(self) -> str:
        return f"AudioRecordSource({self.files!r})"


class EpochShuffle(grain.MapDataset):
    """Shuffle then repeat a MapDataset of records, in `Schedule`'s order.

    Element `p` is `(epoch, parent[record])` for `(epoch, record) =
    schedule.record_at(p)`. Grain's own `shuffle().repeat()` would do the
    same job, but its order is Grain's internal hash; this order is defined
    in `audiodecode.data.seeding` (documented, numpy only), so the torch
    loader, which does not use Grain, visits records in the same order.
    """

    def __init__(self, parent: grain.MapDataset, schedule: Schedule) -> None:
        super().__init__(parent)
        self.schedule = schedule

    def __len__(self) -> int:
        return len(self.schedule)

    def __str__(self) -> str:
        return f"EpochShuffle({self.schedule!r})"

    def __getitem__(self, index):  # noqa: ANN001, ANN204 (Grain's signature: int or slice)
        if isinstance(index, slice):
            return self.slice(index)
        epoch, record = self.schedule.record_at(index)
        return epoch, self._parent[record]


def to_indices(batch: Sequence[tuple[int, Record]]) -> tuple[np.ndarray, np.ndarray]:
    """Grain `batch_fn`: a list of (epoch, Record) as (epochs, indices) arrays."""
    return (
        np.array([epoch for epoch, _ in batch], dtype=np.int64),
        np.array([record.index for _, record in batch], dtype=np.int64),
    )


class ReadClips(grain.transforms.Map):
    """Grain transform: (epochs, indices) of a batch -> numpy batch dict,
    with one `ClipReader.read` (a parallel Rust decode and augmentation)."""

    def __init__(self, reader: ClipReader, num_threads: int | None) -> None:
        self.reader = reader
        self.num_threads = num_threads

    def map(self, element: tuple[np.ndarray, np.ndarray]) -> dict[str, np.ndarray]:
        epochs, indices = element
        return self.reader.read(epochs, indices, num_threads=self.num_threads)

    def __repr__(self) -> str:
        return f"ReadClips({self.reader!r})"


class ReadBucket(grain.transforms.Map):
    """Grain transform for `batch_by="duration"`: step -> numpy batch dict of
    the step's bucket shape, (rows, bucket samples), with a row mask.

    Rows are padded to the bucket's upper boundary (a longer record, with
    `too_long="cut"`, keeps its first samples) and the batch to the bucket's
    static rows, so a jitted consumer sees at most `num_buckets` shapes.
    """

    def __init__(self, reader: ClipReader, schedule: BucketSchedule, num_threads: int | None, counter: ShapeCounter) -> None:
        self.reader = reader
        self.schedule = schedule
        self.num_threads = num_threads
        self.counter = counter

    def map(self, step: int) -> dict[str, np.ndarray]:
        out = read_bucket(self.reader, self.schedule.batch(int(step)), self.num_threads)
        self.counter.add(out["audio"].shape, int(out["length"].sum()))
        return out

    def __repr__(self) -> str:
        return f"ReadBucket({self.reader!r}, {self.schedule!r})"
