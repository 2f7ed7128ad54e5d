"""audiodecode.jax features and SpecAugment; librosa is the oracle.

Tolerances (float32 throughout, x64 off):
- power spectrogram and mel spectrogram: max |ours - librosa| <= 1e-4 x the
  example's max |librosa| (relative to the largest magnitude, not per bin).
  Measured: <= 4e-7.
- dB features: <= 1e-3 dB absolute for bins within 60 dB of the example's
  maximum, <= 3e-3 dB for the rest (down to the 80 dB clip). librosa runs
  its FFT in float64; ours is float32, whose round-off is ~1e-7 of the
  frame's energy, i.e. ~1e-3 dB for a bin 75-80 dB down (a float32
  pocketfft has the same error). Measured: <= 3e-4 dB near the peak,
  <= 1.5e-3 dB in the deepest valleys of the chirp and speech-like signals.
- MFCC: <= 1e-3 absolute (measured <= 7e-4), after dividing out the DCT
  scale and lifter gain for unnormalized or liftered coefficients.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import textwrap
import warnings

import jax
import jax.numpy as jnp
import librosa
import numpy as np
import pytest

from audiodecode import filterbanks
from audiodecode.jax import log_mel, melspectrogram, mfcc, power_to_db, spec_augment, spectrogram
from synth import chirp, noise, speech_like

CONFIGS = {
    "16k-400-160-40": dict(sr=16000, n_fft=400, hop_length=160, n_mels=40, center=True),
    "16k-512-160-64-win400-nocenter": dict(sr=16000, n_fft=512, hop_length=160, win_length=400, n_mels=64, center=False),
    "16k-512-256-64-htk-hamming": dict(sr=16000, n_fft=512, hop_length=256, n_mels=64, center=True, htk=True, window="hamming"),
    "22k-2048-512-128": dict(sr=22050, n_fft=2048, hop_length=512, n_mels=128, center=True),
    "22k-2048-512-128-nocenter": dict(sr=22050, n_fft=2048, hop_length=512, n_mels=128, center=False),
    "22k-512-256-40-reflect-band": dict(sr=22050, n_fft=512, hop_length=256, n_mels=40, center=True, pad_mode="reflect", fmin=60.0, fmax=8000.0),
}
MEL_ONLY = ("sr", "n_mels", "fmin", "fmax", "htk")
STFT_ONLY = ("n_fft", "hop_length", "win_length", "window", "center", "pad_mode")


@functools.cache
def signals(sr: int, seconds: float = 1.0) -> np.ndarray:
    """(4, n): white noise, a chirp to 0.45 sr, speech-like, and a quiet one (-60 dB) for top_db scope."""
    n_extra = 37  # a partial last hop
    y = [
        noise(seconds, sr, seed=1),
        chirp(60.0, 0.45 * sr, seconds, sr),
        speech_like(seconds, sr, seed=2),
        1e-3 * speech_like(seconds, sr, f0_hz=210.0, seed=3),
    ]
    return np.stack([np.pad(s, (0, n_extra)) for s in y])


def stft_args(cfg: dict) -> dict:
    return {k: v for k, v in cfg.items() if k in STFT_ONLY}


def per_clip(fn, ys: np.ndarray) -> np.ndarray:
    return np.stack([fn(y) for y in ys])


def assert_rel_max(actual: jax.Array, expected: np.ndarray, rtol: float) -> None:
    """|actual - expected| <= rtol x max |expected| of each example (the last two axes)."""
    actual = np.asarray(actual)
    assert actual.shape == expected.shape
    scale = np.abs(expected).max(axis=(-2, -1), keepdims=True)
    err = np.abs(actual - expected) / scale
    assert err.max() <= rtol, f"max relative-to-peak error {err.max():.3g} > {rtol}"


def assert_db_close(actual: jax.Array, expected: np.ndarray, top_db: float = 80.0) -> None:
    actual = np.asarray(actual)
    assert actual.shape == expected.shape
    err = np.abs(actual - expected)
    near_peak = expected >= expected.max(axis=(-2, -1), keepdims=True) - 60.0
    assert err[near_peak].max() <= 1e-3, f"{err[near_peak].max():.3g} dB within 60 dB of the peak"
    assert err.max() <= 3e-3, f"{err.max():.3g} dB"


@pytest.fixture(params=list(CONFIGS), scope="module")
def cfg(request: pytest.FixtureRequest) -> dict:
    return CONFIGS[request.param]


# --------------------------------------------------------------------------
# Parity with librosa
# --------------------------------------------------------------------------


@pytest.mark.parametrize("power", [2.0, 1.0])
def test_spectrogram_matches_librosa(cfg: dict, power: float) -> None:
    ys = signals(cfg["sr"])
    ours = spectrogram(ys, power=power, **stft_args(cfg))
    ref = np.abs(librosa.stft(ys, **stft_args(cfg))) ** power
    assert ours.shape == ref.shape
    assert ref.shape[-1] == filterbanks.frame_count(ys.shape[-1], cfg["n_fft"], cfg["hop_length"], cfg["center"])
    assert_rel_max(ours, ref, 1e-4)


def test_melspectrogram_matches_librosa(cfg: dict) -> None:
    ys = signals(cfg["sr"])
    ref = librosa.feature.melspectrogram(y=ys, **cfg)
    assert_rel_max(melspectrogram(ys, **cfg), ref, 1e-4)
    # Magnitude mel spectrogram (power=1) too.
    ref = librosa.feature.melspectrogram(y=ys, power=1.0, **cfg)
    assert_rel_max(melspectrogram(ys, power=1.0, **cfg), ref, 1e-4)


def test_log_mel_matches_librosa_per_clip_and_batched(cfg: dict) -> None:
    ys = signals(cfg["sr"])
    ours = log_mel(ys, **cfg)
    assert_db_close(ours, per_clip(lambda y: librosa.power_to_db(librosa.feature.melspectrogram(y=y, **cfg)), ys))
    # per_example=False is one librosa call on the whole batch: the quiet clip
    # is clipped against the loud ones' maximum.
    batched = librosa.power_to_db(librosa.feature.melspectrogram(y=ys, **cfg))
    assert_db_close(log_mel(ys, per_example=False, **cfg), batched)
    assert np.abs(np.asarray(ours)[3] - batched[3]).max() > 10  # the two scopes do differ


def test_mfcc_matches_librosa_per_clip_and_batched(cfg: dict) -> None:
    ys = signals(cfg["sr"])
    kw = dict(cfg, n_mfcc=20)
    ours = np.asarray(mfcc(ys, **kw))
    ref = per_clip(lambda y: librosa.feature.mfcc(y=y, **kw), ys)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-3)
    batched = librosa.feature.mfcc(y=ys, **kw)
    np.testing.assert_allclose(mfcc(ys, per_example=False, **kw), batched, rtol=0, atol=1e-3)


@pytest.mark.parametrize(
    "options",
    [
        dict(dct_type=2, norm=None),
        dict(dct_type=3, norm="ortho"),
        dict(dct_type=1, norm="ortho"),
        dict(lifter=22),
        dict(mel_norm=None, n_mfcc=13),
    ],
    ids=["dct2-unnormalized", "dct3", "dct1", "lifter22", "melnorm-none"],
)
def test_mfcc_options_match_librosa(options: dict) -> None:
    cfg = dict(CONFIGS["16k-400-160-40"])
    kw = {"n_mfcc": 20, **cfg, **options}
    ys = signals(cfg["sr"])[[0, 3]]  # noise, quiet speech
    ours = np.asarray(mfcc(ys, **kw))
    ref = per_clip(lambda y: librosa.feature.mfcc(y=y, **kw), ys)
    # Scale out what the DCT normalization and the lifter multiply the dB error by.
    gain = np.ones((kw["n_mfcc"], 1))
    if options.get("norm", "ortho") is None:
        gain[:] = np.sqrt(2 * kw["n_mels"])
    if "lifter" in options:
        L = options["lifter"]
        gain *= (1 + (L / 2) * np.sin(np.pi * np.arange(1, 1 + kw["n_mfcc"]) / L))[:, None]
    np.testing.assert_allclose(ours / gain, ref / gain, rtol=0, atol=1e-3)


@pytest.mark.parametrize("ref", [1.0, 1e-3, np.max, jnp.max])
@pytest.mark.parametrize("top_db", [80.0, 40.0, None])
def test_power_to_db_matches_librosa(ref, top_db: float | None) -> None:
    S = librosa.feature.melspectrogram(y=signals(16000)[:, :8000], sr=16000, n_fft=512, hop_length=160, n_mels=40)
    ours = np.asarray(power_to_db(S, ref=ref, top_db=top_db))
    lib_ref = np.max if ref is jnp.max else ref
    expected = per_clip(lambda s: librosa.power_to_db(s, ref=lib_ref, top_db=top_db), S)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-4)
    ours = np.asarray(power_to_db(S, ref=ref, top_db=top_db, per_example=False))
    np.testing.assert_allclose(ours, librosa.power_to_db(S, ref=lib_ref, top_db=top_db), rtol=0, atol=1e-4)


def test_long_clips_take_the_chunked_path_and_still_match() -> None:
    # 3 x 8 s at n_fft=512: more frames than one CPU chunk holds.
    y = np.stack([np.resize(speech_like(2.0, 16000, seed=i), 8 * 16000 + 101) for i in range(3)])
    kw = dict(sr=16000, n_fft=512, hop_length=160, n_mels=64)
    jaxpr = str(jax.make_jaxpr(functools.partial(melspectrogram, **kw))(y))
    assert "scan" in jaxpr or "while" in jaxpr
    assert_rel_max(melspectrogram(y, **kw), librosa.feature.melspectrogram(y=y, **kw), 1e-4)
    assert_rel_max(spectrogram(y, n_fft=512, hop_length=160), np.abs(librosa.stft(y, n_fft=512, hop_length=160)) ** 2, 1e-4)


def test_short_input_and_any_batch_rank() -> None:
    # Shorter than n_fft is fine when centred (librosa only warns).
    y = signals(16000)[:, :300]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ref = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=512, hop_length=160, n_mels=40)
    assert_rel_max(melspectrogram(y, sr=16000, n_fft=512, hop_length=160, n_mels=40), ref, 1e-4)
    # (n,) and (2, 2, n) give librosa's shapes.
    y = signals(16000)
    kw = dict(sr=16000, n_fft=400, hop_length=160, n_mels=40, n_mfcc=13)
    assert mfcc(y[0], **kw).shape == librosa.feature.mfcc(y=y[0], **kw).shape
    np.testing.assert_allclose(mfcc(y.reshape(2, 2, -1), **kw), np.asarray(mfcc(y, **kw)).reshape(2, 2, 13, -1), atol=1e-5)


@pytest.mark.parametrize("fn", [spectrogram, melspectrogram, log_mel, mfcc], ids=lambda f: f.__name__)
def test_features_last_layout_is_the_transpose(fn) -> None:
    y = signals(16000)[:2]
    kw = dict(n_fft=512, hop_length=160) if fn is spectrogram else dict(sr=16000, n_fft=512, hop_length=160, n_mels=40)
    first = np.asarray(fn(y, **kw))
    last = np.asarray(fn(y, layout="features_last", **kw))
    np.testing.assert_allclose(last, np.swapaxes(first, -1, -2), rtol=1e-5, atol=1e-5 * np.abs(first).max())


# --------------------------------------------------------------------------
# JAX transformations
# --------------------------------------------------------------------------

KW = dict(sr=16000, n_fft=400, hop_length=160, n_mels=40, n_mfcc=13)


def test_jit_vmap_and_no_recompilation_for_new_data() -> None:
    traces = 0

    @jax.jit
    def step(y: jax.Array) -> jax.Array:
        nonlocal traces
        traces += 1
        return mfcc(y, **KW)

    y = jnp.asarray(signals(16000))
    expected = mfcc(y, **KW)
    np.testing.assert_allclose(step(y), expected, atol=1e-4)
    np.testing.assert_allclose(jax.vmap(lambda x: mfcc(x, **KW))(y), expected, atol=1e-4)
    compiled = mfcc._cache_size()
    for scale in (0.5, 2.0, 3.0):
        step(y * scale).block_until_ready()
        mfcc(y * scale, **KW).block_until_ready()
    assert traces == 1
    assert mfcc._cache_size() == compiled


def test_grad_is_finite_and_matches_finite_differences() -> None:
    y = jnp.asarray(signals(16000)[:2, :4000])
    kw = {k: v for k, v in KW.items() if k != "n_mfcc"}
    for fn in (lambda x: melspectrogram(x, **kw).sum(), lambda x: mfcc(x, **KW).sum()):
        g = jax.grad(fn)(y)
        assert g.shape == y.shape and bool(jnp.all(jnp.isfinite(g))) and float(jnp.abs(g).max()) > 0
    # Directional derivative of a smooth function vs a central difference.
    f = lambda x: jnp.log(melspectrogram(x, **kw) + 1e-3).mean()  # noqa: E731
    v = jnp.asarray(np.random.default_rng(0).standard_normal(y.shape).astype(np.float32))
    eps = 1e-2
    fd = (f(y + eps * v) - f(y - eps * v)) / (2 * eps)
    assert float(jnp.vdot(jax.grad(f)(y), v)) == pytest.approx(float(fd), rel=2e-2)
    # Silence with power=1 (|X| at X=0) has zero, not NaN, gradients.
    g = jax.grad(lambda x: spectrogram(x, n_fft=256, hop_length=64, power=1.0).sum())(jnp.zeros(1000))
    assert bool(jnp.all(jnp.isfinite(g)))


def test_sharded_batch_keeps_its_sharding() -> None:
    # Two CPU devices need a fresh process (the device count is fixed when
    # the backend starts).
    script = textwrap.dedent(
        """
        import jax, numpy as np
        jax.config.update("jax_num_cpu_devices", 2)
        from jax.sharding import AxisType, NamedSharding, PartitionSpec as P
        from audiodecode.jax import log_mel, mfcc
        mesh = jax.make_mesh((2,), ("data",), axis_types=(AxisType.Auto,))
        y = np.random.default_rng(0).uniform(-0.5, 0.5, (4, 16000)).astype(np.float32)
        ys = jax.device_put(y, NamedSharding(mesh, P("data")))
        kw = dict(sr=16000, n_fft=400, hop_length=160, n_mels=40)
        out = mfcc(ys, n_mfcc=13, **kw)
        assert out.sharding.spec[0] == "data", out.sharding
        np.testing.assert_allclose(out, mfcc(y, n_mfcc=13, **kw), atol=1e-4)
        step = jax.jit(lambda y: log_mel(y, **kw).mean(axis=(1, 2)))
        assert step(ys).sharding.spec[0] == "data"
        print("ok")
        """
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-3000:]


# --------------------------------------------------------------------------
# Bad input: clear errors at trace time
# --------------------------------------------------------------------------

Y = np.zeros(1000, np.float32)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: spectrogram(np.float32(1.0)), "at least one axis"),
        (lambda: mfcc(np.zeros((2, 0), np.float32)), "no samples"),
        (lambda: mfcc(np.zeros(1000, np.int16)), "floating-point"),
        (lambda: spectrogram(Y, n_fft=2048, center=False), "too large"),
        (lambda: melspectrogram(Y, n_fft=1024, center=False), "too large"),
        (lambda: spectrogram(Y, n_fft=0), "n_fft"),
        (lambda: spectrogram(Y, n_fft=-512), "n_fft"),
        (lambda: spectrogram(Y, n_fft=512.0), "n_fft"),
        (lambda: spectrogram(Y, n_fft=512, hop_length=0), "hop_length"),
        (lambda: spectrogram(Y, n_fft=512, win_length=0), "win_length"),
        (lambda: spectrogram(Y, n_fft=512, win_length=1024), "win_length"),
        (lambda: spectrogram(Y, n_fft=512, window="kaiser"), "window"),
        (lambda: spectrogram(Y, n_fft=512, pad_mode="wrap"), "pad_mode"),
        (lambda: spectrogram(Y, n_fft=512, power=0.0), "power"),
        (lambda: spectrogram(Y, n_fft=512, layout="NWC"), "layout"),
        (lambda: melspectrogram(Y, n_fft=512, n_mels=0), "n_mels"),
        (lambda: melspectrogram(Y, sr=0, n_fft=512), "sr"),
        (lambda: melspectrogram(Y, sr=16000, n_fft=512, fmin=9000.0), "fmin"),
        (lambda: mfcc(Y, n_fft=512, n_mels=40, n_mfcc=0), "n_mfcc"),
        (lambda: mfcc(Y, n_fft=512, n_mels=40, n_mfcc=41), "n_mfcc"),
        (lambda: mfcc(Y, n_fft=512, dct_type=4), "dct_type"),
        (lambda: mfcc(Y, n_fft=512, norm="l2"), "norm"),
        (lambda: mfcc(Y, n_fft=512, lifter=-1), "lifter"),
        (lambda: power_to_db(np.ones((4, 4), np.float32), amin=0.0), "amin"),
        (lambda: power_to_db(np.ones((4, 4), np.float32), top_db=-1.0), "top_db"),
        (lambda: power_to_db(np.ones((4, 4), np.complex64)), "real floating-point"),
        (lambda: spec_augment(jax.random.key(0), np.ones(10, np.float32), 2, 2), "features must be"),
        (lambda: spec_augment(jax.random.key(0), np.ones((4, 10), np.float32), -1, 2), "freq_mask_param"),
        (lambda: spec_augment(jax.random.key(0), np.ones((4, 10), np.float32), 2, 2, num_time_masks=1.5), "num_time_masks"),
        (lambda: spec_augment(jax.random.key(0), np.ones((4, 10), np.float32), 2, 2, layout="tf"), "layout"),
    ],
)
def test_bad_input_raises(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------------------
# SpecAugment
# --------------------------------------------------------------------------


def masked_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, width) of each run of True in a 1-D mask."""
    edges = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return list(zip(starts, stops - starts))


