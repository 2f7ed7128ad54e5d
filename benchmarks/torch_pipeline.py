"""Input-pipeline throughput: `audiodecode.torch.AudioDataLoader` against the
torch pipeline people write today, side by side in one run on the same MP3s.

The files, settings and baseline are those of `benchmarks/pipeline.py`
(imported from it, so both tables measure the same thing): 2-5 s
speech-like MP3 clips (44.1 kHz stereo) become batches of 32 one-second
16 kHz mono clips (random crop), augmented with a pitch shift (+-2
semitones) and a time stretch (0.9-1.1), each with p=0.5, then 40 MFCCs
(n_fft=400, hop 200, 128 mel bands).

- baseline: a torch `DataLoader` over a `Dataset` whose `__getitem__` calls
  `librosa.load(path, sr=16000)`, crops, shifts the pitch with
  torch-audiomentations (as prescribed) or audiomentations (much faster,
  shown too), stretches with audiomentations and computes
  `torchaudio.transforms.MFCC`, at num_workers in {0, 1, 2, 4};
- ours: `AudioDataLoader(..., features="mfcc", augmentations=[...])`,
  no cache (every clip decoded, as in a first epoch), MFCCs computed by
  `audiodecode.torch.features` in the loader's background thread.

Throughput is samples/s in steady state, best of interleaved rounds (other
processes on a small machine come and go; the load average is printed
before and after). Our loader is autotuned in its first round and keeps
that choice afterwards.

    python benchmarks/torch_pipeline.py [--quick]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from common import corpus, header, table
from pipeline import (
    AUGMENT_P,
    BATCH,
    CLIP,
    FAST,
    MFCC_SETTINGS,
    PITCH_SEMITONES,
    PRESCRIBED,
    SR,
    STRETCH,
    WORKERS,
    baseline_rate,
    import_torchaudio,
    interleaved,
    steady_rate,
)

TARGET = 3.0


def our_loader(paths: list[str], labels: list[int], augment: bool, **parallelism: int):  # noqa: ANN201 (torch imported lazily)
    import audiodecode
    from audiodecode.torch import AudioDataLoader

    augmentations = [
        audiodecode.PitchShift(-PITCH_SEMITONES, PITCH_SEMITONES, p=AUGMENT_P),
        audiodecode.TimeStretch(*STRETCH, p=AUGMENT_P),
    ]
    return AudioDataLoader(paths, labels, batch_size=BATCH, target_sr=SR, features="mfcc",
                           augmentations=augmentations if augment else None, clip_seconds=CLIP / SR, cache=None,
                           seed=0, drop_last=True, **MFCC_SETTINGS, **parallelism)


def our_rate(paths: list[str], labels: list[int], augment: bool, count: int, **parallelism: int) -> tuple[float, object]:
    """Samples/s of our loader, and the parallelism it ran with."""
    from audiodecode.torch.loader import DEVICE_BUFFER

    with our_loader(paths, labels, augment, **parallelism) as loader:

        def forever() -> Iterator[object]:
            while True:
                yield from loader

        warmup = loader.tuning.choice.prefetch + DEVICE_BUFFER + 3
        return steady_rate(forever(), lambda batch: batch, warmup=warmup, count=count), loader.tuning.choice


def load() -> str:
    return "load average " + ", ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer files, batches and rounds (a few minutes)")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "audiodecode-bench",
                        help="where generated files are cached")
    args = parser.parse_args()
    n_files = 96 if args.quick else 320
    counts = {"baseline": 3 if args.quick else 6, "ours": 12 if args.quick else 30}
    rounds = {"baseline": 1 if args.quick else 2, "ours": 2 if args.quick else 3}
    header(f"torch input pipeline: {n_files} MP3 clips (2-5 s, 44.1 kHz stereo) -> 1 s, 16 kHz, 40 MFCCs, "
           f"batches of {BATCH}")
    seconds = list(np.round(np.random.default_rng(0).uniform(2, 5, n_files), 1))
    paths = [str(p) for p in corpus(args.data / "pipeline-clips", "mp3", seconds)]
    labels = [i % 8 for i in range(n_files)]
    if import_torchaudio()[1]:
        print("# torchaudio 2.11 refuses to load next to torch 2.15 (CUDA version check of its C++ extension):\n"
              "# loaded without the extension, which its MFCC, Resample and phase vocoder do not use")
    logging.getLogger("audiodecode").setLevel(logging.WARNING)
    print(f"# {load()} at the start")

    # The baseline runs first: its workers fork before our threads start.
    variants = (None, PRESCRIBED, FAST)
    rate = interleaved({
        (w, v): (lambda w=w, v=v: baseline_rate(paths, labels, v, w, counts["baseline"]))
        for w in WORKERS for v in variants
    }, rounds["baseline"])
    choices: dict[bool, object] = {}

    def ours(augment: bool) -> float:
        fixed = {}
        if augment in choices:
            fixed = {"num_threads": choices[augment].num_threads, "prefetch": choices[augment].prefetch}
        result, choices[augment] = our_rate(paths, labels, augment, counts["ours"], **fixed)
        return result

    rate.update(interleaved({a: (lambda a=a: ours(a)) for a in (False, True)}, rounds["ours"]))
    print(f"# {load()} at the end")

    best = {v: max(rate[w, v] for w in WORKERS) for v in variants}
    rows = [[f"torch DataLoader + librosa, num_workers={w}", *(f"{rate[w, v]:.0f}" for v in variants)]
            for w in WORKERS]
    chosen = " / ".join(f"({c.num_threads}, {c.prefetch})" for c in (choices[False], choices[True]))
    rows.append([f"audiodecode.torch.AudioDataLoader, autotuned (num_threads, prefetch) = {chosen}",
                 f"{rate[False]:.0f}", f"{rate[True]:.0f}", f"{rate[True]:.0f}"])
    rows.append(["ours / the baseline's best", *(f"{rate[v is not None] / best[v]:.1f}x" for v in variants)])
    print("\n## Samples/s: 1 s MFCC clips from 2-5 s MP3, batches of 32 (higher is better)\n")
    print(table(rows, ["pipeline", "augmentation off", f"on, pitch: {PRESCRIBED}", f"on, pitch: {FAST}"]))
    for v in (PRESCRIBED, FAST):
        print(f"target >= {TARGET:g}x the baseline's best with augmentation on (pitch: {v}): "
              f"{'met' if rate[True] >= TARGET * best[v] else 'NOT met'} ({rate[True] / best[v]:.1f}x)")


if __name__ == "__main__":
    main()
