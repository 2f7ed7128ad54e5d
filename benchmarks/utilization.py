"""Accelerator utilization: how much of the time an (emulated) accelerator
is busy when each loader feeds it, and how much training speeds up.

The training step is emulated: after taking a batch, the loop "dispatches"
it and waits `step_ms` while the device works. The wait is a
`time.sleep`, which releases the GIL and uses no host CPU: exactly what a
device-bound step costs the host when the device computes and the host
thread blocks on its result. So every machine can reproduce the figure
the product promises without an accelerator, and the host's cores stay
free for the loader, as they are while a GPU trains. (JAX's features run
on the CPU here, so our loader's MFCCs cost host time that a GPU would
take off it: the emulation is, if anything, harsh on ours.)

Data: real speech, 400 espeak-ng sentences (1-6 s, eleven voices) as
44.1 kHz mono MP3 (`benchmarks/speech.py`), cropped at random to 1 s at
16 kHz, batches of 32, 40 MFCCs (n_fft 512, hop 160, 64 mel bands).
Augmentation on: time stretch 0.9-1.1, pitch shift +-2 semitones and
noise at 10-30 dB SNR, each with p=0.5.

Loaders:

- "Before": a torch `DataLoader` over a `Dataset` that calls `librosa.load`,
  crops, augments with audiomentations (`TimeStretch`, `PitchShift`,
  `AddGaussianSNR`; its pitch shift is faster than torch-audiomentations')
  and computes `torchaudio.transforms.MFCC`, at the `num_workers` in
  {0, 1, 2, 4} that measures fastest on this machine;
- `audiodecode.jax.loader` and `audiodecode.torch.AudioDataLoader`, both
  with their defaults (autotuned, nothing set by hand; the decoded-audio
  cache on, so after the first epoch, which the warm-up covers, clips are
  cut from decoded files in RAM), and once more the JAX loader without a
  cache (every clip decoded, as in a first epoch).

With `--http` (alone: `--only http`), the JAX loader also reads the same
files as WebDataset tar shards (50 clips each) through the HTTP range
server of `benchmarks/sources.py` (`tests/rangeserver.py` in a child
process, `--http-delay-ms` (20) before each answer), augmentation on,
without a cache (every clip fetched and decoded, so the server is in every
step), in the exact global shuffle and in the shard-streaming order
(`shuffle_buffer=1000`), beside the same loader on the local shards.

Reported per loader, augmentation off and on, at `--step-ms` (50):
utilization (device-busy time / wall time), data-stall share (time the
loop waited for a batch / wall time), steps/s, and ours' end-to-end
speed-up over "Before" for the same number of steps. Then the curve over
step times with augmentation on, and each loader's knee: the step time
below which utilization drops under 90%.

Results go to `benchmarks/results/utilization.json` (the full run, which
`plot.py` draws), or with `--only` to `utilization-table.json`,
`utilization-curve.json` or `utilization-http.json`.

    python benchmarks/utilization.py [--quick] [--step-ms 50] [--only table|curve|http] [--http]
"""

from __future__ import annotations

import argparse
import logging
import math
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from common import header, table, utilization_curves, write_json

from speech import speech_corpus

SR = 16000
CLIP_SECONDS = 1.0
BATCH = 32
MFCC = dict(n_mfcc=40, n_fft=512, hop_length=160, n_mels=64)
STRETCH = (0.9, 1.1)
SEMITONES = 2.0
SNR_DB = (10.0, 30.0)
P = 0.5
WORKERS = (0, 1, 2, 4)
KNEE = 0.90
OURS = ("audiodecode.jax.loader", "audiodecode.torch.AudioDataLoader")
BEFORE = "Before: DataLoader + librosa + audiomentations + torchaudio"


# -- the emulated training loop ---------------------------------------------------


