"""`AudioDataset`: the loader's clips, one record at a time, for your own DataLoader.

    from torch.utils.data import DataLoader
    from audiodecode.torch import AudioDataset

    dataset = AudioDataset("data/", target_sr=16000, clip_seconds=1.0, seed=0)
    batches = DataLoader(dataset, batch_size=32, shuffle=True, num_workers=4, collate_fn=dataset.collate)
    for epoch in range(epochs):
        dataset.set_epoch(epoch)               # new crops and augmentations
        for audio, labels, lengths in batches:
            ...

Item `i` of epoch `e` is the row `AudioDataLoader` (and the JAX loader)
would produce for record `i` in epoch `e` with the same seed: the same
`ClipReader`, crop, augmentation and seeds, whichever worker reads it.
`AudioDataLoader` is faster (one parallel decode per batch, no worker
processes); this class is for pipelines that need a `Dataset`.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import torch

from audiodecode.cache import AudioCache
from audiodecode.data.reading import BatchAugmentation, ClipReader, ClipSpec, Crop, OnError, resolve_augment
from audiodecode.data.records import AudioFiles, StrPath
from audiodecode.data.sources import open_records


class AudioDataset(torch.utils.data.Dataset):
    """Records of a data set as `(audio, label)` pairs.

    Works with `num_workers > 0` (fork or spawn): the core's thread pool is
    rebuilt in forked workers, and the epoch lives in shared memory, so
    `set_epoch` reaches workers that already exist
    (`persistent_workers=True`).

    Parameters
    ----------
    files : directory, manifest, list of paths, shard pattern, URL or AudioFiles
        As the loaders take them (`audiodecode.data.open_records`).
    labels : sequence of int or str, optional
        One per path when `files` is a list.
    target_sr : int
        Sampling rate the audio is resampled to.
    augmentations : transform, list of transforms or None
        `audiodecode` augmentations (a list is chained with `Compose`),
        seeded from (seed, epoch, record).
    clip_seconds : float or None
        Clip length (longer files cropped, see `crop`); None: whole files.
    crop : {"random", "start", "center"}
        Where files longer than `clip_seconds` are cut.
    seed : int
        Determines crops, augmentations and replacements of bad records.
    on_error : {"raise", "skip"}
        An unreadable file raises, or is replaced by another record chosen
        from the seed, with a `SkippedRecordWarning`.
    cache : AudioCache or None
        Whole decoded files kept across epochs; an `AudioCache` is shared
        by forked workers. None (default) decodes every time: a data set
        object does not own a cache (`AudioDataLoader` makes one).
    num_threads : int or None
        Rust threads per item; 1 keeps each worker process on one core.

    Attributes
    ----------
    files : AudioFiles
    reader : ClipReader
        What `__getitem__` calls, with batches of one record.
    """

    def __init__(
        self,
        files: StrPath | Sequence[StrPath] | AudioFiles,
        labels: Sequence[int | str] | None = None,
        target_sr: int = 16000,
        augmentations: BatchAugmentation | Sequence[Any] | None = None,
        *,
        clip_seconds: float | None = None,
        crop: Crop = "random",
        seed: int = 0,
        on_error: OnError = "raise",
        cache: AudioCache | None = None,
        num_threads: int | None = 1,
    ) -> None:
        if isinstance(cache, str):
            raise ValueError("AudioDataset takes an AudioCache or None; it does not make a cache of its own")
        self.files = open_records(files, labels, on_error=on_error)
        spec = ClipSpec(sr=target_sr, clip_seconds=clip_seconds, crop=crop, seed=seed, on_error=on_error)
        self.reader = ClipReader(self.files, spec, augment=resolve_augment(augmentations), cache=cache)
        self.num_threads = num_threads
        # In shared memory: forked workers see the value the parent sets,
        # and torch.multiprocessing shares it with spawned ones.
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()

    @property
    def epoch(self) -> int:
        """The epoch items are read for (crops, augmentations)."""
        return int(self._epoch)

    def set_epoch(self, epoch: int) -> None:
        """Read items of `epoch` from now on, in this process and its workers."""
        if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative integer, got {epoch!r}")
        self._epoch.fill_(int(epoch))

    @property
    def clip_samples(self) -> int | None:
        """Samples per clip, or None for whole files."""
        return self.reader.spec.clip_samples

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        """Record `index` of the current epoch.

        Returns
        -------
        audio : torch.Tensor [shape=(n,)], float32
            The valid samples only: at most `clip_samples`, fewer for a
            shorter file (pad batches with `collate`).
        label : int
            -1 where there is none. With `on_error="skip"`, the label of
            the record that replaced an unreadable one. For a multi-label
            data set, a (classes,) float32 multi-hot tensor instead.
        """
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is out of range for {len(self)} records")
        batch = self.reader.read([self.epoch], [index % len(self)], num_threads=self.num_threads)
        audio = torch.from_numpy(batch["audio"][0, : batch["length"][0]])
        if "labels" in batch:  # multi-label: the multi-hot vector
            return audio, torch.from_numpy(batch["labels"][0])
        return audio, int(batch["label"][0])

    def collate(self, items: Sequence[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`collate` padding to `clip_samples` (when set): the batch equals
        the loader's for the same records, epoch and seed."""
        return collate(items, self.clip_samples)

    def __repr__(self) -> str:
        return f"AudioDataset({self.files!r}, {self.reader.spec}, epoch={self.epoch})"


def collate(
    items: Sequence[tuple[torch.Tensor, int]], width: int | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stack `(audio, label)` items of different lengths, zero-padded at the end.

    Parameters
    ----------
    items : sequence of (torch.Tensor [shape=(n_i,)], int)
    width : int or None
        Row length; longer items are cut. None: the longest item's.

    Returns
    -------
    audio : torch.Tensor [shape=(batch, width)]
    labels : torch.Tensor [shape=(batch,)], int64
        Or (batch, classes) float32 for multi-label items.
    lengths : torch.Tensor [shape=(batch,)], int64
        Valid samples of each row.
    """
    if not items:
        raise ValueError("cannot collate an empty batch")
    lengths = torch.tensor([len(audio) for audio, _ in items], dtype=torch.int64)
    width = int(lengths.max()) if width is None else width
    lengths = lengths.clamp(max=width)
    audio = items[0][0].new_zeros(len(items), width)
    for row, (clip, _), n in zip(audio, items, lengths.tolist()):
        row[:n] = clip[:n]
    if isinstance(items[0][1], torch.Tensor):  # multi-label: stack the multi-hot vectors
        return audio, torch.stack([label for _, label in items]), lengths
    return audio, torch.tensor([label for _, label in items], dtype=torch.int64), lengths
