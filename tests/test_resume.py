"""Resuming mid-epoch: the torch loader's `state_dict`/`load_state_dict`
continue bit for bit where an uninterrupted run would be, with fixed-length
clips and duration buckets, on every rank of a distributed job; the JAX
loader's state saved with a model by Orbax (the checkpointing guide's
example, run as written) restores both."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import audiodecode as ad
from synth import encode

torch = pytest.importorskip("torch", reason="the torch extra is not installed")

from audiodecode.torch import AudioDataLoader  # noqa: E402

SR = 16000
N = 14
ROOT = Path(__file__).resolve().parent.parent
FAST = {"num_threads": 1, "prefetch": 2, "cache": None}
COUNT = dict(batch_size=3, clip_seconds=0.3, seed=5, augmentations=[ad.Gain(-6, 6), ad.Mixup(alpha=0.4)], **FAST)
BUCKETS = dict(batch_by="duration", max_batch_seconds=2.4, num_buckets=3, seed=5, text_transform="chars", **FAST)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """14 WAV files of 0.2-0.85 s whose samples tell them apart, with labels
    and transcripts, in a JSONL manifest."""
    root = tmp_path_factory.mktemp("resume")
    rng = np.random.default_rng(1)
    rows = []
    for i in range(N):
        y = rng.uniform(-0.5, 0.5, int((0.2 + 0.05 * i) * SR)).astype(np.float32)
        encode(root / f"u{i:02d}.wav", y, SR, "wavf32")
        rows.append({"audio_filepath": f"u{i:02d}.wav", "label": f"c{i % 3}", "text": f"utterance {i}"})
    path = root / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def host(batch: object) -> list[np.ndarray]:
    """A batch's tensors as numpy arrays (tuple or dict batches alike)."""
    values = batch.values() if isinstance(batch, dict) else batch
    return [t.cpu().numpy() for t in values]


def assert_same(got: list, want: list) -> None:
    assert len(got) == len(want)
    for a, b in zip(got, want):
        for x, y in zip(host(a), host(b)):
            np.testing.assert_array_equal(x, y)


def run(manifest: Path, settings: dict, epochs: int) -> list:
    with AudioDataLoader(manifest, **settings) as it:
        return [batch for _ in range(epochs) for batch in it]


@pytest.mark.parametrize("mode", ["count", "duration"])
@pytest.mark.parametrize("world_size", [1, 2])
def test_torch_resumes_mid_epoch_bit_for_bit(manifest: Path, mode: str, world_size: int) -> None:
    base = COUNT if mode == "count" else BUCKETS
    for rank in range(world_size):
        settings = dict(base, rank=rank, world_size=world_size)
        uninterrupted = run(manifest, settings, epochs=3)
        with AudioDataLoader(manifest, **settings) as it:
            per_epoch = len(it)
            assert per_epoch >= 3
            taken = list(it)  # epoch 0
            epoch1 = iter(it)
            taken += [next(epoch1) for _ in range(2)]
            state = it.state_dict()
        assert state["epoch"] == 1 and state["batch"] == 2
        state = json.loads(json.dumps(state))  # a few integers and named settings
        with AudioDataLoader(manifest, **settings) as it:
            it.load_state_dict(state)
            rest = list(it)  # the rest of epoch 1
            assert len(rest) == per_epoch - 2
            rest += list(it)  # epoch 2
            assert it.state_dict()["epoch"] == 3 and it.state_dict()["batch"] == 0
        assert_same(taken + rest, uninterrupted)


def test_a_state_between_epochs_starts_the_next_epoch(manifest: Path) -> None:
    with AudioDataLoader(manifest, **COUNT) as it:
        assert it.state_dict()["epoch"] == 0 and it.state_dict()["batch"] == 0
        list(it)
        state = it.state_dict()
        want = list(it)
    assert (state["epoch"], state["batch"]) == (1, 0)
    with AudioDataLoader(manifest, **COUNT) as it:
        it.load_state_dict(state)
        assert it.state_dict() == state  # loaded, not iterated yet
        assert_same(list(it), want)


def test_set_epoch_after_a_loaded_state_starts_that_epoch_from_its_start(manifest: Path) -> None:
    with AudioDataLoader(manifest, **COUNT) as it:
        it.set_epoch(2)
        want = list(it)
    with AudioDataLoader(manifest, **COUNT) as it:
        it.load_state_dict({**it.state_dict(), "epoch": 1, "batch": 3})
        it.set_epoch(2)
        assert_same(list(it), want)


