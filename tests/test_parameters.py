"""Bad arguments are a ValueError naming the argument, in every entry point,
and no valid argument makes the work unbounded."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import audiodecode as ad
from audiodecode.cache import AudioCache
from audiodecode.data.reading import ClipSpec
from hang import within
from synth import chirp, make

BAD_SR = [0, -16000, 768_001, 2**31 - 1, 10**7, 2**32, 2**64, True, False, np.bool_(True), 16000.0, "16000"]


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make(tmp_path_factory.mktemp("params"), "clip", chirp(100, 4000, 1.0, 16000), 16000, "wav")


def entry_points(path: Path, cache: AudioCache) -> dict[str, Callable[..., object]]:
    """Every call that takes `sr`, `offset` and `duration` (the cache takes no offset or duration)."""
    return {
        "load": lambda **kw: ad.load(path, **kw),
        "load pyav": lambda **kw: ad.load(path, backend="pyav", **kw),
        "load_batch": lambda **kw: ad.load_batch([path], **kw),
        "load_batch skip": lambda **kw: ad.load_batch([path], on_error="skip", **kw),
        "cache.load": lambda sr=None: cache.load(path, sr=sr),
        "cache.load_batch": lambda sr=None: cache.load_batch([path], sr=sr, on_error="skip"),
    }


@pytest.mark.parametrize("sr", BAD_SR, ids=repr)
def test_sr_outside_1_to_768000_or_not_an_int_is_refused(wav: Path, sr: object) -> None:
    with AudioCache(max_ram_gb=0.01) as cache:
        for name, call in entry_points(wav, cache).items():
            with pytest.raises(ValueError, match=r"^sr must be") as caught:
                call(sr=sr)
            assert caught.type is ValueError, name  # not OverflowError or TypeError
    with pytest.raises(ValueError, match=r"^sr must be"):
        ClipSpec(sr=sr)  # the loaders' sr


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"offset": -1.0}, "offset"),
        ({"offset": float("nan")}, "offset"),
        ({"offset": float("inf")}, "offset"),
        ({"offset": 1e308}, "offset"),
        ({"offset": 5e14}, "offset"),  # the release build returned the file's start
        ({"offset": 10**400}, "offset"),  # an int float() overflows on
        ({"offset": True}, "offset"),
        ({"offset": "1"}, "offset"),
        ({"duration": 0.0}, "duration"),
        ({"duration": -2.0}, "duration"),
        ({"duration": float("nan")}, "duration"),
        ({"duration": 1e308}, "duration"),
        ({"sr": 2**32, "duration": 0.5}, "sr"),
    ],
    ids=repr,
)
def test_offsets_and_durations_out_of_range_are_refused(wav: Path, kwargs: dict, argument: str) -> None:
    with AudioCache(max_ram_gb=0.01) as cache:
        for name, call in entry_points(wav, cache).items():
            if name.startswith("cache"):
                continue
            with pytest.raises(ValueError, match=rf"^{argument}") as caught:
                call(**kwargs)
            assert caught.type is ValueError, name


def test_load_batch_names_the_entry_of_a_bad_per_source_argument(wav: Path) -> None:
    with pytest.raises(ValueError, match=r"^offset\[1\] must be"):
        ad.load_batch([wav, wav], offset=[0.0, -1.0])
    with pytest.raises(ValueError, match=r"^duration\[0\] must be"):
        ad.load_batch([wav, wav], duration=[1e300, None], on_error="skip")


def test_the_bounds_themselves_are_taken(wav: Path) -> None:
    y, sr = ad.load(wav, sr=1, duration=ad.loading.MAX_SECONDS)
    assert (sr, y.shape) == (1, (1,))
    with pytest.raises(ValueError, match="past the end"):
        ad.load(wav, offset=ad.loading.MAX_SECONDS)


@pytest.mark.parametrize("backend", ["rust", "pyav"])
def test_a_duration_under_half_a_frame_is_a_value_error_not_a_decode_error(wav: Path, backend: str) -> None:
    # Documented choice: no frame to return is the caller's mistake (an empty
    # array would fail later, far from the cause). Half a frame rounds up.
    with pytest.raises(ValueError, match=r"^duration \S+ s is less than half a frame at .*clip\.wav.*16000 Hz"):
        ad.load(wav, duration=1e-9, backend=backend)
    y, _ = ad.load(wav, duration=0.5 / 16000 + 1e-9, backend=backend)
    assert y.shape == (1,)


@pytest.mark.parametrize("sr", [768_000, 767_999, 16_001, 1])
def test_any_valid_rate_costs_what_its_output_does(wav: Path, sr: int) -> None:
    # sr=2**31-1 and 10**7 used to run for minutes on 10 ms: now refused,
    # and an odd rate no longer builds a table per phase.
    y, out_sr = within(60, lambda: ad.load(wav, sr=sr, duration=0.01))
    assert out_sr == sr
    assert y.shape == (int(np.ceil(160 * sr / 16000)),)


def test_extreme_ratio_beyond_the_kernel_bound_is_a_value_error(tmp_path: Path) -> None:
    path = make(tmp_path, "hi", chirp(100, 4000, 0.05, 384_000), 384_000, "wavf32")
    with pytest.raises(ValueError, match="cannot resample 384000 Hz to 1 Hz"):
        ad.load(path, sr=1)


def test_a_fifo_given_as_a_path_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    for backend in ("auto", "rust", "pyav"):
        with pytest.raises(ad.DecodeError, match=r"pipe\.wav: not a regular file \(a FIFO\)"):
            within(60, lambda: ad.load(fifo, backend=backend))
        with pytest.raises(ad.DecodeError, match="a FIFO"):
            within(60, lambda: ad.info(fifo, backend=backend))
        batch = within(60, lambda: ad.load_batch([fifo], on_error="skip", backend=backend))
        assert batch == [None] and "a FIFO" in str(batch.errors[0])


@pytest.mark.parametrize("sr", [True, 0, 768_001, 2**32], ids=repr)
def test_the_loaders_refuse_a_bad_sr_before_any_work(wav: Path, sr: object) -> None:
    torch_loader = pytest.importorskip("audiodecode.torch")
    with pytest.raises(ValueError, match=r"^sr must be"):
        torch_loader.AudioDataLoader([wav], batch_size=1, target_sr=sr, cache=None)
    with pytest.raises(ValueError, match=r"^sr must be"):
        torch_loader.AudioDataset([wav], target_sr=sr)
    pytest.importorskip("jax")
    from audiodecode.jax import loader

    with pytest.raises(ValueError, match=r"^sr must be"):
        loader([wav], batch_size=1, sr=sr, cache=None)