@pytest.mark.parametrize("layout", ["features_first", "features_last"])
def test_spec_augment_masks_whole_bands_within_bounds(layout: str) -> None:
    n_feat, n_frames, F, T = 40, 101, 12, 30
    x = np.random.default_rng(0).uniform(1, 2, (64, n_feat, n_frames)).astype(np.float32)
    if layout == "features_last":
        x = np.swapaxes(x, -1, -2)
    out = np.asarray(spec_augment(jax.random.key(1), x, F, T, layout=layout, mask_value=-5.0))
    assert out.shape == x.shape and out.dtype == x.dtype
    if layout == "features_last":
        out, x = np.swapaxes(out, -1, -2), np.swapaxes(x, -1, -2)
    masked = out == -5.0
    assert np.array_equal(out[~masked], x[~masked])  # everything else untouched
    freq_widths, time_widths = [], []
    for m in masked:
        rows, cols = m.all(axis=1), m.all(axis=0)
        # Every masked entry lies in a fully masked row or column.
        assert np.array_equal(m, rows[:, None] | cols[None, :])
        runs_f, runs_t = masked_runs(rows), masked_runs(cols)
        assert len(runs_f) <= 1 and len(runs_t) <= 1
        freq_widths += [w for _, w in runs_f] or [0]
        time_widths += [w for _, w in runs_t] or [0]
    assert max(freq_widths) <= F and max(time_widths) <= T
    # Widths are uniform in [0, param]: means near param / 2, some zero.
    assert abs(np.mean(freq_widths) - F / 2) < 2 and abs(np.mean(time_widths) - T / 2) < 5


