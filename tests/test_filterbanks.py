"""audiodecode.filterbanks against librosa and scipy (the oracles)."""

from __future__ import annotations

import itertools
import warnings

import librosa
import numpy as np
import pytest
import scipy.fft

from audiodecode import filterbanks

MEL_GRID = [
    dict(sr=sr, n_fft=n_fft, n_mels=n_mels, htk=htk)
    for sr, n_fft, n_mels, htk in itertools.product((8000, 16000, 22050, 44100), (400, 512, 2048), (40, 64, 128), (False, True))
]


@pytest.mark.parametrize("norm", ["slaney", None, 1, 2, np.inf])
def test_mel_filterbank_equals_librosa(norm: str | float | None) -> None:
    with warnings.catch_warnings():
        # Both warn alike about empty filters (128 bands at n_fft=400); tested below.
        warnings.simplefilter("ignore", UserWarning)
        for cfg in MEL_GRID:
            for fmin, fmax in ((0.0, None), (20.0, 3800.0), (300.0, None)):
                ours = filterbanks.mel_filterbank(**cfg, fmin=fmin, fmax=fmax, norm=norm)
                ref = librosa.filters.mel(**cfg, fmin=fmin, fmax=fmax, norm=norm)
                assert ours.shape == ref.shape == (cfg["n_mels"], 1 + cfg["n_fft"] // 2)
                assert ours.dtype == ref.dtype == np.float32
                np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6 * np.abs(ref).max(), err_msg=str(cfg))


def test_mel_filterbank_dtype_cache_and_readonly() -> None:
    a = filterbanks.mel_filterbank(sr=16000, n_fft=512, n_mels=40)
    assert filterbanks.mel_filterbank(sr=16000, n_fft=512, n_mels=40) is a
    with pytest.raises(ValueError):
        a[0, 0] = 1.0
    b = filterbanks.mel_filterbank(sr=16000, n_fft=512, n_mels=40, dtype=np.float64)
    np.testing.assert_allclose(b, librosa.filters.mel(sr=16000, n_fft=512, n_mels=40, dtype=np.float64), rtol=1e-12)


def test_empty_filters_warn_like_librosa() -> None:
    with pytest.warns(UserWarning, match="Empty filters"):
        filterbanks.mel_filterbank(sr=16000, n_fft=256, n_mels=128, fmax=4000.0)


def test_mel_scale_round_trip() -> None:
    hz = np.array([0.0, 10.0, 999.9, 1000.0, 1000.1, 8000.0, 22050.0])
    for htk in (False, True):
        np.testing.assert_allclose(filterbanks.hz_to_mel(hz, htk=htk), librosa.hz_to_mel(hz, htk=htk), rtol=1e-12)
        np.testing.assert_allclose(filterbanks.mel_to_hz(filterbanks.hz_to_mel(hz, htk=htk), htk=htk), hz, rtol=1e-12, atol=1e-9)
        assert float(filterbanks.hz_to_mel(1000.0, htk=htk)) == pytest.approx(float(librosa.hz_to_mel(1000.0, htk=htk)))


@pytest.mark.parametrize("dct_type", [1, 2, 3])
@pytest.mark.parametrize("norm", ["ortho", None])
def test_dct_matrix_equals_scipy(dct_type: int, norm: str | None) -> None:
    for n_mels in (2, 3, 13, 40, 128):
        for n_mfcc in sorted({1, min(13, n_mels), n_mels}):
            ref = scipy.fft.dct(np.eye(n_mels), type=dct_type, norm=norm, axis=0)[:n_mfcc]
            np.testing.assert_allclose(filterbanks.dct_matrix(n_mfcc, n_mels, dct_type, norm), ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("window", sorted(filterbanks.WINDOWS))
def test_window_equals_librosa(window: str) -> None:
    for win_length, n_fft in ((400, 512), (512, 512), (401, 512), (400, 401), (1, 8)):
        ref = librosa.util.pad_center(librosa.filters.get_window(window, win_length, fftbins=True), size=n_fft)
        np.testing.assert_allclose(filterbanks.get_window(window, win_length, n_fft), ref, rtol=0, atol=1e-15)


@pytest.mark.parametrize("center", [True, False])
def test_frame_count_equals_librosa(center: bool) -> None:
    for n, n_fft, hop in ((16000, 400, 160), (16037, 512, 256), (22050, 2048, 512), (2048, 2048, 512), (1000, 511, 100)):
        frames = librosa.stft(np.zeros(n, np.float32), n_fft=n_fft, hop_length=hop, center=center).shape[-1]
        assert filterbanks.frame_count(n, n_fft, hop, center) == frames


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: filterbanks.mel_filterbank(sr=0, n_fft=512), "sr"),
        (lambda: filterbanks.mel_filterbank(sr=16000, n_fft=0), "n_fft"),
        (lambda: filterbanks.mel_filterbank(sr=16000, n_fft=512, n_mels=0), "n_mels"),
        (lambda: filterbanks.mel_filterbank(sr=16000, n_fft=512, fmin=9000.0), "fmin"),
        (lambda: filterbanks.mel_filterbank(sr=16000, n_fft=512, norm="l2"), "norm"),
        (lambda: filterbanks.mel_filterbank(sr=16000, n_fft=512, norm=-1.0), "norm"),
        (lambda: filterbanks.dct_matrix(20, 13), "n_mfcc"),
        (lambda: filterbanks.dct_matrix(1, 1, dct_type=1), "n_mels"),
        (lambda: filterbanks.dct_matrix(13, 40, dct_type=4), "dct_type"),
        (lambda: filterbanks.dct_matrix(13, 40, norm="forward"), "norm"),
        (lambda: filterbanks.get_window("kaiser", 400, 512), "window"),
        (lambda: filterbanks.get_window("hann", 513, 512), "win_length"),
        (lambda: filterbanks.frame_count(100, 512, 160, False), "too large"),
        (lambda: filterbanks.frame_count(1000, 512, 0, True), "hop_length"),
    ],
)
def test_bad_arguments_raise(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()
