"""Batch-level Mixup and CutMix: the mixing itself, its targets, its
seeding, and both loaders yielding mixed targets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import audiodecode as ad
from audiodecode.augment.mixing import batch_seed, one_hot, resolve_mixing
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


def reference(kind: str, audio: np.ndarray, targets: np.ndarray, length: np.ndarray,
              drawn: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The numpy implementation the core replaced, on the core's draw."""
    lam, perm = np.float32(drawn["lam"]), drawn["permutation"]
    if kind == "Mixup":
        return (lam * audio + (np.float32(1) - lam) * audio[perm],
                lam * targets + (np.float32(1) - lam) * targets[perm], np.maximum(length, length[perm]))
    n = audio.shape[1]
    span = int(round((1.0 - drawn["lam"]) * n))
    start = min(int(drawn["start"] * (n - span + 1)), n - span)
    mixed = audio.copy()
    mixed[:, start:start + span] = audio[perm, start:start + span]
    share = np.float32(span / n)
    partner = length[perm]
    reach = np.minimum(start + span, partner)
    new_length = np.where(start < partner, np.maximum(length, reach), length).astype(np.int32)
    return mixed, (np.float32(1) - share) * targets + share * targets[perm], new_length


class TestCore:
    @pytest.mark.parametrize("mix", [ad.Mixup(0.3), ad.CutMix(0.7)], ids=repr)
    def test_equals_the_numpy_reference_bit_for_bit(self, mix) -> None:
        rng = np.random.default_rng(1)
        audio = rng.standard_normal((9, 777)).astype(np.float32)
        targets = rng.random((9, 5)).astype(np.float32)
        for seed in range(40):
            length = rng.integers(0, 778, 9).astype(np.int32)
            drawn = mix.sample_params(seed, 9)
            got = mix(audio, targets, length, seed=seed)
            for a, b in zip(got, reference(mix.kind, audio, targets, length, drawn)):
                assert a.dtype == b.dtype and a.shape == b.shape
                np.testing.assert_array_equal(a, b)

    @pytest.mark.parametrize("alpha", [0.2, 0.4, 1.0, 3.0])
    def test_lam_follows_beta_alpha_alpha(self, alpha: float) -> None:
        from scipy import stats

        lams = [ad.Mixup(alpha).sample_params(seed, 4)["lam"] for seed in range(2000)]
        assert stats.kstest(lams, stats.beta(alpha, alpha).cdf).pvalue > 1e-3
        # Another alpha's distribution is told apart: the test has power.
        assert stats.kstest(lams, stats.beta(2 * alpha, 2 * alpha).cdf).pvalue < 1e-3

    def test_draws_are_permutations_and_p_is_a_probability(self) -> None:
        mix = ad.CutMix(p=0.25)
        draws = [mix.sample_params(seed, 7) for seed in range(2000)]
        assert all(sorted(d["permutation"].tolist()) == list(range(7)) for d in draws)
        assert all(d["name"] == "CutMix" and 0 <= d["start"] < 1 for d in draws)
        assert abs(np.mean([d["applied"] for d in draws]) - 0.25) < 0.04

    @pytest.mark.parametrize("alpha", [1e-3, 1e3])
    def test_extreme_alphas_stay_finite(self, alpha: float) -> None:
        audio, labels, length = batch()
        for seed in range(50):
            assert 0.0 <= ad.Mixup(alpha).sample_params(seed, 8)["lam"] <= 1.0
            for mix in (ad.Mixup(alpha), ad.CutMix(alpha)):
                out, targets, _ = mix(audio, labels, length, seed=seed)
                assert np.all(np.isfinite(out)) and np.all(np.isfinite(targets))

    @pytest.mark.parametrize("mix", [ad.Mixup(), ad.CutMix()], ids=repr)
    def test_bit_identical_on_one_and_two_threads_and_inputs_untouched(self, mix) -> None:
        audio, labels, length = batch(17, 5000)
        targets = one_hot(labels, 3)
        before = audio.copy(), targets.copy(), length.copy()
        for seed in range(6):
            one = mix(audio, targets, length, seed=seed, num_threads=1)
            two = mix(audio, targets, length, seed=seed, num_threads=2)
            for a, b in zip(one, two):
                np.testing.assert_array_equal(a, b)
        for x, y in zip((audio, targets, length), before):
            np.testing.assert_array_equal(x, y)

    def test_float64_and_non_contiguous_input_are_converted(self) -> None:
        audio, labels, length = batch(6, 400)
        wide = np.asfortranarray(audio.astype(np.float64))
        strided = np.repeat(audio, 2, axis=1)[:, ::2]
        assert not strided.flags.c_contiguous
        for mix in (ad.Mixup(), ad.CutMix()):
            expected = mix(audio, labels, length, seed=3)
            for other in (wide, strided):
                for a, b in zip(mix(other, labels, length.astype(np.int64), seed=3), expected):
                    np.testing.assert_array_equal(a, b)

    def test_the_core_refuses_bad_arguments(self) -> None:
        from audiodecode import _core

        audio, targets, length = np.zeros((3, 10), np.float32), np.zeros((3, 2), np.float32), np.full(3, 10, np.int32)
        assert _core.mix_batch("Mixup", audio, targets, length, 0, 0.4, 1.0)[0].shape == (3, 10)
        bad = [("Mixup", audio, targets, length, 0, 0.0, 1.0),              # alpha
               ("CutMix", audio, targets, length, 0, float("inf"), 1.0),
               ("Mixup", audio, targets, length, 0, 0.4, 1.5),              # p
               ("Mixup", audio, targets, length, 0, 0.4, float("nan")),
               ("Blend", audio, targets, length, 0, 0.4, 1.0),              # kind
               ("Mixup", audio[0], targets, length, 0, 0.4, 1.0),           # shapes
               ("Mixup", audio, targets[:2], length, 0, 0.4, 1.0),
               ("Mixup", audio, targets, length[:2], 0, 0.4, 1.0),
               ("Mixup", audio, targets[:, 0], length, 0, 0.4, 1.0),
               ("CutMix", audio, targets, length + 1, 0, 0.4, 1.0),         # lengths beyond n
               ("CutMix", audio, targets, length - 11, 0, 0.4, 1.0),
               ("Mixup", audio[:, :0], targets, length * 0, 0, 0.4, 1.0)]   # no samples
        for args in bad:
            with pytest.raises(ValueError):
                _core.mix_batch(*args)
        with pytest.raises(ValueError):
            _core.mix_params("Mixup", 0, -1.0, 1.0, 4)
        with pytest.raises(ValueError):
            _core.mix_batch("Mixup", audio, targets, length, 0, 0.4, 1.0, num_threads=0)


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
    for _audio, targets in batches:
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
