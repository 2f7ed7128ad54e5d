"""Headers are claims, not facts (issue 24): a container counts only where its
format starts, bytes are MPEG audio only on the evidence of a run of frame
headers, a FLAC frame's own block size wins over STREAMINFO's (as in
FFmpeg's tool), and a declared length the bytes cannot hold is not reported.
Each class is built here from a generated file; tests/test_fuzz_found.py
holds the inputs found in the wild."""

from __future__ import annotations

import shutil
import struct
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

import audiodecode as ad
from synth import chirp, make


def tone(tmp_path: Path, fmt: str, seconds: float = 1.0, name: str = "tone") -> Path:
    return make(tmp_path, name, chirp(100, 4000, seconds, 16000), 16000, fmt)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def refused(path: Path, backend: str = "auto") -> ad.DecodeError:
    """The DecodeError both `load` and `info` raise on `path` (both must)."""
    with pytest.raises(ad.DecodeError) as loading:
        ad.load(path, backend=backend)
    with pytest.raises(ad.DecodeError, match=path.name):
        ad.info(path, backend=backend)
    assert path.name in str(loading.value)
    return loading.value


# -- a container starts where its format says -------------------------------------------------

# Files of formats the core does not decode that keep the original WAV
# header inside (OptimFROG, Monkey's Audio, WavPack, TTA do), and a WAV
# after junk: the header must not be found by scanning.
EMBEDDING = {
    "optimfrog.ofr": (b"OFR \x0f\x00\x00\x00" + bytes(15), "OptimFROG"),
    "monkeys.ape": (b"MAC \x96\x0f\x00\x00" + bytes(44), "Monkey's Audio"),
    "wavpack.wv": (b"wvpk" + bytes(28), "WavPack"),
    "tta.tta": (b"TTA1" + bytes(18), "TTA"),
    "junk.bin": (np.random.default_rng(24).integers(0, 256, 300, dtype=np.uint8).tobytes(), "unrecognised"),
}


@pytest.mark.parametrize("name", sorted(EMBEDDING))
def test_a_wav_header_inside_another_format_is_not_decoded(tmp_path: Path, name: str) -> None:
    prefix, reason = EMBEDDING[name]
    path = write(tmp_path, name, prefix + tone(tmp_path, "wav").read_bytes())
    with pytest.raises(ad.DecodeError, match=reason):
        ad.load(path, backend="rust")
    # FFmpeg refuses these too: the fallback does not decode PCM noise.
    refused(path)


def test_a_foreign_format_goes_to_the_fallback_as_unsupported(tmp_path: Path) -> None:
    path = write(tmp_path, "x.wv", b"wvpk" + bytes(28) + tone(tmp_path, "wav").read_bytes())
    with pytest.raises(ad.UnsupportedFormatError, match="WavPack"):
        ad.info(path, backend="rust")


def id3v2(size: int) -> bytes:
    """An ID3v2.4 tag of `size` bytes of (empty) frames."""
    syncsafe = bytes((size >> shift) & 0x7F for shift in (21, 14, 7, 0))
    return b"ID3\x04\x00\x00" + syncsafe + bytes(size)


def apev2_header(size: int) -> bytes:
    """An APEv2 tag header announcing `size` bytes of items and footer."""
    return b"APETAGEX" + struct.pack("<IIII", 2000, size, 0, 0xA0000000) + bytes(8)


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3", "ogg"])
def test_tags_before_the_container_are_skipped(tmp_path: Path, fmt: str) -> None:
    path = tone(tmp_path, fmt)
    plain, _ = ad.load(path, backend="rust")
    for prefix in (id3v2(3000), apev2_header(100) + bytes(100), id3v2(10) + id3v2(500)):
        tagged = write(tmp_path, f"tagged{path.suffix}", prefix + path.read_bytes())
        y, _ = ad.load(tagged, backend="rust")
        np.testing.assert_array_equal(y, plain)
        assert ad.info(tagged, backend="rust").frames == ad.info(path, backend="rust").frames


