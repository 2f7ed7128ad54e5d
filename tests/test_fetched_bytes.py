"""Encoded bytes go from the read engine to the decoder without copies:
`FetchedBytes` (the engine's buffer as Python sees it) and `bytes` objects
are read by the core where they lie. Checked by content against the same
file read by path, and by memory: a copy of a large input shows in the
process's peak resident size, reading it in place does not."""

from __future__ import annotations

import ctypes
import gc
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import audiodecode
from audiodecode import _core
from audiodecode._core import FetchedBytes
from audiodecode.data.sources import RetryPolicy, Storage
from synth import make, sine, speech_like

SR = 16000
POLICY = Storage(retry=RetryPolicy(attempts=2, backoff_s=0.01, max_backoff_s=0.01, timeout_s=5)).engine_policy()


def fetched(path: Path, start: int = 0, end: int | None = None) -> FetchedBytes:
    """Bytes `[start, end)` of `path` read by the native engine (`file://`)."""
    (got,), _ = _core.storage_read_batch([(path.resolve().as_uri(), start, end, None)], [], POLICY)
    assert isinstance(got, FetchedBytes), got
    return got


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fetched")
    y = speech_like(1.5, SR, seed=3)
    return {fmt: make(root, f"clip_{fmt}", y, SR, fmt) for fmt in ("wav", "flac", "mp3", "ogg", "m4a", "opus")}


def test_fetched_bytes_is_a_read_only_bytes_like(tmp_path: Path) -> None:
    content = bytes(range(256)) * 40
    path = tmp_path / "blob"
    path.write_bytes(content)
    data = fetched(path)

    assert len(data) == len(content)
    assert bytes(data) == content and isinstance(bytes(data), bytes)
    assert data == content and data == bytearray(content) and data == memoryview(content)
    assert data != content[:-1] and data != b"x" * len(content) and data != "not bytes"
    assert hash(data) == hash(content)
    assert data[3] == content[3] and data[-1] == content[-1]
    with pytest.raises(IndexError):
        data[len(content)]
    assert data[10:20] == content[10:20] and isinstance(data[10:20], FetchedBytes)
    assert data[::7] == content[::7] and data[20:10] == b""
    assert repr(data) == f"FetchedBytes({len(content)} bytes)"
    assert pickle.loads(pickle.dumps(data)) == content

    view = memoryview(data)
    assert view.readonly and view.tobytes() == content and view.format == "B"
    with pytest.raises(TypeError, match="read-only"):
        view[0:1] = b"z"
    with pytest.raises(TypeError, match="not writable"):
        (ctypes.c_char * 4).from_buffer(data)  # asks for a writable buffer: refused
    with pytest.raises(ValueError, match="read-only"):
        np.frombuffer(data, dtype=np.uint8)[0] = 1


def test_a_slice_shares_its_buffer(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(bytes(range(256)) * 40)
    data = fetched(path)
    address = np.frombuffer(data, dtype=np.uint8).__array_interface__["data"][0]
    part = data[100:300]
    del data
    gc.collect()
    # The slice keeps the buffer alive and points into it.
    assert np.frombuffer(part, dtype=np.uint8).__array_interface__["data"][0] == address + 100
    assert part == (bytes(range(256)) * 40)[100:300]


def test_a_stream_reads_fetched_bytes(clips: dict[str, Path]) -> None:
    want, _ = audiodecode.load(clips["ogg"], sr=SR)
    got = np.concatenate([chunk for chunk, _ in audiodecode.stream(fetched(clips["ogg"]), sr=SR, chunk_seconds=0.5)])
    assert np.allclose(got, want, atol=1e-6)


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3", "ogg", "m4a", "opus"])
def test_fetched_bytes_decode_like_the_path(clips: dict[str, Path], fmt: str) -> None:
    path = clips[fmt]
    data = fetched(path)
    want, sr = audiodecode.load(path, sr=SR)  # opus: the PyAV fallback, which takes the bytes too
    got, got_sr = audiodecode.load(data, sr=SR)
    assert got_sr == sr and np.array_equal(got, want)
    assert audiodecode.info(data) == audiodecode.info(path)
    (batch_y, batch_sr), (window, _) = audiodecode.load_batch([data, data], sr=SR, offset=[0.0, 0.5], duration=[None, 0.25])
    assert batch_sr == sr and np.array_equal(batch_y, want)
    assert np.array_equal(window, audiodecode.load(path, sr=SR, offset=0.5, duration=0.25)[0])


def test_a_damaged_fetched_file_is_named_like_bytes(clips: dict[str, Path]) -> None:
    data = fetched(clips["flac"], 0, 100)
    with pytest.raises(audiodecode.DecodeError, match="<bytes>"):
        audiodecode.load(data)


def test_bytes_outlive_the_callers_reference_in_a_stream(clips: dict[str, Path]) -> None:
    """The core holds a `bytes` object it reads in place: a stream keeps
    decoding it after the caller dropped theirs."""
    want, _ = audiodecode.load(clips["flac"], sr=SR)
    data = clips["flac"].read_bytes()
    chunks = audiodecode.stream(data, sr=SR, chunk_seconds=0.25)
    del data
    gc.collect()
    got = np.concatenate([chunk for chunk, _ in chunks])
    assert np.allclose(got, want, atol=1e-6)


PEAK = textwrap.dedent(
    """
    import sys
    import audiodecode
    from audiodecode import _core
    from audiodecode.data.sources import Storage

    def peak_mb():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024

    path, how = sys.argv[1], sys.argv[2]
    if how == "bytes":
        data = open(path, "rb").read()
    else:
        from pathlib import Path
        (data,), _ = _core.storage_read_batch([(Path(path).as_uri(), 0, None, None)], [], Storage().engine_policy())
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # the peak resident size starts again from the current one
    before = peak_mb()
    header = audiodecode.info(data)
    y, _ = audiodecode.load(data, duration=0.5)
    (z, _), = audiodecode.load_batch([data], offset=[100.0], duration=[0.5])
    assert header.frames > 0 and y.size == z.size == 8000
    print(peak_mb() - before)
    """
)


@pytest.mark.parametrize("how", ["bytes", "fetched"])
def test_a_large_input_is_not_copied(tmp_path: Path, how: str) -> None:
    """A 96 MB WAV in memory: reading its header and two short windows
    would raise the peak resident size by 96 MB per copy."""
    path = tmp_path / "long.wav"
    make(tmp_path, "long", np.tile(sine(440.0, 1.0, SR), 3000), SR, "wav")  # 3,000 s of 16-bit mono
    assert path.stat().st_size > 90e6
    out = subprocess.run([sys.executable, "-c", PEAK, str(path), how], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) < 24, f"the peak grew by {float(out.stdout):.0f} MB reading a 96 MB input"
