"""Duration bucketing: the bucket model, the seeded schedule (reproducible,
resumable, consistent across processes) and the JAX loader's
`batch_by="duration"` (static shapes, masks, tokens, feature lengths)."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
import pytest

from audiodecode.data.buckets import BucketSchedule, DurationBuckets, padding_share, shard_local
from audiodecode.filterbanks import frame_count
from audiodecode.jax import loader, spec_augment
from synth import encode, speech_like

SR = 16000
WORDS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def durations(n: int = 200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.gamma(4.0, 3.0, n), 0.5, 35.0)


# -- the bucket model ----------------------------------------------------------------------


def test_buckets_cover_every_record_and_size_rows_by_seconds() -> None:
    d = durations()
    buckets = DurationBuckets.estimate(d, max_batch_seconds=120, num_buckets=6)
    assert len(buckets.boundaries) == 6 and buckets.boundaries[-1] == d.max()
    assert (buckets.of(d) < 6).all()
    for edge, rows in zip(buckets.boundaries, buckets.rows):
        assert rows == max(1, int(120 // edge))  # short records make big batches


def test_estimated_boundaries_waste_less_padding_than_equal_counts_and_are_optimal() -> None:
    d = durations(2000)
    ours = DurationBuckets.estimate(d, max_batch_seconds=200, num_buckets=6)
    quantiles = tuple(np.quantile(d, np.arange(1, 7) / 6, method="higher"))
    equal_counts = DurationBuckets.estimate(d, max_batch_seconds=200, boundaries=quantiles)
    assert padding_share(ours, d, SR) < padding_share(equal_counts, d, SR) - 0.03
    assert padding_share(DurationBuckets.estimate(d, max_batch_seconds=200, num_buckets=12), d, SR) < 0.10
    # Two buckets: the split equals a brute-force search over the candidates.
    two = DurationBuckets.estimate(d, max_batch_seconds=200, num_buckets=2)
    candidates = np.unique(np.quantile(d, np.linspace(0, 1, 256), method="higher"))[:-1]
    waste = [c * (d <= c).sum() - d[d <= c].sum() + d.max() * (d > c).sum() - d[d > c].sum() for c in candidates]
    assert two.boundaries[0] == candidates[int(np.argmin(waste))]


def test_explicit_boundaries_refuse_longer_records_naming_one() -> None:
    d = np.array([1.0, 2.0, 9.5])
    with pytest.raises(ValueError, match=r"1 records are longer than the last bucket boundary 5.0 s \(record 2"):
        DurationBuckets.estimate(d, max_batch_seconds=20, boundaries=[2.0, 5.0])
    with pytest.raises(ValueError, match="cannot hold one record"):
        DurationBuckets.estimate(d, max_batch_seconds=5, num_buckets=2)
    with pytest.raises(ValueError, match="strictly increasing"):
        DurationBuckets((2.0, 1.0), (1, 1))


def test_rows_are_a_multiple_of_the_processes() -> None:
    buckets = DurationBuckets.estimate(durations(), max_batch_seconds=100, num_buckets=4, row_multiple=4)
    assert all(r % 4 == 0 and r >= 4 for r in buckets.rows)


# -- the schedule --------------------------------------------------------------------------


def schedule(d: np.ndarray, **kwargs: object) -> BucketSchedule:
    buckets = DurationBuckets.estimate(d, max_batch_seconds=60, num_buckets=5, row_multiple=2)
    return BucketSchedule(buckets, d, **{"seed": 3, "num_epochs": 3, **kwargs})  # type: ignore[arg-type]


def test_each_epoch_visits_every_record_once_in_a_new_seeded_order() -> None:
    d = durations()
    s = schedule(d)
    epochs = []
    for e in range(3):
        seen = np.concatenate([s.batch(b)[1] for b in range(e * s.batches_per_epoch, (e + 1) * s.batches_per_epoch)])
        assert sorted(seen) == list(range(len(d)))
        epochs.append(seen)
    assert not np.array_equal(epochs[0], epochs[1])
    again = schedule(d)
    assert all(np.array_equal(s.batch(b)[1], again.batch(b)[1]) for b in range(len(s)))
    other_seed = schedule(d, seed=4)
    assert not all(np.array_equal(s.batch(b)[1], other_seed.batch(b)[1]) for b in range(s.batches_per_epoch))


def test_every_batch_holds_one_bucket_and_fits_its_rows() -> None:
    d = durations()
    s = schedule(d)
    for b in range(len(s)):
        _, records, bucket = s.batch(b)
        assert len(records) <= s.buckets.rows[bucket]
        assert (s.buckets.of(d[records]) == bucket).all()


def test_processes_get_the_same_bucket_at_every_step_and_split_the_records() -> None:
    d = durations()
    one, two = schedule(d, process=0, processes=2), schedule(d, process=1, processes=2)
    assert one.batches_per_epoch == two.batches_per_epoch
    covered = []
    for b in range(one.batches_per_epoch):
        (_, mine, k0), (_, theirs, k1) = one.batch(b), two.batch(b)
        assert k0 == k1
        assert not set(mine) & set(theirs)
        covered += [*mine, *theirs]
    assert sorted(covered) == list(range(len(d)))


def test_drop_remainder_keeps_only_full_batches() -> None:
    d = durations()
    s = schedule(d, drop_remainder=True)
    assert all(len(s.batch(b)[1]) == s.buckets.rows[s.batch(b)[2]] for b in range(s.batches_per_epoch))


def test_shard_local_batches_read_one_shard_each_and_cover_every_record() -> None:
    d = durations(600)
    # Shards of one duration range each, as prepare(bucket_by_duration=True) writes them.
    containers = np.searchsorted(np.quantile(d, [0.25, 0.5, 0.75]), d) * 3 + np.arange(len(d)) % 3
    buckets = DurationBuckets.estimate(d, max_batch_seconds=120, num_buckets=4)
    assert shard_local(buckets, d, containers) is containers
    for drop in (False, True):
        s = BucketSchedule(buckets, d, seed=3, num_epochs=2, drop_remainder=drop, containers=containers)
        mixed = BucketSchedule(buckets, d, seed=3, num_epochs=2, drop_remainder=drop)
        seen = []
        for b in range(s.batches_per_epoch):
            _, records, bucket = s.batch(b)
            assert len(np.unique(containers[records])) == 1 and (buckets.of(d[records]) == bucket).all()
            seen += list(records)
        if not drop:
            assert sorted(seen) == list(range(len(d)))
            # Without shards, a batch mixes them.
            assert any(len(np.unique(containers[mixed.batch(b)[1]])) > 1 for b in range(mixed.batches_per_epoch))
        assert s.batches_per_epoch == len(s.epoch(1))
        # Each shard ends in a partial batch: kept (more batches) or dropped (fewer).
        assert (mixed.batches_per_epoch > s.batches_per_epoch) if drop else (mixed.batches_per_epoch < s.batches_per_epoch)
    # Shards of every duration would end in a partial batch per bucket each: mixed instead.
    assert shard_local(buckets, d, np.arange(len(d)) % 40) is None


# -- the JAX loader ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 utterances of 0.4-3 s with transcripts, as FLAC, and a NeMo manifest."""
    root = tmp_path_factory.mktemp("speech")
    rng = np.random.default_rng(7)
    rows = []
    for i in range(24):
        seconds = float(rng.uniform(0.4, 3.0))
        path = encode(root / f"u{i:02d}.flac", speech_like(seconds, SR, f0_hz=110 + 5 * i, seed=i), SR, "flac")
        text = " ".join(rng.choice(WORDS, size=1 + int(seconds * 2)))
        rows.append({"audio_filepath": path.name, "text": text})
    manifest = root / "train.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return manifest


