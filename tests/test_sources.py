"""Record sources: tar shards, ArrayRecord and Parquet, locally and through
a real S3-protocol server (moto, started here on 127.0.0.1), decoded from
memory; the storage layer's retries, time limits and errors; the reader
and the cache over them."""

from __future__ import annotations

import json
import os
import pickle
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fsspec")
pytest.importorskip("s3fs")
pytest.importorskip("moto")
pytest.importorskip("pyarrow")
pytest.importorskip("array_record")

import audiodecode
from audiodecode.cache import AudioCache
from audiodecode.data.reading import ClipReader, ClipSpec, SkippedRecordWarning
from audiodecode.data.records import AudioFiles, audio_files
from audiodecode.data.sources import (
    ByteRange,
    RetryPolicy,
    SkippedSourceWarning,
    SourceReadError,
    Storage,
    array_records,
    object_files,
    open_records,
    parquet_records,
    tar_shards,
    write_array_record,
    write_parquet,
    write_tar_shards,
)
from audiodecode.data.sources.base import fetch
from audiodecode.data.sources.storage import expand_braces
from engine_threads import engine_threads
from s3server import S3Server
from synth import encode, make, speech_like

SR = 16000
STEP = 2.0**-12
BUCKET = "data"
FAST = RetryPolicy(attempts=6, backoff_s=0.01, max_backoff_s=0.05, timeout_s=20)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> AudioFiles:
    """Twelve short clips in four formats and two rates, three classes."""
    root = tmp_path_factory.mktemp("clips")
    fmts = ["flac", "mp3", "wav", "ogg"]
    paths, labels = [], []
    for i in range(12):
        sr = 44100 if i % 2 else SR
        y = speech_like(0.3 + 0.05 * i, sr, f0_hz=110 + 10 * i, seed=i)
        paths.append(make(root, f"c{i:02d}", y, sr, fmts[i % 4]))
        labels.append("abc"[i % 3])
    return audio_files(paths, labels=labels)


