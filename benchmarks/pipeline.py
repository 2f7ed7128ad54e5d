"""Input-pipeline throughput: `audiodecode.jax.loader` against the loader
people write today, side by side in one run on the same MP3 files.

Both turn 2-5 s speech-like MP3 clips (44.1 kHz stereo) into batches of
32 one-second 16 kHz mono clips (random crop), optionally augmented with
a pitch shift (+-2 semitones) and a time stretch (0.9-1.1), each with
p=0.5, and then into 40 MFCCs (n_fft=400, hop 200, 128 mel bands):

- baseline: a torch `DataLoader` over a `Dataset` whose `__getitem__` calls
  `librosa.load(path, sr=16000)` (the whole file), crops, augments with
  audiomentations and computes the MFCC with torch, at num_workers in
  {0, 1, 2, 4};
- ours: `audiodecode.jax.loader(..., features="mfcc", augmentations=[...])`,
  no cache (every clip decoded, as in a first epoch), MFCCs on the device.

Throughput is measured in steady state: after the prefetch buffers have
drained, the consumer takes batches as fast as they come (blocking until
each one's features exist). Runs are repeated in interleaved rounds and
each keeps its best, since other processes on a small machine come and
go. One table per question:

1. speedup: samples/s of each, with and without augmentation;
2. augmentation cost: how much of each pipeline's throughput it takes;
3. autotune: the loader's measured choice against a grid of manual settings.

    python benchmarks/pipeline.py [--quick]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from common import corpus, header, table

SR = 16000
CLIP = SR  # 1 s
BATCH = 32
MFCC_SETTINGS = dict(n_mfcc=40, n_fft=400, hop_length=200, n_mels=128)
PITCH_SEMITONES = 2.0
STRETCH = (0.9, 1.1)
AUGMENT_P = 0.5
WORKERS = (0, 1, 2, 4)
GRID = [(t, p) for t in (1, 2) for p in (1, 2, 4)]


# -- the baseline ----------------------------------------------------------------


def torch_mfcc():  # noqa: ANN201 (torch is imported lazily)
    """`torchaudio.transforms.MFCC(sample_rate=16000, n_mfcc=40)`, rebuilt from
    torch ops: torchaudio 2.11 refuses to import next to torch 2.15 (a CUDA
    version check in its extension loader). Same defaults: Hann window,
    centred reflect-padded STFT, power spectrum, HTK mel bands without
    normalization, dB with top_db=80, orthonormal DCT-II."""
    import librosa
    import scipy.fft
    import torch

    class MFCC(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            fb = librosa.filters.mel(sr=SR, n_fft=MFCC_SETTINGS["n_fft"], n_mels=MFCC_SETTINGS["n_mels"], htk=True, norm=None)
            dct = scipy.fft.dct(np.eye(MFCC_SETTINGS["n_mels"]), type=2, norm="ortho", axis=0)[: MFCC_SETTINGS["n_mfcc"]]
            self.register_buffer("fb", torch.from_numpy(fb.astype(np.float32)))
            self.register_buffer("dct", torch.from_numpy(dct.astype(np.float32)))
            self.register_buffer("window", torch.hann_window(MFCC_SETTINGS["n_fft"]))

        def forward(self, y: torch.Tensor) -> torch.Tensor:
            spec = torch.stft(y, MFCC_SETTINGS["n_fft"], MFCC_SETTINGS["hop_length"], window=self.window, center=True,
                              pad_mode="reflect", return_complex=True).abs().pow(2)
            db = 10 * torch.log10(torch.clamp(self.fb @ spec, min=1e-10))
            db = torch.maximum(db, db.amax() - 80.0)
            return self.dct @ db

    return MFCC()


def baseline_dataset(paths: list[str], labels: list[int], augment: bool):  # noqa: ANN201
    import audiomentations
    import librosa
    import torch

    class LibrosaClips(torch.utils.data.Dataset):
        """One file per `__getitem__`, the way training scripts do it."""

        def __init__(self) -> None:
            self.mfcc = torch_mfcc()
            self.augment = audiomentations.Compose([
                audiomentations.PitchShift(-PITCH_SEMITONES, PITCH_SEMITONES, p=AUGMENT_P),
                audiomentations.TimeStretch(*STRETCH, leave_length_unchanged=True, p=AUGMENT_P),
            ]) if augment else None

        def __len__(self) -> int:
            return len(paths)

        def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
            y, _ = librosa.load(paths[i], sr=SR)
            start = np.random.randint(0, max(1, len(y) - CLIP + 1))
            y = np.pad(y[start : start + CLIP], (0, max(0, CLIP - len(y))))
            if self.augment is not None:
                y = self.augment(y, sample_rate=SR)
            return self.mfcc(torch.from_numpy(y)), labels[i]

    return LibrosaClips()


def baseline_batches(paths: list[str], labels: list[int], augment: bool, workers: int) -> Iterator[object]:
    import torch

    loader = torch.utils.data.DataLoader(
        baseline_dataset(paths, labels, augment), batch_size=BATCH, shuffle=True, num_workers=workers,
        drop_last=True, persistent_workers=workers > 0,
    )
    while True:
        yield from loader


# -- ours -------------------------------------------------------------------------


def our_augmentations() -> list | None:
    import audiodecode

    if not hasattr(audiodecode, "Compose"):
        return None
    return [
        audiodecode.PitchShift(-PITCH_SEMITONES, PITCH_SEMITONES, p=AUGMENT_P),
        audiodecode.TimeStretch(*STRETCH, p=AUGMENT_P),
    ]


def our_loader(paths: list[str], labels: list[int], augment: bool, **parallelism: int | None):  # noqa: ANN201
    from audiodecode.jax.loader import loader

    return loader(paths, labels, batch_size=BATCH, sr=SR, clip_seconds=CLIP / SR, features="mfcc",
                  augmentations=our_augmentations() if augment else None, cache=None, seed=0,
                  **MFCC_SETTINGS, **parallelism)


# -- measuring ----------------------------------------------------------------------


def steady_rate(batches: Iterator[object], ready: Callable[[object], object], warmup: int, count: int) -> float:
    """Samples/s over `count` batches, after `warmup` batches have emptied
    the buffers filled while the first batch was being made."""
    for _ in range(warmup):
        ready(next(batches))
    t0 = time.perf_counter()
    for _ in range(count):
        ready(next(batches))
    return count * BATCH / (time.perf_counter() - t0)


def baseline_rate(paths: list[str], labels: list[int], augment: bool, workers: int, count: int) -> float:
    batches = baseline_batches(paths, labels, augment, workers)
    rate = steady_rate(batches, lambda b: b, warmup=2 * workers + 2, count=count)
    batches.close()
    return rate


def our_rate(paths: list[str], labels: list[int], augment: bool, count: int, **parallelism: int | None) -> tuple[float, object]:
    from audiodecode.jax.loader import DEVICE_BUFFER

    with our_loader(paths, labels, augment, **parallelism) as it:
        warmup = it.tuning.choice.prefetch + DEVICE_BUFFER + 3
        rate = steady_rate(it, lambda b: b["features"].block_until_ready(), warmup=warmup, count=count)
        return rate, it.tuning


# -- the questions ---------------------------------------------------------------------


def interleaved(runs: dict[object, Callable[[], float]], rounds: int) -> dict[object, float]:
    """The best rate of each run over `rounds` rounds, taken in turn so a
    burst of load from other processes does not fall on one run only."""
    best: dict[object, float] = {}
    for _ in range(rounds):
        for key, run in runs.items():
            best[key] = max(best.get(key, 0.0), run())
    return best


def speedup(paths: list[str], labels: list[int], counts: dict[str, int], rounds: dict[str, int],
            have_augment: bool) -> dict:
    """Table 1: samples/s of the baseline at each num_workers and of ours."""
    modes = [False, True] if have_augment else [False]
    tunings = []

    def ours(augment: bool) -> float:
        rate, tuning = our_rate(paths, labels, augment, counts["ours"])
        tunings.append(tuning.choice)
        return rate

    rate = interleaved({
        ("base", w, a): (lambda w=w, a=a: baseline_rate(paths, labels, a, w, counts["baseline"]))
        for w in WORKERS for a in (False, True)
    }, rounds["baseline"])
    rate.update(interleaved({("ours", a): (lambda a=a: ours(a)) for a in modes}, rounds["ours"]))
    best = {a: max(rate["base", w, a] for w in WORKERS) for a in (False, True)}
    rows = [[f"torch DataLoader + librosa, num_workers={w}", f"{rate['base', w, False]:.0f}",
             f"{rate['base', w, True]:.0f}"] for w in WORKERS]
    chosen = ", ".join(sorted({f"({c.num_threads}, {c.prefetch})" for c in tunings}))
    ours_rate = {a: rate["ours", a] for a in modes}
    rows.append([f"audiodecode.jax.loader, autotuned (num_threads, prefetch) = {chosen}", f"{ours_rate[False]:.0f}",
                 f"{ours_rate[True]:.0f}" if have_augment else "n/a"])
    rows.append(["ours / the baseline's best", f"{ours_rate[False] / best[False]:.1f}x",
                 f"{ours_rate[True] / best[True]:.1f}x" if have_augment else "n/a"])
    print("\n## 1. Samples/s: 1 s MFCC clips from 2-5 s MP3, batches of 32 (higher is better)\n")
    print(table(rows, ["pipeline", "augmentation off", "augmentation on"]))
    if have_augment:
        print(f"\ntarget >= 3x the baseline's best with augmentation on: "
              f"{'met' if ours_rate[True] >= 3 * best[True] else 'NOT met'}")
    return {"best": best, "ours": ours_rate}


def augmentation_cost(result: dict) -> None:
    """Table 2: the share of throughput augmentation takes, from table 1's runs."""
    print("\n## 2. What turning augmentation on costs (share of throughput lost)\n")
    ours, best = result["ours"], result["best"]
    rows = [["baseline (its best num_workers each way)", f"{best[False]:.0f}", f"{best[True]:.0f}",
             f"{1 - best[True] / best[False]:.0%}"]]
    if True in ours:
        rows.append(["audiodecode.jax.loader", f"{ours[False]:.0f}", f"{ours[True]:.0f}",
                     f"{1 - ours[True] / ours[False]:.0%}"])
    print(table(rows, ["pipeline", "off (samples/s)", "on (samples/s)", "cost"]))
    if True in ours:
        print(f"\ntarget <= 25% for ours: {'met' if 1 - ours[True] / ours[False] <= 0.25 else 'NOT met'}")
    else:
        print("\nours: n/a, this build has no audiodecode augmentations (audiodecode.Compose)")


