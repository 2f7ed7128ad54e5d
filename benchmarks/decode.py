"""Decode + resample to 16 kHz mono: audiodecode against the tools people use.

Side by side in one run, on the same generated files (44.1 kHz stereo,
speech-like): audiodecode.load, audiodecode.load_batch, librosa.load,
soundfile + soxr, PyAV + AudioResampler and torchcodec's AudioDecoder.
Prints throughput (seconds of audio decoded per second) and the ratio to
librosa, then the cost of a seek.

`--per-core` prints instead what one core does: one thread each, at the
file's rate and to 16 kHz, against soundfile (libsndfile: libFLAC,
libvorbis, mpg123), PyAV (FFmpeg) and torchcodec, with the minor page
faults per second of audio; then MP3's 2-core `load_batch` to 16 kHz
against librosa.

    python benchmarks/decode.py [--quick] [--per-core]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from common import best_of, corpus, header, show

import audiodecode as ad

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


PER_CORE_FORMATS = ["wav", "flac", "mp3", "ogg"]


def one_thread_tools(sr: int | None) -> dict[str, Callable[[list[Path]], object]]:
    """Each tool decoding a list of files on one thread: at the file's rate
    (`sr=None`, channels kept) or to `sr` mono."""
    import av
    import soundfile

    def ours(paths: list[Path]) -> object:
        return ad.load_batch(paths, sr=sr, mono=sr is not None, num_threads=1)

    def sf(paths: list[Path]) -> object:
        if sr is None:
            return [soundfile.read(p, dtype="float32") for p in paths]
        import soxr

        out = []
        for p in paths:
            y, file_sr = soundfile.read(p, dtype="float32", always_2d=True)
            out.append(soxr.resample(y.mean(axis=1), file_sr, sr))
        return out

    def pyav(paths: list[Path]) -> object:
        out = []
        for p in paths:
            with av.open(str(p)) as container:
                stream = container.streams.audio[0]
                stream.thread_count = 1
                if sr is None:
                    out.append([f.to_ndarray() for f in container.decode(stream)])
                else:
                    resampler = av.AudioResampler(format="flt", layout="mono", rate=sr)
                    chunks = [r.to_ndarray() for f in container.decode(stream) for r in resampler.resample(f)]
                    out.append(chunks + [r.to_ndarray() for r in resampler.resample(None)])
        return out

    tools = {"audiodecode": ours, "soundfile" + ("" if sr is None else "+soxr"): sf, "PyAV": pyav}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import torch
            from torchcodec.decoders import AudioDecoder

        torch.set_num_threads(1)

        def torchcodec(paths: list[Path]) -> object:
            kwargs = {} if sr is None else {"sample_rate": sr, "num_channels": 1}
            return [AudioDecoder(str(p), **kwargs).get_all_samples().data for p in paths]

        tools["torchcodec"] = torchcodec
    except Exception as err:  # torch's CUDA wheel may not load everywhere
        print(f"# torchcodec unavailable: {type(err).__name__}: {err}")
    return tools


def timed(fn: Callable[[], object]) -> tuple[float, int]:
    """Wall seconds and minor page faults (this process, all threads) of `fn()`."""
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults


def interleaved(tools: dict[str, Callable[[], object]], repeat: int) -> dict[str, tuple[float, int]]:
    """Best time and mean page faults of each tool over `repeat` passes,
    the tools taking turns within each pass (a noisy machine slows all
    alike). The mean, not the least: a pass that reuses memory freed by the
    one before faults less, and a caller's first call is not such a pass."""
    best = {name: (float("inf"), 0) for name in tools}
    for _ in range(repeat):
        for name, fn in tools.items():
            seconds, faults = timed(fn)
            best[name] = (min(best[name][0], seconds), best[name][1] + faults // repeat)
    return best


def with_junk_byte(paths: list[Path], root: Path) -> list[Path]:
    """Copies of `paths` with one byte after the last frame: nanomp3 does not
    vouch for such a stream, so audiodecode decodes them with symphonia, the
    MP3 path before nanomp3."""
    root.mkdir(parents=True, exist_ok=True)
    out = []
    for p in paths:
        q = root / p.name
        if not q.exists():
            shutil.copyfile(p, q)
            with open(q, "ab") as f:
                f.write(b"\0")
        out.append(q)
    return out


def per_core(root: Path, quick: bool) -> None:
    header("Per core: one thread, audio seconds per wall second (higher is better), best of 3 interleaved passes")
    print(f"# load average {os.getloadavg()[0]:.1f} over {os.cpu_count()} cores at the start")
    rng = np.random.default_rng(1)
    n_clips = 24 if quick else 120
    seconds = list(np.round(rng.uniform(1, 4, n_clips), 2))
    half = n_clips // 2
    repeat = 3
    rows = []
    for fmt in PER_CORE_FORMATS:
        clips = corpus(root / "clips44", fmt, seconds[:half]) + corpus(root / "clips48", fmt, seconds[half:], sr=48000)
        sets = {f"{n_clips} clips 1-4 s": clips}
        if fmt == "mp3":
            sets["10-min stereo"] = corpus(root / "long", fmt, [120.0 if quick else 600.0])
        for label, paths in sets.items():
            audio_s = sum(ad.info(p).duration for p in paths)
            for sr in (None, SR):
                tools = {name: (lambda fn=fn: fn(paths)) for name, fn in one_thread_tools(sr).items()}
                if fmt == "mp3":
                    symphonia = with_junk_byte(paths, root / "symphonia" / label.replace(" ", "_"))
                    tools["audiodecode, symphonia (before)"] = lambda: ad.load_batch(
                        symphonia, sr=sr, mono=sr is not None, num_threads=1
                    )
                best = interleaved(tools, repeat)
                sf_name = next(name for name in best if name.startswith("soundfile"))
                for name, (secs, faults) in best.items():
                    rows.append([
                        fmt, label, "native" if sr is None else f"{SR // 1000} kHz mono", name,
                        f"{audio_s / secs:,.0f}", f"{faults / audio_s:,.0f}",
                        f"{best[sf_name][0] / secs:.2f}x", f"{best['PyAV'][0] / secs:.2f}x",
                    ])
    show("decode-per-core", rows, ["format", "files", "rate", "tool", "audio s / s", "faults / audio s", "vs soundfile", "vs PyAV"])
    print()
    batch_vs_librosa(root, seconds, repeat)


def batch_vs_librosa(root: Path, seconds: list[float], repeat: int) -> None:
    """MP3 clips to 16 kHz mono: `load_batch` on every core against librosa.load per file."""
    import librosa

    threads = os.cpu_count() or 1
    paths = corpus(root / "clips44", "mp3", seconds[: len(seconds) // 2])
    audio_s = sum(ad.info(p).duration for p in paths)
    best = interleaved(
        {
            f"audiodecode.load_batch ({threads} threads)": lambda: ad.load_batch(paths, sr=SR),
            "librosa.load": lambda: [librosa.load(p, sr=SR) for p in paths],
        },
        repeat,
    )
    base = best["librosa.load"][0]
    rows = [["mp3", name, f"{audio_s / secs:,.0f}", f"{base / secs:.2f}x"] for name, (secs, _) in best.items()]
    show("decode-batch-mp3", rows, ["format", "tool", "audio s / s", "vs librosa"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter files (the demo's setting)")
    parser.add_argument("--per-core", action="store_true", help="one thread each, at the file's rate and 16 kHz, with page faults")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "audiodecode-bench", help="where generated files are cached")
    args = parser.parse_args()
    if args.per_core:
        per_core(args.data, args.quick)
    else:
        run(args.data, args.quick)


if __name__ == "__main__":
    main()
