"""The native read engine (`core_rs/src/storage/`) against real servers on
127.0.0.1 started here: aiohttp's file server with faults injected
(`tests/rangeserver.py`) and moto's S3 server (`tests/s3server.py`).
Every bad answer must end as a clear, named error or a retried success,
never as wrong bytes, within the total time limit; credentials never show."""

from __future__ import annotations

import os
import pickle
import time
import warnings
from pathlib import Path

import pytest

pytest.importorskip("aiohttp")
pytest.importorskip("moto")
pytest.importorskip("s3fs")

from audiodecode import _core
from audiodecode.data.reading import SkippedRecordWarning
from audiodecode.data.records import AudioFiles, audio_files
from audiodecode.data.sources import (
    ByteRange,
    RetryPolicy,
    SourceReadError,
    Storage,
    tar_shards,
    write_tar_shards,
)
from audiodecode.data.sources.base import fetch
from audiodecode.data.sources.storage import ObjectChangedError, native_options
from engine_threads import engine_threads
from rangeserver import RangeServer
from s3server import S3Server
from synth import make, speech_like

SR = 16000
FAST = RetryPolicy(attempts=5, backoff_s=0.01, max_backoff_s=0.05, timeout_s=5)
BLOB = bytes(range(256)) * 400


@pytest.fixture
def served(tmp_path: Path) -> RangeServer:
    (tmp_path / "blob").write_bytes(BLOB)
    with RangeServer(tmp_path) as server:
        yield server


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> AudioFiles:
    root = tmp_path_factory.mktemp("clips")
    paths = [make(root, f"c{i:02d}", speech_like(0.4, SR, seed=i), SR, ("flac", "wav", "mp3")[i % 3]) for i in range(9)]
    return audio_files(paths, labels=[i % 3 for i in range(9)])