def train(batches: Iterator[object], ready: Callable[[object], object], step_s: float, steps: int,
          warmup: int) -> dict[str, float]:
    """Run `warmup` then `steps` emulated steps; the measured steps' figures.

    Each step takes a batch (the wait for it, including any features still
    being computed, is the data stall) and then keeps the device busy for
    `step_s` (a GIL-free sleep; its measured length counts as busy time).
    """
    for _ in range(warmup):
        ready(next(batches))
        time.sleep(step_s)
    busy = stall = 0.0
    t0 = time.perf_counter()
    for _ in range(steps):
        t = time.perf_counter()
        ready(next(batches))
        t1 = time.perf_counter()
        time.sleep(step_s)
        stall += t1 - t
        busy += time.perf_counter() - t1
    wall = time.perf_counter() - t0
    return {"utilization": busy / wall, "stall_share": stall / wall, "steps_per_s": steps / wall, "wall_s": wall}


# -- "Before" -----------------------------------------------------------------------


def before_dataset(paths: list[str], labels: list[int], augment: bool):  # noqa: ANN201
    import audiomentations
    import librosa
    import torch

    from pipeline import import_torchaudio

    torchaudio, _ = import_torchaudio()
    clip = int(CLIP_SECONDS * SR)

    class SpeechClips(torch.utils.data.Dataset):
        """One file per `__getitem__`, the way training scripts do it."""

        def __init__(self) -> None:
            self.mfcc = torchaudio.transforms.MFCC(sample_rate=SR, n_mfcc=MFCC["n_mfcc"], melkwargs=dict(
                n_fft=MFCC["n_fft"], hop_length=MFCC["hop_length"], n_mels=MFCC["n_mels"]))
            self.augment = audiomentations.Compose([
                audiomentations.TimeStretch(*STRETCH, leave_length_unchanged=True, p=P),
                audiomentations.PitchShift(-SEMITONES, SEMITONES, p=P),
                audiomentations.AddGaussianSNR(*SNR_DB, p=P),
            ]) if augment else None

        def __len__(self) -> int:
            return len(paths)

        def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
            y, _ = librosa.load(paths[i], sr=SR)
            start = np.random.randint(0, max(1, len(y) - clip + 1))
            y = np.pad(y[start : start + clip], (0, max(0, clip - len(y))))
            if self.augment is not None:
                y = self.augment(y, sample_rate=SR)
            return self.mfcc(torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))), labels[i]

    return SpeechClips()


class Before:
    """The "Before" loader at one num_workers: an endless stream of batches."""

    def __init__(self, paths: list[str], labels: list[int], augment: bool, workers: int) -> None:
        import torch

        self.workers = workers
        self.loader = torch.utils.data.DataLoader(
            before_dataset(paths, labels, augment), batch_size=BATCH, shuffle=True, num_workers=workers,
            drop_last=True, persistent_workers=workers > 0, prefetch_factor=2 if workers else None)

    def __iter__(self) -> Iterator[object]:
        while True:
            yield from self.loader

    warmup = property(lambda self: 2 * self.workers + 2)


def best_workers(paths: list[str], labels: list[int], augment: bool, batches: int) -> tuple[int, dict[int, float]]:
    """The fastest num_workers for "Before" (batches/s of each, steady state)."""
    rates = {}
    for w in WORKERS:
        stream = iter(Before(paths, labels, augment, w))
        rates[w] = train(stream, lambda b: b, 0.0, batches, warmup=2 * w + 2)["steps_per_s"]
        stream.close()
    return max(rates, key=rates.get), rates


# -- ours ----------------------------------------------------------------------------


def augmentations(augment: bool) -> list | None:
    import audiodecode as ad

    return [ad.TimeStretch(*STRETCH, p=P), ad.PitchShift(-SEMITONES, SEMITONES, p=P),
            ad.AddNoise(snr_db=SNR_DB, p=P)] if augment else None


