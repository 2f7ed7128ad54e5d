"""Spectrograms, mel features and MFCCs as torch functions, on any device.

Each function takes audio shaped ``(..., n)`` (any number of leading batch
axes) and mirrors the librosa function of the same name, and the JAX
function of :mod:`audiodecode.jax.features`: same parameter names, same
defaults, same numbers (to float32 rounding)::

    from audiodecode.torch import mfcc
    feats = mfcc(audio.cuda(), sr=16000, n_mfcc=40, n_fft=512, hop_length=160, n_mels=64)

They run where the input lives (CPU or GPU) with torch operations, and are
differentiable. The constant matrices (window, mel filterbank, DCT) come
from :mod:`audiodecode.filterbanks`, the same numpy arrays the JAX functions
use, converted once per configuration, device and dtype and cached.

Layout
------
Outputs are ``(..., n_features, frames)`` like librosa's and torchaudio's.
``layout="features_last"`` gives ``(..., frames, n_features)``, the
``(batch, time, channels)`` layout of recurrent and attention layers.

Precision
---------
Inputs in float16/bfloat16 are computed in float32, float64 stays float64.
Matrix products follow torch's global float32 matmul setting: with
``torch.backends.cuda.matmul.allow_tf32 = True`` (or
``torch.set_float32_matmul_precision("high")``) a GPU rounds the mel and
DCT products to TF32, about 1e-3 relative, as for any other matmul.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import torch

from audiodecode import filterbanks
from audiodecode._typing import LAYOUTS, Layout

__all__ = ["log_mel", "melspectrogram", "mfcc", "power_to_db", "spectrogram"]

# librosa.stft's padding modes for center=True, minus "empty" (undefined values).
PAD_MODES = ("constant", "edge", "linear_ramp", "reflect", "symmetric")


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------


def _check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name}={value!r} must be a positive integer")
    return int(value)


def _check_audio(y: torch.Tensor | np.ndarray) -> torch.Tensor:
    y = torch.as_tensor(y)
    if y.ndim == 0:
        raise ValueError("y must have at least one axis, shaped (..., n); got a scalar")
    if not y.is_floating_point():
        raise ValueError(f"y must be floating-point audio, got dtype {y.dtype}")
    if y.shape[-1] == 0:
        raise ValueError(f"y has no samples: shape {tuple(y.shape)}")
    # FFTs need at least single precision.
    return y.to(torch.promote_types(y.dtype, torch.float32))


def _check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r}: expected one of {LAYOUTS}")


def _validated_stft_args(
    n_fft: int, hop_length: int | None, win_length: int | None, window: str, pad_mode: str, power: float, layout: str
) -> tuple[int, int, int]:
    n_fft = _check_positive_int("n_fft", n_fft)
    win_length = n_fft if win_length is None else _check_positive_int("win_length", win_length)
    if win_length > n_fft:
        raise ValueError(f"win_length={win_length} must be at most n_fft={n_fft}")
    # librosa.stft's default hop: a quarter of the window.
    hop_length = _check_positive_int("hop_length", win_length // 4 if hop_length is None else hop_length)
    if not isinstance(window, str) or window not in filterbanks.WINDOWS:
        raise ValueError(f"window={window!r}: expected one of {sorted(filterbanks.WINDOWS)}")
    if pad_mode not in PAD_MODES:
        raise ValueError(f"pad_mode={pad_mode!r}: expected one of {PAD_MODES}")
    if isinstance(power, bool) or not isinstance(power, (int, float)) or not power > 0:
        raise ValueError(f"power={power!r} must be a positive number")
    _check_layout(layout)
    return n_fft, hop_length, win_length


def _finish(features_last: torch.Tensor, layout: str) -> torch.Tensor:
    """Computed as (..., frames, features); librosa's layout swaps the last
    two axes. Contiguous either way, so `.view()` works on the result."""
    return features_last if layout == "features_last" else features_last.transpose(-1, -2).contiguous()


# --------------------------------------------------------------------------
# Constants, cached per configuration, device and dtype
# --------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _constant(kind: str, config: tuple, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """`audiodecode.filterbanks` matrix `kind` for `config`, as a tensor on `device`.

    Cached: a training loop calls the feature functions with the same
    configuration every step, and a host-to-device copy per call would cost
    more than the features on a GPU.
    """
    if kind == "window":
        array = filterbanks.get_window(*config)
    elif kind == "mel_t":
        sr, n_fft, n_mels, fmin, fmax, htk, norm = config
        array = filterbanks.mel_filterbank(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm).T
    elif kind == "dct_t":
        array = filterbanks.dct_matrix(*config).T
    elif kind == "lifter":
        lifter, n_mfcc = config
        array = 1 + (lifter / 2) * np.sin(np.pi * np.arange(1, 1 + n_mfcc) / lifter)
    else:
        raise KeyError(kind)
    # np.array copies: the filters' cached arrays are read-only.
    return torch.from_numpy(np.array(array)).to(device=device, dtype=dtype)


def _device(y: torch.Tensor) -> torch.device:
    # A cache key that does not depend on how the device was spelled ("cuda" vs "cuda:0").
    if y.device.type == "cuda" and y.device.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return y.device


# --------------------------------------------------------------------------
# STFT
# --------------------------------------------------------------------------


def _pad_centre(y: torch.Tensor, pad: int, mode: str) -> torch.Tensor:
    """`np.pad(y, (pad, pad), mode)` along the last axis."""
    if mode == "constant":
        return torch.nn.functional.pad(y, (pad, pad))
    n = y.shape[-1]
    if mode == "linear_ramp":
        # numpy ramps from 0 at the outer end to the edge sample.
        up = torch.arange(pad, dtype=y.dtype, device=y.device) / pad
        return torch.cat([y[..., :1] * up, y, y[..., -1:] * up.flip(0)], dim=-1)
    # Edge, reflect and symmetric only move samples: take numpy's own index
    # map (which also handles pads longer than the signal) and gather.
    index = np.pad(np.arange(n), (pad, pad), mode=mode)
    return y[..., torch.from_numpy(index).to(y.device)]


def _power(spectrum: torch.Tensor, power: float) -> torch.Tensor:
    """``|X| ** power`` with finite gradients where ``X == 0``."""
    mag2 = spectrum.real.square() + spectrum.imag.square()
    if power == 2.0:
        return mag2
    # d/dx x**(p/2) is infinite at 0 for p < 2: route zeros around the power
    # so that the gradient of a silent frame is 0, not NaN.
    positive = mag2 > 0
    safe = torch.where(positive, mag2, torch.ones_like(mag2))
    return torch.where(positive, safe ** (power / 2), torch.zeros_like(mag2))


def _stft_power(
    y: torch.Tensor, *, n_fft: int, hop_length: int, win_length: int, window: str, center: bool, pad_mode: str,
    power: float,
) -> torch.Tensor:
    """``|STFT(y)| ** power``, shaped (..., frames, 1 + n_fft // 2).

    librosa's arithmetic: pad ``n_fft // 2`` on both sides when centred,
    frame with ``hop_length``, multiply by the window zero-padded to
    ``n_fft``, real FFT of size ``n_fft``. Framing with `unfold` and one
    batched `rfft` is 3x faster on a CPU than `torch.stft` (which also
    cannot take more than one batch axis), and gives the frames-first
    layout the mel and DCT products want.
    """
    n = y.shape[-1]
    if not center and n < n_fft:
        raise ValueError(
            f"n_fft={n_fft} is too large for uncentred (center=False) analysis of a signal "
            f"of {n} samples; use center=True or a smaller n_fft"
        )
    win = _constant("window", (window, win_length, n_fft), _device(y), y.dtype)
    if center:
        y = _pad_centre(y, n_fft // 2, pad_mode)
    frames = y.unfold(-1, n_fft, hop_length)  # (..., frames, n_fft), a view
    return _power(torch.fft.rfft(frames * win, dim=-1), power)


def _mel_args(sr: float, n_mels: int, fmin: float, fmax: float | None, htk: bool, norm: str | float | None) -> tuple:
    """Hashable filterbank configuration; validated by `filterbanks.mel_filterbank`."""
    return (sr, _check_positive_int("n_mels", n_mels), fmin, fmax, htk, norm)


def _mel_power_last(y: torch.Tensor, sr: float, n_fft: int, mel: tuple, **stft: object) -> torch.Tensor:
    """Mel power spectrogram (..., frames, n_mels)."""
    sr, n_mels, fmin, fmax, htk, norm = mel
    mel_t = _constant("mel_t", (sr, n_fft, n_mels, fmin, fmax, htk, norm), _device(y), y.dtype)
    return torch.matmul(_stft_power(y, n_fft=n_fft, **stft), mel_t)


def spectrogram(
    y: torch.Tensor | np.ndarray,
    n_fft: int = 2048,
    hop_length: int | None = None,
    win_length: int | None = None,
    window: str = "hann",
    center: bool = True,
    pad_mode: str = "constant",
    power: float = 2.0,
    layout: Layout = "features_first",
) -> torch.Tensor:
    """Magnitude (``power=1``) or power (``power=2``) spectrogram: ``|STFT(y)| ** power``.

    Equal to ``np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop_length,
    win_length=win_length, window=window, center=center,
    pad_mode=pad_mode)) ** power``.

    Parameters
    ----------
    y : torch.Tensor or np.ndarray [shape=(..., n)], floating point
        Audio, any number of leading batch axes, on any device.
    n_fft : int > 0
        FFT size (frame length).
    hop_length : int > 0 or None
        Samples between frames; ``None`` means ``win_length // 4``.
    win_length : int in [1, n_fft] or None
        Window length; the window is zero-padded around the centre to
        ``n_fft``. ``None`` means ``n_fft``.
    window : str
        ``"hann"``, ``"hamming"``, ``"blackman"`` or ``"boxcar"`` (periodic,
        as librosa builds them).
    center : bool
        Pad ``n_fft // 2`` samples on both sides so frame ``t`` is centred
        on sample ``t * hop_length``.
    pad_mode : str
        Padding for ``center=True``: ``"constant"`` (zeros, librosa's
        default), ``"edge"``, ``"linear_ramp"``, ``"reflect"`` or ``"symmetric"``.
    power : float > 0
        Exponent of the magnitude.
    layout : {"features_first", "features_last"}
        Output ``(..., 1 + n_fft // 2, frames)`` (librosa's) or
        ``(..., frames, 1 + n_fft // 2)``.

    Returns
    -------
    S : torch.Tensor [shape=(..., 1 + n_fft // 2, frames)], on ``y``'s device
        ``frames`` is :func:`audiodecode.filterbanks.frame_count`.

    Raises
    ------
    ValueError
        ``y`` is a scalar, empty or not floating point; a size is not a
        positive integer; ``win_length > n_fft``; an unknown ``window``,
        ``pad_mode`` or ``layout``; ``n_fft`` longer than ``y`` with
        ``center=False``.
    """
    n_fft, hop_length, win_length = _validated_stft_args(n_fft, hop_length, win_length, window, pad_mode, power, layout)
    y = _check_audio(y)
    S = _stft_power(y, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center,
                    pad_mode=pad_mode, power=float(power))
    return _finish(S, layout)


def melspectrogram(
    y: torch.Tensor | np.ndarray,
    sr: float = 22050,
    n_fft: int = 2048,
    hop_length: int = 512,
    win_length: int | None = None,
    window: str = "hann",
    center: bool = True,
    pad_mode: str = "constant",
    power: float = 2.0,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: str | float | None = "slaney",
    layout: Layout = "features_first",
) -> torch.Tensor:
    """Mel-scaled spectrogram, as ``librosa.feature.melspectrogram``.

    The power spectrogram (see :func:`spectrogram`) projected onto
    ``audiodecode.filterbanks.mel_filterbank(sr=sr, n_fft=n_fft, n_mels=n_mels,
    fmin=fmin, fmax=fmax, htk=htk, norm=norm)``.

    Parameters
    ----------
    y : torch.Tensor or np.ndarray [shape=(..., n)], floating point
        Audio.
    sr : float > 0
        Sampling rate of ``y``.
    n_fft, hop_length, win_length, window, center, pad_mode, power
        As for :func:`spectrogram`, except that ``hop_length`` defaults to 512.
    n_mels : int > 0
        Number of mel bands.
    fmin, fmax : float
        Band edges in Hz; ``fmax=None`` means ``sr / 2``.
    htk : bool
        HTK's mel formula instead of Slaney's.
    norm : {"slaney", None} or float > 0
        Filter normalization, as in ``librosa.filters.mel``.
    layout : {"features_first", "features_last"}
        ``(..., n_mels, frames)`` or ``(..., frames, n_mels)``.

    Returns
    -------
    S : torch.Tensor [shape=(..., n_mels, frames)]

    Raises
    ------
    ValueError
        As :func:`spectrogram`, and for an invalid mel configuration
        (``sr <= 0``, ``n_mels <= 0``, ``fmin`` outside ``[0, fmax)``).
    """
    n_fft, hop_length, win_length = _validated_stft_args(n_fft, hop_length, win_length, window, pad_mode, power, layout)
    y = _check_audio(y)
    S = _mel_power_last(
        y, sr, n_fft, _mel_args(sr, n_mels, fmin, fmax, htk, norm), hop_length=hop_length, win_length=win_length,
        window=window, center=center, pad_mode=pad_mode, power=float(power),
    )
    return _finish(S, layout)


# --------------------------------------------------------------------------
# Decibels
# --------------------------------------------------------------------------


def _amax(S: torch.Tensor, dim: tuple[int, ...], keepdim: bool) -> torch.Tensor:
    return torch.amax(S, dim=dim, keepdim=keepdim)


def _mean(S: torch.Tensor, dim: tuple[int, ...], keepdim: bool) -> torch.Tensor:
    return torch.mean(S, dim=dim, keepdim=keepdim)


def _median(S: torch.Tensor, dim: tuple[int, ...], keepdim: bool) -> torch.Tensor:
    # np.median averages the two middle values of an even count, as
    # quantile(0.5) does; torch.median would return the lower one.
    moved = S.movedim(dim, tuple(range(S.ndim - len(dim), S.ndim)))
    flat = moved.reshape(*moved.shape[: S.ndim - len(dim)], -1)
    out = torch.quantile(flat, 0.5, dim=-1)
    if keepdim:
        out = out.reshape(*out.shape, *([1] * len(dim)))
        out = out.movedim(tuple(range(S.ndim - len(dim), S.ndim)), dim)
    return out


# librosa examples pass ref=np.max; torch users may pass torch.max.
_REDUCTIONS: dict[Callable[..., object], Callable[..., torch.Tensor]] = {
    np.max: _amax,
    np.amax: _amax,
    torch.max: _amax,
    torch.amax: _amax,
    np.mean: _mean,
    torch.mean: _mean,
    np.median: _median,
    torch.median: _median,
}


def power_to_db(
    S: torch.Tensor | np.ndarray,
    ref: float | Callable[..., torch.Tensor] = 1.0,
    amin: float = 1e-10,
    top_db: float | None = 80.0,
    per_example: bool = True,
) -> torch.Tensor:
    """Power to decibels: ``10 log10(max(amin, S)) - 10 log10(max(amin, ref))``, floored at ``max - top_db``.

    Element-wise like ``librosa.power_to_db`` except for the two reductions,
    ``ref`` as a function and the ``top_db`` floor, whose scope
    ``per_example`` chooses:

    - ``per_example=True`` (default): over the last two axes, each
      ``(features, frames)`` matrix of a batch on its own. This equals
      librosa on each clip separately, which is what training features
      need (one loud clip must not change a quiet clip's features).
    - ``per_example=False``: over the whole tensor, like one librosa call
      on the whole batch.

    Parameters
    ----------
    S : torch.Tensor [shape=(..., n_features, frames)] or (..., frames, n_features)
        Non-negative power values; the reductions cover both of the last
        two axes, so either layout works.
    ref : float or callable
        Reference power for 0 dB. ``np.max``/``torch.max``/``torch.amax``,
        ``np.mean``/``torch.mean`` and ``np.median``/``torch.median`` are
        understood; any other callable is called as ``ref(S, dim=dims,
        keepdim=True)`` like ``torch.amax``.
    amin : float > 0
        Floor on ``S`` and ``ref`` before the logarithm.
    top_db : float >= 0 or None
        Clip everything more than ``top_db`` below the maximum; ``None``
        disables the clip.
    per_example : bool
        Scope of the ``ref`` and ``top_db`` maxima, see above.

    Returns
    -------
    S_db : torch.Tensor, same shape as ``S``

    Raises
    ------
    ValueError
        ``amin <= 0``, ``top_db < 0``, or ``S`` complex or not floating point.
    """
    if not amin > 0:
        raise ValueError(f"amin={amin!r} must be strictly positive")
    if top_db is not None and not top_db >= 0:
        raise ValueError(f"top_db={top_db!r} must be non-negative or None")
    S = torch.as_tensor(S)
    if not S.is_floating_point():
        raise ValueError(f"S must be a real floating-point power spectrogram, got dtype {S.dtype}")
    dims = tuple(range(max(0, S.ndim - 2), S.ndim)) if per_example else tuple(range(S.ndim))
    log_spec = 10.0 * torch.log10(torch.clamp(S, min=amin))
    if callable(ref):
        reduce = _REDUCTIONS.get(ref)
        ref_value = reduce(S, dims, True) if reduce is not None else ref(S, dim=dims, keepdim=True)
        log_spec = log_spec - 10.0 * torch.log10(torch.clamp(torch.abs(ref_value), min=amin))
    else:
        log_spec = log_spec - 10.0 * math.log10(max(amin, abs(ref)))
    if top_db is not None:
        log_spec = torch.maximum(log_spec, torch.amax(log_spec, dim=dims, keepdim=True) - top_db)
    return log_spec


def log_mel(
    y: torch.Tensor | np.ndarray,
    sr: float = 22050,
    n_fft: int = 2048,
    hop_length: int = 512,
    win_length: int | None = None,
    window: str = "hann",
    center: bool = True,
    pad_mode: str = "constant",
    power: float = 2.0,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: str | float | None = "slaney",
    ref: float | Callable[..., torch.Tensor] = 1.0,
    amin: float = 1e-10,
    top_db: float | None = 80.0,
    per_example: bool = True,
    layout: Layout = "features_first",
) -> torch.Tensor:
    """Log-mel spectrogram in dB: ``power_to_db(melspectrogram(y, ...), ...)``.

    Equal to ``librosa.power_to_db(librosa.feature.melspectrogram(y=y,
    ...), ref=ref, amin=amin, top_db=top_db)`` per clip (or on the whole
    batch with ``per_example=False``).

    Parameters
    ----------
    y : torch.Tensor or np.ndarray [shape=(..., n)], floating point
        Audio.
    sr, n_fft, hop_length, win_length, window, center, pad_mode, power, n_mels, fmin, fmax, htk, norm
        As for :func:`melspectrogram`.
    ref, amin, top_db, per_example
        As for :func:`power_to_db`.
    layout : {"features_first", "features_last"}
        ``(..., n_mels, frames)`` or ``(..., frames, n_mels)``.

    Returns
    -------
    S_db : torch.Tensor [shape=(..., n_mels, frames)]
    """
    S = melspectrogram(
        y, sr=sr, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center,
        pad_mode=pad_mode, power=power, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm, layout=layout,
    )
    return power_to_db(S, ref=ref, amin=amin, top_db=top_db, per_example=per_example)


def mfcc(
    y: torch.Tensor | np.ndarray,
    sr: float = 22050,
    n_mfcc: int = 20,
    dct_type: int = 2,
    norm: str | None = "ortho",
    lifter: float = 0,
    mel_norm: str | float | None = "slaney",
    n_fft: int = 2048,
    hop_length: int = 512,
    win_length: int | None = None,
    window: str = "hann",
    center: bool = True,
    pad_mode: str = "constant",
    power: float = 2.0,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    top_db: float | None = 80.0,
    per_example: bool = True,
    layout: Layout = "features_first",
) -> torch.Tensor:
    """Mel-frequency cepstral coefficients, as ``librosa.feature.mfcc``.

    The DCT of :func:`log_mel` (``ref=1.0``, ``amin=1e-10``) along the mel
    axis, keeping the first ``n_mfcc`` coefficients, optionally liftered.
    As in librosa, ``norm`` is the DCT's normalization and ``mel_norm`` the
    filterbank's.

    Parameters
    ----------
    y : torch.Tensor or np.ndarray [shape=(..., n)], floating point
        Audio.
    sr : float > 0
        Sampling rate of ``y``.
    n_mfcc : int in [1, n_mels]
        Number of coefficients.
    dct_type : {1, 2, 3}
        DCT type; 2 is the usual choice, 3 is HTK's.
    norm : {"ortho", None}
        DCT normalization.
    lifter : float >= 0
        Cepstral liftering ``1 + (lifter / 2) sin(pi (k + 1) / lifter)``
        on coefficient k; 0 disables it.
    mel_norm : {"slaney", None} or float > 0
        Mel filterbank normalization (``norm`` of :func:`melspectrogram`).
    n_fft, hop_length, win_length, window, center, pad_mode, power, n_mels, fmin, fmax, htk
        As for :func:`melspectrogram`.
    top_db, per_example
        As for :func:`power_to_db`. librosa always uses ``top_db=80``.
    layout : {"features_first", "features_last"}
        ``(..., n_mfcc, frames)`` or ``(..., frames, n_mfcc)``.

    Returns
    -------
    M : torch.Tensor [shape=(..., n_mfcc, frames)]

    Raises
    ------
    ValueError
        As :func:`melspectrogram`, and for ``n_mfcc`` outside ``[1, n_mels]``,
        an unknown ``dct_type`` or ``norm``, or ``lifter < 0``.
    """
    if isinstance(lifter, bool) or not isinstance(lifter, (int, float)) or lifter < 0:
        raise ValueError(f"lifter={lifter!r} must be a non-negative number")
    n_mfcc = _check_positive_int("n_mfcc", n_mfcc)
    n_mels = _check_positive_int("n_mels", n_mels)
    # Validates n_mfcc against n_mels, dct_type and norm before any work.
    filterbanks.dct_matrix(n_mfcc, n_mels, dct_type, norm)
    S_db = log_mel(
        y, sr=sr, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center,
        pad_mode=pad_mode, power=power, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=mel_norm,
        top_db=top_db, per_example=per_example, layout="features_last",
    )
    # Features-last, so the DCT contracts the last axis.
    M = torch.matmul(S_db, _constant("dct_t", (n_mfcc, n_mels, dct_type, norm), _device(S_db), S_db.dtype))
    if lifter > 0:
        M = M * _constant("lifter", (float(lifter), n_mfcc), _device(M), M.dtype)
    return _finish(M, layout)
