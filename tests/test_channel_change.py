"""A stream whose channel count changes mid-way (issue 23), made as users
make them: MP3, MPEG layer II and ADTS files of 1 and 2 channels joined
with `cat`, and chained Ogg Vorbis files (one stream after the other, as
Icecast writes them).

FFmpeg's tool decodes every part, converting the later parts to the first
one's layout. The core keeps the first part's layout, as the docs say: the
packets of the other layout are skipped as damaged packets, with a
`DecodeWarning` naming the file (`DecodeError` with `strict`). symphonia's
decoders refuse those packets themselves; the core's own check of each
packet's channel count (`decode.rs`, `stream/decoder.rs`) stands behind
them. A chained Ogg file, which symphonia reads as a new track per link,
is refused by the core (it used to end silently with the first link), so
`backend="auto"` hands it to FFmpeg with the core's reason."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import audiodecode as ad

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None,
                                reason="Debian's ffmpeg writes the files here (`make env` installs it)")

CODECS = {"mp3": ["-c:a", "libmp3lame", "-b:a", "128k"], "mp2": ["-c:a", "mp2", "-b:a", "192k"],
          "aac": ["-c:a", "aac", "-f", "adts"], "ogg": ["-c:a", "libvorbis"]}


def tone(path: Path, channels: int, frequency: int = 440) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"sine=frequency={frequency}:sample_rate=44100:duration=1", "-ac", str(channels),
                    *CODECS[path.suffix[1:]], str(path)], check=True)
    return path


def joined(tmp_path: Path, ext: str, layouts: tuple[int, int]) -> tuple[Path, Path]:
    """The file of the first layout alone, and it followed by one of the second."""
    first = tone(tmp_path / f"first.{ext}", layouts[0])
    second = tone(tmp_path / f"second.{ext}", layouts[1], frequency=660)
    both = tmp_path / f"joined.{ext}"
    both.write_bytes(first.read_bytes() + second.read_bytes())
    return first, both


def ffmpeg_frames(path: Path) -> int:
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "f32le", "-"],
                         check=True, capture_output=True).stdout
    channels = int(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=channels", "-of",
                                   "csv=p=0", str(path)], check=True, capture_output=True, text=True).stdout)
    return len(raw) // 4 // channels


@pytest.mark.parametrize("layouts", [(1, 2), (2, 1)], ids=["mono-then-stereo", "stereo-then-mono"])
@pytest.mark.parametrize("ext", ["mp3", "mp2", "aac"])
def test_packets_of_another_layout_are_skipped_with_a_warning(tmp_path: Path, ext: str, layouts: tuple) -> None:
    first, both = joined(tmp_path, ext, layouts)
    with pytest.warns(ad.DecodeWarning, match=r"joined\.\w+: skipped a damaged packet"):
        y, sr = ad.load(both, sr=None, mono=False, backend="rust")
    alone, _ = ad.load(first, sr=None, mono=False, backend="rust")
    # The first part as decoded alone (for MP3 to within the two decoders'
    # rounding: alone it goes through nanomp3, which takes only a stream of
    # one format, joined through symphonia); nothing of the second.
    assert sr == 44100 and y.shape[0] == layouts[0]
    np.testing.assert_allclose(y[:, : alone.shape[1]], alone, rtol=0, atol=1e-6 if ext == "mp3" else 0)
    assert y.shape[1] - alone.shape[1] < 1152 * 2
    # FFmpeg's tool decodes both parts (the second converted).
    assert ffmpeg_frames(both) > 1.9 * 44100
    # info agrees with load on the channels; strict refuses, naming the file.
    assert ad.info(both, backend="rust").channels == layouts[0]
    with pytest.raises(ad.DecodeError, match=r"joined\.\w+: damaged packet"):
        ad.load(both, sr=None, strict=True, backend="rust")
    # The stream decoder does the same, and counts what it skipped.
    with pytest.warns(ad.DecodeWarning, match="skipped a damaged packet"):
        stream = ad.stream(both, sr=None, mono=False, chunk_seconds=0.25)
        chunks = [chunk for chunk, _ in stream]
    assert stream.damaged_packets > 0
    np.testing.assert_array_equal(np.concatenate(chunks, axis=1), y)


@pytest.mark.parametrize("layouts", [(1, 1), (1, 2)], ids=["same-layout", "mono-then-stereo"])
def test_a_chained_ogg_is_refused_by_the_core_not_cut_silently(tmp_path: Path, layouts: tuple) -> None:
    first, both = joined(tmp_path, "ogg", layouts)
    with pytest.raises(ad.DecodeError, match=r"joined\.ogg: chained Ogg streams"):
        ad.load(both, sr=None, backend="rust")
    with pytest.raises(ad.DecodeError, match=r"joined\.ogg: chained Ogg streams"):
        ad.load(both, sr=None, strict=True)
    # The stream decoder ends with the first link, and says so.
    with pytest.warns(ad.DecodeWarning, match=r"joined\.ogg: chained Ogg streams"):
        chunks = [chunk for chunk, _ in ad.stream(both, sr=None, mono=False, chunk_seconds=0.25)]
    alone, _ = ad.load(first, sr=None, mono=False, backend="rust")
    np.testing.assert_array_equal(np.concatenate(chunks, axis=1), alone)
    if layouts == (1, 1):
        # FFmpeg decodes both links; so does the fallback, with the core's reason.
        with pytest.warns(ad.DecodeWarning, match="chained Ogg streams.*decoded with PyAV"):
            y, _ = ad.load(both, sr=None)
        assert abs(len(y) - ffmpeg_frames(both)) < 2048 and len(y) > 1.9 * 44100
