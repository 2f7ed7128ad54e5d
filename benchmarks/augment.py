"""Augmentation throughput: audiodecode against audiomentations and
torch-audiomentations, side by side in one run on the same clips (2 s at
16 kHz, speech-like).

Ours runs one clip per call on one thread, and as `batch` on every core,
with each stretch method (WSOLA, the default, and the phase vocoder);
audiomentations runs per clip (its usual use); torch-audiomentations on
batches of 32 on the CPU. Prints clips per second and the ratio to
audiomentations.

The recorded-audio transforms draw from generated files: noise recordings
of 10-60 s and room impulse responses of 0.3-1 s (exponentially decaying
noise after a direct path), all at 16 kHz. The recipe chain is
SpeedPerturbation -> AddBackgroundNoise -> ApplyImpulseResponse -> Gain;
audiomentations has no speed perturbation, so its chain resamples with
soxr (which is what speed perturbation is) in a small wrapper.

`--loader` answers the second question: the JAX loader's throughput
(batches of 32 one-second clips from MP3, MFCCs on the device) without
augmentation, with today's five transforms and with the recipe chain.

    python benchmarks/augment.py [--quick] [--only transforms|loader]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from common import corpus, header, show, speech_like

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


NOISE_SECONDS = (10, 20, 30, 40, 50, 60)
IR_SECONDS = (0.3, 0.45, 0.6, 0.75, 0.9, 1.0)
SPEED_RATES = (0.9, 1.0, 1.1)


def recordings(root: Path) -> tuple[list[str], list[str]]:
    """Noise recordings and room impulse responses, written once."""
    from synth import encode

    rng = np.random.default_rng(0)
    (root / "noise").mkdir(parents=True, exist_ok=True)
    (root / "ir").mkdir(parents=True, exist_ok=True)
    noises, irs = [], []
    for i, seconds in enumerate(NOISE_SECONDS):
        path = root / "noise" / f"noise{i}.wav"
        if not path.exists():
            # Brownish noise with a slow level swell, like a street or a fan.
            white = rng.standard_normal(seconds * SR)
            colored = np.convolve(white, np.exp(-np.arange(64) / 8.0), mode="same")
            swell = 1 + 0.5 * np.sin(np.arange(len(colored)) * 2 * np.pi / (SR * 3.7))
            y = colored * swell
            encode(path, (0.3 * y / np.max(np.abs(y))).astype(np.float32), SR, "wavf32")
        noises.append(str(path))
    for i, seconds in enumerate(IR_SECONDS):
        path = root / "ir" / f"room{i}.wav"
        if not path.exists():
            n = int(seconds * SR)
            delay = 40 + 20 * i  # the source's distance
            rt60 = seconds * 0.7
            t = np.arange(n - delay) / SR
            tail = rng.standard_normal(n - delay) * np.exp(-6.9 * t / rt60) * 0.3
            ir = np.concatenate([np.zeros(delay), tail])
            ir[delay] = 1.0
            encode(path, (0.9 * ir / np.max(np.abs(ir))).astype(np.float32), SR, "wavf32")
        irs.append(str(path))
    return noises, irs


def recipe(noises: list[str], irs: list[str]) -> ad.Compose:
    return ad.Compose([
        ad.SpeedPerturbation(SPEED_RATES),
        ad.AddBackgroundNoise(noises, snr_db=(5, 20)),
        ad.ApplyImpulseResponse(irs),
        ad.Gain(-6, 6),
    ])


def ours(noises: list[str], irs: list[str]) -> dict[str, ad.Augmentation]:
    return {
        "TimeStretch": ad.TimeStretch(0.8, 1.25),
        "TimeStretch, phase_vocoder": ad.TimeStretch(0.8, 1.25, method="phase_vocoder"),
        "PitchShift": ad.PitchShift(-4, 4),
        "PitchShift, phase_vocoder": ad.PitchShift(-4, 4, method="phase_vocoder"),
        "AddNoise": ad.AddNoise((10, 30)),
        "Gain": ad.Gain(-12, 12),
        "chain of 4": ad.Compose([ad.TimeStretch(0.8, 1.25), ad.PitchShift(-4, 4), ad.AddNoise((10, 30)), ad.Gain(-12, 12)]),
        "AddBackgroundNoise": ad.AddBackgroundNoise(noises, snr_db=(5, 20)),
        "ApplyImpulseResponse": ad.ApplyImpulseResponse(irs),
        "LowPassFilter": ad.LowPassFilter(150, 7500),
        "HighPassFilter": ad.HighPassFilter(20, 2400),
        "BandPassFilter": ad.BandPassFilter(),
        "BandStopFilter": ad.BandStopFilter(),
        "LowPassFilter, zero_phase": ad.LowPassFilter(150, 7500, 12, 24, zero_phase=True),
        "Clipping": ad.Clipping((0, 40)),
        "PolarityInversion": ad.PolarityInversion(p=1.0),
        "Shift": ad.Shift(-0.5, 0.5),
        "TimeMask": ad.TimeMask(0.01, 0.2),
        "recipe chain": recipe(noises, irs),
    }


class _SpeedPerturbation:
    """audiomentations has no speed perturbation: soxr resampling, read at
    the original rate (what Kaldi's `sox speed` does)."""

    def __init__(self) -> None:
        import soxr

        self.soxr, self.rng = soxr, np.random.default_rng(0)

    def __call__(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        rate = self.rng.choice(SPEED_RATES)
        return self.soxr.resample(samples, sample_rate, sample_rate / rate).astype(np.float32)


def audiomentations_transforms(noises: list[str], irs: list[str]) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
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
    made |= {
        "AddBackgroundNoise": am.AddBackgroundNoise(noises, 5, 20, p=1.0),
        "ApplyImpulseResponse": am.ApplyImpulseResponse(irs, p=1.0),
        "LowPassFilter": am.LowPassFilter(150, 7500, p=1.0),
        "HighPassFilter": am.HighPassFilter(20, 2400, p=1.0),
        "BandPassFilter": am.BandPassFilter(p=1.0),
        "BandStopFilter": am.BandStopFilter(p=1.0),
        "Clipping": am.ClippingDistortion(0, 40, p=1.0),
        "PolarityInversion": am.PolarityInversion(p=1.0),
        "Shift": am.Shift(-0.5, 0.5, p=1.0),
        "TimeMask": am.TimeMask(0.01, 0.2, p=1.0),
    }
    made["recipe chain"] = am.Compose([
        _SpeedPerturbation(), made["AddBackgroundNoise"], made["ApplyImpulseResponse"], am.Gain(-6, 6, p=1.0),
    ])
    return {name: (lambda t: lambda y: t(samples=y, sample_rate=SR))(t) for name, t in made.items()}


def _torchaudio_file_io(torchaudio: object, torch: object) -> None:
    """torchaudio 2.9+ dropped `info` (and moved `load` to torchcodec);
    torch-audiomentations' file readers (AddBackgroundNoise,
    ApplyImpulseResponse) still call both. soundfile stands in for them:
    the benchmark's recordings are WAV, which it reads in C as torchaudio did."""
    if hasattr(torchaudio, "info"):
        return
    from types import SimpleNamespace

    import soundfile

    def info(path: str) -> SimpleNamespace:
        meta = soundfile.info(path)
        return SimpleNamespace(num_frames=meta.frames, sample_rate=meta.samplerate)

    def load(path: str, frame_offset: int = 0, num_frames: int = -1) -> tuple[object, int]:
        data, sr = soundfile.read(path, start=frame_offset, frames=num_frames, dtype="float32", always_2d=True)
        return torch.from_numpy(np.ascontiguousarray(data.T)), sr  # type: ignore[attr-defined]

    torchaudio.info, torchaudio.load = info, load  # type: ignore[attr-defined]


def torch_audiomentations_transforms(noises: list[str], irs: list[str]) -> dict[str, Callable[[object], object]]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import torch

            # torch-audiomentations imports torchaudio, which needs the same
            # workaround as the pipeline benchmark's baseline.
            from pipeline import import_torchaudio

            torchaudio, _ = import_torchaudio()
            _torchaudio_file_io(torchaudio, torch)
            import torch_audiomentations as tam
    except Exception as err:
        print(f"# torch-audiomentations unavailable: {type(err).__name__}: {err}")
        return {}
    made = {
        "PitchShift": tam.PitchShift(-4, 4, p=1.0, sample_rate=SR, output_type="tensor"),
        "AddNoise": tam.AddColoredNoise(10, 30, p=1.0, sample_rate=SR, output_type="tensor"),
        "Gain": tam.Gain(-12, 12, p=1.0, output_type="tensor"),
        "AddBackgroundNoise": tam.AddBackgroundNoise(noises, 5, 20, p=1.0, sample_rate=SR, output_type="tensor"),
        "ApplyImpulseResponse": tam.ApplyImpulseResponse(irs, p=1.0, sample_rate=SR, output_type="tensor"),
        "LowPassFilter": tam.LowPassFilter(150, 7500, p=1.0, sample_rate=SR, output_type="tensor"),
    }
    return {name: (lambda t: lambda x: t(x, sample_rate=SR))(t) for name, t in made.items()} | {"_torch": torch}  # type: ignore[dict-item]


def transforms_table(n: int, repeat: int, noises: list[str], irs: list[str]) -> None:
    ys = clips(n)
    seeds = list(range(n))
    header(f"Augmentation, {n} clips of 2 s at 16 kHz: clips per second (higher is better)")
    threads = os.cpu_count() or 1
    theirs = audiomentations_transforms(noises, irs)
    torch_side = torch_audiomentations_transforms(noises, irs)
    torch = torch_side.pop("_torch", None)
    rows = []
    warnings.simplefilter("ignore")
    stacked = torch.from_numpy(np.stack(ys))[:, None, :] if torch is not None else None
    for name, transform in ours(noises, irs).items():
        transform(ys[0], SR, seed=0)  # recordings decoded before timing, as theirs are cached
        runs: dict[str, Callable[[], object]] = {
            "single": lambda t=transform: [t(y, SR, seed=s) for y, s in zip(ys, seeds)],
            "batch": lambda t=transform: t.batch(ys, SR, seeds),
        }
        # Our variants ("TimeStretch, phase_vocoder") against the same peer.
        peer = name.split(",")[0]
        if peer in theirs:
            theirs[peer](ys[0])
            runs["theirs"] = lambda f=theirs[peer]: [f(y) for y in ys]
        if stacked is not None and name in torch_side:
            runs["tam"] = lambda f=torch_side[name]: [f(stacked[i:i + 32]) for i in range(0, n, 32)]
        # Interleaved rounds, best of each: a burst of load from other
        # processes then hits every side, not just the one running.
        rate: dict[str, float] = {}
        for _ in range(repeat):
            for key, run in runs.items():
                rate[key] = max(rate.get(key, 0.0), clips_per_second(run, n, 1))
        base = rate.get("theirs")
        ratio = lambda v: f"{v / base:.1f}x" if base else "-"  # noqa: E731
        rows.append([
            name,
            f"{rate['single']:,.0f} ({ratio(rate['single'])})",
            f"{rate['batch']:,.0f} ({ratio(rate['batch'])})",
            f"{base:,.0f}" if base else "-",
            f"{rate['tam']:,.0f} ({ratio(rate['tam'])})" if "tam" in rate else "-",
        ])
    show("augment", rows, ["transform", "ours, 1 clip per call", f"ours, batch ({threads} threads)", "audiomentations", "torch-audiomentations (batches of 32)"])


def loader_table(quick: bool, noises: list[str], irs: list[str], data: Path) -> None:
    """The JAX loader's samples/s without augmentation, with today's five
    transforms and with the recipe chain, in interleaved rounds (best of each)."""
    from audiodecode.jax.data_loader import DEVICE_BUFFER, loader
    from pipeline import BATCH, CLIP, MFCC_SETTINGS, interleaved, steady_rate

    paths = corpus(data / "loader", "mp3", [2.0 + (i % 7) / 2 for i in range(64 if quick else 256)])
    labels = [i % 10 for i in range(len(paths))]
    count, rounds = (10, 2) if quick else (30, 3)
    chains: dict[str, list | None] = {
        "no augmentation": None,
        "today's five (p=0.5 each)": [
            ad.TimeStretch(0.9, 1.1, p=0.5), ad.PitchShift(-2, 2, p=0.5), ad.AddNoise((10, 30), p=0.5),
            ad.Gain(-6, 6, p=0.5), ad.SpeedPerturbation(SPEED_RATES, p=0.5),
        ],
        "recipe chain (p=1 each)": [recipe(noises, irs)],
    }

    def run(augmentations: list | None) -> float:
        with loader(paths, labels, batch_size=BATCH, sr=SR, clip_seconds=CLIP / SR, features="mfcc",
                    augmentations=augmentations, cache=None, seed=0, **MFCC_SETTINGS) as it:
            warmup = it.tuning.choice.prefetch + DEVICE_BUFFER + 3
            return steady_rate(it, lambda b: b["features"].block_until_ready(), warmup=warmup, count=count)

    rates = interleaved({name: (lambda a=a: run(a)) for name, a in chains.items()}, rounds)
    header(f"JAX loader, {len(paths)} MP3 files (2-5 s, 44.1 kHz stereo) -> batches of {BATCH} x 1 s at 16 kHz, MFCC")
    base = rates["no augmentation"]
    rows = [[name, f"{rate:,.0f}", f"{rate / base:.0%}"] for name, rate in rates.items()]
    show("augment_loader", rows, ["augmentation", "samples/s", "of the throughput without"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100 clips instead of 1000, fewer loader batches")
    parser.add_argument("--only", choices=("transforms", "loader"), help="one table only")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "audiodecode-bench",
                        help="where the generated recordings and MP3 files are kept between runs")
    args = parser.parse_args()
    n = 100 if args.quick else 1000
    repeat = 3
    noises, irs = recordings(args.data / "recordings")
    if args.only in (None, "transforms"):
        transforms_table(n, repeat, noises, irs)
    if args.only in (None, "loader"):
        loader_table(args.quick, noises, irs, args.data)


if __name__ == "__main__":
    main()
