"""Duration bucketing (audiodecode.data.buckets) and collation (collate.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import librosa
import numpy as np
import pytest

from audiodecode.data import buckets, collate


def durations(n: int = 300, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # LibriSpeech-like: most 10-16 s, a tail down to 1 s and up to 35 s.
    d = np.concatenate([rng.uniform(10, 16, int(n * 0.7)), rng.uniform(1, 35, n - int(n * 0.7))])
    return rng.permutation(d)


def make(d: np.ndarray, **kw) -> buckets.BucketSchedule:
    args = dict(max_batch_seconds=120.0, num_buckets=6, seed=3, num_epochs=3)
    args.update(kw)
    return buckets.BucketSchedule(np.arange(len(d)) * 10 + 7, d, **args)


def steps(s: buckets.BucketSchedule) -> list[tuple[int, int, tuple[int, ...]]]:
    return [(b.epoch, b.bucket, tuple(b.indices.tolist())) for b in s]


def test_estimated_boundaries_are_equal_count_quantiles():
    d = durations()
    bounds = buckets.estimate_boundaries(d, 6)
    assert len(bounds) == 6 and np.all(np.diff(bounds) > 0)
    assert bounds[-1] == d.max()
    counts = np.bincount(buckets.bucket_of(d, bounds), minlength=6)
    assert counts.min() >= len(d) // 6 - 1 and counts.max() <= len(d) // 6 + 1
    # Equal durations collapse to fewer buckets rather than empty ones.
    assert buckets.estimate_boundaries(np.full(10, 2.0), 4).tolist() == [2.0]


def test_every_record_once_per_epoch_in_its_bucket_with_rows_from_seconds():
    d = durations()
    s = make(d)
    by_index = dict(zip(s.indices.tolist(), d.tolist()))
    assert s.rows.tolist() == [max(1, int(120.0 // b)) for b in s.boundaries]
    assert s.rows[0] > s.rows[-1]  # short utterances make big batches
    seen: dict[int, list[int]] = {}
    for b in s:
        assert 1 <= len(b.indices) <= b.rows
        assert sum(by_index[i] for i in b.indices.tolist()) <= 120.0 or b.rows == 1
        for i in b.indices.tolist():
            assert by_index[i] <= b.seconds
            lo = s.boundaries[b.bucket - 1] if b.bucket else 0.0
            assert by_index[i] > lo
            seen.setdefault(b.epoch, []).append(i)
    assert sorted(seen) == [0, 1, 2]
    for got in seen.values():
        assert sorted(got) == sorted(s.indices.tolist())


def test_shape_bound_and_padding_share():
    d = durations(600)
    s = make(d, num_epochs=3)
    sr = 100
    by_index = dict(zip(s.indices.tolist(), d.tolist()))
    shapes, padded, real = set(), 0, 0
    for b in s:
        shape = (b.rows, buckets.bucket_samples(b.seconds, sr))
        shapes.add(shape)
        padded += shape[0] * shape[1]
        real += sum(round(by_index[i] * sr) for i in b.indices.tolist())
    assert len(shapes) <= s.num_buckets
    assert shapes <= set(s.shapes(sr))
    # Random fixed-size batches padded to their longest clip waste far more.
    rng = np.random.default_rng(0)
    order = rng.permutation(d)
    rnd = sum(len(c) * c.max() for c in np.array_split(order, len(order) // 8))
    assert 1 - real / padded < 1 - d.sum() / rnd


def test_seeded_reproducible_and_epochs_differ():
    d = durations()
    a, b = steps(make(d)), steps(make(d))
    assert a == b
    c = steps(make(d, seed=4))
    assert a != c
    e0 = [x[1:] for x in a if x[0] == 0]
    e1 = [x[1:] for x in a if x[0] == 1]
    assert e0 != e1
    unshuffled = [b.bucket for b in make(d, shuffle=False, num_epochs=1)]
    assert unshuffled == sorted(unshuffled)


@pytest.mark.parametrize("stop", [0, 1, 17, 40])
def test_exact_resume(stop):
    d = durations()
    full = steps(make(d))
    s = make(d)
    for _ in range(stop):
        next(s)
    state = json.loads(json.dumps(s.get_state()))
    resumed = make(d)
    resumed.set_state(state)
    assert steps(resumed) == full[stop:]
    with pytest.raises(ValueError, match="seed"):
        make(d, seed=99).set_state(state)
    with pytest.raises(ValueError, match="unknown keys"):
        make(d).set_state({**state, "extra": 1})


def test_processes_get_the_same_bucket_at_every_step_and_disjoint_rows():
    d = durations()
    parts = [steps(make(d, process_index=p, process_count=3)) for p in range(3)]
    assert len({len(p) for p in parts}) == 1
    for rows in zip(*parts):
        assert len({(e, k) for e, k, _ in rows}) == 1
        ids = [i for _, _, idx in rows for i in idx]
        assert len(ids) == len(set(ids))
    epoch0 = sorted(i for p in parts for e, _, idx in p if e == 0 for i in idx)
    assert epoch0 == sorted(make(d).indices.tolist())


_CHILD = """
import json, sys
import numpy as np
from audiodecode.data import buckets
p, n = int(sys.argv[1]), int(sys.argv[2])
d = np.array(json.loads(sys.argv[3]))
s = buckets.BucketSchedule(np.arange(len(d)), d, max_batch_seconds=60.0, num_buckets=4, seed=11,
                           num_epochs=2, process_index=p, process_count=n)
