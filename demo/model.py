"""A compact 1-D CNN over MFCC frames, and its jitted train and eval steps."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import nnx


def _valid(frames: jax.Array, length: int) -> jax.Array:
    """(batch, length) mask of the frames that hold audio, not padding."""
    return jnp.arange(length)[None, :] < frames[:, None]


def _masked_mean(x: jax.Array, mask: jax.Array) -> jax.Array:
    """Mean over time (axis 1) of the valid frames; x (batch, time, channels)."""
    weights = mask[..., None].astype(x.dtype)
    return (x * weights).sum(1) / jnp.maximum(weights.sum(1), 1.0)


class AudioCNN(nnx.Module):
    """Three strided 1-D convolutions over time, masked mean pooling, a
    linear classifier.

    Input features are (batch, frames, n_features) (`layout="features_last"`)
    with the number of valid frames per row; padding frames are ignored by
    the normalization and the pooling, so padded short clips and full ones
    look alike.
    """

    def __init__(self, n_features: int, n_classes: int, *, width: int = 64, rngs: nnx.Rngs) -> None:
        self.convs = nnx.List([
            nnx.Conv(n_features, width, kernel_size=5, rngs=rngs),
            nnx.Conv(width, width, kernel_size=5, strides=2, rngs=rngs),
            nnx.Conv(width, 2 * width, kernel_size=3, strides=2, rngs=rngs),
        ])
        self.norms = nnx.List([nnx.LayerNorm(c.out_features, rngs=rngs) for c in self.convs])
        self.head = nnx.Linear(2 * width, n_classes, rngs=rngs)

    def __call__(self, x: jax.Array, frames: jax.Array) -> jax.Array:
        """Logits (batch, n_classes) of features x (batch, time, n_features)."""
        mask = _valid(frames, x.shape[1])
        # Per-example cepstral mean and variance normalization over the
        # valid frames: loudness and channel differences drop out.
        mean = _masked_mean(x, mask)[:, None]
        std = jnp.sqrt(_masked_mean((x - mean) ** 2, mask))[:, None]
        x = jnp.where(mask[..., None], (x - mean) / (std + 1e-5), 0.0)
        for conv, norm in zip(self.convs, self.norms):
            x = jax.nn.gelu(norm(conv(x)))
            stride = conv.strides if isinstance(conv.strides, int) else conv.strides[0]
            frames = -(-frames // stride)
        return self.head(_masked_mean(x, _valid(frames, x.shape[1])))


def _loss(model: AudioCNN, x: jax.Array, frames: jax.Array, labels: jax.Array) -> tuple[jax.Array, jax.Array]:
    logits = model(x, frames)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), logits


@nnx.jit
def train_step(
    model: AudioCNN, optimizer: nnx.Optimizer, x: jax.Array, frames: jax.Array, labels: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """One Adam step; returns the batch's loss and accuracy (device scalars)."""
    (loss, logits), grads = nnx.value_and_grad(_loss, has_aux=True)(model, x, frames, labels)
    optimizer.update(model, grads)
    return loss, (logits.argmax(-1) == labels).mean()


@nnx.jit
def eval_step(model: AudioCNN, x: jax.Array, frames: jax.Array, labels: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Correct predictions and examples in a batch (device scalars)."""
    logits = model(x, frames)
    return (logits.argmax(-1) == labels).sum(), jnp.asarray(labels.shape[0])
