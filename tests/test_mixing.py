"""Batch-level Mixup and CutMix: the mixing itself, its targets, its
seeding, and both loaders yielding mixed targets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import audiodecode as ad
from audiodecode.data.mixing import batch_seed, one_hot, resolve_mixing
from synth import encode

SR = 16000
N = 12
TAG = 64.0


def batch(b: int = 8, n: int = 1000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    audio = rng.standard_normal((b, n)).astype(np.float32)
    labels = np.arange(b) % 3
    length = rng.integers(n // 2, n + 1, b).astype(np.int32)
    return audio, labels, length


class TestMixup:
    def test_rows_and_targets_mix_in_the_drawn_proportion(self) -> None:
        audio, labels, length = batch()
        mix = ad.Mixup(alpha=0.4)
        for seed in range(5):
            drawn = mix.sample_params(seed, len(audio))
            lam, perm = drawn["lam"], drawn["permutation"]
            out, targets, new_length = mix(audio, one_hot(labels, 3), length, seed=seed)
            np.testing.assert_allclose(out, lam * audio + (1 - lam) * audio[perm], atol=1e-6)
            np.testing.assert_allclose(targets, lam * one_hot(labels, 3) + (1 - lam) * one_hot(labels[perm], 3), atol=1e-6)
            np.testing.assert_allclose(targets.sum(axis=1), 1.0, atol=1e-6)
            np.testing.assert_array_equal(new_length, np.maximum(length, length[perm]))
            assert 0.0 <= lam <= 1.0 and sorted(perm) == list(range(len(audio)))

    def test_seeded_input_untouched_and_p(self) -> None:
        audio, labels, length = batch()
        before = audio.copy()
        a = ad.Mixup()(audio, labels, length, seed=3)
        b = ad.Mixup()(audio, labels, length, seed=3)
        c = ad.Mixup()(audio, labels, length, seed=4)
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
        assert not np.array_equal(a[0], c[0])
        np.testing.assert_array_equal(audio, before)
        out, targets, _ = ad.Mixup(p=0.0)(audio, labels, length, seed=3)
        np.testing.assert_array_equal(out, audio)
        np.testing.assert_array_equal(targets, one_hot(labels, 3))

    def test_multi_hot_targets_and_unlabelled_rows(self) -> None:
        audio, _, _ = batch(4)
        multi = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 0], [1, 0, 1]], np.float32)
        _, targets, _ = ad.Mixup()(audio, multi, seed=1)
        lam, perm = (lambda d: (d["lam"], d["permutation"]))(ad.Mixup().sample_params(1, 4))
        np.testing.assert_allclose(targets, lam * multi + (1 - lam) * multi[perm], atol=1e-6)
        assert one_hot(np.array([2, -1]), 3).tolist() == [[0, 0, 1], [0, 0, 0]]


class TestCutMix:
    def test_span_comes_from_the_partner_and_targets_by_share(self) -> None:
        audio, labels, length = batch(6, 2000)
        mix = ad.CutMix()
        for seed in range(5):
            drawn = mix.sample_params(seed, len(audio))
            perm = drawn["permutation"]
            out, targets, new_length = mix(audio, labels, length, seed=seed)
            changed = np.flatnonzero(np.any(out != audio, axis=0))
            span = round((1 - drawn["lam"]) * audio.shape[1])
            if len(changed):
                lo, hi = changed[0], changed[-1] + 1
                assert hi - lo <= span
                np.testing.assert_array_equal(out[:, lo:hi], audio[perm, lo:hi])
            share = span / audio.shape[1]
            expected = (1 - share) * one_hot(labels, 3) + share * one_hot(labels[perm], 3)
            np.testing.assert_allclose(targets, expected, atol=1e-6)
            assert np.all(new_length >= length) and np.all(new_length <= audio.shape[1])


class TestBadInput:
    @pytest.mark.parametrize("make", [lambda: ad.Mixup(alpha=0.0), lambda: ad.CutMix(alpha=-1),
                                      lambda: ad.Mixup(p=1.5), lambda: ad.CutMix(alpha=float("nan"))])
    def test_bad_parameters(self, make) -> None:
        with pytest.raises(ValueError):
            make()

    def test_bad_batches_and_two_mixers(self) -> None:
        with pytest.raises(ValueError, match="batch, samples"):
            ad.Mixup()(np.zeros(10, np.float32), np.zeros(1, int), seed=0)
        with pytest.raises(ValueError, match="targets"):
            ad.Mixup()(np.zeros((3, 10), np.float32), np.zeros(2, int), seed=0)
        with pytest.raises(ValueError, match="at most one"):
            resolve_mixing([ad.Mixup(), ad.Gain(), ad.CutMix()])
        assert resolve_mixing([ad.Gain(), ad.Mixup()])[1] == ad.Mixup()
        with pytest.raises(ValueError):
            ad.Compose([ad.Mixup()])  # batch-level: not a per-record transform

    def test_batch_seed_ignores_row_order(self) -> None:
        seeds = np.array([5, 9, 1234567890123], np.uint64)
        assert batch_seed(seeds) == batch_seed(seeds[::-1]) != batch_seed(seeds[:2])


@pytest.fixture(scope="module")
def tagged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 WAV files of 0.25 s in class folders c0, c1, c2 (tag % 3)."""
    root = tmp_path_factory.mktemp("tagged")
    for tag in range(N):
        (root / f"c{tag % 3}").mkdir(exist_ok=True)
        encode(root / f"c{tag % 3}" / f"t{tag:02d}.wav", np.full(SR // 4, (tag + 1) / TAG, np.float32), SR, "wavf32")
    return root


FAST = {"num_threads": 1, "prefetch": 2, "cache": None}


def test_jax_loader_yields_mixed_targets_reproducibly(tagged: Path) -> None:
    from audiodecode.jax import loader

    def run() -> list[dict[str, np.ndarray]]:
        with loader(tagged, batch_size=4, clip_seconds=0.25, seed=1, num_epochs=1,
                    augmentations=[ad.Gain(-1, 1), ad.Mixup(alpha=1.0)], **FAST) as it:
            return [{k: np.asarray(v) for k, v in b.items()} for b in it]

    first, second = run(), run()
    assert len(first) == 3
    for a, b in zip(first, second):
        assert a.keys() == b.keys() == {"audio", "label", "length", "target"}
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
        assert a["target"].shape == (4, 3) and a["target"].dtype == np.float32
        np.testing.assert_allclose(a["target"].sum(axis=1), 1.0, atol=1e-6)
    # Mixing happened: some row's target is split between two classes.
    assert any(np.any((b["target"] > 0) & (b["target"] < 1)) for b in first)


def test_torch_loader_yields_mixed_targets(tagged: Path) -> None:
    torch = pytest.importorskip("torch")
    from audiodecode.torch import AudioDataLoader

    with AudioDataLoader(tagged, batch_size=4, clip_seconds=0.25, augmentations=[ad.CutMix()], seed=2, **FAST) as it:
        batches = list(it)
    for audio, targets in batches:
        assert targets.dtype == torch.float32 and tuple(targets.shape) == (4, 3)
        np.testing.assert_allclose(targets.sum(dim=1).numpy(), 1.0, atol=1e-6)


def test_a_multi_label_set_mixes_its_multi_hot_vectors(tmp_path: Path) -> None:
    import json

    from audiodecode.data import seeding
    from audiodecode.data.reading import ClipReader, ClipSpec
    from audiodecode.data.records import audio_files

    rows = []
    for i, tags in enumerate([["a"], ["b", "c"], [], ["a", "c"]]):
        encode(tmp_path / f"u{i}.wav", np.full(SR // 4, 0.1 * (i + 1), np.float32), SR, "wavf32")
        rows.append({"path": f"u{i}.wav", "label": tags})
    (tmp_path / "tags.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    files = audio_files(tmp_path / "tags.jsonl")
    spec = ClipSpec(sr=SR, clip_seconds=0.25)
    mix = ad.Mixup(alpha=1.0)
    epochs, indices = [0] * 4, [0, 1, 2, 3]
    batch = ClipReader(files, spec, mix=mix).read(epochs, indices)
    plain = ClipReader(files, spec).read(epochs, indices)
    # The reader seeds the batch from its records' seeds.
    drawn = mix.sample_params(batch_seed(seeding.record_seeds(spec.seed, np.array(epochs), np.array(indices))), 4)
    lam, perm = drawn["lam"], drawn["permutation"]
    multi = plain["labels"]
    assert batch["target"].shape == multi.shape == (4, 3)
    np.testing.assert_allclose(batch["target"], lam * multi + (1 - lam) * multi[perm], atol=1e-6)
    np.testing.assert_allclose(batch["audio"], lam * plain["audio"] + (1 - lam) * plain["audio"][perm], atol=1e-6)
