"""`python -m demo --task ctc`: speech recognition with CTC on utterances of
any length, fed by `audiodecode.jax.loader(..., batch_by="duration")`.

The corpus is spoken digit sequences ("three one four one five") that
espeak-ng says in several voices and speeds, generated once into
~/.cache/audiodecode/ctc_data with a NeMo manifest. A small convolutional
model learns to spell them character by character with a CTC loss; the
greedy character error rate (CER) on held-out utterances is printed before
and after training, with the padding the duration buckets cost and the
number of batch shapes XLA compiled.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from tqdm import tqdm

import audiodecode
from audiodecode.data.records import audio_files
from audiodecode.data.text import CharVocabulary, ctc_collapse
from audiodecode.jax import loader

SR = 16000
VERSION = 1
DEFAULT_ROOT = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "audiodecode" / "ctc_data"
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
VOICES = ["en-us", "en-gb", "en-gb-scotland", "en-us+f3", "en-gb+m3", "en+f2"]
FEATURES = dict(features="log_mel", n_mels=40, n_fft=400, hop_length=160, layout="features_last")
AUGMENTATIONS = [audiodecode.SpeedPerturbation((0.9, 1.0, 1.1), p=0.5), audiodecode.AddNoise((15.0, 40.0), p=0.5)]


def ensure_corpus(root: Path = DEFAULT_ROOT, utterances: int = 480, seed: int = 0) -> tuple[Path, Path]:
    """The train and validation NeMo manifests of the spoken-digits corpus,
    generated once (about a minute on 2 cores)."""
    folder = root / f"v{VERSION}-{utterances}"
    train, valid = folder / "train.jsonl", folder / "valid.jsonl"
    if train.exists() and valid.exists():
        return train, valid
    (folder / "wav").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(utterances):
        text = " ".join(rng.choice(DIGITS, size=int(rng.integers(1, 8))))
        path = folder / "wav" / f"u{i:04d}.wav"
        voice, speed = VOICES[i % len(VOICES)], int(rng.integers(140, 200))
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text], check=True)
        rows.append({"audio_filepath": f"wav/{path.name}", "text": text, "voice": voice})
    split = int(0.85 * utterances)
    for manifest, part in ((train, rows[:split]), (valid, rows[split:])):
        manifest.write_text("".join(json.dumps(r) + "\n" for r in part))
    return train, valid


class CTCModel(nnx.Module):
    """Log-mel frames -> per-frame character logits: a strided convolution
    (50 frames/s), residual dilated convolutions, a linear output layer."""

    def __init__(self, n_features: int, n_tokens: int, *, width: int = 128, rngs: nnx.Rngs) -> None:
        self.stem = nnx.Conv(n_features, width, kernel_size=5, strides=2, rngs=rngs)
        self.blocks = nnx.List([
            nnx.Conv(width, width, kernel_size=5, kernel_dilation=d, rngs=rngs) for d in (1, 2, 4, 1, 2, 4)
        ])
        self.norms = nnx.List([nnx.LayerNorm(width, rngs=rngs) for _ in range(7)])
        self.out = nnx.Linear(width, n_tokens, rngs=rngs)

    def __call__(self, x: jax.Array, frames: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Logits (batch, frames / 2, n_tokens) and the valid output frames."""
        valid = (jnp.arange(x.shape[1])[None, :] < frames[:, None])[..., None]
        count = jnp.maximum(valid.sum(1, keepdims=True), 1)
        mean = (x * valid).sum(1, keepdims=True) / count
        std = jnp.sqrt((((x - mean) * valid) ** 2).sum(1, keepdims=True) / count)
        x = jnp.where(valid, (x - mean) / (std + 1e-5), 0.0)
        x = jax.nn.gelu(self.norms[0](self.stem(x)))
        for block, norm in zip(self.blocks, self.norms[1:]):
            x = x + jax.nn.gelu(norm(block(x)))
        return self.out(x), -(-frames // 2)


def _ctc_loss(model: CTCModel, feats: jax.Array, frames: jax.Array, tokens: jax.Array, token_length: jax.Array,
              mask: jax.Array) -> jax.Array:
    logits, out_frames = model(feats, frames)
    logit_pad = (jnp.arange(logits.shape[1])[None, :] >= jnp.maximum(out_frames, 1)[:, None]).astype(jnp.float32)
    label_pad = (jnp.arange(tokens.shape[1])[None, :] >= token_length[:, None]).astype(jnp.float32)
    loss = optax.ctc_loss(logits, logit_pad, tokens, label_pad, blank_id=0)
    weights = mask.astype(jnp.float32)
    return (loss * weights).sum() / jnp.maximum(weights.sum(), 1.0)


@nnx.jit
def train_step(model: CTCModel, optimizer: nnx.Optimizer, batch: dict[str, jax.Array]) -> jax.Array:
    """One Adam step on a bucketed batch (masked rows carry no weight)."""
    loss, grads = nnx.value_and_grad(_ctc_loss)(
        model, batch["features"], batch["feature_length"], batch["tokens"], batch["token_length"], batch["mask"]
    )
    optimizer.update(model, grads)
    return loss


@nnx.jit
def greedy(model: CTCModel, feats: jax.Array, frames: jax.Array) -> tuple[jax.Array, jax.Array]:
    logits, out_frames = model(feats, frames)
    return logits.argmax(-1), out_frames


def edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def cer(model: CTCModel, manifest: Path, vocab: CharVocabulary, **loader_kwargs: object) -> float:
    """Greedy-decoded character error rate over a manifest."""
    errors = chars = 0
    with loader(manifest, batch_by="duration", shuffle=False, num_epochs=1, text_transform=vocab, cache=None,
                **FEATURES, **loader_kwargs) as it:  # type: ignore[arg-type]
        for batch in it:
            ids, out_frames = greedy(model, batch["features"], batch["feature_length"])
            ids, out_frames, mask = np.asarray(ids), np.asarray(out_frames), np.asarray(batch["mask"])
            for row, text in zip(np.flatnonzero(mask), it.transcripts(batch)):
                hyp = vocab.decode(ctc_collapse(ids[row, : out_frames[row]]))
                errors, chars = errors + edit_distance(hyp, text), chars + len(text)
    return errors / max(chars, 1)


def run(
    *, steps: int, max_batch_seconds: float, num_buckets: int, seed: int, root: Path = DEFAULT_ROOT,
    utterances: int = 480,
) -> dict:
    """Train for `steps` steps; print CER before and after, padding share and compiled shapes."""
    print(f"generating the spoken-digits corpus under {root} (first run only)...", flush=True)
    train_manifest, valid_manifest = ensure_corpus(root, utterances)
    files = audio_files(train_manifest)
    vocab = CharVocabulary.from_texts([*files.texts, *audio_files(valid_manifest, probe=False).texts])
    print(f"data: {len(files)} training utterances, vocabulary {vocab.chars!r} (+ blank)")
    model = CTCModel(FEATURES["n_mels"], len(vocab.chars) + 1, rngs=nnx.Rngs(seed))
    schedule = optax.warmup_cosine_decay_schedule(0.0, 2e-3, warmup_steps=min(100, steps // 10), decay_steps=steps)
    optimizer = nnx.Optimizer(model, optax.adamw(schedule, weight_decay=1e-4), wrt=nnx.Param)
    settings = dict(max_batch_seconds=max_batch_seconds, num_buckets=num_buckets, sr=SR)
    before = cer(model, valid_manifest, vocab, **settings)
    print(f"model: {sum(p.size for p in jax.tree.leaves(nnx.state(model, nnx.Param))):,} parameters; "
          f"validation CER before training {before:.1%}")
    shapes: set[tuple[int, ...]] = set()
    started = time.perf_counter()
    # drop_remainder: each bucket's last, partial batch of an epoch is left
    # out (a different one every epoch, as the order is reshuffled) rather
    # than padded with empty rows, which on a corpus this small would be a
    # sixth of every epoch's batches.
    with loader(train_manifest, batch_by="duration", text_transform=vocab, augmentations=AUGMENTATIONS, seed=seed,
                drop_remainder=True, **FEATURES, **settings) as train:  # type: ignore[arg-type]
        bar = tqdm(range(steps), desc="train", unit="step", dynamic_ncols=True)
        for step in bar:
            batch = next(train)
            shapes.add(tuple(batch["features"].shape))
            loss = train_step(model, optimizer, batch)
            if (step + 1) % 25 == 0:
                bar.set_postfix(loss=f"{float(loss):.2f}", stall=f"{train.stats()['data_stall_share']:.0%}")
        bar.close()
        stats = train.stats()
    seconds = time.perf_counter() - started
    after = cer(model, valid_manifest, vocab, **settings)
    print(f"\nfinished {steps} steps in {seconds:.0f} s ({stats['samples']:,} utterances)")
    print(f"  validation CER: {before:.1%} before training, {after:.1%} after (greedy CTC decoding)")
    print(f"  duration buckets: {len(shapes)} batch shapes compiled (num_buckets={num_buckets}), padding "
          f"{stats['padding_share']:.1%} of the audio; data stall {stats['data_stall_share']:.1%}")
    return {"cer_before": before, "cer_after": after, "shapes": len(shapes), "padding_share": stats["padding_share"]}
