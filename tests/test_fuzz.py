"""A short, fixed-seed run of the mutation fuzzer (`make fuzz` runs long
ones): no input breaks the decode contract. And the checker itself
catches each kind of broken promise, so a clean run means something."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from audiodecode import DecodeError
from fuzz.mutate import check, make_seeds, mutate, run


def test_inputs_are_reproducible_from_their_number(tmp_path: Path) -> None:
    seeds = [p.read_bytes() for p in make_seeds(tmp_path / "seeds")]
    assert mutate(seeds, 3, 17) == mutate(seeds, 3, 17)
    assert len({mutate(seeds, 3, i) for i in range(50)}) == 50


def fake(load: object, info: object = None, load_batch: object = None) -> SimpleNamespace:
    good_info = SimpleNamespace(sample_rate=16000, channels=1)
    return SimpleNamespace(load=load, info=info or (lambda p: good_info), load_batch=load_batch or (lambda *a, **k: []))


def test_the_checker_catches_every_kind_of_broken_promise(tmp_path: Path) -> None:
    path = tmp_path / "fz_0_1.wav"

    def raising(err: Exception) -> object:
        def call(*args: object, **kwargs: object) -> object:
            raise err
        return call

    nan = np.full((1, 10), np.nan, dtype=np.float32)
    assert check(path, fake(lambda p, mono: (nan, 16000)))  # NaN audio
    assert check(path, fake(lambda p, mono: (np.zeros((256, 4), np.float32), 16000)))  # implausible shape
    assert check(path, fake(raising(AttributeError("x"))))  # a foreign exception class
    assert check(path, fake(raising(DecodeError("some other file: bad"))))  # an error not naming the file
    assert check(path, fake(lambda p, mono: (np.zeros((2, 4), np.float32), 16000)))  # info disagrees: 1 vs 2
    assert check(path, fake(raising(DecodeError(f"{path}: bad")), load_batch=raising(KeyError("k"))))
    assert not check(path, fake(raising(DecodeError(f"{path}: bad"))))  # the contract kept
    assert not check(path, fake(lambda p, mono: (np.zeros((1, 4), np.float32), 16000)))


def test_workers_run_under_an_address_space_limit() -> None:
    # What a worker does first: beyond the limit an allocation fails even
    # if its pages would never be touched (where Rust would abort on it,
    # the worker dies and the run reports the input).
    code = (
        "from fuzz.mutate import limit_address_space\n"
        "limit_address_space(1.0)\n"
        "try:\n"
        "    bytearray(2 << 30)\n"
        "    print('allocated')\n"
        "except MemoryError:\n"
        "    print('refused')\n"
    )
    root = Path(__file__).parent.parent
    assert subprocess.check_output([sys.executable, "-c", code], cwd=root, text=True).strip() == "refused"


@pytest.mark.slow
def test_a_short_fixed_seed_run_finds_no_violation(tmp_path: Path) -> None:
    summary = run(inputs=1200, seed=20261128, workers=2, timeout=60, out=tmp_path / "out", chunk=600)
    assert summary["violations"] == 0, (tmp_path / "out" / "summary.json").read_text()


def test_mp3_seeds_cover_every_mpeg_version_and_decode(tmp_path: Path) -> None:
    import audiodecode as ad

    paths = make_seeds(tmp_path / "seeds", "mp3")
    found = {(ad.info(p, backend="rust").sample_rate, ad.info(p, backend="rust").channels) for p in paths}
    # MPEG-1 (44.1, 48 kHz), MPEG-2 (22.05, 16 kHz), MPEG-2.5 (8, 11.025 kHz); mono and stereo.
    assert {sr for sr, _ in found} == {44100, 48000, 22050, 16000, 8000, 11025}
    assert {c for _, c in found} == {1, 2}
    for p in paths:
        y, _ = ad.load(p, sr=None, mono=False, backend="rust")
        assert y.shape[1] > 0 and np.isfinite(y).all()
    assert {ad.info(p, backend="rust").codec for p in paths} == {"mp3", "mp2"}


def test_rf64_seeds_are_rf64_and_decode_in_the_core(tmp_path: Path) -> None:
    import audiodecode as ad

    for path in make_seeds(tmp_path / "seeds", "rf64"):
        data = path.read_bytes()
        assert data[:4] == b"RF64" and data[12:16] == b"ds64", path.name
        y, _ = ad.load(path, sr=None, mono=False, backend="rust")
        assert y.shape[1] == ad.info(path, backend="rust").frames == round(0.4 * 44100), path.name


@pytest.mark.slow
def test_a_short_mp3_seeded_run_finds_no_violation(tmp_path: Path) -> None:
    summary = run(inputs=400, seed=20261207, workers=2, timeout=60, out=tmp_path / "out", chunk=200, seed_set="mp3")
    assert summary["violations"] == 0, (tmp_path / "out" / "summary.json").read_text()
    assert summary["seed_set"] == "mp3" and summary["seeds"][0] == "mp3.mp3"


@pytest.mark.slow
def test_a_short_rf64_seeded_run_finds_no_violation(tmp_path: Path) -> None:
    summary = run(inputs=400, seed=20261207, workers=2, timeout=60, out=tmp_path / "out", chunk=200, seed_set="rf64")
    assert summary["violations"] == 0, (tmp_path / "out" / "summary.json").read_text()
