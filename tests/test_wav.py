"""WAV's direct PCM path (core_rs/src/wav.rs) sample for sample against
libsndfile, whose float conversion of every PCM encoding is exact: each
encoding plain and WAVE_FORMAT_EXTENSIBLE, windows, mix-down, chunks
before the data, a file read in blocks, and the cases left to symphonia;
then RF64/BW64 (core_rs/src/rf64.rs) written by FFmpeg, cut, and with
hostile ds64 sizes."""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import warnings
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


def assert_cut_keeps_what_is_there(path: Path, reference: np.ndarray) -> Path:
    """The last 3,000 frames of 16-bit stereo `path` cut off: a warning and
    the exact frames that are left; `strict=True` raises naming the file.
    Returns the cut file."""
    cut = path.with_name("cut.wav")
    cut.write_bytes(path.read_bytes()[: -4 * 3000])
    with pytest.warns(ad.DecodeWarning, match="cut.wav.*truncated"):
        y, _ = ad.load(cut, sr=None, mono=False, backend="rust")
    # symphonia reads whole packets of 1,152 frames: what it has is exact.
    assert 0 < y.shape[1] <= 5000
    np.testing.assert_array_equal(y, reference[:, : y.shape[1]])
    with pytest.raises(ad.DecodeError, match="cut.wav.*truncated"):
        ad.load(cut, sr=None, strict=True, backend="rust")
    return cut


def test_a_truncated_data_chunk_warns_and_keeps_what_is_there(tmp_path: Path) -> None:
    path = write(tmp_path / "clip.wav", "PCM_16", 2, frames=8000)
    assert_cut_keeps_what_is_there(path, oracle(path))


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


# -- RF64 and BW64: WAV with 64-bit sizes in a ds64 chunk (core_rs/src/rf64.rs) --------------

RF64_CODECS = {"PCM_U8": "pcm_u8", "PCM_16": "pcm_s16le", "PCM_24": "pcm_s24le", "PCM_32": "pcm_s32le",
               "FLOAT": "pcm_f32le", "DOUBLE": "pcm_f64le"}