# -- MPEG audio needs evidence ---------------------------------------------------------------

# MPEG-1 layer I, 32 kHz, 384 kbit/s, stereo: 576-byte frames (the header
# the garbage input garb_236 was taken for).
LAYER_I = bytes([0xFF, 0xFF, 0xC8, 0x00])


def mpeg_frames(count: int) -> bytes:
    return (LAYER_I + bytes(572)) * count


def junk(size: int, seed: int = 0) -> bytes:
    """Random bytes without a single 0xFF (so without an MPEG sync word)."""
    return np.random.default_rng(seed).integers(0, 255, size, dtype=np.uint8).tobytes()


@pytest.mark.parametrize(
    ("data", "ffmpeg_refuses"),
    [
        (mpeg_frames(2) + junk(20000), True),  # two headers, then something else
        # Five frames after junk (seven asked for): FFmpeg's probe takes
        # them, so the fallback may decode them (with the core's warning).
        (junk(500) + mpeg_frames(5) + junk(20000), False),
        (mpeg_frames(6) + junk(60000), True),  # a run, then a large input of other bytes
    ],
    ids=["two-headers", "five-after-junk", "a-handful-in-a-large-input"],
)
def test_mpeg_looking_junk_is_not_audio(tmp_path: Path, data: bytes, ffmpeg_refuses: bool) -> None:
    path = write(tmp_path, "junk.bin", data)
    with pytest.raises(ad.DecodeError, match="junk.bin"):
        ad.load(path, backend="rust")
    if ffmpeg_refuses:
        with pytest.raises(ad.DecodeError, match="junk.bin"):
            ad.load(path)


def test_a_short_stream_of_frames_alone_is_audio(tmp_path: Path) -> None:
    # Two frames that are the whole input: a very short file, not junk.
    y, sr = ad.load(write(tmp_path, "two.mp1", mpeg_frames(2)), mono=False, backend="rust")
    assert (y.shape, sr) == ((2, 768), 32000)


def test_real_mp3s_keep_decoding_after_tags_and_junk(tmp_path: Path) -> None:
    path = tone(tmp_path, "mp3", seconds=2.0)
    plain, _ = ad.load(path, backend="rust")
    # An ID3v2 tag, then junk a tagger left: the frames after it still count.
    messy = write(tmp_path, "messy.mp3", id3v2(2000) + junk(100) + path.read_bytes())
    y, _ = ad.load(messy, backend="rust")
    np.testing.assert_array_equal(y, plain)


@pytest.mark.parametrize("sr", [8000, 11025, 12000, 16000, 22050, 24000, 32000, 48000])
def test_mp3s_of_every_mpeg_version_are_still_taken(tmp_path: Path, sr: int) -> None:
    # MPEG-2.5 (8-12 kHz), MPEG-2 (16-24 kHz) and MPEG-1 frames.
    path = make(tmp_path, "tone", chirp(100, sr / 4, 1.0, sr), sr, "mp3")
    y, got_sr = ad.load(path, backend="rust")
    want, _ = ad.load(path, backend="pyav")
    assert got_sr == sr and abs(len(y) - len(want)) <= 1152


def test_mpeg_layer_ii_is_still_taken(tmp_path: Path) -> None:
    if shutil.which("ffmpeg") is None:
        pytest.skip("Debian's ffmpeg encodes layer II here (`make env` installs it)")
    path = tmp_path / "tone.mp2"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=1",
         "-c:a", "mp2", "-b:a", "128k", str(path)], check=True,
    )
    y, sr = ad.load(path, backend="rust")
    assert sr == 44100 and abs(len(y) - 44100) <= 1152
    assert ad.info(path, backend="rust").codec == "mp2"


# -- FLAC frames whose block size disagrees with STREAMINFO ----------------------------------


