"""The framework-free half of the loaders: data sets, seeds, schedules,
clip reading, the autotuner and the stats (shared by the JAX and torch
adapters, so their batches are the same)."""

from __future__ import annotations

import json
import logging
import math
import pickle
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from audiodecode.cache import AudioCache
from audiodecode.data import seeding
from audiodecode.data.reading import ClipReader, ClipSpec, SkippedRecordWarning, estimate_decoded_bytes
from audiodecode.data.records import UNLABELLED, AudioFiles, audio_files
from audiodecode.data.schedule import Schedule
from audiodecode.data.stats import PipelineStats
from audiodecode.data.tuning import Parallelism, autotune
from synth import encode, make, sine, speech_like

SR = 16000
STEP = 2.0**-16  # ramp files hold sample k as (k + 1) * STEP: exact in float32


def ramp(n: int) -> np.ndarray:
    return ((np.arange(n) + 1) * STEP).astype(np.float32)


@pytest.fixture(scope="module")
def ramps(tmp_path_factory: pytest.TempPathFactory) -> AudioFiles:
    """WAV float32 files at the loader's rate (decoded exactly) whose
    samples give their position: lengths 0.25 s to 1.5 s."""
    root = tmp_path_factory.mktemp("ramps")
    seconds = [0.25, 1.5, 0.5, 1.25, 0.75, 1.0]
    paths = [encode(root / f"r{i}.wav", ramp(int(s * SR)), SR, "wavf32") for i, s in enumerate(seconds)]
    return audio_files(paths, labels=[i % 2 for i in range(len(paths))])


# -- data sets ---------------------------------------------------------------


@pytest.fixture(scope="module")
def class_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("classes")
    for name, freq in (("dog", 300.0), ("cat", 600.0), ("bird", 1200.0)):
        (root / name / "sub").mkdir(parents=True)
        for i in range(2):
            make(root / name, f"{i}", sine(freq, 0.2, SR), SR, "wav")
        make(root / name / "sub", "nested", sine(freq, 0.2, SR), SR, "flac")
        (root / name / "notes.txt").write_text("not audio")
    (root / ".hidden").mkdir()
    make(root / ".hidden", "x", sine(100.0, 0.2, SR), SR, "wav")
    return root


def test_directory_sub_folders_are_the_labels(class_dir: Path) -> None:
    files = audio_files(class_dir)
    assert files.classes == ("bird", "cat", "dog")
    assert len(files) == 9  # 3 per class incl. the nested one; no .txt, no hidden folder
    for path, label in zip(files.paths, files.labels):
        assert Path(path).relative_to(class_dir).parts[0] == files.classes[label]
    assert list(files.paths) == sorted(files.paths)
    assert files.labels.dtype == np.int32


def test_a_flat_directory_is_unlabelled_and_a_mixed_one_is_refused(tmp_path: Path) -> None:
    for i in range(2):
        make(tmp_path, f"{i}", sine(440.0, 0.1, SR), SR, "wav")
    files = audio_files(tmp_path)
    assert files.classes == () and (files.labels == UNLABELLED).all()
    (tmp_path / "dog").mkdir()
    make(tmp_path / "dog", "d", sine(440.0, 0.1, SR), SR, "wav")
    with pytest.raises(ValueError, match="top level"):
        audio_files(tmp_path)


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_manifests_with_relative_paths_and_named_labels(class_dir: Path, kind: str) -> None:
    files = audio_files(class_dir)
    rows = [{"path": str(Path(p).relative_to(class_dir)), "label": files.classes[label]}
            for p, label in zip(files.paths, files.labels)]
    manifest = class_dir / f"manifest.{kind}"
    if kind == "csv":
        manifest.write_text("path,label\n" + "".join(f"{r['path']},{r['label']}\n" for r in rows))
    else:
        manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    got = audio_files(manifest, probe=False)
    assert got.paths == files.paths
    assert got.classes == files.classes
    assert (got.labels == files.labels).all()
    assert got.fingerprint == files.fingerprint
    # Probing (the default for manifests) adds the durations, nothing else.
    probed = audio_files(manifest)
    assert probed.paths == files.paths and np.isfinite(probed.durations).all()


