"""The cache against a hostile file system: look-alike sources, FIFOs, a
deleted `cache_dir`, and processes that die without cleaning up."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import audiodecode as ad
from audiodecode.cache import AudioCache
from audiodecode.cache.entry import EntryKey
from audiodecode.cache.memory import PREFIX, shared_memory_root
from hang import within
from synth import make, noise, sine

SR = 16000
ROOT = Path(__file__).resolve().parent.parent


def tier_root(cache: AudioCache, tier: str, cache_dir: Path) -> Path:
    return cache_dir if tier == "disk" else Path(cache.ram_dir)


TIERS = {"disk": lambda d: {"max_ram_gb": 0, "cache_dir": d}, "ram": lambda d: {"max_ram_gb": 0.05}}


# -- the source path -----------------------------------------------------


@pytest.mark.parametrize("tier", list(TIERS))
def test_a_look_alike_source_is_never_served_anothers_audio(tmp_path, caches, tier):
    # Same size and mtime, as after extracting an archive; the entry of one
    # ends up under the other's name (a renamed tree, a shared cache_dir).
    a = make(tmp_path, "a", sine(440, 1.0, SR), SR, "wav")
    b = make(tmp_path, "b", noise(1.0, SR, seed=1), SR, "wav")
    st = os.stat(a)
    os.utime(b, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (os.path.getsize(b), os.stat(b).st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    cache = caches(**TIERS[tier](tmp_path / "cache"))
    cache.load(a, SR)
    root = tier_root(cache, tier, tmp_path / "cache")
    os.replace(root / EntryKey.of(a, SR, True).file_name, root / EntryKey.of(b, SR, True).file_name)
    want = ad.load(b, sr=SR)[0]
    got = cache.load(b, SR)
    assert got.tobytes() == want.tobytes()
    assert cache.stats()["misses"] == 2
    # Its own entry replaced the look-alike: the next lookup is a hit.
    assert cache.load(b, SR).tobytes() == want.tobytes()
    assert cache.stats()["misses"] == 2


# -- FIFOs ---------------------------------------------------------------


@pytest.mark.parametrize("tier", list(TIERS))
def test_a_fifo_at_an_entry_name_does_not_block(tmp_path, caches, tier):
    path = make(tmp_path, "clip", sine(440, 0.5, SR), SR, "wav")
    cache = caches(**TIERS[tier](tmp_path / "cache"))
    root = tier_root(cache, tier, tmp_path / "cache")
    os.mkfifo(root / EntryKey.of(path, SR, True).file_name)
    got = within(60, lambda: cache.load(path, SR))
    assert got.tobytes() == ad.load(path, sr=SR)[0].tobytes()
    assert cache.stats()["corrupt_discarded"] == 1
    assert within(60, lambda: cache.load(path, SR)).tobytes() == got.tobytes()


def test_a_fifo_given_as_a_path_is_refused_at_once(tmp_path, caches):
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    cache = caches(max_ram_gb=0.05)
    with pytest.raises(ad.DecodeError, match=r"pipe\.wav: not a regular file \(a FIFO\)"):
        within(60, lambda: cache.load(fifo, SR))
    batch = within(60, lambda: cache.load_batch([fifo], SR, on_error="skip"))
    assert batch == [None] and isinstance(batch.errors[0], ad.DecodeError)


# -- a deleted cache_dir -------------------------------------------------


def test_a_deleted_cache_dir_is_survived_and_made_again(tmp_path, caches):
    a = make(tmp_path, "a", sine(440, 0.5, SR), SR, "wav")
    b = make(tmp_path, "b", sine(660, 0.5, SR), SR, "wav")
    cache = caches(max_ram_gb=0, cache_dir=tmp_path / "cache")
    cache.load(a, SR)
    assert cache.stats()["disk_bytes"] > 0
    shutil.rmtree(tmp_path / "cache")
    assert cache.stats()["disk_bytes"] == 0
    assert cache.load(a, SR).tobytes() == ad.load(a, sr=SR)[0].tobytes()
    cache.load(b, SR)
    stats = cache.stats()
    assert stats["store_errors"] == 0 and stats["disk_bytes"] > 0
    cache.clear()
    shutil.rmtree(tmp_path / "cache")
    cache.clear()  # nothing to clear is not an error


# -- processes that die ----------------------------------------------------

_DIE = """
import os, signal, sys, time
from audiodecode.cache import AudioCache
cache = AudioCache(max_ram_gb=0.05)
cache.load(sys.argv[1], 16000)
how = sys.argv[2]
if how == "fork":  # a forked worker outlives its parent
    if os.fork() == 0:
        devnull = os.open(os.devnull, os.O_RDWR)  # let the test's pipe close
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        time.sleep(120)
        os._exit(0)