def test_spec_augment_reproducible_per_key_and_independent_per_example() -> None:
    x = jnp.ones((32, 2, 40, 101))  # two batch axes
    a = spec_augment(jax.random.key(7), x, 10, 20, num_freq_masks=2, num_time_masks=2)
    b = spec_augment(jax.random.key(7), x, 10, 20, num_freq_masks=2, num_time_masks=2)
    c = spec_augment(jax.random.key(8), x, 10, 20, num_freq_masks=2, num_time_masks=2)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    masks = np.asarray(a == 0).reshape(64, -1)
    assert len({m.tobytes() for m in masks}) > 60  # every example draws its own
    # Legacy uint32 keys work too.
    spec_augment(jax.random.PRNGKey(0), x, 10, 20).block_until_ready()


def test_spec_augment_covers_every_position_and_caps_widths() -> None:
    x = jnp.ones((512, 8, 6))
    # Parameters larger than the axes: widths are capped, not an error.
    out = np.asarray(spec_augment(jax.random.key(3), x, 50, 50))
    rows = (out == 0).all(axis=2)
    assert rows.any(axis=0).all()  # every feature index gets masked sometimes
    assert rows.all(axis=1).any()  # and sometimes the whole axis
    assert np.array_equal(spec_augment(jax.random.key(3), x, 0, 0), x)
    assert np.array_equal(spec_augment(jax.random.key(3), x, 5, 5, num_freq_masks=0, num_time_masks=0), x)


def test_spec_augment_jit_grad_and_traced_mask_value() -> None:
    x = jnp.asarray(np.random.default_rng(0).standard_normal((4, 40, 50)).astype(np.float32))
    key = jax.random.key(0)
    compiled = spec_augment._cache_size()
    out = spec_augment(key, x, 8, 10, mask_value=x.mean())
    spec_augment(jax.random.key(1), x * 2, 8, 10, mask_value=x.min())
    assert spec_augment._cache_size() == compiled + 1
    g = jax.grad(lambda v: spec_augment(key, v, 8, 10).sum())(x)
    np.testing.assert_array_equal(g, (np.asarray(out) != float(x.mean())).astype(np.float32))
    # Inside a user's jitted step, after features.
    step = jax.jit(lambda k, y: spec_augment(k, log_mel(y, sr=16000, n_fft=400, hop_length=160, n_mels=40), 8, 10))
    assert step(key, signals(16000)).shape == (4, 40, 101)


def test_module_does_not_import_grain_or_torch() -> None:
    code = "import sys, audiodecode.jax; assert not {'grain', 'torch'} & set(sys.modules), set(sys.modules)"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
