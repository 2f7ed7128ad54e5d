"""Grain building blocks of `audiodecode.jax.loader`.

    grain.MapDataset.source(AudioRecordSource(files))   # Record per data-set index
      -> EpochShuffle(schedule)                         # (epoch, Record), shuffle then repeat
      -> .batch(b, batch_fn=to_indices)                 # (epochs, indices) of b records
      -> .map(ReadClips(reader))                        # one parallel decode per batch

Grain sees only these cheap, picklable objects; the audio work happens in
`audiodecode.data.reading.ClipReader`, shared with the torch adapter.
"""

from __future__ import annotations

from collections.abc import Sequence

import grain
import numpy as np

from audiodecode.data.buckets import BucketSchedule
from audiodecode.data.reading import ClipReader
from audiodecode.data.records import AudioFiles, Record
from audiodecode.data.schedule import Schedule
from audiodecode.data.text import TextTransform


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

    def __init__(
        self,
        reader: ClipReader,
        num_threads: int | None,
        text_transform: TextTransform | None = None,
        token_width: int | None = None,
    ) -> None:
        self.reader = reader
        self.num_threads = num_threads
        self.text_transform = text_transform
        self.token_width = token_width

    def map(self, element: tuple[np.ndarray, np.ndarray]) -> dict[str, np.ndarray]:
        epochs, indices = element
        return self.reader.read(epochs, indices, num_threads=self.num_threads, text_transform=self.text_transform,
                                token_width=self.token_width)

    def __repr__(self) -> str:
        return f"ReadClips({self.reader!r})"


class BucketBatchSource:
    """Grain random-access source of a `BucketSchedule`: element `b` is this
    process's rows of batch `b`, `(epochs, indices, bucket)`."""

    def __init__(self, schedule: BucketSchedule) -> None:
        self.schedule = schedule

    def __len__(self) -> int:
        return len(self.schedule)

    def __getitem__(self, b: int) -> tuple[np.ndarray, np.ndarray, int]:
        return self.schedule.batch(b)

    def __repr__(self) -> str:
        return f"BucketBatchSource({self.schedule!r})"


class ReadBuckets(ReadClips):
    """Grain transform: a bucketed batch -> numpy batch dict padded to its
    bucket's static shape (`widths[bucket]` samples, `rows[bucket]` rows
    with a `"mask"`)."""

    def __init__(
        self,
        reader: ClipReader,
        num_threads: int | None,
        widths: Sequence[int],
        rows: Sequence[int],
        text_transform: TextTransform | None = None,
        token_width: int | None = None,
    ) -> None:
        super().__init__(reader, num_threads, text_transform, token_width)
        self.widths = tuple(widths)
        self.rows = tuple(rows)

    def map(self, element: tuple[np.ndarray, np.ndarray, int]) -> dict[str, np.ndarray]:  # type: ignore[override]
        epochs, indices, bucket = element
        return self.reader.read(
            epochs, indices, num_threads=self.num_threads, width=self.widths[bucket], rows=self.rows[bucket],
            text_transform=self.text_transform, token_width=self.token_width,
        )

    def __repr__(self) -> str:
        return f"ReadBuckets({self.reader!r}, widths={self.widths}, rows={self.rows})"
