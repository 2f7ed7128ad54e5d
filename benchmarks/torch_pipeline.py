"""Input-pipeline throughput: `audiodecode.torch.AudioDataLoader` against the
torch pipeline people write today, side by side in one run on the same MP3s.

Both turn 2-5 s speech-like MP3 clips (44.1 kHz stereo) into batches of 32
one-second 16 kHz mono clips (random crop), augmented with a pitch shift
(+-2 semitones) and a time stretch (0.9-1.1), each with p=0.5, and then
into 40 MFCCs (n_fft=400, hop 200, 128 mel bands: torchaudio's MFCC
defaults) — the settings of `benchmarks/pipeline.py`, so the tables compare:

- baseline: a torch `DataLoader` over a `Dataset` whose `__getitem__` calls
  `librosa.load(path, sr=16000)` (the whole file), crops 1 s, pitch-shifts
  with torch-audiomentations (audiomentations where it does not import),
  time-stretches with audiomentations and computes the MFCC with
  torchaudio (`audiodecode.torch.mfcc` where torchaudio does not import),
  at each num_workers in {0, 1, 2, 4}; the best counts;
- ours: `AudioDataLoader(..., features="mfcc", augmentations=[...])`,
  autotuned, no cache (every clip decoded, as in a first epoch).

Throughput is samples/s in steady state: after the buffers filled while
the first batch was made have drained, the consumer takes batches as fast
as they come. Every setting is measured in each of `--rounds` rounds,
baseline and ours interleaved, and keeps its best round: on a shared
machine the load of other processes changes during the run (the load
average is printed before and after). Our loader is autotuned in the
first round and reuses that choice afterwards.

    python benchmarks/torch_pipeline.py [--quick]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from common import corpus, header, table

SR = 16000
CLIP = SR  # 1 s
BATCH = 32
MFCC = dict(n_mfcc=40, n_fft=400, hop_length=200, n_mels=128)
PITCH_SEMITONES = 2.0
STRETCH = (0.9, 1.1)
AUGMENT_P = 0.5
WORKERS = (0, 1, 2, 4)
TARGET = 3.0


# -- the baseline ----------------------------------------------------------------------


def baseline_mfcc() -> tuple[Callable, str]:
    """torchaudio's MFCC, or ours with the same sizes where torchaudio does not
    import (torchaudio 2.11 refuses torch 2.15: a CUDA version check)."""
    try:
        import torchaudio

        melkwargs = {k: MFCC[k] for k in ("n_fft", "hop_length", "n_mels")}
        return torchaudio.transforms.MFCC(sample_rate=SR, n_mfcc=MFCC["n_mfcc"], melkwargs=melkwargs), "torchaudio"
    except Exception:  # noqa: BLE001 (any failure to import means: not available here)
        from audiodecode.torch import mfcc

        return (lambda y: mfcc(y, sr=SR, **MFCC)), "audiodecode.torch.mfcc (torchaudio does not import)"


def baseline_pitch_shift() -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    """torch-audiomentations' PitchShift, or audiomentations' where it does not
    import (it needs torchaudio)."""
    try:
        import torch
        import torch_audiomentations

        shift = torch_audiomentations.PitchShift(-PITCH_SEMITONES, PITCH_SEMITONES, p=AUGMENT_P, sample_rate=SR,
                                                 output_type="tensor")
        return (lambda y: shift(torch.from_numpy(y)[None, None])[0, 0].numpy()), "torch-audiomentations"
    except Exception:  # noqa: BLE001
        import audiomentations

        shift = audiomentations.PitchShift(-PITCH_SEMITONES, PITCH_SEMITONES, p=AUGMENT_P)
        return (lambda y: shift(y, sample_rate=SR)), "audiomentations (torch-audiomentations does not import)"


def baseline_dataset(paths: list[str], labels: list[int], augment: bool):  # noqa: ANN201 (torch imported lazily)
    import audiomentations
    import librosa
    import torch

    class LibrosaClips(torch.utils.data.Dataset):
        """One file per `__getitem__`, the way training scripts do it."""

        def __init__(self) -> None:
            self.mfcc, _ = baseline_mfcc()
            self.pitch, _ = baseline_pitch_shift()
            self.stretch = audiomentations.TimeStretch(*STRETCH, leave_length_unchanged=True, p=AUGMENT_P)

        def __len__(self) -> int:
            return len(paths)

        def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
            y, _ = librosa.load(paths[i], sr=SR)
            start = np.random.randint(0, max(1, len(y) - CLIP + 1))
            y = np.pad(y[start : start + CLIP], (0, max(0, CLIP - len(y))))
            if augment:
                y = self.stretch(self.pitch(y), sample_rate=SR)
            return self.mfcc(torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))), labels[i]

    return LibrosaClips()


def baseline_batches(paths: list[str], labels: list[int], augment: bool, workers: int) -> Iterator[object]:
    import torch

    loader = torch.utils.data.DataLoader(
        baseline_dataset(paths, labels, augment), batch_size=BATCH, shuffle=True, num_workers=workers,
        drop_last=True, persistent_workers=workers > 0,
    )
    while True:
        yield from loader


# -- ours --------------------------------------------------------------------------------


def our_augmentations() -> list:
    import audiodecode

    return [
        audiodecode.PitchShift(-PITCH_SEMITONES, PITCH_SEMITONES, p=AUGMENT_P),
        audiodecode.TimeStretch(*STRETCH, p=AUGMENT_P),
    ]


def our_batches(paths: list[str], labels: list[int], augment: bool, **parallelism: int):  # noqa: ANN201
    from audiodecode.torch import AudioDataLoader

    loader = AudioDataLoader(paths, labels, batch_size=BATCH, target_sr=SR, features="mfcc",
                             augmentations=our_augmentations() if augment else None, clip_seconds=CLIP / SR,
                             cache=None, seed=0, drop_last=True, **MFCC, **parallelism)

    def forever() -> Iterator[object]:
        while True:
            yield from loader

    return loader, forever()


# -- measuring -----------------------------------------------------------------------------


def steady_rate(batches: Iterator[object], warmup: int, count: int) -> float:
    """Samples/s over `count` batches, after `warmup` batches have emptied
    the buffers filled while the first batch was being made."""
    for _ in range(warmup):
        next(batches)
    t0 = time.perf_counter()
    for _ in range(count):
        next(batches)
    return count * BATCH / (time.perf_counter() - t0)


def baseline_rate(paths: list[str], labels: list[int], augment: bool, workers: int, count: int) -> float:
    batches = baseline_batches(paths, labels, augment, workers)
    rate = steady_rate(batches, warmup=2 * workers + 2, count=count)
    batches.close()
    return rate


def our_rate(paths: list[str], labels: list[int], augment: bool, count: int, **parallelism: int) -> tuple[float, object]:
    from audiodecode.torch.loader import DEVICE_BUFFER

    loader, batches = our_batches(paths, labels, augment, **parallelism)
    with loader:
        rate = steady_rate(batches, warmup=loader.tuning.choice.prefetch + DEVICE_BUFFER + 3, count=count)
        return rate, loader.tuning.choice


def load() -> str:
    return "load average " + ", ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer files and batches (about a minute)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="measurements per setting, the best counts (default 2, 1 with --quick)")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "audiodecode-bench",
                        help="where generated files are cached")
    args = parser.parse_args()
    rounds = args.rounds or (1 if args.quick else 2)
    n_files = 96 if args.quick else 320
    counts = {"baseline": 3 if args.quick else 8, "ours": 12 if args.quick else 40}
    header(f"torch input pipeline: {n_files} MP3 clips (2-5 s, 44.1 kHz stereo) -> 1 s, 16 kHz, 40 MFCCs, "
           f"batches of {BATCH}")
    seconds = list(np.round(np.random.default_rng(0).uniform(2, 5, n_files), 1))
    # The same files as benchmarks/pipeline.py (generated once, shared).
    paths = [str(p) for p in corpus(args.data / "pipeline-clips", "mp3", seconds)]
    labels = [i % 8 for i in range(n_files)]
    logging.getLogger("audiodecode").setLevel(logging.WARNING)
    print(f"# baseline MFCC: {baseline_mfcc()[1]}; baseline pitch shift: {baseline_pitch_shift()[1]}")
    print(f"# {load()} at the start")

    modes = (False, True)
    base = {(w, a): 0.0 for w in WORKERS for a in modes}
    ours: dict[bool, tuple[float, object]] = {}
    for _ in range(rounds):
        for a in modes:
            for w in WORKERS:
                base[w, a] = max(base[w, a], baseline_rate(paths, labels, a, w, counts["baseline"]))
            fixed = {} if a not in ours else {"num_threads": ours[a][1].num_threads, "prefetch": ours[a][1].prefetch}
            rate, choice = our_rate(paths, labels, a, counts["ours"], **fixed)
            ours[a] = (max(rate, ours[a][0] if a in ours else 0.0), choice)
    print(f"# {load()} at the end")
    best = {a: max(base[w, a] for w in WORKERS) for a in modes}
    rows = [[f"torch DataLoader + librosa, num_workers={w}", f"{base[w, False]:.0f}", f"{base[w, True]:.0f}"]
            for w in WORKERS]
    choice = {a: f"num_threads={c.num_threads}, prefetch={c.prefetch}" for a, (_, c) in ours.items()}
    rows.append([f"audiodecode.torch.AudioDataLoader (autotuned: {choice[False]} / {choice[True]})",
                 f"{ours[False][0]:.0f}", f"{ours[True][0]:.0f}"])
    rows.append(["speedup over the baseline's best", f"{ours[False][0] / best[False]:.1f}x",
                 f"{ours[True][0] / best[True]:.1f}x"])
    print("\n## Samples/s: 1 s MFCC clips from 2-5 s MP3, batches of 32 (higher is better)\n")
    print(table(rows, ["pipeline", "augmentation off", "augmentation on"]))
    verdict = "met" if ours[True][0] >= TARGET * best[True] else "NOT met"
    print(f"\ntarget >= {TARGET:g}x the baseline's best with augmentation on: {verdict}")


if __name__ == "__main__":
    main()
