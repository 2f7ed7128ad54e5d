"""Decoding against the PyAV/FFmpeg oracle, in every format the core reads."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import audiodecode as ad
from synth import LOSSLESS, chirp, make, noise, pyav_decode, sine

RATES = [8000, 16000, 22050, 44100, 48000]
CORE_FORMATS = [
    "wav", "wav24", "wav32", "wavf32", "wavf64", "wavu8", "wavalaw", "wavmulaw",
    "aiff", "flac", "flac24", "mp3", "ogg", "m4a",
]


def signal(sr: int, channels: int, seconds: float = 0.6) -> np.ndarray:
    left = chirp(100, 0.4 * sr, seconds, sr, amplitude=0.6) + noise(seconds, sr, 0.05)
    if channels == 1:
        return left
    return np.stack([left, 0.5 * sine(0.05 * sr, seconds, sr)])


def snr_db(got: np.ndarray, want: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(want.astype(np.float64) ** 2) / max(np.sum((got - want).astype(np.float64) ** 2), 1e-30)))


def check_against_oracle(path: Path, fmt: str, original_frames: int) -> None:
    y, sr = ad.load(path, mono=False)
    ref, ref_sr = pyav_decode(path)
    assert sr == ref_sr
    assert y.dtype == np.float32 and y.ndim == 2
    if fmt not in LOSSLESS:
        # Gapless: encoder delay and padding removed, so the decoded length is
        # the signal's. FFmpeg agrees on MP3; on AAC (edit list) and on some
        # Vorbis streams it drops the priming but keeps the end padding, so
        # there the oracle is compared on its first `original_frames`.
        # FFmpeg's own Vorbis encoder can write a last granule position a
        # few frames past the signal: then the container's length rules.
        expected = ad.info(path).frames if fmt == "ogg" else original_frames
        assert y.shape[1] == expected >= original_frames
        assert ref.shape[1] >= expected
        ref = ref[:, :expected]
    assert y.shape == ref.shape
    if fmt in LOSSLESS:
        np.testing.assert_allclose(y, ref, atol=1e-6, rtol=0)
    else:
        assert snr_db(y, ref) >= 40


@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize("fmt", CORE_FORMATS)
def test_stereo_matches_ffmpeg(tmp_path: Path, fmt: str, sr: int) -> None:
    y = signal(sr, 2)
    check_against_oracle(make(tmp_path, "clip", y, sr, fmt), fmt, y.shape[1])


@pytest.mark.parametrize("sr", [16000, 44100])
@pytest.mark.parametrize("fmt", CORE_FORMATS)
def test_mono_matches_ffmpeg(tmp_path: Path, fmt: str, sr: int) -> None:
    y = signal(sr, 1)
    check_against_oracle(make(tmp_path, "clip", y, sr, fmt), fmt, y.shape[0])


@pytest.mark.parametrize("fmt", ["mp3", "m4a"])
def test_gapless_lengths(tmp_path: Path, fmt: str) -> None:
    for n in (16000, 16001, 20000):
        y = sine(440, n / 16000, 16000)
        path = make(tmp_path, f"clip{n}", y, 16000, fmt)
        out, _ = ad.load(path)
        assert out.shape == (n,)
        assert ad.info(path).frames == n


def test_mono_is_the_mean_of_channels(tmp_path: Path) -> None:
    path = make(tmp_path, "clip", signal(16000, 2), 16000, "wavf32")
    stereo, _ = ad.load(path, mono=False)
    mono, _ = ad.load(path)
    np.testing.assert_allclose(mono, stereo.mean(axis=0), atol=1e-7)


def test_sources_path_bytes_and_file_objects_agree(tmp_path: Path) -> None:
    path = make(tmp_path, "clip", signal(22050, 2), 22050, "flac")
    want, _ = ad.load(path)
    np.testing.assert_array_equal(ad.load(str(path))[0], want)
    np.testing.assert_array_equal(ad.load(path.read_bytes())[0], want)
    with open(path, "rb") as f:
        np.testing.assert_array_equal(ad.load(f)[0], want)
    np.testing.assert_array_equal(ad.load(io.BytesIO(path.read_bytes()))[0], want)


def test_format_is_probed_not_taken_from_the_extension(tmp_path: Path) -> None:
    path = make(tmp_path, "clip", signal(16000, 1), 16000, "flac")
    lying = path.rename(tmp_path / "clip.mp3")
    assert ad.info(lying).codec == "flac"
    assert ad.load(lying)[0].shape == (9600,)


class TestResampling:
    @pytest.mark.parametrize(("sr_in", "sr_out"), [(44100, 16000), (48000, 16000), (22050, 16000), (16000, 22050), (8000, 44100), (48000, 44100), (44100, 16001), (16001, 44100), (48000, 44101)])
    def test_matches_soxr_hq(self, tmp_path: Path, sr_in: int, sr_out: int) -> None:
        soxr = pytest.importorskip("soxr")
        nyquist = min(sr_in, sr_out) / 2
        y = chirp(50, 0.9 * nyquist, 1.0, sr_in, amplitude=0.5) + 0.2 * sine(0.3 * nyquist, 1.0, sr_in)
        # Fade in and out over 20 ms: a signal cut off abruptly is not band
        # limited, and each resampler would smear the click its own way.
        fade = int(0.02 * sr_in)
        ramp = np.sin(np.linspace(0, np.pi / 2, fade)) ** 2
        y[:fade] *= ramp
        y[-fade:] *= ramp[::-1]
        path = make(tmp_path, "clip", y, sr_in, "wavf32")
        got, sr = ad.load(path, sr=sr_out)
        want = soxr.resample(y, sr_in, sr_out, quality="HQ").astype(np.float32)
        assert sr == sr_out
        assert got.shape == (int(np.ceil(len(y) * sr_out / sr_in)),)
        assert got.shape == want.shape
        assert snr_db(got, want) >= 60, snr_db(got, want)

    def test_stereo_channels_resample_independently(self, tmp_path: Path) -> None:
        y = signal(44100, 2)
        path = make(tmp_path, "clip", y, 44100, "wavf32")
        both, _ = ad.load(path, sr=16000, mono=False)
        assert both.shape == (2, int(np.ceil(y.shape[1] * 16000 / 44100)))
        left_only = make(tmp_path, "left", y[0], 44100, "wavf32")
        np.testing.assert_allclose(both[0], ad.load(left_only, sr=16000)[0], atol=1e-6)


class TestSeeking:
    @pytest.mark.parametrize("fmt", ["wav", "flac", "mp3", "ogg", "m4a", "aiff"])
    def test_offset_and_duration_equal_a_slice(self, tmp_path: Path, fmt: str) -> None:
        sr = 16000
        y = signal(sr, 1, seconds=6.0)
        path = make(tmp_path, "clip", y, sr, fmt)
        full, _ = ad.load(path)
        part, _ = ad.load(path, offset=3.25, duration=1.5)
        want = full[int(3.25 * sr): int(3.25 * sr) + int(1.5 * sr)]
        assert part.shape == want.shape
        if fmt in LOSSLESS:
            np.testing.assert_array_equal(part, want)
        else:
            assert snr_db(part, want) >= 40

    @pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="a long file is split only over several threads")
    @pytest.mark.parametrize("fmt", ["wav", "flac", "mp3", "ogg", "m4a"])
    def test_a_long_file_decoded_in_parallel_pieces_has_no_seams(self, tmp_path: Path, fmt: str) -> None:
        # 65 s: two 32.5 s pieces on two threads (AAC is never split).
        sr = 16000
        y = np.resize(signal(sr, 2, seconds=5.0), (2, 65 * sr))
        path = make(tmp_path, "long", y, sr, fmt)
        pieces, _ = ad.load(path, mono=False)
        (one_thread, _), = ad.load_batch([path], mono=False, num_threads=1)
        np.testing.assert_array_equal(pieces, one_thread)
        part, _ = ad.load(path, mono=False, offset=1.5, duration=62.0)
        np.testing.assert_array_equal(part, one_thread[:, int(1.5 * sr): int(1.5 * sr) + 62 * sr])
        assert pieces.shape[1] == 65 * sr  # gapless: the encoded length
        # Resampled in parallel chunks reading the decoded pieces in place.
        for sr_out in (8000, 22050, 16001):  # 16001: interpolated kernel tables
            resampled, _ = ad.load(path, sr=sr_out, mono=False)
            (sequential, _), = ad.load_batch([path], sr=sr_out, mono=False, num_threads=1)
            np.testing.assert_array_equal(resampled, sequential)

    def test_duration_past_the_end_stops_at_the_end(self, tmp_path: Path) -> None:
        path = make(tmp_path, "clip", signal(16000, 1, 1.0), 16000, "flac")
        part, _ = ad.load(path, offset=0.5, duration=5.0)
        assert part.shape == (8000,)

    def test_offset_past_the_end_is_an_error(self, tmp_path: Path) -> None:
        path = make(tmp_path, "clip", signal(16000, 1, 1.0), 16000, "wav")
        with pytest.raises(ValueError, match="past the end"):
            ad.load(path, offset=2.0)

    @pytest.mark.parametrize("kwargs", [{"offset": -1.0}, {"duration": 0.0}, {"duration": float("nan")}, {"sr": 0}, {"backend": "gpu"}])
    def test_bad_arguments(self, tmp_path: Path, kwargs: dict) -> None:
        path = make(tmp_path, "clip", signal(16000, 1, 0.2), 16000, "wav")
        with pytest.raises(ValueError):
            ad.load(path, **kwargs)


class TestBatch:
    def test_equals_load_in_input_order(self, tmp_path: Path) -> None:
        paths = [make(tmp_path, f"c{i}", signal(sr, 2, 0.3 + 0.1 * i), sr, fmt)
                 for i, (fmt, sr) in enumerate([("mp3", 44100), ("flac", 16000), ("ogg", 22050), ("wav", 48000), ("m4a", 44100)])]
        batch = ad.load_batch(paths, sr=16000)
        for path, (y, sr) in zip(paths, batch):
            want, _ = ad.load(path, sr=16000)
            assert sr == 16000
            np.testing.assert_array_equal(y, want)

    def test_thread_count_does_not_change_results(self, tmp_path: Path) -> None:
        paths = [make(tmp_path, f"c{i}", signal(44100, 1, 0.5), 44100, "mp3") for i in range(6)]
        one = ad.load_batch(paths, sr=16000, num_threads=1)
        two = ad.load_batch(paths, sr=16000, num_threads=2)
        for (a, _), (b, _) in zip(one, two):
            np.testing.assert_array_equal(a, b)

    def test_per_item_offsets_and_durations(self, tmp_path: Path) -> None:
        path = make(tmp_path, "clip", signal(16000, 1, 2.0), 16000, "flac")
        batch = ad.load_batch([path, path], offset=[0.0, 1.0], duration=[0.5, None])
        assert batch[0][0].shape == (8000,) and batch[1][0].shape == (16000,)

    def test_skip_keeps_errors_and_positions(self, tmp_path: Path) -> None:
        good = make(tmp_path, "good", signal(16000, 1, 0.3), 16000, "wav")
        garbage = tmp_path / "garbage.wav"
        garbage.write_bytes(b"\x13\x37" * 500)
        result = ad.load_batch([good, tmp_path / "missing.flac", garbage, good], on_error="skip")
        assert result[1] is None and result[2] is None
        assert result[0][0].shape == result[3][0].shape == (4800,)
        assert isinstance(result.errors[1], FileNotFoundError)
        assert isinstance(result.errors[2], ad.DecodeError)
        assert "garbage.wav" in str(result.errors[2])

    def test_raise_raises_the_first_failure(self, tmp_path: Path) -> None:
        good = make(tmp_path, "good", signal(16000, 1, 0.3), 16000, "wav")
        with pytest.raises(FileNotFoundError, match="missing.flac"):
            ad.load_batch([good, tmp_path / "missing.flac"])

    def test_falls_back_to_pyav_per_item(self, tmp_path: Path) -> None:
        opus = make(tmp_path, "speech", signal(48000, 1, 0.5), 48000, "opus")
        flac = make(tmp_path, "music", signal(48000, 1, 0.5), 48000, "flac")
        batch = ad.load_batch([opus, flac], sr=16000)
        assert [y.shape for y, _ in batch] == [(8000,), (8000,)]


class TestPyAVFallback:
    def test_opus_decodes_through_pyav_with_libopus(self, tmp_path: Path) -> None:
        # The reference is libopus itself (opusdec, float output, no
        # dithering); FFmpeg's native Opus decoder is not what users expect.
        y = signal(48000, 2, 1.0)
        path = make(tmp_path, "clip", y, 48000, "opus")
        got, sr = ad.load(path, mono=False)
        subprocess.run(
            ["opusdec", "--quiet", "--float", "--rate", "48000", str(path), str(tmp_path / "ref.wav")], check=True
        )
        ref, _ = ad.load(tmp_path / "ref.wav", mono=False)
        assert sr == 48000
        assert got.shape == ref.shape
        assert snr_db(got, ref) >= 40
        info = ad.info(path)
        assert (info.codec, info.frames) == ("opus", got.shape[1])

    def test_rust_backend_refuses_what_it_cannot_decode(self, tmp_path: Path) -> None:
        path = make(tmp_path, "clip", signal(48000, 1, 0.2), 48000, "opus")
        with pytest.raises(ad.UnsupportedFormatError, match="clip.opus"):
            ad.load(path, backend="rust")

    def test_pyav_backend_agrees_with_rust_on_lossless(self, tmp_path: Path) -> None:
        path = make(tmp_path, "clip", signal(44100, 2, 0.5), 44100, "flac")
        rust, _ = ad.load(path, sr=16000, offset=0.1, duration=0.3)
        pyav, _ = ad.load(path, sr=16000, offset=0.1, duration=0.3, backend="pyav")
        np.testing.assert_allclose(rust, pyav, atol=1e-6)


def test_info_batch_reads_headers_in_parallel_as_info_does(tmp_path: Path) -> None:
    paths = [make(tmp_path, f"c{i}", signal(22050, 1 + i % 2, 0.5 + i / 10), 22050, ("flac", "wav", "mp3")[i % 3])
             for i in range(6)]
    (tmp_path / "bad.flac").write_bytes(b"not audio at all" * 100)
    sources = [*paths, str(tmp_path / "missing.wav"), str(tmp_path / "bad.flac"), Path(paths[0]).read_bytes()]
    for threads in (1, 4):
        got = ad.info_batch(sources, num_threads=threads)
        assert got[:6] == [ad.info(p) for p in paths] and got[8] == ad.info(paths[0])
        assert isinstance(got[6], FileNotFoundError) and "missing.wav" in str(got[6])
        assert isinstance(got[7], ad.DecodeError) and "bad.flac" in str(got[7])
    assert ad.info_batch([]) == []
    with pytest.raises(ValueError, match="num_threads"):
        ad.info_batch(paths, num_threads=0)


def test_info_reads_headers(tmp_path: Path) -> None:
    path = make(tmp_path, "clip", signal(22050, 2, 1.5), 22050, "flac")
    info = ad.info(path)
    assert info == ad.AudioInfo(sample_rate=22050, channels=2, frames=33075, duration=1.5, codec="flac", container="flac",
                                bits_per_sample=16)
    # The depth of lossless streams only (the float width of float WAV); lossy codecs have none.
    for subtype, bits in (("PCM_24", 24), ("FLOAT", 32), ("DOUBLE", 64), ("PCM_U8", 8)):
        buffer = io.BytesIO()
        sf.write(buffer, np.zeros(100), 8000, format="WAV", subtype=subtype)
        assert ad.info(buffer.getvalue()).bits_per_sample == bits, subtype
    assert ad.info(make(tmp_path, "lossy", signal(22050, 1, 0.5), 22050, "mp3")).bits_per_sample is None


def _load_in_child(paths: list[str], queue: object) -> None:
    batch = ad.load_batch(paths, sr=16000)
    queue.put([y.shape for y, _ in batch])  # type: ignore[attr-defined]


def test_forked_workers_can_decode_after_the_parent_did(tmp_path: Path) -> None:
    """torch's DataLoader forks its workers: the core's thread pool must not
    be inherited half-alive (rayon's global pool would hang the child)."""
    import multiprocessing

    paths = [str(make(tmp_path, f"c{i}", signal(44100, 1, 0.4), 44100, "mp3")) for i in range(4)]
    ad.load_batch(paths, sr=16000)
    ad.load(paths[0], sr=16000)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_load_in_child, args=(paths, queue))
    child.start()
    child.join(timeout=60)
    if child.is_alive():
        child.kill()
        pytest.fail("a forked child hung in load_batch")
    assert child.exitcode == 0
    assert queue.get(timeout=5) == [(6400,)] * 4