def test_integer_labels_are_kept_and_manifest_errors_are_clear(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("clip,label\na.wav,2\nb.wav,10\n")
    with pytest.raises(ValueError, match="no path column"):
        audio_files(tmp_path / "m.csv", probe=False)
    files = audio_files(tmp_path / "m.csv", path_column="clip", probe=False)
    assert files.labels.tolist() == [2, 10] and len(files.classes) == 11
    (tmp_path / "m.jsonl").write_text('{"path": "a.wav"}\n')
    assert audio_files(tmp_path / "m.jsonl", probe=False).labels.tolist() == [UNLABELLED]
    with pytest.raises(ValueError, match="2 labels for 1 files"):
        audio_files(["a.wav"], labels=[0, 1])
    with pytest.raises(FileNotFoundError):
        audio_files(tmp_path / "missing")


def test_shards_are_equal_disjoint_and_cover_all_but_the_remainder() -> None:
    files = audio_files([f"{i}.wav" for i in range(11)])
    shards = [files.shard(i, 3) for i in range(3)]
    assert [len(s) for s in shards] == [3, 3, 3]
    together = np.concatenate(shards)
    assert len(set(together.tolist())) == 9
    files = audio_files([f"{i}.wav" for i in range(12)])
    assert sorted(np.concatenate([files.shard(i, 3) for i in range(3)]).tolist()) == list(range(12))


# -- seeds -------------------------------------------------------------------


def test_record_seed_is_the_documented_splitmix64_hash() -> None:
    mask = (1 << 64) - 1

    def mix(x: int) -> int:  # the formula in audiodecode.seeding's docstring
        z = (x + 0x9E3779B97F4A7C15) & mask
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return z ^ (z >> 31)

    assert mix(0) == 0xE220A8397B1DCDAF  # splitmix64's first output from state 0
    for seed, epoch, index in [(0, 0, 0), (7, 3, 12345), (2**63 + 5, 99, 2**40), (-1, 0, 1)]:
        assert seeding.record_seed(seed, epoch, index) == mix(mix(mix(seed & mask) ^ epoch) ^ index)
    got = seeding.record_seeds(7, np.array([0, 1, 2]), np.array([5, 5, 5]))
    assert got.tolist() == [seeding.record_seed(7, e, 5) for e in range(3)]


def test_epoch_orders_are_permutations_that_change_every_epoch() -> None:
    indices = np.arange(100)
    orders = [seeding.epoch_order(indices, seed=3, epoch=e) for e in range(3)]
    for order in orders:
        assert sorted(order.tolist()) == list(range(100))
    assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[1], orders[2])
    assert np.array_equal(seeding.epoch_order(indices, 3, 0, shuffle=False), indices)
    # A shard's order is the whole order restricted to the shard.
    shard = indices[1::4]
    whole = orders[0]
    assert seeding.epoch_order(shard, 3, 0).tolist() == [i for i in whole.tolist() if i % 4 == 1]


def test_schedule_repeats_epochs_without_mixing_them() -> None:
    schedule = Schedule(np.arange(10, 17), seed=1, shuffle=True, num_epochs=3)
    assert len(schedule) == 21
    epochs, indices = zip(*(schedule.record_at(p) for p in range(21)))
    for e in range(3):
        assert list(epochs[7 * e : 7 * e + 7]) == [e] * 7
        assert sorted(indices[7 * e : 7 * e + 7]) == list(range(10, 17))
    e, i = schedule.batch(1, batch_size=5)  # spans epochs 0 and 1
    assert e.tolist() == [0, 0, 1, 1, 1] and i.tolist() == list(indices[5:10])
    assert schedule.batch(4, batch_size=5)[1].tolist() == [indices[20]]  # the short last batch
    with pytest.raises(IndexError):
        schedule.record_at(21)
    copy = pickle.loads(pickle.dumps(schedule))
    assert copy.batch(2, 5)[1].tolist() == schedule.batch(2, 5)[1].tolist()
    assert repr(copy) == repr(schedule)


# -- reading clips -------------------------------------------------------------


def expected_start(spec: ClipSpec, epoch: int, index: int, n: int) -> int:
    """Where the documented rule crops a random clip."""
    seed = seeding.record_seeds(spec.seed, epoch, index)
    u = float(seeding.uniform(seeding.derive(seed, seeding.CROP)))
    return math.floor(u * (n - spec.clip_samples + 1))


