"""`audiodecode.prepare`: a generated corpus with damaged files into shards
the loaders read; rejects, resume after a kill, refusals, buckets, and the
Ray runner's identical output."""

from __future__ import annotations

import glob
import json
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest

import audiodecode
import synth
from audiodecode.data import array_records, parquet_records, tar_shards
from audiodecode.preparation import ConfigMismatchError
from prepare_corpus import make_corpus

ROOT = Path(__file__).resolve().parents[1]
OPENERS = {"tar": tar_shards, "array_record": array_records, "parquet": parquet_records}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("corpus") / "in", n=12)


def shards_of(out: Path, fmt: str) -> list[str]:
    return sorted(p for p in glob.glob(str(out / "shard-*")) if not p.endswith(".json"))


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def folder_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}


@pytest.mark.parametrize("fmt", ["tar", "array_record", "parquet"])
def test_prepare_writes_shards_the_sources_read(corpus: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "out"
    summary = audiodecode.prepare(corpus, out, format=fmt, sr=16000, shard_size="200KB", progress=False)
    assert summary.files == 12 and summary.shards == len(shards_of(out, fmt)) > 1
    rejects = {Path(r["source"]).name: r for r in lines(out / "rejects.jsonl")}
    assert set(rejects) == {"empty.wav", "garbage.flac", "truncated.flac"}
    assert "empty" in rejects["empty.wav"]["reason"] and "truncated" in rejects["truncated.flac"]["reason"]
    assert sum(summary.rejects.values()) == 3
    manifest = lines(out / "manifest.jsonl")
    files = OPENERS[fmt](shards_of(out, fmt))
    assert len(files) == len(manifest) == 12
    assert files.classes == ("cat", "dog")
    # Every record decodes at the new rate, with the probed length.
    for row in manifest[:4]:
        assert row["sr"] == 16000 and row["label"] in ("cat", "dog")
        source_seconds = audiodecode.info(row["source"]).duration
        assert abs(row["duration"] - source_seconds) < 0.01
    assert summary.hours == pytest.approx(sum(r["duration"] for r in manifest) / 3600)


def test_probing_reads_headers_in_parallel_batches(corpus: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The local runner probes on duration probing's machinery: one
    `info_batch` call (Rust threads, GIL released) for the whole corpus,
    no per-file `info`; the empty file is refused before it."""
    batches: list[list] = []
    real = audiodecode.loading.info_batch

    def counted(sources: list, **kw: object) -> list:
        batches.append(list(sources))
        return real(sources, **kw)

    monkeypatch.setattr("audiodecode.preparation.probe.info_batch", counted)
    monkeypatch.setattr(audiodecode.loading, "info", lambda *a, **k: pytest.fail("info called per file"))
    summary = audiodecode.prepare(corpus, tmp_path / "out", num_workers=2, progress=False)
    assert len(batches) == 1 and len(batches[0]) == 14  # 15 files, the empty one refused first
    assert summary.files == 12 and sum(summary.rejects.values()) == 3


def test_the_plan_keeps_probed_records_as_columns() -> None:
    """A job's probed records are held and stored as columns (the plan's
    ``plan.npz``), not a dict per record: 181 bytes a record at 1M
    records, against 670 in memory and 311 in JSON as dicts; each record's
    dict comes back exactly as the probe gave it."""
    from audiodecode.preparation.table import RecordTable, TableBuilder

    rows = 20_000
    probed = [{"index": i, "path": f"/data/audio/{i // 1000:05d}/{i:09d}.flac", "offset": 0.25 * (i % 3),
               "duration": None if i % 2 else 1.5, "label": (None, "cat", "dog")[i % 3],
               "text": None if i % 5 == 0 else f"words {i}", "row": None if i % 7 == 0 else i, "sr_in": 48000,
               "channels_in": 1 + i % 2, "codec": ("flac", "mp3")[i % 2], "bits_in": None if i % 2 else 24,
               "seconds": 1.0 + i / 7, "total": 2.0 + i / 7, "est_bytes": 40_000 + i} for i in range(rows)]
    builder = TableBuilder()
    for start in range(0, rows, 256):
        builder.add(probed[start:start + 256])
    table = builder.build()
    assert [table.record(i) for i in range(rows)] == probed
    strings = sum(len(r["path"]) + len(r["text"] or "") for r in probed)
    data = table.to_bytes(order=np.arange(rows))
    # Strings and their ends (16), 6 ints, 4 floats (80), order (8), codes and a flag (9), the npz's headers.
    assert len(data) <= strings + 120 * rows, len(data) / rows
    again, extra = RecordTable.from_bytes(data)
    assert [again.record(i) for i in range(0, rows, 97)] == probed[::97]
    np.testing.assert_array_equal(extra["order"], np.arange(rows))


def test_flac_members_hold_the_resampled_audio(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    audiodecode.prepare(corpus, out, sr=16000, mono=True, progress=False)
    row = lines(out / "manifest.jsonl")[0]
    with tarfile.open(out / row["shard"]) as tar:
        data = tar.extractfile(row["member"]).read()
    got, sr = audiodecode.load(data, sr=None)
    want, _ = audiodecode.load(row["source"], sr=16000, mono=True)
    assert sr == 16000 and got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1.5 / 32767)  # 16-bit quantization


def test_flac_keeps_the_source_depth_losslessly(tmp_path: Path) -> None:
    """At the source's own rate and channels FLAC output is lossless: a
    16-bit source (full scale included) comes back as the same integers, a
    24-bit one as 24-bit FLAC with the same integers, float as 24-bit; a
    lossy source gives 16-bit."""
    sf = pytest.importorskip("soundfile")
    import io

    rng = np.random.default_rng(11)
    folder = tmp_path / "in"
    folder.mkdir()
    s16 = np.concatenate([[32767, -32768, 16384, -16385], rng.integers(-32768, 32768, 8000)]).astype(np.int16)
    s24 = np.concatenate([[2**23 - 1, -(2**23)], rng.integers(-(2**23), 2**23, 8000)]).astype(np.int32)
    sf.write(folder / "a16.wav", s16, 16000, subtype="PCM_16")
    sf.write(folder / "b24.flac", s24 << 8, 16000, subtype="PCM_24")  # soundfile's int32 is full scale
    sf.write(folder / "c32.wav", rng.uniform(-0.9, 0.9, 8000).astype(np.float32), 16000, subtype="FLOAT")
    synth.encode(folder / "d.mp3", synth.speech_like(0.5, 16000, seed=2), 16000, "mp3")
    out = tmp_path / "out"
    audiodecode.prepare(folder, out, progress=False)
    rows = {Path(r["source"]).name: r for r in lines(out / "manifest.jsonl")}
    assert {k: r["bits_per_sample"] for k, r in rows.items()} == {"a16.wav": 16, "b24.flac": 24, "c32.wav": 24,
                                                                   "d.mp3": 16}
    with tarfile.open(out / rows["a16.wav"]["shard"]) as tar:
        members = {name: tar.extractfile(row["member"]).read() for name, row in rows.items()}
    assert sf.info(io.BytesIO(members["a16.wav"])).subtype == "PCM_16"
    np.testing.assert_array_equal(sf.read(io.BytesIO(members["a16.wav"]), dtype="int16")[0], s16)
    assert sf.info(io.BytesIO(members["b24.flac"])).subtype == "PCM_24"
    np.testing.assert_array_equal(sf.read(io.BytesIO(members["b24.flac"]), dtype="int32")[0] >> 8, s24)
    assert sf.info(io.BytesIO(members["c32.wav"])).subtype == "PCM_24"
    assert sf.info(io.BytesIO(members["d.mp3"])).subtype == "PCM_16"


def test_manifest_offsets_trim_and_texts_carry(corpus: Path, tmp_path: Path) -> None:
    clip = str(next(corpus.glob("cat/*.wav")))
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in [
        {"audio_filepath": clip, "offset": 0.1, "duration": 0.3, "text": "hello"},
        {"audio_filepath": clip, "duration": 0.2, "text": "world"},
        {"audio_filepath": str(corpus / "missing.wav"), "duration": 1.0, "text": "gone"},
    ]))
    out = tmp_path / "out"
    audiodecode.prepare(manifest, out, sr=8000, progress=False)
    rows = lines(out / "manifest.jsonl")
    assert [r["text"] for r in rows] == ["hello", "world"]
    assert rows[0]["duration"] == pytest.approx(0.3, abs=1e-3) and rows[0]["source_offset"] == pytest.approx(0.1)
    assert rows[1]["duration"] == pytest.approx(0.2, abs=1e-3)
    rejects = lines(out / "rejects.jsonl")
    assert len(rejects) == 1 and "missing.wav" in rejects[0]["reason"]
    with pytest.raises(ValueError, match="copy"):
        audiodecode.prepare(manifest, tmp_path / "copy", codec="copy", sr=8000, progress=False)
    audiodecode.prepare(manifest, tmp_path / "copy", codec="copy", progress=False)
    assert all("codec='copy' cannot" in r["reason"] for r in lines(tmp_path / "copy" / "rejects.jsonl")[:2])


def test_refusals_at_start_name_the_problem(corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        audiodecode.prepare(tmp_path / "nothing-here", tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(PermissionError, match="a-file"):
        audiodecode.prepare(corpus, blocker / "out", progress=False)
    out = tmp_path / "out"
    audiodecode.prepare(corpus, out, sr=16000, progress=False)
    with pytest.raises(ValueError, match="empty.wav: ValueError: empty file"):
        audiodecode.prepare(corpus, tmp_path / "strict", on_error="raise", progress=False)
    with pytest.raises(ConfigMismatchError, match="sr=16000 there, 8000 now"):
        audiodecode.prepare(corpus, out, sr=8000, progress=False)
    done = subprocess.run([sys.executable, "-m", "audiodecode", "prepare", str(tmp_path / "nothing-here"), str(out)],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2 and "FileNotFoundError" in done.stderr and "nothing-here" in done.stderr


# The child: the real job with a pause after each shard ("between"), or
# inside each shard's write, its temporary file whole but not yet renamed
# ("mid-shard"), so the kill lands there.
CHILD = """
import sys, time
import audiodecode.preparation.runners as runners
from audiodecode.preparation.output import Output
if sys.argv[1] == "between":
    real = runners.write_shard
    def slow(*args, **kwargs):
        part = real(*args, **kwargs)
        time.sleep(0.4)
        return part
    runners.write_shard = slow
else:
    publish = Output.publish
    def slow_publish(self, tmp, name):
        time.sleep(0.4)
        return publish(self, tmp, name)
    Output.publish = slow_publish
from audiodecode.__main__ import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("where", ["between", "mid-shard"])
def test_killed_job_resumes_to_identical_bytes(corpus: Path, tmp_path: Path, where: str) -> None:
    args = [str(corpus), "--sr", "16000", "--shard-size", "100KB", "--num-workers", "2", "--quiet"]
    whole = tmp_path / "whole"
    subprocess.run([sys.executable, "-m", "audiodecode", "prepare", args[0], str(whole), *args[1:]], check=True, cwd=ROOT)
    shards = len(glob.glob(str(whole / "shard-*.tar")))
    assert shards >= 4
    out = tmp_path / "killed"
    child = subprocess.Popen([sys.executable, "-c", CHILD, where, "prepare", args[0], str(out), *args[1:]], cwd=ROOT)

    def landed() -> bool:
        finished = len(glob.glob(str(out / ".prepare" / "shard-*.json")))
        # Mid-shard: a later shard's temporary file is there, whole, not renamed.
        return finished >= 2 and (where == "between" or bool(glob.glob(str(out / "shard-*.tar.tmp*"))))

    deadline = time.monotonic() + 60
    while not landed() and time.monotonic() < deadline:
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait()
    finished = glob.glob(str(out / ".prepare" / "shard-*.json"))
    assert 2 <= len(finished) < shards, "the kill must land mid-way"
    assert where == "between" or glob.glob(str(out / "shard-*.tar.tmp*")), "the kill must land inside a shard's write"
    assert not (out / "manifest.jsonl").exists()
    for shard in glob.glob(str(out / "shard-*.tar")):  # nothing half-written under a final name
        with tarfile.open(shard) as tar:
            assert tar.getmembers()
    subprocess.run([sys.executable, "-m", "audiodecode", "prepare", args[0], str(out), *args[1:]], check=True, cwd=ROOT)
    assert not glob.glob(str(out / "**" / "*.tmp*"), recursive=True, include_hidden=True)  # the killed run's, removed
    assert folder_bytes(out) == folder_bytes(whole)


def test_bucket_by_duration_gives_one_range_per_shard(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "in", n=16, seconds=(0.3, 3.0), seed=3)
    out = tmp_path / "out"
    audiodecode.prepare(corpus, out, sr=8000, bucket_by_duration=[1.0, 2.0], shard_size="1MB", progress=False)
    rows = lines(out / "manifest.jsonl")
    by_shard: dict[str, set] = {}
    for row in rows:
        lo, hi = row["bucket"]
        # The range is the probed (header) duration's; the decoded one agrees to a frame.
        assert lo - 0.05 <= row["duration"] and (hi is None or row["duration"] <= hi + 0.05)
        by_shard.setdefault(row["shard"], set()).add(tuple(row["bucket"]))
    assert all(len(b) == 1 for b in by_shard.values()) and len(by_shard) == 3


def test_loaders_read_the_prepared_set(corpus: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from audiodecode.jax import loader
    from audiodecode.torch import AudioDataLoader

    out = tmp_path / "out"
    audiodecode.prepare(corpus, out, sr=16000, mono=True, shard_size="200KB", progress=False)
    shards = tar_shards(shards_of(out, "tar"), index_dir=str(tmp_path / "idx"))
    settings = {"batch_size": 4, "clip_seconds": 0.2, "seed": 1, "num_threads": 1, "prefetch": 1, "cache": None}
    with AudioDataLoader(shards, as_dict=True, **settings) as it:
        torch_batches = [{k: v.numpy() for k, v in b.items()} for b in it]
    with loader(shards, num_epochs=1, **settings) as it:
        jax_batches = [{k: np.asarray(v) for k, v in b.items()} for b in it]
    assert len(torch_batches) == len(jax_batches) == 3  # 12 good files
    for a, b in zip(torch_batches, jax_batches):
        np.testing.assert_array_equal(a["audio"], b["audio"])
        assert np.abs(a["audio"]).max() > 0.01
    labels = sorted(int(x) for b in torch_batches for x in b["label"])
    assert labels == [0] * 6 + [1] * 6  # 6 cat, 6 dog; the damaged dogs are in rejects.jsonl


def test_bucketed_loaders_read_each_batch_from_one_shard(tmp_path: Path) -> None:
    """Shards of one duration range each (`bucket_by_duration`), read with
    both loaders' duration buckets: every batch's records come from one
    shard, and an epoch still reads every record once."""
    pytest.importorskip("torch")
    from audiodecode.jax import loader
    from audiodecode.torch import AudioDataLoader

    corpus = make_corpus(tmp_path / "in", n=60, seconds=(0.3, 3.0), seed=5)
    out = tmp_path / "out"
    audiodecode.prepare(corpus, out, sr=8000, mono=True, bucket_by_duration=[1.0, 2.0], shard_size="400KB",
                        progress=False)
    rows = lines(out / "manifest.jsonl")
    assert len({r["shard"] for r in rows}) > len({tuple(r["bucket"]) for r in rows})  # buckets of several shards
    shards = tar_shards(shards_of(out, "tar"), index_dir=str(tmp_path / "idx"))
    shard_of = [key.split("#", 1)[0] for key in shards.paths]
    # The loader's bucket edges are the prepared ranges', so each shard lies in one bucket.
    settings = {"batch_by": "duration", "max_batch_seconds": 6.2, "bucket_boundaries": [1.0, 2.0, 3.1], "seed": 1,
                "num_threads": 1, "prefetch": 1, "cache": None}
    with AudioDataLoader(shards, target_sr=8000, **settings) as it:
        torch_batches = [b["index"].numpy()[b["mask"].numpy()] for b in it]
    with loader(shards, sr=8000, num_epochs=1, **settings) as it:
        jax_batches = [np.asarray(b["index"])[np.asarray(b["mask"])] for b in it]
    assert len(torch_batches) == len(jax_batches) > len(shard_of) // 6
    for mine, theirs in zip(torch_batches, jax_batches):
        np.testing.assert_array_equal(mine, theirs)
        assert len({shard_of[i] for i in mine}) == 1
    assert sorted(i for b in torch_batches for i in b) == list(range(len(shards)))


@pytest.mark.slow
def test_ray_runner_writes_the_same_bytes(corpus: Path, tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    local, remote = tmp_path / "local", tmp_path / "ray"
    audiodecode.prepare(corpus, local, sr=16000, shard_size="200KB", progress=False)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        summary = audiodecode.prepare(corpus, remote, sr=16000, shard_size="200KB", runner="ray", progress=False)
    finally:
        ray.shutdown()
    assert summary.files == 12
    assert folder_bytes(remote) == folder_bytes(local)


def test_url_prefix_in_and_bucket_out_through_storage(corpus: Path, tmp_path: Path) -> None:
    """A URL prefix in and a URL out (fsspec's in-memory file system standing
    in for a bucket): every audio object under the prefix, labelled by
    folder like the folder, and the same bytes as a local job."""
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    for path in sorted(corpus.rglob("*.*")):
        fs.pipe(f"/i21-bucket/clips/{path.relative_to(corpus)}", path.read_bytes())
    try:
        summary = audiodecode.prepare("memory://i21-bucket/clips/", "memory://i21-bucket/prepared", sr=16000,
                                      progress=False)
        local = tmp_path / "local"
        audiodecode.prepare(corpus, local, sr=16000, progress=False)
        assert summary.files == 12 and sum(summary.rejects.values()) == 3
        assert fs.cat("/i21-bucket/prepared/shard-000000.tar") == (local / "shard-000000.tar").read_bytes()
        assert len(tar_shards("memory://i21-bucket/prepared/shard-*.tar", index_dir=str(tmp_path / "idx"))) == 12
        again = audiodecode.prepare("memory://i21-bucket/clips/", "memory://i21-bucket/prepared", sr=16000,
                                    progress=False)
        assert again.skipped_shards == again.shards  # resumed: every shard found finished
        with pytest.raises(ConfigMismatchError, match="mono=False there, True now"):
            audiodecode.prepare("memory://i21-bucket/clips/", "memory://i21-bucket/prepared", sr=16000, mono=True,
                                progress=False)
    finally:
        fs.rm("/i21-bucket", recursive=True)


def test_url_prefix_on_s3_read_natively_and_written_back(corpus: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A real S3 server (moto on 127.0.0.1): every object under the prefix
    read through the native engine (each read counted there), the shards
    uploaded by it straight to the output prefix, byte-identical to a local job,
    resumed, refused with other settings, and read back by the loaders'
    tar source over S3."""
    pytest.importorskip("moto")
    from audiodecode.data.sources import Storage
    from audiodecode.data.sources import storage as storage_module
    from s3server import S3Server

    with S3Server() as s3:
        s3.make_bucket("corpus")
        fs = s3.filesystem()
        for path in sorted(corpus.rglob("*.*")):
            fs.put_file(str(path), f"corpus/clips/{path.relative_to(corpus)}")
        storage = Storage(s3.storage_options())
        native_reads = []
        real = Storage._read_native

        def counted(self: Storage, ranges: list) -> list:
            native_reads.extend(r.url for r in ranges)
            return real(self, ranges)

        monkeypatch.setattr(Storage, "_read_native", counted)
        uploads = []
        real_put = storage_module._core.storage_put_file

        def put(url: str, *args: object) -> tuple:
            uploads.append(url)
            return real_put(url, *args)

        monkeypatch.setattr(storage_module._core, "storage_put_file", put)
        summary = audiodecode.prepare("s3://corpus/clips/", "s3://corpus/prepared", sr=16000, storage=storage,
                                      progress=False)
        # Every file of the output was uploaded by the native engine.
        assert sorted(uploads) == sorted(f"s3://{p}" for p in fs.find("corpus/prepared"))
        local = tmp_path / "local"
        audiodecode.prepare(corpus, local, sr=16000, progress=False)
        assert summary.files == 12 and sum(summary.rejects.values()) == 3
        # Every input object was read by the native engine (probe, then convert).
        assert {u for u in native_reads if "/clips/" in u} == {f"s3://corpus/clips/{p.relative_to(corpus)}"
                                                                 for p in corpus.rglob("*.*")}
        names = sorted(p.name for p in local.iterdir() if p.is_file())
        for name in names:
            got = fs.cat(f"corpus/prepared/{name}")
            want = (local / name).read_bytes()
            if name.endswith(".jsonl"):  # sources are URLs there, paths here
                got, want = len(got.splitlines()), len(want.splitlines())
            elif name == "prepare.json":
                got, want = ({k: v for k, v in json.loads(x).items() if k != "source"} for x in (got, want))
            assert got == want, name
        assert not [p for p in fs.find("corpus/prepared") if ".tmp" in p]
        again = audiodecode.prepare("s3://corpus/clips/", "s3://corpus/prepared", sr=16000, storage=storage,
                                    progress=False)
        assert again.skipped_shards == again.shards
        with pytest.raises(ConfigMismatchError, match="mono=False there, True now"):
            audiodecode.prepare("s3://corpus/clips/", "s3://corpus/prepared", sr=16000, mono=True, storage=storage,
                                progress=False)
        shards = tar_shards("s3://corpus/prepared/shard-*.tar", storage=storage, index_dir=str(tmp_path / "idx"))
        assert len(shards) == 12 and bytes(shards.source.read(shards.paths[0]))[:4] == b"fLaC"
        storage.close()


def test_copy_keeps_the_original_bytes_and_validate_decides_what_passes(corpus: Path, tmp_path: Path) -> None:
    full = audiodecode.prepare(corpus, tmp_path / "full", codec="copy", format="parquet", progress=False)
    none = audiodecode.prepare(corpus, tmp_path / "none", codec="copy", validate="none", format="parquet", progress=False)
    # Headers alone pass the truncated FLAC; decoding it whole does not.
    assert full.files == 12 and none.files == 13
    rows = lines(tmp_path / "full" / "manifest.jsonl")
    files = parquet_records(shards_of(tmp_path / "full", "parquet"))
    assert rows[0]["member"].endswith(Path(rows[0]["source"]).suffix)
    assert bytes(files.source.read(files.paths[0])) == Path(rows[0]["source"]).read_bytes()
