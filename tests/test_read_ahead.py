"""How many batches a loader reads ahead of records behind a latency
(`audiodecode.data.tuning.read_ahead_depth`, measured by
`audiodecode.data.setup.measure_read_ahead`), and what `stats()["storage"]`
reports about it, against a delayed range server on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import audiodecode as ad
from audiodecode.data.records import AudioFiles, audio_files
from audiodecode.data.setup import measure_read_ahead
from audiodecode.data.sources import RetryPolicy, Storage, tar_shards, write_tar_shards
from audiodecode.data.stats import PipelineStats
from audiodecode.data.tuning import MAX_READ_AHEAD, READ_AHEAD_HEADROOM, read_ahead_depth
from synth import make, speech_like

SR = 16000


def test_littles_law_depth() -> None:
    # No latency: one batch per lane; latency equal to the work: two per lane.
    assert read_ahead_depth(0.0, 0.010, lanes=1) == 1
    assert read_ahead_depth(0.0, 0.010, lanes=2) == 2
    assert read_ahead_depth(0.010, 0.010, lanes=2) == 4
    # 50 ms fetch, 20 ms of work on 2 lanes: 2 * 70 / 20 = 7.
    assert read_ahead_depth(0.050, 0.020, lanes=2) == 7
    # Bounded: a slow store does not ask for unbounded memory.
    assert read_ahead_depth(10.0, 0.001, lanes=4) == MAX_READ_AHEAD
    assert read_ahead_depth(10.0, 0.0, lanes=1, limit=5) == 5
    # Headroom over the mean: 2 * 7 = 14.
    assert read_ahead_depth(0.050, 0.020, lanes=2, headroom=2.0) == 14
    with pytest.raises(ValueError, match="lanes"):
        read_ahead_depth(0.1, 0.1, lanes=0)
    with pytest.raises(ValueError, match="fetch_s"):
        read_ahead_depth(-1.0, 0.1)
    with pytest.raises(ValueError, match="headroom"):
        read_ahead_depth(0.1, 0.1, headroom=0.5)


class _QueuedStore:
    """A reader whose fetches wait in one queue, as a store answering one
    request at a time does: each fetch holds the queue `fetch_s`, so
    batches fetched together wait for each other. Then `work_s` of work."""

    def __init__(self, fetch_s: float, work_s: float) -> None:
        self.fetch_s, self.work_s = fetch_s, work_s
        self.stats = PipelineStats()
        self.queue = threading.Lock()
        storage = SimpleNamespace(stats=lambda: {"p50_latency_s": fetch_s})
        self.files = SimpleNamespace(source=SimpleNamespace(storage=storage))

    def read(self, epochs: np.ndarray, indices: np.ndarray, num_threads: int | None = None) -> None:
        with self.stats.stage("fetch"), self.queue:
            time.sleep(self.fetch_s)
        time.sleep(self.work_s)


def test_the_latency_is_measured_with_the_batches_in_flight() -> None:
    # A loader keeps several batches in flight, and their requests queue at
    # the store together: one at a time, a batch waits 30 ms; four at
    # once, 30, 60, 90 and 120 ms (75 ms on average). The depth must come
    # from the second, which one batch at a time never sees.
    store = _QueuedStore(fetch_s=0.03, work_s=0.01)
    samples = [(np.zeros(2, np.int64), np.arange(2 * b, 2 * b + 2)) for b in range(4)]
    ahead = measure_read_ahead(store, samples, num_threads=1)  # type: ignore[arg-type]
    assert ahead is not None
    assert 0.03 <= ahead.fetch_alone_s < ahead.fetch_s
    assert ahead.fetch_s >= 1.5 * ahead.fetch_alone_s, ahead
    assert ahead.depth == read_ahead_depth(ahead.fetch_s, ahead.work_s, ahead.lanes, headroom=READ_AHEAD_HEADROOM)
    assert ahead.depth > read_ahead_depth(ahead.fetch_alone_s, ahead.work_s, ahead.lanes,
                                          headroom=READ_AHEAD_HEADROOM)
    # No sample batch (an empty shard): nothing to measure, nothing read.
    assert measure_read_ahead(store, [], num_threads=1) is None  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> AudioFiles:
    root = tmp_path_factory.mktemp("clips")
    paths = [make(root, f"c{i:02d}", speech_like(0.3, SR, seed=i), SR, ("flac", "wav")[i % 2]) for i in range(16)]
    return audio_files(paths, labels=[i % 2 for i in range(16)])


def test_the_read_ahead_rises_with_the_latency_and_stats_report_it(clips: AudioFiles, tmp_path: Path) -> None:
    torch_loader = pytest.importorskip("audiodecode.torch")
    pytest.importorskip("aiohttp")
    from rangeserver import RangeServer

    root = tmp_path / "www"
    write_tar_shards([(p, int(label)) for p, label in zip(clips.paths, clips.labels)], str(root / "s-{:02d}.tar"),
                     per_shard=8)
    chosen = {}
    with RangeServer(root) as server:
        for delay in (0.0, 0.25):
            server.delay_s = delay
            storage = Storage(retry=RetryPolicy(attempts=2, timeout_s=10))
            records = tar_shards(f"{server.url}/s-{{00..01}}.tar", storage=storage, index_dir=str(tmp_path / "idx"))
            # A pitch shift gives each batch some work, so that the local
            # server's few milliseconds call for a depth well under the limit.
            loader = torch_loader.AudioDataLoader(records, batch_size=4, target_sr=SR, clip_seconds=0.2, cache=None,
                                                  num_threads=1, device="cpu", augmentations=[ad.PitchShift(-2, 2)])
            try:
                batches = list(loader)
                stats = loader.stats()
            finally:
                loader.close()
            assert len(batches) == 4
            ahead = stats["parallelism"]["read_ahead"]
            assert ahead is not None and ahead["lanes"] >= 1 and ahead["work_s"] > 0
            assert ahead["fetch_s"] >= delay
            # The prefetch is at least what the latency calls for.
            assert stats["parallelism"]["prefetch"] >= ahead["depth"]
            store = stats["storage"]
            assert store["read_ahead"] == stats["parallelism"]["prefetch"]
            assert store["requests"] > 0 and store["bytes_read"] > 0 and store["retries"] == 0
            assert store["failures"] == 0 and store["in_flight"] == 0
            assert delay <= store["p50_latency_s"] <= store["p99_latency_s"]
            assert 1 <= store["peak_in_flight"]
            chosen[delay] = ahead["depth"]
    # A quarter second per request calls for the deepest read-ahead.
    assert chosen[0.0] < chosen[0.25] == MAX_READ_AHEAD, chosen


def test_local_records_keep_the_measured_prefetch(clips: AudioFiles, tmp_path: Path) -> None:
    torch_loader = pytest.importorskip("audiodecode.torch")
    write_tar_shards([(p, int(label)) for p, label in zip(clips.paths, clips.labels)],
                     str(tmp_path / "s-{:02d}.tar"), per_shard=8)
    records = tar_shards(str(tmp_path / "s-{00..01}.tar"), index_dir=str(tmp_path / "idx"))
    with torch_loader.AudioDataLoader(records, batch_size=4, target_sr=SR, clip_seconds=0.2, cache=None,
                                      num_threads=1, prefetch=3, device="cpu") as loader:
        next(iter(loader))
        stats = loader.stats()
    assert stats["parallelism"]["read_ahead"] is None
    assert stats["parallelism"]["prefetch"] == stats["storage"]["read_ahead"] == 3
    assert stats["storage"]["p50_latency_s"] is None


def test_the_jax_loader_keeps_as_many_batches_in_flight_as_the_torch_loader(
    clips: AudioFiles, tmp_path: Path
) -> None:
    # The same read-ahead in both pipelines (Grain's prefetch threads and
    # buffer in the JAX loader, the Prefetcher in the torch loader): with a
    # quarter second per request, every batch of the depth is being fetched
    # at once in both, and both choose the depth the same way.
    torch_loader = pytest.importorskip("audiodecode.torch")
    jax_loader = pytest.importorskip("audiodecode.jax")
    pytest.importorskip("aiohttp")
    from rangeserver import RangeServer

    root = tmp_path / "www"
    write_tar_shards([(p, int(label)) for p, label in zip(clips.paths, clips.labels)], str(root / "s-{:02d}.tar"),
                     per_shard=8)
    settings = dict(batch_size=2, clip_seconds=0.2, cache=None, num_threads=1, prefetch=4)
    stats = {}
    with RangeServer(root, delay_s=0.25) as server, ExitStack() as stack:
        for which in ("torch", "jax"):
            storage = Storage(retry=RetryPolicy(attempts=2, timeout_s=10))
            records = tar_shards(f"{server.url}/s-{{00..01}}.tar", storage=storage, index_dir=str(tmp_path / "idx"))
            if which == "torch":
                loader = torch_loader.AudioDataLoader(records, target_sr=SR, device="cpu", **settings)
                stack.callback(loader.close)
                storage.reset_stats()  # the tuning's reads are not the loader's
                rows = sum(len(labels) for _, labels in loader)
            else:
                loader = jax_loader.loader(records, sr=SR, num_epochs=1, **settings)
                stack.callback(loader.close)
                storage.reset_stats()
                rows = sum(int(batch["label"].shape[0]) for batch in loader)
            assert rows == len(clips)
            stats[which] = loader.stats()
    for which, s in stats.items():
        ahead = s["parallelism"]["read_ahead"]
        assert ahead is not None and ahead["fetch_s"] >= ahead["fetch_alone_s"] >= 0.25, (which, ahead)
        assert s["storage"]["read_ahead"] == s["parallelism"]["prefetch"] == 4
        # Every batch of the depth waits for its bytes at the same time.
        assert s["storage"]["peak_in_flight"] == 4, (which, s["storage"])
