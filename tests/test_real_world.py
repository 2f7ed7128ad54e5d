"""Real-world files that FFmpeg decodes and a strict reader may refuse: chunk
sizes that disagree with the file, unusual `fmt` chunks, odd bit depths, a
non-CD-DA cuesheet, STREAMINFO block sizes a frame breaks, ID3v2 extended
headers, a damaged Xing header, tiny MP3s and AAC without an edit list.

Each is made here (ffmpeg/PyAV output, then the header edited as such files
are found in the wild) and must decode to what FFmpeg decodes: equal to
1e-6 for PCM and FLAC, >= 40 dB SNR and the same length for lossy codecs.
`load` may answer through the Rust core or through PyAV after the core
refused the file (with a DecodeWarning); either way the audio is FFmpeg's.
"""

from __future__ import annotations

import struct
import subprocess
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import audiodecode as ad
from synth import chirp, make


def ffmpeg_decode(path: Path) -> np.ndarray:
    y, _ = ad.load(path, mono=False, backend="pyav")
    return y


def ours(path: Path) -> tuple[np.ndarray, int]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ad.DecodeWarning)
        return ad.load(path, mono=False)


def snr_db(got: np.ndarray, want: np.ndarray) -> float:
    err = np.sum((got.astype(np.float64) - want) ** 2)
    return float(10 * np.log10(np.sum(want.astype(np.float64) ** 2) / max(err, 1e-30)))


def tone(n: int = 16000, sr: int = 16000) -> np.ndarray:
    return chirp(200, 3000, n / sr, sr, amplitude=0.5)


def chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """(id, offset of the chunk header, declared size) of a RIFF file's chunks."""
    out, pos = [], 12
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        out.append((cid, pos, size))
        pos += 8 + size + (size & 1)
    return out


def wav_bytes(fmt_chunk: bytes, payload: bytes, extra_chunks: bytes = b"") -> bytes:
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk
    body += extra_chunks + b"data" + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) & 1 else b"")
    return b"RIFF" + struct.pack("<I", len(body)) + body


def pcm_fmt(tag: int, channels: int, sr: int, bits: int, block: int, extra: bytes | None = None) -> bytes:
    fmt = struct.pack("<HHIIHH", tag, channels, sr, sr * block, block, bits)
    return fmt if extra is None else fmt + struct.pack("<H", len(extra)) + extra


def extensible_fmt(channels: int, sr: int, container_bits: int, valid_bits: int) -> bytes:
    block = channels * container_bits // 8
    pcm_guid = struct.pack("<IHH", 1, 0x0000, 0x0010) + bytes([0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71])
    extra = struct.pack("<HI", valid_bits, 0x4 if channels == 1 else 0x3) + pcm_guid
    return pcm_fmt(0xFFFE, channels, sr, container_bits, block, extra)


def quantized(bits: int, container_bits: int, n: int = 8000) -> bytes:
    """A tone quantized to `bits` and left-justified in `container_bits`."""
    y = tone(n)
    q = np.round(y * (2 ** (bits - 1) - 1)).astype(np.int64) << (container_bits - bits)
    if container_bits == 8:
        return (q + 128).astype(np.uint8).tobytes()
    if container_bits == 24:
        b = q.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3]
        return b.tobytes()
    return q.astype(f"<i{container_bits // 8}").tobytes()


# --- WAV ---------------------------------------------------------------------


def data_chunk_past_the_end(tmp_path: Path) -> Path:
    path = make(tmp_path, "past_end", tone(), 16000, "wav")
    data = bytearray(path.read_bytes())
    _, pos, _ = next(c for c in chunks(bytes(data)) if c[0] == b"data")
    data[pos + 4 : pos + 8] = struct.pack("<I", 0x7FFFFF00)
    data[4:8] = struct.pack("<I", 0x7FFFFF00 + pos)
    path.write_bytes(bytes(data))
    return path


def list_chunk_longer_than_its_parent(tmp_path: Path) -> Path:
    payload = quantized(16, 16)
    listing = b"LIST" + struct.pack("<I", 4000) + b"INFOISFT" + struct.pack("<I", 6) + b"quirk\0"
    path = tmp_path / "long_list.wav"
    path.write_bytes(wav_bytes(pcm_fmt(1, 1, 16000, 16, 2), payload) + listing)
    return path


