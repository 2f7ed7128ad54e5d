"""The training loops of docs/getting-started.md run as written and learn;
the README shows the same blocks.

Each block is read from the page (the fenced block after its
`<!-- getting-started: NAME -->` marker), so the page cannot drift from
what is tested, and run in a fresh interpreter whose working directory
holds the `data/` folder the examples name: two classes of generated audio
a linear model separates."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import synth

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "getting-started.md"
README = ROOT / "README.md"
FILES_PER_CLASS = 24
SR = 22050
# Both loops print their last batch's loss first; chance is ln(2) for two classes.
LOSS = re.compile(r"^loss ([\d.]+)", re.MULTILINE)


def snippet(name: str, page: Path = PAGE) -> str:
    """The fenced Python block right after the page's `<!-- getting-started: name -->`."""
    match = re.search(rf"<!-- getting-started: {name} -->\s*```python\n(.*?)^```", page.read_text(), re.DOTALL | re.MULTILINE)
    assert match, f"{page.name} has no block marked {name!r}"
    return match.group(1)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with data/tone/*.wav and data/noise/*.flac, 1 s each."""
    root = tmp_path_factory.mktemp("getting-started")
    for k in range(FILES_PER_CLASS):
        tone, noise = root / "data" / "tone", root / "data" / "noise"
        tone.mkdir(parents=True, exist_ok=True)
        noise.mkdir(parents=True, exist_ok=True)
        synth.make(tone, f"t{k:02d}", synth.sine(300.0 + 40 * k, 1.0, SR), SR, "wav")
        synth.make(noise, f"n{k:02d}", synth.noise(1.0, SR, seed=k), SR, "flac")
    return root


def run_snippet(name: str, cwd: Path) -> float:
    """Run the block in a fresh interpreter in `cwd`; the loss it printed."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    done = subprocess.run([sys.executable, "-c", snippet(name)], cwd=cwd, env=env, capture_output=True, text=True, check=False,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    found = LOSS.search(done.stdout)
    assert found, done.stdout
    return float(found.group(1))


def test_snippets_are_found_and_shared_with_the_readme() -> None:
    for name in ("jax", "torch"):
        code = snippet(name)
        compile(code, f"getting-started:{name}", "exec")
        assert len(code.splitlines()) <= 30, "the page promises a short loop"
        assert snippet(name, README) == code, f"README.md's {name} block differs from {PAGE.name}'s"


@pytest.mark.slow
def test_jax_loop_trains(workdir: Path) -> None:
    pytest.importorskip("grain")
    loss = run_snippet("jax", workdir)
    assert math.isfinite(loss) and loss < np.log(2), loss


@pytest.mark.slow
@pytest.mark.torch
def test_torch_loop_trains(workdir: Path) -> None:
    pytest.importorskip("torch")
    loss = run_snippet("torch", workdir)
    assert math.isfinite(loss) and loss < np.log(2), loss


def test_readme_is_short_and_keeps_the_two_commands() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 250, "the README stays a front page; the rest belongs in docs/"
    for line in ("make demo   # sets everything up, then runs the main job",
                 "make test   # sets everything up, then runs every test (Rust and Python)"):
        assert line in text.splitlines(), line
