"""Streaming log-mel: the frames of a stream equal `log_mel` of the whole signal."""

from __future__ import annotations

import numpy as np
import pytest

import audiodecode
from audiodecode.frame_carry import FrameCarry
from tests.test_stream import wav_bytes

SR, N_FFT, HOP = 16000, 400, 160


def signal(seconds: float = 3.37) -> np.ndarray:
    return np.random.default_rng(3).uniform(-0.5, 0.5, round(seconds * SR)).astype(np.float32)


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize(("n_fft", "hop"), [(400, 160), (512, 128), (2048, 512), (300, 300)])
def test_frame_carry_windows_give_every_frame_of_the_whole_signal_once(center, n_fft, hop) -> None:
    y = signal()
    pad = n_fft // 2 if center else 0
    padded = np.pad(y, (pad, pad))
    want = [padded[t * hop : t * hop + n_fft] for t in range(1 + (padded.shape[0] - n_fft) // hop)]
    carry, got = FrameCarry(n_fft, hop, center), []
    lengths = set()
    size = 30 * hop  # chunks of whole hops: windows of one length
    for at in range(0, y.shape[0], size):

        def frames(window: np.ndarray, drop: int) -> list[np.ndarray]:
            count = 0 if window.shape[0] < n_fft else 1 + (window.shape[0] - n_fft) // hop
            return [window[t * hop : t * hop + n_fft] for t in range(drop, count)]

        window, drop = carry.push(y[at : at + size])
        if y[at : at + size].shape[0] == size:
            lengths.add(window.shape[0])
        got += frames(window, drop)
    last = carry.finish()
    if last is not None:
        got += frames(*last)
    assert len(lengths) == 1, "full chunks give windows of one length (one compilation)"
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_jax_streaming_log_mel_equals_log_mel_of_the_whole_stream() -> None:
    jax = pytest.importorskip("jax")
    from audiodecode.jax import StreamingLogMel, log_mel

    y = signal()
    data = wav_bytes(y, SR)
    whole, _ = audiodecode.load(data)
    want = np.asarray(log_mel(whole, sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=80, top_db=None))
    lm = StreamingLogMel(sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=80)
    compiled = log_mel._cache_size()
    parts = [lm.push(chunk) for chunk, _ in audiodecode.stream(data, chunk_seconds=0.5, hop_length=HOP)]
    parts.append(lm.finish())
    got = np.concatenate([np.asarray(p) for p in parts], axis=-1)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=2e-3, rtol=0)
    # One compilation for the seven full chunks; the last, shorter chunk
    # and the end padding add theirs.
    assert log_mel._cache_size() - compiled <= 3
    del jax


def test_torch_streaming_log_mel_equals_log_mel_of_the_whole_stream() -> None:
    torch = pytest.importorskip("torch")
    from audiodecode.torch import StreamingLogMel, log_mel

    y = signal()
    want = log_mel(torch.from_numpy(y), sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=64, top_db=None,
                   layout="features_last").numpy()  # fmt: skip
    lm = StreamingLogMel(sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=64, layout="features_last")
    parts = [lm.push(y[at : at + 8000]) for at in range(0, y.shape[0], 8000)]
    parts.append(lm.finish())
    got = torch.cat(parts, dim=-2).numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=2e-3, rtol=0)