@pytest.mark.parametrize("tag, codec", [(7, "pcm_mulaw"), (6, "pcm_alaw")])
def test_companded_wav_with_a_16_byte_fmt_chunk(tmp_path: Path, tag: int, codec: str) -> None:
    # G.711 WAVs written by telephony tools often carry the 16-byte PCM
    # `fmt` chunk (no cbSize) instead of the 18 bytes the spec asks for.
    source = make(tmp_path, "g711", tone(), 16000, "wavmulaw" if tag == 7 else "wavalaw")
    payload = source.read_bytes()[next(c for c in chunks(source.read_bytes()) if c[0] == b"data")[1] + 8 :]
    for name, fmt in [("short", pcm_fmt(tag, 1, 16000, 8, 1)), ("long", pcm_fmt(tag, 1, 16000, 8, 1, b"\0\0"))]:
        path = tmp_path / f"{codec}_{name}.wav"
        path.write_bytes(wav_bytes(fmt, payload))
        assert_decodes_like_ffmpeg(path, lossless=True)


@pytest.mark.parametrize("bits, container", [(5, 8), (12, 16), (20, 24), (32, 32)])
def test_wav_of_odd_and_wide_integer_depths(tmp_path: Path, bits: int, container: int) -> None:
    plain = tmp_path / f"plain_{bits}.wav"
    plain.write_bytes(wav_bytes(pcm_fmt(1, 1, 16000, bits, container // 8), quantized(bits, container)))
    extensible = tmp_path / f"extensible_{bits}.wav"
    extensible.write_bytes(wav_bytes(extensible_fmt(1, 16000, container, bits), quantized(bits, container)))
    for path in (plain, extensible):
        y = assert_decodes_like_ffmpeg(path, lossless=True)
        assert snr_db(y[0], tone(8000)) > 6.02 * bits - 10  # the tone, at the file's resolution


def test_wav_of_64_bit_integers(tmp_path: Path) -> None:
    path = tmp_path / "s64.wav"
    path.write_bytes(wav_bytes(pcm_fmt(1, 1, 16000, 64, 8), quantized(64, 64)))
    assert_decodes_like_ffmpeg(path, lossless=True)


def test_32_bit_pcm_that_ends_inside_a_sample(tmp_path: Path) -> None:
    path = make(tmp_path, "s32", tone(), 16000, "wav32")
    path.write_bytes(path.read_bytes()[:-3])
    y = assert_decodes_like_ffmpeg(path, lossless=True)
    assert y.shape[1] == 15999


# --- FLAC --------------------------------------------------------------------


def flac_blocks(data: bytes) -> list[tuple[int, int, int]]:
    """(type, offset of the block header, length) of a FLAC file's metadata blocks."""
    out, pos = [], 4
    while True:
        header = data[pos]
        length = int.from_bytes(data[pos + 1 : pos + 4], "big")
        out.append((header & 0x7F, pos, length))
        pos += 4 + length
        if header & 0x80:
            return out


def insert_flac_block(data: bytes, block_type: int, body: bytes) -> bytes:
    blocks = flac_blocks(data)
    _, last_pos, _ = blocks[-1]
    data = bytearray(data)
    data[last_pos] &= 0x7F  # no longer the last block
    end = blocks[-1][1] + 4 + blocks[-1][2]
    new = bytes([0x80 | block_type]) + len(body).to_bytes(3, "big") + body
    return bytes(data[:end]) + new + bytes(data[end:])


def cuesheet(lead_in: int, is_cd: bool, tracks: list[tuple[int, int]]) -> bytes:
    body = b"\0" * 128 + struct.pack(">Q", lead_in) + bytes([0x80 if is_cd else 0]) + b"\0" * 258
    body += bytes([len(tracks)])
    for offset, number in tracks:
        body += struct.pack(">QB", offset, number) + b"\0" * 12 + b"\0" + b"\0" * 13
        indices = [] if number in (170, 255) else [(0, 1)]
        body += bytes([len(indices)]) + b"".join(struct.pack(">QB", o, k) + b"\0\0\0" for o, k in indices)
    return body


def test_flac_with_a_cuesheet_that_is_not_cd_da(tmp_path: Path) -> None:
    # A cuesheet flagged CD-DA whose track offsets are not multiples of 588
    # samples and whose lead-out is not track 170: FFmpeg ignores it.
    path = make(tmp_path, "cue", tone(44100 * 2, 44100), 44100, "flac")
    body = cuesheet(lead_in=1000, is_cd=True, tracks=[(0, 1), (1000, 2), (88200, 3)])
    path.write_bytes(insert_flac_block(path.read_bytes(), 5, body))
    assert_decodes_like_ffmpeg(path, lossless=True)


def test_flac_with_a_frame_shorter_than_streaminfo_allows(tmp_path: Path) -> None:
    # Encoded in 1152-sample frames, STREAMINFO edited to claim 4096 as
    # the minimum block size, so every frame is "too short".
    path = tmp_path / "short_block.flac"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "f32le", "-ar", "16000", "-ac", "1", "-i", "-", "-c:a", "flac",
         "-frame_size", "1152", str(path)],
        input=tone().astype("<f4").tobytes(), check=True,
    )
    data = bytearray(path.read_bytes())
    _, pos, _ = flac_blocks(bytes(data))[0]
    data[pos + 4 : pos + 8] = struct.pack(">HH", 4096, 4096)
    path.write_bytes(bytes(data))
    assert_decodes_like_ffmpeg(path, lossless=True)


# --- MP3 ---------------------------------------------------------------------


def syncsafe(n: int) -> bytes:
    return bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])


