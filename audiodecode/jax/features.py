"""Spectrograms, mel features and MFCCs as pure, jitted JAX functions.

Each function takes audio shaped ``(..., n)`` (any number of leading batch
axes) and mirrors the librosa function of the same name: same parameter
names, same defaults, same numbers (to float32 rounding). They compose with
``jax.jit``, ``jax.vmap``, ``jax.grad`` and sharded inputs, so they can run
inside a training step on the accelerator::

    from audiodecode.jax import mfcc
    feats = mfcc(batch, sr=16000, n_mfcc=40, n_fft=512, hop_length=160, n_mels=64)

Configuration arguments (sizes, window, sample rate, ...) are static: each
new configuration or input shape traces and compiles once (about 0.2-1 s),
after which new data of the same shape reuses the compiled code. The
constant matrices (window, mel filterbank, DCT) come from
:mod:`audiodecode.filterbanks` and are embedded in the compiled program.

Layout
------
Outputs are ``(..., n_features, frames)`` like librosa's. Pass
``layout="features_last"`` to get ``(..., frames, n_features)`` instead,
the ``(batch, length, channels)`` layout that Flax's ``nn.Conv`` and
attention layers expect; it is computed in that order directly, not
transposed afterwards.

Precision
---------
Matrix products use ``jax.lax.Precision.HIGHEST`` so that TPUs and GPUs do
not silently reduce float32 matmuls to bfloat16/TF32. Inputs in a narrower
float type (bfloat16, float16) are computed in float32.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from audiodecode import filterbanks
from audiodecode._typing import LAYOUTS, Layout

__all__ = ["log_mel", "melspectrogram", "mfcc", "power_to_db", "spectrogram"]

# Padding modes librosa.stft accepts for center=True, minus "empty" (undefined values).
PAD_MODES = ("constant", "edge", "linear_ramp", "reflect", "symmetric")
_HIGHEST = jax.lax.Precision.HIGHEST
# On a CPU the STFT is memory-bound: the frames and their spectra do not fit
# in cache for a batch of long clips. Working through the frames in chunks of
# about this many bytes of frames keeps them cached (32 x 10 s at n_fft=512:
# 80 ms -> 45 ms on a 2-core EPYC). Accelerators get the single-pass form.
_CPU_CHUNK_BYTES = 1 << 21

_STFT_STATIC = ("n_fft", "hop_length", "win_length", "window", "center", "pad_mode", "power", "layout")
_MEL_STATIC = ("sr", *_STFT_STATIC, "n_mels", "fmin", "fmax", "htk", "norm")
_DB_STATIC = ("ref", "amin", "top_db", "per_example")


# --------------------------------------------------------------------------
# Validation (runs at trace time, on static values and shapes)
# --------------------------------------------------------------------------


def _check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name}={value!r} must be a positive integer")
    return int(value)


def _check_audio(y: jax.Array) -> jax.Array:
    y = jnp.asarray(y)
    if y.ndim == 0:
        raise ValueError("y must have at least one axis, shaped (..., n); got a scalar")
    if not jnp.issubdtype(y.dtype, jnp.floating):
        raise ValueError(f"y must be floating-point audio, got dtype {y.dtype}")
    if y.shape[-1] == 0:
        raise ValueError(f"y has no samples: shape {y.shape}")
    # FFTs need at least single precision.
    return y.astype(jnp.promote_types(y.dtype, jnp.float32))


def _check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r}: expected one of {LAYOUTS}")


def _finish(features_last: jax.Array, layout: str) -> jax.Array:
    """Computed as (..., frames, features); librosa's layout swaps the last two axes."""
    return features_last if layout == "features_last" else jnp.swapaxes(features_last, -1, -2)


# --------------------------------------------------------------------------
# STFT
# --------------------------------------------------------------------------


def _power(spectrum: jax.Array, power: float) -> jax.Array:
    """``|X| ** power`` with finite gradients where ``X == 0``."""
    mag2 = spectrum.real**2 + spectrum.imag**2
    if power == 2.0:
        return mag2
    # d/dx x**(p/2) is infinite at 0 for p < 2: route zeros around the power
    # so that grad of silent frames is 0, not NaN.
    positive = mag2 > 0
    safe = jnp.where(positive, mag2, 1.0)
    return jnp.where(positive, safe ** (power / 2), 0.0)


