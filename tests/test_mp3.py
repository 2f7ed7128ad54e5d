"""MPEG layer III through nanomp3, checked against FFmpeg's gapless decode
and against the symphonia path it replaces.

A byte of junk after the last frame is a stream nanomp3 does not vouch for,
so `load(data + b"\\0")` is symphonia's decode of the same audio: the two
differing in the last bits shows which decoder ran.
"""

from __future__ import annotations

import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

import audiodecode as ad
from synth import chirp, noise, pyav_decode


def snr_db(got: np.ndarray, want: np.ndarray) -> float:
    error = np.sum((got.astype(np.float64) - want) ** 2)
    return float(10 * np.log10(np.sum(want.astype(np.float64) ** 2) / max(error, 1e-30)))


def lame(tmp_path: Path, name: str, sr: int, channels: int, *options: str, seconds: float = 1.3) -> Path:
    """`seconds` of a chirp and noise, encoded by FFmpeg's libmp3lame with `options`."""
    y = chirp(100, 0.4 * sr, seconds, sr, amplitude=0.5) + noise(seconds, sr, 0.05)
    y = np.stack([y, np.roll(y, 100) * 0.7])[:channels]
    raw = tmp_path / f"{name}.f32"
    raw.write_bytes(np.ascontiguousarray(y.T, dtype="<f4").tobytes())
    path = tmp_path / f"{name}.mp3"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "f32le", "-ar", str(sr), "-ac", str(channels), "-i", str(raw),
         "-c:a", "libmp3lame", *options, str(path)],
        check=True,
    )
    return path


def decode_both(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(the nanomp3 path, the symphonia path) of `data`, stereo kept."""
    ours, _ = ad.load(data, mono=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ad.DecodeWarning)
        symphonia, _ = ad.load(data + b"\0", mono=False)
    return ours, symphonia


@pytest.mark.parametrize("sr", [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000])
@pytest.mark.parametrize(("channels", "mode"), [(1, []), (2, []), (2, ["-joint_stereo", "0"])])
@pytest.mark.parametrize("rate_control", [["-b:a", "64k"], ["-q:a", "4"]], ids=["cbr", "vbr"])
def test_every_version_mode_and_rate_control_matches_ffmpeg(
    tmp_path: Path, sr: int, channels: int, mode: list[str], rate_control: list[str]
) -> None:
    path = lame(tmp_path, "clip", sr, channels, *mode, *rate_control)
    ours, symphonia = decode_both(path.read_bytes())
    assert not np.array_equal(ours, symphonia), "the new decoder did not take a clean stream"
    want, want_sr = pyav_decode(path)
    assert ad.info(path).sample_rate == want_sr == sr
    # Gapless as FFmpeg (the LAME tag's delay and padding trimmed): FFmpeg's
    # CLI pads the last frame at the lowest rates, which all three agree on.
    assert ours.shape == want.shape == symphonia.shape
    assert ours.shape[0] == channels and 0 <= ours.shape[1] - round(1.3 * sr) < 576
    assert snr_db(ours, want) >= 40
    assert snr_db(ours, symphonia) >= 60


@pytest.mark.parametrize("tags", ["id3v2", "id3v1", "apev2", "all"])
def test_tags_before_and_after_the_frames(tmp_path: Path, tags: str) -> None:
    path = lame(tmp_path, "clip", 44100, 2, "-b:a", "96k")
    frames = path.read_bytes()
    body = b"TIT2" + (9).to_bytes(4, "big") + b"\0\0\0a title"
    id3v2 = b"ID3\3\0\0" + len(body).to_bytes(4, "big") + body  # sizes under 128 are their own syncsafe form
    id3v1 = b"TAG" + b"a title".ljust(125, b"\0")
    item = (7).to_bytes(4, "little") + bytes(4) + b"Title\0a title"
    def ape(flags: int) -> bytes:
        size, count = len(item) + 32, 1
        return b"APETAGEX" + b"".join(v.to_bytes(4, "little") for v in (2000, size, count, flags)) + bytes(8)
    apev2 = ape(0xA0000000) + item + ape(0x80000000)  # header, item, footer
    data = {
        "id3v2": id3v2 + frames,
        "id3v1": frames + id3v1,
        "apev2": frames + apev2,
        "all": id3v2 + frames + apev2 + id3v1,
    }[tags]
    ours, symphonia = decode_both(data)
    plain, _ = ad.load(frames, mono=False)
    np.testing.assert_array_equal(ours, plain)
    assert not np.array_equal(ours, symphonia)


def test_a_long_file_in_pieces_equals_one_decode_and_ffmpeg(tmp_path: Path) -> None:
    path = lame(tmp_path, "long", 44100, 2, "-b:a", "128k", seconds=95.0)
    pieces, _ = ad.load(path, mono=False)  # three pieces on the core's pool (two on 2 cores)
    (whole, _), = ad.load_batch([path], mono=False, num_threads=1)
    np.testing.assert_array_equal(pieces, whole)
    want, _ = pyav_decode(path)
    assert whole.shape == want.shape
    assert snr_db(whole, want) >= 40
    for offset, duration in [(0.0, 1.0), (31.3, 2.5), (60.0, 35.0), (94.9, None)]:
        part, _ = ad.load(path, mono=False, offset=offset, duration=duration)
        start = round(offset * 44100)
        stop = whole.shape[1] if duration is None else start + round(duration * 44100)
        np.testing.assert_array_equal(part, whole[:, start:stop])


def test_damage_part_way_warns_as_before(tmp_path: Path) -> None:
    path = lame(tmp_path, "clip", 44100, 2, "-b:a", "128k", seconds=3.0)
    data = bytearray(path.read_bytes())
    whole, _ = ad.load(bytes(data))
    # A run of zeros over two frames in the middle: minimp3 would resync in
    # silence; the stream is no longer one run of frames, so symphonia
    # decodes it and says what it skipped.
    middle = len(data) // 2
    data[middle: middle + 900] = bytes(900)
    with pytest.warns(ad.DecodeWarning, match="<bytes>"):
        damaged, _ = ad.load(bytes(data))
    assert 0.9 * len(whole) < len(damaged) <= len(whole)
    with pytest.raises(ad.DecodeError, match="<bytes>"):
        ad.load(bytes(data), strict=True)
