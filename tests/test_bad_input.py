"""Bad input gets a clear exception naming the file, never a crash or a hang."""

from __future__ import annotations

import resource
import struct
from pathlib import Path

import numpy as np
import pytest

import audiodecode as ad
from synth import chirp, make


def clip(tmp_path: Path, fmt: str, seconds: float = 1.0) -> Path:
    return make(tmp_path, "clip", chirp(100, 4000, seconds, 16000), 16000, fmt)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.wav"):
        ad.load(tmp_path / "nope.wav")
    with pytest.raises(FileNotFoundError):
        ad.info(tmp_path / "nope.wav")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="directory"):
        ad.load(tmp_path)


def test_zero_bytes(tmp_path: Path) -> None:
    empty = tmp_path / "empty.flac"
    empty.write_bytes(b"")
    with pytest.raises(ad.DecodeError, match=r"empty\.flac.*0 bytes"):
        ad.load(empty)
    with pytest.raises(ad.DecodeError, match="<bytes>"):
        ad.load(b"")


@pytest.mark.parametrize("backend", ["auto", "rust"])
def test_garbage(tmp_path: Path, backend: str) -> None:
    garbage = tmp_path / "garbage.mp3"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(ad.DecodeError, match="garbage.mp3"):
        ad.load(garbage, backend=backend)


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3", "ogg", "m4a"])
def test_truncated_to_the_header(tmp_path: Path, fmt: str) -> None:
    path = clip(tmp_path, fmt)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(ad.DecodeError, match="clip"):
        ad.load(path)


@pytest.mark.parametrize("fmt", ["ogg", "m4a"])
def test_cut_containers_that_need_their_end_are_decode_errors(tmp_path: Path, fmt: str) -> None:
    # symphonia's Ogg reader reads the last page while probing, and FFmpeg's
    # M4A files keep their index (moov) at the end: cut in half, neither can
    # be opened at all. An error, never silently short audio.
    path = clip(tmp_path, fmt, seconds=3.0)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ad.DecodeError, match=f"clip.{fmt}"):
        ad.load(path)


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3"])
def test_truncated_part_way_warns_and_keeps_what_decoded(tmp_path: Path, fmt: str) -> None:
    path = clip(tmp_path, fmt, seconds=3.0)
    full, _ = ad.load(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.warns(ad.DecodeWarning, match="clip"):
        half, _ = ad.load(path)
    assert 0.3 * len(full) < len(half) < 0.7 * len(full)
    np.testing.assert_allclose(half[:1000], full[:1000], atol=1e-6)
    with pytest.raises(ad.DecodeError, match="clip"):
        ad.load(path, strict=True)


def test_non_finite_float_samples(tmp_path: Path) -> None:
    y = chirp(100, 4000, 0.5, 16000)
    y[100] = np.nan
    path = make(tmp_path, "nan", y, 16000, "wavf32")
    with pytest.raises(ad.DecodeError, match=r"nan\.wav.*NaN"):
        ad.load(path)


def test_declared_gigabytes_in_a_tiny_file_do_not_allocate_them(tmp_path: Path) -> None:
    path = clip(tmp_path, "wav", seconds=0.5)
    data = bytearray(path.read_bytes())
    # RIFF size and data chunk size both claim ~4 GiB.
    data[4:8] = struct.pack("<I", 0xFFFFFFF0)
    at = data.find(b"data")
    data[at + 4: at + 8] = struct.pack("<I", 0xFFFFFF00)
    path.write_bytes(bytes(data))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        with pytest.warns(ad.DecodeWarning, match="truncated"):
            y, _ = ad.load(path)
        assert len(y) <= 8000
    except ad.DecodeError as err:
        assert "clip.wav" in str(err)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 256


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3", "ogg", "m4a", "aiff"])
def test_corrupted_bytes_never_crash(tmp_path: Path, fmt: str) -> None:
    """Flip bytes all over real files: every outcome is audio, a DecodeError
    or a DecodeWarning, never a panic, a hang or non-finite samples."""
    good = clip(tmp_path, fmt, seconds=0.5).read_bytes()
    rng = np.random.default_rng(len(good))
    for trial in range(40):
        data = bytearray(good)
        for at in rng.integers(0, len(data), size=1 + trial % 8):
            data[at] = int(rng.integers(0, 256))
        try:
            with _any_warnings():
                y, _ = ad.load(bytes(data), backend="rust")
        except ad.AudioDecodeError as err:
            assert str(err)
        except ValueError:
            pass
        else:
            assert np.isfinite(y).all()


class _any_warnings:
    def __enter__(self) -> None:
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", ad.DecodeWarning)

    def __exit__(self, *exc: object) -> None:
        self._ctx.__exit__(*exc)


def test_wrong_source_type() -> None:
    with pytest.raises(TypeError, match="path, bytes or a binary file"):
        ad.load(12345)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="binary mode"):
        import io

        ad.load(io.StringIO("text"))  # type: ignore[arg-type]
