"""`audiodecode.data.plan`: one plan for both loaders, its fingerprint, and
the argument vocabulary and documentation the two loaders share.

A checkpoint must be refused by a loader whose batches would differ, with a
message naming the setting; the two loaders must take the same arguments
under the same names and yield the same batches.
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import numpy as np
import pytest

import audiodecode as ad
from audiodecode.data.plan import PARAMETERS, mismatch
from audiodecode.jax import loader
from synth import encode

torch = pytest.importorskip("torch", reason="the torch extra is not installed")

from audiodecode.torch import AudioDataLoader  # noqa: E402

SR = 16000
N = 8
FAST = {"num_threads": 1, "prefetch": 2, "cache": None}
BASE = dict(batch_size=2, clip_seconds=0.25, seed=3, **FAST)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 WAV files of 0.25-0.6 s with labels and transcripts, in a JSONL manifest."""
    root = tmp_path_factory.mktemp("plan")
    rows = []
    for i in range(N):
        y = (np.arange(int((0.25 + 0.05 * i) * SR)) % 97 + i).astype(np.float32) / 256
        encode(root / f"u{i}.wav", y, SR, "wavf32")
        rows.append({"audio_filepath": f"u{i}.wav", "label": f"c{i % 2}", "text": f"word {i}"})
    path = root / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def other(manifest: Path) -> Path:
    """The same manifest less its last row: another data set."""
    rows = manifest.read_text().splitlines()[:-1]
    path = manifest.with_name("fewer.jsonl")
    path.write_text("\n".join(rows) + "\n")
    return path


# Each: a setting changed from BASE, and the fingerprint component it must name.
CHANGES = [
    ({"augmentations": [ad.Mixup(alpha=0.4)]}, "mixing"),
    ({"text_transform": "chars"}, "text_transform"),
    ({"features": "mfcc", "n_mfcc": 13, "n_fft": 512}, "features"),
    ({"augmentations": ad.Gain(-6, 6)}, "augmentations"),
    ({"sr": 8000}, "sr"),
    ({"seed": 4}, "seed"),
]


def test_the_fingerprint_is_named_json_able_components_without_secrets(manifest: Path) -> None:
    with AudioDataLoader(manifest, **BASE) as it:
        fingerprint = it.plan.fingerprint
    assert json.loads(json.dumps(fingerprint)) == fingerprint
    assert {"data", "sr", "seed", "augmentations", "mixing", "text_transform", "features", "feature_kwargs",
            "batch_size", "process", "processes"} <= set(fingerprint)
    assert mismatch(fingerprint, fingerprint) is None
    assert mismatch({**fingerprint, "sr": 22050}, fingerprint) == (
        "checkpoint was taken with sr=22050, this loader has sr=16000"
    )
    assert "older or foreign" in mismatch("0123abcd", fingerprint)


@pytest.mark.parametrize(("change", "component"), CHANGES, ids=[c for _, c in CHANGES])
def test_torch_refuses_a_state_taken_under_other_settings_naming_them(
    manifest: Path, change: dict, component: str
) -> None:
    with AudioDataLoader(manifest, **{**BASE, **change}) as it:
        next(iter(it))
        state = it.state_dict()
    with AudioDataLoader(manifest, **BASE) as it, pytest.raises(ValueError, match=f"taken with {component}="):
        it.load_state_dict(state)


@pytest.mark.parametrize(("change", "component"), CHANGES[:3], ids=[c for _, c in CHANGES[:3]])
def test_jax_fixed_length_mode_refuses_other_mixing_text_or_features(
    manifest: Path, change: dict, component: str
) -> None:
    # The fixed-length mode once left mixing and the text transform out.
    with loader(manifest, **{**BASE, **change}) as it:
        state = it.get_state()
    with loader(manifest, **BASE) as it, pytest.raises(ValueError, match=f"other files or settings.*{component}="):
        it.set_state(state)


def test_a_state_of_another_data_set_is_refused_in_both_loaders(manifest: Path, other: Path) -> None:
    with AudioDataLoader(other, **BASE) as it:
        state = it.state_dict()
    with AudioDataLoader(manifest, **BASE) as it, pytest.raises(ValueError, match="taken with data="):
        it.load_state_dict(state)
    with loader(other, **BASE) as it:
        jax_state = it.get_state()
    with loader(manifest, **BASE) as it, pytest.raises(ValueError, match="records=7, this loader has records=8"):
        it.set_state(jax_state)


# -- one vocabulary ---------------------------------------------------------------------------


def test_both_loaders_take_the_shared_arguments_with_the_same_defaults() -> None:
    jax_args = inspect.signature(loader).parameters
    torch_args = inspect.signature(AudioDataLoader.__init__).parameters
    shared = set(jax_args) & set(torch_args)
    assert {"files", "labels", "batch_size", "sr", "features", "augmentations", "clip_seconds", "crop", "shuffle",
            "seed", "on_error", "cache", "num_threads", "prefetch", "batch_by", "max_batch_seconds", "num_buckets",
            "bucket_boundaries", "text_transform", "feature_kwargs"} <= shared
    for name in shared - {"sr"}:  # torch's sr is None, meaning its alias target_sr or 16000
        assert jax_args[name].default == torch_args[name].default, name
    assert jax_args["drop_remainder"].default is torch_args["drop_last"].default is False
    assert "n_mfcc" not in torch_args  # a feature setting, as in the JAX loader