@pytest.fixture(scope="module")
def markers(tmp_path_factory: pytest.TempPathFactory) -> AudioFiles:
    """Ten float WAVs at the loader's rate whose samples all equal
    (i + 1) * STEP: a row's first sample names its record."""
    root = tmp_path_factory.mktemp("markers")
    paths = [encode(root / f"m{i}.wav", np.full(SR // 4, (i + 1) * STEP, np.float32), SR, "wavf32") for i in range(10)]
    return audio_files(paths, labels=[i % 2 for i in range(10)])


def pairs(files: AudioFiles) -> list[tuple[str, object]]:
    return [(p, files.classes[label] if label >= 0 else None) for p, label in zip(files.paths, files.labels.tolist())]


@pytest.fixture(scope="module")
def local(clips: AudioFiles, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The clips as tar shards, an ArrayRecord file and a Parquet file."""
    root = tmp_path_factory.mktemp("formats")
    shards = write_tar_shards(pairs(clips), str(root / "shard-{:06d}.tar"), per_shard=5)
    ar = write_array_record(clips, root / "clips.array_record")
    pq = write_parquet([(p, int(label)) for p, label in zip(clips.paths, clips.labels)], str(root / "clips.parquet"),
                       rows_per_group=4, classes=clips.classes)
    return {"tar": str(root / "shard-{000000..000002}.tar"), "shards": shards, "array_record": ar, "parquet": pq,
            "root": str(root)}


@pytest.fixture(scope="module")
def s3() -> S3Server:
    with S3Server() as server:
        server.make_bucket(BUCKET)
        yield server


@pytest.fixture(scope="module")
def remote(s3: S3Server, local: dict[str, str]) -> dict[str, str]:
    fs = s3.filesystem()
    for name in os.listdir(local["root"]):
        fs.put_file(os.path.join(local["root"], name), f"{BUCKET}/formats/{name}")
    return {
        "tar": f"s3://{BUCKET}/formats/shard-{{000000..000002}}.tar",
        "array_record": f"s3://{BUCKET}/formats/clips.array_record",
        "parquet": f"s3://{BUCKET}/formats/clips.parquet",
    }


def storage_for(s3: S3Server, **kwargs: object) -> Storage:
    return Storage(s3.storage_options(**kwargs), retry=FAST)


def open_source(kind: str, where: str, storage: Storage, tmp_path: Path) -> AudioFiles:
    if kind == "tar":
        return tar_shards(where, storage=storage, index_dir=str(tmp_path / "idx"))
    if kind == "array_record":
        return array_records(where, storage=storage, stage_dir=str(tmp_path / "stage"))
    return parquet_records(where, storage=storage)


# -- storage -------------------------------------------------------------------


def test_brace_patterns_expand_like_webdataset() -> None:
    assert expand_braces("a-{08..10}.tar") == ["a-08.tar", "a-09.tar", "a-10.tar"]
    assert expand_braces("{x,y}/{0..1}") == ["x/0", "x/1", "y/0", "y/1"]
    with pytest.raises(ValueError, match="bad range"):
        expand_braces("a-{3..1}.tar")


def test_ranged_reads_locally_and_from_s3(s3: S3Server, tmp_path: Path) -> None:
    blob = bytes(range(256)) * 40
    (tmp_path / "blob").write_bytes(blob)
    s3.filesystem().pipe(f"{BUCKET}/blob", blob, ACL="public-read")
    storage = storage_for(s3)
    for url in (str(tmp_path / "blob"), f"file://{tmp_path}/blob", f"s3://{BUCKET}/blob"):
        assert storage.read(url, 100, 300) == blob[100:300]
        assert storage.read(url) == blob
        got = storage.read_many([ByteRange(url, k, k + 7) for k in range(0, 5000, 500)])
        assert got == [blob[k : k + 7] for k in range(0, 5000, 500)]
    # Plain HTTP(S) through fsspec's HTTP file system: ranged GETs too.
    url = f"{s3.endpoint_url}/{BUCKET}/blob"
    both = Storage({"s3": s3.storage_options(), "http": {}}, retry=FAST)
    assert both.read(url, 100, 300) == blob[100:300] == both.read(f"s3://{BUCKET}/blob", 100, 300)
    assert both.read_many([ByteRange(url, 0, 5), ByteRange(url, 7, 9)]) == [blob[:5], blob[7:9]]
    s3.filesystem().pipe(f"{BUCKET}/private", blob)
    with pytest.raises(PermissionError, match=f"/{BUCKET}/private bytes 0-4: HTTP 403"):
        both.read(f"{s3.endpoint_url}/{BUCKET}/private", 0, 4)
    with pytest.raises(SourceReadError, match="shorter"):
        storage.read(str(tmp_path / "blob"), 0, len(blob) + 1)
    assert pickle.loads(pickle.dumps(storage)).read(f"s3://{BUCKET}/blob", 0, 3) == blob[:3]


def test_transient_503s_are_retried_and_counted(s3: S3Server) -> None:
    s3.filesystem().pipe(f"{BUCKET}/flaky", b"0123456789")
    storage = storage_for(s3)
    before = s3.failures_served
    s3.fail_next(3)
    assert storage.read(f"s3://{BUCKET}/flaky", 2, 6) == b"2345"
    assert s3.failures_served - before == 3
    assert storage.stats()["retries"] == 3


def test_a_failing_server_gives_up_in_bounded_time_naming_the_url(s3: S3Server) -> None:
    s3.filesystem().pipe(f"{BUCKET}/down", b"x" * 10)
    storage = Storage(s3.storage_options(), retry=RetryPolicy(attempts=100, backoff_s=0.05, timeout_s=1.0))
    s3.fail_next(10_000)
    try:
        t0 = time.monotonic()
        with pytest.raises(SourceReadError, match=f"s3://{BUCKET}/down bytes 0-4.*gave up"):
            storage.read(f"s3://{BUCKET}/down", 0, 4)
        assert time.monotonic() - t0 < 5
    finally:
        s3.fail_next(0)


def test_unreachable_endpoint_and_refused_credentials_are_clear(s3: S3Server) -> None:
    dead = Storage(
        {"key": "k", "secret": "s", "skip_instance_cache": True,
         "client_kwargs": {"endpoint_url": "http://127.0.0.1:9", "region_name": "us-east-1"},
         "config_kwargs": {"retries": {"total_max_attempts": 1, "mode": "standard"}, "connect_timeout": 1}},
        retry=RetryPolicy(attempts=2, backoff_s=0.01, timeout_s=3),
    )
    t0 = time.monotonic()
    with pytest.raises(SourceReadError, match=f"s3://{BUCKET}/x"):
        dead.read(f"s3://{BUCKET}/x", 0, 4)
    assert time.monotonic() - t0 < 10
    s3.filesystem().pipe(f"{BUCKET}/secret", b"abc")
    with pytest.raises(PermissionError, match=f"s3://{BUCKET}/secret"):
        storage_for(s3, key="intruder").read(f"s3://{BUCKET}/secret")
    with pytest.raises(FileNotFoundError, match=f"s3://{BUCKET}/nothing-here"):
        storage_for(s3).read(f"s3://{BUCKET}/nothing-here")


# -- decoding from memory --------------------------------------------------------


@pytest.mark.parametrize("fmt", ["wav", "wav24", "aiff", "flac", "mp3", "ogg", "m4a", "opus"])
def test_decoding_bytes_is_bit_identical_to_decoding_the_file(fmt: str, tmp_path: Path) -> None:
    rate = 48000 if fmt == "opus" else 44100  # libopus encodes 48 kHz
    path = make(tmp_path, "x", speech_like(0.6, rate, seed=3), rate, fmt)
    data = path.read_bytes()
    for kwargs in ({}, {"sr": SR}, {"sr": SR, "offset": 0.1, "duration": 0.3}):
        y_file, sr_file = audiodecode.load(path, **kwargs)
        y_mem, sr_mem = audiodecode.load(data, **kwargs)
        assert sr_mem == sr_file
        np.testing.assert_array_equal(y_mem, y_file)
    batch = audiodecode.load_batch([data, data], sr=SR)
    np.testing.assert_array_equal(batch[1][0], audiodecode.load(path, sr=SR)[0])


# -- the sources -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["tar", "array_record", "parquet"])
@pytest.mark.parametrize("where", ["local", "s3"])
def test_every_source_gives_the_files_bytes_and_labels(
    kind: str, where: str, clips: AudioFiles, local: dict, remote: dict, s3: S3Server, tmp_path: Path
) -> None:
    storage = storage_for(s3)
    records = open_source(kind, (local if where == "local" else remote)[kind], storage, tmp_path)
    assert len(records) == len(clips)
    assert records.classes == clips.classes
    np.testing.assert_array_equal(records.labels, clips.labels)
    order = [7, 0, 11, 3, 3]
    assert fetch(records, order) == [Path(clips.paths[i]).read_bytes() for i in order]
    assert records.source.read(records.paths[4]) == Path(clips.paths[4]).read_bytes()
    assert type(open_records(local[kind], storage=storage).source) is type(records.source)
    again = pickle.loads(pickle.dumps(records))
    assert fetch(again, [5]) == fetch(records, [5]) and again.fingerprint == records.fingerprint
    assert repr(again.source) == repr(records.source) and "secret" not in repr(records.source)


def test_tar_records_are_ranged_reads_not_whole_shards(clips: AudioFiles, remote: dict, s3: S3Server, tmp_path: Path) -> None:
    storage = storage_for(s3)
    shards = tar_shards(remote["tar"], storage=storage, index_dir=str(tmp_path))
    storage.reset_stats()
    fetch(shards, [2, 9])
    sizes = [os.path.getsize(clips.paths[i]) for i in (2, 9)]
    stats = storage.stats()
    assert {k: stats[k] for k in ("requests", "bytes_read", "retries", "failures")} == {
        "requests": 2, "bytes_read": sum(sizes), "retries": 0, "failures": 0}
    assert 0 < stats["p50_latency_s"] <= stats["p99_latency_s"] < 5


def test_tar_index_is_built_once_per_shard_version(local: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from audiodecode.data.sources import tar as tar_module

    first = tar_shards(local["tar"], index_dir=str(tmp_path))
    assert len(list(tmp_path.glob("*.json"))) == 3
    monkeypatch.setattr(tar_module, "index_shard", lambda *a, **k: pytest.fail("index rebuilt"))
    again = tar_shards(local["tar"], index_dir=str(tmp_path))
    np.testing.assert_array_equal(again.source.locations, first.source.locations)
    monkeypatch.undo()
    shard = local["shards"][0]
    copy = tmp_path / "copy.tar"
    copy.write_bytes(Path(shard).read_bytes())
    before = tar_shards(str(copy), index_dir=str(tmp_path))
    with tarfile.open(copy, "w") as tar:  # rewritten with its first member only
        with tarfile.open(shard) as src:
            member = src.getmembers()[0]
            tar.addfile(member, src.extractfile(member))
    after = tar_shards(str(copy), index_dir=str(tmp_path), on_error="skip")
    assert len(before) == 5 and len(after) == 1


def test_tar_labels_from_json_and_samples_without_audio(clips: AudioFiles, tmp_path: Path) -> None:
    shard = tmp_path / "odd.tar"
    with tarfile.open(shard, "w") as tar:
        for i, path in enumerate(clips.paths[:3]):
            tar.add(path, arcname=f"dir/s{i}.seg{Path(path).suffix}")
            meta = json.dumps({"label": f"k{i % 2}", "speaker": i}).encode()
            info = tarfile.TarInfo(f"dir/s{i}.json")
            info.size = len(meta)
            tar.addfile(info, __import__("io").BytesIO(meta))
        info = tarfile.TarInfo("dir/lonely.json")
        info.size = 2
        tar.addfile(info, __import__("io").BytesIO(b"{}"))
    with pytest.raises(ValueError, match=f"{shard}#dir/lonely: no audio member"):
        tar_shards(str(shard), index_dir=str(tmp_path / "i"))
    with pytest.warns(SkippedSourceWarning, match="1 record"):
        records = tar_shards(str(shard), index_dir=str(tmp_path / "i"), on_error="skip")
    assert len(records) == 3 and records.classes == ("k0", "k1") and records.labels.tolist() == [0, 1, 0]
    assert records.skipped_rows == 1
    assert records.skip_reasons == (f"{shard}#dir/lonely: no audio member (members: json)",)
    assert records.paths[0] == f"{shard}#dir/s0.seg.flac"


def test_missing_and_truncated_shards_are_named(local: dict, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope-000.tar"):
        tar_shards(str(tmp_path / "nope-000.tar"), index_dir=str(tmp_path))
    data = Path(local["shards"][1]).read_bytes()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(data[: len(data) // 2 + 100])
    with pytest.raises(ValueError, match="cut.tar: truncated tar shard"):
        tar_shards(str(cut), index_dir=str(tmp_path))
    with pytest.warns(SkippedSourceWarning, match="cut.tar"):
        records = tar_shards([local["shards"][0], str(cut)], index_dir=str(tmp_path), on_error="skip")
    assert len(records) == 5 and records.skipped_rows == 1


def test_array_record_without_sidecar_and_with_a_corrupt_chunk(clips: AudioFiles, local: dict, tmp_path: Path) -> None:
    plain = tmp_path / "plain.array_record"
    plain.write_bytes(Path(local["array_record"]).read_bytes())
    records = array_records(str(plain))
    np.testing.assert_array_equal(records.labels, clips.labels)
    assert fetch(records, [4]) == [Path(clips.paths[4]).read_bytes()]
    # Overwrite bytes in the middle of the file: the records there fail to
    # read with an error naming the file and record, the others still read.
    data = bytearray(plain.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 2000] = os.urandom(2000)
    bad = tmp_path / "bad.array_record"
    bad.write_bytes(bytes(data))
    try:
        damaged = array_records(str(bad))
    except ValueError as err:  # the damage hit what the file's index needs
        assert "bad.array_record" in str(err)
        return
    got = fetch(damaged, range(len(damaged)))
    failed = [g for g in got if isinstance(g, Exception)]
    assert failed and all("bad.array_record#" in str(e) for e in failed)
    assert sum(g == Path(p).read_bytes() for g, p in zip(got, clips.paths) if not isinstance(g, Exception)) >= 1


def test_parquet_null_audio_raises_or_is_skipped_and_counted(clips: AudioFiles, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"bytes": Path(p).read_bytes(), "path": Path(p).name} for p in clips.paths[:4]]
    rows[2] = None
    table = pa.table({"audio": pa.array(rows, type=pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
                      "label": pa.array([0, 1, 0, 1])})
    pq.write_table(table, tmp_path / "nulls.parquet", row_group_size=2)
    records = parquet_records(str(tmp_path / "nulls.parquet"))
    assert records.classes == ("0", "1")
    spec = ClipSpec(sr=SR, clip_seconds=0.2, crop="start")
    with pytest.raises(ValueError, match="nulls.parquet#row2: the audio is null"):
        ClipReader(records, spec).read([0, 0], [1, 2])
    reader = ClipReader(records, ClipSpec(sr=SR, clip_seconds=0.2, crop="start", on_error="skip"))
    with pytest.warns(SkippedRecordWarning, match="nulls.parquet#row2"):
        batch = reader.read([0, 0], [1, 2])
    assert reader.stats.snapshot()["skipped"] == 1 and batch["audio"].shape == (2, 3200)


# -- the reader and the cache over them --------------------------------------------


@pytest.mark.parametrize("kind", ["tar", "array_record", "parquet"])
def test_batches_equal_those_of_the_loose_files(
    kind: str, clips: AudioFiles, remote: dict, s3: S3Server, tmp_path: Path
) -> None:
    records = open_source(kind, remote[kind], storage_for(s3), tmp_path)
    epochs, indices = [0, 0, 1, 1, 2], [0, 5, 10, 3, 7]
    for clip_seconds in (0.2, None):
        spec = ClipSpec(sr=SR, clip_seconds=clip_seconds, seed=4)
        want = ClipReader(clips, spec).read(epochs, indices)
        got = ClipReader(records, spec).read(epochs, indices)
        for key in want:
            np.testing.assert_array_equal(got[key], want[key])


def test_epoch_two_reads_nothing_when_the_cache_holds_the_data_set(
    clips: AudioFiles, remote: dict, s3: S3Server, tmp_path: Path
) -> None:
    storage = storage_for(s3)
    shards = tar_shards(remote["tar"], storage=storage, index_dir=str(tmp_path))
    spec = ClipSpec(sr=SR, clip_seconds=0.2, seed=1)
    with AudioCache(max_ram_gb=0.05) as cache:
        reader = ClipReader(shards, spec, cache=cache)
        first = [reader.read([0] * 4, range(k, k + 4)) for k in range(0, 12, 4)]
        storage.reset_stats()
        requests = s3.requests
        again = [reader.read([0] * 4, range(k, k + 4)) for k in range(0, 12, 4)]
        assert storage.stats()["requests"] == 0 and s3.requests == requests
        assert cache.stats()["hits"] == 12
        for a, b in zip(first, again):
            np.testing.assert_array_equal(a["audio"], b["audio"])
        loose = ClipReader(clips, spec).read([0] * 4, range(4))
        np.testing.assert_array_equal(first[0]["audio"], loose["audio"])


def test_two_processes_read_disjoint_records_covering_the_set(
    markers: AudioFiles, s3: S3Server, tmp_path: Path
) -> None:
    """Two ranks of the torch loader over tar shards in the S3 server."""
    pytest.importorskip("torch")
    import subprocess
    import sys

    root = tmp_path / "shards"
    write_tar_shards(pairs(markers), str(root / "m-{:03d}.tar"), per_shard=4)
    fs = s3.filesystem()
    for name in os.listdir(root):
        fs.put_file(str(root / name), f"{BUCKET}/markers/{name}")
    script = tmp_path / "rank.py"
    script.write_text(
        "import json, sys\n"
        "from audiodecode.torch import AudioDataLoader\n"
        "from audiodecode.data.sources import Storage, tar_shards\n"
        "rank, options, index_dir = int(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]\n"
        f"shards = tar_shards('s3://{BUCKET}/markers/m-{{000..002}}.tar', storage=Storage(options), index_dir=index_dir)\n"
        "loader = AudioDataLoader(shards, batch_size=5, target_sr=16000, clip_seconds=0.1, rank=rank, world_size=2,\n"
        "                         num_threads=1, prefetch=1, cache=None)\n"
        "seen = []\n"
        "for epoch in range(2):\n"
        "    loader.set_epoch(epoch)\n"
        "    seen.append([round(float(row[0]) / 2**-12) - 1 for audio, labels in loader for row in audio])\n"
        "print(json.dumps(seen))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    procs = [
        subprocess.Popen([sys.executable, str(script), str(r), json.dumps(s3.storage_options()), str(tmp_path / "idx")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for r in range(2)
    ]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err[-2000:]
        outs.append(json.loads(out.strip().splitlines()[-1]))
    for epoch in range(2):
        a, b = outs[0][epoch], outs[1][epoch]
        assert len(a) == len(b) == 5
        assert not set(a) & set(b) and sorted(a + b) == list(range(10))


def test_jax_loader_over_s3_shards_resumes_and_caches(markers: AudioFiles, s3: S3Server, tmp_path: Path) -> None:
    """The JAX loader over tar shards in the S3 server: the batches of the
    loose files, an exact resume, and a cached second epoch that reads
    nothing from the server."""
    pytest.importorskip("jax")
    from audiodecode.jax import loader

    root = tmp_path / "shards"
    write_tar_shards(pairs(markers), str(root / "j-{:03d}.tar"), per_shard=3)
    fs = s3.filesystem()
    for name in os.listdir(root):
        fs.put_file(str(root / name), f"{BUCKET}/jax/{name}")
    storage = storage_for(s3)
    shards = tar_shards(f"s3://{BUCKET}/jax/j-{{000..003}}.tar", storage=storage, index_dir=str(tmp_path / "idx"))
    settings = dict(batch_size=5, clip_seconds=0.1, seed=2, num_threads=1, prefetch=1)

    def take(it: object, n: int) -> list[dict[str, np.ndarray]]:
        return [{k: np.asarray(v) for k, v in next(it).items()} for _ in range(n)]

    with loader(markers, cache=None, **settings) as it:
        want = take(it, 6)
    with AudioCache(max_ram_gb=0.05) as cache, loader(shards, cache=cache, **settings) as it:
        got = take(it, 2)  # epoch 0 (2 batches of 5)
        storage.reset_stats()
        got += take(it, 2)  # epoch 1: every record is a cache hit
        assert storage.stats()["requests"] == 0 and cache.stats()["hits"] >= 10
        state = it.get_state()
        got += take(it, 2)
    for a, b in zip(got, want):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    with loader(shards, cache=None, **settings) as it:
        it.set_state(state)
        resumed = take(it, 2)
    for a, b in zip(resumed, want[4:]):
        np.testing.assert_array_equal(a["audio"], b["audio"])


def test_loose_objects_in_a_bucket(clips: AudioFiles, s3: S3Server, tmp_path: Path) -> None:
    fs = s3.filesystem()
    urls = []
    for path in clips.paths:
        fs.put_file(path, f"{BUCKET}/loose/{Path(path).name}")
        urls.append(f"s3://{BUCKET}/loose/{Path(path).name}")
    storage = storage_for(s3)
    objects = object_files(urls, [clips.classes[k] for k in clips.labels], storage=storage)
    assert len(open_records(f"s3://{BUCKET}/loose/c0*", storage=storage)) == 10  # c00..c09
    spec = ClipSpec(sr=SR, clip_seconds=0.25, seed=5)
    want = ClipReader(clips, spec).read([0] * 6, range(6))
    got = ClipReader(objects, spec).read([0] * 6, range(6))
    np.testing.assert_array_equal(got["audio"], want["audio"])
    np.testing.assert_array_equal(got["label"], want["label"])
    assert storage.stats()["requests"] >= 6


# -- a pattern or URL handed to the loaders directly ----------------------------------------------


def loader_batches(files: object, framework: str) -> list[dict[str, np.ndarray]]:
    """Every batch of one epoch of `framework`'s loader over `files`, as numpy."""
    settings = {"batch_size": 4, "clip_seconds": 0.2, "seed": 1, "num_threads": 1, "prefetch": 1, "cache": None}
    if framework == "jax":
        from audiodecode.jax import loader

        with loader(files, num_epochs=1, **settings) as it:
            return [{k: np.asarray(v) for k, v in b.items()} for b in it]
    pytest.importorskip("torch")
    from audiodecode.torch import AudioDataLoader

    with AudioDataLoader(files, as_dict=True, **settings) as it:
        return [{k: v.numpy() for k, v in b.items()} for b in it]


def assert_same_batches(got: list[dict[str, np.ndarray]], want: list[dict[str, np.ndarray]]) -> None:
    assert len(got) == len(want) > 0
    for a, b in zip(got, want):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.mark.parametrize("framework", ["jax", "torch"])
@pytest.mark.parametrize("kind", ["tar", "array_record", "parquet"])
def test_a_pattern_string_loads_like_its_source_function(
    kind: str, framework: str, local: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # where the tar index goes by default
    pattern = {"tar": local["tar"], "array_record": f"{local['root']}/*.array_record",
               "parquet": f"{local['root']}/*.parquet"}[kind]
    opener = {"tar": tar_shards, "array_record": array_records, "parquet": parquet_records}[kind]
    wrapped = opener(pattern)
    assert open_records(pattern).fingerprint == wrapped.fingerprint
    assert_same_batches(loader_batches(pattern, framework), loader_batches(wrapped, framework))


def test_an_s3_url_loads_like_its_source_function(
    s3: S3Server, remote: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bare URL carries no storage options: the endpoint and keys come from
    # the environment, as boto reads them.
    options = s3.storage_options()
    for name, value in (("AWS_ENDPOINT_URL", s3.endpoint_url), ("AWS_ACCESS_KEY_ID", options["key"]),
                        ("AWS_SECRET_ACCESS_KEY", options["secret"]), ("AWS_DEFAULT_REGION", "us-east-1"),
                        ("XDG_CACHE_HOME", str(tmp_path))):
        monkeypatch.setenv(name, value)
    wrapped = tar_shards(remote["tar"], storage=storage_for(s3))
    assert_same_batches(loader_batches(remote["tar"], "jax"), loader_batches(wrapped, "jax"))
    from audiodecode.jax import loader

    with loader(wrapped, clip_seconds=0.2, num_threads=1, prefetch=1, cache=None) as it:
        state = json.dumps(it.get_state())
    assert options["secret"] not in state and options["key"] not in state  # never credentials
    wrapped.source.storage.close()
    # The loader closes the I/O threads of a source it opened from a URL
    # (the caller's own storage stays open until the caller closes it).
    it = loader(remote["tar"], batch_size=4, clip_seconds=0.2, num_threads=1, prefetch=1, cache=None)
    next(it)
    assert it.files.source.storage.is_native(remote["tar"].replace("{000000..000002}", "000000"))
    assert engine_threads() > 0  # the native engine's runtime reads s3://
    it.close()
    # A batch read ahead may still hold the runtime; it ends with that batch.
    deadline = time.monotonic() + 10
    while engine_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert engine_threads() == 0


def test_the_data_package_exports_sources_and_writers_without_optional_packages() -> None:
    import subprocess
    import sys

    names = ["audio_files", "open_records", "tar_shards", "array_records", "parquet_records", "object_files",
             "Storage", "write_tar_shards", "write_array_record", "write_parquet"]
    code = (
        "import sys\n"
        "for m in ('pyarrow', 'fsspec', 's3fs', 'array_record'): sys.modules[m] = None  # not installed\n"
        "import audiodecode.data as d\n"
        f"print(all(callable(getattr(d, n)) for n in {names!r}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert out.stdout.strip() == "True", out.stderr
    from audiodecode import data
    from audiodecode.data import sources

    assert set(names) <= set(data.__all__)
    assert data.tar_shards is sources.tar_shards and data.audio_files is audio_files