print(json.dumps([[b.epoch, b.bucket, b.rows, b.indices.tolist()] for b in s]))
"""


def test_two_separate_processes_agree_on_buckets():
    # Separate interpreters (fresh hash seeds, no shared state) compute the
    # same plan from (seed, epoch) alone.
    d = durations(120).round(3).tolist()
    outs = [
        json.loads(subprocess.run([sys.executable, "-c", _CHILD, str(p), "2", json.dumps(d)], check=True,
                                  capture_output=True, text=True, env={"PYTHONHASHSEED": str(p + 1), **_env()}).stdout)
        for p in range(2)
    ]
    assert len(outs[0]) == len(outs[1])
    for a, b in zip(*outs):
        assert a[:3] == b[:3]
        assert not set(a[3]) & set(b[3])


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}


def test_too_long_rejected_or_cut():
    d = np.array([1.0, 2.0, 3.0, 40.0])
    with pytest.raises(ValueError, match=r"longer than the largest bucket \(30 s\).*record 3 \(40 s\).*too_long='cut'"):
        buckets.BucketSchedule(np.arange(4), d, max_batch_seconds=60, bucket_boundaries=[10, 30], num_epochs=1)
    s = buckets.BucketSchedule(np.arange(4), d, max_batch_seconds=60, bucket_boundaries=[10, 30], num_epochs=1,
                               too_long="cut", shuffle=False)
    got = {i: b.bucket for b in s for i in b.indices.tolist()}
    assert got == {0: 0, 1: 0, 2: 0, 3: 1}
    # Cut: the collated row keeps the bucket's first samples only.
    audio, lengths, _ = collate.pad_rows([np.ones(400, np.float32)], buckets.bucket_samples(30, 10))
    assert audio.shape == (1, 300) and lengths.tolist() == [300]


@pytest.mark.parametrize(
    "kw, msg",
    [
        (dict(max_batch_seconds=0), "max_batch_seconds"),
        (dict(bucket_boundaries=[5, 3], num_buckets=None), "strictly increasing"),
        (dict(bucket_boundaries=[5, 40], num_buckets=2), "not both"),
        (dict(too_long="drop"), "too_long"),
        (dict(process_index=2, process_count=2), "process_index"),
    ],
)
def test_bad_arguments(kw, msg):
    with pytest.raises(ValueError, match=msg):
        make(durations(), **kw)


def test_missing_duration_is_named():
    d = durations(20)
    d[5] = np.nan
    with pytest.raises(ValueError, match="record 57 has no valid duration"):
        make(d)


def test_drop_remainder_gives_full_batches_only():
    d = durations()
    s = make(d, drop_remainder=True, num_epochs=1)
    assert all(len(b.indices) == b.rows for b in s)


def test_pad_rows_lengths_and_mask():
    ys = [np.arange(1, 4, dtype=np.float32), np.arange(1, 8, dtype=np.float32)]
    audio, lengths, mask = collate.pad_rows(ys, 5, rows=4)
    assert audio.shape == (4, 5) and audio.dtype == np.float32
    assert audio[0].tolist() == [1, 2, 3, 0, 0] and audio[1].tolist() == [1, 2, 3, 4, 5]
    assert not audio[2:].any()
    assert lengths.tolist() == [3, 5, 0, 0] and mask.tolist() == [True, True, False, False]
    with pytest.raises(ValueError, match="do not fit"):
        collate.pad_rows(ys, 5, rows=1)


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("n", [0, 100, 511, 512, 513, 1600, 16000])
def test_feature_lengths_match_librosa_frames(n, center):
    got = collate.feature_lengths(np.array([n]), n_fft=512, hop_length=160, center=center)[0]
    if n == 0 or (not center and n < 512):
        assert got == 0
    else:
        y = np.random.default_rng(n).standard_normal(n).astype(np.float32)
        ref = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=512, hop_length=160, center=center).shape[-1]
        assert got == ref


def test_feature_lengths_match_jax_features_of_the_unpadded_row():
    from audiodecode.jax import features

    y = np.random.default_rng(0).standard_normal(3000).astype(np.float32)
    audio, lengths, _ = collate.pad_rows([y], 8000, rows=2)
    n = collate.feature_lengths(lengths, n_fft=400, hop_length=160)
    alone = np.asarray(features.melspectrogram(y[None], sr=16000, n_fft=400, hop_length=160, n_mels=40))
    assert n.tolist() == [alone.shape[-1], 0]


def test_multi_hot():
    out = collate.multi_hot([[0, 2], [], [1]], 3, rows=4)
    assert out.tolist() == [[1, 0, 1], [0, 0, 0], [0, 1, 0], [0, 0, 0]]
    with pytest.raises(ValueError, match="row 0"):
        collate.multi_hot([[3]], 3)


def _wav_set(tmp_path, n: int = 24, sr: int = 8000):
    import soundfile as sf

    rng = np.random.default_rng(5)
    paths, secs = [], []
    for i in range(n):
        s = float(rng.choice([0.3, 0.5, 0.9, 1.4, 2.0])) + i * 0.01
        y = (0.1 * rng.standard_normal(int(round(s * sr)))).astype(np.float32)
        p = tmp_path / f"f{i:02d}.wav"
        sf.write(p, y, sr, subtype="FLOAT")
        paths.append(str(p))
        secs.append(len(y) / sr)
    return paths, np.array(secs)


def _jax_batches(paths, **kw):
    from audiodecode.jax import loader

    args = dict(sr=8000, batch_by="duration", max_batch_seconds=4.0, num_buckets=3, seed=2, num_epochs=2,
                cache=None, num_threads=1, prefetch=1, drop_remainder=False)
    args.update(kw)
    return loader(paths, **args)


def test_jax_loader_batch_by_duration_shapes_mask_and_resume(tmp_path):
    import audiodecode

    paths, secs = _wav_set(tmp_path)
    with _jax_batches(paths) as it:
        got = [{k: np.asarray(v) for k, v in b.items()} for b in it]
        st = it.stats()
        bounds = it.buckets.boundaries
    shapes = {b["audio"].shape for b in got}
    assert len(shapes) <= 3 and st["distinct_shapes"] == len(shapes)
    assert shapes <= {(int(r), buckets.bucket_samples(s, 8000)) for r, s in zip(it.buckets.rows, bounds)}
    assert sum(int(b["mask"].sum()) for b in got) == 2 * len(paths)
    real = sum(int(b["length"].sum()) for b in got)
    total = sum(b["audio"].size for b in got)
    assert st["padding_share"] == pytest.approx(1 - real / total)
    # Each row is the whole file, then zeros; padding rows are empty.
    lengths = {round(len(audiodecode.load(p, sr=8000)[0])): p for p in paths}
    for b in got:
        for row, n, m in zip(b["audio"], b["length"], b["mask"]):
            assert m == (n > 0)
            if m:
                y = audiodecode.load(lengths[int(n)], sr=8000)[0]
                np.testing.assert_array_equal(row[:n], y)
                assert not row[n:].any()
    # Exact resume from a saved state.
    with _jax_batches(paths) as it:
        for _ in range(3):
            next(it)
        state = it.get_state()
    with _jax_batches(paths) as it:
        it.set_state(state)
        rest = [np.asarray(b["audio"]) for b in it]
    assert len(rest) == len(got) - 3
    for a, b in zip(rest, got[3:]):
        np.testing.assert_array_equal(a, b["audio"])


def test_jax_loader_duration_feature_length(tmp_path):
    paths, _ = _wav_set(tmp_path, n=6)
    with _jax_batches(paths, num_epochs=1) as it:
        samples = [np.asarray(b["length"]) for b in it]
    with _jax_batches(paths, features="melspectrogram", n_fft=256, hop_length=80, n_mels=20, num_epochs=1) as it:
        feats = [(np.asarray(b["feature_length"]), np.asarray(b["mask"])) for b in it]
    assert len(feats) == len(samples)
    for n, (fl, mask) in zip(samples, feats):
        # The same frames the feature functions make from the valid samples alone.
        want = collate.feature_lengths(n, n_fft=256, hop_length=80)
        np.testing.assert_array_equal(fl, want)
        assert not fl[~mask].any()


def test_jax_loader_duration_rejects_too_long(tmp_path):
    paths, _ = _wav_set(tmp_path, n=6)
    with pytest.raises(ValueError, match="longer than the largest bucket"):
        _jax_batches(paths, num_buckets=None, bucket_boundaries=[0.5, 1.0])


def test_spec_augment_time_masks_stay_inside_valid_frames():
    import jax

    from audiodecode.jax.specaugment import spec_augment

    feats = np.ones((64, 8, 50), dtype=np.float32)
    lengths = np.random.default_rng(0).integers(0, 51, 64)
    lengths[:4] = [0, 1, 5, 50]
    out = np.asarray(spec_augment(jax.random.key(0), feats, freq_mask_param=0, time_mask_param=20,
                                  num_time_masks=2, lengths=lengths))
    masked = (out == 0).all(axis=1)  # (batch, frames): time masks cover every feature row
    for row, n in zip(masked, lengths):
        assert not row[n:].any()
    # The masks do reach into valid frames (the draw is not empty).
    assert masked.any(axis=1).mean() > 0.5
    # Without lengths the whole frame axis is open to time masks, as before.
    full = np.asarray(spec_augment(jax.random.key(0), feats, 0, 20, 1, 2))
    assert ((full == 0).all(axis=1)).any()


def test_torch_loader_batch_by_duration_matches_jax(tmp_path):
    from audiodecode.torch import AudioDataLoader

    paths, _ = _wav_set(tmp_path)
    with _jax_batches(paths, num_epochs=1) as it:
        want = [{k: np.asarray(v) for k, v in b.items()} for b in it]
    with AudioDataLoader(paths, target_sr=8000, batch_by="duration", max_batch_seconds=4.0, num_buckets=3, seed=2,
                         cache=None, num_threads=1, prefetch=1, return_lengths=True) as tl:
        assert len(tl) == len(want)
        got = list(tl)
        st = tl.stats()
    for (audio, labels, lengths), w in zip(got, want):
        np.testing.assert_array_equal(audio.numpy(), w["audio"])
        np.testing.assert_array_equal(lengths.numpy(), w["length"])
        assert (labels.numpy()[~w["mask"]] == -1).all()
        assert ((lengths.numpy() > 0) == w["mask"]).all()
    assert st["distinct_shapes"] <= 3 and 0 <= st["padding_share"] < 1
    # Two ranks: the same bucket shape at every step, disjoint files.
    ranks = []
    for rank in range(2):
        with AudioDataLoader(paths, target_sr=8000, batch_by="duration", max_batch_seconds=4.0, num_buckets=3,
                             seed=2, cache=None, num_threads=1, prefetch=1, rank=rank, world_size=2) as tl:
            ranks.append([audio.shape for audio, _ in tl])
    assert ranks[0] == ranks[1]


_JAX_CHILD = """
import json, sys
import jax
p, port, paths = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
jax.distributed.initialize(f"localhost:{port}", num_processes=2, process_id=p)
import numpy as np
from audiodecode.jax import loader
out = []
with loader(paths, sr=8000, batch_by="duration", max_batch_seconds=4.0, num_buckets=3, seed=2, num_epochs=1,
            cache=None, num_threads=1, prefetch=1, drop_remainder=False) as it:
    for b in it:
        local = np.asarray(b["length"].addressable_shards[0].data)
        out.append([list(b["audio"].shape), local.tolist()])
