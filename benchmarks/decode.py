"""Decode + resample to 16 kHz mono: audiodecode against the tools people use.

Side by side in one run, on the same generated files (44.1 kHz stereo,
speech-like): audiodecode.load, audiodecode.load_batch, librosa.load,
soundfile + soxr, PyAV + AudioResampler and torchcodec's AudioDecoder.
Prints throughput (seconds of audio decoded per second) and the ratio to
librosa, then the cost of a seek.

    python benchmarks/decode.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

import audiodecode as ad
from common import best_of, corpus, header, show

SR = 16000
FORMATS = ["wav", "flac", "mp3", "ogg", "m4a"]


def competitors() -> dict[str, Callable[[Path], np.ndarray]]:
    """Per-file decoders of the other tools, each to 16 kHz mono float32."""
    tools: dict[str, Callable[[Path], np.ndarray]] = {}
    try:
        import librosa

        def librosa_load(p: Path) -> np.ndarray:
            # M4A goes through audioread, with two warnings per file.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return librosa.load(p, sr=SR)[0]

        tools["librosa.load"] = librosa_load
    except ImportError:
        pass
    try:
        import soundfile
        import soxr

        def sf_soxr(p: Path) -> np.ndarray:
            y, sr = soundfile.read(p, dtype="float32", always_2d=True)
            return soxr.resample(y.mean(axis=1), sr, SR)

        tools["soundfile+soxr"] = sf_soxr
    except ImportError:
        pass
    import av

    def pyav(p: Path) -> np.ndarray:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SR)
        chunks = []
        with av.open(str(p)) as container:
            for frame in container.decode(audio=0):
                chunks += [f.to_ndarray().ravel() for f in resampler.resample(frame)]
            chunks += [f.to_ndarray().ravel() for f in resampler.resample(None)]
        return np.concatenate(chunks)

    tools["pyav+AudioResampler"] = pyav
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from torchcodec.decoders import AudioDecoder

        def torchcodec(p: Path) -> np.ndarray:
            return AudioDecoder(str(p), sample_rate=SR, num_channels=1).get_all_samples().data.numpy()[0]

        torchcodec(corpus(Path(tempfile.mkdtemp()), "wav", [0.1])[0])
        tools["torchcodec.AudioDecoder"] = torchcodec
    except Exception as err:  # torch's CUDA wheel may not load everywhere
        print(f"# torchcodec unavailable: {type(err).__name__}: {err}")
    return tools


def decodes(fn: Callable[[Path], np.ndarray], path: Path) -> bool:
    """Formats soundfile cannot read (MP3/M4A with old libsndfile) are skipped, not counted."""
    try:
        fn(path)
        return True
    except Exception:
        return False


def run(root: Path, quick: bool) -> None:
    header("Decode to 16 kHz mono: audio seconds per wall second (higher is better)")
    rng = np.random.default_rng(0)
    n_clips = 12 if quick else 40
    clip_seconds = list(np.round(rng.uniform(1, 10, n_clips), 1))
    repeat = 2 if quick else 3
    tools = competitors()
    threads = os.cpu_count() or 1
    rows = []
    for fmt in FORMATS:
        sets = {"clips 1-10 s": corpus(root / "clips", fmt, clip_seconds)}
        if not quick:
            sets["one 10-min file"] = corpus(root / "long", fmt, [600.0])
        for label, paths in sets.items():
            audio_s = sum(ad.info(p).duration for p in paths)
            results: dict[str, float] = {}
            results["audiodecode.load"] = best_of(lambda: [ad.load(p, sr=SR) for p in paths], repeat)
            results[f"audiodecode.load_batch ({threads} threads)"] = best_of(lambda: ad.load_batch(paths, sr=SR), repeat)
            for name, fn in tools.items():
                if decodes(fn, paths[0]):
                    results[name] = best_of(lambda: [fn(p) for p in paths], repeat)
            base = results.get("librosa.load")
            for name, seconds in results.items():
                rows.append([fmt, label, name, f"{audio_s / seconds:,.0f}", f"{base / seconds:.2f}x" if base else "-"])
    show("decode", rows, ["format", "files", "tool", "audio s / s", "vs librosa"])
    print()
    seek_table(root, repeat)


def seek_table(root: Path, repeat: int) -> None:
    print("# Seek: 1 s at offset 50 s of a 60 s file, against loading the whole file")
    rows = []
    for fmt in ["wav", "flac", "mp3", "ogg", "m4a"]:
        (path,) = corpus(root / "seek", fmt, [60.0])
        whole = best_of(lambda: ad.load(path, sr=SR), repeat)
        part = best_of(lambda: ad.load(path, sr=SR, offset=50.0, duration=1.0), repeat * 3)
        rows.append([fmt, f"{whole * 1e3:.1f} ms", f"{part * 1e3:.2f} ms", f"{part / whole:.1%}"])
    show("decode-seek", rows, ["format", "whole file", "offset=50, duration=1", "share"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter files (the demo's setting)")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "audiodecode-bench", help="where generated files are cached")
    args = parser.parse_args()
    run(args.data, args.quick)


if __name__ == "__main__":
    main()