def ours(name: str, paths: object, labels: list[int] | None, augment: bool, cache: str | None = "auto",
         **options: object):  # noqa: ANN201
    """(batch stream, ready, warm-up steps, the loader) of one of our loaders,
    autotuned, with its default cache ("auto": decoded files kept in RAM
    after their first read) or none (`cache=None`: every clip decoded, as in
    a first epoch). With the cache the warm-up covers the first epoch, so
    the figures are those of the epochs that follow. `paths` may be opened
    records (tar shards); `options` go to the JAX loader."""
    if name == OURS[0]:
        from audiodecode.jax.data_loader import DEVICE_BUFFER, loader

        it = loader(paths, labels, batch_size=BATCH, sr=SR, clip_seconds=CLIP_SECONDS, features="mfcc",
                    augmentations=augmentations(augment), cache=cache, **options, **MFCC)
        warmup = it.tuning.choice.prefetch + DEVICE_BUFFER + 2 + (it.steps_per_epoch if cache else 0)
        return it, (lambda b: b["features"].block_until_ready()), warmup, it
    from audiodecode.torch import AudioDataLoader
    from audiodecode.torch.loader import DEVICE_BUFFER

    dl = AudioDataLoader(paths, labels, batch_size=BATCH, target_sr=SR, clip_seconds=CLIP_SECONDS,
                         features="mfcc", augmentations=augmentations(augment), cache=cache, drop_last=True, **MFCC)

    def forever() -> Iterator[object]:
        while True:
            yield from dl

    return forever(), (lambda b: b), dl.tuning.choice.prefetch + DEVICE_BUFFER + 2 + (len(dl) if cache else 0), dl


# -- the questions ------------------------------------------------------------------------


def knee(curve: dict[float, float]) -> float | None:
    """The step time (ms) at which utilization crosses `KNEE`, interpolated
    on a log scale of step times; None if it never drops below (or never
    reaches) it over the measured range."""
    points = sorted(curve.items())
    for (s0, u0), (s1, u1) in zip(points, points[1:]):
        if u0 < KNEE <= u1:
            f = (KNEE - u0) / (u1 - u0)
            return math.exp(math.log(s0) + f * (math.log(s1) - math.log(s0)))
    return None


