"""The decoded-audio cache: identical output, fewer bytes read, a strict
budget, invalidation, corruption handling and sharing between processes."""

from __future__ import annotations

import gc
import mmap
import multiprocessing
import os
import pickle
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import audiodecode as ad
from audiodecode.cache import AudioCache, resolve_cache
from audiodecode.cache.budget import AUTO_RAM_FRACTION, ENTRY_OVERHEAD
from synth import make, noise, sine, speech_like

SR = 16000
GIB = 2**30


def rchar() -> int:
    """Bytes this process has passed through read() and friends (any file, any thread)."""
    with open("/proc/self/io") as f:
        for line in f:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


def read_while(load: Callable[[], ad.BatchResult]) -> tuple[ad.BatchResult, int]:
    """The batch `load` returns and the bytes this process read meanwhile."""
    before = rchar()
    batch = load()
    return batch, rchar() - before


def needs_io_counter() -> None:
    if not os.access("/proc/self/io", os.R_OK):
        pytest.skip("needs Linux's /proc/self/io to count the bytes read")


def page_rounded(nbytes: int) -> int:
    return -(-nbytes // mmap.PAGESIZE) * mmap.PAGESIZE


def assert_identical(got: tuple[np.ndarray, int], want: tuple[np.ndarray, int]) -> None:
    assert got[1] == want[1]
    assert got[0].dtype == want[0].dtype == np.float32
    assert got[0].shape == want[0].shape
    assert got[0].tobytes() == want[0].tobytes()


@pytest.fixture(scope="module")
def mp3s(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Eight stereo 44.1 kHz MP3 clips of 2 s, all different."""
    root = tmp_path_factory.mktemp("mp3s")
    return [
        str(make(root, f"clip{i}", np.stack([speech_like(2.0, 44100, f0_hz=100 + 20 * i, seed=i)] * 2), 44100, "mp3"))
        for i in range(8)
    ]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """One stereo clip in each of four formats."""
    root = tmp_path_factory.mktemp("mixed")
    y = np.stack([speech_like(1.5, 44100, seed=7), sine(440, 1.5, 44100)])
    return [str(make(root, f"clip_{fmt}", y, 44100, fmt)) for fmt in ("mp3", "flac", "wav", "ogg")]


# -- identical output ----------------------------------------------------


@pytest.mark.parametrize("sr, mono", [(SR, True), (None, False), (22050, False)])
def test_misses_and_hits_are_bit_identical_to_load(mixed, caches, tmp_path, sr, mono):
    want = ad.load_batch(mixed, sr=sr, mono=mono)
    cache = caches(max_ram_gb=0.05, cache_dir=tmp_path)
    first = cache.load_batch(mixed, sr, mono)
    second = cache.load_batch(mixed, sr, mono)
    singles = [cache.load(p, sr, mono) for p in mixed]
    second_run = caches(max_ram_gb=0.05, cache_dir=tmp_path).load_batch(mixed, sr, mono)
    for i, path in enumerate(mixed):
        assert_identical(first[i], want[i])
        assert_identical(second[i], want[i])
        assert_identical(second_run[i], want[i])
        assert_identical((singles[i], want[i][1]), ad.load(path, sr=sr, mono=mono))
    assert cache.stats()["misses"] == len(mixed)
    assert cache.stats()["hits"] == 2 * len(mixed)


def test_augmented_output_is_identical_with_and_without_cache(mp3s, caches):
    augment = ad.Compose([ad.TimeStretch(0.9, 1.1), ad.Gain(-6.0, 6.0), ad.AddNoise((10.0, 30.0))])
    cache = caches(max_ram_gb=0.05)
    cache.load_batch(mp3s, SR)  # the next reads are hits
    for seed, path in enumerate(mp3s):
        plain = augment(ad.load(path, sr=SR)[0], SR, seed=seed)
        cached = augment(cache.load(path, SR), SR, seed=seed)
        assert plain.tobytes() == cached.tobytes()
    assert cache.stats()["hits"] == len(mp3s)


def test_a_hit_is_the_callers_to_modify(mp3s, caches):
    want = ad.load(mp3s[0], sr=SR)
    cache = caches(max_ram_gb=0.05)
    miss = cache.load(mp3s[0], SR)
    miss[:] = 1.0
    hit = cache.load(mp3s[0], SR)
    assert_identical((hit, SR), want)
    assert hit.flags.writeable
    hit *= -3.0
    assert_identical((cache.load(mp3s[0], SR), SR), want)
    twice = cache.load_batch([mp3s[1], mp3s[1]], SR)  # decoded once, two arrays
    assert not np.shares_memory(twice[0][0], twice[1][0])
    twice[0][0][:] = 0.0
    assert_identical(twice[1], ad.load(mp3s[1], sr=SR))
    assert cache.stats()["misses"] == 2


# -- bytes read ----------------------------------------------------------


def test_second_epoch_reads_10x_fewer_bytes(mp3s, caches):
    needs_io_counter()
    source_bytes = sum(os.path.getsize(p) for p in mp3s)
    cache = caches(max_ram_gb=0.05)
    epoch1, read1 = read_while(lambda: cache.load_batch(mp3s, SR))
    epoch2, read2 = read_while(lambda: cache.load_batch(mp3s, SR))
    # The counter sees the decoder's reads: epoch 1 read every file.
    assert read1 >= source_bytes
    assert read2 * 10 <= read1, (read1, read2)
    for a, b in zip(epoch1, epoch2):
        assert_identical(a, b)
    assert cache.stats()["hits"] == len(mp3s)


def test_second_run_reads_no_audio_with_the_disk_tier(mp3s, caches, tmp_path):
    needs_io_counter()
    source_bytes = sum(os.path.getsize(p) for p in mp3s)
    first_run = caches(max_ram_gb=0.05, cache_dir=tmp_path)
    want, read1 = read_while(lambda: first_run.load_batch(mp3s, SR))
    first_run.close()
    second_run = caches(max_ram_gb=0.05, cache_dir=tmp_path)
    got, read2 = read_while(lambda: second_run.load_batch(mp3s, SR))
    assert read1 >= source_bytes
    assert read2 * 10 <= read1, (read1, read2)
    for a, b in zip(got, want):
        assert_identical(a, b)
    stats = second_run.stats()
    assert (stats["disk_hits"], stats["misses"]) == (len(mp3s), 0)
    # Disk hits were copied into RAM: the next epoch does not touch the disk tier.
    second_run.load_batch(mp3s, SR)
    assert (second_run.stats()["hits"], second_run.stats()["disk_hits"]) == (len(mp3s), len(mp3s))


# -- the budget ----------------------------------------------------------


def test_a_data_set_twice_the_budget_never_holds_more(mp3s, caches):
    entry = page_rounded(64 + 4 * ad.load(mp3s[0], sr=SR)[0].size)
    budget = len(mp3s) * entry // 2
    cache = caches(max_ram_gb=budget / GIB)
    assert cache.stats()["budget_bytes"] <= budget
    held = []
    for _epoch in range(2):
        for path in mp3s:
            cache.load(path, SR)
            held.append(cache.stats()["bytes_held"])
        for start in range(0, len(mp3s), 3):
            cache.load_batch(mp3s[start:start + 3], SR)
            held.append(cache.stats()["bytes_held"])
    assert max(held) <= budget
    assert max(held) >= budget - 2 * entry  # the budget is used, not just respected
    on_disk = sum(page_rounded(os.path.getsize(os.path.join(cache.ram_dir, n)))
                  for n in os.listdir(cache.ram_dir) if n.endswith(".pcm"))
    assert on_disk == held[-1]
    assert cache.stats()["evictions"] > 0


def test_an_entry_larger_than_the_budget_is_not_cached(mp3s, caches):
    cache = caches(max_ram_gb=mmap.PAGESIZE / GIB)
    want = ad.load(mp3s[0], sr=SR)
    for _ in range(2):
        assert_identical((cache.load(mp3s[0], SR), SR), want)
    stats = cache.stats()
    assert (stats["misses"], stats["hits"], stats["bytes_held"]) == (2, 0, 0)


def test_eviction_removes_the_least_recently_used(tmp_path, caches):
    paths = [str(make(tmp_path, f"n{i}", noise(1.0, SR, seed=i), SR, "wav")) for i in range(6)]
    entry = page_rounded(64 + 4 * SR)
    cache = caches(max_ram_gb=5 * entry / GIB + 1e-12)
    a, b, c, d, e, f = paths
    for path in (a, b, c, d, e):
        cache.load(path, SR)
    cache.load(a, SR)  # a becomes the most recently used
    cache.load(f, SR)  # full: evicts down to 90 % of the budget, oldest first
    before = cache.stats()
    for path in (a, d, e, f):
        cache.load(path, SR)
    after_hits = cache.stats()
    assert after_hits["hits"] - before["hits"] == 4
    cache.load(b, SR)
    assert cache.stats()["misses"] - after_hits["misses"] == 1
    assert before["evictions"] == 2


def test_threads_share_one_budget(mp3s, caches):
    entry = page_rounded(64 + 4 * ad.load(mp3s[0], sr=SR)[0].size)
    budget = 3 * entry
    cache = caches(max_ram_gb=budget / GIB)
    want = {p: ad.load(p, sr=SR) for p in mp3s}

    def worker(seed: int) -> int:
        rng = np.random.default_rng(seed)
        worst = 0
        for _ in range(8):
            batch = list(rng.choice(mp3s, 3))
            for path, got in zip(batch, cache.load_batch(batch, SR)):
                assert_identical(got, want[path])
            worst = max(worst, cache.stats()["bytes_held"])
        return worst

    with ThreadPoolExecutor(4) as pool:
        assert max(pool.map(worker, range(4))) <= budget
    stats = cache.stats()
    assert stats["hits"] > 0 and stats["evictions"] > 0 and stats["store_errors"] == 0


# -- invalidation and corruption -------------------------------------------


@pytest.mark.parametrize("change", ["same size, new mtime", "new size, same mtime"])
def test_a_changed_source_file_is_decoded_again(tmp_path, caches, change):
    path = make(tmp_path, "clip", sine(440, 1.0, SR), SR, "wav")
    cache = caches(max_ram_gb=0.05, cache_dir=tmp_path / "cache")
    old = cache.load(path, SR)
    st = os.stat(path)
    seconds = 1.0 if change == "same size, new mtime" else 1.5
    make(tmp_path, "clip", noise(seconds, SR, seed=3), SR, "wav")
    mtime = st.st_mtime_ns + 10**9 if change == "same size, new mtime" else st.st_mtime_ns
    os.utime(path, ns=(st.st_atime_ns, mtime))
    assert (os.path.getsize(path) == st.st_size) == (change == "same size, new mtime")
    want = ad.load(path, sr=SR)
    assert want[0].tobytes() != old.tobytes()
    assert_identical((cache.load(path, SR), SR), want)
    assert cache.stats()["misses"] == 2
    # The disk entry was replaced too: another run gets the new audio from it.
    second_run = caches(max_ram_gb=0.05, cache_dir=tmp_path / "cache")
    assert_identical((second_run.load(path, SR), SR), want)
    assert second_run.stats()["disk_hits"] == 1


def test_a_deleted_source_file_is_not_served(mp3s, tmp_path, caches):
    path = tmp_path / "gone.mp3"
    path.write_bytes(Path(mp3s[0]).read_bytes())
    cache = caches(max_ram_gb=0.05, cache_dir=tmp_path / "cache")
    cache.load(path, SR)
    path.unlink()
    with pytest.raises(FileNotFoundError, match="gone.mp3"):
        cache.load(path, SR)
    batch = cache.load_batch([path, mp3s[1]], SR, on_error="skip")
    assert batch[0] is None and isinstance(batch.errors[0], FileNotFoundError)
    assert_identical(batch[1], ad.load(mp3s[1], sr=SR))
    with pytest.raises(FileNotFoundError):
        cache.load_batch([mp3s[1], path], SR)


def _truncate(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _flip_a_sample(data: bytes) -> bytes:
    middle = 64 + (len(data) - 64) // 2
    return data[:middle] + bytes([data[middle] ^ 0x10]) + data[middle + 1:]


def _flip_a_rate_bit(data: bytes) -> bytes:
    rate = 32  # the output rate's offset in the header
    return data[:rate] + bytes([data[rate] ^ 0x01]) + data[rate + 1:]


def _bad_magic(data: bytes) -> bytes:
    return b"XXXX" + data[4:]


CORRUPTIONS = {"truncated": _truncate, "a flipped sample bit": _flip_a_sample, "a flipped rate bit": _flip_a_rate_bit,
               "bad header": _bad_magic, "empty": lambda data: b""}


@pytest.mark.parametrize("tier", ["disk", "ram"])
@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_a_corrupt_entry_is_discarded_and_decoded_again(mp3s, tmp_path, caches, tier, corruption):
    settings = {"max_ram_gb": 0, "cache_dir": tmp_path} if tier == "disk" else {"max_ram_gb": 0.05}
    first = caches(**settings)
    first.load(mp3s[0], SR)
    root = tmp_path if tier == "disk" else Path(first.ram_dir)
    (entry,) = root.glob("*.pcm")
    entry.write_bytes(CORRUPTIONS[corruption](entry.read_bytes()))
    reader = caches(**settings) if tier == "disk" else first
    before = reader.stats()
    assert_identical((reader.load(mp3s[0], SR), SR), ad.load(mp3s[0], sr=SR))
    after = reader.stats()
    assert after["corrupt_discarded"] - before["corrupt_discarded"] == 1
    assert after["misses"] - before["misses"] == 1
    # Re-decoded and stored intact: the next lookup is a hit.
    reader.load(mp3s[0], SR)
    hits = "disk_hits" if tier == "disk" else "hits"
    assert reader.stats()[hits] - after[hits] == 1


# -- processes -----------------------------------------------------------


def _child_reads(cache: AudioCache, stored_by_parent: list[str], new: list[str]) -> dict:
    """In a spawned process: read what the parent stored, then store more."""
    got, read = read_while(lambda: cache.load_batch(stored_by_parent, SR))
    cache.load_batch(new, SR)
    stats = cache.stats()
    cache.close()
    return {"read": read, "stats": stats, "got": list(got)}


def test_a_spawned_worker_shares_the_store(mp3s, caches):
    needs_io_counter()
    parent_set, child_set = mp3s[:4], mp3s[4:]
    cache = caches(max_ram_gb=0.05)
    cache.load_batch(parent_set, SR)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        child = pool.apply(_child_reads, (cache, parent_set, child_set))
    assert child["stats"]["hits"] == len(parent_set)
    assert child["stats"]["misses"] == len(child_set)
    assert child["read"] * 10 <= sum(os.path.getsize(p) for p in parent_set)
    for path, got in zip(parent_set, child["got"]):
        assert_identical(got, ad.load(path, sr=SR))
    # The child's close detached it; the parent finds what the child stored.
    before = cache.stats()
    cache.load_batch(child_set, SR)
    assert cache.stats()["hits"] - before["hits"] == len(child_set)
    assert cache.stats()["misses"] == before["misses"]


def test_a_forked_child_does_not_remove_the_parents_store(mp3s, caches):
    cache = caches(max_ram_gb=0.05)
    cache.load(mp3s[0], SR)
    pid = os.fork()
    if pid == 0:  # the child: a hit, then what a dying worker does
        status = 1
        try:
            y = cache.load(mp3s[0], SR)
            # The child counts its own lookups, from zero.
            status = 0 if y.size and (cache.stats()["hits"], cache.stats()["misses"]) == (1, 0) else 1
            cache.close()
            del cache
            gc.collect()
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert os.path.isdir(cache.ram_dir)
    cache.load(mp3s[0], SR)
    assert cache.stats()["hits"] == 1


def test_close_and_garbage_collection_remove_the_shared_memory(mp3s):
    cache = AudioCache(max_ram_gb=0.05)
    cache.load(mp3s[0], SR)
    ram_dir = cache.ram_dir
    handle = pickle.loads(pickle.dumps(cache))
    handle.close()  # a handle detaches; the store stays
    assert os.path.isdir(ram_dir)
    cache.close()
    assert not os.path.exists(ram_dir)
    cache.close()
    with pytest.raises(ValueError, match="closed"):
        cache.load(mp3s[0], SR)
    with pytest.raises(ValueError, match="closed"):
        pickle.dumps(cache)

    forgotten = AudioCache(max_ram_gb=0.05)
    forgotten.load(mp3s[0], SR)
    ram_dir = forgotten.ram_dir
    del forgotten
    gc.collect()
    assert not os.path.exists(ram_dir)


# -- arguments -----------------------------------------------------------


def test_resolve_cache(caches):
    assert resolve_cache(None) is None
    mine = caches(max_ram_gb=0.01)
    assert resolve_cache(mine) is mine
    small = resolve_cache("auto", dataset_bytes_estimate=10 * 2**20)
    try:
        assert 0 < small.stats()["budget_bytes"] <= ENTRY_OVERHEAD * 10 * 2**20
    finally:
        small.close()
    whole = resolve_cache("auto")
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        assert 0 < whole.stats()["budget_bytes"] <= AUTO_RAM_FRACTION * total
    finally:
        whole.close()
    assert resolve_cache("auto", dataset_bytes_estimate=0) is None
    with pytest.raises(ValueError, match="auto"):
        resolve_cache("always")


def test_bad_arguments(mp3s, caches):
    with pytest.raises(ValueError, match="caches nothing"):
        AudioCache(max_ram_gb=0)
    with pytest.raises(ValueError, match="max_ram_gb"):
        AudioCache(max_ram_gb=-1)
    cache = caches(max_ram_gb=0.01)
    with pytest.raises(TypeError, match="keyed by path"):
        cache.load(Path(mp3s[0]).read_bytes(), SR)
    with pytest.raises(ValueError, match="on_error"):
        cache.load_batch(mp3s, SR, on_error="ignore")
    with pytest.raises(ValueError, match="sr"):
        cache.load(mp3s[0], -1)
    assert cache.stats()["misses"] == 0