def connections_to(port: int) -> int:
    """Open TCP connections of this process whose remote port is `port`."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    count = 0
    for line in Path("/proc/self/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote_port = int(fields[2].split(":")[1], 16)
        if remote_port == port and fields[9] in inodes and fields[3] == "01":  # ESTABLISHED
            count += 1
    return count


def test_ranges_come_back_exact_and_neighbours_share_a_request(served: RangeServer) -> None:
    storage = Storage(retry=FAST, coalesce_gap=1000)
    url = f"{served.url}/blob"
    wanted = [(k, k + 300) for k in range(0, 20_000, 500)] + [(90_000, 90_010), (5, 7), (5, 7)]
    before = served.requests
    got = storage.read_many([ByteRange(url, a, b) for a, b in wanted])
    assert got == [BLOB[a:b] for a, b in wanted]
    # 40 ranges 200 bytes apart are one request, the far one another.
    assert served.requests - before == 2 == storage.stats()["requests"]
    assert storage.read(url) == BLOB and storage.size(url) == len(BLOB)
    apart = Storage(retry=FAST, coalesce_gap=0)
    before = served.requests
    apart.read_many([ByteRange(url, a, b) for a, b in wanted[:10]])
    assert served.requests - before == 10


def test_a_batch_goes_out_at_once(served: RangeServer) -> None:
    served.delay_s = 0.2
    storage = Storage(retry=FAST, coalesce_gap=0, max_in_flight=256)
    url = f"{served.url}/blob"
    t0 = time.monotonic()
    got = storage.read_many([ByteRange(url, k * 100, k * 100 + 10) for k in range(100)])
    # One after another: 20 s. All at once: one round trip (and some CPU).
    assert time.monotonic() - t0 < 5
    assert got == [BLOB[k * 100 : k * 100 + 10] for k in range(100)]


@pytest.mark.parametrize("fault", ["503", "429", "cut", "reset"])
def test_transient_faults_are_retried_and_counted(served: RangeServer, fault: str) -> None:
    storage = Storage(retry=FAST)
    served.fail_next(2, fault)
    assert storage.read(f"{served.url}/blob", 100, 60_000) == BLOB[100:60_000]
    assert served.faults_served == 2
    assert storage.stats()["retries"] == 2


@pytest.mark.parametrize(
    ("fault", "error", "reason"),
    [("404", FileNotFoundError, "HTTP 404"), ("403", PermissionError, "HTTP 403"),
     ("whole", SourceReadError, "the server ignores Range")],
)
def test_final_answers_are_named_errors_not_bytes(served: RangeServer, fault: str, error: type, reason: str) -> None:
    storage = Storage(retry=FAST)
    served.fail_next(1, fault)
    url = f"{served.url}/blob"
    with pytest.raises(error, match=f"{url} bytes 10-20: {reason}"):
        storage.read(url, 10, 20)
    assert served.faults_served == 1  # not retried
    assert storage.stats()["failures"] == 1


def test_every_wait_is_bounded_by_the_total_time(served: RangeServer) -> None:
    served.stall_s = 30
    served.fail_next(100, "stall")
    storage = Storage(retry=RetryPolicy(attempts=3, backoff_s=0.01, timeout_s=1.5))
    t0 = time.monotonic()
    got = storage.read_many([ByteRange(f"{served.url}/blob", 0, 10), ByteRange(f"{served.url}/blob", 99_000, 99_010)])
    assert time.monotonic() - t0 < 4
    assert all(isinstance(e, SourceReadError) and "gave up" in str(e) for e in got)
    served.fail_next(0)
    unknown = Storage(retry=RetryPolicy(attempts=3, backoff_s=0.05, timeout_s=2))
    t0 = time.monotonic()
    with pytest.raises(SourceReadError, match=r"http://no-such-host\.invalid/x\.flac bytes 0-4: .*gave up"):
        unknown.read("http://no-such-host.invalid/x.flac", 0, 4)
    assert time.monotonic() - t0 < 5


def test_a_cut_body_is_never_decoded(served: RangeServer) -> None:
    storage = Storage(retry=RetryPolicy(attempts=2, backoff_s=0.01, timeout_s=5))
    served.fail_next(5, "cut")
    with pytest.raises(SourceReadError, match="gave up after 2 tries"):
        storage.read(f"{served.url}/blob", 0, 50_000)


def test_a_shard_rewritten_after_indexing_is_a_named_error(clips: AudioFiles, tmp_path: Path) -> None:
    root = tmp_path / "www"
    shards = write_tar_shards([(p, int(label)) for p, label in zip(clips.paths, clips.labels)],
                              str(root / "s-{:02d}.tar"), per_shard=5)
    with RangeServer(root) as server:
        storage = Storage(retry=FAST)
        records = tar_shards(f"{server.url}/s-{{00..01}}.tar", storage=storage, index_dir=str(tmp_path / "idx"))
        assert fetch(records, [0, 6]) == [Path(clips.paths[i]).read_bytes() for i in (0, 6)]
        time.sleep(0.01)
        Path(shards[0]).write_bytes(Path(shards[0]).read_bytes()[::-1])
        got = fetch(records, [1, 7])
        assert isinstance(got[0], ObjectChangedError) and "changed since it was indexed" in str(got[0])
        assert str(got[0]).startswith(f"{records.paths[1]}: {server.url}/s-00.tar bytes")
        assert got[1] == Path(clips.paths[7]).read_bytes()


def test_the_loader_skips_unreadable_records_counting_and_warning(clips: AudioFiles, tmp_path: Path) -> None:
    torch_loader = pytest.importorskip("audiodecode.torch")
    root = tmp_path / "www"
    write_tar_shards([(p, int(label)) for p, label in zip(clips.paths, clips.labels)], str(root / "s-{:02d}.tar"),
                     per_shard=9)
    with RangeServer(root) as server:
        storage = Storage(retry=RetryPolicy(attempts=1, timeout_s=5))
        records = tar_shards(f"{server.url}/s-00.tar", storage=storage, index_dir=str(tmp_path / "idx"))
        loader = torch_loader.AudioDataLoader(records, batch_size=3, target_sr=SR, clip_seconds=0.2, cache=None,
                                              num_threads=1, prefetch=1, device="cpu", on_error="skip",
                                              shuffle=False)
        try:
            next(iter(loader))  # the loader measures itself on healthy reads first
            server.fail_next(2, "503")
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                batches = list(loader)
            stats = loader.stats()
            assert stats["skipped"] >= 1
            assert any(issubclass(w.category, SkippedRecordWarning) and "HTTP 503" in str(w.message) for w in caught)
            assert sum(len(b[0]) for b in batches) == 9
            assert stats["storage"]["requests"] > 0 and stats["storage"]["p99_latency_s"] > 0
        finally:
            loader.close()
        # close(): no engine threads, no connections to the server left.
        assert engine_threads() == 0
        assert connections_to(int(server.url.rsplit(":", 1)[1])) == 0


def test_close_leaves_no_threads_or_sockets_and_reading_again_works(served: RangeServer) -> None:
    storage = Storage(retry=FAST, coalesce_gap=0)
    port = int(served.url.rsplit(":", 1)[1])
    storage.read_many([ByteRange(f"{served.url}/blob", k, k + 1) for k in range(0, 40_000, 1000)])
    assert engine_threads() > 0 and connections_to(port) > 0
    storage.close()
    assert engine_threads() == 0 and connections_to(port) == 0
    assert storage.read(f"{served.url}/blob", 3, 5) == BLOB[3:5]
    storage.close()


def test_the_engine_reads_local_files_too(tmp_path: Path) -> None:
    (tmp_path / "blob").write_bytes(BLOB)
    url = f"file://{tmp_path}/blob"
    policy = (2, 0.01, 0.1, 5.0, 8, 0, 1 << 20)
    results, (requests, nbytes, retries, _) = _core.storage_read_batch(
        [(url, 5, 9, None), (url, 0, None, None), (url, 9, 5, None), (f"file://{tmp_path}/missing", 0, 1, None)],
        [], policy)
    assert results[:2] == [BLOB[5:9], BLOB]
    assert results[2][0] == "invalid" and results[3][0] == "not_found"
    assert (requests, nbytes, retries) == (2, 4 + len(BLOB), 0)
    [(kind, message)], _ = _core.storage_read_batch([(url, 100, len(BLOB) + 1, None)], [], policy)
    assert kind == "failed" and f"{url} bytes 100-{len(BLOB) + 1}: got" in message and "shorter" in message


def test_gs_and_az_urls_read_through_their_own_clients(tmp_path: Path) -> None:
    # No GCS or Azure emulator installs with pip; both clients take a base
    # URL, so they are pointed at the range server, which answers their
    # ranged GETs and HEADs at /<bucket or container>/<object>.
    (tmp_path / "bucket").mkdir()
    (tmp_path / "bucket" / "blob").write_bytes(BLOB)
    with RangeServer(tmp_path) as server:
        storage = Storage({
            "gs": {"google_base_url": server.url, "google_skip_signature": True},
            "az": {"azure_storage_account_name": "account", "azure_endpoint": server.url,
                   "azure_skip_signature": True, "allow_http": True},
        }, retry=FAST)
        for url in ("gs://bucket/blob", "az://bucket/blob"):
            assert storage.is_native(url)
            assert storage.size(url) == len(BLOB)
            assert storage.read_many([ByteRange(url, 7, 900), ByteRange(url, 50_000, 50_003)]) == [
                BLOB[7:900], BLOB[50_000:50_003]]
            with pytest.raises(FileNotFoundError, match=url.replace("blob", "missing")):
                storage.read(url.replace("blob", "missing"), 0, 4)
        assert server.requests == 6  # per store: a HEAD, one GET for both ranges (coalesced), the 404
        # Options of the wrong family are refused by name, before any request.
        with pytest.raises(ValueError, match="unknown storage option.*google_nonsense"):
            Storage({"google_nonsense": "1"}, retry=FAST).read("gs://bucket/blob", 0, 1)
        with pytest.raises(ValueError, match="az://bucket/blob bytes 0-1: .*Account must be specified"):
            Storage(retry=FAST).read("az://bucket/blob", 0, 1)  # Azure needs an account name
        storage.close()


# -- S3 (moto) ---------------------------------------------------------------------

FAKE_SECRET = "FAKE-SECRET-d0ntL3ak-8c1f"


@pytest.fixture(scope="module")
def s3() -> S3Server:
    with S3Server() as server:
        server.make_bucket("data")
        yield server


def test_s3_options_map_onto_the_engine(s3: S3Server) -> None:
    options = s3.storage_options()
    assert dict(native_options("s3", options)) == {
        "aws_access_key_id": "audiodecode-test", "aws_secret_access_key": "audiodecode-secret",
        "aws_endpoint": s3.endpoint_url, "aws_region": "us-east-1"}
    assert dict(native_options("s3", {"anon": True, "aws_virtual_hosted_style_request": False})) == {
        "aws_skip_signature": "true", "aws_virtual_hosted_style_request": "false"}
    s3.filesystem().pipe("data/blob", BLOB)
    storage = Storage(options, retry=FAST)
    assert storage.read_many([ByteRange("s3://data/blob", 7, 70), ByteRange("s3://data/blob", 0)]) == [BLOB[7:70], BLOB]
    s3.fail_next(2)
    assert storage.read("s3://data/blob", 1, 3) == BLOB[1:3] and storage.stats()["retries"] == 2
    with pytest.raises(ValueError, match="unknown storage option"):
        Storage({"aws_no_such_option": "1"}).read("s3://data/blob", 0, 1)


def test_put_file_uploads_whole_through_the_engine_retried_and_refusals_named(s3: S3Server, tmp_path: Path) -> None:
    local = tmp_path / "blob.bin"
    local.write_bytes(BLOB)
    storage = Storage(s3.storage_options(), retry=FAST)
    s3.fail_next(2)  # two 503s, then the upload goes through
    assert storage.put_file("s3://data/up/blob.bin", str(local)) == len(BLOB)
    assert storage.read("s3://data/up/blob.bin") == BLOB
    with pytest.raises(FileNotFoundError, match="s3://no-such-bucket/x"):
        storage.put_file("s3://no-such-bucket/x", str(local))
    refused = Storage(dict(s3.storage_options(key="intruder"), secret=FAKE_SECRET), retry=FAST)
    with pytest.raises(PermissionError, match="s3://data/up/other") as caught:
        refused.put_file("s3://data/up/other", str(local))
    assert FAKE_SECRET not in str(caught.value)
    with pytest.raises(SourceReadError, match="cannot read"):
        storage.put_file("s3://data/up/none", str(tmp_path / "missing"))
    size, error = _core.storage_put_file(f"file://{tmp_path}/copy", str(local), [], storage.engine_policy())
    assert size is None and error[0] == "invalid" and "not local paths" in error[1]


def test_credentials_never_show(s3: S3Server, tmp_path: Path, clips: AudioFiles) -> None:
    fs = s3.filesystem()
    write_tar_shards([(p, None) for p in clips.paths[:3]], str(tmp_path / "t-{:02d}.tar"), per_shard=3)
    fs.put_file(str(tmp_path / "t-00.tar"), "data/t-00.tar")
    good = Storage(s3.storage_options(), retry=FAST)
    records = tar_shards("s3://data/t-00.tar", storage=good, index_dir=str(tmp_path / "idx"))
    # A refused key with a recognisable secret: the error names the object, not the secret.
    refused = Storage(dict(s3.storage_options(key="intruder"), secret=FAKE_SECRET), retry=FAST)
    with pytest.raises(PermissionError, match="s3://data/t-00.tar bytes 0-4") as caught:
        refused.read("s3://data/t-00.tar", 0, 4)
    shown = [str(caught.value), repr(refused), str(refused.stats())]
    leaked = dict(s3.storage_options(), secret=FAKE_SECRET)
    storage = Storage(leaked, retry=FAST)
    source = records.source
    source.storage = storage
    shown += [repr(source), str(source.entry_key(records.paths[0])), repr(pickle.loads(pickle.dumps(source)))]
    shown += [p.read_text() for p in (tmp_path / "idx").iterdir()]
    assert not any(FAKE_SECRET in text for text in shown)
    # A presigned URL's query string stays out of messages (read by fsspec).
    assert "X-Amz-Signature" not in _core.storage_read_batch(
        [("http://no-such-host.invalid/a.flac?X-Amz-Signature=abc", 0, 1, None)], [], (1, 0.0, 0.0, 1.0, 1, 0, 1))[0][0][1]


def test_every_source_reads_s3_without_fsspec(s3: S3Server, clips: AudioFiles, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pyarrow")
    pytest.importorskip("array_record")
    from audiodecode.data.sources import array_records, object_files, parquet_records, write_array_record, write_parquet

    local = tmp_path / "local"
    write_tar_shards([(p, int(label)) for p, label in zip(clips.paths, clips.labels)], str(local / "n-{:02d}.tar"),
                     per_shard=5)
    write_array_record(clips, local / "n.array_record")
    write_parquet([(p, int(label)) for p, label in zip(clips.paths, clips.labels)], str(local / "n.parquet"),
                  rows_per_group=4, classes=clips.classes)
    fs = s3.filesystem()
    for path in local.iterdir():
        fs.put_file(str(path), f"data/native/{path.name}")
    for path in clips.paths:
        fs.put_file(path, f"data/native/loose/{Path(path).name}")
    storage = Storage(s3.storage_options(), retry=FAST)

    def no_fsspec(*args: object, **kwargs: object) -> None:
        raise AssertionError("fsspec was used")

    monkeypatch.setattr(Storage, "filesystem", no_fsspec)
    opened = [
        tar_shards("s3://data/native/n-{00..01}.tar", storage=storage, index_dir=str(tmp_path / "idx")),
        array_records("s3://data/native/n.array_record", storage=storage, stage_dir=str(tmp_path / "stage")),
        parquet_records("s3://data/native/n.parquet", storage=storage),
        object_files([f"s3://data/native/loose/{Path(p).name}" for p in clips.paths], storage=storage),
    ]
    expected = [Path(clips.paths[i]).read_bytes() for i in (8, 0, 4)]
    for records in opened:
        assert fetch(records, [8, 0, 4]) == expected, type(records.source).__name__


def test_a_forked_child_reads_with_its_own_runtime(served: RangeServer) -> None:
    storage = Storage(retry=FAST)
    url = f"{served.url}/blob"
    assert storage.read(url, 0, 10) == BLOB[:10]  # the parent's runtime and clients exist
    pid = os.fork()
    if pid == 0:  # the child: exit status 0 only if the read is right
        try:
            os._exit(0 if storage.read(url, 20, 30) == BLOB[20:30] else 1)
        except BaseException:
            os._exit(2)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the forked child's read hung")
    assert storage.read(url, 40, 50) == BLOB[40:50]
