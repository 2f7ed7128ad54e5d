"""Every GPU figure the README needs, in one run of under 8 minutes.

On the GPU machine (no network; `bash benchmarks/gpu_bundle.sh` prepared
.whl/ here, and `make build-release` audiodecode/_core.abi3.so), from the
repository root, carrying [".whl", "audiodecode/_core.abi3.so"]:

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD && python3 benchmarks/gpu.py --out $OUT/gpu.json

On a CPU (what the tests run): `python benchmarks/gpu.py --device cpu --quick --out /tmp/gpu.json`.

Parts, each guarded (one failing records its error and the others still run):

(c) torch: `audiodecode.torch.AudioDataLoader(device="cuda")` (pinned host
    batches, `non_blocking` copies, MFCCs on the GPU) feeding a torch CNN,
    against "Before" (a `DataLoader` with `pin_memory=True` over librosa +
    audiomentations + torchaudio MFCC in `num_workers` processes, copied with
    `non_blocking=True`) on the same model. Runs first: its worker
    processes fork before JAX starts threads.
(a) features: MFCC and log-mel of 256 x 10 s at 16 kHz, ours jitted on the
    device against torchaudio on the device and librosa on the CPU (per
    clip, on a subset of rows, scaled to the batch), max |difference| from
    librosa.
(b) JAX: the demo's Flax CNN and a bigger 2-D ResNet (widened until one
    step takes >= 30 ms on this device) trained through
    `audiodecode.jax.loader` with augmentation on and features computed on
    the device: steps/s, the loader's data-stall share and GPU utilization
    sampled by `nvidia-smi --query-gpu=utilization.gpu -lms 100` (10 Hz).

Data: the demo's data set (eight classes of synthetic sounds as MP3, FLAC
and Ogg), generated on the machine with PyAV. Writes everything to `--out`
as JSON and prints a table per part.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

SR = 16000
MFCC = dict(n_mfcc=40, n_fft=512, hop_length=160, n_mels=64)
LOG_MEL = dict(n_fft=512, hop_length=160, n_mels=80)


# -- helpers ----------------------------------------------------------------------------


class GpuSampler:
    """`nvidia-smi` utilization samples at 10 Hz, in a background thread;
    `mean(t0, t1)` averages those taken between two `time.perf_counter()`s.
    Without nvidia-smi (a CPU run) every mean is None."""

    def __init__(self, interval_ms: int = 100) -> None:
        self.samples: list[tuple[float, float]] = []
        self.proc = None
        try:
            self.proc = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-lms", str(interval_ms),
                 "--id=0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        except OSError:
            return
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                self.samples.append((time.perf_counter(), float(line.strip())))
            except ValueError:
                pass

    def mean(self, t0: float, t1: float) -> float | None:
        values = [u for t, u in self.samples if t0 <= t <= t1]
        return statistics.fmean(values) / 100 if values else None

    def close(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait()


def guarded(results: dict, name: str, fn: Callable[[], dict]) -> None:
    """Run one part; its figures, or its error, go into `results[name]`."""
    print(f"\n## {name}", flush=True)
    t0 = time.perf_counter()
    try:
        results[name] = fn()
    except Exception as err:  # noqa: BLE001  (one part's failure must not lose the others)
        traceback.print_exc()
        results[name] = {"error": f"{type(err).__name__}: {err}"}
    results[name]["seconds"] = round(time.perf_counter() - t0, 1)


def table(rows: list[list[object]], headers: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def dataset(root: Path, files_per_class: int) -> Path:
    from demo.data import ensure_dataset

    t0 = time.perf_counter()
    folder = ensure_dataset(root, files_per_class)
    print(f"# data: {folder} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return folder


# -- (a) features --------------------------------------------------------------------------


def features_part(device: str, rows: int, seconds: float, librosa_rows: int, repeat: int) -> dict:
    import jax

    from audiodecode.jax import log_mel, mfcc

    rng = np.random.default_rng(0)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    f0 = rng.uniform(100, 300, (rows, 1))
    y = (0.3 * np.sin(2 * np.pi * f0 * t * (1 + 0.05 * np.sin(2 * np.pi * 3 * t))) * (0.5 + 0.5 * np.sin(np.pi * t))
         + 0.01 * rng.standard_normal((rows, n))).astype(np.float32)
    out: dict = {"batch": [rows, seconds], "config": {"mfcc": MFCC, "log_mel": LOG_MEL}, "tools": {}}

    def timed(fn: Callable[[], object], repeat: int = repeat) -> float:
        fn()
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return 1e3 * statistics.median(times)

    y_dev = jax.device_put(y, jax.devices()[0])
    ours = {"mfcc": lambda: mfcc(y_dev, sr=SR, **MFCC).block_until_ready(),
            "log_mel": lambda: log_mel(y_dev, sr=SR, **LOG_MEL).block_until_ready()}
    results = {"mfcc": {}, "log_mel": {}}
    values = {"mfcc": {}, "log_mel": {}}
    for kind, fn in ours.items():
        results[kind]["audiodecode.jax (jit, on device)"] = timed(fn)
        values[kind]["audiodecode.jax (jit, on device)"] = np.asarray(fn())[:librosa_rows]
    try:
        import torch

        from pipeline import import_torchaudio

        torchaudio, _ = import_torchaudio()
        dev = torch.device(device)
        melkw = dict(center=True, pad_mode="constant", norm="slaney", mel_scale="slaney")
        t_mfcc = torchaudio.transforms.MFCC(sample_rate=SR, n_mfcc=MFCC["n_mfcc"], norm="ortho", melkwargs=dict(
            n_fft=MFCC["n_fft"], hop_length=MFCC["hop_length"], n_mels=MFCC["n_mels"], **melkw)).to(dev)
        mel = torchaudio.transforms.MelSpectrogram(sample_rate=SR, **LOG_MEL, **melkw).to(dev)
        to_db = torchaudio.transforms.AmplitudeToDB(stype="power", top_db=80).to(dev)
        y_t = torch.from_numpy(y).to(dev)
        sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

        def run(transform: Callable) -> Callable[[], object]:
            def call() -> object:
                with torch.inference_mode():
                    r = transform(y_t)
                sync()
                return r
            return call

        name = f"torchaudio on {dev.type}"
        for kind, fn in (("mfcc", run(t_mfcc)), ("log_mel", run(lambda x: to_db(mel(x))))):
            results[kind][name] = timed(fn)
            values[kind][name] = fn()[:librosa_rows].cpu().numpy()
    except Exception as err:  # noqa: BLE001
        out["torchaudio_error"] = f"{type(err).__name__}: {err}"
    try:
        import librosa

        part = y[:librosa_rows]

        def lib_mfcc() -> np.ndarray:
            return np.stack([librosa.feature.mfcc(y=c, sr=SR, **MFCC) for c in part])

        def lib_log_mel() -> np.ndarray:
            return np.stack([librosa.power_to_db(librosa.feature.melspectrogram(y=c, sr=SR, **LOG_MEL), top_db=80)
                             for c in part])

        for kind, fn in (("mfcc", lib_mfcc), ("log_mel", lib_log_mel)):
            # Per clip on `librosa_rows` rows, scaled to the whole batch.
            results[kind]["librosa on the CPU (per clip)"] = timed(fn, 2) * rows / librosa_rows
            values[kind]["reference"] = fn()
    except Exception as err:  # noqa: BLE001
        out["librosa_error"] = f"{type(err).__name__}: {err}"
    for kind in results:
        ref = values[kind].get("reference")
        base = results[kind].get("librosa on the CPU (per clip)")
        for name, ms in results[kind].items():
            v = values[kind].get(name)
            if name.startswith("librosa"):
                v = ref
            out["tools"].setdefault(kind, {})[name] = {
                "ms": ms, "vs_librosa": base / ms if base else None,
                "max_abs_diff": float(np.abs(v - ref).max()) if ref is not None and v is not None else None,
            }
    print(f"# {rows} x {seconds:g} s at {SR} Hz on {device}; librosa timed on {librosa_rows} rows and scaled")
    print(table([[kind, name, f"{r['ms']:.1f}", f"{r['vs_librosa']:.0f}x" if r["vs_librosa"] else "",
                  f"{r['max_abs_diff']:.1e}" if r["max_abs_diff"] is not None else ""]
                 for kind, tools in out["tools"].items() for name, r in tools.items()],
                ["feature", "tool", "ms per batch", "vs librosa", "max |diff| from librosa"]))
    return out


# -- (b) JAX training --------------------------------------------------------------------------


def resnet(width: int, n_classes: int, seed: int = 0):  # noqa: ANN201
    """A 2-D ResNet over (batch, frames, n_mels) log-mels: a stem, four
    stages of two residual blocks (width, 2w, 4w, 8w channels, stride 2
    from the second), global mean pooling, a linear head."""
    import jax
    from flax import nnx

    class Block(nnx.Module):
        def __init__(self, cin: int, cout: int, stride: int, rngs: nnx.Rngs) -> None:
            self.conv1 = nnx.Conv(cin, cout, (3, 3), strides=stride, rngs=rngs)
            self.conv2 = nnx.Conv(cout, cout, (3, 3), rngs=rngs)
            self.norm1, self.norm2 = nnx.LayerNorm(cout, rngs=rngs), nnx.LayerNorm(cout, rngs=rngs)
            self.skip = nnx.Conv(cin, cout, (1, 1), strides=stride, rngs=rngs) if (cin, stride) != (cout, 1) else None

        def __call__(self, x: jax.Array) -> jax.Array:
            h = jax.nn.gelu(self.norm1(self.conv1(x)))
            h = self.norm2(self.conv2(h))
            return jax.nn.gelu(h + (self.skip(x) if self.skip is not None else x))

    class ResNet(nnx.Module):
        def __init__(self, rngs: nnx.Rngs) -> None:
            self.stem = nnx.Conv(1, width, (3, 3), rngs=rngs)
            chans = [width, width, 2 * width, 4 * width, 8 * width]
            self.blocks = nnx.List([
                Block(chans[s + 1] if b else chans[s], chans[s + 1], 2 if (b == 0 and s > 0) else 1, rngs)
                for s in range(4) for b in range(2)
            ])
            self.head = nnx.Linear(8 * width, n_classes, rngs=rngs)

        def __call__(self, x: jax.Array, frames: jax.Array) -> jax.Array:
            x = (x - x.mean(axis=(1, 2), keepdims=True)) / (x.std(axis=(1, 2), keepdims=True) + 1e-5)
            h = jax.nn.gelu(self.stem(x[..., None]))
            for block in self.blocks:
                h = block(h)
            return self.head(h.mean(axis=(1, 2)))

    return ResNet(nnx.Rngs(seed))


def jax_train_step():  # noqa: ANN201
    import optax
    from flax import nnx

    @nnx.jit
    def step(model, optimizer, x, frames, labels):  # noqa: ANN001, ANN202
        def loss_fn(m):  # noqa: ANN001, ANN202
            return optax.softmax_cross_entropy_with_integer_labels(m(x, frames), labels).mean()

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss

    return step


def step_ms(model, step, x, frames, labels, repeat: int = 5) -> float:  # noqa: ANN001
    """Milliseconds per training step on a fixed batch (device-bound: no loader)."""
    import optax
    from flax import nnx

    # The optimizer the training below uses: its compiled step is reused.
    opt = nnx.Optimizer(model, optax.adamw(1e-3), wrt=nnx.Param)
    float(step(model, opt, x, frames, labels))
    t0 = time.perf_counter()
    for _ in range(repeat):
        loss = step(model, opt, x, frames, labels)
    float(loss)
    return 1e3 * (time.perf_counter() - t0) / repeat


def jax_part(folder: Path, device: str, batch_size: int, train_seconds: float, widths: tuple[int, ...],
             sampler: GpuSampler, parallelism: dict) -> dict:
    import jax
    import jax.numpy as jnp
    import optax
    from flax import nnx

    from audiodecode.data.records import audio_files
    from audiodecode.jax.data_loader import loader
    from demo.model import AudioCNN
    from demo.model import train_step as demo_step
    from demo.train import AUGMENTATIONS, CLIP_SECONDS, FEATURES

    files = audio_files(folder)
    n_classes = len(files.classes)
    step = jax_train_step()
    frames = int(CLIP_SECONDS * SR) // LOG_MEL["hop_length"] + 1
    xb = jnp.zeros((batch_size, frames, LOG_MEL["n_mels"]), jnp.float32)
    fb, lb = jnp.full((batch_size,), frames, jnp.int32), jnp.zeros((batch_size,), jnp.int32)
    # Widen the ResNet until a step is device-bound at >= 30 ms (or the widths run out).
    calibration = {}
    for width in widths:
        calibration[width] = step_ms(resnet(width, n_classes), step, xb, fb, lb)
        print(f"# ResNet width {width}: {calibration[width]:.1f} ms per step (fixed batch)", flush=True)
        if calibration[width] >= 30:
            break
    width = max(calibration)
    models = {
        "demo AudioCNN (MFCC)": (lambda: AudioCNN(FEATURES["n_mfcc"], n_classes, rngs=nnx.Rngs(0)), demo_step,
                                 FEATURES, True),
        f"ResNet width {width} (log-mel)": (lambda: resnet(width, n_classes), step,
                                           dict(features="log_mel", layout="features_last", **LOG_MEL), False),
    }
    out: dict = {"device": jax.devices()[0].device_kind, "batch_size": batch_size, "resnet_ms_per_step": calibration,
                 "models": {}}
    for name, (make, train_step, feats, _returns_acc) in models.items():
        model = make()
        opt = nnx.Optimizer(model, optax.adamw(1e-3), wrt=nnx.Param)
        with loader(folder, batch_size=batch_size, sr=SR, clip_seconds=CLIP_SECONDS, augmentations=AUGMENTATIONS,
                    seed=0, **feats, **parallelism) as it:
            warm = 0
            t_warm = time.perf_counter()
            for batch in it:  # compile, fill the buffers
                r = train_step(model, opt, batch["features"], batch["length"], batch["label"])
                warm += 1
                if warm >= 10 and time.perf_counter() - t_warm > min(2.0, train_seconds):
                    break
            jax.block_until_ready(r)
            before = it.stats()
            steps, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < train_seconds:
                for _ in range(10):
                    batch = next(it)
                    r = train_step(model, opt, batch["features"], batch["length"], batch["label"])
                steps += 10
                jax.block_until_ready(r)  # keeps the dispatch queue short, as a logging loop does
            t1 = time.perf_counter()
            after = it.stats()
            wait = after["wait_s"] - before["wait_s"]
            choice = it.tuning.choice
        out["models"][name] = {
            "steps_per_s": steps / (t1 - t0), "samples_per_s": steps * batch_size / (t1 - t0),
            "data_stall_share": wait / (t1 - t0), "gpu_utilization": sampler.mean(t0, t1),
            "loader_stats_stall_share": after["data_stall_share"],
            "parallelism": [choice.num_threads, choice.prefetch], "steps": steps,
            "stage_ms_per_batch": after["stage_ms_per_batch"],
        }
        print(f"# {name}: {steps} steps", flush=True)
    print(table([[name, f"{r['steps_per_s']:.1f}", f"{r['samples_per_s']:.0f}", pct(r["data_stall_share"]),
                  pct(r["gpu_utilization"]), f"num_threads={r['parallelism'][0]}, prefetch={r['parallelism'][1]}"]
                 for name, r in out["models"].items()],
                ["model (audiodecode.jax.loader, aug on, features on device)", "steps/s", "samples/s",
                 "data stall", "GPU utilization (nvidia-smi)", "autotuned"]))
    return out


# -- (c) torch ------------------------------------------------------------------------------------


def torch_model(n_mfcc: int, n_classes: int, width: int):  # noqa: ANN201
    import torch
    from torch import nn

    class CNN(nn.Module):
        """2-D convolutions over (batch, 1, n_mfcc, frames), mean pooled."""

        def __init__(self) -> None:
            super().__init__()
            layers, cin = [], 1
            for cout in (width, width, 2 * width, 2 * width, 4 * width):
                layers += [nn.Conv2d(cin, cout, 3, stride=2 if cin != 1 else 1, padding=1), nn.BatchNorm2d(cout),
                           nn.GELU()]
                cin = cout
            self.body = nn.Sequential(*layers)
            self.head = nn.Linear(cin, n_classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = (x - x.mean(dim=(1, 2), keepdim=True)) / (x.std(dim=(1, 2), keepdim=True) + 1e-5)
            return self.head(self.body(x[:, None]).mean(dim=(2, 3)))

    return CNN()


def torch_part(folder: Path, device: str, batch_size: int, train_seconds: float, width: int, workers: int,
               sampler: GpuSampler, parallelism: dict) -> dict:
    import torch

    from audiodecode.data.records import audio_files
    from audiodecode.torch import AudioDataLoader
    from utilization import CLIP_SECONDS, before_dataset

    files = audio_files(folder)
    paths, labels = [str(p) for p in files.paths], [int(x) for x in files.labels]
    dev = torch.device(device)
    clip_seconds = CLIP_SECONDS  # before_dataset's clip

    def train(batches, n_classes: int) -> dict:  # noqa: ANN001
        model = torch_model(MFCC["n_mfcc"], n_classes, width).to(dev)
        opt = torch.optim.AdamW(model.parameters(), 1e-3)
        loss_fn = torch.nn.CrossEntropyLoss()
        sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
        wait = 0.0

        def one() -> torch.Tensor:
            nonlocal wait
            t = time.perf_counter()
            x, y = next(batches)[:2]
            x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
            wait += time.perf_counter() - t
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            return loss

        t_warm = time.perf_counter()
        for i in range(10_000):
            one()
            if i >= 5 and time.perf_counter() - t_warm > min(2.0, train_seconds):
                break
        sync()
        wait, steps, t0 = 0.0, 0, time.perf_counter()
        while time.perf_counter() - t0 < train_seconds:
            for _ in range(10):
                loss = one()
            steps += 10
            float(loss.detach())
        t1 = time.perf_counter()
        return {"steps_per_s": steps / (t1 - t0), "samples_per_s": steps * batch_size / (t1 - t0),
                "data_stall_share": wait / (t1 - t0), "gpu_utilization": sampler.mean(t0, t1), "steps": steps}

    out: dict = {"device": torch.cuda.get_device_name() if dev.type == "cuda" else "cpu", "batch_size": batch_size,
                 "clip_seconds": clip_seconds, "width": width, "loaders": {}}
    # "Before": worker processes, pinned memory, non_blocking copies.
    before = torch.utils.data.DataLoader(before_dataset(paths, labels, augment=True), batch_size=batch_size,
                                         shuffle=True, num_workers=workers, drop_last=True,
                                         persistent_workers=workers > 0, pin_memory=dev.type == "cuda")

    def forever(dl) -> object:  # noqa: ANN001
        while True:
            yield from dl

    stream = forever(before)
    name = f"Before: DataLoader(num_workers={workers}, pin_memory) + librosa + audiomentations + torchaudio"
    out["loaders"][name] = train(stream, len(files.classes))
    stream.close()
    del before
    import audiodecode as ad

    augment = [ad.TimeStretch(0.9, 1.1, p=0.5), ad.PitchShift(-2, 2, p=0.5), ad.AddNoise(snr_db=(10, 30), p=0.5)]
    with AudioDataLoader(paths, labels, batch_size=batch_size, target_sr=SR, clip_seconds=clip_seconds,
                         features="mfcc", augmentations=augment, device=device, drop_last=True, **MFCC,
                         **parallelism) as dl:
        c = dl.tuning.choice
        name = f"audiodecode.torch.AudioDataLoader(device={device!r}), num_threads={c.num_threads}, prefetch={c.prefetch}"
        out["loaders"][name] = train(forever(dl), len(files.classes))
    base = next(iter(out["loaders"].values()))["steps_per_s"]
    for r in out["loaders"].values():
        r["speedup"] = r["steps_per_s"] / base
    print(table([[name, f"{r['steps_per_s']:.1f}", f"{r['samples_per_s']:.0f}", pct(r["data_stall_share"]),
                  pct(r["gpu_utilization"]), f"{r['speedup']:.1f}x"] for name, r in out["loaders"].items()],
                ["loader (torch CNN, aug on, MFCC)", "steps/s", "samples/s", "data stall",
                 "GPU utilization (nvidia-smi)", "speed-up"]))
    return out


# -- main ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (the CPU test)")
    parser.add_argument("--out", type=Path, required=True, help="where the JSON goes")
    parser.add_argument("--only", choices=("features", "jax", "torch"), action="append",
                        help="run only these parts (repeatable)")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "audiodecode-gpu-data")
    args = parser.parse_args()
    if args.device == "cpu":
        os.environ["JAX_PLATFORMS"] = "cpu"
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    q = args.quick
    parts = set(args.only or ("features", "jax", "torch"))
    results: dict = {"argv": sys.argv[1:], "python": platform.python_version(), "machine": platform.machine(),
                     "cpu_count": os.cpu_count(), "date": time.strftime("%Y-%m-%d")}
    from audiodecode import _core

    results["extension_debug_build"] = bool(_core.DEBUG_BUILD)
    try:
        results["gpu"] = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                                         "--format=csv,noheader"], capture_output=True, text=True,
                                        timeout=20).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        results["gpu"] = None
    print(f"# {results['date']}: {results['gpu'] or 'no GPU'}; {os.cpu_count()} CPUs; Python {results['python']}")
    sampler = GpuSampler()
    # --quick fixes our loaders' parallelism: the test checks that the parts run, not the autotuner.
    parallelism = dict(num_threads=1, prefetch=2) if q else {}
    folder = None
    try:
        if parts & {"jax", "torch"}:
            folder = dataset(args.data, 4 if q else 80)
        # torch first: "Before" forks worker processes, which must happen before JAX starts its threads.
        if "torch" in parts:
            guarded(results, "torch", lambda: torch_part(
                folder, args.device, 8 if q else 64, 1.0 if q else 30.0, 8 if q else 64,
                1 if q else min(16, os.cpu_count() or 1), sampler, parallelism))
        if "features" in parts:
            guarded(results, "features", lambda: features_part(
                args.device, 4 if q else 256, 1.0 if q else 10.0, 2 if q else 16, 2 if q else 10))
        if "jax" in parts:
            guarded(results, "jax", lambda: jax_part(
                folder, args.device, 8 if q else 64, 1.0 if q else 30.0, (4,) if q else (32, 64, 128, 192, 256),
                sampler, parallelism))
    finally:
        sampler.close()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1, default=float) + "\n")
        print(f"\n# results: {args.out}")


if __name__ == "__main__":
    main()
