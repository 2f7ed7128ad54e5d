"""SpecAugment frequency and time masking (Park et al., 2019) on device."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from audiodecode._typing import LAYOUTS, Layout

__all__ = ["spec_augment"]


def _check_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name}={value!r} must be a non-negative integer")
    return int(value)


def _band_mask(
    key: jax.Array, batch_shape: tuple[int, ...], size: int, max_width: int, count: int, valid: jax.Array | None = None
) -> jax.Array:
    """``count`` random bands per example along an axis of ``size``: a bool mask (*batch_shape, size).

    Each band's width is uniform in ``[0, min(max_width, n)]`` and its
    start uniform over the positions where it fits, where ``n`` is ``size``
    or, given ``valid`` (*batch_shape,), each example's valid length: bands
    never run past the valid part, and every valid position can be masked.
    """
    width_key, start_key = jax.random.split(key)
    shape = (*batch_shape, count)
    n = size if valid is None else jnp.clip(jnp.asarray(valid), 0, size)[..., None]
    width = jax.random.randint(width_key, shape, 0, jnp.minimum(max_width, n) + 1)
    # randint's maxval can be an array: start in [0, n - width].
    start = jax.random.randint(start_key, shape, 0, n - width + 1)
    position = jnp.arange(size)
    inside = (position >= start[..., None]) & (position < (start + width)[..., None])
    return inside.any(axis=-2)


@functools.partial(
    jax.jit, static_argnames=("freq_mask_param", "time_mask_param", "num_freq_masks", "num_time_masks", "layout")
)
def spec_augment(
    key: jax.Array,
    features: jax.Array,
    freq_mask_param: int,
    time_mask_param: int,
    num_freq_masks: int = 1,
    num_time_masks: int = 1,
    mask_value: float | jax.Array = 0.0,
    layout: Layout = "features_first",
    lengths: jax.Array | None = None,
) -> jax.Array:
    """Mask random frequency bands and time spans of each example, as in SpecAugment.

    Every example (each ``(features, frames)`` matrix of the batch) draws its
    own masks: ``num_freq_masks`` bands of width uniform in
    ``[0, freq_mask_param]`` across the feature axis and ``num_time_masks``
    spans of width uniform in ``[0, time_mask_param]`` across the frame axis
    (widths are capped at the axis length), each at a uniformly random
    position where it fits. Masked entries become ``mask_value``. Masks may
    overlap. The same ``key`` gives the same masks; split a new key per step.

    Parameters
    ----------
    key : jax.Array
        A PRNG key (``jax.random.key`` or ``jax.random.PRNGKey``).
    features : jax.Array [shape=(..., n_features, frames)] or [shape=(..., frames, n_features)]
        Log-mel features or MFCCs; the leading axes are batch axes.
    freq_mask_param : int >= 0
        Largest frequency mask width (SpecAugment's F).
    time_mask_param : int >= 0
        Largest time mask width (SpecAugment's T).
    num_freq_masks, num_time_masks : int >= 0
        Masks per example along each axis (SpecAugment's m_F and m_T).
    mask_value : float or jax.Array
        Value written into masked entries; traced, so e.g. a per-batch mean
        does not recompile. Must broadcast against ``features``.
    layout : {"features_first", "features_last"}
        Which of the last two axes is the feature axis, as for the feature
        functions.
    lengths : jax.Array [shape=(...)], int, optional
        Each example's valid frames (a loader batch's ``"feature_length"``):
        time masks are drawn inside them (widths capped at the valid
        length), never over the padding, so a short utterance in a long
        bucket is masked in the same proportion as a long one.

    Returns
    -------
    augmented : jax.Array, same shape and dtype as ``features``

    Raises
    ------
    ValueError
        At trace time: ``features`` has fewer than two axes, a mask parameter
        or count is negative or not an integer, or ``layout`` is unknown.
    """
    features = jnp.asarray(features)
    if features.ndim < 2:
        raise ValueError(f"features must be shaped (..., n_features, frames); got shape {features.shape}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r}: expected one of {LAYOUTS}")
    freq_mask_param = _check_count("freq_mask_param", freq_mask_param)
    time_mask_param = _check_count("time_mask_param", time_mask_param)
    num_freq_masks = _check_count("num_freq_masks", num_freq_masks)
    num_time_masks = _check_count("num_time_masks", num_time_masks)

    freq_axis, time_axis = (-2, -1) if layout == "features_first" else (-1, -2)
    batch_shape = features.shape[:-2]
    freq_key, time_key = jax.random.split(key)
    freq = _band_mask(freq_key, batch_shape, features.shape[freq_axis], freq_mask_param, num_freq_masks)
    time = _band_mask(time_key, batch_shape, features.shape[time_axis], time_mask_param, num_time_masks, lengths)
    # Broadcast (..., F) and (..., T) masks over the (..., F, T) or (..., T, F) matrix.
    masked = jnp.expand_dims(freq, time_axis) | jnp.expand_dims(time, freq_axis)
    return jnp.where(masked, jnp.asarray(mask_value, dtype=features.dtype), features)
