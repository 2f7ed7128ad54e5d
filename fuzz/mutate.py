"""Mutation fuzzing of the decode contract: `make fuzz` (or `python -m fuzz.mutate`).

Seed files of every format we read (or, with `--seeds mp3`, MP3s of every
MPEG version and channel mode; `--seeds rf64`, RF64 WAVs) are generated
once (PyAV), then each
input is a seeded mutation of one of them: bit flips, random byte runs,
4-byte size fields overwritten, ranges deleted or duplicated, a truncation,
or plain random bytes. Input `i` of a run is a pure function of (seed, i),
so any violation is reproduced from its number alone (and the input is
saved too).

The contract checked for every input, in worker subprocesses:
- `load(path, mono=False)` returns float32, finite, (channels, n) audio with
  1-255 channels and n > 0, or raises `DecodeError` (or a subclass) naming
  the file, or `ValueError`; nothing else;
- `info(path)` likewise, and when both succeed the channel counts agree;
- `load_batch([path], on_error="skip")` never raises;
- no input crashes the interpreter, takes more than `--timeout` seconds,
  or grows the process's peak memory by more than max(64 MB, 50x the
  input's size) (allocation bounded by what the file can hold).

Workers run under an address-space limit (`--memory-gb`, 4 GB by default,
as `ulimit -v` in containers and batch schedulers): an allocation far beyond
what an input holds fails there even if its pages are never touched, and
where Rust would abort on it the worker dies and the input is reported.

Violations are printed and written under `--out` (input file + one JSON
line each); the exit status is 1 if there was any.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
# (name, container, codec, sample format, channels, extension)
SEEDS = [
    ("wav_s16", "wav", "pcm_s16le", "s16", 1, "wav"),
    ("wav_s24_st", "wav", "pcm_s24le", "s32", 2, "wav"),
    ("wav_f32", "wav", "pcm_f32le", "flt", 1, "wav"),
    ("wav_f64", "wav", "pcm_f64le", "dbl", 1, "wav"),
    ("wav_u8", "wav", "pcm_u8", "u8", 1, "wav"),
    ("wav_mulaw", "wav", "pcm_mulaw", "s16", 1, "wav"),
    ("wav_ext_51", "wav", "pcm_s16le", "s16", 6, "wav"),
    ("aiff_s16", "aiff", "pcm_s16be", "s16", 1, "aiff"),
    ("aiff_s24", "aiff", "pcm_s24be", "s32", 2, "aiff"),
    ("flac", "flac", "flac", "s16", 2, "flac"),
    ("mp3", "mp3", "libmp3lame", "fltp", 2, "mp3"),
    ("ogg_vorbis", "ogg", "vorbis", "fltp", 2, "ogg"),
    ("opus", "ogg", "libopus", "flt", 1, "opus"),
    ("m4a_aac", "ipod", "aac", "fltp", 2, "m4a"),
    ("m4a_alac", "ipod", "alac", "s16p", 1, "m4a"),
    ("adts_aac", "adts", "aac", "fltp", 1, "aac"),
]
# `--seeds mp3`: MPEG layer III in every version and channel mode the
# decoders read, each with the ID3v2 tag and the Xing/LAME header FFmpeg's
# muxer writes (gapless trimming reads it), plus layer II. The 7th field is
# the sample rate.
MP3_SEEDS = [
    ("mp3", "mp3", "libmp3lame", "fltp", 2, "mp3", 44100),
    ("mp3_mono", "mp3", "libmp3lame", "fltp", 1, "mp3", 44100),
    ("mp3_48k", "mp3", "libmp3lame", "fltp", 2, "mp3", 48000),
    ("mp3_v2_22k_mono", "mp3", "libmp3lame", "fltp", 1, "mp3", 22050),
    ("mp3_v2_16k", "mp3", "libmp3lame", "fltp", 2, "mp3", 16000),
    ("mp3_v25_8k_mono", "mp3", "libmp3lame", "fltp", 1, "mp3", 8000),
    ("mp3_v25_11k", "mp3", "libmp3lame", "fltp", 2, "mp3", 11025),
    ("mp2", "mp2", "mp2", "s16", 2, "mp2", 44100),
]
# `--seeds rf64`: WAV with 64-bit sizes (FFmpeg's `-rf64 always`: the sizes
# in a ds64 chunk), in the encodings of the direct PCM path and one it
# leaves to symphonia.
RF64_SEEDS = [
    ("rf64_s16", "rf64", "pcm_s16le", "s16", 1, "wav"),
    ("rf64_s24_st", "rf64", "pcm_s24le", "s32", 2, "wav"),
    ("rf64_f32", "rf64", "pcm_f32le", "flt", 1, "wav"),
    ("rf64_f64", "rf64", "pcm_f64le", "dbl", 1, "wav"),
    ("rf64_u8", "rf64", "pcm_u8", "u8", 1, "wav"),
    ("rf64_mulaw", "rf64", "pcm_mulaw", "s16", 1, "wav"),
    ("rf64_ext_51", "rf64", "pcm_s16le", "s16", 6, "wav"),
]
SEED_SETS = {"all": SEEDS, "mp3": MP3_SEEDS, "rf64": RF64_SEEDS}
ALLOWED = ("DecodeError", "UnsupportedFormatError", "ValueError")
MEMORY_GB = 4.0


def make_seeds(folder: Path, seed_set: str = "all") -> list[Path]:
    """The seed files of `seed_set` (0.4 s tones with noise), generated once per folder."""
    import av

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, container, codec, fmt, channels, ext, *rate in SEED_SETS[seed_set]:
        path = folder / f"{name}.{ext}"
        paths.append(path)
        if path.exists():
            continue
        sr = rate[0] if rate else 48000 if codec == "libopus" else 44100
        t = np.arange(int(0.4 * sr)) / sr
        y = np.stack([0.4 * np.sin(2 * np.pi * (220 + 110 * c) * t) for c in range(channels)])
        y = (y + 0.01 * np.random.default_rng(0).standard_normal(y.shape)).astype(np.float32)
        layout = {1: "mono", 2: "stereo", 6: "5.1"}[channels]
        # "rf64": FFmpeg's WAV muxer, told to write RF64.
        muxer, muxer_options = ("wav", {"rf64": "always"}) if container == "rf64" else (container, {})
        with av.open(str(path), "w", format=muxer, options=muxer_options) as out:
            # FFmpeg's native Vorbis encoder is marked experimental.
            stream = out.add_stream(codec, rate=sr, layout=layout, options={"strict": "-2"} if codec == "vorbis" else {})
            stream.time_base = Fraction(1, sr)
            frame_size = stream.codec_context.frame_size or 1024
            resampler = av.AudioResampler(format=fmt, layout=layout, rate=sr, frame_size=frame_size)
            source = av.AudioFrame.from_ndarray(y, format="fltp", layout=layout)
            source.sample_rate, source.pts, source.time_base = sr, 0, Fraction(1, sr)
            for frame in resampler.resample(source) + resampler.resample(None):
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
    return paths


def mutate(seed_bytes: list[bytes], seed: int, index: int) -> bytes:
    """Input `index` of run `seed`: a mutation of one seed file (or random bytes)."""
    rng = np.random.default_rng([seed, index])
    kind = int(rng.integers(0, 8))
    if kind == 7:
        return rng.integers(0, 256, int(rng.integers(1, 20000)), dtype=np.uint8).tobytes()
    data = bytearray(seed_bytes[int(rng.integers(0, len(seed_bytes)))])
    n = len(data)
    for _ in range(int(rng.integers(1, 4))):
        if kind == 0:  # flip bits, mostly in the headers
            for _ in range(int(rng.integers(1, 16))):
                at = int(rng.integers(0, min(n, 512) if rng.random() < 0.7 else n))
                data[at] ^= 1 << int(rng.integers(0, 8))
        elif kind == 1:  # a run of random bytes
            at = int(rng.integers(0, n))
            run = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
            data[at : at + len(run)] = run
        elif kind == 2:  # a 4-byte field (a chunk size, a count) set to an extreme
            at = int(rng.integers(0, max(1, min(n, 256) - 4)))
            value = int(rng.choice([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 0x80000000, int(rng.integers(0, 2**32))]))
            data[at : at + 4] = value.to_bytes(4, "little" if rng.random() < 0.5 else "big")
        elif kind == 3 and n > 1:  # truncate
            del data[int(rng.integers(1, n)) :]
        elif kind == 4:  # delete a range
            at = int(rng.integers(0, n))
            del data[at : at + int(rng.integers(1, 512))]
        elif kind == 5:  # duplicate a range
            at = int(rng.integers(0, n))
            data[at:at] = data[at : at + int(rng.integers(1, 512))]
        else:  # a byte set to an extreme
            data[int(rng.integers(0, min(n, 128)))] = int(rng.choice([0, 0xFF, 0x7F, 0x80]))
        n = max(1, len(data))
        if not data:
            data = bytearray(b"\0")
    return bytes(data)


# -- the worker: one subprocess checks a range of inputs ---------------------------------


def limit_address_space(gb: float) -> None:
    """Caps this process's address space at `gb` gigabytes (RLIMIT_AS)."""
    import resource

    limit = int(gb * (1 << 30))
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def worker(
    seed_dir: Path, seed: int, start: int, stop: int, scratch: Path, memory_gb: float = MEMORY_GB,
    seed_set: str = "all",
) -> None:
    """Check inputs [start, stop) under a `memory_gb` address-space limit:
    prints `i` before each (so a crash names it) and a JSON violation line
    for each broken promise."""
    import resource
    import warnings

    limit_address_space(memory_gb)
    import audiodecode as ad

    warnings.simplefilter("ignore")
    seeds = [p.read_bytes() for p in make_seeds(seed_dir, seed_set)]
    exts = [p.suffix for p in make_seeds(seed_dir, seed_set)]
    for i in range(start, stop):
        print(f"@{i}", flush=True)
        data = mutate(seeds, seed, i)
        path = scratch / f"fz_{seed}_{i}{exts[i % len(exts)]}"
        path.write_bytes(data)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        problems = check(path, ad)
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
        if grown > max(64 << 20, 50 * len(data)):
            problems.append(f"peak memory grew by {grown >> 20} MB for a {len(data)}-byte input")
        for problem in problems:
            print(json.dumps({"index": i, "problem": problem}), flush=True)
        path.unlink()