def autotune_vs_grid(paths: list[str], labels: list[int], count: int, rounds: int, augment: bool) -> None:
    """Table 3: the autotuned choice against every manual setting of the grid."""
    tunings = []

    def autotuned() -> float:
        rate, tuning = our_rate(paths, labels, augment, count)
        tunings.append(tuning)
        return rate

    runs: dict[object, Callable[[], float]] = {
        s: (lambda s=s: our_rate(paths, labels, augment, count, num_threads=s[0], prefetch=s[1])[0]) for s in GRID
    }
    runs["auto"] = autotuned
    rate = interleaved(runs, rounds)
    best = max(rate[s] for s in GRID)
    rows = [[f"num_threads={t}, prefetch={p}", f"{rate[t, p]:.0f}", f"{rate[t, p] / best:.0%}"] for t, p in GRID]
    chosen = ", ".join(f"({t.choice.num_threads}, {t.choice.prefetch})" for t in tunings)
    seconds = max(t.seconds for t in tunings)
    rows.append([f"autotuned: chose (num_threads, prefetch) = {chosen} in <= {seconds:.1f} s",
                 f"{rate['auto']:.0f}", f"{rate['auto'] / best:.0%}"])
    print(f"\n## 3. Autotuned vs manual settings (augmentation {'on' if augment else 'off'}; "
          f"samples/s, best of {rounds} interleaved rounds)\n")
    print(table(rows, ["setting", "samples/s", "of the best manual"]))
    print(f"\ntarget autotuned >= 90% of the best manual setting: {'met' if rate['auto'] >= 0.9 * best else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer files, batches and rounds (under two minutes)")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "audiodecode-bench",
                        help="where generated files are cached")
    args = parser.parse_args()
    n_files = 96 if args.quick else 320
    counts = {"baseline": 3 if args.quick else 8, "ours": 12 if args.quick else 30}
    # The baseline's runs take long and vary less (its work is all CPU-bound Python).
    rounds = {"baseline": 1 if args.quick else 2, "ours": 2 if args.quick else 3}
    header(f"Input pipeline: {n_files} MP3 clips (2-5 s, 44.1 kHz stereo) -> 1 s, 16 kHz, 40 MFCCs, batches of {BATCH}")
    seconds = list(np.round(np.random.default_rng(0).uniform(2, 5, n_files), 1))
    paths = [str(p) for p in corpus(args.data / "pipeline-clips", "mp3", seconds)]
    labels = [i % 8 for i in range(n_files)]
    # The baseline runs first: its workers fork before JAX starts threads.
    logging.getLogger("audiodecode").setLevel(logging.WARNING)
    have_augment = our_augmentations() is not None
    result = speedup(paths, labels, counts, rounds, have_augment)
    augmentation_cost(result)
    autotune_vs_grid(paths, labels, counts["ours"], rounds["ours"], augment=have_augment)


if __name__ == "__main__":
    main()