def bucketed(manifest: Path, **kwargs: object):  # noqa: ANN201
    settings = dict(batch_by="duration", max_batch_seconds=8.0, num_buckets=3, sr=SR, seed=1, num_epochs=3,
                    cache=None, num_threads=1, prefetch=2, text_transform="chars")
    return loader(manifest, **{**settings, **kwargs})  # type: ignore[arg-type]


def test_loader_batches_have_at_most_num_buckets_shapes_with_masks_and_tokens(speech: Path) -> None:
    with bucketed(speech) as it:
        batches = list(it)
        shapes = {b["audio"].shape for b in batches}
        assert 1 < len(shapes) <= 3
        widths = {w for w in it.buckets.widths(SR)}
        assert {s[1] for s in shapes} <= widths
        assert len({b["tokens"].shape[1] for b in batches}) == 1  # one token width
        rows = 0
        for b in batches:
            mask, length, tokens, token_length = (np.asarray(b[k]) for k in ("mask", "length", "tokens",
                                                                                "token_length"))
            assert (length[~mask] == 0).all() and (token_length[~mask] == 0).all()
            assert (length[mask] > 0).all() and (token_length[mask] > 0).all()
            texts = it.transcripts(b)
            assert len(texts) == mask.sum()
            for row, text in zip(np.flatnonzero(mask), texts):
                ids = tokens[row, : token_length[row]]
                assert it.text_transform.decode(ids) == text
            rows += int(mask.sum())
        assert rows == 3 * 24
        stats = it.stats()
        assert set(stats["batch_shapes"]) == {s for s in shapes}
        assert 0 <= stats["padding_share"] < 0.6