def check(path: Path, ad: object) -> list[str]:
    problems = []
    shape = None
    try:
        y, sr = ad.load(path, mono=False)  # type: ignore[attr-defined]
        if not (isinstance(y, np.ndarray) and y.dtype == np.float32 and y.ndim == 2):
            problems.append(f"load returned {type(y).__name__} {getattr(y, 'dtype', '')} {getattr(y, 'shape', '')}")
        elif not (1 <= y.shape[0] <= 255 and y.shape[1] > 0 and sr > 0):
            problems.append(f"load returned shape {y.shape} at {sr} Hz")
        elif not np.isfinite(y).all():
            problems.append("load returned NaN or inf")
        else:
            shape = y.shape
    except Exception as err:  # noqa: BLE001 - the contract is what may escape
        problems += _exception("load", err, path)
    try:
        info = ad.info(path)  # type: ignore[attr-defined]
        if not (info.sample_rate > 0 and 1 <= info.channels <= 255):
            problems.append(f"info returned {info}")
        elif shape is not None and info.channels != shape[0]:
            problems.append(f"info says {info.channels} channels, load gave {shape[0]}")
    except Exception as err:  # noqa: BLE001
        problems += _exception("info", err, path)
    try:
        ad.load_batch([path], on_error="skip")  # type: ignore[attr-defined]
    except Exception as err:  # noqa: BLE001
        problems.append(f"load_batch(on_error='skip') raised {type(err).__name__}: {err}")
    return problems


