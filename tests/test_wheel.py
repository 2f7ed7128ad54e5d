"""The release wheel (`make wheel`) installs and runs without a Rust toolchain.

`make test-wheel` builds the wheel and runs this file with
AUDIODECODE_WHEEL naming it (under a plain `pytest` run it is skipped: the
wheel is a release build of minutes, made once by `make test`).

How the fresh environment gets its packages, honestly: the wheel and its
declared dependencies (numpy, av) are installed by pip from PyPI (pip's
cache makes a second run quick), so the wheel's metadata is what is
tested. JAX, Grain and torch are gigabytes; a `.pth` line appends the
project environment's site-packages to the fresh one's `sys.path`, after
its own, so they are found there while numpy, av and audiodecode come from
the fresh environment. The project environment holds no audiodecode (the
build puts the extension into the source tree, `maturin develop
--skip-install`), and the check runs outside the source tree with no
PYTHONPATH and asserts where audiodecode was imported from."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

WHEEL = os.environ.get("AUDIODECODE_WHEEL")
pytestmark = pytest.mark.skipif(not WHEEL, reason="set by `make test-wheel`, which builds the wheel first")

# The versions the project pins (requirements/dev.txt), so the fresh
# environment's numpy is the one JAX and torch were built against.
PINNED = ("numpy==2.4.6", "av==18.1.0")

# Run by the fresh interpreter: decode a file, draw a batch from each loader.
CHECK = textwrap.dedent('''
    import os, shutil, sys, wave
    import numpy as np

    site = sys.argv[1]
    assert shutil.which("cargo") is None and shutil.which("rustc") is None, "a Rust toolchain is on PATH"
    import audiodecode as ad
    from audiodecode import _core
    for module in (ad, _core, np):
        assert module.__file__.startswith(site), f"{module.__name__} imported from {module.__file__}, not {site}"
    assert _core.__file__.endswith(".abi3.so"), _core.__file__
    assert not _core.DEBUG_BUILD

    sr, n = 16000, 8000
    t = np.arange(n) / sr
    for label, freq in (("low", 220.0), ("high", 1760.0)):
        os.makedirs(f"data/{label}")
        for k in range(4):
            pcm = (0.5 * np.sin(2 * np.pi * freq * (k + 1) * t) * 32767).astype("<i2")
            with wave.open(f"data/{label}/{k}.wav", "wb") as w:
                w.setnchannels(1); w.setsampwidth(2); w.setframerate(sr); w.writeframes(pcm.tobytes())
    y, rate = ad.load("data/low/0.wav", sr=8000)
    assert rate == 8000 and y.shape == (4000,) and y.dtype == np.float32, (rate, y.shape, y.dtype)
    assert abs(float(np.abs(y).max()) - 0.5) < 0.01
    print("decoded", y.shape)

    from audiodecode.jax import loader
    with loader("data/", batch_size=4, sr=16000, clip_seconds=0.25, num_epochs=1, features="mfcc") as it:
        batch = next(iter(it))
    assert batch["features"].shape[:2] == (4, 20) and batch["label"].shape == (4,), {k: v.shape for k, v in batch.items()}
    print("jax batch", batch["features"].shape)

    from audiodecode.torch import AudioDataLoader
    with AudioDataLoader("data/", batch_size=4, clip_seconds=0.25, augmentations=[ad.Gain(-6, 6)]) as torch_loader:
        audio, labels = next(iter(torch_loader))
    assert tuple(audio.shape) == (4, 4000) and tuple(labels.shape) == (4,), (audio.shape, labels.shape)
    print("torch batch", tuple(audio.shape))
''')


def test_wheel_is_manylinux2014_abi3() -> None:
    name = Path(WHEEL).name
    assert re.fullmatch(r"audiodecode-[\d.]+-cp311-abi3-manylinux2014_x86_64\.manylinux_2_17_x86_64\.whl", name), name
    auditwheel = Path(sys.executable).with_name("auditwheel")
    if not auditwheel.exists():
        pytest.skip("auditwheel is not installed (requirements/extras.txt)")
    shown = subprocess.run([str(auditwheel), "show", WHEEL], capture_output=True, text=True, check=True).stdout
    # auditwheel wraps its lines; the tag it names is the most compatible one the wheel satisfies.
    assert 'platform tag: "manylinux_2_17_x86_64"' in " ".join(shown.split()), shown


def test_wheel_installs_and_runs_without_cargo(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", WHEEL, *PINNED], check=True, timeout=300)
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # After the fresh site-packages: .pth lines are appended to sys.path.
    (Path(site) / "zz_project_env.pth").write_text(sysconfig.get_path("purelib") + "\n")
    toolchain = {os.path.dirname(p) for p in (shutil.which("cargo"), shutil.which("rustc")) if p}
    path = os.pathsep.join([str(env_dir / "bin"), *(d for d in os.environ["PATH"].split(os.pathsep)
                                                     if d and d not in toolchain and "cargo" not in d)])
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "CARGO_HOME", "RUSTUP_HOME", "CARGO_TARGET_DIR")}
    env["PATH"] = path
    work = tmp_path / "run"
    work.mkdir()
    done = subprocess.run([str(python), "-c", CHECK, site], cwd=work, env=env, capture_output=True, text=True, check=False,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    assert "jax batch" in done.stdout and "torch batch" in done.stdout, done.stdout
