"""`audiodecode.stream` and `PushDecoder`: chunks that concatenate to exactly
what `load` returns, from every kind of source, at constant cost."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

import audiodecode
from audiodecode import DecodeError, DecodeWarning, PushDecoder, stream
from tests import synth


def joined(chunks: list[tuple[np.ndarray, float]], overlap: int) -> np.ndarray:
    """The chunks with their overlap removed, concatenated."""
    parts = [chunk if i == 0 else chunk[..., overlap:] for i, (chunk, _) in enumerate(chunks)]
    return np.concatenate(parts, axis=-1)


def wav_bytes(y: np.ndarray, sr: int, *, unknown_length: bool = False) -> bytes:
    """16-bit PCM WAV; with `unknown_length` the sizes say 0xFFFFFFFF, as a
    live encoder (ffmpeg writing to a pipe) leaves them."""
    y = np.atleast_2d(y)
    pcm = (np.clip(y.T, -1, 1 - 2**-15) * 32768).astype("<i2").tobytes()
    channels = y.shape[0]
    riff = 0xFFFFFFFF if unknown_length else 36 + len(pcm)
    data = 0xFFFFFFFF if unknown_length else len(pcm)
    header = b"RIFF" + riff.to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
    header += (1).to_bytes(2, "little") + channels.to_bytes(2, "little") + sr.to_bytes(4, "little")
    header += (sr * 2 * channels).to_bytes(4, "little") + (2 * channels).to_bytes(2, "little") + (16).to_bytes(2, "little")
    return header + b"data" + data.to_bytes(4, "little") + pcm


class Pipe:
    """The read end of an OS pipe, fed by a writer thread: a source that
    cannot seek."""

    def __init__(self, data: bytes) -> None:
        read_fd, write_fd = os.pipe()
        self.file = os.fdopen(read_fd, "rb")

        def write() -> None:
            with os.fdopen(write_fd, "wb") as out:
                try:
                    out.write(data)
                except BrokenPipeError:
                    pass

        self.writer = threading.Thread(target=write, daemon=True)
        self.writer.start()

    def close(self) -> None:
        self.file.close()
        self.writer.join(timeout=10)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, int], Path]:
    """Stereo speech-like clips of 3.3 s in each format, at the rates used."""
    folder = tmp_path_factory.mktemp("stream")
    made = {}
    for sr in (44100, 48000, 22050, 8000):
        y = np.stack([synth.speech_like(3.3, sr), synth.noise(3.3, sr, seed=sr)])
        for fmt in ("wav", "flac", "mp3", "ogg", "m4a"):
            if fmt in ("ogg", "m4a", "mp3") and sr == 8000 and fmt != "mp3":
                continue
            made[fmt, sr] = synth.make(folder, f"clip{sr}", y, sr, fmt)
    return made


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3", "ogg", "m4a"])
@pytest.mark.parametrize(("sr_in", "sr_out"), [(44100, None), (44100, 16000), (48000, 16000), (22050, 16000), (8000, 44100)])
def test_chunks_concatenate_to_load_for_every_format_and_rate_pair(clips, fmt, sr_in, sr_out) -> None:
    if (fmt, sr_in) not in clips:
        pytest.skip(f"no {fmt} encoder at {sr_in} Hz")
    path = clips[fmt, sr_in]
    for mono in (True, False):
        want, _ = audiodecode.load(path, sr=sr_out, mono=mono)
        sources = [path, path.read_bytes()]
        if fmt != "m4a":
            sources.append(io.BufferedReader(io.BytesIO(path.read_bytes())))
        for source in sources:
            decoder = stream(source, sr=sr_out, mono=mono, chunk_seconds=0.7, overlap_seconds=0.2)
            chunks = list(decoder)
            got = joined(chunks, decoder.overlap_frames)
            assert got.shape == want.shape, (fmt, sr_in, sr_out, mono, type(source))
            np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
            assert all(c.shape[-1] == decoder.chunk_frames for c, _ in chunks[:-1])


def test_a_pipe_streams_without_seeking_and_ends_at_its_end(clips) -> None:
    for fmt in ("flac", "mp3", "ogg", "wav"):
        path = clips[fmt, 44100]
        want, _ = audiodecode.load(path, sr=16000)
        pipe = Pipe(path.read_bytes())
        try:
            got = joined(list(stream(pipe.file, sr=16000, chunk_seconds=1.0)), 0)
        finally:
            pipe.close()
        np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)


def test_an_mp4_from_a_pipe_is_refused_by_name(clips) -> None:
    pipe = Pipe(clips["m4a", 44100].read_bytes())
    try:
        with pytest.raises(DecodeError, match="MP4/M4A cannot be streamed from a source that cannot seek"):
            stream(pipe.file)
    finally:
        pipe.close()


def test_whisper_windows_start_where_they_say_and_overlap_by_the_overlap() -> None:
    sr = 16000
    y = synth.noise(71.3, sr)
    data = wav_bytes(y, sr)
    decoder = stream(data, chunk_seconds=30, overlap_seconds=5)
    chunks = list(decoder)
    want, _ = audiodecode.load(data)
    assert [start for _, start in chunks] == [0.0, 25.0, 50.0]
    assert [c.shape[0] for c, _ in chunks] == [30 * sr, 30 * sr, want.shape[0] - 50 * sr]
    for chunk, start in chunks:
        first = round(start * sr)
        np.testing.assert_array_equal(chunk, want[first : first + chunk.shape[0]])
    # offset shifts the timeline the start times are on.
    starts = [start for _, start in stream(data, chunk_seconds=30, overlap_seconds=5, offset=10.0)]
    assert starts == [10.0, 35.0, 60.0]


def test_frame_aligned_chunks_put_every_stft_frame_of_the_whole_signal_in_one_chunk() -> None:
    sr, n_fft, hop = 16000, 400, 160
    y = synth.noise(5.05, sr)
    decoder = stream(wav_bytes(y, sr), chunk_seconds=1.0, overlap_seconds=0.0, frame_length=n_fft, hop_length=hop)
    assert decoder.step_frames % hop == 0 and decoder.overlap_frames >= n_fft - hop
    want, _ = audiodecode.load(wav_bytes(y, sr))
    whole_frames = 1 + (want.shape[0] - n_fft) // hop
    seen = set()
    for chunk, start in decoder:
        first = round(start * sr)
        assert first % hop == 0
        for j in range(1 + (chunk.shape[0] - n_fft) // hop):
            np.testing.assert_array_equal(chunk[j * hop : j * hop + n_fft], want[first + j * hop : first + j * hop + n_fft])
            seen.add(first // hop + j)
    assert seen == set(range(whole_frames))


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"chunk_seconds": 0}, "chunk_seconds"),
        ({"chunk_seconds": -1.0}, "chunk_seconds"),
        ({"chunk_seconds": float("nan")}, "chunk_seconds"),
        ({"chunk_seconds": 2.0, "overlap_seconds": 2.0}, "overlap_seconds"),
        ({"chunk_seconds": 2.0, "overlap_seconds": -0.5}, "overlap_seconds"),
        ({"hop_length": 0}, "hop_length"),
        ({"on_error": "ignore"}, "on_error"),
        ({"sr": 0}, "sr"),
    ],
)
def test_bad_arguments_raise_value_errors_naming_them(kwargs, named) -> None:
    with pytest.raises(ValueError, match=named):
        stream(wav_bytes(synth.noise(0.5, 8000), 8000), **kwargs)
    if "sr" not in kwargs:
        with pytest.raises(ValueError, match=named):
            PushDecoder(**kwargs)


class Failing(io.RawIOBase):
    """A file object whose `read` raises after `after` bytes."""

    name = "flaky-socket"

    def __init__(self, data: bytes, after: int) -> None:
        self.data, self.after, self.at = data, after, 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self.at >= self.after:
            raise ConnectionResetError("peer went away")
        out = self.data[self.at : self.at + min(n, self.after - self.at)]
        self.at += len(out)
        return out


def test_a_source_that_raises_while_read_gives_the_error_named(clips) -> None:
    data = clips["flac", 44100].read_bytes()
    with pytest.raises(OSError, match="flaky-socket.*ConnectionResetError: peer went away"):
        list(stream(Failing(data, len(data) // 2), chunk_seconds=0.5))
    with pytest.raises(OSError, match="flaky-socket.*ConnectionResetError"):
        stream(Failing(data, 10))


@pytest.mark.parametrize("fmt", ["flac", "mp3", "wav"])
def test_a_stream_cut_mid_frame_ends_with_what_was_complete_and_warns(clips, fmt) -> None:
    data = clips[fmt, 44100].read_bytes()
    cut = data[: len(data) * 2 // 3 + 7]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want, _ = audiodecode.load(cut, sr=16000)
    for source in (cut, io.BytesIO(cut)):
        with pytest.warns(DecodeWarning, match="truncated"):
            got = joined(list(stream(source, sr=16000, chunk_seconds=0.5)), 0)
        if isinstance(source, bytes):
            np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
        else:
            # From a pipe no length is known; what was complete is there.
            np.testing.assert_allclose(got[: want.shape[0] - 200], want[: want.shape[0] - 200], atol=1e-6, rtol=0)


def test_garbage_mid_stream_is_skipped_with_a_warning_and_counted(clips) -> None:
    data = bytearray(clips["flac", 44100].read_bytes())
    middle = len(data) // 2
    data[middle : middle + 600] = np.random.default_rng(1).integers(0, 256, 600, dtype=np.uint8).tobytes()
    full, _ = audiodecode.load(clips["flac", 44100])
    for source in (bytes(data), io.BytesIO(bytes(data))):
        with pytest.warns(DecodeWarning, match="skipped (a damaged packet|damaged data)"):
            decoder = stream(source, chunk_seconds=0.5)
            got = joined(list(decoder), 0)
        assert decoder.damaged_packets >= 1
        # The stream goes on past the damage: most of the audio is there.
        assert got.shape[0] > 0.8 * full.shape[0]
        np.testing.assert_allclose(got[:10000], full[:10000], atol=1e-6, rtol=0)
    with pytest.raises(DecodeError, match="damaged"):
        list(stream(bytes(data), on_error="raise", chunk_seconds=0.5))


class CountingReader(io.RawIOBase):
    """Counts the bytes read, to tell what each chunk cost."""

    def __init__(self, data: bytes) -> None:
        self.stream, self.read_bytes = io.BytesIO(data), 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        out = self.stream.read(n)
        self.read_bytes += len(out)
        return out


@pytest.mark.parametrize("ahead", [False, True])
def test_every_chunk_reads_only_its_own_bytes_once(ahead: bool) -> None:
    # A cost that grew along the stream (re-seeking, re-decoding the past)
    # would read more bytes per chunk at the end than at the start.
    sr = 16000
    data = wav_bytes(synth.noise(120.0, sr), sr)
    reader = CountingReader(data)
    read_at_chunk = [reader.read_bytes for _ in stream(reader, sr=8000, chunk_seconds=5.0, decode_ahead=ahead)]
    chunk_bytes = 5 * sr * 2
    assert reader.read_bytes == len(data)
    if not ahead:
        assert np.diff(read_at_chunk).max() <= chunk_bytes + 64 * 1024, read_at_chunk
    # Decoding ahead reads at most a few chunks beyond the one handed out:
    # one in each stage, one between them, two ready.
    beyond = np.array(read_at_chunk) - chunk_bytes * np.arange(1, len(read_at_chunk) + 1)
    assert beyond.max() <= 5 * chunk_bytes + 64 * 1024, read_at_chunk


def test_memory_stays_flat_in_the_length_of_the_stream(tmp_path: Path) -> None:
    # Peak RSS of a child streaming 30 s and 10 min of the same signal.
    sr = 44100
    block = wav_bytes(synth.noise(30.0, sr), sr)[44:]
    peaks = {}
    for minutes in (0.5, 10):
        path = tmp_path / f"long{minutes}.wav"
        repeats = int(minutes * 2)
        with open(path, "wb") as out:
            header = wav_bytes(np.zeros(1, np.float32), sr)[:44]
            size = len(block) * repeats
            out.write(header[:4] + (36 + size).to_bytes(4, "little") + header[8:40] + size.to_bytes(4, "little"))
            for _ in range(repeats):
                out.write(block)
        code = textwrap.dedent(
            f"""
            import resource, audiodecode
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            n = sum(c.shape[0] for c, _ in audiodecode.stream({str(path)!r}, sr=16000, chunk_seconds=10))
            print(n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
            """
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             cwd=Path(__file__).parent.parent).stdout.split()  # fmt: skip
        assert int(out[0]) == int(np.ceil(repeats * 30 * sr * 16000 / sr))
        peaks[minutes] = int(out[1])  # KiB
    # 10 minutes decoded whole would be 106 MB at 44.1 kHz; streamed, the
    # peak is the same few chunks as for 30 s.
    assert peaks[10] < peaks[0.5] + 16 * 1024, peaks


def adts_bytes(y: np.ndarray, sr: int) -> bytes:
    import av

    out = io.BytesIO()
    with av.open(out, mode="w", format="adts") as container:
        stream_ = container.add_stream("aac", rate=sr, layout="mono")
        frame = av.AudioFrame.from_ndarray(y[None, :].astype(np.float32), format="fltp", layout="mono")
        frame.sample_rate = sr
        frame.pts = 0
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=sr, frame_size=1024)
        for f in resampler.resample(frame) + resampler.resample(None):
            for packet in stream_.encode(f):
                container.mux(packet)
        for packet in stream_.encode(None):
            container.mux(packet)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["wav-live", "flac", "mp3", "ogg", "adts"])
def test_push_mode_gives_the_same_chunks_as_the_whole_decode(clips, fmt) -> None:
    if fmt == "wav-live":
        data = wav_bytes(synth.speech_like(3.3, 44100), 44100, unknown_length=True)
    elif fmt == "adts":
        data = adts_bytes(synth.speech_like(3.3, 44100), 44100)
    else:
        data = clips[fmt, 44100].read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the live WAV's placeholder length
        want, _ = audiodecode.load(data, sr=16000)
    decoder = PushDecoder(sr=16000, chunk_seconds=0.5, overlap_seconds=0.1)
    rng = np.random.default_rng(0)
    chunks, at = [], 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        while at < len(data):
            size = int(rng.integers(1, 20_000))
            chunks += decoder.feed(data[at : at + size])
            at += size
        chunks += decoder.close()
    got = joined(chunks, round(0.1 * 16000))
    if fmt == "wav-live":
        # `load` believes no length either: the data runs to the end.
        assert got.shape == want.shape
    np.testing.assert_allclose(got, want[: got.shape[0]], atol=1e-6, rtol=0)
    assert got.shape[0] == want.shape[0]
    assert [start for _, start in chunks] == pytest.approx([0.4 * i for i in range(len(chunks))])


def test_push_mode_refuses_mp4_by_name(clips) -> None:
    decoder = PushDecoder()
    with pytest.raises(ValueError, match="MP4/M4A cannot be decoded in push mode"):
        decoder.feed(clips["m4a", 44100].read_bytes()[:5000])


def test_push_mode_reports_what_is_not_audio_on_close() -> None:
    decoder = PushDecoder(name="mic-7")
    decoder.feed(b"this is not audio at all" * 100)
    with pytest.raises(DecodeError, match="mic-7"):
        decoder.close()


# -- decoding ahead ------------------------------------------------------------------


def stream_threads() -> int:
    """Threads of this process decoding ahead (the core names them
    `audiodecode-stream-*`; /proc shows the first 15 characters)."""
    names = []
    for task in os.listdir("/proc/self/task"):
        try:
            names.append(Path(f"/proc/self/task/{task}/comm").read_text())
        except FileNotFoundError:  # ended while listed
            pass
    return sum(name.startswith("audiodecode-str") for name in names)


def wait_for_no_stream_threads(seconds: float = 10.0) -> int:
    import time

    deadline = time.monotonic() + seconds
    while stream_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    return stream_threads()


@pytest.mark.parametrize("fmt", ["flac", "mp3"])
def test_decoding_ahead_gives_the_same_chunks_as_decoding_inline(clips: dict, fmt: str) -> None:
    path = clips[fmt, 44100]
    for sr, mono in ((16000, True), (None, False)):
        ahead = list(stream(path, sr=sr, mono=mono, chunk_seconds=0.7, overlap_seconds=0.2))
        inline = list(stream(path, sr=sr, mono=mono, chunk_seconds=0.7, overlap_seconds=0.2, decode_ahead=False))
        assert [s for _, s in ahead] == [s for _, s in inline]
        for (a, _), (b, _) in zip(ahead, inline):
            np.testing.assert_array_equal(a, b)


def test_no_thread_outlives_its_stream(clips: dict) -> None:
    path = clips["flac", 44100]
    assert wait_for_no_stream_threads() == 0
    decoder = stream(path, sr=16000, chunk_seconds=0.2)
    assert decoder.mode == "ahead"  # 3.3 s: one piece
    next(decoder)
    assert stream_threads() == 2  # the decoder and the resampler
    decoder.close()  # waits for them
    assert stream_threads() == 0 and decoder.mode == "closed"
    assert next(decoder, None) is None
    with stream(path, chunk_seconds=0.2) as decoder:  # no resampling: one thread
        next(decoder)
        assert stream_threads() == 1
    assert stream_threads() == 0
    for _ in stream(path, sr=16000, chunk_seconds=0.2):  # an early break, then garbage collection
        break
    import gc

    gc.collect()
    assert wait_for_no_stream_threads() == 0
    list(stream(path, sr=16000, chunk_seconds=0.2))  # read to the end
    assert wait_for_no_stream_threads() == 0


class FailingReader(io.RawIOBase):
    """Gives `limit` bytes of `data`, then raises."""

    def __init__(self, data: bytes, limit: int) -> None:
        self.data, self.limit, self.pos = data, limit, 0
        self.name = "flaky-socket"

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self.pos >= self.limit:
            raise ConnectionResetError("peer went away")
        out = self.data[self.pos : min(self.pos + n, self.limit)]
        self.pos += len(out)
        return out


@pytest.mark.parametrize("ahead", [False, True])
def test_a_failure_reaches_the_consumer_after_every_chunk_before_it(ahead: bool) -> None:
    sr = 16000
    y = synth.noise(20.0, sr)
    data = wav_bytes(y, sr)
    got = []
    with pytest.raises(OSError, match="flaky-socket: reading failed: ConnectionResetError: peer went away"):
        for chunk, _ in stream(FailingReader(data, 44 + 2 * sr * 15 // 2), chunk_seconds=1.0, decode_ahead=ahead):
            got.append(chunk)
    # Every whole chunk before the failure, exactly, in both modes.
    assert len(got) == 7
    whole = audiodecode.load(data, sr=None)[0]
    np.testing.assert_allclose(np.concatenate(got), whole[: 7 * sr], atol=1e-6, rtol=0)
    assert wait_for_no_stream_threads() == 0


@pytest.fixture(scope="module")
def long_clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """45 s of 44.1 kHz stereo: long enough to be decoded ahead in pieces."""
    folder = tmp_path_factory.mktemp("long")
    sr = 44100
    y = np.stack([synth.speech_like(45.0, sr), synth.noise(45.0, sr, amplitude=0.1, seed=5)])
    return {fmt: synth.make(folder, "long", y, sr, fmt) for fmt in ("wav", "flac", "mp3", "ogg")}


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3", "ogg"])
def test_a_long_stream_decoded_ahead_in_pieces_equals_the_inline_decode(long_clips: dict, fmt: str) -> None:
    path = long_clips[fmt]
    for sr, mono, offset, duration in ((16000, True, 0.0, None), (None, False, 3.3, 31.1)):
        kw = dict(sr=sr, mono=mono, offset=offset, duration=duration, chunk_seconds=4.0, overlap_seconds=1.0)
        decoder = stream(path, **kw)
        # MP3 pieces would each scan the whole file (nanomp3 vouching for it).
        assert decoder.mode == ("ahead" if fmt == "mp3" else "ahead in pieces")
        ahead = list(decoder)
        inline = list(stream(path, decode_ahead=False, **kw))
        assert [s for _, s in ahead] == [s for _, s in inline]
        for (a, _), (b, _) in zip(ahead, inline):
            np.testing.assert_allclose(a, b, atol=1e-6, rtol=0)
        want = audiodecode.load(path, sr=sr, mono=mono, offset=offset, duration=duration)[0]
        overlap = int(round(1.0 * (sr or 44100)))
        np.testing.assert_allclose(joined(ahead, overlap), want, atol=1e-6, rtol=0)


def test_damage_in_a_piece_hands_the_rest_to_one_sequential_decode(long_clips: dict) -> None:
    data = bytearray(long_clips["flac"].read_bytes())
    at = len(data) * 2 // 3
    data[at : at + 600] = np.random.default_rng(1).integers(0, 256, 600, dtype=np.uint8).tobytes()
    results = {}
    for ahead in (True, False):
        with pytest.warns(DecodeWarning, match="skipped (a damaged packet|damaged data)"):
            decoder = stream(bytes(data), sr=16000, chunk_seconds=2.0, decode_ahead=ahead)
            assert decoder.mode == ("ahead in pieces" if ahead else "inline")
            results[ahead] = joined(list(decoder), 0)
        decoder.close()
        assert decoder.damaged_packets >= 1  # still counted once closed
    # The clean pieces before the damage, then the one-go decode: as inline.
    np.testing.assert_array_equal(results[True], results[False])


# -- live sources --------------------------------------------------------------------


def test_a_live_mp3_gives_its_first_chunk_without_waiting_for_the_sniff_window(clips: dict) -> None:
    # A frame run from the first byte is recognised from its first frames,
    # not after the 120 KB the search past junk reads (7 s at 128 kbit/s).
    data = clips["mp3", 44100].read_bytes()
    reader = CountingReader(data)
    decoder = stream(reader, sr=16000, chunk_seconds=0.25, decode_ahead=False)
    first, _ = next(decoder)
    assert first.shape == (4000,)
    assert reader.read_bytes < 40_000, reader.read_bytes
    want = audiodecode.load(data, sr=16000)[0]
    np.testing.assert_allclose(np.concatenate([first, *(c for c, _ in decoder)]), want, atol=1e-6, rtol=0)


def test_a_live_wav_ending_mid_packet_ends_without_a_warning() -> None:
    # ffmpeg writing WAV to a pipe leaves 0xFFFFFFFF as the sizes, and stops
    # wherever its input does: that is the end of the stream, not damage.
    sr = 44100
    y = synth.speech_like(2.0, sr)[: sr * 2 - 333]
    data = wav_bytes(y, sr, unknown_length=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DecodeWarning)
        got = joined(list(stream(io.BytesIO(data), chunk_seconds=0.5)), 0)
    np.testing.assert_allclose(got, y, atol=1 / 32768, rtol=0)
    assert got.shape == y.shape


def test_the_interpreter_exits_cleanly_with_a_live_stream_decoding_ahead() -> None:
    # A core thread reading a Python pipe when the interpreter shuts down
    # must stop first (an atexit close, and no GIL wait once closed): CPython
    # ends a thread waiting for the GIL at shutdown, which aborts a Rust one.
    code = textwrap.dedent(
        """
        import os, threading, time, audiodecode
        from tests.test_stream import wav_bytes
        from tests import synth
        data = wav_bytes(synth.noise(30.0, 16000), 16000, unknown_length=True)
        read_fd, write_fd = os.pipe()

        def write():  # a live producer, 0.1 s of audio every 10 ms
            with os.fdopen(write_fd, "wb") as out:
                for at in range(0, len(data), 3200):
                    out.write(data[at : at + 3200])
                    out.flush()
                    time.sleep(0.01)

        threading.Thread(target=write, daemon=True).start()
        decoder = audiodecode.stream(os.fdopen(read_fd, "rb"), chunk_seconds=0.5)
        next(decoder)
        print("exiting", flush=True)
        """
    )
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                             cwd=Path(__file__).parent.parent)  # fmt: skip
        assert out.returncode == 0 and "exiting" in out.stdout, out.stderr[-2000:]