def ffmpeg_rf64(source: Path, path: Path, subtype: str, *options: str) -> Path:
    """`source` rewritten by FFmpeg as RF64 (`-rf64 always`: both 32-bit
    sizes 0xFFFFFFFF, the real ones in ds64), sample format kept."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("Debian's ffmpeg writes the RF64 files here (`make env` installs it)")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(source), "-c:a", RF64_CODECS[subtype],
                    "-rf64", "always", *options, str(path)], check=True)
    data = path.read_bytes()
    assert data[:4] == b"RF64" and data[12:16] == b"ds64" and data[4:8] == b"\xff" * 4
    return path


@pytest.mark.parametrize("channels", [1, 2, 6])
@pytest.mark.parametrize("subtype", SUBTYPES)
def test_rf64_from_ffmpeg_is_exact(tmp_path: Path, subtype: str, channels: int) -> None:
    # An even number of frames: FFmpeg's ds64 counts the pad byte of an odd
    # data chunk (8-bit mono) as data, and libsndfile reads it as a frame too.
    wav = write(tmp_path / "clip.wav", subtype, channels, frames=4000)
    path = ffmpeg_rf64(wav, tmp_path / "clip_rf64.wav", subtype)
    y, sr = ad.load(path, sr=None, mono=False, backend="rust")
    assert sr == 16000
    # libsndfile reads RF64 too; and the samples are the WAV's.
    np.testing.assert_array_equal(y, oracle(path))
    np.testing.assert_array_equal(y, oracle(wav))
    mono, _ = ad.load(path, sr=None, backend="rust")
    np.testing.assert_array_equal(mono, oracle(wav, mono=True))
    info = ad.info(path, backend="rust")
    assert (info.frames, info.channels, info.sample_rate) == (4000, channels, 16000)


class ForwardOnly:
    """A binary stream with `read` alone, as a pipe or a socket gives."""

    def __init__(self, data: bytes) -> None:
        self._data, self._at = data, 0

    def read(self, n: int = -1) -> bytes:
        end = len(self._data) if n < 0 else self._at + n
        out, self._at = self._data[self._at : end], min(end, len(self._data))
        return out


def test_rf64_windows_and_a_chunk_after_the_data(tmp_path: Path) -> None:
    # A chunk after the data: the data chunk ends where ds64 says, not at
    # the end of the file. (FFmpeg's own `-write_peak on` counts its levl
    # chunk in ds64's data size, and FFmpeg and libsndfile then read it as
    # audio: the chunk is appended here instead.)
    wav = write(tmp_path / "clip.wav", "PCM_16", 2)
    rf64 = ffmpeg_rf64(wav, tmp_path / "rf64.wav", "PCM_16").read_bytes() + chunk(b"levl", bytes(range(256)) * 4)
    path = tmp_path / "trailing.wav"
    path.write_bytes(rf64[:20] + struct.pack("<Q", len(rf64) - 8) + rf64[28:])
    np.testing.assert_array_equal(oracle(path), oracle(wav))
    for offset, duration in [(0.0, None), (0.05, 0.0625), (0.2, 60.0)]:
        start = round(offset * 16000)
        stop = None if duration is None else start + round(duration * 16000)
        for mono in (False, True):
            y, _ = ad.load(path, sr=None, mono=mono, offset=offset, duration=duration, backend="rust")
            np.testing.assert_array_equal(y, oracle(wav, mono, start, stop), err_msg=f"{offset} {duration} {mono}")
    with pytest.raises(ValueError, match="past the end"):
        ad.load(path, offset=1.0, backend="rust")
    # The stream decoder, from the path and from a forward-only reader.
    for source in (path, ForwardOnly(path.read_bytes())):
        chunks = [chunk for chunk, _ in ad.stream(source, sr=None, mono=False, chunk_seconds=0.05)]
        np.testing.assert_array_equal(np.concatenate(chunks, axis=1), oracle(wav))
    # BW64 (ITU-R BS.2088) is the same form under another name.
    bw64 = tmp_path / "clip.bw64.wav"
    bw64.write_bytes(b"BW64" + path.read_bytes()[4:])
    y, _ = ad.load(bw64, sr=None, mono=False, backend="rust")
    np.testing.assert_array_equal(y, oracle(wav))
    assert ad.info(bw64, backend="rust").frames == 4001


def test_a_truncated_rf64_warns_and_keeps_what_is_there(tmp_path: Path) -> None:
    # The WAV contract (test_a_truncated_data_chunk_warns_and_keeps_what_is_there).
    wav = write(tmp_path / "clip.wav", "PCM_16", 2, frames=8000)
    path = ffmpeg_rf64(wav, tmp_path / "rf64.wav", "PCM_16")
    cut = assert_cut_keeps_what_is_there(path, oracle(wav))
    # A file cut short still reports its stated length, as a WAV does.
    assert ad.info(cut, backend="rust").frames == 8000


def hostile_ds64(path: Path, riff: int, data: int) -> bytes:
    """The RF64 file at `path` with its ds64 RIFF and data sizes replaced."""
    raw = bytearray(path.read_bytes())
    raw[20:36] = struct.pack("<QQ", riff, data)
    return bytes(raw)


@pytest.mark.parametrize("claim", [2**32, 2**63, 2**64 - 1], ids=["4GiB", "2^63", "2^64-1"])
def test_a_hostile_ds64_is_named_damage_not_an_allocation(tmp_path: Path, claim: int) -> None:
    wav = write(tmp_path / "clip.wav", "PCM_16", 2, frames=8000)
    path = ffmpeg_rf64(wav, tmp_path / "rf64.wav", "PCM_16")
    # Both sizes beyond the file: what is there, with the truncated warning,
    # and no length reported (as a WAV claiming 4 GiB in test_untrusted_headers).
    huge = tmp_path / "huge.wav"
    huge.write_bytes(hostile_ds64(path, claim, claim))
    with pytest.warns(ad.DecodeWarning, match="huge.wav.*truncated"):
        y, _ = ad.load(huge, sr=None, mono=False, backend="rust")
    np.testing.assert_array_equal(y, oracle(wav))
    assert ad.info(huge, backend="rust").frames is None
    with pytest.raises(ad.DecodeError, match="huge.wav.*truncated"):
        ad.load(huge, sr=None, strict=True, backend="rust")
    # A data chunk larger than its form: refused, naming the file.
    inconsistent = tmp_path / "inconsistent.wav"
    inconsistent.write_bytes(hostile_ds64(path, len(path.read_bytes()) - 8, claim))
    with pytest.raises(ad.DecodeError, match="inconsistent.wav.*exceeds"):
        ad.load(inconsistent, backend="rust")
    with pytest.raises(ad.DecodeError, match="inconsistent.wav"):
        ad.info(inconsistent, backend="rust")


def test_a_hostile_ds64_allocates_nothing_under_an_address_space_limit(tmp_path: Path) -> None:
    # As the fuzz workers run (fuzz/mutate.py): a 2^63-byte claim believed
    # anywhere would fail the allocation, and Rust would abort the process.
    wav = write(tmp_path / "clip.wav", "PCM_16", 2, frames=8000)
    path = ffmpeg_rf64(wav, tmp_path / "rf64.wav", "PCM_16")
    huge = tmp_path / "huge.wav"
    huge.write_bytes(hostile_ds64(path, 2**63, 2**63))
    code = (
        "import sys, warnings\n"
        "from fuzz.mutate import limit_address_space\n"
        "limit_address_space(4.0)\n"
        "import audiodecode as ad\n"
        "warnings.simplefilter('ignore')\n"
        "y, sr = ad.load(sys.argv[1], sr=None, mono=False, backend='rust')\n"
        "print(y.shape, ad.info(sys.argv[1], backend='rust').frames)\n"
    )
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", code, str(huge)], cwd=root, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(2, 8000) None"


def test_w64_stays_with_the_fallback(tmp_path: Path) -> None:
    # Sony Wave64 (`-f w64`) is another container (GUID chunk ids): the core
    # refuses it as unsupported, and PyAV reads it.
    if shutil.which("ffmpeg") is None:
        pytest.skip("Debian's ffmpeg writes the W64 file here (`make env` installs it)")
    # Whole 8-byte units of data: FFmpeg reads W64's alignment padding as a frame.
    wav = write(tmp_path / "clip.wav", "PCM_16", 2, frames=4000)
    path = tmp_path / "clip.w64"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(wav), "-c:a", "pcm_s16le", "-f", "w64", str(path)], check=True)
    with pytest.raises(ad.UnsupportedFormatError, match="clip.w64"):
        ad.load(path, backend="rust")
    y, _ = ad.load(path, sr=None, mono=False)
    np.testing.assert_array_equal(y, oracle(wav))


def test_rf64_written_to_a_pipe_reads_as_a_piped_wav(tmp_path: Path) -> None:
    # FFmpeg writing RF64 to a pipe cannot go back: ds64's sizes stay 0 and
    # the 32-bit ones 0xFFFFFFFF. Read as its piped WAV (sizes 0xFFFFFFFF) is:
    # to the end, which is not damage (no "truncated" warning, as the
    # stream decoder), and `strict` takes it.
    wav = write(tmp_path / "clip.wav", "PCM_24", 2)
    if shutil.which("ffmpeg") is None:
        pytest.skip("Debian's ffmpeg writes the RF64 files here (`make env` installs it)")
    command = ["ffmpeg", "-v", "error", "-i", str(wav), "-c:a", "pcm_s24le", "-f", "wav", "-"]
    piped = {}
    for name, options in [("piped_wav.wav", []), ("piped_rf64.wav", ["-rf64", "always"])]:
        piped[name] = tmp_path / name
        piped[name].write_bytes(subprocess.run(command[:-1] + options + ["-"], check=True, capture_output=True).stdout)
    assert piped["piped_rf64.wav"].read_bytes()[20:36] == bytes(16)
    said = {}
    for name, path in piped.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            y, _ = ad.load(path, sr=None, mono=False, backend="rust")
        np.testing.assert_array_equal(y, oracle(wav))
        said[name] = [str(w.message).replace(name, "") for w in caught]
        assert ad.info(path, backend="rust").frames is None
        np.testing.assert_array_equal(ad.load(path, sr=None, mono=False, strict=True, backend="rust")[0], y)
    assert said == {"piped_wav.wav": [], "piped_rf64.wav": []}
    # And from the pipe itself, forward only.
    with subprocess.Popen(command[:-1] + ["-rf64", "always", "-"], stdout=subprocess.PIPE) as ffmpeg:
        chunks = [chunk for chunk, _ in ad.stream(ffmpeg.stdout, sr=None, mono=False, chunk_seconds=0.1)]
    np.testing.assert_array_equal(np.concatenate(chunks, axis=1), oracle(wav))
