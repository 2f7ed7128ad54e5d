"""`audiodecode.torch`: the loader, the Dataset and the features.

The loader must give the JAX loader's audio bit for bit (both drive the
same `ClipReader` through the same `Schedule`), and its features must
equal `audiodecode.jax.features` and librosa. Tolerance for features:
max |torch - reference| <= 1e-4 x the example's max |reference| (measured
against JAX: <= 6e-7 for power spectra, <= 5e-5 for dB features, whose
deepest valleys differ by 3e-3 dB between two float32 FFTs).
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the torch extra is not installed")

import audiodecode  # noqa: E402
from audiodecode.data import seeding  # noqa: E402
from audiodecode.data.reading import ClipReader, ClipSpec, SkippedRecordWarning  # noqa: E402
from audiodecode.data.records import AudioFiles, audio_files  # noqa: E402
from audiodecode.filterbanks import frame_count  # noqa: E402
from audiodecode.torch import AudioDataLoader, AudioDataset, collate  # noqa: E402
from audiodecode.torch import features as tf  # noqa: E402
from synth import chirp, encode, noise, sine, speech_like  # noqa: E402
from test_pipeline import SeedRecorder  # noqa: E402

pytestmark = pytest.mark.torch

SR = 16000
N = 12
# Tagged files hold the constant (tag + 1) / 64 (exact in float32), so a
# row of a batch tells which file it came from.
TAG = 64.0
# Fixed parallelism, so tests do not spend time autotuning unless they mean to.
FAST = {"num_threads": 1, "prefetch": 2, "cache": None}
RAMP_SECONDS = [0.25, 1.5, 0.5, 1.25, 0.75, 1.0, 0.6, 1.1]
ROOT = Path(__file__).resolve().parent.parent


def tags(audio: torch.Tensor) -> list[int]:
    return (torch.round(audio[:, 0] * TAG) - 1).long().tolist()


def epoch_tags(loader: AudioDataLoader) -> list[int]:
    return [t for audio, _ in loader for t in tags(audio)]


@pytest.fixture(scope="module")
def tagged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 WAV files of 0.25 s in class folders c0, c1, c2 (tag % 3)."""
    root = tmp_path_factory.mktemp("tagged")
    for tag in range(N):
        (root / f"c{tag % 3}").mkdir(exist_ok=True)
        encode(root / f"c{tag % 3}" / f"t{tag:02d}.wav", np.full(SR // 4, (tag + 1) / TAG, np.float32), SR, "wavf32")
    return root


@pytest.fixture(scope="module")
def ramps(tmp_path_factory: pytest.TempPathFactory) -> AudioFiles:
    """WAV files from 0.25 s to 1.5 s whose samples count up (random crops show),
    at 22.05 kHz so the loaders resample."""
    root = tmp_path_factory.mktemp("ramps")
    sr = 22050
    paths = [encode(root / f"r{i}.wav", (np.arange(int(s * sr)) + 1).astype(np.float32) / 2**16, sr, "wavf32")
             for i, s in enumerate(RAMP_SECONDS)]
    return audio_files(paths, labels=[i % 2 for i in range(len(paths))])


@pytest.fixture(scope="module")
def tones(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], list[int]]:
    """64 MP3s of 0.4-0.7 s: class 0 low tones, class 1 high tones, under noise."""
    root = tmp_path_factory.mktemp("tones")
    rng = np.random.default_rng(0)
    paths, labels = [], []
    for i in range(64):
        label = i % 2
        seconds = round(float(rng.uniform(0.4, 0.7)), 2)
        freq = float(rng.uniform(150, 400) if label == 0 else rng.uniform(2000, 4000))
        y = sine(freq, seconds, SR, amplitude=0.4) + noise(seconds, SR, amplitude=0.05, seed=i)
        paths.append(str(encode(root / f"tone{i:02d}.mp3", y, SR, "mp3")))
        labels.append(label)
    return paths, labels


# -- the README example ---------------------------------------------------------------


class TinyClassifier(torch.nn.Module):
    """MFCC frames -> class scores; any number of frames."""

    def __init__(self, n_features: int = 40, n_classes: int = 2) -> None:
        super().__init__()
        self.norm = torch.nn.BatchNorm1d(n_features)
        self.conv = torch.nn.Conv1d(n_features, 16, kernel_size=3, padding=1)
        self.head = torch.nn.Linear(16, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(self.norm(x))).mean(dim=-1))


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> float:
    loss = torch.nn.functional.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def test_readme_example_runs_as_written(tones: tuple[list[str], list[int]]) -> None:
    audio_files, labels = tones
    torch.manual_seed(0)
    model = TinyClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    # ---- the README's program, as written ----
    import audiodecode
    from audiodecode import AudioDataLoader
    loader = AudioDataLoader(audio_files, labels=labels, batch_size=32, target_sr=16000,
        features='mfcc', n_mfcc=40,
        augmentations=[audiodecode.TimeStretch(0.8, 1.2), audiodecode.PitchShift(-2, 2), audiodecode.AddNoise(snr_db=20)],
        device='cuda' if torch.cuda.is_available() else 'cpu')
    for features, labels in loader:
        losses.append(train_step(model.to(features.device), optimizer, features, labels))
    # ---- end ----
    assert len(losses) == 2 and np.isfinite(losses).all()
    assert features.shape[:2] == (32, 40) and features.dtype == torch.float32
    loader.close()


