"""`audiodecode.jax.loader`: batches on the device, reproducible from the
seed alone, checkpointable, sharded over processes."""

from __future__ import annotations

import gc
import json
import os
import pickle
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import grain
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import audiodecode
from audiodecode.data import seeding
from audiodecode.data.reading import ClipReader, ClipSpec, SkippedRecordWarning
from audiodecode.data.records import AudioFiles, audio_files
from audiodecode.data.schedule import Schedule
from audiodecode.jax.data_loader import AudioLoader, loader
from audiodecode.jax.source import AudioRecordSource
from synth import encode

SR = 16000
N = 12
# Tagged files hold the constant (tag + 1) / 64 (exact in float32), so a
# row of a batch tells which file it came from.
TAG = 64.0
# Fixed parallelism, so tests do not spend time autotuning unless they mean to.
FAST = {"num_threads": 1, "prefetch": 2, "cache": None}


def tags(audio: np.ndarray) -> list[int]:
    return (np.round(np.asarray(audio)[:, 0] * TAG) - 1).astype(int).tolist()


def take(it: AudioLoader, n: int) -> list[dict[str, np.ndarray]]:
    return [{k: np.asarray(v) for k, v in next(it).items()} for _ in range(n)]


def assert_same(a: list[dict[str, np.ndarray]], b: list[dict[str, np.ndarray]]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for k in x:
            np.testing.assert_array_equal(x[k], y[k], err_msg=k)


@pytest.fixture(scope="module")
def tagged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 WAV files of 0.25 s in class folders c0, c1, c2 (tag % 3)."""
    root = tmp_path_factory.mktemp("tagged")
    for tag in range(N):
        (root / f"c{tag % 3}").mkdir(exist_ok=True)
        encode(root / f"c{tag % 3}" / f"t{tag:02d}.wav", np.full(SR // 4, (tag + 1) / TAG, np.float32), SR, "wavf32")
    return root


@pytest.fixture(scope="module")
def ramps(tmp_path_factory: pytest.TempPathFactory) -> AudioFiles:
    """WAV files from 0.25 s to 1.5 s whose samples count up (random crops show)."""
    root = tmp_path_factory.mktemp("ramps")
    seconds = [0.25, 1.5, 0.5, 1.25, 0.75, 1.0, 0.6, 1.1]
    paths = [encode(root / f"r{i}.wav", (np.arange(int(s * SR)) + 1).astype(np.float32) / 2**16, SR, "wavf32")
             for i, s in enumerate(seconds)]
    return audio_files(paths, labels=[i % 2 for i in range(len(paths))])


def test_batches_are_jax_arrays_on_the_device(tagged: Path) -> None:
    with loader(tagged, batch_size=4, clip_seconds=0.5, **FAST) as it:
        batch = next(it)
    assert set(batch) == {"audio", "label", "length"}
    for value in batch.values():
        assert isinstance(value, jax.Array)
        assert value.devices() == {jax.devices()[0]}
    assert batch["audio"].shape == (4, SR // 2) and batch["audio"].dtype == jnp.float32
    assert batch["label"].shape == (4,) and batch["label"].dtype == jnp.int32
    # 0.25 s files padded to 0.5 s clips.
    assert batch["length"].dtype == jnp.int32 and (np.asarray(batch["length"]) == SR // 4).all()
    assert not np.asarray(batch["audio"])[:, SR // 4 :].any()


def test_labels_come_from_the_directory_names(tagged: Path) -> None:
    with loader(tagged, batch_size=4, clip_seconds=0.25, **FAST) as it:
        assert it.files.classes == ("c0", "c1", "c2")
        for batch in take(it, 6):
            assert batch["label"].tolist() == [t % 3 for t in tags(batch["audio"])]


def test_labels_come_from_a_manifest(tagged: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "train.csv"
    rows = [f"{tagged}/c{t % 3}/t{t:02d}.wav,{'odd' if t % 2 else 'even'}" for t in range(N)]
    manifest.write_text("path,label\n" + "\n".join(rows) + "\n")
    with loader(manifest, batch_size=4, clip_seconds=0.25, **FAST) as it:
        assert it.files.classes == ("even", "odd")
        for batch in take(it, 3):
            assert batch["label"].tolist() == [t % 2 for t in tags(batch["audio"])]


def test_same_seed_same_batches_other_seed_other_order(tagged: Path) -> None:
    def run(seed: int) -> list[dict[str, np.ndarray]]:
        with loader(tagged, batch_size=4, clip_seconds=0.25, seed=seed, **FAST) as it:
            return take(it, 6)

    first = run(seed=1)
    assert_same(first, run(seed=1))
    assert [tags(b["audio"]) for b in first] != [tags(b["audio"]) for b in run(seed=2)]


def test_every_epoch_visits_each_file_once_in_a_new_order(tagged: Path) -> None:
    with loader(tagged, batch_size=4, clip_seconds=0.25, num_epochs=2, drop_remainder=False, **FAST) as it:
        assert it.steps_per_epoch == 3
        order = [t for batch in it for t in tags(batch["audio"])]
    assert len(order) == 2 * N
    assert sorted(order[:N]) == sorted(order[N:]) == list(range(N))
    assert order[:N] != order[N:]


def test_batches_do_not_depend_on_threads_or_the_cache(ramps: AudioFiles) -> None:
    from test_pipeline import SeedRecorder

    def run(**parallelism: object) -> list[dict[str, np.ndarray]]:
        with loader(ramps, batch_size=3, clip_seconds=0.5, augmentations=SeedRecorder(), seed=4, **parallelism) as it:
            return take(it, 8)

    reference = run(num_threads=1, prefetch=1, cache=None)
    assert_same(reference, run(num_threads=2, prefetch=4, cache=None))
    assert_same(reference, run(num_threads=2, prefetch=3, cache="auto"))


def test_batches_equal_the_framework_free_reference(ramps: AudioFiles) -> None:
    """What the torch loader will reproduce: Schedule + ClipReader."""
    spec = ClipSpec(sr=SR, clip_seconds=0.5, crop="random", seed=9)
    reader = ClipReader(ramps, spec)
    schedule = Schedule(ramps.shard(0, 1), seed=9, shuffle=True, num_epochs=None)
    with loader(ramps, batch_size=3, clip_seconds=0.5, seed=9, **FAST) as it:
        got = take(it, 7)  # 21 records: spans two epochs boundaries
    assert_same(got, [reader.read(*schedule.batch(b, 3)) for b in range(7)])


def test_whole_files_padded_per_batch_with_their_lengths(ramps: AudioFiles) -> None:
    with loader(ramps, batch_size=4, shuffle=False, **FAST) as it:
        first, second = take(it, 2)
    seconds = [0.25, 1.5, 0.5, 1.25, 0.75, 1.0, 0.6, 1.1]
    for batch, lengths in ((first, seconds[:4]), (second, seconds[4:])):
        samples = [int(s * SR) for s in lengths]
        assert batch["length"].tolist() == samples
        assert batch["audio"].shape == (4, max(samples))
        for row, n in zip(batch["audio"], samples):
            assert row[n - 1] == n / 2**16 and not row[n:].any()


def test_restored_state_continues_like_an_uninterrupted_run(ramps: AudioFiles, tmp_path: Path) -> None:
    import orbax.checkpoint as ocp

    settings = dict(batch_size=3, clip_seconds=0.5, seed=3, **FAST)
    with loader(ramps, **settings) as it:
        uninterrupted = take(it, 9)
    with loader(ramps, **settings) as it:
        take(it, 4)
        state = it.get_state()
        json.dumps(state)  # JSON-able, as Grain's checkpoint handler writes it
        with ocp.CheckpointManager(tmp_path / "ckpt") as mgr:
            mgr.save(4, args=ocp.args.Composite(data=grain.checkpoint.CheckpointSave(it)))
            mgr.wait_until_finished()
        take(it, 2)
    with loader(ramps, **settings) as it:
        it.set_state(state)
        assert_same(take(it, 5), uninterrupted[4:])
    with loader(ramps, **settings) as it, ocp.CheckpointManager(tmp_path / "ckpt") as mgr:
        mgr.restore(4, args=ocp.args.Composite(data=grain.checkpoint.CheckpointRestore(it)))
        assert_same(take(it, 5), uninterrupted[4:])
    with loader(ramps, **{**settings, "seed": 4}) as other, pytest.raises(ValueError, match="other files or settings"):
        other.set_state(state)
    # A custom augmentation object (default repr with an address) restores
    # into a loader with a new instance of it, as after a restart.
    from test_pipeline import SeedRecorder

    with loader(ramps, augmentations=SeedRecorder(), **settings) as it:
        take(it, 2)
        state = it.get_state()
    with loader(ramps, augmentations=SeedRecorder(), **settings) as it:
        it.set_state(state)


def test_unreadable_files_raise_or_are_replaced(tagged: Path, tmp_path: Path) -> None:
    (tmp_path / "broken.mp3").write_bytes(b"ID3 truncated" * 20)
    paths = sorted(str(p) for p in tagged.rglob("*.wav")) + [str(tmp_path / "broken.mp3"), str(tmp_path / "gone.wav")]
    with loader(paths, batch_size=14, clip_seconds=0.25, shuffle=False, **FAST) as it, \
            pytest.raises(Exception, match="broken.mp3"):
        next(it)

    def run() -> tuple[list[dict[str, np.ndarray]], dict]:
        with pytest.warns(SkippedRecordWarning, match="broken.mp3|gone.wav"):
            with loader(paths, batch_size=7, clip_seconds=0.25, on_error="skip", seed=2, num_epochs=2, **FAST) as it:
                batches = [{k: np.asarray(v) for k, v in b.items()} for b in it]
                return batches, it.stats()

    batches, stats = run()
    assert len(batches) == 4
    seen = [t for b in batches for t in tags(b["audio"])]
    assert set(seen) <= set(range(N))  # only the good files
    assert stats["skipped"] == 4  # two bad files, two epochs
    assert_same(batches, run()[0])


def test_stats_report_throughput_stall_stages_and_cache(tagged: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="audiodecode"):
        # num_threads autotuned; one reader thread, so no two reads miss the
        # cache on the same file at once; cache="auto".
        it = loader(tagged, batch_size=4, clip_seconds=0.25, prefetch=1)
    assert "autotune" in caplog.text and it.tuning.measured
    with it:
        take(it, 9)
        stats = it.stats()
    assert stats["batches"] == 9 and stats["samples"] == 36
    assert stats["samples_per_s"] > 0 and 0 <= stats["data_stall_share"] <= 1
    assert set(stats["stage_ms_per_batch"]) == {"decode", "collate", "to_device"}
    assert stats["skipped"] == 0
    # Each file is decoded once; later epochs are hits.
    assert stats["cache"]["misses"] == N and stats["cache"]["hits"] >= 36 - N
    assert stats["parallelism"]["num_threads"] == it.tuning.choice.num_threads
    assert stats["parallelism"]["prefetch"] == 1 and stats["parallelism"]["given"] == ["prefetch"]


def test_auto_cache_only_when_the_shard_fits(tagged: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import audiodecode.data.setup as module

    monkeypatch.setattr(module, "auto_ram_budget", lambda *a: 2**20)  # 1 MiB: 12 x 0.25 s (192 KB) fit
    with loader(tagged, batch_size=4, clip_seconds=0.25, num_threads=1, prefetch=1) as it:
        take(it, 1)
        assert it.stats()["cache"] is not None
    monkeypatch.setattr(module, "auto_ram_budget", lambda *a: 2**16)  # 64 KiB: they do not
    with loader(tagged, batch_size=4, clip_seconds=0.25, num_threads=1, prefetch=1) as it:
        take(it, 1)
        assert it.stats()["cache"] is None


def test_overrides_win_over_autotuning(tagged: Path) -> None:
    with loader(tagged, batch_size=4, clip_seconds=0.25, num_threads=2, prefetch=3, cache=None) as it:
        assert (it.tuning.choice.num_threads, it.tuning.choice.prefetch) == (2, 3)
        assert it.tuning.measured == {}
        assert it.stats()["parallelism"]["given"] == ["num_threads", "prefetch"]


def test_a_callable_feature_runs_on_the_device(tagged: Path) -> None:
    square = jax.jit(lambda audio: audio**2)
    with loader(tagged, batch_size=4, clip_seconds=0.25, features=square, seed=5, **FAST) as it:
        batch = next(it)
    with loader(tagged, batch_size=4, clip_seconds=0.25, seed=5, **FAST) as it:
        audio = next(it)["audio"]
    assert "audio" not in batch and isinstance(batch["features"], jax.Array)
    np.testing.assert_array_equal(np.asarray(batch["features"]), np.asarray(audio) ** 2)
    with pytest.raises(TypeError, match="without features"):
        loader(tagged, batch_size=4, n_mfcc=13, **FAST)


def test_batches_follow_the_given_sharding(tagged: Path) -> None:
    mesh = jax.sharding.Mesh(np.array(jax.devices()), ("data",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data", None))
    with loader(tagged, batch_size=4, clip_seconds=0.25, sharding=sharding, **FAST) as it:
        batch = next(it)
    assert batch["audio"].sharding.spec == jax.sharding.PartitionSpec("data")
    assert batch["label"].sharding.mesh.axis_names == ("data",)


def test_the_source_is_a_picklable_grain_source_with_a_stable_repr(tagged: Path) -> None:
    source = AudioRecordSource(audio_files(tagged))
    assert isinstance(source, grain.sources.RandomAccessDataSource)
    assert len(source) == N and source[3].path.endswith("t09.wav") and source[3].label == 0
    copy = pickle.loads(pickle.dumps(source))
    assert repr(copy) == repr(source) == repr(AudioRecordSource(audio_files(tagged)))
    assert copy[5] == source[5]


# A worker of the two-process test: one JAX process of two on this machine.
WORKER = textwrap.dedent(
    """
    import json, sys
    import jax
    jax.config.update("jax_platforms", "cpu")
    jax.distributed.initialize(coordinator_address=sys.argv[1], num_processes=2, process_id=int(sys.argv[2]))
    import numpy as np
    from audiodecode.jax.data_loader import loader

    out = {"process": jax.process_index(), "rows": [], "global_shapes": []}
    with loader(sys.argv[3], batch_size=4, clip_seconds=0.25, num_epochs=1, seed=7,
                num_threads=1, prefetch=1, cache=None) as it:
        for batch in it:
            out["global_shapes"].append(list(batch["audio"].shape))
            for shard in batch["audio"].addressable_shards:
                local = np.asarray(shard.data)
                out["rows"] += (np.round(local[:, 0] * 64) - 1).astype(int).tolist()
    print("RESULT" + json.dumps(out))
    """
)


def test_two_processes_read_disjoint_shards_covering_the_data_set(tagged: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent.parent), os.environ.get("PYTHONPATH", "")])}
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, f"127.0.0.1:{port}", str(i), str(tagged)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for i in range(2)
    ]
    results = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr[-3000:]
        results.append(json.loads(next(line for line in stdout.splitlines() if line.startswith("RESULT"))[6:]))
    rows = {r["process"]: r["rows"] for r in results}
    assert all(shape == [4, SR // 4] for r in results for shape in r["global_shapes"])
    assert len(rows[0]) == len(rows[1]) == N // 2
    assert not set(rows[0]) & set(rows[1])
    assert sorted(rows[0] + rows[1]) == list(range(N))
    # Each process's records follow the documented order of its shard.
    files = audio_files(tagged)
    for p in (0, 1):
        want = seeding.epoch_order(files.shard(p, 2), 7, 0)
        assert rows[p] == [int(Path(files.paths[i]).stem[1:]) for i in want]


# -- features and augmentations of the other modules ------------------------------


def test_mfcc_features_equal_the_jitted_mfcc_of_the_audio(ramps: AudioFiles) -> None:
    from audiodecode.filterbanks import frame_count
    from audiodecode.jax import features

    settings = dict(n_mfcc=13, n_mels=40, n_fft=512, hop_length=160)
    with loader(ramps, batch_size=4, features="mfcc", seed=1, **settings, **FAST) as it:
        batch = next(it)
    with loader(ramps, batch_size=4, seed=1, **FAST) as it:
        raw = next(it)
    want = features.mfcc(raw["audio"], sr=SR, **settings)
    assert batch["features"].shape == want.shape
    np.testing.assert_allclose(np.asarray(batch["features"]), np.asarray(want), rtol=0, atol=1e-4)
    frames = [frame_count(int(n), 512, 160, True) for n in np.asarray(raw["length"])]
    assert np.asarray(batch["length"]).tolist() == frames


def test_a_spectrogram_without_hop_length_counts_frames_at_librosas_default_hop(ramps: AudioFiles) -> None:
    from audiodecode.filterbanks import frame_count

    # spectrogram's hop_length=None means n_fft // 4, as in librosa.
    with loader(ramps, batch_size=4, features="spectrogram", n_fft=256, seed=1, **FAST) as it:
        batch = next(it)
    with loader(ramps, batch_size=4, seed=1, **FAST) as it:
        raw = next(it)
    assert batch["features"].shape[-1] == frame_count(raw["audio"].shape[-1], 256, 64, True)
    assert np.asarray(batch["length"]).tolist() == [frame_count(int(n), 256, 64, True) for n in np.asarray(raw["length"])]


def test_augmentation_is_reproducible_and_independent_of_threads(ramps: AudioFiles) -> None:
    pipe = [audiodecode.Gain(-6, 6, p=1.0), audiodecode.PitchShift(-2, 2, p=1.0)]

    def run(**kw: object) -> list[dict[str, np.ndarray]]:
        with loader(ramps, batch_size=3, clip_seconds=0.5, augmentations=pipe, seed=8, cache=None, **kw) as it:
            return take(it, 4)

    first = run(num_threads=1, prefetch=1)
    assert_same(first, run(num_threads=2, prefetch=3))
    with loader(ramps, batch_size=3, clip_seconds=0.5, seed=8, **FAST) as it:
        plain = take(it, 4)
    assert not np.array_equal(first[0]["audio"], plain[0]["audio"])


def test_the_package_exports_the_loader_function() -> None:
    import audiodecode.jax
    import audiodecode.jax.data_loader

    assert audiodecode.jax.loader is audiodecode.jax.data_loader.loader
    assert audiodecode.jax.AudioLoader is audiodecode.jax.data_loader.AudioLoader


@pytest.mark.parametrize("batch_by", ["count", "duration"])
def test_what_grain_pickles_stays_columnar_bytes_per_row(tmp_path: Path, batch_by: str) -> None:
    """The pipeline Grain pickles into worker processes (the records' source,
    the schedule, the batch reader and its plan) is the table's columns, not
    an object per row: its size per row is the row's strings plus a few
    fixed-width numbers (at 1M NeMo rows: 109 bytes a row counting, 117
    bucketed, of which 57 are path and text). The files need not exist."""
    from audiodecode.jax.source import BucketBatchSource, EpochShuffle, ReadBatch

    rows = 20_000
    manifest = tmp_path / "train.jsonl"
    with manifest.open("w") as f:
        for i in range(rows):
            f.write(json.dumps({"audio_filepath": f"/data/audio/{i // 1000:05d}/{i:09d}.flac",
                                "duration": 1.0 + i % 17, "text": "the of and to in"}) + "\n")
    strings = sum(len(f"/data/audio/{i // 1000:05d}/{i:09d}.flac") for i in range(rows)) + rows * len("the of and to in")
    files = audio_files(str(manifest), probe=False)
    settings = ({"batch_by": "duration", "max_batch_seconds": 100.0} if batch_by == "duration"
                else {"batch_size": 32, "clip_seconds": 1.0})
    with loader(files, sr=16000, num_threads=1, prefetch=1, cache=None, seed=0, **settings) as it:
        plan = it.plan
        if plan.buckets is None:
            jobs = EpochShuffle(grain.MapDataset.source(AudioRecordSource(plan.files)), plan.schedule)
        else:
            jobs = grain.MapDataset.source(BucketBatchSource(plan.schedule))
        data = pickle.dumps(jobs.map(ReadBatch(plan, 1)))
    # Strings, their offsets (8), label, offset, duration, row (8 each), the schedule's index (8) and
    # a bucket's members (8): 64 bytes of numbers a row at most.
    assert len(data) <= strings + 64 * rows, len(data) / rows
    # And columns once unpickled: no dict, tuple or list per row (what gc tracks; a worker would hold them).
    gc.collect()
    before = len(gc.get_objects())
    copy = pickle.loads(data)
    assert len(gc.get_objects()) - before < 2000
    del copy