def _stft_features(
    y: jax.Array,
    *,
    n_fft: int,
    hop_length: int,
    win_length: int,
    window: str,
    center: bool,
    pad_mode: str,
    power: float,
    project: np.ndarray | None,
) -> jax.Array:
    """``|STFT(y)| ** power`` (times ``project``, (n_freq, k), if given), shaped (..., frames, k).

    The arithmetic is librosa's: pad ``n_fft // 2`` on both sides when
    centred, frame with ``hop_length``, multiply by the zero-padded window,
    real FFT of size ``n_fft``.
    """
    n = y.shape[-1]
    n_frames = filterbanks.frame_count(n, n_fft, hop_length, center)
    win = jnp.asarray(filterbanks.get_window(window, win_length, n_fft), dtype=y.dtype)
    proj = None if project is None else jnp.asarray(project, dtype=y.dtype)

    def frames_to_features(segment: jax.Array, count: int) -> jax.Array:
        # Frame t is segment[t * hop : t * hop + n_fft]; a gather with
        # constant indices (cheaper on CPU than strided slices or a conv).
        index = np.arange(n_fft)[None, :] + hop_length * np.arange(count)[:, None]
        spectrum = jnp.fft.rfft(segment[..., index] * win, axis=-1)
        features = _power(spectrum, power)
        if proj is not None:
            features = jnp.matmul(features, proj, precision=_HIGHEST)
        return features

    pad = n_fft // 2 if center else 0
    batch_pad = [(0, 0)] * (y.ndim - 1)
    rows = math.prod(y.shape[:-1])
    chunk = max(1, _CPU_CHUNK_BYTES // (rows * n_fft * y.dtype.itemsize))
    if pad:
        y = jnp.pad(y, [*batch_pad, (pad, pad)], mode=pad_mode)
    if jax.default_backend() != "cpu" or chunk >= n_frames:
        return frames_to_features(y, n_frames)

    # CPU: `chunk` frames at a time. Chunk c covers samples
    # [c * chunk * hop, c * chunk * hop + segment); the last chunk runs past
    # the signal into zeros, and the frames computed from them are dropped.
    n_chunks = -(-n_frames // chunk)
    segment = (chunk - 1) * hop_length + n_fft
    total = (n_chunks - 1) * chunk * hop_length + segment
    y = jnp.pad(y, [*batch_pad, (0, max(0, total - y.shape[-1]))])

    def one_chunk(c: jax.Array) -> jax.Array:
        start = c * (chunk * hop_length)
        return frames_to_features(jax.lax.dynamic_slice_in_dim(y, start, segment, axis=-1), chunk)

    out = jax.lax.map(one_chunk, jnp.arange(n_chunks))  # (n_chunks, ..., chunk, k)
    out = jnp.moveaxis(out, 0, -3)
    out = out.reshape(*out.shape[:-3], n_chunks * chunk, out.shape[-1])
    return out[..., :n_frames, :]


def _validated_stft_args(
    n_fft: int,
    hop_length: int | None,
    win_length: int | None,
    window: str,
    pad_mode: str,
    power: float,
    layout: str,
) -> tuple[int, int, int]:
    n_fft = _check_positive_int("n_fft", n_fft)
    win_length = n_fft if win_length is None else _check_positive_int("win_length", win_length)
    if win_length > n_fft:
        raise ValueError(f"win_length={win_length} must be at most n_fft={n_fft}")
    # librosa.stft's default hop: a quarter of the window.
    hop_length = win_length // 4 if hop_length is None else hop_length
    hop_length = _check_positive_int("hop_length", hop_length)
    if not isinstance(window, str) or window not in filterbanks.WINDOWS:
        raise ValueError(f"window={window!r}: expected one of {sorted(filterbanks.WINDOWS)}")
    if pad_mode not in PAD_MODES:
        raise ValueError(f"pad_mode={pad_mode!r}: expected one of {PAD_MODES}")
    if isinstance(power, bool) or not isinstance(power, (int, float)) or not power > 0:
        raise ValueError(f"power={power!r} must be a positive number")
    _check_layout(layout)
    return n_fft, hop_length, win_length


def _check_length(y: jax.Array, n_fft: int, center: bool) -> None:
    if not center and y.shape[-1] < n_fft:
        raise ValueError(
            f"n_fft={n_fft} is too large for uncentred (center=False) analysis of a signal "
            f"of {y.shape[-1]} samples; use center=True or a smaller n_fft"
        )


@functools.partial(jax.jit, static_argnames=_STFT_STATIC)
def spectrogram(
    y: jax.Array,
    n_fft: int = 2048,
    hop_length: int | None = None,
    win_length: int | None = None,
    window: str = "hann",
    center: bool = True,
    pad_mode: str = "constant",
    power: float = 2.0,
    layout: Layout = "features_first",
) -> jax.Array:
    """Magnitude (``power=1``) or power (``power=2``) spectrogram: ``|STFT(y)| ** power``.

    Equal to ``np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop_length,
    win_length=win_length, window=window, center=center,
    pad_mode=pad_mode)) ** power``.

    Parameters
    ----------
    y : jax.Array [shape=(..., n)], floating point
        Audio, any number of leading batch axes.
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
    S : jax.Array [shape=(..., 1 + n_fft // 2, frames)]
        ``frames = 1 + n // hop_length`` when centred (even ``n_fft``),
        ``1 + (n - n_fft) // hop_length`` otherwise
        (:func:`audiodecode.filterbanks.frame_count`).

    Raises
    ------
    ValueError
        At trace time: ``y`` is a scalar, empty or not floating point; a size
        is not a positive integer; ``win_length > n_fft``; an unknown
        ``window``, ``pad_mode`` or ``layout``; ``n_fft`` longer than ``y``
        with ``center=False``.
    """
    n_fft, hop_length, win_length = _validated_stft_args(n_fft, hop_length, win_length, window, pad_mode, power, layout)
    y = _check_audio(y)
    _check_length(y, n_fft, center)
    S = _stft_features(
        y, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
        center=center, pad_mode=pad_mode, power=float(power), project=None,
    )  # fmt: skip
    return _finish(S, layout)


@functools.partial(jax.jit, static_argnames=_MEL_STATIC)
def melspectrogram(
    y: jax.Array,
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
) -> jax.Array:
    """Mel-scaled spectrogram, as ``librosa.feature.melspectrogram``.

    The power spectrogram (see :func:`spectrogram`) projected onto
    ``audiodecode.filterbanks.mel_filterbank(sr=sr, n_fft=n_fft, n_mels=n_mels,
    fmin=fmin, fmax=fmax, htk=htk, norm=norm)``.

    Parameters
    ----------
    y : jax.Array [shape=(..., n)], floating point
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
    S : jax.Array [shape=(..., n_mels, frames)]

    Raises
    ------
    ValueError
        As :func:`spectrogram`, and for an invalid mel configuration
        (``sr <= 0``, ``n_mels <= 0``, ``fmin`` outside ``[0, fmax)``).
    """
    n_fft, hop_length, win_length = _validated_stft_args(n_fft, hop_length, win_length, window, pad_mode, power, layout)
    y = _check_audio(y)
    _check_length(y, n_fft, center)
    mel_basis = filterbanks.mel_filterbank(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm)
    S = _stft_features(
        y, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
        center=center, pad_mode=pad_mode, power=float(power), project=mel_basis.T,
    )  # fmt: skip
    return _finish(S, layout)


# --------------------------------------------------------------------------
# Decibels
# --------------------------------------------------------------------------

# librosa examples pass ref=np.max, which cannot reduce a tracer.
_NUMPY_TO_JAX_REDUCTIONS: dict[Callable[..., object], Callable[..., jax.Array]] = {
    np.max: jnp.max,
    np.amax: jnp.max,
    np.mean: jnp.mean,
    np.median: jnp.median,
}


@functools.partial(jax.jit, static_argnames=_DB_STATIC)
def power_to_db(
    S: jax.Array,
    ref: float | Callable[..., jax.Array] = 1.0,
    amin: float = 1e-10,
    top_db: float | None = 80.0,
    per_example: bool = True,
) -> jax.Array:
    """Power to decibels: ``10 log10(max(amin, S)) - 10 log10(max(amin, ref))``, floored at ``max - top_db``.

    Element-wise like ``librosa.power_to_db`` except for the two reductions,
    ``ref`` as a function and the ``top_db`` floor, whose scope
    ``per_example`` chooses:

    - ``per_example=True`` (default): over the last two axes, i.e. each
      ``(features, frames)`` matrix of a batch on its own. This equals
      calling librosa on each clip separately, which is what features for
      training need (one loud clip must not change a quiet clip's features).
    - ``per_example=False``: over the whole array, which equals one librosa
      call on the whole batched array.

    For an input with fewer than two axes the two are the same.

    Parameters
    ----------
    S : jax.Array [shape=(..., n_features, frames)] or (..., frames, n_features)
        Non-negative power values (e.g. from :func:`melspectrogram`); the
        reductions cover both of the last two axes, so either layout works.
    ref : float or callable
        Reference power for 0 dB. A callable (``jnp.max``, or librosa's
        ``np.max``) is applied to ``S`` over the scope above and must take
        ``axis`` and ``keepdims`` like ``jnp.max``.
    amin : float > 0
        Floor on ``S`` and ``ref`` before the logarithm.
    top_db : float >= 0 or None
        Clip everything more than ``top_db`` below the maximum;
        ``None`` disables the clip.
    per_example : bool
        Scope of the ``ref`` and ``top_db`` maxima, see above.

    Returns
    -------
    S_db : jax.Array, same shape as ``S``

    Raises
    ------
    ValueError
        ``amin <= 0``, ``top_db < 0``, or ``S`` complex or not floating point.
    """
    if not amin > 0:
        raise ValueError(f"amin={amin!r} must be strictly positive")
    if top_db is not None and not top_db >= 0:
        raise ValueError(f"top_db={top_db!r} must be non-negative or None")
    S = jnp.asarray(S)
    if not jnp.issubdtype(S.dtype, jnp.floating):
        raise ValueError(f"S must be a real floating-point power spectrogram, got dtype {S.dtype}")
    axes = tuple(range(max(0, S.ndim - 2), S.ndim)) if per_example else None
    log_spec = 10.0 * jnp.log10(jnp.maximum(amin, S))
    if callable(ref):
        ref_fn = _NUMPY_TO_JAX_REDUCTIONS.get(ref, ref)
        ref_value = jnp.abs(ref_fn(S, axis=axes, keepdims=True))
        log_spec = log_spec - 10.0 * jnp.log10(jnp.maximum(amin, ref_value))
    else:
        log_spec = log_spec - 10.0 * math.log10(max(amin, abs(ref)))
    if top_db is not None:
        log_spec = jnp.maximum(log_spec, jnp.max(log_spec, axis=axes, keepdims=True) - top_db)
    return log_spec


@functools.partial(jax.jit, static_argnames=(*_MEL_STATIC, *_DB_STATIC))
def log_mel(
    y: jax.Array,
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
    ref: float | Callable[..., jax.Array] = 1.0,
    amin: float = 1e-10,
    top_db: float | None = 80.0,
    per_example: bool = True,
    layout: Layout = "features_first",
) -> jax.Array:
    """Log-mel spectrogram in dB: ``power_to_db(melspectrogram(y, ...), ...)``.

    Equal to ``librosa.power_to_db(librosa.feature.melspectrogram(y=y,
    ...), ref=ref, amin=amin, top_db=top_db)`` per clip (or on the whole
    batch with ``per_example=False``).

    Parameters
    ----------
    y : jax.Array [shape=(..., n)], floating point
        Audio.
    sr, n_fft, hop_length, win_length, window, center, pad_mode, power, n_mels, fmin, fmax, htk, norm
        As for :func:`melspectrogram`.
    ref, amin, top_db, per_example
        As for :func:`power_to_db`.
    layout : {"features_first", "features_last"}
        ``(..., n_mels, frames)`` or ``(..., frames, n_mels)``.

    Returns
    -------
    S_db : jax.Array [shape=(..., n_mels, frames)]
    """
    S = melspectrogram(
        y, sr=sr, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
        center=center, pad_mode=pad_mode, power=power, n_mels=n_mels, fmin=fmin, fmax=fmax,
        htk=htk, norm=norm, layout=layout,
    )  # fmt: skip
    return power_to_db(S, ref=ref, amin=amin, top_db=top_db, per_example=per_example)


@functools.partial(jax.jit, static_argnames=("n_mfcc", "dct_type", "lifter", "mel_norm", *_MEL_STATIC, "top_db", "per_example"))
def mfcc(
    y: jax.Array,
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
) -> jax.Array:
    """Mel-frequency cepstral coefficients, as ``librosa.feature.mfcc``.

    The DCT of :func:`log_mel` (``ref=1.0``, ``amin=1e-10``) along the mel
    axis, keeping the first ``n_mfcc`` coefficients, optionally liftered.
    As in librosa, ``norm`` is the DCT's normalization and ``mel_norm`` the
    filterbank's.

    Parameters
    ----------
    y : jax.Array [shape=(..., n)], floating point
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
        As for :func:`power_to_db`. librosa always uses ``top_db=80``
        (it has no argument for it).
    layout : {"features_first", "features_last"}
        ``(..., n_mfcc, frames)`` or ``(..., frames, n_mfcc)``.

    Returns
    -------
    M : jax.Array [shape=(..., n_mfcc, frames)]

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
    # Built first: it validates n_mfcc against n_mels, dct_type and norm.
    basis = filterbanks.dct_matrix(n_mfcc, n_mels, dct_type, norm)
    # Computed features-last: the DCT then contracts the last axis.
    S_db = log_mel(
        y, sr=sr, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
        center=center, pad_mode=pad_mode, power=power, n_mels=n_mels, fmin=fmin, fmax=fmax,
        htk=htk, norm=mel_norm, top_db=top_db, per_example=per_example, layout="features_last",
    )  # fmt: skip
    M = jnp.matmul(S_db, jnp.asarray(basis.T, dtype=S_db.dtype), precision=_HIGHEST)
    if lifter > 0:
        lift = 1 + (lifter / 2) * np.sin(np.pi * np.arange(1, 1 + n_mfcc) / lifter)
        M = M * jnp.asarray(lift, dtype=M.dtype)
    return _finish(M, layout)
