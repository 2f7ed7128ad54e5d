"""A script that iterates a loader and never closes it ends silently: no
`Exception ignored in ... DatasetIterator.__del__` at interpreter shutdown."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from synth import encode, speech_like

SR = 16000


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    root = tmp_path_factory.mktemp("exit")
    return [str(encode(root / f"c{i}.wav", speech_like(0.6, SR, seed=i), SR, "wav")) for i in range(12)]


def run_script(body: str, paths: list[str]) -> subprocess.CompletedProcess[str]:
    script = f"paths = {paths!r}\n" + textwrap.dedent(body)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=180)


JAX_UNCLOSED = """
    import audiodecode as ad
    from audiodecode.jax import loader

    it = loader(paths, batch_size=4, clip_seconds=0.5, features="mfcc", n_mfcc=13,
                augmentations=[ad.Gain(-6, 6), ad.AddNoise(snr_db=20)], num_threads=1, prefetch=2)
    for _, batch in zip(range(3), it):
        batch["features"].block_until_ready()
    print("ok")
"""

# The loader is still referenced by a frame of the traceback at exit.
JAX_RAISES_MID_EPOCH = """
    from audiodecode.jax import loader

    it = loader(paths, batch_size=4, clip_seconds=0.5, num_threads=1, prefetch=2)
    print("ok")
    for batch in it:
        raise SystemExit(0)
"""

TORCH_UNCLOSED = """
    from audiodecode.torch import AudioDataLoader

    loader = AudioDataLoader(paths, batch_size=4, target_sr=16000, clip_seconds=0.5, num_threads=1, prefetch=2)
    epoch = iter(loader)
    next(epoch)
    print("ok")
"""


@pytest.mark.parametrize("body", [JAX_UNCLOSED, JAX_RAISES_MID_EPOCH, TORCH_UNCLOSED],
                         ids=["jax-unclosed", "jax-exit-mid-epoch", "torch-unclosed"])
def test_script_exits_silently(clips: list[str], body: str) -> None:
    result = run_script(body, clips)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "ok"
    assert result.stderr == "", result.stderr[-3000:]


def test_closed_loader_leaves_the_exit_registry(clips: list[str]) -> None:
    from audiodecode.jax import data_loader

    it = data_loader.loader(clips, batch_size=4, clip_seconds=0.5, num_threads=1, prefetch=1)
    assert it in data_loader._OPEN
    next(it)
    it.close()
    assert it not in data_loader._OPEN
    # Closing again (as the exit hook or `__del__` may) is harmless.
    it.close()
    data_loader._close_open_loaders()
