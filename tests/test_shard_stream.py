"""The shard-streaming order (`shuffle_buffer=`): whole tar shards read in
blocks through a seeded shuffle buffer. The order is a function of (seed,
epoch), so both loaders resume exactly; the blocks give the same bytes
as one read per record with far fewer requests; the fingerprint names the
order."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

import audiodecode as ad
from audiodecode.data.records import AudioFiles, audio_files
from audiodecode.data.schedule import Schedule
from audiodecode.data.seeding import epoch_order, stream_order
from audiodecode.data.sources import ByteRange, RetryPolicy, Storage, tar_shards, write_tar_shards
from audiodecode.data.sources.base import fetch
from audiodecode.data.sources.blocks import ShardBlocks
from synth import make, speech_like

SR = 16000
N = 24
STREAM = dict(batch_size=3, clip_seconds=0.2, seed=3, shuffle_buffer=5, num_threads=1, prefetch=2, cache=None,
              augmentations=[ad.Gain(-6, 6)])


def test_the_stream_order_is_a_seeded_permutation_that_reads_shards_whole() -> None:
    indices = np.arange(40, 80)
    objects = (indices - 40) // 10  # 4 objects of 10 records, in order
    order = stream_order(indices, objects, seed=1, epoch=0, buffer=6)
    assert sorted(order.tolist()) == indices.tolist()
    np.testing.assert_array_equal(order, stream_order(indices, objects, seed=1, epoch=0, buffer=6))
    assert not np.array_equal(order, stream_order(indices, objects, seed=1, epoch=1, buffer=6))
    assert not np.array_equal(order, stream_order(indices, objects, seed=2, epoch=0, buffer=6))
    # Buffer 1: objects in a random order, each read through in order.
    whole = stream_order(indices, objects, seed=1, epoch=0, buffer=1)
    runs = whole.reshape(4, 10)
    assert all((np.diff(run) == 1).all() for run in runs)
    assert sorted(run[0] for run in runs) == [40, 50, 60, 70]
    # No record leaves more than buffer - 1 places before its place in the stream.
    position = {int(r): k for k, r in enumerate(whole)}
    assert min(k - position[int(r)] for k, r in enumerate(order)) >= -5
    with pytest.raises(ValueError, match="buffer"):
        stream_order(indices, objects, seed=1, epoch=0, buffer=0)


def test_the_schedule_streams_only_with_a_buffer() -> None:
    indices = np.arange(12)
    streamed = Schedule(indices, seed=0, shuffle=True, num_epochs=None, objects=indices // 4, buffer=3)
    np.testing.assert_array_equal(streamed.order(2), stream_order(indices, indices // 4, 0, 2, 3))
    exact = Schedule(indices, seed=0, shuffle=True, num_epochs=None)
    np.testing.assert_array_equal(exact.order(2), epoch_order(indices, 0, 2))
    assert "buffer=3" in repr(streamed)
    with pytest.raises(ValueError, match="both objects and buffer"):
        Schedule(indices, seed=0, shuffle=True, num_epochs=None, buffer=3)


def test_blocks_give_the_bytes_of_one_read_per_range_from_threads(tmp_path: Path) -> None:
    blob = bytes(range(256)) * 300  # 76,800 bytes
    (tmp_path / "blob").write_bytes(blob)
    url = str(tmp_path / "blob")
    blocks = ShardBlocks(Storage(), block_size=1000, capacity=5000)
    rng = np.random.default_rng(0)
    spans = [(int(a), int(a) + int(n)) for a, n in zip(rng.integers(0, 70_000, 300), rng.integers(0, 4000, 300))]
    spans += [(999, 1001), (0, 0), (75_000, len(blob)), (2000, 3000)]  # across a boundary, empty, the tail, aligned
    got: dict[int, list] = {}

    def reader(k: int) -> None:
        part = spans[k::4]
        got[k] = blocks.read([ByteRange(url, a, b) for a, b in part], [len(blob)] * len(part))

    threads = [threading.Thread(target=reader, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(4):
        assert got[k] == [blob[a:b] for a, b in spans[k::4]]
    assert 0 < blocks._kept_bytes <= 5000
    read = blocks.blocks_read
    blocks.clear()
    assert blocks._kept_bytes == 0
    assert blocks.read([ByteRange(url, 10, 20)], [len(blob)]) == [blob[10:20]]
    assert blocks.blocks_read == read + 1  # read again after clear()
    with pytest.raises(ValueError, match="not a range"):
        blocks.read([ByteRange(url, 10, 5)], [len(blob)])


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> AudioFiles:
    root = tmp_path_factory.mktemp("clips")
    paths = [make(root, f"c{i:02d}", speech_like(0.3, SR, seed=i), SR, ("flac", "wav")[i % 2]) for i in range(N)]
    return audio_files(paths, labels=[i % 3 for i in range(N)])


@pytest.fixture(scope="module")
def served(clips: AudioFiles, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    pytest.importorskip("aiohttp")
    from rangeserver import RangeServer

    root = tmp_path_factory.mktemp("www")
    write_tar_shards([(p, int(label)) for p, label in zip(clips.paths, clips.labels)], str(root / "s-{:02d}.tar"),
                     per_shard=6)
    with RangeServer(root) as server:
        yield f"{server.url}/s-{{00..03}}.tar", tmp_path_factory.mktemp("idx")


def open_shards(served: tuple) -> AudioFiles:
    pattern, index_dir = served
    return tar_shards(pattern, storage=Storage(retry=RetryPolicy(attempts=3, timeout_s=10)), index_dir=str(index_dir))


def test_streamed_shards_read_the_same_records_with_fewer_requests(served: tuple) -> None:
    records = open_shards(served)
    streamed = records.source.streamed(buffer=5, batch_size=3)
    assert repr(streamed) == repr(records.source)  # same records, same cache keys and fingerprint
    np.testing.assert_array_equal(streamed.objects(), np.arange(N) // 6)
    picks = [0, 5, 6, 13, 23, 1]
    want = fetch(records, picks)
    records.source.storage.reset_stats()
    got = streamed.read_many([records.paths[i] for i in picks])
    assert got == want
    # One request per block (each 6-record shard fits one), not per record.
    assert records.source.storage.stats()["requests"] == 4
    again = streamed.read_many([records.paths[i] for i in (2, 3, 7)])
    assert again == fetch(records, [2, 3, 7])
    records.source.storage.close()


def host(batch: object) -> list[np.ndarray]:
    values = batch.values() if isinstance(batch, dict) else batch
    return [np.asarray(t.cpu().numpy() if hasattr(t, "cpu") else t) for t in values]


def assert_same(got: list, want: list) -> None:
    assert len(got) == len(want)
    for a, b in zip(got, want):
        for x, y in zip(host(a), host(b)):
            np.testing.assert_array_equal(x, y)


def test_torch_resumes_the_stream_exactly(served: tuple) -> None:
    torch_loader = pytest.importorskip("audiodecode.torch")
    settings = dict(STREAM, device="cpu", as_dict=True)
    with torch_loader.AudioDataLoader(open_shards(served), **settings) as it:
        uninterrupted = [b for _ in range(2) for b in it]
        assert it.stats()["storage"]["requests"] < 2 * N  # blocks, not a request per record
    with torch_loader.AudioDataLoader(open_shards(served), **settings) as it:
        per_epoch = len(it)
        taken = list(it)
        epoch1 = iter(it)
        taken += [next(epoch1) for _ in range(3)]
        state = json.loads(json.dumps(it.state_dict()))
    assert state["fingerprint"]["shuffle_buffer"] == 5
    with torch_loader.AudioDataLoader(open_shards(served), **settings) as it:
        it.load_state_dict(state)
        rest = list(it)
    assert_same(taken + rest, uninterrupted)
    assert len(rest) == per_epoch - 3
    # The order is part of the fingerprint: another buffer refuses the state.
    with torch_loader.AudioDataLoader(open_shards(served), **dict(settings, shuffle_buffer=7)) as other:
        with pytest.raises(ValueError, match="shuffle_buffer=5.*shuffle_buffer=7"):
            other.load_state_dict(state)
    with torch_loader.AudioDataLoader(open_shards(served), **dict(settings, shuffle_buffer=None)) as other:
        with pytest.raises(ValueError, match="shuffle_buffer"):
            other.load_state_dict(state)


def test_jax_resumes_the_stream_exactly(served: tuple) -> None:
    jax_loader = pytest.importorskip("audiodecode.jax")
    settings = dict(STREAM, num_epochs=2)
    with jax_loader.loader(open_shards(served), **settings) as it:
        uninterrupted = [{k: np.asarray(v) for k, v in b.items()} for b in it]
    with jax_loader.loader(open_shards(served), **settings) as it:
        taken = [{k: np.asarray(v) for k, v in next(it).items()} for _ in range(5)]
        state = json.loads(json.dumps(it.get_state()))
    with jax_loader.loader(open_shards(served), **settings) as it:
        it.set_state(state)
        rest = [{k: np.asarray(v) for k, v in b.items()} for b in it]
    assert_same(taken + rest, uninterrupted)


def test_both_loaders_stream_the_same_batches(served: tuple) -> None:
    torch_loader = pytest.importorskip("audiodecode.torch")
    jax_loader = pytest.importorskip("audiodecode.jax")
    with torch_loader.AudioDataLoader(open_shards(served), **dict(STREAM, device="cpu", as_dict=True)) as it:
        from_torch = [b["audio"].numpy() for b in it]
    with jax_loader.loader(open_shards(served), **dict(STREAM, num_epochs=1)) as it:
        from_jax = [np.asarray(b["audio"]) for b in it]
    assert len(from_torch) == len(from_jax) == N // 3
    for a, b in zip(from_torch, from_jax):
        np.testing.assert_array_equal(a, b)


def test_bad_settings_are_refused(served: tuple) -> None:
    torch_loader = pytest.importorskip("audiodecode.torch")
    for bad, message in (({"shuffle_buffer": 0}, "positive integer"), ({"shuffle": False}, "shuffle=False"),
                         ({"shuffle_buffer": True}, "positive integer")):
        with pytest.raises(ValueError, match=message):
            torch_loader.AudioDataLoader(open_shards(served), **dict(STREAM, device="cpu", **bad))


def test_each_rank_streams_a_contiguous_run_of_records(served: tuple) -> None:
    torch_loader = pytest.importorskip("audiodecode.torch")
    seen = []
    for rank in range(2):
        with torch_loader.AudioDataLoader(open_shards(served), **dict(STREAM, device="cpu"), rank=rank,
                                          world_size=2) as it:
            np.testing.assert_array_equal(it.indices, np.arange(rank * N // 2, (rank + 1) * N // 2))
            order = np.concatenate([indices for _, indices in it.batches(1)])
            assert sorted(order.tolist()) == it.indices.tolist()
            seen += order.tolist()
    assert sorted(seen) == list(range(N))