print(cache.ram_dir, flush=True)
if how in ("SIGKILL", "fork"):
    os.kill(os.getpid(), signal.SIGKILL)
elif how == "SIGTERM":
    os.kill(os.getpid(), signal.SIGTERM)
else:
    os._exit(0)
time.sleep(60)
"""


def _leave_a_tier_behind(path: Path, how: str) -> Path:
    """The RAM tier of a process that dies the way `how` says, with an entry in it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", _DIE, str(path), how], env=env, capture_output=True, text=True,
                          timeout=120)
    ram_dir = Path(done.stdout.strip())
    assert ram_dir.name.startswith(PREFIX), done.stderr
    assert list(ram_dir.glob("*.pcm")), "the dead process left its tier with its entries"
    return ram_dir


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM", "os._exit"])
def test_the_next_cache_frees_the_tier_of_a_killed_process(tmp_path, caches, how):
    path = make(tmp_path, "clip", sine(440, 1.0, SR), SR, "wav")
    mine = caches(max_ram_gb=0.05)
    mine.load(path, SR)
    orphan = _leave_a_tier_behind(path, how)
    caches(max_ram_gb=0.05)
    assert not orphan.exists()
    # A live tier, this process's, is left alone.
    assert Path(mine.ram_dir).is_dir()
    assert mine.load(path, SR).size and mine.stats()["hits"] == 1


def test_a_tier_lives_while_a_forked_worker_of_its_dead_owner_does(tmp_path, caches):
    path = make(tmp_path, "clip", sine(440, 1.0, SR), SR, "wav")
    tier = _leave_a_tier_behind(path, "fork")
    caches(max_ram_gb=0.05)
    assert tier.is_dir(), "the orphaned worker still holds the tier"
    # The worker is the one process still holding the tier's lock file open.
    holders = [pid for pid in map(int, filter(str.isdigit, os.listdir("/proc"))) if _holds(pid, tier / "alive")]
    assert len(holders) == 1
    os.kill(holders[0], signal.SIGKILL)
    _wait_gone(holders[0])
    caches(max_ram_gb=0.05)
    assert not tier.exists()


def _holds(pid: int, path: Path) -> bool:
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}") == str(path) for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


def _wait_gone(pid: int) -> None:
    """Until `pid` (not our child: reaped by init) has exited."""
    for _ in range(600):
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(")")[-1].split()[0] == "Z":
                    return
        except FileNotFoundError:
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} did not exit")


def test_a_tier_left_by_an_older_version_is_freed_once_its_process_is_gone(tmp_path, caches):
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(done.stdout)
    legacy = Path(shared_memory_root()) / f"{PREFIX}{dead}-legacy{os.getpid()}"
    legacy.mkdir()
    (legacy / "index").write_bytes(np.zeros(2, np.int32).tobytes())
    live = Path(shared_memory_root()) / f"{PREFIX}{os.getpid()}-legacy"
    live.mkdir()
    try:
        caches(max_ram_gb=0.05)
        assert not legacy.exists()
        assert live.is_dir(), "its process (this one) is alive"
    finally:
        shutil.rmtree(live, ignore_errors=True)
        shutil.rmtree(legacy, ignore_errors=True)
