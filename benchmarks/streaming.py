"""Streaming a long file to 16 kHz mono in fixed chunks, side by side.

One speech-like file per format (44.1 kHz stereo, MP3 / FLAC / Ogg Vorbis /
WAV, cached under ~/.cache/audiodecode/bench/streaming/), read in 10 s and
30 s chunks by:

- audiodecode: ``audiodecode.stream(path, sr=16000, chunk_seconds=...)``,
  decoding ahead on the core's threads (the default), and with
  ``decode_ahead=False`` (decoded in the caller's thread: one core);
- torchcodec: ``AudioDecoder(path, sample_rate=16000, num_channels=1)`` and
  ``get_samples_played_in_range`` step by step (it needs the duration);
- soundfile + soxr: ``soundfile.blocks`` at the native rate, mixed down,
  through ``soxr.ResampleStream`` (formats libsndfile reads);
- librosa.stream: native rate only (it does not resample), for reference.

Each run is its own process, so peak memory (max RSS over the import
baseline) is that run's. Reported: x real time (wall clock), x real time
per CPU second of the process (all its threads: what a loaded machine
does not blur), the mean cost of the last five chunks over the first
five, p99 per-chunk latency, peak memory.

    python benchmarks/streaming.py [--minutes 10] [--chunks 10 30]

`--live` measures latency instead: ``ffmpeg -re`` encodes a 44.1 kHz
stereo WAV in real time to MP3 (128 kb/s) or WAV on a pipe, and
``audiodecode.stream(pipe, sr=16000, chunk_seconds=...)`` reads it. A
chunk's latency is the time from the pipe read that completed it (the
decoder waits on the pipe, so that read returns as the bytes arrive) to
the chunk in the caller's hands; the first chunk (format detection) is
reported apart. No other tool is shown: torchcodec needs the duration up
front and soundfile does not read MP3 from a pipe.

    python benchmarks/streaming.py --live [--live-seconds 20] [--chunks 0.25 1]
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from common import corpus, header, show

CACHE = Path.home() / ".cache" / "audiodecode" / "bench" / "streaming"
FORMATS = ("mp3", "flac", "ogg", "wav")
TOOLS = ("audiodecode", "audiodecode (1 thread)", "torchcodec", "soundfile+soxr", "librosa.stream (native)")


def chunks_of(tool: str, path: str, chunk_s: float):  # noqa: ANN201 (a generator of arrays)
    """The chunk iterator of `tool` over `path` at 16 kHz mono (native rate for librosa)."""
    if tool.startswith("audiodecode"):
        import audiodecode

        ahead = tool == "audiodecode"
        return (c for c, _ in audiodecode.stream(path, sr=16000, chunk_seconds=chunk_s, decode_ahead=ahead))
    if tool == "torchcodec":
        from torchcodec.decoders import AudioDecoder

        decoder = AudioDecoder(path, sample_rate=16000, num_channels=1)
        duration = decoder.metadata.duration_seconds

        def run():  # noqa: ANN202
            t = 0.0
            while t < duration:
                yield decoder.get_samples_played_in_range(t, min(t + chunk_s, duration)).data
                t += chunk_s

        return run()
    if tool == "soundfile+soxr":
        import soundfile
        import soxr

        sr_in = soundfile.info(path).samplerate
        resampler = soxr.ResampleStream(sr_in, 16000, 1, dtype="float32", quality="HQ")

        def run():  # noqa: ANN202
            blocks = soundfile.blocks(path, blocksize=int(chunk_s * sr_in), dtype="float32", always_2d=True)
            for block in blocks:
                yield resampler.resample_chunk(block.mean(axis=1))
            yield resampler.resample_chunk(np.zeros(0, np.float32), last=True)

        return run()
    if tool.startswith("librosa"):
        import librosa
        import soundfile

        sr_in = soundfile.info(path).samplerate
        return librosa.stream(path, block_length=1, frame_length=int(chunk_s * sr_in), hop_length=int(chunk_s * sr_in))
    raise ValueError(tool)


IMPORTS = {
    "audiodecode": ["audiodecode"],
    "audiodecode (1 thread)": ["audiodecode"],
    "torchcodec": ["torchcodec.decoders"],
    "soundfile+soxr": ["soundfile", "soxr"],
    "librosa.stream (native)": ["librosa", "soundfile"],
}


def peak_rss_kib() -> int:
    """This process's peak resident set (VmHWM), in KiB. Not ru_maxrss:
    Linux carries that across exec from the parent, so a run started by a
    parent that had just synthesised an hour of audio reported the
    parent's peak as its own."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


def one(tool: str, path: str, chunk_s: float) -> dict:
    """Runs one tool over one file in this process; returns its figures.
    Imports come first: neither their time nor their memory is the run's."""
    import importlib
    import resource

    for module in IMPORTS[tool]:
        importlib.import_module(module)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    before, cpu_before = peak_rss_kib(), usage.ru_utime + usage.ru_stime
    times, frames = [], 0
    t0 = last = time.perf_counter()
    for chunk in chunks_of(tool, path, chunk_s):
        frames += chunk.shape[-1]
        now = time.perf_counter()
        times.append(now - last)
        last = now
    wall = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak, cpu = peak_rss_kib() - before, usage.ru_utime + usage.ru_stime - cpu_before
    times = np.array(times[:-1] if len(times) > 10 else times)  # the flush of a resampler is no chunk
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "frames": frames,
        "first5_ms": 1e3 * float(times[:5].mean()),
        "last5_ms": 1e3 * float(times[-5:].mean()),
        "p99_ms": 1e3 * float(np.percentile(times, 99)),
        "peak_mb": peak / 1024,
    }