def _exception(call: str, err: Exception, path: Path) -> list[str]:
    name = type(err).__name__
    if name not in ALLOWED:
        return [f"{call} raised {name}: {err}"]
    if name != "ValueError" and path.name not in str(err):
        return [f"{call}'s {name} does not name the file: {err}"]
    return []


# -- the driver ------------------------------------------------------------------------------


def run(
    inputs: int, seed: int, workers: int, timeout: float, out: Path, chunk: int = 2000, memory_gb: float = MEMORY_GB,
    seed_set: str = "all",
) -> dict:
    """Check `inputs` inputs mutated from the seeds of `seed_set` on
    `workers` subprocesses, each under a `memory_gb` address-space limit;
    returns a summary."""
    out.mkdir(parents=True, exist_ok=True)
    suffix = "" if seed_set == "all" else f"-{seed_set}"
    seed_dir = Path(tempfile.gettempdir()) / f"audiodecode-fuzz-seeds{suffix}"
    seeds = make_seeds(seed_dir, seed_set)
    seed_bytes = [p.read_bytes() for p in seeds]
    pending = [(s, min(s + chunk, inputs)) for s in range(0, inputs, chunk)]
    running: list[dict] = []
    violations: list[dict] = []
    started = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}

    def launch(start: int, stop: int) -> None:
        scratch = Path(tempfile.mkdtemp(prefix="audiodecode-fuzz-"))
        log = scratch / "log"
        with log.open("w") as sink:
            proc = subprocess.Popen(
                [sys.executable, "-m", "fuzz.mutate", "--worker", str(seed_dir), str(seed), str(start), str(stop),
                 str(scratch), str(memory_gb), seed_set], cwd=ROOT, env=env, stdout=sink, stderr=subprocess.DEVNULL,
            )
        running.append({"proc": proc, "stop": stop, "last": start - 1, "since": time.perf_counter(),
                         "scratch": scratch, "log": log})

    def record(index: int, problem: str) -> None:
        violations.append({"index": index, "problem": problem})
        (out / f"input_{seed}_{index}.bin").write_bytes(mutate(seed_bytes, seed, index))
        print(f"VIOLATION input {index}: {problem}", flush=True)

    while pending or running:
        while pending and len(running) < workers:
            launch(*pending.pop(0))
        time.sleep(0.2)
        for job in list(running):
            lines = job["log"].read_text().splitlines()
            marks = [int(line[1:]) for line in lines if line.startswith("@")]
            if marks and marks[-1] != job["last"]:
                job["last"], job["since"] = marks[-1], time.perf_counter()
            proc = job["proc"]
            hung = proc.poll() is None and time.perf_counter() - job["since"] > timeout
            if hung:
                proc.kill()
                proc.wait()
            if proc.poll() is None:
                continue
            lines = job["log"].read_text().splitlines()
            for line in lines:
                if line.startswith("{"):
                    v = json.loads(line)
                    record(v["index"], v["problem"])
            running.remove(job)
            if hung:
                record(job["last"], f"no answer within {timeout:.0f} s (hang)")
            elif proc.returncode != 0:
                record(job["last"], f"the interpreter died (exit status {proc.returncode})")
            if proc.returncode != 0 and job["last"] + 1 < job["stop"]:
                pending.insert(0, (job["last"] + 1, job["stop"]))  # the rest, past the input that broke it
            for leftover in job["scratch"].iterdir():
                leftover.unlink()
            job["scratch"].rmdir()
    seconds = time.perf_counter() - started
    summary = {"inputs": inputs, "seed": seed, "seed_set": seed_set, "memory_gb": memory_gb,
               "violations": len(violations),
               "seconds": round(seconds, 1),
               "inputs_per_s": round(inputs / seconds, 1), "seeds": [p.name for p in seeds]}
    (out / "summary.json").write_text(json.dumps({**summary, "details": violations}, indent=1))
    return summary


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        seed_dir, seed, start, stop, scratch, memory_gb, seed_set = sys.argv[2:9]
        worker(Path(seed_dir), int(seed), int(start), int(stop), Path(scratch), float(memory_gb), seed_set)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=int(os.environ.get("FUZZ_INPUTS", 20000)))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FUZZ_SEED", 0)))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds without progress = a hang")
    parser.add_argument("--memory-gb", type=float, default=MEMORY_GB, help="each worker's address-space limit")
    parser.add_argument("--seeds", choices=sorted(SEED_SETS), default=os.environ.get("FUZZ_SEEDS", "all"),
                        help="the seed files mutated: every format, MP3 (layer III of every MPEG version, and II), "
                        "or RF64")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "audiodecode-fuzz-out")
    args = parser.parse_args()
    summary = run(args.inputs, args.seed, args.workers, args.timeout, args.out, memory_gb=args.memory_gb,
                  seed_set=args.seeds)
    print(json.dumps(summary))
    sys.exit(1 if summary["violations"] else 0)


if __name__ == "__main__":
    main()