def ffmpeg_decode(path: Path, channels: int) -> np.ndarray:
    if shutil.which("ffmpeg") is None:
        pytest.skip("Debian's ffmpeg is the reference here (`make env` installs it)")
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "f32le", "-c:a", "pcm_f32le", "-"],
        check=True, capture_output=True,
    ).stdout
    return np.frombuffer(raw, dtype="<f4").reshape(-1, channels).T


@pytest.mark.parametrize(
    "bounds", [(8192, None), (8192, 8192)], ids=["min-above-max", "both-above-the-frames"]
)
def test_flac_frames_smaller_than_streaminfo_says_decode_as_ffmpeg_does(
    tmp_path: Path, bounds: tuple[int, int | None]
) -> None:
    y = np.stack([chirp(100, 4000, 1.0, 16000), chirp(300, 2000, 1.0, 16000)])
    path = make(tmp_path, "tone", y, 16000, "flac")
    data = bytearray(path.read_bytes())
    # STREAMINFO: "fLaC", a 4-byte block header, then min and max block size.
    frames_block = struct.unpack(">H", data[8:10])[0]
    assert frames_block < 8192
    data[8:10] = struct.pack(">H", bounds[0])
    if bounds[1] is not None:
        data[10:12] = struct.pack(">H", bounds[1])
    edited = write(tmp_path, "edited.flac", bytes(data))
    want = ffmpeg_decode(edited, 2)
    with pytest.warns(ad.DecodeWarning, match=rf"edited\.flac.*block size \({frames_block}\) disagrees"):
        got, _ = ad.load(edited, mono=False, backend="rust")
    np.testing.assert_array_equal(got, want)
    # Timestamps come from the frames too: an offset lands where FFmpeg's does.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ad.DecodeWarning)
        part, _ = ad.load(edited, mono=False, offset=0.5, duration=0.25, backend="rust")
    np.testing.assert_array_equal(part, want[:, 8000:12000])
    assert ad.info(edited, backend="rust").frames == want.shape[1]


# -- declared lengths and packet sizes the bytes cannot hold ---------------------------------


def test_a_declared_length_far_beyond_the_bytes_is_not_reported(tmp_path: Path) -> None:
    data = bytearray(tone(tmp_path, "wav", seconds=0.5).read_bytes())
    # RIFF and data sizes claim about 4 GiB (2**31 frames) in 16 kB.
    data[4:8] = struct.pack("<I", 0xFFFFFFF0)
    at = data.find(b"data")
    data[at + 4 : at + 8] = struct.pack("<I", 0xFFFFFF00)
    path = write(tmp_path, "huge.wav", bytes(data))
    assert ad.info(path, backend="rust").frames is None
    with pytest.warns(ad.DecodeWarning, match="truncated"):
        y, _ = ad.load(path, backend="rust")
    assert len(y) == 8000


def test_a_cut_file_still_reports_its_declared_length(tmp_path: Path) -> None:
    # Half a file is damage the load warns about; its header's length is
    # within what twice the bytes hold, and stays the file's stated length.
    path = tone(tmp_path, "wav", seconds=1.0)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 + 100])
    assert ad.info(path, backend="rust").frames == 16000


def test_a_caf_declaring_gigantic_packets_is_refused(tmp_path: Path) -> None:
    # A CAF of 16-bit PCM whose description says 2**31 - 1 frames a packet:
    # the PCM decoder would size its buffer by it (8 GB).
    path = tone(tmp_path, "wav", seconds=0.5)
    pcm = ad.load(path)[0]
    samples = (pcm * 32767).astype(">i2").tobytes()
    desc = struct.pack(">d4sIIIII", 16000.0, b"lpcm", 2, 2, 0x7FFFFFFF, 1, 16)
    caf = b"caff\x00\x01\x00\x00" + b"desc" + struct.pack(">q", len(desc)) + desc
    caf += b"data" + struct.pack(">q", len(samples) + 4) + bytes(4) + samples
    err = refused(write(tmp_path, "gigantic.caf", caf), backend="rust")
    assert "more than the" in str(err)