def test_bad_states_are_refused(manifest: Path) -> None:
    with AudioDataLoader(manifest, **COUNT) as it:
        state = it.state_dict()
        with pytest.raises(ValueError, match="not an AudioDataLoader state"):
            it.load_state_dict({**state, "sampler": 3})
        with pytest.raises(ValueError, match="past the end of an epoch"):
            it.load_state_dict({**state, "batch": len(it)})
        with pytest.raises(ValueError, match="non-negative integer"):
            it.load_state_dict({**state, "epoch": -1})
    with AudioDataLoader(manifest, **dict(COUNT, rank=1, world_size=2)) as it, \
            pytest.raises(ValueError, match="taken with process=0, this loader has process=1"):
        it.load_state_dict(state)


# -- JAX: the checkpointing guide's example, run as written ------------------------------------


def guide_blocks() -> list[str]:
    text = (ROOT / "docs" / "guide" / "checkpointing.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_the_orbax_example_restores_model_and_loader_bit_for_bit(manifest: Path, tmp_path: Path) -> None:
    setup, loop = guide_blocks()[:2]

    def job(checkpoint_dir: Path, total_steps: int) -> dict:
        """One run of the guide's program (a fresh process) that stops after `total_steps`."""
        namespace = {"train_files": str(manifest), "checkpoint_dir": str(checkpoint_dir)}
        exec(setup, namespace)
        namespace["TOTAL_STEPS"] = total_steps
        exec(loop, namespace)
        return namespace

    first = job(tmp_path / "ckpt", 5)  # stopped after step 5; saved at step 3
    assert "restored" not in first
    resumed = job(tmp_path / "ckpt", 8)  # restarts from step 3, trains 4..8
    assert resumed["step"] == 8 and "restored" in resumed
    straight = job(tmp_path / "straight", 8)
    for key in straight["params"]:
        np.testing.assert_array_equal(np.asarray(resumed["params"][key]), np.asarray(straight["params"][key]))
    # The loader's state was restored too: the model alone, restored into a
    # loader that starts its stream afresh, ends elsewhere.
    model_only = {"train_files": str(manifest), "checkpoint_dir": str(tmp_path / "ckpt")}
    exec(setup, model_only)
    exec(
        "with make_loader() as data, ocp.CheckpointManager(checkpoint_dir) as manager:\n"
        "    args = ocp.args.Composite(params=ocp.args.StandardRestore(params))\n"
        "    params = manager.restore(3, args=args)['params']\n"
        "    for _ in range(5):\n"
        "        params = train_step(params, next(data))\n",
        model_only,
    )
    assert float(model_only["params"]["b"]) == 8.0
    assert not np.array_equal(np.asarray(model_only["params"]["w"]), np.asarray(straight["params"]["w"]))


def test_the_torch_example_resumes_model_and_loader_bit_for_bit(manifest: Path, tmp_path: Path) -> None:
    loop, restore = guide_blocks()[2:4]

    def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> None:
        loss = torch.nn.functional.cross_entropy(model(x.mean(dim=-1)), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def job(checkpoint: str, restart: bool, stop_after: int | None = None) -> dict:
        """The guide's program in a fresh process; `stop_after` steps, then a crash."""
        torch.manual_seed(0)
        model = torch.nn.Linear(20, 3)

        def step_and_maybe_crash(*args: object) -> None:
            train_step(*args)
            namespace["done"] += 1
            if namespace["done"] == stop_after:
                raise KeyboardInterrupt

        namespace = {
            "torch": torch, "model": model, "optimizer": torch.optim.SGD(model.parameters(), lr=0.1),
            "loader": AudioDataLoader(manifest, **dict(COUNT, features="mfcc", n_mfcc=20, n_fft=512)),
            "train_step": step_and_maybe_crash, "step": 0, "done": 0, "epochs": 3, "save_every": 4,
            "checkpoint_path": tmp_path / checkpoint,
        }
        with namespace["loader"]:
            if restart:
                exec(restore, namespace)
            try:
                exec(loop, namespace)
            except KeyboardInterrupt:
                pass
        return namespace

    straight = job("straight.pt", restart=False)
    assert straight["step"] == 3 * 5  # 14 records in batches of 3, 3 epochs
    job("ckpt.pt", restart=False, stop_after=10)  # saved at step 8 (mid-epoch 1), then crashed
    resumed = job("ckpt.pt", restart=True)
    assert resumed["done"] == straight["step"] - 8
    for a, b in zip(resumed["model"].parameters(), straight["model"].parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