print("RESULT" + json.dumps(out))
jax.distributed.shutdown()
"""


def test_two_jax_processes_get_global_batches_of_one_bucket(tmp_path):
    # Real multi-process JAX on the CPU: jax.distributed on localhost, one device each.
    import os
    import socket

    paths, secs = _wav_set(tmp_path, n=15)
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = str(s.getsockname()[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent.parent), os.environ.get("PYTHONPATH", "")]),
           "JAX_PLATFORMS": "cpu"}
    procs = [subprocess.Popen([sys.executable, "-c", _JAX_CHILD, str(p), port, json.dumps(paths)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for p in range(2)]
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err[-2000:]
        outs.append(json.loads(out.split("RESULT", 1)[1]))
    assert len(outs[0]) == len(outs[1]) > 0
    lengths = []
    for a, b in zip(*outs):
        assert a[0] == b[0]  # the same global shape: the same bucket at every step
        lengths += [n for n in a[1] + b[1] if n > 0]
    assert sorted(lengths) == sorted(round(s * 8000) for s in secs)


def _padding(d: np.ndarray, bounds: np.ndarray) -> float:
    return float((bounds[buckets.bucket_of(d, bounds)] - d).sum())


def test_min_padding_boundaries_are_optimal_and_beat_quantiles():
    from itertools import combinations

    d = np.random.default_rng(1).choice(durations(200), 12, replace=False)
    got = buckets.min_padding_boundaries(d, 3)
    assert got[-1] == d.max() and len(got) == 3
    # Brute force over every choice of 2 inner boundaries among the durations.
    u = np.unique(d)
    brute = min(_padding(d, np.array([*c, u[-1]])) for c in combinations(u[:-1], 2))
    assert _padding(d, got) == pytest.approx(brute)
    big = durations(1000)
    assert _padding(big, buckets.min_padding_boundaries(big, 8)) < 0.8 * _padding(big, buckets.estimate_boundaries(big, 8))
    assert buckets.min_padding_boundaries(np.full(5, 2.0), 4).tolist() == [2.0]
