"""Augmentation throughput: audiodecode against audiomentations and
torch-audiomentations, side by side in one run on the same clips (2 s at
16 kHz, speech-like).

Ours runs one clip per call on one thread, and as `batch` on every core,
with each stretch method (WSOLA, the default, and the phase vocoder);
audiomentations runs per clip (its usual use); torch-audiomentations on
batches of 32 on the CPU. Prints clips per second and the ratio to
audiomentations.

    python benchmarks/augment.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from collections.abc import Callable

import numpy as np

from common import header, show, speech_like

import audiodecode as ad

SR = 16000


def clips(n: int) -> list[np.ndarray]:
    # Synthesis is slow: 20 distinct voices, repeated.
    voices = [speech_like(2.0, SR, f0_hz=90 + 9 * i, seed=i) for i in range(20)]
    return [voices[i % len(voices)] for i in range(n)]


def clips_per_second(run: Callable[[], object], n: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
    return n / best


def ours(ys: list[np.ndarray]) -> dict[str, ad.Augmentation]:
    return {
        "TimeStretch": ad.TimeStretch(0.8, 1.25),
        "TimeStretch, phase_vocoder": ad.TimeStretch(0.8, 1.25, method="phase_vocoder"),
        "PitchShift": ad.PitchShift(-4, 4),
        "PitchShift, phase_vocoder": ad.PitchShift(-4, 4, method="phase_vocoder"),
        "AddNoise": ad.AddNoise((10, 30)),
        "Gain": ad.Gain(-12, 12),
        "chain of 4": ad.Compose([ad.TimeStretch(0.8, 1.25), ad.PitchShift(-4, 4), ad.AddNoise((10, 30)), ad.Gain(-12, 12)]),
    }


def audiomentations_transforms() -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    try:
        import audiomentations as am
    except ImportError:
        return {}
    made = {
        # Its default (signalsmith_stretch, C++); the length changes, as ours does.
        "TimeStretch": am.TimeStretch(0.8, 1.25, leave_length_unchanged=False, p=1.0),
        "PitchShift": am.PitchShift(-4, 4, p=1.0),
        "AddNoise": am.AddGaussianSNR(10, 30, p=1.0),
        "Gain": am.Gain(-12, 12, p=1.0),
    }
    made["chain of 4"] = am.Compose(list(made.values()))
    return {name: (lambda t: lambda y: t(samples=y, sample_rate=SR))(t) for name, t in made.items()}


def torch_audiomentations_transforms() -> dict[str, Callable[[object], object]]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import torch

            # torch-audiomentations imports torchaudio, which needs the same
            # workaround as the pipeline benchmark's baseline.
            from pipeline import import_torchaudio

            import_torchaudio()
            import torch_audiomentations as tam
    except Exception as err:
        print(f"# torch-audiomentations unavailable: {type(err).__name__}: {err}")
        return {}
    made = {
        "PitchShift": tam.PitchShift(-4, 4, p=1.0, sample_rate=SR, output_type="tensor"),
        "AddNoise": tam.AddColoredNoise(10, 30, p=1.0, sample_rate=SR, output_type="tensor"),
        "Gain": tam.Gain(-12, 12, p=1.0, output_type="tensor"),
    }
    return {name: (lambda t: lambda x: t(x, sample_rate=SR))(t) for name, t in made.items()} | {"_torch": torch}  # type: ignore[dict-item]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100 clips instead of 1000")
    args = parser.parse_args()
    n = 100 if args.quick else 1000
    repeat = 2 if args.quick else 3
    ys = clips(n)
    seeds = list(range(n))
    header(f"Augmentation, {n} clips of 2 s at 16 kHz: clips per second (higher is better)")
    threads = os.cpu_count() or 1
    theirs = audiomentations_transforms()
    torch_side = torch_audiomentations_transforms()
    torch = torch_side.pop("_torch", None)
    rows = []
    warnings.simplefilter("ignore")
    measured: dict[str, float] = {}
    for name, transform in ours(ys).items():
        single = clips_per_second(lambda: [transform(y, SR, seed=s) for y, s in zip(ys, seeds)], n, repeat)
        batched = clips_per_second(lambda: transform.batch(ys, SR, seeds), n, repeat)
        # Our variants ("TimeStretch, phase_vocoder") against the same peer.
        peer = name.split(",")[0]
        if peer in theirs and peer not in measured:
            measured[peer] = clips_per_second(lambda: [theirs[peer](y) for y in ys], n, 1)
        base = measured.get(peer)
        tam = None
        if torch is not None and name in torch_side:
            stacked = torch.from_numpy(np.stack(ys))[:, None, :]
            fn = torch_side[name]
            tam = clips_per_second(lambda: [fn(stacked[i:i + 32]) for i in range(0, n, 32)], n, 1)
        ratio = lambda v: f"{v / base:.1f}x" if base else "-"  # noqa: E731
        rows.append([
            name,
            f"{single:,.0f} ({ratio(single)})",
            f"{batched:,.0f} ({ratio(batched)})",
            f"{base:,.0f}" if base else "-",
            f"{tam:,.0f} ({ratio(tam)})" if tam else "-",
        ])
    show("augment", rows, ["transform", "ours, 1 clip per call", f"ours, batch ({threads} threads)", "audiomentations", "torch-audiomentations (batches of 32)"])


if __name__ == "__main__":
    main()
