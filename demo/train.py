"""Train the demo classifier with `audiodecode.jax.loader` feeding it."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import jax
import numpy as np
import optax
from flax import nnx
from tqdm import tqdm

import audiodecode
from audiodecode.data import seeding
from audiodecode.data.records import AudioFiles, audio_files
from audiodecode.data.tuning import Parallelism
from audiodecode.jax.data_loader import AudioLoader, loader
from demo.model import AudioCNN, eval_step, train_step

SR = 16000
CLIP_SECONDS = 1.0
# 40 MFCCs from 64 mel bands, 32 ms windows every 10 ms: the usual speech
# front end, computed on the device by the loader.
FEATURES = dict(features="mfcc", n_mfcc=40, n_mels=64, n_fft=512, hop_length=160, layout="features_last")
VALIDATION_SHARE = 0.15
# How often the progress bar fetches the loss from the device: every step
# would make the host wait for each step and hide the loader's overlap.
REPORT_EVERY = 20


# Applied in Rust to each training clip, seeded by (seed, epoch, file):
# what a model of short sounds should not care about. Pitch shifting is
# the one that alters a sound most, so it fires least often.
AUGMENTATIONS = [
    audiodecode.Gain(min_db=-6.0, max_db=6.0, p=0.5),
    audiodecode.SpeedPerturbation(rates=(0.9, 1.0, 1.1), p=0.5),
    audiodecode.PitchShift(min_semitones=-1.0, max_semitones=1.0, p=0.2),
    audiodecode.AddNoise(snr_db=(10.0, 30.0), p=0.5),
]


def split(files: AudioFiles, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation record indices: a seeded, stable share per file."""
    draw = seeding.uniform(seeding.record_seeds(seed, 0, np.arange(len(files))))
    return np.flatnonzero(draw >= VALIDATION_SHARE), np.flatnonzero(draw < VALIDATION_SHARE)


def subset_loader(files: AudioFiles, indices: np.ndarray, **kwargs: object) -> AudioLoader:
    return loader([files.paths[i] for i in indices], files.labels[indices].tolist(), sr=SR,
                  clip_seconds=CLIP_SECONDS, **FEATURES, **kwargs)


def evaluate(model: AudioCNN, files: AudioFiles, indices: np.ndarray, batch_size: int, parallelism: Parallelism) -> float:
    """Accuracy on centre crops, without augmentation (with the training
    loader's parallelism: no second autotuning)."""
    correct = total = 0
    with subset_loader(files, indices, batch_size=batch_size, crop="center", shuffle=False, num_epochs=1,
                       drop_remainder=False, num_threads=parallelism.num_threads,
                       prefetch=parallelism.prefetch) as it:
        for batch in it:
            c, n = eval_step(model, batch["features"], batch["length"], batch["label"])
            correct, total = correct + int(c), total + int(n)
    return correct / max(total, 1)


def run(data: Path, *, steps: int, batch_size: int, seed: int) -> dict[str, float]:
    """Train for `steps` steps on the class folders under `data`; print
    progress and a summary; return the final metrics."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("audiodecode").setLevel(logging.INFO)
    files = audio_files(data)
    if len(files.classes) < 2:
        raise SystemExit(f"{data} needs one sub-folder per class (at least two), with audio files in them")
    train_idx, val_idx = split(files, seed)
    print(f"data: {data}: {len(files)} files, {len(files.classes)} classes ({', '.join(files.classes)}); "
          f"{len(train_idx)} train / {len(val_idx)} validation")
    print(f"device: {jax.devices()[0].device_kind}; augmentation: {', '.join(map(repr, AUGMENTATIONS))}")

    model = AudioCNN(FEATURES["n_mfcc"], len(files.classes), rngs=nnx.Rngs(seed))
    schedule = optax.warmup_cosine_decay_schedule(0.0, 3e-3, warmup_steps=min(50, steps // 10), decay_steps=steps)
    optimizer = nnx.Optimizer(model, optax.adamw(schedule, weight_decay=1e-4), wrt=nnx.Param)
    print(f"model: {sum(p.size for p in jax.tree.leaves(nnx.state(model, nnx.Param))):,} parameters; "
          f"chance accuracy {1 / len(files.classes):.1%}")

    started = time.perf_counter()
    with subset_loader(files, train_idx, batch_size=batch_size, augmentations=AUGMENTATIONS, seed=seed) as train:
        bar = tqdm(range(steps), desc="train", unit="step", dynamic_ncols=True)
        pending: list[tuple[jax.Array, jax.Array]] = []
        loss = acc = float("nan")
        for step in bar:
            batch = next(train)
            pending.append(train_step(model, optimizer, batch["features"], batch["length"], batch["label"]))
            if (step + 1) % REPORT_EVERY == 0 or step + 1 == steps:
                loss, acc = (float(np.mean([float(x) for x in v])) for v in zip(*pending))
                pending.clear()
                stats = train.stats()
                bar.set_postfix(loss=f"{loss:.3f}", acc=f"{acc:.2f}", samples_s=f"{stats['samples_per_s']:.0f}",
                                stall=f"{stats['data_stall_share']:.0%}")
        bar.close()
        stats = train.stats()
        tuning = train.tuning.choice
    train_seconds = time.perf_counter() - started
    val_acc = evaluate(model, files, val_idx, batch_size, tuning)

    print(f"\nfinished {steps} steps ({steps * batch_size:,} clips) in {train_seconds:.0f} s")
    print(f"  train loss {loss:.3f}, train accuracy {acc:.1%} (last {REPORT_EVERY} steps)")
    print(f"  validation accuracy {val_acc:.1%} (chance {1 / len(files.classes):.1%})")
    print(f"  loader: {stats['samples_per_s']:.0f} samples/s, data stall {stats['data_stall_share']:.1%} of the "
          f"training loop; num_threads={tuning.num_threads}, prefetch={tuning.prefetch} (autotuned)")
    print("  host time per batch: " + ", ".join(f"{k} {v:.1f} ms" for k, v in stats["stage_ms_per_batch"].items()))
    if stats["cache"]:
        print(f"  cache: {stats['cache']['hits']} hits, {stats['cache']['misses']} misses")
    return {"loss": loss, "train_accuracy": acc, "val_accuracy": val_acc, **{
        k: stats[k] for k in ("samples_per_s", "data_stall_share")}}