@pytest.mark.parametrize("crop", ["start", "center", "random"])
def test_crops_and_pads_to_the_clip_length(ramps: AudioFiles, crop: str) -> None:
    spec = ClipSpec(sr=SR, clip_seconds=0.6, crop=crop, seed=11)
    clip = spec.clip_samples
    batch = ClipReader(ramps, spec).read([2] * 6, np.arange(6))
    assert batch["audio"].shape == (6, clip) and batch["audio"].dtype == np.float32
    assert batch["label"].tolist() == [0, 1, 0, 1, 0, 1]
    for i, (row, length) in enumerate(zip(batch["audio"], batch["length"])):
        n = len(ramp(int(SR * [0.25, 1.5, 0.5, 1.25, 0.75, 1.0][i])))
        if n <= clip:
            assert length == n
            np.testing.assert_array_equal(row, np.pad(ramp(n), (0, clip - n)))
            continue
        assert length == clip
        start = {"start": 0, "center": (n - clip) // 2}.get(crop) if crop != "random" else expected_start(spec, 2, i, n)
        np.testing.assert_array_equal(row, ramp(n)[start : start + clip])


def test_random_crops_differ_by_epoch_and_seed(ramps: AudioFiles) -> None:
    def first_samples(seed: int, epoch: int) -> list[float]:
        spec = ClipSpec(sr=SR, clip_seconds=0.2, seed=seed)
        return ClipReader(ramps, spec).read([epoch] * 6, np.arange(6))["audio"][:, 0].tolist()

    assert first_samples(1, 0) == first_samples(1, 0)
    assert first_samples(1, 0) != first_samples(1, 1)
    assert first_samples(1, 0) != first_samples(2, 0)


@pytest.fixture(scope="module")
def formats(tmp_path_factory: pytest.TempPathFactory) -> AudioFiles:
    """3.3 s files in the usual formats and rates, mono and stereo."""
    root = tmp_path_factory.mktemp("formats")
    kinds = [("mp3", 44100, 2), ("flac", 22050, 1), ("wav", 8000, 1), ("ogg", 48000, 2), ("mp3", 16000, 1),
             ("flac", 11025, 1)]
    paths = []
    for i, (fmt, sr, channels) in enumerate(kinds):
        y = speech_like(3.3, sr, seed=i)
        paths.append(make(root, f"f{i}", np.stack([y, np.roll(y, 7)])[:channels], sr, fmt))
    return audio_files(paths)


@pytest.mark.parametrize("crop", ["random", "center"])
def test_a_clip_decoded_alone_equals_the_crop_of_the_whole_file(formats: AudioFiles, crop: str) -> None:
    """Without a cache a clip is decoded as a window of its file; with one,
    cut from the whole decoded file. Both give the same samples."""
    spec = ClipSpec(sr=SR, clip_seconds=1.0, crop=crop, seed=3)
    indices = np.arange(len(formats))
    with AudioCache(max_ram_gb=0.05) as cache:
        for epoch in range(3):
            window = ClipReader(formats, spec).read([epoch] * len(indices), indices)
            whole = ClipReader(formats, spec, cache=cache).read([epoch] * len(indices), indices)
            np.testing.assert_array_equal(window["audio"], whole["audio"])
            assert (window["length"] == SR).all()


def test_whole_files_are_padded_to_the_batch_longest(ramps: AudioFiles) -> None:
    batch = ClipReader(ramps, ClipSpec(sr=SR)).read([0, 0, 0], [0, 2, 4])
    lengths = [int(SR * s) for s in (0.25, 0.5, 0.75)]
    assert batch["length"].tolist() == lengths
    assert batch["audio"].shape == (3, max(lengths))
    for row, n in zip(batch["audio"], lengths):
        np.testing.assert_array_equal(row[:n], ramp(n))
        assert not row[n:].any()


class SeedRecorder:
    """A fake augmentation: adds seed-dependent noise and changes the length
    (as a time stretch does), and records the seeds it was given."""

    def __init__(self) -> None:
        self.seeds: list[int] = []
        self.threads: list[int | None] = []
        self.lock = threading.Lock()

    def batch(self, ys: list[np.ndarray], sr: int, seeds: list[int], *, num_threads: int | None = None) -> list[np.ndarray]:
        assert sr == SR and all(isinstance(s, int) and 0 <= s < 2**64 for s in seeds)
        with self.lock:
            self.seeds += seeds
            self.threads.append(num_threads)
        out = []
        for y, s in zip(ys, seeds):
            rng = np.random.default_rng(s)
            n = int(len(y) * rng.uniform(0.8, 1.25))
            out.append((np.resize(y, n) + rng.standard_normal(n) * 1e-3).astype(np.float32))
        return out


def test_augmentation_gets_per_record_seeds_and_lengths_are_refit(ramps: AudioFiles) -> None:
    aug = SeedRecorder()
    spec = ClipSpec(sr=SR, clip_seconds=0.5, seed=5)
    reader = ClipReader(ramps, spec, augment=aug)
    epochs, indices = np.array([0, 0, 1, 1]), np.array([1, 3, 1, 3])
    batch = reader.read(epochs, indices)
    want = seeding.derive(seeding.record_seeds(5, epochs, indices), seeding.AUGMENT).tolist()
    assert aug.seeds == want
    assert batch["audio"].shape == (4, spec.clip_samples)
    # The same record in another epoch is augmented differently.
    assert not np.array_equal(batch["audio"][0], batch["audio"][2])
    recorder = SeedRecorder()
    again = ClipReader(ramps, spec, augment=recorder).read(epochs, indices, num_threads=1)
    np.testing.assert_array_equal(batch["audio"], again["audio"])
    assert recorder.threads == [1]  # the reader's Rust threads reach the augmentation
    assert (batch["length"] <= spec.clip_samples).all()


@pytest.fixture(scope="module")
def with_bad(tmp_path_factory: pytest.TempPathFactory, ramps: AudioFiles) -> AudioFiles:
    root = tmp_path_factory.mktemp("bad")
    (root / "garbage.mp3").write_bytes(b"\x00\x01 not audio at all" * 50)
    (root / "empty.wav").write_bytes(b"")
    paths = list(ramps.paths[:3]) + [str(root / "garbage.mp3")] + list(ramps.paths[3:]) + [
        str(root / "empty.wav"), str(root / "missing.flac")]
    return audio_files(paths, labels=list(range(len(paths))))


def test_bad_records_raise_by_default(with_bad: AudioFiles) -> None:
    with pytest.raises(Exception, match="garbage.mp3"):
        ClipReader(with_bad, ClipSpec(sr=SR, clip_seconds=0.1)).read([0] * 9, np.arange(9))


def test_skip_replaces_bad_records_deterministically(with_bad: AudioFiles) -> None:
    spec = ClipSpec(sr=SR, clip_seconds=0.1, on_error="skip", seed=3)
    stats = PipelineStats()
    good = {0, 1, 2, 4, 5, 6}
    with pytest.warns(SkippedRecordWarning) as caught:
        batch = ClipReader(with_bad, spec, stats=stats).read([0] * 9, np.arange(9))
    assert {Path(str(w.message).split(":")[0].split()[-1]).name for w in caught} == {
        "garbage.mp3", "empty.wav", "missing.flac"}
    assert stats.snapshot()["skipped"] == 3
    assert set(batch["label"].tolist()) <= good  # labels are the file indices
    assert batch["label"][[0, 1, 2, 4, 5, 6]].tolist() == [0, 1, 2, 4, 5, 6]
    # The same slot is replaced by the same record, in any batch and reader.
    with pytest.warns(SkippedRecordWarning):
        alone = ClipReader(with_bad, spec).read([0, 0], [7, 3])
    assert alone["label"].tolist() == batch["label"][[7, 3]].tolist()
    np.testing.assert_array_equal(alone["audio"], batch["audio"][[7, 3]])


def test_estimated_size_comes_from_the_headers(ramps: AudioFiles) -> None:
    seconds = sum([0.25, 1.5, 0.5, 1.25, 0.75, 1.0])
    assert estimate_decoded_bytes(ramps, 8000) == pytest.approx(seconds * 8000 * 4, rel=1e-3)


# -- autotune and stats --------------------------------------------------------


def fake_machine(cores: int, seconds: dict[int, float]):  # noqa: ANN201
    """A read function on a machine with `cores` cores where a batch read
    with t Rust threads occupies t cores for `seconds[t]` (sleeps release
    the GIL, as the Rust calls do)."""
    free = threading.Condition()
    idle = [cores]

    def read(batch: int, num_threads: int) -> None:
        with free:
            free.wait_for(lambda: idle[0] >= num_threads)
            idle[0] -= num_threads
        time.sleep(seconds[num_threads])
        with free:
            idle[0] += num_threads
            free.notify_all()

    return read


def test_autotune_searches_a_large_grid_coordinate_wise(caplog: pytest.LogCaptureFixture) -> None:
    # One thread per batch does the most work per core; 4 cores need 4
    # such batches in flight. At prefetch 2, 2 threads per batch look best.
    # Batches of tens of milliseconds, so that a loaded machine's late
    # wake-ups (a few ms) cannot reorder settings 1.3x apart.
    read = fake_machine(4, {1: 0.08, 2: 0.064, 4: 0.048})
    with caplog.at_level(logging.INFO, logger="audiodecode"):
        tuning = autotune(read, 3, max_threads=4, min_seconds=0.6)
    choice, rate = tuning.choice, tuning.measured
    # 1 thread x 4 or 8 batches: 50 batches/s; 2 threads: at most 31.
    assert choice.num_threads == 1 and choice.prefetch in (4, 8)
    assert len(rate) < 12  # not the whole 3 x 4 grid
    assert rate[Parallelism(2, 2)] > 1.1 * rate[Parallelism(1, 2)]
    assert rate[choice] > 1.3 * rate[Parallelism(2, choice.prefetch)]
    assert f"num_threads=1, prefetch={choice.prefetch}" in caplog.text


def test_autotune_measures_a_small_grid_whole() -> None:
    read = fake_machine(2, {1: 0.01, 2: 0.007})
    tuning = autotune(read, 2, max_threads=2, min_seconds=0.05)
    assert set(tuning.measured) == {Parallelism(t, p) for t in (1, 2) for p in (1, 2, 4, 8)}
    # Two single-threaded batches at once use both cores best.
    assert tuning.choice.num_threads == 1 and tuning.choice.prefetch >= 2


def test_autotune_keeps_what_the_caller_fixed() -> None:
    read = fake_machine(4, {1: 0.02, 2: 0.01, 4: 0.01})
    tuning = autotune(read, 2, num_threads=1, max_threads=4, min_seconds=0.05)
    assert tuning.choice.num_threads == 1 and tuning.given == ("num_threads",)
    assert {s.num_threads for s in tuning.measured} == {1}
    fixed = autotune(read, 2, num_threads=3, prefetch=5)
    assert fixed.choice == Parallelism(3, 5) and fixed.measured == {}


def test_stats_count_waiting_and_stages() -> None:
    stats = PipelineStats()
    for _ in range(3):
        with stats.stage("decode"):
            time.sleep(0.01)
    t0 = time.perf_counter()
    time.sleep(0.02)
    stats.delivered(t0, 8)  # waited 20 ms
    time.sleep(0.02)  # the consumer computes
    t1 = time.perf_counter()
    stats.delivered(t1, 8)  # no wait
    snap = stats.snapshot()
    assert snap["batches"] == 2 and snap["samples"] == 16
    assert 0.3 < snap["data_stall_share"] < 0.7
    assert snap["samples_per_s"] == pytest.approx(16 / snap["elapsed_s"])
    assert snap["stage_ms_per_batch"]["decode"] >= 10
    assert pickle.loads(pickle.dumps(stats)).snapshot()["batches"] == 0


def test_a_failed_measurement_releases_the_cache_the_loader_made(
    ramps: AudioFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both loaders build their host side with loader_setup.host_reader.
    from audiodecode.data import setup as loader_setup

    (tmp_path / "broken.mp3").write_bytes(b"ID3 truncated" * 20)
    files = audio_files([*ramps.paths, str(tmp_path / "broken.mp3")])
    made: list[AudioCache] = []

    def auto_cache(*args: object) -> AudioCache:
        made.append(AudioCache(max_ram_gb=0.01))
        return made[-1]

    monkeypatch.setattr(loader_setup, "auto_cache", auto_cache)
    spec = ClipSpec(sr=SR, clip_seconds=0.25, crop="start", seed=0)
    shard = files.shard(0, 1)
    schedule = Schedule(shard, seed=0, shuffle=False, num_epochs=1)
    with pytest.raises(Exception, match="broken.mp3"):
        loader_setup.host_reader(files, spec, None, shard, schedule, "auto", len(files), 1, None)
    assert len(made) == 1 and made[0]._closed
    passed = AudioCache(max_ram_gb=0.01)  # the caller's cache stays open
    with pytest.raises(Exception, match="broken.mp3"):
        loader_setup.host_reader(files, spec, None, shard, schedule, passed, len(files), 1, None)
    assert not passed._closed
    passed.close()