def test_loader_resumes_exactly_and_repeats_with_the_seed(speech: Path) -> None:
    with bucketed(speech) as it:
        first = [next(it) for _ in range(3)]
        state = it.get_state()
        rest = [np.asarray(next(it)["audio"]) for _ in range(3)]
    with bucketed(speech) as again:
        replay = [next(again) for _ in range(3)]
        for a, b in zip(first, replay):
            np.testing.assert_array_equal(np.asarray(a["audio"]), np.asarray(b["audio"]))
    with bucketed(speech) as resumed:
        resumed.set_state(state)
        for want in rest:
            np.testing.assert_array_equal(np.asarray(next(resumed)["audio"]), want)


def test_feature_length_follows_the_feature_framing_and_spec_augment_respects_it(speech: Path) -> None:
    with bucketed(speech, features="log_mel", n_fft=400, hop_length=160, n_mels=40, num_epochs=1) as it:
        b = next(it)
        with bucketed(speech, num_epochs=1) as raw:
            audio = next(raw)
        lengths = np.asarray(audio["length"])
        np.testing.assert_array_equal(np.asarray(b["feature_length"]),
                                      [frame_count(int(n), 400, 160, True) if n else 0 for n in lengths])
        feats = b["features"]
        frames = np.asarray(b["feature_length"])
        masked = spec_augment(jax.random.key(0), feats, freq_mask_param=0, time_mask_param=10_000,
                              num_freq_masks=0, num_time_masks=4, mask_value=-1e9, lengths=frames)
        changed = np.asarray(masked != feats).any(axis=-2)  # (batch, frames)
        for row, n in enumerate(frames):
            assert not changed[row, n:].any()  # never past the valid frames


def test_torch_loader_gives_the_same_bucketed_batches_as_dicts(speech: Path) -> None:
    torch = pytest.importorskip("torch")
    from audiodecode.torch import AudioDataLoader

    with AudioDataLoader(speech, target_sr=SR, batch_by="duration", max_batch_seconds=8.0, num_buckets=3, seed=1,
                         cache=None, num_threads=1, prefetch=2, text_transform="chars") as torch_loader, \
            bucketed(speech, num_epochs=1) as jax_loader:
        assert len(torch_loader) == jax_loader.steps_per_epoch
        for ours, theirs in zip(torch_loader, jax_loader):
            assert isinstance(ours["audio"], torch.Tensor)
            for key in ("audio", "mask", "tokens", "token_length", "index"):
                np.testing.assert_array_equal(ours[key].numpy(), np.asarray(theirs[key]))
            assert len(torch_loader.transcripts(ours)) == int(ours["mask"].sum())


@pytest.mark.slow
def test_two_jax_processes_get_the_same_bucket_at_every_step(speech: Path, tmp_path: Path) -> None:
    # Two real JAX processes (jax.distributed on localhost): at every step
    # both hold rows of the same bucket (the global batch has one shape),
    # their rows are disjoint, and together they read every record once
    # per epoch.
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = Path(__file__).parent.parent
    env = {**__import__("os").environ, "PYTHONPATH": f"{root}:{root / 'tests'}"}
    procs = [
        subprocess.Popen([sys.executable, str(root / "tests" / "bucket_process.py"), str(i), str(port), str(speech),
                          str(tmp_path / f"p{i}.json")], env=env, stderr=subprocess.PIPE, text=True)
        for i in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
    runs = [json.loads((tmp_path / f"p{i}.json").read_text()) for i in range(2)]
    assert [r["process"] for r in runs] == [0, 1] and runs[0]["processes"] == 2
    a, b = runs[0]["steps"], runs[1]["steps"]
    assert len(a) == len(b) > 0
    seen = []
    for x, y in zip(a, b):
        assert x["shape"] == y["shape"]
        mine, theirs = {i for i in x["index"] if i >= 0}, {i for i in y["index"] if i >= 0}
        assert not mine & theirs
        seen += [*mine, *theirs]
    assert sorted(seen) == sorted(list(range(24)) * 2)