def steps_for(step_ms: float, rate_hint: float, seconds: float, least: int) -> int:
    """Steps that last about `seconds` at the slower of the step and the loader."""
    per_step = max(step_ms / 1000, 1 / rate_hint if rate_hint > 0 else 0.0)
    return max(least, int(seconds / per_step))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer files and steps (a few minutes)")
    parser.add_argument("--step-ms", type=float, default=50.0, help="the emulated device step of the main table")
    parser.add_argument("--only", choices=("table", "curve", "http"),
                        help="run only the main table, only the curve or only the HTTP rows")
    parser.add_argument("--http", action="store_true", help="add the JAX loader over the HTTP range server")
    parser.add_argument("--http-delay-ms", type=float, default=20.0, help="the server's delay per request")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "audiodecode-bench",
                        help="where generated files are cached")
    args = parser.parse_args()
    n_files = 96 if args.quick else 400
    seconds = 4.0 if args.quick else 12.0  # measured time per run
    curve_ms = (5, 10, 20, 50, 100) if args.quick else (5, 10, 20, 30, 50, 100)
    before_ms = (50, 200, 1000) if args.quick else (20, 50, 100, 200, 500, 1000, 2000)
    header(f"Accelerator utilization: {n_files} espeak-ng speech MP3s -> {CLIP_SECONDS:g} s clips at 16 kHz, "
           f"40 MFCCs, batches of {BATCH}; emulated step {args.step_ms:g} ms")
    paths, labels = speech_corpus(args.data, n_files)
    logging.getLogger("audiodecode").setLevel(logging.WARNING)
    rows: list[dict] = []

    if args.only == "http":
        rows = http_rows(paths, labels, args, seconds)
        report(rows, args.step_ms)
        write_json("utilization-http", rows, step_ms=args.step_ms, files=n_files, clip_seconds=CLIP_SECONDS,
                   batch=BATCH, http_delay_ms=args.http_delay_ms)
        return
    # "Before" first: its workers fork before JAX starts threads.
    chosen: dict[bool, int] = {}
    for augment in (False, True):
        w, rates = best_workers(paths, labels, augment, 3 if args.quick else 8)
        chosen[augment] = w
        print(f"# Before, augmentation {'on' if augment else 'off'}: batches/s at num_workers "
              + ", ".join(f"{k}: {v:.2f}" for k, v in rates.items()) + f" -> num_workers={w}")
        before = Before(paths, labels, augment, w)
        stream = iter(before)
        todo = sorted({args.step_ms} | (set(before_ms) if augment and args.only != "table" else set()))
        if args.only == "curve" and not augment:
            todo = []
        for ms in todo:
            r = train(stream, lambda b: b, ms / 1000, steps_for(ms, rates[w], seconds, 4), before.warmup)
            rows.append({"loader": BEFORE, "augment": augment, "step_ms": ms, "setting": f"num_workers={w}", **r})
        stream.close()

    runs = [(name, augment, "auto") for name in OURS for augment in (False, True)]
    if args.only != "curve":
        runs.append((OURS[0], True, None))  # epoch-1 conditions: no cache, every clip decoded
    for name, augment, cache in runs:
        if args.only == "curve" and not augment:
            continue
        stream, ready, warmup, handle = ours(name, paths, labels, augment, cache)
        c = handle.tuning.choice
        setting = f"num_threads={c.num_threads}, prefetch={c.prefetch}" + ("" if cache else ", no cache")
        label = name if cache else f"{name} (no cache: epoch 1)"
        curve = augment and cache and args.only != "table"
        todo = sorted({args.step_ms} | (set(curve_ms) if curve else set()))
        for i, ms in enumerate(todo):
            # The first warm-up fills the buffers (and the cache); later ones settle the new pace.
            r = train(stream, ready, ms / 1000, steps_for(ms, 0, seconds, 20), warmup if i == 0 else 5)
            rows.append({"loader": label, "augment": augment, "step_ms": ms, "setting": setting, **r})
        if name == OURS[0]:
            stats = handle.stats()
            print(f"# {label}, augmentation {'on' if augment else 'off'}: {setting}; host ms per batch: "
                  + ", ".join(f"{k} {v:.1f}" for k, v in stats["stage_ms_per_batch"].items()))
        handle.close()

    if args.http:
        rows += http_rows(paths, labels, args, seconds)
    summary = report(rows, args.step_ms)
    # A partial run (--only table|curve) keeps the full run's file, which plot.py draws from.
    name = f"utilization-{args.only}" if args.only else "utilization"
    write_json(name, rows, step_ms=args.step_ms, files=n_files, clip_seconds=CLIP_SECONDS, batch=BATCH,
               before_num_workers={str(k): v for k, v in chosen.items()}, **summary)


