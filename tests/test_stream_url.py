"""`audiodecode.stream` of a URL: read forward through the native read
engine in ranged blocks (an HTTP server and moto's S3 server on 127.0.0.1,
started here), or through fsspec for other protocols. The chunks equal
`load` of the local file; requests and memory are bounded by a few blocks;
a failing server is a named error."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("aiohttp")

import audiodecode
from audiodecode import stream
from audiodecode.data.sources import RetryPolicy, SourceReadError, Storage
from rangeserver import RangeServer
from tests import synth

FAST = RetryPolicy(attempts=3, backoff_s=0.01, max_backoff_s=0.05, timeout_s=5)
BLOCK = 64 << 10


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """12 s of 44.1 kHz stereo speech in three formats."""
    folder = tmp_path_factory.mktemp("url")
    sr = 44100
    y = np.stack([synth.speech_like(12.0, sr), synth.noise(12.0, sr, amplitude=0.1, seed=3)])
    return {fmt: synth.make(folder, "talk", y, sr, fmt) for fmt in ("wav", "flac", "mp3")}


@pytest.fixture
def served(files: dict[str, Path]) -> RangeServer:
    with RangeServer(files["wav"].parent) as server:
        yield server


def joined(decoder: audiodecode.StreamDecoder) -> np.ndarray:
    return np.concatenate([chunk for chunk, _ in decoder], axis=-1)


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3"])
@pytest.mark.parametrize(("sr", "mono"), [(16000, True), (None, False)])
def test_a_url_streams_exactly_what_load_gives(served: RangeServer, files: dict[str, Path], fmt: str,
                                               sr: int | None, mono: bool) -> None:
    storage = Storage(retry=FAST)
    url = f"{served.url}/{files[fmt].name}"
    got = joined(stream(url, sr=sr, mono=mono, chunk_seconds=1.5, storage=storage, block_bytes=BLOCK))
    want = audiodecode.load(files[fmt], sr=sr, mono=mono)[0]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
    # Every block once (ranged requests counted by the storage), nothing re-read.
    size = files[fmt].stat().st_size
    assert storage.stats()["requests"] == math.ceil(size / BLOCK)
    assert storage.stats()["bytes_read"] == size


def test_a_url_is_read_forward_a_few_blocks_ahead_not_whole(served: RangeServer, files: dict[str, Path]) -> None:
    url = f"{served.url}/{files['wav'].name}"
    size = files["wav"].stat().st_size  # 2.1 MB: 33 blocks
    blocks = math.ceil(size / BLOCK)
    decoder = stream(url, chunk_seconds=0.25, storage=Storage(retry=FAST), block_bytes=BLOCK, decode_ahead=False)
    next(decoder)
    # One HEAD, the block a quarter second needs and two in flight.
    assert served.requests <= 1 + 1 + 2 + 1 < blocks
    for _ in range(20):
        next(decoder)
    chunk_bytes = 0.25 * 44100 * 4
    assert served.requests <= 1 + math.ceil(21 * chunk_bytes / BLOCK) + 3
    decoder.close()
    # Decoding ahead too: a few chunks and blocks beyond the first, not the object.
    served.requests = 0
    with stream(url, chunk_seconds=0.25, storage=Storage(retry=FAST), block_bytes=BLOCK) as decoder:
        next(decoder)
        assert served.requests <= 1 + math.ceil(5 * chunk_bytes / BLOCK) + 3 < blocks


def test_a_server_failing_mid_stream_is_a_named_error(served: RangeServer, files: dict[str, Path]) -> None:
    url = f"{served.url}/{files['flac'].name}"
    want = audiodecode.load(files["flac"], sr=16000)[0]
    decoder = stream(url, sr=16000, chunk_seconds=0.5, storage=Storage(retry=FAST), block_bytes=BLOCK)
    first, _ = next(decoder)
    served.fail_next(1000, "503")
    got = [first]
    with pytest.raises(SourceReadError, match=rf"{url} bytes \d+-\d+: .*503.*gave up after 3 tries"):
        for chunk, _ in decoder:
            got.append(chunk)
    # What came before the failure is exact.
    joined_before = np.concatenate(got)
    np.testing.assert_allclose(joined_before, want[: joined_before.shape[0]], atol=1e-6, rtol=0)
    assert joined_before.shape[0] < want.shape[0]


def test_a_missing_object_is_named_before_any_chunk(served: RangeServer) -> None:
    with pytest.raises(FileNotFoundError, match=f"{served.url}/nothing.flac"):
        stream(f"{served.url}/nothing.flac", storage=Storage(retry=FAST))


def test_transient_errors_are_retried_and_counted(served: RangeServer, files: dict[str, Path]) -> None:
    storage = Storage(retry=FAST)
    url = f"{served.url}/{files['wav'].name}"
    decoder = stream(url, sr=16000, chunk_seconds=0.5, storage=storage, block_bytes=BLOCK)
    first, _ = next(decoder)
    served.fail_next(2, "503")
    got = np.concatenate([first, joined(decoder)])
    np.testing.assert_allclose(got, audiodecode.load(files["wav"], sr=16000)[0], atol=1e-6, rtol=0)
    assert storage.stats()["retries"] == 2


def test_an_s3_object_streams_through_the_native_engine(files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("moto")
    pytest.importorskip("s3fs")
    from s3server import S3Server

    with S3Server() as s3:
        s3.make_bucket("audio")
        s3.filesystem().put_file(str(files["flac"]), "audio/talk.flac")
        storage = Storage(s3.storage_options(), retry=FAST)

        def no_fsspec(*args: object, **kwargs: object) -> None:
            raise AssertionError("fsspec was used")

        monkeypatch.setattr(Storage, "filesystem", no_fsspec)
        got = joined(stream("s3://audio/talk.flac", sr=22050, mono=False, storage=storage, block_bytes=BLOCK))
        np.testing.assert_allclose(got, audiodecode.load(files["flac"], sr=22050, mono=False)[0], atol=1e-6, rtol=0)
        with pytest.raises(FileNotFoundError, match="s3://audio/missing.flac"):
            stream("s3://audio/missing.flac", storage=storage)


def test_other_protocols_stream_through_fsspec(files: dict[str, Path]) -> None:
    fsspec = pytest.importorskip("fsspec")
    memory = fsspec.filesystem("memory")
    memory.pipe("/stream-test/talk.mp3", files["mp3"].read_bytes())
    try:
        storage = Storage(retry=FAST)
        got = joined(stream("memory://stream-test/talk.mp3", sr=16000, storage=storage, block_bytes=BLOCK))
        np.testing.assert_allclose(got, audiodecode.load(files["mp3"], sr=16000)[0], atol=1e-6, rtol=0)
        assert storage.stats()["requests"] == math.ceil(files["mp3"].stat().st_size / BLOCK)
        with pytest.raises(FileNotFoundError, match="memory://stream-test/gone.mp3"):
            stream("memory://stream-test/gone.mp3", storage=storage)
    finally:
        memory.rm("/stream-test", recursive=True)


def test_bad_block_sizes_are_named() -> None:
    with pytest.raises(ValueError, match="block_bytes"):
        stream("http://127.0.0.1:1/x.wav", block_bytes=0)


def test_an_object_rewritten_mid_stream_is_a_named_error_not_a_splice(files: dict[str, Path], tmp_path: Path) -> None:
    from audiodecode.data.sources.storage import ObjectChangedError

    path = tmp_path / "talk.wav"
    path.write_bytes(files["wav"].read_bytes())
    with RangeServer(tmp_path) as server:
        decoder = stream(f"{server.url}/talk.wav", chunk_seconds=0.25, storage=Storage(retry=FAST),
                         block_bytes=BLOCK, decode_ahead=False)
        next(decoder)
        data = bytearray(path.read_bytes())
        data[-1000:] = bytes(1000)  # a new version, same size
        # Replaced whole, as an object store replaces a version: rewriting
        # the file in place could cut short a block the reader is fetching
        # ahead at that moment, and the server would then hang on it.
        new_version = tmp_path / "talk.wav.new"
        new_version.write_bytes(bytes(data))
        os.utime(new_version, ns=(1, 1))  # a new ETag (the server's is the mtime and size)
        os.replace(new_version, path)
        with pytest.raises(ObjectChangedError, match=f"{server.url}/talk.wav bytes .*changed"):
            list(decoder)