def test_the_readme_loop_trains_a_model_on_mfcc_batches(tones: tuple[list[str], list[int]]) -> None:
    """The README's loop without augmentations: finite losses that go down."""
    paths, labels = tones
    torch.manual_seed(0)
    model = TinyClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    with AudioDataLoader(paths, labels=labels, batch_size=16, target_sr=16000, features="mfcc", n_mfcc=40,
                         seed=1, **FAST) as loader:
        epochs = [[train_step(model, optimizer, x, y) for x, y in loader] for _ in range(4)]
    assert all(len(e) == 4 for e in epochs)
    assert np.isfinite(epochs).all()
    assert np.mean(epochs[-1]) < 0.5 * np.mean(epochs[0]), epochs


# -- the same audio as the JAX loader ----------------------------------------------------


def jax_batches(files: AudioFiles, epochs: int, **settings: object) -> list[dict[str, np.ndarray]]:
    jax_loader = pytest.importorskip("audiodecode.jax.data_loader", reason="the jax extra is not installed")
    with jax_loader.loader(files, num_epochs=epochs, drop_remainder=False, features=None, **settings) as it:
        return [{k: np.asarray(v) for k, v in batch.items()} for batch in it]


@pytest.mark.parametrize(
    "settings",
    [
        dict(clip_seconds=0.5, seed=3, batch_size=4),  # random crops of resampled files
        dict(clip_seconds=None, seed=5, batch_size=3),  # whole files padded per batch (3 doesn't divide 8)
        dict(clip_seconds=0.7, crop="center", shuffle=False, seed=0, batch_size=4),
    ],
    ids=["random-crop", "whole-files", "center-unshuffled"],
)
def test_raw_audio_is_bit_identical_to_the_jax_loader(ramps: AudioFiles, settings: dict) -> None:
    batch_size = settings["batch_size"]
    reference = jax_batches(ramps, epochs=2 if len(ramps) % batch_size == 0 else 1, **settings, **FAST)
    with AudioDataLoader(ramps, return_lengths=True, **settings, **FAST) as loader:
        ours = [batch for _ in range(len(reference) // len(loader)) for batch in loader]
    assert len(ours) == len(reference)
    for (audio, labels, lengths), want in zip(ours, reference):
        assert audio.dtype == torch.float32
        assert np.array_equal(audio.numpy(), want["audio"])
        assert labels.tolist() == want["label"].tolist()
        assert lengths.tolist() == want["length"].tolist()


def test_augmented_audio_is_identical_to_the_jax_loader(ramps: AudioFiles) -> None:
    """A length-changing augmentation (a stand-in for TimeStretch) gets the
    same seeds in both loaders; real augmentations too, once merged."""
    settings = dict(clip_seconds=0.5, seed=11, batch_size=4, **FAST)
    fake = jax_batches(ramps, epochs=2, augmentations=SeedRecorder(), **settings)
    with AudioDataLoader(ramps, augmentations=SeedRecorder(), **settings) as loader:
        ours = [batch for _ in range(2) for batch in loader]
    for (audio, _), want in zip(ours, fake, strict=True):
        assert np.array_equal(audio.numpy(), want["audio"])
    real = [audiodecode.TimeStretch(0.8, 1.2), audiodecode.PitchShift(-2, 2)]
    want_real = jax_batches(ramps, epochs=1, augmentations=real, **settings)
    with AudioDataLoader(ramps, augmentations=real, **settings) as loader:
        for (audio, _), want in zip(loader, want_real, strict=True):
            assert np.array_equal(audio.numpy(), want["audio"])


# -- features -------------------------------------------------------------------------------


def signals(sr: int) -> np.ndarray:
    """(4, n): noise, a chirp, speech-like and a quiet one, with a partial last hop."""
    ys = [noise(1.0, sr, seed=1), chirp(60.0, 0.45 * sr, 1.0, sr), speech_like(1.0, sr, seed=2),
          1e-3 * speech_like(1.0, sr, f0_hz=210.0, seed=3)]
    return np.stack([np.pad(y, (0, 37)) for y in ys])


def assert_rel_max(actual: torch.Tensor, expected: np.ndarray, rtol: float = 1e-4) -> None:
    """|actual - expected| <= rtol x max |expected| of each example (the last two axes)."""
    actual = actual.detach().cpu().numpy()
    assert actual.shape == expected.shape
    scale = np.abs(expected).max(axis=(-2, -1), keepdims=True)
    err = np.abs(actual - expected) / scale
    assert err.max() <= rtol, f"max relative-to-peak error {err.max():.3g} > {rtol}"


FEATURE_CONFIGS = {
    "16k-400-160-40": dict(sr=16000, n_fft=400, hop_length=160, n_mels=40),
    "16k-512-160-64-win400-nocenter": dict(sr=16000, n_fft=512, hop_length=160, win_length=400, n_mels=64,
                                           center=False),
    "16k-512-256-64-htk-hamming-edge": dict(sr=16000, n_fft=512, hop_length=256, n_mels=64, htk=True,
                                            window="hamming", pad_mode="edge"),
    "22k-2048-512-128-reflect": dict(sr=22050, n_fft=2048, hop_length=512, n_mels=128, pad_mode="reflect"),
    "22k-512-256-40-band-ramp": dict(sr=22050, n_fft=512, hop_length=256, n_mels=40, fmin=60.0, fmax=8000.0,
                                     pad_mode="linear_ramp"),
}
STFT_ONLY = ("n_fft", "hop_length", "win_length", "window", "center", "pad_mode")


def feature_calls(cfg: dict) -> dict[str, dict]:
    stft = {k: v for k, v in cfg.items() if k in STFT_ONLY}
    return {
        "spectrogram": dict(stft),
        "spectrogram-magnitude": dict(stft, power=1.0),
        "melspectrogram": dict(cfg),
        "log_mel": dict(cfg),
        "mfcc": dict(cfg, n_mfcc=min(20, cfg["n_mels"])),
        "mfcc-lifter-features-last": dict(cfg, n_mfcc=13, lifter=22, layout="features_last"),
    }


@pytest.mark.parametrize("name", list(FEATURE_CONFIGS))
def test_features_match_the_jax_features_and_librosa(name: str) -> None:
    jf = pytest.importorskip("audiodecode.jax.features", reason="the jax extra is not installed")
    import librosa

    cfg = FEATURE_CONFIGS[name]
    ys = signals(cfg["sr"])
    for call, kwargs in feature_calls(cfg).items():
        fn = call.split("-")[0]
        ours = getattr(tf, fn)(torch.from_numpy(ys), **kwargs)
        assert ours.dtype == torch.float32
        assert_rel_max(ours, np.asarray(getattr(jf, fn)(ys, **kwargs)))
    # librosa, clip by clip (power_to_db's top_db is per clip in ours).
    stft = {k: v for k, v in cfg.items() if k in STFT_ONLY}
    mel = {k: v for k, v in cfg.items() if k not in STFT_ONLY}
    want_spec = np.stack([np.abs(librosa.stft(y, **stft)) ** 2 for y in ys])
    assert_rel_max(tf.spectrogram(ys, **stft), want_spec)
    want_db = np.stack([librosa.power_to_db(librosa.feature.melspectrogram(y=y, **stft, **mel)) for y in ys])
    assert_rel_max(tf.log_mel(ys, **cfg), want_db)
    want_mfcc = np.stack([librosa.feature.mfcc(y=y, n_mfcc=13, **stft, **mel) for y in ys])
    assert_rel_max(tf.mfcc(ys, n_mfcc=13, **cfg), want_mfcc)


def test_power_to_db_reductions_match_librosa() -> None:
    import librosa

    S = np.abs(np.random.default_rng(0).standard_normal((3, 16, 20))).astype(np.float32) ** 2
    for ref, torch_ref in ((np.max, torch.max), (np.mean, torch.mean), (np.median, torch.median), (2.0, 2.0)):
        want = np.stack([librosa.power_to_db(s, ref=ref, top_db=40.0) for s in S])
        np.testing.assert_allclose(tf.power_to_db(torch.from_numpy(S), ref=torch_ref, top_db=40.0), want, atol=1e-4)
    whole = librosa.power_to_db(S, ref=np.max, top_db=40.0)
    np.testing.assert_allclose(tf.power_to_db(S, ref=np.max, top_db=40.0, per_example=False), whole, atol=1e-4)


def test_features_keep_batch_axes_dtype_and_gradients() -> None:
    ys = torch.from_numpy(signals(16000)[:2]).reshape(2, 1, -1)
    kwargs = dict(sr=16000, n_fft=512, hop_length=160, n_mels=40, n_mfcc=13)
    out = tf.mfcc(ys, **kwargs)
    assert out.shape == (2, 1, 13, frame_count(ys.shape[-1], 512, 160, True))
    torch.testing.assert_close(out[:, 0], tf.mfcc(ys[:, 0], **kwargs))
    assert tf.mfcc(ys.double(), **kwargs).dtype == torch.float64
    assert tf.mfcc(ys.half(), **kwargs).dtype == torch.float32
    # Magnitude spectra of silent frames: zero gradient, not NaN.
    y = torch.zeros(1, 4000, requires_grad=True)
    tf.spectrogram(y, n_fft=256, power=1.0).sum().backward()
    assert torch.isfinite(y.grad).all() and not y.grad.any()


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda y: tf.spectrogram(y, n_fft=0), "n_fft"),
        (lambda y: tf.spectrogram(y, n_fft=512, win_length=1024), "win_length"),
        (lambda y: tf.spectrogram(y, n_fft=512, window="kaiser"), "window"),
        (lambda y: tf.spectrogram(y, n_fft=512, pad_mode="wrap"), "pad_mode"),
        (lambda y: tf.spectrogram(y[..., :100], n_fft=512, center=False), "too large"),
        (lambda y: tf.spectrogram(y.long(), n_fft=512), "floating-point"),
        (lambda y: tf.melspectrogram(y, sr=16000, n_fft=512, fmin=9000.0), "fmin"),
        (lambda y: tf.mfcc(y, n_fft=512, n_mels=40, n_mfcc=41), "n_mfcc"),
        (lambda y: tf.mfcc(y, n_fft=512, lifter=-1), "lifter"),
        (lambda y: tf.log_mel(y, n_fft=512, layout="NWC"), "layout"),
        (lambda y: tf.power_to_db(y.abs(), amin=0.0), "amin"),
    ],
)
def test_bad_feature_settings_raise(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call(torch.ones(2, 4000))


# -- the loader's batches -------------------------------------------------------------------


def test_batches_are_tensors_of_the_documented_shapes_on_the_device(tagged: Path) -> None:
    with AudioDataLoader(tagged, batch_size=5, clip_seconds=0.25, **FAST) as loader:
        assert len(loader) == 3  # 12 records: 5 + 5 + 2
        batches = list(loader)
    assert [tuple(a.shape) for a, _ in batches] == [(5, SR // 4)] * 2 + [(2, SR // 4)]
    for audio, labels in batches:
        assert audio.dtype == torch.float32 and labels.dtype == torch.int64
        assert audio.device.type == labels.device.type == "cpu"
        assert labels.tolist() == [t % 3 for t in tags(audio)]
    mel = dict(n_fft=512, hop_length=128, n_mels=32)
    frames = frame_count(SR // 4, 512, 128, True)
    with AudioDataLoader(tagged, batch_size=4, clip_seconds=0.25, features="log_mel", return_lengths=True,
                         **mel, **FAST) as loader:
        x, labels, lengths = next(iter(loader))
    assert x.shape == (4, 32, frames) and lengths.tolist() == [frames] * 4
    with AudioDataLoader(tagged, batch_size=4, clip_seconds=0.25, features="mfcc", n_mfcc=20, layout="features_last",
                         **mel, **FAST) as loader:
        assert next(iter(loader))[0].shape == (4, frames, 20)
    with AudioDataLoader(tagged, batch_size=4, clip_seconds=0.25, features="spectrogram", n_fft=256, **FAST) as loader:
        # librosa's default hop for a spectrogram: n_fft // 4.
        assert next(iter(loader))[0].shape == (4, 129, frame_count(SR // 4, 256, 64, True))


def test_named_features_equal_the_features_of_the_audio(ramps: AudioFiles) -> None:
    settings = dict(n_mfcc=13, n_mels=40, n_fft=512, hop_length=160)
    with AudioDataLoader(ramps, batch_size=4, seed=1, return_lengths=True, **FAST) as loader:
        audio, _, samples = next(iter(loader))
    with AudioDataLoader(ramps, batch_size=4, seed=1, features="mfcc", return_lengths=True, **settings,
                         **FAST) as loader:
        x, _, frames = next(iter(loader))
    torch.testing.assert_close(x, tf.mfcc(audio, sr=SR, **settings), rtol=0, atol=0)
    assert frames.tolist() == [frame_count(n, 512, 160, True) for n in samples.tolist()]
    square = lambda audio: audio**2  # noqa: E731
    with AudioDataLoader(ramps, batch_size=4, seed=1, features=square, return_lengths=True, **FAST) as loader:
        squared, _, same = next(iter(loader))
    assert torch.equal(squared, audio**2) and torch.equal(same, samples)


def test_bad_loader_settings_fail_before_reading(tagged: Path) -> None:
    with pytest.raises(ValueError, match="n_mfcc"):
        AudioDataLoader(tagged, features="mfcc", n_mfcc=41, n_mels=40, **FAST)
    with pytest.raises(TypeError, match="takes no"):
        AudioDataLoader(tagged, features="mfcc", hop=10, **FAST)
    with pytest.raises(TypeError, match="without features"):
        AudioDataLoader(tagged, n_mels=40, **FAST)
    with pytest.raises(ValueError, match="features must be"):
        AudioDataLoader(tagged, features="chroma", **FAST)
    with pytest.raises(ValueError, match="batch_size"):
        AudioDataLoader(tagged, batch_size=0, **FAST)
    with pytest.raises(ValueError, match="rank"):
        AudioDataLoader(tagged, rank=2, world_size=2, **FAST)


def test_drop_last_drops_the_short_batch(tagged: Path) -> None:
    for drop_last, sizes in ((False, [5, 5, 2]), (True, [5, 5])):
        with AudioDataLoader(tagged, batch_size=5, clip_seconds=0.25, drop_last=drop_last, **FAST) as loader:
            assert len(loader) == len(sizes)
            assert [len(labels) for _, labels in loader] == sizes


def test_each_iteration_is_a_new_epoch_and_set_epoch_replays_one(tagged: Path) -> None:
    with AudioDataLoader(tagged, batch_size=4, clip_seconds=0.25, seed=7, **FAST) as loader:
        first, second = epoch_tags(loader), epoch_tags(loader)
        assert loader.epoch == 2
        loader.set_epoch(1)
        replay = epoch_tags(loader)
    assert sorted(first) == sorted(second) == list(range(N))
    assert first != second and replay == second
    # The documented order, and the same for a fresh loader told the epoch.
    files = audio_files(tagged)
    assert second == [int(Path(files.paths[i]).stem[1:]) for i in seeding.epoch_order(files.shard(0, 1), 7, 1)]
    with AudioDataLoader(tagged, batch_size=4, clip_seconds=0.25, seed=7, **FAST) as fresh:
        fresh.set_epoch(1)
        assert epoch_tags(fresh) == second
    with AudioDataLoader(tagged, batch_size=4, clip_seconds=0.25, seed=7, shuffle=False, **FAST) as ordered:
        assert epoch_tags(ordered) == epoch_tags(ordered) == [int(Path(p).stem[1:]) for p in files.paths]
    with pytest.raises(ValueError, match="epoch"):
        loader.set_epoch(-1)


def test_ranks_read_disjoint_shards_that_cover_the_data(tagged: Path) -> None:
    seen = []
    for rank in range(3):
        with AudioDataLoader(tagged, batch_size=2, clip_seconds=0.25, rank=rank, world_size=3, **FAST) as loader:
            assert len(loader) == 2 and loader.indices.tolist() == list(range(rank, N, 3))
            seen.append(epoch_tags(loader))
    flat = [t for rank_tags in seen for t in rank_tags]
    assert len(flat) == len(set(flat)) == N


# Two ranks under torch.distributed (gloo): the loader finds its rank itself.
DISTRIBUTED = textwrap.dedent(
    """
    import json, os, sys
    import torch.distributed as dist
    import torch.multiprocessing as mp

    def run(rank, root, store, out):
        dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
        from audiodecode.torch import AudioDataLoader
        with AudioDataLoader(root, batch_size=3, clip_seconds=0.25, seed=4, num_threads=1, prefetch=1,
                             cache=None) as loader:
            rows = [int(round(float(a[0]) * 64)) - 1 for audio, _ in loader for a in audio]
            info = {"rank": loader.rank, "world_size": loader.world_size, "rows": rows}
        with open(f"{out}.{rank}", "w") as f:
            json.dump(info, f)
        dist.destroy_process_group()

    if __name__ == "__main__":
        mp.start_processes(run, args=tuple(sys.argv[1:4]), nprocs=2, start_method="fork")
    """
)


def test_ranks_come_from_torch_distributed(tagged: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = tmp_path / "rows"
    result = subprocess.run([sys.executable, "-c", DISTRIBUTED, str(tagged), str(tmp_path / "store"), str(out)],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    import json

    ranks = [json.loads(Path(f"{out}.{r}").read_text()) for r in range(2)]
    assert [(r["rank"], r["world_size"]) for r in ranks] == [(0, 2), (1, 2)]
    assert not set(ranks[0]["rows"]) & set(ranks[1]["rows"])
    assert sorted(ranks[0]["rows"] + ranks[1]["rows"]) == list(range(N))


def test_unreadable_files_raise_or_are_replaced_like_the_jax_loader(tagged: Path, tmp_path: Path) -> None:
    (tmp_path / "broken.mp3").write_bytes(b"ID3 truncated" * 20)
    paths = sorted(str(p) for p in tagged.rglob("*.wav")) + [str(tmp_path / "broken.mp3"), str(tmp_path / "gone.wav")]
    with AudioDataLoader(paths, batch_size=14, clip_seconds=0.25, shuffle=False, **FAST) as loader:
        with pytest.raises(audiodecode.AudioDecodeError, match="broken.mp3"):
            next(iter(loader))
    with pytest.raises(audiodecode.AudioDecodeError, match="broken.mp3"):  # while autotuning
        AudioDataLoader(paths, batch_size=14, clip_seconds=0.25, shuffle=False, num_threads=1)
    settings = dict(batch_size=7, clip_seconds=0.25, on_error="skip", seed=2, **FAST)
    with pytest.warns(SkippedRecordWarning, match="broken.mp3|gone.wav"):
        with AudioDataLoader(paths, **settings) as loader:
            ours = [batch for _ in range(2) for batch in loader]
            stats = loader.stats()
    assert [len(labels) for _, labels in ours] == [7, 7, 7, 7]
    assert set(t for audio, _ in ours for t in tags(audio)) <= set(range(N))  # only the good files
    assert stats["skipped"] == 4  # two bad files, two epochs
    with pytest.warns(SkippedRecordWarning):
        reference = jax_batches(paths, epochs=2, **settings)
    for (audio, labels), want in zip(ours, reference, strict=True):
        assert np.array_equal(audio.numpy(), want["audio"]) and labels.tolist() == want["label"].tolist()


def test_stats_overrides_and_autotuning(tagged: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="audiodecode"):
        loader = AudioDataLoader(tagged, batch_size=4, clip_seconds=0.25)  # autotuned, cache="auto"
    assert "autotune" in caplog.text and loader.tuning.measured
    with loader:
        for _ in range(3):
            list(loader)
        stats = loader.stats()
    assert stats["batches"] == 9 and stats["samples"] == 36
    assert stats["samples_per_s"] > 0 and 0 <= stats["data_stall_share"] <= 1
    assert {"decode", "collate", "to_device"} <= set(stats["stage_ms_per_batch"])
    assert stats["cache"]["misses"] >= N and stats["cache"]["hits"] > 0
    assert stats["parallelism"]["given"] == [] and stats["parallelism"]["prefetch"] == loader.tuning.choice.prefetch
    with AudioDataLoader(tagged, batch_size=4, clip_seconds=0.25, num_threads=2, prefetch=3, cache=None) as fixed:
        assert (fixed.tuning.choice.num_threads, fixed.tuning.choice.prefetch) == (2, 3)
        assert fixed.tuning.measured == {} and fixed.stats()["parallelism"]["given"] == ["num_threads", "prefetch"]
        assert fixed.stats()["cache"] is None


def test_auto_cache_only_when_the_shard_fits(tagged: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import audiodecode.data.setup as module

    monkeypatch.setattr(module, "auto_ram_budget", lambda *a: 2**20)  # 1 MiB: 12 x 0.25 s (192 KB) fit
    with AudioDataLoader(tagged, batch_size=4, clip_seconds=0.25, num_threads=1, prefetch=1) as loader:
        assert loader.stats()["cache"] is not None
    monkeypatch.setattr(module, "auto_ram_budget", lambda *a: 2**16)  # 64 KiB: they do not
    with AudioDataLoader(tagged, batch_size=4, clip_seconds=0.25, num_threads=1, prefetch=1) as loader:
        assert loader.stats()["cache"] is None


def reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("audiodecode-")]


def test_abandoned_and_closed_iterations_stop_their_threads(tagged: Path) -> None:
    # An earlier test's dropped loader may still hold its threads until a
    # collection; count from a collected state, or they vanish mid-test.
    gc.collect()
    before = len(reader_threads())
    loader = AudioDataLoader(tagged, batch_size=2, clip_seconds=0.25, **FAST)
    for _ in loader:
        break  # the iterator is dropped here
    gc.collect()
    assert len(reader_threads()) == before
    it = iter(loader)
    next(it)
    assert len(reader_threads()) > before
    loader.close()
    assert len(reader_threads()) == before
    assert list(it) == []
    with pytest.raises(RuntimeError, match="closed"):
        iter(loader)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batches_are_on_the_gpu_and_equal_the_cpu_batches(ramps: AudioFiles) -> None:
    settings = dict(batch_size=4, clip_seconds=0.5, seed=2, features="mfcc", n_fft=512, hop_length=160, n_mels=40,
                    return_lengths=True, **FAST)
    with AudioDataLoader(ramps, device="cuda", **settings) as gpu, AudioDataLoader(ramps, **settings) as cpu:
        side = torch.cuda.Stream()
        with torch.cuda.stream(side):  # a consumer on its own stream waits for the copies too
            pairs = list(zip(gpu, cpu, strict=True))
        torch.cuda.synchronize()
    for (x, labels, lengths), (x_cpu, labels_cpu, lengths_cpu) in pairs:
        assert x.device.type == labels.device.type == lengths.device.type == "cuda"
        assert torch.equal(labels.cpu(), labels_cpu) and torch.equal(lengths.cpu(), lengths_cpu)
        assert_rel_max(x, x_cpu.numpy())


# -- AudioDataset ------------------------------------------------------------------------------


# JAX (imported by other tests in this process) warns about any fork; the
# forked workers never use JAX.
@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")
@pytest.mark.parametrize("workers", [0, 2])
def test_dataset_items_equal_the_loaders_reader_with_workers(ramps: AudioFiles, workers: int) -> None:
    aug = SeedRecorder()
    dataset = AudioDataset(ramps, clip_seconds=0.5, seed=6, augmentations=aug)
    batches = torch.utils.data.DataLoader(dataset, batch_size=3, shuffle=False, num_workers=workers,
                                          collate_fn=dataset.collate, persistent_workers=workers > 0,
                                          multiprocessing_context="fork" if workers else None)
    reader = ClipReader(ramps, ClipSpec(sr=SR, clip_seconds=0.5, seed=6), augment=aug)
    for epoch in (0, 3):  # persistent workers must see the new epoch
        dataset.set_epoch(epoch)
        got = list(batches)
        for b, (audio, labels, lengths) in enumerate(got):
            indices = np.arange(3 * b, min(3 * b + 3, len(ramps)))
            want = reader.read(np.full(len(indices), epoch), indices)
            assert np.array_equal(audio.numpy(), want["audio"])
            assert labels.tolist() == want["label"].tolist() and lengths.tolist() == want["length"].tolist()
    assert dataset.epoch == 3 and len(dataset) == len(ramps)


def test_collate_pads_items_of_any_length() -> None:
    items = [(torch.ones(3), 1), (torch.full((5,), 2.0), 0), (torch.ones(0), 4)]
    audio, labels, lengths = collate(items)
    assert audio.tolist() == [[1, 1, 1, 0, 0], [2, 2, 2, 2, 2], [0, 0, 0, 0, 0]]
    assert labels.tolist() == [1, 0, 4] and lengths.tolist() == [3, 5, 0]
    audio, _, lengths = collate(items, width=4)
    assert audio.shape == (3, 4) and lengths.tolist() == [3, 4, 0]
    with pytest.raises(ValueError, match="empty"):
        collate([])


# -- imports ---------------------------------------------------------------------------------------


def run_python(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          timeout=120)


def test_without_torch_audiodecode_imports_and_the_adapter_says_how_to_install_it() -> None:
    result = run_python(
        """
        import sys
        sys.modules["torch"] = None  # as if torch were not installed
        import audiodecode
        audiodecode.load_batch  # the core works
        try:
            import audiodecode.torch
        except ImportError as err:
            print(err)
        else:
            raise SystemExit("imported audiodecode.torch without torch")
        """
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'pip install "audiodecode[torch]"' in result.stdout


def test_audiodecode_exports_the_loader_without_importing_torch_early() -> None:
    if not hasattr(audiodecode, "AudioDataLoader"):
        pytest.skip("audiodecode/__init__.py has no lazy __getattr__ yet (requested from the lead in issue #6)")
    result = run_python(
        """
        import sys
        import audiodecode
        assert "torch" not in sys.modules, "import audiodecode imported torch"
        from audiodecode import AudioDataLoader, AudioDataset
        import audiodecode.torch
        assert AudioDataLoader is audiodecode.torch.AudioDataLoader
        assert AudioDataset is audiodecode.torch.AudioDataset
        """
    )
    assert result.returncode == 0, result.stderr[-2000:]
