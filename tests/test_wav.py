"""WAV's direct PCM path (core_rs/src/wav.rs) sample for sample against
libsndfile, whose float conversion of every PCM encoding is exact: each
encoding plain and WAVE_FORMAT_EXTENSIBLE, windows, mix-down, chunks
before the data, a file read in blocks, and the cases left to symphonia."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

import audiodecode as ad

soundfile = pytest.importorskip("soundfile")

SUBTYPES = ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"]


def signal(channels: int, frames: int, seed: int = 0) -> np.ndarray:
    """Full-scale noise with both extremes, `(frames, channels)` float64."""
    y = np.random.default_rng(seed).uniform(-1.0, 1.0, (frames, channels))
    y[0], y[1] = 1.0, -1.0
    return y


def write(path: Path, subtype: str, channels: int, frames: int = 4001, fmt: str = "WAV", sr: int = 16000) -> Path:
    soundfile.write(path, signal(channels, frames), sr, subtype=subtype, format=fmt)
    return path


def oracle(path: Path, mono: bool = False, start: int = 0, stop: int | None = None) -> np.ndarray:
    """libsndfile's samples `(channels, n)`, or their mean as librosa's `to_mono`."""
    y = soundfile.read(path, dtype="float32", always_2d=True)[0][start:stop].T
    if not mono:
        return y
    total = y[0].copy()
    for plane in y[1:]:
        total += plane
    return total * np.float32(1.0 / len(y)) if len(y) > 1 else total


@pytest.mark.parametrize("fmt", ["WAV", "WAVEX"])
@pytest.mark.parametrize("channels", [1, 2, 6])
@pytest.mark.parametrize("subtype", SUBTYPES)
def test_every_encoding_is_exact(tmp_path: Path, subtype: str, channels: int, fmt: str) -> None:
    path = write(tmp_path / "clip.wav", subtype, channels, fmt=fmt)
    y, sr = ad.load(path, sr=None, mono=False)
    assert sr == 16000 and y.dtype == np.float32 and y.flags.c_contiguous
    np.testing.assert_array_equal(y, oracle(path))
    mono, _ = ad.load(path, sr=None)
    np.testing.assert_array_equal(mono, oracle(path, mono=True))


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_offset_and_duration_windows(tmp_path: Path, subtype: str) -> None:
    path = write(tmp_path / "clip.wav", subtype, 2)
    for offset, duration in [(0.0, 0.1), (0.05, 0.0625), (0.2, None), (0.2, 60.0)]:
        start = round(offset * 16000)
        stop = None if duration is None else start + round(duration * 16000)
        for mono in (False, True):
            y, _ = ad.load(path, sr=None, mono=mono, offset=offset, duration=duration)
            np.testing.assert_array_equal(y, oracle(path, mono, start, stop), err_msg=f"{offset} {duration} {mono}")
    with pytest.raises(ValueError, match="past the end"):
        ad.load(path, offset=1.0)


def test_a_long_file_is_read_in_blocks(tmp_path: Path) -> None:
    # 9-byte frames, about 2 MB: several 256 KiB blocks, none a whole frame short.
    path = write(tmp_path / "long.wav", "PCM_24", 3, frames=250_001)
    y, _ = ad.load(path, sr=None, mono=False)
    np.testing.assert_array_equal(y, oracle(path))
    from_bytes, _ = ad.load(path.read_bytes(), sr=None, mono=False)
    np.testing.assert_array_equal(from_bytes, y)


def test_one_thread_decodes_a_batch_of_mixed_encodings(tmp_path: Path) -> None:
    # The thread's scratch buffer serves files of different frame sizes in turn.
    paths = [write(tmp_path / f"{i}.wav", subtype, channels)
             for i, (subtype, channels) in enumerate([("PCM_24", 3), ("PCM_16", 2), ("DOUBLE", 1), ("PCM_U8", 6)])]
    result = ad.load_batch(paths, sr=None, mono=False, num_threads=1)
    for path, (y, _) in zip(paths, result):
        np.testing.assert_array_equal(y, oracle(path))


def chunk(tag: bytes, body: bytes) -> bytes:
    return tag + struct.pack("<I", len(body)) + body + (b"\0" if len(body) % 2 else b"")


def with_chunk_before_data(path: Path, extra: bytes) -> bytes:
    """The file at `path` with `extra` inserted before its data chunk, the RIFF length fixed."""
    data = path.read_bytes()
    at = data.index(b"data")
    out = data[:at] + extra + data[at:]
    return out[:4] + struct.pack("<I", len(out) - 8) + out[8:]


def test_odd_sized_chunks_before_the_data(tmp_path: Path) -> None:
    path = write(tmp_path / "clip.wav", "PCM_16", 2)
    padded = tmp_path / "padded.wav"
    padded.write_bytes(with_chunk_before_data(path, chunk(b"junk", b"abc") + chunk(b"bext", b"x" * 601)))
    y, _ = ad.load(padded, sr=None, mono=False)
    np.testing.assert_array_equal(y, oracle(path))


def test_a_truncated_data_chunk_warns_and_keeps_what_is_there(tmp_path: Path) -> None:
    path = write(tmp_path / "clip.wav", "PCM_16", 2, frames=8000)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(path.read_bytes()[: -4 * 3000])
    with pytest.warns(ad.DecodeWarning, match="cut.wav.*truncated"):
        y, _ = ad.load(cut, sr=None, mono=False, backend="rust")
    # symphonia reads whole packets of 1,152 frames: what it has is exact.
    assert 0 < y.shape[1] <= 5000
    np.testing.assert_array_equal(y, oracle(path)[:, : y.shape[1]])
    with pytest.raises(ad.DecodeError, match="cut.wav.*truncated"):
        ad.load(cut, sr=None, strict=True, backend="rust")


def test_encodings_left_to_symphonia_still_decode(tmp_path: Path) -> None:
    for subtype in ["ULAW", "ALAW", "IMA_ADPCM", "MS_ADPCM"]:
        path = write(tmp_path / f"{subtype}.wav", subtype, 2)
        y, _ = ad.load(path, sr=None, mono=False, backend="rust")
        ref = oracle(path)
        assert y.shape == ref.shape
        if subtype.endswith("LAW"):
            # Both expand A-law and mu-law by the G.711 tables.
            np.testing.assert_allclose(y, ref, atol=2 / 32768, err_msg=subtype)
        else:
            # ADPCM predictors round differently between the two decoders.
            noise = np.sum((y - ref).astype(np.float64) ** 2)
            assert 10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / noise) > 30, subtype