def available(tool: str, fmt: str) -> bool:
    if tool == "soundfile+soxr" or tool.startswith("librosa"):
        import soundfile

        return fmt.upper() in soundfile.available_formats() or (fmt == "ogg")
    return True


class _TimedPipe(io.RawIOBase):
    """A pipe's read end that notes when each read returned bytes."""

    def __init__(self, raw: io.RawIOBase) -> None:
        self.raw, self.last = raw, 0.0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:
        n = self.raw.readinto(buffer)
        self.last = time.perf_counter()
        return n or 0


def live_one(source: Path, fmt: str, chunk_s: float, seconds: float, ahead: bool) -> dict:
    """One real-time ffmpeg pipe read by `stream`; latencies in ms."""
    import audiodecode

    codec = ["-f", "mp3", "-b:a", "128k"] if fmt == "mp3" else ["-f", "wav", "-c:a", "pcm_s16le"]
    ffmpeg = subprocess.Popen(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-t", str(seconds), "-i", str(source), *codec,
         "-flush_packets", "1", "-"],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    pipe = _TimedPipe(ffmpeg.stdout.raw)
    started = time.perf_counter()
    latencies, first = [], None
    try:
        for _ in audiodecode.stream(pipe, sr=16000, chunk_seconds=chunk_s, decode_ahead=ahead):
            now = time.perf_counter()
            if first is None:
                first = now - started
            else:
                latencies.append(1e3 * (now - pipe.last))
    finally:
        ffmpeg.kill()
        ffmpeg.wait()
    out = np.array(latencies[:-1])  # the last chunk comes at the end of input, not of a read
    return {"first_s": first, "p50_ms": float(np.percentile(out, 50)), "p99_ms": float(np.percentile(out, 99)),
            "chunks": len(latencies) + 1}


def live(seconds: float, chunks: list[float]) -> None:
    if shutil.which("ffmpeg") is None:
        raise SystemExit("--live needs ffmpeg (Debian's: apt-get install ffmpeg)")
    header(f"live: ffmpeg -re to a pipe, {seconds:g} s of 44.1 kHz stereo, read to 16 kHz mono")
    (source,) = corpus(CACHE, "wav", [seconds])
    rows = []
    for fmt in ("mp3", "wav"):
        for chunk_s in chunks:
            for ahead in (True, False):
                r = live_one(source, fmt, chunk_s, seconds, ahead)
                rows.append([fmt, f"{chunk_s:g} s", "ahead" if ahead else "inline", f"{r['first_s']:.2f} s",
                             f"{r['p50_ms']:.1f} ms", f"{r['p99_ms']:.1f} ms", str(r["chunks"])])
    show("streaming-live", rows, ["format", "chunk", "decoding", "first chunk", "p50 latency", "p99 latency", "chunks"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--chunks", type=float, nargs="+", default=[10.0, 30.0])
    parser.add_argument("--formats", nargs="+", default=list(FORMATS))
    parser.add_argument("--live", action="store_true", help="latency of a real-time ffmpeg pipe instead")
    parser.add_argument("--live-seconds", type=float, default=20.0)
    parser.add_argument("--one", nargs=3, metavar=("TOOL", "PATH", "CHUNK_S"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        tool, path, chunk_s = args.one
        print(json.dumps(one(tool, path, float(chunk_s))))
        return
    if args.live:
        live(args.live_seconds, args.chunks if args.chunks != [10.0, 30.0] else [0.25, 1.0])
        return
    header(f"streaming {args.minutes:g} min of 44.1 kHz speech to 16 kHz mono")
    seconds = args.minutes * 60
    rows = []
    for fmt in args.formats:
        (path,) = corpus(CACHE, fmt, [seconds])
        for chunk_s in args.chunks:
            results = {}
            for tool in TOOLS:
                if not available(tool, fmt):
                    continue
                out = subprocess.run(
                    [sys.executable, __file__, "--one", tool, str(path), str(chunk_s)],
                    capture_output=True,
                    text=True,
                )
                if out.returncode != 0:
                    print(f"# {tool} on {fmt}: failed ({out.stderr.strip().splitlines()[-1:]})")
                    continue
                results[tool] = json.loads(out.stdout)
            best_other = max(
                (seconds / r["wall_s"] for t, r in results.items() if not t.startswith("audiodecode") and "native" not in t),
                default=float("nan"),
            )
            for tool, r in results.items():
                rt = seconds / r["wall_s"]
                rows.append(
                    [
                        fmt,
                        f"{chunk_s:g} s",
                        tool,
                        f"{rt:,.0f}x",
                        f"{rt / best_other:.2f}" if tool.startswith("audiodecode") else "",
                        f"{seconds / r['cpu_s']:,.0f}x",
                        f"{r['last5_ms'] / r['first5_ms']:.2f}",
                        f"{r['p99_ms']:.1f} ms",
                        f"{r['peak_mb']:.0f} MB",
                    ]
                )
    show(
        "streaming",
        rows,
        ["format", "chunk", "tool", "x real time", "vs best other", "per CPU second", "last/first chunk", "p99 chunk",
         "peak memory"],
    )


if __name__ == "__main__":
    main()
