"""MFCC of a batch: audiodecode.jax.mfcc (jitted, CPU) against librosa and torchaudio.

Side by side in one run, on the same speech-like 16 kHz batches (64 x 1 s
and 32 x 10 s) and the same configuration for every tool: n_mfcc=40,
n_fft=512, hop 160, 64 Slaney mel bands, centred zero-padded frames, power
2, dB with top_db=80, orthonormal DCT-II. Prints milliseconds per batch
(median after a warm-up call, outputs ready) and the speed-up over
librosa.feature.mfcc called per clip, plus each tool's largest difference
from that librosa result.

    python benchmarks/features.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import jax
import numpy as np

from common import header, show

from audiodecode import filterbanks
from audiodecode.jax import mfcc
from synth import noise, speech_like

SR = 16000
CONFIG = dict(n_mfcc=40, n_fft=512, hop_length=160, n_mels=64)
BATCHES = [(64, 1.0), (32, 10.0)]


def batch(size: int, seconds: float) -> np.ndarray:
    """Speech-like clips with different pitches and a little noise (long ones repeat a 2 s phrase)."""
    n = int(seconds * SR)
    clips = [
        np.resize(speech_like(min(seconds, 2.0), SR, f0_hz=100 + 7 * (i % 20), seed=i), n)
        + noise(seconds, SR, amplitude=0.003, seed=i)
        for i in range(size)
    ]
    return np.stack(clips).astype(np.float32)


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up: compilation, caches, thread pools
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def tools() -> tuple[dict[str, Callable[[np.ndarray], np.ndarray]], list[str]]:
    """Each tool maps a (batch, n) float32 array to (batch, 40, frames) MFCCs; plus notes on missing ones."""
    notes = []

    def ours(y: np.ndarray) -> np.ndarray:
        return mfcc(y, sr=SR, **CONFIG).block_until_ready()

    found: dict[str, Callable[[np.ndarray], np.ndarray]] = {"audiodecode.jax.mfcc (jit, CPU)": ours}
    try:
        import librosa

        found["librosa.feature.mfcc per clip"] = lambda y: np.stack(
            [librosa.feature.mfcc(y=clip, sr=SR, **CONFIG) for clip in y]
        )
        # One call on the batch is faster, but clips its dB floor against the
        # loudest clip of the batch, not each clip's own maximum.
        found["librosa.feature.mfcc on the batch (batch-wide top_db)"] = lambda y: librosa.feature.mfcc(y=y, sr=SR, **CONFIG)
    except ImportError as err:
        notes.append(f"librosa unavailable ({err}); no baseline")
    try:
        import torch
    except Exception as err:  # noqa: BLE001  (a CUDA wheel can fail in many ways)
        notes.append(f"torch unavailable: {type(err).__name__}: {err}")
        return found, notes
    melkwargs = dict(n_fft=CONFIG["n_fft"], hop_length=CONFIG["hop_length"], n_mels=CONFIG["n_mels"],
                     center=True, pad_mode="constant", norm="slaney", mel_scale="slaney")  # fmt: skip
    try:
        # torchaudio 2.11 refuses torch 2.15 at import (a CUDA version check
        # of its C++ extension); its MFCC is plain torch code and does not
        # need the extension, so load it the way the pipeline benchmark does.
        from pipeline import import_torchaudio

        torchaudio, without_extension = import_torchaudio()
        if without_extension:
            notes.append("torchaudio loaded without its C++ extension (CUDA version check), which its MFCC does not use")
        transform = torchaudio.transforms.MFCC(sample_rate=SR, n_mfcc=CONFIG["n_mfcc"], norm="ortho", melkwargs=melkwargs)
        with torch.inference_mode():
            transform(torch.zeros(1, SR))
        found["torchaudio.transforms.MFCC on the batch"] = lambda y: _torch_call(transform, y)
    except Exception as err:  # noqa: BLE001  (torchaudio checks its build against torch's at import)
        notes.append(f"torchaudio.transforms.MFCC unavailable: {type(err).__name__}: {str(err).splitlines()[0]}")
    found["torch.stft + matmuls (torchaudio's MFCC recipe)"] = _torch_recipe(torch)
    return found, notes


def _torch_call(module: Callable, y: np.ndarray) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return module(torch.from_numpy(y)).numpy()


def _torch_recipe(torch) -> Callable[[np.ndarray], np.ndarray]:
    """What torchaudio.transforms.MFCC computes, in plain torch with our filterbank and DCT."""
    n_fft, hop = CONFIG["n_fft"], CONFIG["hop_length"]
    window = torch.hann_window(n_fft)
    mel = torch.from_numpy(filterbanks.mel_filterbank(sr=SR, n_fft=n_fft, n_mels=CONFIG["n_mels"]).T.copy())
    dct = torch.from_numpy(filterbanks.dct_matrix(CONFIG["n_mfcc"], CONFIG["n_mels"]).astype(np.float32).T.copy())

    def run(y: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            spec = torch.stft(torch.from_numpy(y), n_fft, hop, window=window, center=True, pad_mode="constant",
                              return_complex=True)  # fmt: skip
            power = spec.real**2 + spec.imag**2  # (batch, freq, frames)
            db = 10 * torch.log10(torch.clamp(power.transpose(1, 2) @ mel, min=1e-10))
            db = torch.maximum(db, db.amax(dim=(1, 2), keepdim=True) - 80)
            return (db @ dct).transpose(1, 2).numpy()

    return run


def run(quick: bool) -> None:
    header("MFCC of a batch at 16 kHz: milliseconds per batch (lower is better)")
    print(f"# jax {jax.__version__} on {jax.default_backend()}; config {CONFIG}")
    found, notes = tools()
    baseline = "librosa.feature.mfcc per clip"
    results: dict[str, list[str]] = {name: [] for name in found}
    for size, seconds in BATCHES:
        y = batch(size, seconds)
        reference = found[baseline](y) if baseline in found else None
        times = {}
        for name, fn in found.items():
            slow = name.startswith("librosa") or name.startswith("torch")
            times[name] = median_ms(lambda: fn(y), (2 if quick else 5) if slow else (5 if quick else 20))
        for name, fn in found.items():
            speedup = f"{times[baseline] / times[name]:.1f}x" if reference is not None else ""
            diff = "" if reference is None else f"{np.abs(np.asarray(fn(y)) - reference).max():.1e}"
            results[name] += [f"{times[name]:.1f}", speedup, diff]
        print(f"# {size} x {seconds:g} s done", flush=True)
    shapes = [f"{size} x {seconds:g} s" for size, seconds in BATCHES]
    headers = ["tool"] + [f"{s} {col}" for s in shapes for col in ("ms", "vs librosa", "max |diff|")]
    show("features", [[name, *cells] for name, cells in results.items()], headers)
    t0 = time.perf_counter()
    mfcc(batch(8, 1.0), sr=SR, **{**CONFIG, "n_mels": 65}).block_until_ready()  # a new configuration
    print(f"# audiodecode.jax.mfcc: first call of a new configuration (trace + compile) {time.perf_counter() - t0:.2f} s")
    print("# max |diff|: largest difference from librosa per clip, in MFCC units")
    for note in notes:
        print(f"# {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    run(parser.parse_args().quick)


if __name__ == "__main__":
    main()