def test_mp3_behind_an_id3v2_extended_header(tmp_path: Path) -> None:
    path = make(tmp_path, "tagged", tone(), 16000, "mp3")
    audio = path.read_bytes()
    if audio.startswith(b"ID3"):  # drop the muxer's own tag
        audio = audio[10 + int.from_bytes(bytes(b & 0x7F for b in audio[6:10]), "big") :]
    extended = struct.pack(">IHI", 6, 0, 0)  # ID3v2.3: size, flags, padding
    frame = b"TIT2" + struct.pack(">I", 6) + b"\0\0" + b"\0quirk"
    tag = b"ID3\x03\x00\x40" + syncsafe(len(extended) + len(frame)) + extended + frame
    path.write_bytes(tag + audio)
    assert_decodes_like_ffmpeg(path, lossless=False)


def test_a_229_sample_mp3(tmp_path: Path) -> None:
    path = make(tmp_path, "tiny", tone(229), 16000, "mp3")
    y = assert_decodes_like_ffmpeg(path, lossless=False, min_snr=None)
    assert y.shape[1] == 229


def test_mp3_with_a_damaged_xing_header(tmp_path: Path) -> None:
    path = make(tmp_path, "xing", tone(48000), 16000, "mp3")
    data = bytearray(path.read_bytes())
    at = data.find(b"Xing")
    if at < 0:
        at = data.find(b"Info")
    assert at > 0
    data[at + 8 : at + 16] = b"\xff" * 8  # frame and byte counts
    data[at + 16 : at + 40] = bytes(range(24))[::-1]  # the TOC out of order
    path.write_bytes(bytes(data))
    got, _ = ours(path)
    want = ffmpeg_decode(path)
    # The damaged counts mean nothing: both decode the frames that are there.
    assert abs(got.shape[1] - want.shape[1]) <= 1152
    n = min(got.shape[1], want.shape[1])
    assert snr_db(got[:, :n], want[:, :n]) >= 40 or snr_db(got[:, -n:], want[:, -n:]) >= 40


# --- AAC without an edit list --------------------------------------------------


@pytest.mark.parametrize("container, ext", [("adts", "aac"), ("3gp", "3gp")])
def test_aac_without_an_edit_list_is_ffmpegs_length_and_alignment(tmp_path: Path, container: str, ext: str) -> None:
    path = tmp_path / f"clip.{ext}"
    args = ["-f", container] if container == "adts" else ["-use_editlist", "0", "-f", container]
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "f32le", "-ar", "16000", "-ac", "1", "-i", "-", "-c:a", "aac", *args,
         str(path)],
        input=tone(32000).astype("<f4").tobytes(), check=True,
    )
    assert_decodes_like_ffmpeg(path, lossless=False)


# --- the shared check ------------------------------------------------------------


def assert_decodes_like_ffmpeg(path: Path, *, lossless: bool, min_snr: float | None = 40.0) -> np.ndarray:
    got, _ = ours(path)
    want = ffmpeg_decode(path)
    assert got.shape == want.shape, f"{path.name}: {got.shape} != FFmpeg's {want.shape}"
    if lossless:
        np.testing.assert_allclose(got, want, atol=1e-6)
    elif min_snr is not None:
        assert snr_db(got, want) >= min_snr
    return got


CASES: dict[str, Callable[[Path], Path]] = {
    "data chunk past the end": data_chunk_past_the_end,
    "LIST chunk longer than its parent": list_chunk_longer_than_its_parent,
}


@pytest.mark.parametrize("case", CASES)
def test_wav_whose_chunk_sizes_disagree_with_the_file(tmp_path: Path, case: str) -> None:
    assert_decodes_like_ffmpeg(CASES[case](tmp_path), lossless=True)