def test_every_argument_is_documented_and_the_shared_ones_alike(manifest: Path) -> None:
    for obj, fn in ((loader, loader), (AudioDataLoader, AudioDataLoader.__init__)):
        doc = obj.__doc__
        for name in inspect.signature(fn).parameters:
            if name != "self":
                assert f"\n    {name}" in doc or f", {name}" in doc or f"**{name}" in doc, (obj, name)
    for name in ("files", "clip_seconds", "augmentations", "seed", "cache", "batch_by", "text_transform"):
        assert PARAMETERS[name] in _dedented_parameters(loader.__doc__)
        assert PARAMETERS[name] in _dedented_parameters(AudioDataLoader.__doc__)


def _dedented_parameters(doc: str) -> str:
    import textwrap

    return textwrap.dedent(doc.split("Parameters\n    ----------\n")[1])


def test_target_sr_is_an_alias_of_sr_and_both_at_once_is_refused(manifest: Path) -> None:
    with AudioDataLoader(manifest, target_sr=8000, **BASE) as a, AudioDataLoader(manifest, sr=8000, **BASE) as b:
        assert a.plan.fingerprint == b.plan.fingerprint and a.plan.spec.sr == 8000
        x, _ = next(iter(a))
        assert x.shape == (2, 2000)
    with pytest.raises(ValueError, match="not both"):
        AudioDataLoader(manifest, sr=16000, target_sr=16000, **BASE)


def test_torch_as_dict_yields_the_jax_loaders_dict(manifest: Path) -> None:
    settings = dict(BASE, features="log_mel", n_fft=512, hop_length=160, n_mels=20, augmentations=[ad.Mixup()])
    with AudioDataLoader(manifest, as_dict=True, **settings) as it:
        got = [{k: v.numpy() for k, v in b.items()} for b in it]
    with loader(manifest, num_epochs=1, **settings) as it:
        want = [{k: np.asarray(v) for k, v in b.items()} for b in it]
    assert len(got) == len(want) == N // 2
    for a, b in zip(got, want):
        assert a.keys() == b.keys() == {"features", "label", "length", "feature_length", "target"}
        np.testing.assert_array_equal(a["label"], b["label"])
        np.testing.assert_array_equal(a["length"], b["length"])
        np.testing.assert_array_equal(a["target"], b["target"])
        np.testing.assert_allclose(a["features"], b["features"], atol=1e-3)


def test_drop_last_and_drop_remainder_mean_the_same(manifest: Path) -> None:
    odd = dict(BASE, batch_size=3)  # 8 records: 3 + 3 + 2
    for drop, sizes in ((False, [3, 3, 2]), (True, [3, 3])):
        with AudioDataLoader(manifest, drop_last=drop, **odd) as it:
            assert [len(y) for _, y in it] == sizes
        with loader(manifest, num_epochs=1, drop_remainder=drop, **odd) as it:
            assert [len(b["label"]) for b in it] == sizes


def test_the_arguments_table_lists_every_argument_of_both_loaders() -> None:
    table = (Path(__file__).resolve().parent.parent / "docs" / "guide" / "loader-arguments.md").read_text()
    rows = {cell for line in table.splitlines() if line.startswith("| `") for cell in
            re.findall(r"`\**(\w+)", line.split("|")[1])}
    for fn in (loader, AudioDataLoader.__init__):
        for name in inspect.signature(fn).parameters:
            if name not in ("self", "target_sr"):
                assert name in rows, name


def test_a_finite_stream_whose_last_batch_cannot_split_over_the_devices_is_refused() -> None:
    from types import SimpleNamespace

    from audiodecode.jax.data_loader import _check_last_batch

    plan = SimpleNamespace(buckets=None, shard=np.arange(10), batch_size=4)  # 10 records: 4 + 4 + 2
    _check_last_batch(plan, num_epochs=1, drop_remainder=False, ways=2)  # 2 rows split over 2 devices
    _check_last_batch(plan, num_epochs=None, drop_remainder=False, ways=4)  # never ends
    _check_last_batch(plan, num_epochs=1, drop_remainder=True, ways=4)  # dropped
    with pytest.raises(ValueError, match="last batch has 2 rows.*4 devices.*drop_remainder=True"):
        _check_last_batch(plan, num_epochs=1, drop_remainder=False, ways=4)


def test_a_feature_setting_left_at_its_default_fingerprints_like_the_default_given(manifest: Path) -> None:
    with loader(manifest, features="mfcc", n_fft=512, **BASE) as a, \
            loader(manifest, features="mfcc", n_fft=512, n_mfcc=20, **BASE) as b:
        assert a.get_state()["pipeline"] == b.get_state()["pipeline"]
        assert a.get_state()["pipeline"]["feature_kwargs"]["n_mels"] == 128
        b.set_state(a.get_state())


def test_torch_feature_settings_are_tried_before_anything_is_read(
    manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from audiodecode.data import plan

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("the host reader was built (files read to tune) before the features were tried")

    monkeypatch.setattr(plan, "host_reader", no_reading)
    with pytest.raises(ValueError, match="n_mfcc"):
        AudioDataLoader(manifest, features="mfcc", n_mfcc=41, n_mels=40)
