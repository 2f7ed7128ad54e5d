"""Duration bucketing: padding share, distinct batch shapes, and seconds of
audio per second against lhotse's DynamicBucketingSampler.

    python benchmarks/bucketing.py [--n 1000] [--epochs 3] [--max-batch-seconds 200]

The speech set is synthesised with espeak-ng (spoken sentences concatenated
to LibriSpeech-like lengths: most 10-16 s, a tail of 1-35 s), stored as
FLAC at espeak-ng's 22.05 kHz (the loaders resample to 16 kHz) with a NeMo-style
manifest, and cached under ~/.cache/audiodecode.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from common import header  # also puts the checkout on sys.path

from audiodecode.data import buckets

WORDS = ("zero one two three four five six seven eight nine the river stone cat dog window green small "
         "quickly morning evening table yellow garden music light house water").split()
SR = 16000


def target_durations(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    main = rng.uniform(10, 16, int(n * 0.75))
    tail = rng.uniform(1, 35, n - len(main))
    return rng.permutation(np.concatenate([main, tail]))


def speech_set(n: int) -> Path:
    """A cached set of n FLAC utterances and its NeMo manifest; returns the manifest."""
    root = Path.home() / ".cache" / "audiodecode" / f"bucketing-{n}"
    manifest = root / "manifest.jsonl"
    if manifest.exists():
        return manifest
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, want in enumerate(target_durations(n)):
            parts, total = [], 0.0
            while total < want:
                text = " ".join(rng.choice(WORDS, 12))
                wav = Path(tmp) / "s.wav"
                subprocess.run(["espeak-ng", "-s", str(int(rng.integers(140, 200))), "-w", str(wav), text], check=True)
                y, sr = sf.read(wav, dtype="float32")
                parts.append(y)
                total += len(y) / sr
            y = np.concatenate(parts)[: int(want * sr)]
            path = root / f"u{i:05d}.flac"
            sf.write(path, y, sr)  # espeak-ng speaks at 22.05 kHz: the loaders resample
            rows.append({"audio_filepath": str(path), "duration": len(y) / sr, "text": ""})
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return manifest


def padding_figures(
    durations: np.ndarray, max_batch_seconds: float, num_buckets: int, epochs: int, drop_remainder: bool = False
) -> dict:
    plan = buckets.DurationBuckets.estimate(durations, max_batch_seconds=max_batch_seconds, num_buckets=num_buckets)
    s = buckets.BucketSchedule(plan, durations, seed=0, num_epochs=epochs, drop_remainder=drop_remainder)
    shapes, padded, real = set(), 0.0, 0.0
    for step in range(len(s)):
        _, indices, k = s.batch(step)
        shapes.add((plan.rows[k], plan.widths(SR)[k]))
        padded += plan.rows[k] * plan.boundaries[k]
        real += durations[indices].sum()
    # Random batches with the same mean rows, padded to their longest.
    rows = max(1, int(round(len(durations) * epochs / len(s))))
    rng = np.random.default_rng(0)
    rnd_pad, rnd_real = 0.0, 0.0
    for _ in range(epochs):
        order = rng.permutation(durations)
        for c in np.array_split(order, max(1, len(order) // rows)):
            rnd_pad += len(c) * c.max()
            rnd_real += c.sum()
    return {"ours": 1 - real / padded, "random": 1 - rnd_real / rnd_pad, "shapes": len(shapes), "rows": rows}


def ours_throughput(manifest: Path, max_batch_seconds: float, num_buckets: int, augment: bool) -> float:
    import audiodecode
    from audiodecode.torch import AudioDataLoader

    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    augs = [audiodecode.Gain(-6.0, 6.0, p=1.0)] if augment else None
    with AudioDataLoader([r["audio_filepath"] for r in rows], target_sr=SR, batch_by="duration",
                         max_batch_seconds=max_batch_seconds, num_buckets=num_buckets, cache=None,
                         augmentations=augs) as tl:
        start, seconds = time.perf_counter(), 0.0
        for batch in tl:
            seconds += float(batch["length"].sum()) / SR
        return seconds / (time.perf_counter() - start)


def lhotse_throughput(manifest: Path, max_batch_seconds: float, num_buckets: int, workers: int) -> float:
    import torch
    from lhotse import CutSet, Recording
    from lhotse.dataset import DynamicBucketingSampler
    from lhotse.dataset.collation import collate_audio

    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    cuts = CutSet.from_cuts(Recording.from_file(r["audio_filepath"], recording_id=f"r{i}").to_cut()
                            for i, r in enumerate(rows)).resample(SR)

    class Audio(torch.utils.data.Dataset):
        def __getitem__(self, batch):
            audio, lengths = collate_audio(batch)
            return audio, lengths

    sampler = DynamicBucketingSampler(cuts, max_duration=max_batch_seconds, num_buckets=num_buckets, shuffle=True)
    dl = torch.utils.data.DataLoader(Audio(), sampler=sampler, batch_size=None, num_workers=workers)
    start, seconds = time.perf_counter(), 0.0
    for _, lengths in dl:
        seconds += float(lengths.sum()) / SR
    return seconds / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--max-batch-seconds", type=float, default=200.0)
    p.add_argument("--num-buckets", type=int, default=8)
    p.add_argument("--skip-throughput", action="store_true")
    args = p.parse_args()
    header("duration bucketing")
    manifest = speech_set(args.n)
    d = np.array([json.loads(line)["duration"] for line in manifest.read_text().splitlines()])
    print(f"# {len(d)} utterances, {d.sum() / 3600:.2f} h, durations {d.min():.1f}-{d.max():.1f} s, "
          f"median {np.median(d):.1f} s; max_batch_seconds={args.max_batch_seconds}, num_buckets={args.num_buckets}")
    f = padding_figures(d, args.max_batch_seconds, args.num_buckets, args.epochs)
    print("| measure | ours (bucketed) | random batches | ratio |")
    print("|---|---|---|---|")
    print(f"| padding share | {f['ours']:.1%} | {f['random']:.1%} (rows={f['rows']}) | {f['random'] / f['ours']:.1f}x less |")
    print(f"| distinct shapes over {args.epochs} epochs | {f['shapes']} (<= {args.num_buckets}) | "
          f"one per batch length | |")
    print("\n| num_buckets | padding, partial batches padded | padding, drop_remainder=True | shapes |")
    print("|---|---|---|---|")
    for k in sorted({4, 8, 12, 16, args.num_buckets}):
        kept = padding_figures(d, args.max_batch_seconds, k, args.epochs)
        dropped = padding_figures(d, args.max_batch_seconds, k, args.epochs, drop_remainder=True)
        print(f"| {k} | {kept['ours']:.1%} | {dropped['ours']:.1%} | {kept['shapes']} |")
    if args.skip_throughput:
        return
    ours = ours_throughput(manifest, args.max_batch_seconds, args.num_buckets, augment=True)
    best = max((lhotse_throughput(manifest, args.max_batch_seconds, args.num_buckets, w), w) for w in (0, 1, 2))
    print(f"| audio s per s (augmentation on for ours) | {ours:.0f} | lhotse {best[0]:.0f} (num_workers={best[1]}) "
          f"| {ours / best[0]:.2f}x |")


if __name__ == "__main__":
    main()
