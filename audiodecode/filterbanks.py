"""Filterbanks, DCT bases and windows for feature extraction, in plain numpy.

These are the constant matrices that the JAX and PyTorch feature functions
multiply by. They are computed on the host from hashable configuration and
cached, so a jitted function that builds them at trace time embeds them as
compile-time constants. Every function matches its librosa counterpart
(``librosa.filters.mel``, ``scipy.fft.dct`` as used by
``librosa.feature.mfcc``, ``librosa.filters.get_window`` followed by
``librosa.util.pad_center``); librosa itself is not needed.

Cached arrays are shared between callers and therefore read-only; take a
``.copy()`` to modify one.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
from numpy.typing import DTypeLike

__all__ = [
    "WINDOWS",
    "dct_matrix",
    "frame_count",
    "get_window",
    "hz_to_mel",
    "mel_filterbank",
    "mel_frequencies",
    "mel_to_hz",
]

# Periodic ("DFT-even") generalized cosine windows, as scipy.signal.get_window
# builds them with fftbins=True: w[k] = sum_j (-1)^j a_j cos(2 pi j k / N).
_COSINE_COEFFICIENTS: dict[str, tuple[float, ...]] = {
    "hann": (0.5, 0.5),
    "hamming": (0.54, 0.46),
    "blackman": (0.42, 0.50, 0.08),
    "boxcar": (1.0,),
}
_WINDOW_ALIASES = {"rectangular": "boxcar", "ones": "boxcar"}
WINDOWS: frozenset[str] = frozenset(_COSINE_COEFFICIENTS) | frozenset(_WINDOW_ALIASES)
"""Window names accepted by :func:`get_window` (and the feature functions)."""

# Slaney's auditory-toolbox mel scale: linear below 1 kHz, logarithmic above.
_F_SP = 200.0 / 3
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def _readonly(a: np.ndarray) -> np.ndarray:
    # Cached results are shared by every caller; a write would corrupt them.
    a.flags.writeable = False
    return a


def hz_to_mel(frequencies: float | np.ndarray, *, htk: bool = False) -> np.ndarray:
    """Convert Hz to mels (Slaney's scale, or HTK's with ``htk=True``).

    Parameters
    ----------
    frequencies : float or np.ndarray [shape=(n,)]
        Frequencies in Hz.
    htk : bool
        Use HTK's formula ``2595 log10(1 + f / 700)`` instead of Slaney's.

    Returns
    -------
    mels : np.ndarray [shape=(n,) or ()], float64
    """
    f = np.asarray(frequencies, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    # np.maximum keeps log() from warning on the linear-region entries that
    # np.where discards anyway.
    log_part = _MIN_LOG_MEL + np.log(np.maximum(f, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP
    return np.where(f >= _MIN_LOG_HZ, log_part, f / _F_SP)


def mel_to_hz(mels: float | np.ndarray, *, htk: bool = False) -> np.ndarray:
    """Convert mels to Hz; the inverse of :func:`hz_to_mel`.

    Parameters
    ----------
    mels : float or np.ndarray [shape=(n,)]
        Mel values.
    htk : bool
        Use HTK's formula instead of Slaney's.

    Returns
    -------
    frequencies : np.ndarray [shape=(n,) or ()], float64
    """
    m = np.asarray(mels, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    log_part = _MIN_LOG_HZ * np.exp(_LOGSTEP * (np.maximum(m, _MIN_LOG_MEL) - _MIN_LOG_MEL))
    return np.where(m >= _MIN_LOG_MEL, log_part, _F_SP * m)


def mel_frequencies(n_mels: int = 128, *, fmin: float = 0.0, fmax: float = 11025.0, htk: bool = False) -> np.ndarray:
    """``n_mels`` frequencies in Hz, evenly spaced on the mel scale from ``fmin`` to ``fmax``.

    Returns
    -------
    frequencies : np.ndarray [shape=(n_mels,)], float64
    """
    mels = np.linspace(hz_to_mel(fmin, htk=htk), hz_to_mel(fmax, htk=htk), n_mels)
    return mel_to_hz(mels, htk=htk)


@functools.lru_cache(maxsize=64)
def mel_filterbank(
    *,
    sr: float,
    n_fft: int,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: str | float | None = "slaney",
    dtype: DTypeLike = np.float32,
) -> np.ndarray:
    """Triangular mel filters that map an ``n_fft``-point power spectrum to mel bands.

    Equal to ``librosa.filters.mel`` with the same arguments.

    Parameters
    ----------
    sr : float > 0
        Sampling rate of the audio.
    n_fft : int > 0
        FFT size; the spectrum has ``1 + n_fft // 2`` bins.
    n_mels : int > 0
        Number of mel bands.
    fmin, fmax : float >= 0
        Lowest and highest band edge in Hz. ``fmax=None`` means ``sr / 2``.
    htk : bool
        HTK's mel formula instead of Slaney's.
    norm : {"slaney", None} or float > 0
        ``"slaney"`` scales each triangle to unit area in Hz (constant energy
        per band); a number p normalizes each filter to unit p-norm
        (``np.inf`` for max-norm); ``None`` leaves peaks at 1.
    dtype : numpy dtype
        Output dtype.

    Returns
    -------
    weights : np.ndarray [shape=(n_mels, 1 + n_fft // 2)], read-only

    Raises
    ------
    ValueError
        Non-positive ``sr``, ``n_fft`` or ``n_mels``, ``fmin`` outside
        ``[0, fmax)``, or an unknown ``norm``.

    Warns
    -----
    UserWarning
        When some filters fall between FFT bins and are all zero (too many
        mel bands for ``n_fft``), as librosa does.
    """
    if not sr > 0:
        raise ValueError(f"sr={sr} must be positive")
    if int(n_fft) != n_fft or n_fft <= 0:
        raise ValueError(f"n_fft={n_fft} must be a positive integer")
    if int(n_mels) != n_mels or n_mels <= 0:
        raise ValueError(f"n_mels={n_mels} must be a positive integer")
    fmax = float(sr) / 2 if fmax is None else float(fmax)
    if not 0 <= fmin < fmax:
        raise ValueError(f"need 0 <= fmin < fmax, got fmin={fmin}, fmax={fmax}")
    if isinstance(norm, str) and norm != "slaney":
        raise ValueError(f"norm={norm!r}: expected 'slaney', None or a positive number")
    if norm is not None and not isinstance(norm, str) and not norm > 0:
        raise ValueError(f"norm={norm!r}: a numeric norm must be positive")
    n_mels, n_fft = int(n_mels), int(n_fft)

    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    mel_f = mel_frequencies(n_mels + 2, fmin=fmin, fmax=fmax, htk=htk)
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    # Rising edge of each triangle from band i to i+1, falling edge to i+2.
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    # Rounded to dtype before normalizing, as librosa stores them.
    weights = np.maximum(0, np.minimum(lower, upper)).astype(dtype)

    if norm == "slaney":
        enorm = 2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels])
        weights = (weights * enorm[:, None]).astype(dtype)
    elif norm is not None:
        mag = np.abs(weights).astype(np.float64)
        length = mag.max(axis=1) if np.isinf(norm) else np.sum(mag**norm, axis=1) ** (1.0 / norm)
        # All-zero filters stay zero instead of dividing by zero.
        length[length < np.finfo(weights.dtype).tiny] = 1.0
        weights = (weights / length[:, None]).astype(dtype)

    if not np.all((mel_f[:-2] == 0) | (weights.max(axis=1) > 0)):
        warnings.warn(
            f"Empty filters in the mel filterbank (sr={sr}, n_fft={n_fft}, n_mels={n_mels}): some "
            "mel bands fall between FFT bins and will always be zero. Use fewer mel bands or a larger n_fft.",
            UserWarning,
            stacklevel=2,
        )
    return _readonly(weights)


@functools.lru_cache(maxsize=64)
def dct_matrix(n_mfcc: int, n_mels: int, dct_type: int = 2, norm: str | None = "ortho") -> np.ndarray:
    """The first ``n_mfcc`` rows of the DCT matrix of size ``n_mels``.

    ``dct_matrix(k, n, t, norm) @ x`` equals
    ``scipy.fft.dct(x, type=t, norm=norm, axis=0)[:k]``, which is how
    ``librosa.feature.mfcc`` turns log-mel bands into cepstral coefficients.

    Parameters
    ----------
    n_mfcc : int > 0
        Number of coefficients (rows) to keep; at most ``n_mels``.
    n_mels : int > 0
        Input length (columns). Type 1 needs ``n_mels > 1``.
    dct_type : {1, 2, 3}
        DCT type as in scipy.
    norm : {"ortho", None}
        ``"ortho"`` makes the full matrix orthonormal; ``None`` is scipy's
        unnormalized (``"backward"``) scaling.

    Returns
    -------
    basis : np.ndarray [shape=(n_mfcc, n_mels)], float64, read-only
    """
    if dct_type not in (1, 2, 3):
        raise ValueError(f"dct_type={dct_type}: expected 1, 2 or 3")
    if norm not in ("ortho", None):
        raise ValueError(f"norm={norm!r}: expected 'ortho' or None")
    if int(n_mels) != n_mels or n_mels <= 0 or (dct_type == 1 and n_mels < 2):
        raise ValueError(f"n_mels={n_mels} must be a positive integer (at least 2 for dct_type=1)")
    if int(n_mfcc) != n_mfcc or not 0 < n_mfcc <= n_mels:
        raise ValueError(f"n_mfcc={n_mfcc} must be an integer in [1, n_mels={n_mels}]")
    n = int(n_mels)
    k = np.arange(int(n_mfcc))[:, None]
    j = np.arange(n)[None, :]
    if dct_type == 2:
        # y[k] = 2 sum_j x[j] cos(pi k (2j + 1) / 2n)
        basis = 2.0 * np.cos(np.pi * k * (2 * j + 1) / (2 * n))
        if norm == "ortho":
            basis[0] *= np.sqrt(1.0 / (4 * n))
            basis[1:] *= np.sqrt(1.0 / (2 * n))
    elif dct_type == 3:
        # y[k] = x[0] + 2 sum_{j>0} x[j] cos(pi j (2k + 1) / 2n): the inverse of type 2.
        basis = 2.0 * np.cos(np.pi * j * (2 * k + 1) / (2 * n))
        basis[:, 0] = 1.0
        if norm == "ortho":
            basis[:, 0] *= np.sqrt(1.0 / n)
            basis[:, 1:] *= np.sqrt(1.0 / (2 * n))
    else:
        # y[k] = x[0] + (-1)^k x[n-1] + 2 sum_{0<j<n-1} x[j] cos(pi k j / (n - 1))
        basis = 2.0 * np.cos(np.pi * k * j / (n - 1))
        basis[:, 0] = 1.0
        basis[:, -1] = (-1.0) ** k[:, 0]
        if norm == "ortho":
            # scipy's orthonormal DCT-I: the end samples weigh sqrt(2) more,
            # then everything scales by 1/sqrt(2(n-1)), with rows 0 and n-1
            # scaled by a further 1/sqrt(2).
            basis[:, [0, -1]] *= np.sqrt(2.0)
            basis *= 1.0 / np.sqrt(2.0 * (n - 1))
            ends = (k[:, 0] == 0) | (k[:, 0] == n - 1)
            basis[ends] /= np.sqrt(2.0)
    return _readonly(basis)


@functools.lru_cache(maxsize=64)
def get_window(window: str, win_length: int, n_fft: int) -> np.ndarray:
    """A periodic analysis window of ``win_length``, zero-padded to ``n_fft`` around the centre.

    Equal to ``librosa.util.pad_center(librosa.filters.get_window(window,
    win_length, fftbins=True), size=n_fft)``.

    Parameters
    ----------
    window : str
        One of :data:`WINDOWS`: ``"hann"``, ``"hamming"``, ``"blackman"``,
        ``"boxcar"`` (alias ``"rectangular"``, ``"ones"``).
    win_length : int > 0
        Number of non-zero window samples, at most ``n_fft``.
    n_fft : int > 0
        Frame length.

    Returns
    -------
    window : np.ndarray [shape=(n_fft,)], float64, read-only
    """
    if not isinstance(window, str) or window not in WINDOWS:
        raise ValueError(f"window={window!r}: expected one of {sorted(WINDOWS)}")
    if int(n_fft) != n_fft or n_fft <= 0:
        raise ValueError(f"n_fft={n_fft} must be a positive integer")
    if int(win_length) != win_length or not 0 < win_length <= n_fft:
        raise ValueError(f"win_length={win_length} must be an integer in [1, n_fft={n_fft}]")
    coefficients = _COSINE_COEFFICIENTS[_WINDOW_ALIASES.get(window, window)]
    phase = 2 * np.pi * np.arange(win_length) / win_length
    w = sum((-1) ** i * a * np.cos(i * phase) for i, a in enumerate(coefficients))
    if win_length == 1:
        # scipy (and so librosa) defines every window of one sample as [1.0].
        w = np.ones(1)
    lpad = (n_fft - win_length) // 2
    return _readonly(np.pad(w, (lpad, n_fft - win_length - lpad)))


def frame_count(n: int, n_fft: int, hop_length: int, center: bool) -> int:
    """Number of STFT frames librosa makes from ``n`` samples.

    With ``center=True`` the signal is padded by ``n_fft // 2`` on both sides
    first, so frame ``t`` is centred on sample ``t * hop_length``.

    Returns
    -------
    frames : int >= 1

    Raises
    ------
    ValueError
        If a size is not positive, or the (padded) signal is shorter than
        one frame.
    """
    if n_fft <= 0 or hop_length <= 0 or n < 0:
        raise ValueError(f"need n_fft > 0, hop_length > 0 and n >= 0, got {n_fft}, {hop_length}, {n}")
    padded = n + 2 * (n_fft // 2) if center else n
    if padded < n_fft:
        how = "centred" if center else "uncentred (center=False)"
        raise ValueError(f"n_fft={n_fft} is too large for {how} analysis of a signal of {n} samples")
    return 1 + (padded - n_fft) // hop_length
