"""Epoch 1 against epoch 2: reading a data set of MP3 clips with and without the cache.

Side by side in one run, on the same generated files (speech-like 44.1 kHz
stereo MP3 clips of 2-5 s, decoded to 16 kHz mono), read like a loader
reads them: a new shuffle every epoch, batches of 32.

- no cache: `audiodecode.load_batch` every epoch.
- RAM cache: `AudioCache(max_ram_gb=...)`, the data set fits the budget.
- RAM + disk, first run: as above, also writing every clip to `cache_dir`.
- RAM + disk, second run: a fresh `AudioCache` over the `cache_dir` the
  first run filled; its epoch 1 reads the disk tier, not the MP3 files.

Prints clips per second per epoch, epoch 2 / epoch 1, and the bytes the
process read per epoch (`rchar` of /proc/self/io: every read() call,
the Rust decoder's included; cache entries are mapped, not read). Each
mode runs `--repeat` times with fresh caches; the table shows the fastest
epoch of each kind. The MP3 files sit in the OS page cache in every mode
(they were just generated or read), so the no-cache epochs measure
decoding, not the disk.

Then the same question through both loaders, as training uses them:
`audiodecode.jax.loader` and `audiodecode.torch.AudioDataLoader` with
augmentation on (PitchShift, TimeStretch, AddNoise, each at p=0.5), 1 s
random crops and MFCCs, for two epochs with no cache, the RAM cache, and
RAM + disk. Parallelism is fixed (2 threads, 2 batches ahead) so that no
autotuning run warms the cache before epoch 1.

    python benchmarks/cache.py [--quick]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from common import corpus, header, show

import audiodecode as ad
from audiodecode.cache import AudioCache

SR = 16000
BATCH = 32


def rchar() -> int:
    with open("/proc/self/io") as f:
        for line in f:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    raise RuntimeError("no rchar in /proc/self/io")


def epoch(read: Callable[[Sequence[str]], object], paths: list[str], seed: int) -> tuple[float, int]:
    """Seconds and bytes read for one shuffled pass over `paths` in batches."""
    order = [paths[i] for i in np.random.default_rng(seed).permutation(len(paths))]
    before, t0 = rchar(), time.perf_counter()
    for start in range(0, len(order), BATCH):
        read(order[start:start + BATCH])
    return time.perf_counter() - t0, rchar() - before


def two_epochs(read: Callable[[Sequence[str]], object], paths: list[str]) -> list[tuple[float, int]]:
    return [epoch(read, paths, seed) for seed in (1, 2)]


def run(root: Path, n_clips: int, repeat: int) -> None:
    header(f"Epoch 1 vs epoch 2: {n_clips} MP3 clips (2-5 s, 44.1 kHz stereo) -> 16 kHz mono, batches of {BATCH}")
    seconds = list(np.round(np.random.default_rng(0).uniform(2, 5, n_clips), 1))
    paths = [str(p) for p in corpus(root / "cache-clips", "mp3", seconds)]
    decoded = sum(4 * int(round(s * SR)) for s in seconds)
    budget_gb = 2 * decoded / 2**30  # the data set fits with room to spare

    def no_cache() -> list[tuple[float, int]]:
        return two_epochs(lambda batch: ad.load_batch(batch, sr=SR), paths)

    def ram() -> list[tuple[float, int]]:
        with AudioCache(max_ram_gb=budget_gb) as cache:
            return two_epochs(lambda batch: cache.load_batch(batch, SR), paths)

    def disk_runs() -> dict[str, list[tuple[float, int]]]:
        cache_dir = tempfile.mkdtemp(prefix="audiodecode-bench-cache-")
        try:
            with AudioCache(max_ram_gb=budget_gb, cache_dir=cache_dir) as cache:
                first = two_epochs(lambda batch: cache.load_batch(batch, SR), paths)
            with AudioCache(max_ram_gb=budget_gb, cache_dir=cache_dir) as cache:
                second = two_epochs(lambda batch: cache.load_batch(batch, SR), paths)
                stats = cache.stats()
            assert stats["misses"] == 0, stats  # the second run decoded nothing
            return {"RAM + disk, first run": first, "RAM + disk, second run": second}
        finally:
            shutil.rmtree(cache_dir)

    results: dict[str, list[list[tuple[float, int]]]] = {}
    for _ in range(repeat):
        for name, fn in (("no cache", no_cache), ("RAM cache", ram)):
            results.setdefault(name, []).append(fn())
        for name, epochs in disk_runs().items():
            results.setdefault(name, []).append(epochs)

    kb = lambda n: f"{n / 1e3:,.1f}"  # noqa: E731
    rows = []
    for name, runs in results.items():
        t1, t2 = (min(r[e][0] for r in runs) for e in (0, 1))
        b1, b2 = (min(r[e][1] for r in runs) for e in (0, 1))
        rows.append([name, f"{n_clips / t1:,.0f}", f"{n_clips / t2:,.0f}", f"{t1 / t2:.1f}x", kb(b1), kb(b2)])
    print(f"# source MP3s: {sum(Path(p).stat().st_size for p in paths) / 1e6:.2f} MB; "
          f"decoded: {decoded / 1e6:.2f} MB; RAM budget {budget_gb * 2**30 / 1e6:.0f} MB")
    show("cache", rows, ["mode", "epoch 1 clips/s", "epoch 2 clips/s", "epoch 2 / epoch 1", "kB read epoch 1", "kB read epoch 2"])


LOADER_SETTINGS = dict(batch_size=BATCH, clip_seconds=1.0, features="mfcc", n_mfcc=40, seed=0,
                       num_threads=2, prefetch=2)  # fmt: skip


def augmentations() -> list[ad.Augmentation]:
    return [ad.PitchShift(-2, 2, p=0.5), ad.TimeStretch(0.9, 1.1, p=0.5), ad.AddNoise((10, 30), p=0.5)]


def jax_epochs(paths: list[str], labels: list[int], cache: AudioCache | None) -> list[float]:
    """Seconds per epoch of `audiodecode.jax.loader` (features ready on the device)."""
    from audiodecode.jax import loader

    per_epoch = len(paths) // BATCH
    times = []
    with loader(paths, labels, sr=SR, augmentations=augmentations(), cache=cache, num_epochs=2, drop_remainder=True,
                **LOADER_SETTINGS) as batches:  # fmt: skip
        t0 = time.perf_counter()
        for i, batch in enumerate(batches, 1):
            batch["features"].block_until_ready()
            if i % per_epoch == 0:
                times.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
    return times


def torch_epochs(paths: list[str], labels: list[int], cache: AudioCache | None) -> list[float]:
    """Seconds per epoch of `audiodecode.torch.AudioDataLoader` (features on the CPU)."""
    from audiodecode.torch import AudioDataLoader

    loader = AudioDataLoader(paths, labels, target_sr=SR, augmentations=augmentations(), cache=cache,
                             drop_last=True, **LOADER_SETTINGS)  # fmt: skip
    times = []
    for epoch in range(2):
        loader.set_epoch(epoch)
        t0 = time.perf_counter()
        for features, _ in loader:
            features.sum().item()
        times.append(time.perf_counter() - t0)
    return times


def run_loaders(root: Path, n_clips: int, repeat: int) -> None:
    header(f"Loaders, epoch 1 vs epoch 2: {n_clips} MP3 clips, 1 s crops, augmentation on, MFCC")
    seconds = list(np.round(np.random.default_rng(0).uniform(2, 5, n_clips), 1))
    paths = [str(p) for p in corpus(root / "cache-clips", "mp3", seconds)]
    labels = [i % 4 for i in range(n_clips)]
    budget_gb = 2 * sum(4 * int(round(s * SR)) for s in seconds) / 2**30
    loaders: dict[str, Callable[[list[str], list[int], AudioCache | None], list[float]]] = {"jax": jax_epochs}
    try:
        import torch  # noqa: F401

        loaders["torch"] = torch_epochs
    except ImportError as err:
        print(f"# torch unavailable ({err}): the torch loader is left out")

    def modes() -> dict[str, Callable[[Callable], list[float]]]:
        def ram(epochs: Callable) -> list[float]:
            with AudioCache(max_ram_gb=budget_gb) as cache:
                return epochs(paths, labels, cache)

        def disk(epochs: Callable) -> list[float]:
            cache_dir = tempfile.mkdtemp(prefix="audiodecode-bench-cache-")
            try:
                with AudioCache(max_ram_gb=budget_gb, cache_dir=cache_dir) as cache:
                    return epochs(paths, labels, cache)
            finally:
                shutil.rmtree(cache_dir)

        return {"no cache": lambda epochs: epochs(paths, labels, None), "RAM cache": ram, "RAM + disk": disk}

    rows = []
    for loader_name, epochs in loaders.items():
        for mode, run_mode in modes().items():
            runs = [run_mode(epochs) for _ in range(repeat)]
            t1, t2 = (min(r[e] for r in runs) for e in (0, 1))
            clips = (n_clips // BATCH) * BATCH
            rows.append([loader_name, mode, f"{clips / t1:,.0f}", f"{clips / t2:,.0f}", f"{t1 / t2:.1f}x"])
    show("epochs", rows, ["loader", "cache", "epoch 1 clips/s", "epoch 2 clips/s", "epoch 2 / epoch 1"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="64 clips, one repeat")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each mode (fastest epoch shown)")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "audiodecode-bench", help="where generated files are cached")
    args = parser.parse_args()
    n_clips, repeat = (64, 1) if args.quick else (256, args.repeat)
    run(args.data, n_clips, repeat)
    run_loaders(args.data, n_clips, repeat)


if __name__ == "__main__":
    main()