def http_rows(paths: list[str], labels: list[int], args: argparse.Namespace, seconds: float) -> list[dict]:
    """The JAX loader, augmentation on, no cache, at `args.step_ms`: over
    local tar shards, then over the same shards through the HTTP range
    server (`args.http_delay_ms` per request), exact shuffle and shard
    streaming."""
    from audiodecode.data.sources import tar_shards, write_tar_shards
    from sources import HttpServer

    root = args.data / f"shards-{len(paths)}"
    per_shard = 50
    count = -(-len(paths) // per_shard)
    if not (root / f"s-{count - 1:06d}.tar").exists():
        write_tar_shards(list(zip(paths, labels)), str(root / "s-{:06d}.tar"), per_shard=per_shard)
    pattern = f"s-{{000000..{count - 1:06d}}}.tar"
    index_dir = str(args.data / "tar-index")
    # aiohttp's server, as measured in the docs: a 50 ms step asks far
    # fewer requests per second of it than its ceiling.
    server = HttpServer(root, "aiohttp")
    rows = []
    delay = args.http_delay_ms
    try:
        server.command(f"delay {delay / 1000}")
        runs = [("local tar shards", str(root / pattern), {}),
                (f"HTTP, {delay:g} ms/request", f"{server.url}/{pattern}", {}),
                (f"HTTP, {delay:g} ms/request, shard stream", f"{server.url}/{pattern}", {"shuffle_buffer": 1000})]
        for where, shards, options in runs:
            records = tar_shards(shards, index_dir=index_dir)
            stream, ready, warmup, handle = ours(OURS[0], records, None, True, None, **options)
            c = handle.tuning.choice
            label = f"{OURS[0]} (no cache), {where}"
            r = train(stream, ready, args.step_ms / 1000, steps_for(args.step_ms, 0, seconds, 20), warmup)
            stats = handle.stats()
            store = stats["storage"] or {}
            setting = f"num_threads={c.num_threads}, prefetch={c.prefetch}"
            rows.append({"loader": label, "augment": True, "step_ms": args.step_ms, "setting": setting, **r,
                         "requests": store.get("requests"), "p50_latency_s": store.get("p50_latency_s")})
            print(f"# {label}: {setting}; utilization {r['utilization']:.1%}; host ms per batch: "
                  + ", ".join(f"{k} {v:.1f}" for k, v in stats["stage_ms_per_batch"].items())
                  + f"; storage p50 {1e3 * (store.get('p50_latency_s') or 0):.0f} ms, "
                  f"{store.get('requests')} requests", flush=True)
            handle.close()
    finally:
        server.close()
    return rows


def report(rows: list[dict], step_ms: float) -> dict:
    """Print the main table and the curve; return the figures for the JSON."""
    at = {(r["loader"], r["augment"]): r for r in rows if r["step_ms"] == step_ms}
    summary: dict = {"speedup": {}, "knee_ms": {}}
    if at:
        out = []
        for (name, augment), r in at.items():
            base = at.get((BEFORE, augment))
            speedup = r["steps_per_s"] / base["steps_per_s"] if base else float("nan")
            if name != BEFORE:
                summary["speedup"][f"{name}, augmentation {'on' if augment else 'off'}"] = speedup
            out.append([name, "on" if augment else "off", r["setting"], f"{r['utilization']:.1%}",
                        f"{r['stall_share']:.1%}", f"{r['steps_per_s']:.2f}", f"{speedup:.1f}x" if base else ""])
        print(f"\n## Emulated {step_ms:g} ms device step: utilization, stall, steps/s (higher utilization is better)\n")
        print(table(out, ["loader", "augmentation", "setting", "utilization", "data stall", "steps/s",
                          "speed-up over Before"]))
        for name in OURS:
            r = at.get((name, True))
            if r:
                print(f"target >= 95% utilization at {step_ms:g} ms with augmentation on, {name}: "
                      f"{'met' if r['utilization'] >= 0.95 else 'NOT met'} ({r['utilization']:.1%})")
    curves = utilization_curves(rows)
    if curves:
        steps = sorted({s for c in curves.values() for s in c})
        print("\n## Utilization over device step times, augmentation on\n")
        print(table([[name, *(f"{c[s]:.0%}" if s in c else "" for s in steps),
                      f"{k:.0f} ms" if (k := knee(c)) else ("< " if min(c.values()) >= KNEE else "> ")
                      + f"{(min(c) if min(c.values()) >= KNEE else max(c)):g} ms"]
                     for name, c in curves.items()],
                    ["loader", *(f"{s:g} ms" for s in steps), f"knee (< {KNEE:.0%} below)"]))
        summary["knee_ms"] = {name: knee(c) for name, c in curves.items()}
    return summary


if __name__ == "__main__":
    main()
