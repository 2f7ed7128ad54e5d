"""Augmentations, judged by the property each promises."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import audiodecode as ad
from synth import sine, speech_like

SR = 16000


def tone(freq_hz: float = 440.0, seconds: float = 2.0) -> np.ndarray:
    return sine(freq_hz, seconds, SR, amplitude=0.5)


def fundamental_hz(y: np.ndarray, sr: int = SR) -> float:
    """Peak of a zero-padded, windowed spectrum, refined by parabolic
    interpolation on log magnitudes (error well under 0.1%)."""
    mid = y[len(y) // 8: -len(y) // 8]
    n = 1 << 20
    spectrum = np.abs(np.fft.rfft(mid * np.hanning(len(mid)), n))
    k = int(np.argmax(spectrum[1:])) + 1
    a, b, c = np.log(spectrum[k - 1: k + 2] + 1e-30)
    offset = 0.5 * (a - c) / (a - 2 * b + c)
    return (k + offset) * sr / n


def rms(y: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))


METHODS = ["wsola", "phase_vocoder"]


class TestTimeStretch:
    @pytest.mark.parametrize("method", METHODS)
    @pytest.mark.parametrize("rate", [0.5, 0.8, 0.9, 1.1, 1.25, 2.0])
    def test_length_and_pitch(self, rate: float, method: str) -> None:
        y = tone()
        out = ad.TimeStretch(rate, rate, method=method)(y, SR, seed=0)
        assert len(out) == round(len(y) / rate)
        assert fundamental_hz(out) == pytest.approx(440.0, rel=0.01)

    @pytest.mark.parametrize("method", METHODS)
    def test_keeps_the_spectral_envelope_of_speech_as_well_as_librosa(self, method: str) -> None:
        librosa = pytest.importorskip("librosa")
        y = speech_like(2.0, SR, seed=3)

        def envelope_distance(out: np.ndarray) -> float:
            # Long-term average log spectrum against the original's.
            def average(z: np.ndarray) -> np.ndarray:
                S = np.abs(librosa.stft(z, n_fft=1024, hop_length=256)) ** 2
                return 10 * np.log10(S.mean(axis=1) + 1e-10)

            return float(np.sqrt(np.mean((average(out) - average(y)) ** 2)))

        for rate in (0.8, 1.25):
            ours = envelope_distance(ad.TimeStretch(rate, rate, method=method)(y, SR, seed=0))
            theirs = envelope_distance(librosa.effects.time_stretch(y, rate=rate))
            assert ours <= theirs, f"rate {rate}: ours {ours:.2f} dB, librosa {theirs:.2f} dB"

    def test_wsola_keeps_a_steady_tone_steady(self) -> None:
        # Segments placed where they continue the waveform: no beating, no
        # dips where windows cross.
        out = ad.TimeStretch(0.8, 0.8)(tone(220.0), SR, seed=0)
        frames = np.abs(out[SR // 4: -SR // 4]).reshape(-1, 400).max(axis=1)
        assert frames.min() > 0.49 and frames.max() < 0.51


class TestPitchShift:
    @pytest.mark.parametrize("method", METHODS)
    @pytest.mark.parametrize("semitones", [-3.0, -1.0, 2.0, 4.5])
    def test_moves_the_fundamental_exactly(self, semitones: float, method: str) -> None:
        y = tone()
        out = ad.PitchShift(semitones, semitones, method=method)(y, SR, seed=0)
        assert len(out) == len(y)
        assert fundamental_hz(out) == pytest.approx(440.0 * 2 ** (semitones / 12), rel=0.005)


class TestAddNoise:
    @pytest.mark.parametrize("color", ["white", "pink", "brown"])
    @pytest.mark.parametrize("snr_db", [0.0, 10.0, 25.0])
    def test_lands_on_the_requested_snr(self, color: str, snr_db: float) -> None:
        y = tone()
        out = ad.AddNoise(snr_db, color=color)(y, SR, seed=5)
        measured = 20 * np.log10(rms(y) / rms(out - y))
        assert measured == pytest.approx(snr_db, abs=0.2)

    def test_a_range_draws_inside_it(self) -> None:
        y = tone()
        transform = ad.AddNoise(snr_db=(5.0, 15.0))
        for seed in range(10):
            measured = 20 * np.log10(rms(y) / rms(transform(y, SR, seed=seed) - y))
            drawn = transform.sample_params(seed)[0]["snr_db"]
            assert 5.0 <= drawn <= 15.0
            assert measured == pytest.approx(drawn, abs=0.2)

    @pytest.mark.parametrize(("color", "slope_db_per_octave"), [("white", 0.0), ("pink", -3.0), ("brown", -6.0)])
    def test_colors_have_their_slope(self, color: str, slope_db_per_octave: float) -> None:
        silence_free = tone(seconds=8.0)
        noise = ad.AddNoise(0.0, color=color)(silence_free, SR, seed=1) - silence_free
        spectrum = np.abs(np.fft.rfft(noise)) ** 2
        freqs = np.fft.rfftfreq(len(noise), 1 / SR)
        bands = [(f, 2 * f) for f in (100, 200, 400, 800, 1600)]
        power_db = [10 * np.log10(spectrum[(freqs >= lo) & (freqs < hi)].mean()) for lo, hi in bands]
        # Power per Hz: each octave step changes it by the slope.
        slope = np.polyfit(np.arange(len(bands)), power_db, 1)[0]
        assert slope == pytest.approx(slope_db_per_octave, abs=0.6)


class TestGain:
    @pytest.mark.parametrize("db", [-12.0, -0.5, 3.0, 9.5])
    def test_rms_ratio(self, db: float) -> None:
        y = tone()
        out = ad.Gain(db, db)(y, SR, seed=0)
        assert 20 * np.log10(rms(out) / rms(y)) == pytest.approx(db, abs=0.01)

    def test_volume_adjust_is_gain(self) -> None:
        assert ad.VolumeAdjust is ad.Gain


class TestSpeedPerturbation:
    @pytest.mark.parametrize("rate", [0.9, 1.1, 1.23])
    def test_length_and_frequency(self, rate: float) -> None:
        y = tone()
        out = ad.SpeedPerturbation(min_rate=rate, max_rate=rate)(y, SR, seed=0)
        assert abs(len(out) - len(y) / rate) <= 1
        assert fundamental_hz(out) == pytest.approx(440.0 * rate, rel=0.005)

    def test_rate_one_returns_the_clip_unchanged(self) -> None:
        y = tone()
        np.testing.assert_array_equal(ad.SpeedPerturbation(rates=(1.0,))(y, SR, seed=3), y)

    def test_rates_pick_one_of_the_listed_values(self) -> None:
        transform = ad.SpeedPerturbation(rates=(0.9, 1.0, 1.1))
        drawn = {transform.sample_params(seed)[0]["rate"] for seed in range(60)}
        assert drawn == {0.9, 1.0, 1.1}


class TestDeterminism:
    def chain(self) -> ad.Compose:
        return ad.Compose([ad.TimeStretch(0.8, 1.2, p=0.8), ad.PitchShift(-2, 2, p=0.8), ad.AddNoise((10, 30), p=0.8), ad.Gain(-6, 6)])

    def test_bit_identical_across_threads_and_positions(self) -> None:
        rng = np.random.default_rng(0)
        ys = [(0.3 * rng.standard_normal(int(SR * rng.uniform(0.5, 1.5)))).astype(np.float32) for _ in range(8)]
        seeds = [int(s) for s in rng.integers(0, 2**63, 8)]
        pipe = self.chain()
        one = pipe.batch(ys, SR, seeds, num_threads=1)
        two = pipe.batch(ys, SR, seeds, num_threads=2)
        reversed_ = pipe.batch(ys[::-1], SR, seeds[::-1])[::-1]
        for i in range(8):
            single = pipe(ys[i], SR, seed=seeds[i])
            assert np.array_equal(one[i], two[i])
            assert np.array_equal(one[i], reversed_[i])
            assert np.array_equal(one[i], single)

    def test_different_seeds_differ_and_params_match_what_was_applied(self) -> None:
        pipe = ad.Compose([ad.Gain(-6, 6), ad.AddNoise((10, 30))])
        y = tone(seconds=0.5)
        assert not np.array_equal(pipe(y, SR, seed=1), pipe(y, SR, seed=2))
        params = ad.Gain(-6, 6).sample_params(11)[0]
        out = ad.Gain(-6, 6)(y, SR, seed=11)
        assert 20 * np.log10(rms(out) / rms(y)) == pytest.approx(params["gain_db"], abs=0.01)
        assert [p["name"] for p in pipe.sample_params(3)] == ["Gain", "AddNoise"]

    def test_probability_zero_and_one(self) -> None:
        y = tone(seconds=0.5)
        assert np.array_equal(ad.Gain(6, 6, p=0.0)(y, SR, seed=4), y)
        assert all(p["applied"] for p in ad.Compose([ad.Gain(), ad.Gain()]).sample_params(4))
        fired = [ad.Gain(p=0.3).sample_params(s)[0]["applied"] for s in range(2000)]
        assert np.mean(fired) == pytest.approx(0.3, abs=0.04)

    def test_one_of_applies_exactly_one(self) -> None:
        choice = ad.OneOf([ad.Gain(1, 1), ad.Gain(2, 2), ad.Gain(3, 3)])
        picks = []
        for seed in range(90):
            applied = [p for p in choice.sample_params(seed) if p["applied"]]
            assert len(applied) == 1
            picks.append(applied[0]["gain_db"])
        assert set(picks) == {1.0, 2.0, 3.0}

    def test_input_is_not_modified_and_stereo_shares_parameters(self) -> None:
        y = np.stack([tone(), tone()])
        before = y.copy()
        out = ad.Compose([ad.PitchShift(2, 2), ad.Gain(-3, -3)])(y, SR, seed=9)
        assert np.array_equal(y, before)
        assert out.shape == y.shape
        np.testing.assert_allclose(out[0], out[1], atol=1e-6)

    def test_pickle_and_repr_are_stable(self) -> None:
        pipe = self.chain()
        clone = pickle.loads(pickle.dumps(pipe))
        assert clone == pipe and repr(clone) == repr(pipe)
        y = tone(seconds=0.5)
        assert np.array_equal(clone(y, SR, seed=3), pipe(y, SR, seed=3))


class TestBadInput:
    @pytest.mark.parametrize(
        "y",
        [
            np.zeros(0, np.float32),
            np.array([0.1, np.nan, 0.2], np.float32),
            np.array([0.1, np.inf], np.float32),
            np.zeros(100, np.int16),
            np.zeros((2, 2, 100), np.float32),
            np.float32(0.5),
        ],
        ids=["empty", "nan", "inf", "int16", "rank3", "scalar"],
    )
    def test_bad_audio(self, y: np.ndarray) -> None:
        with pytest.raises(ValueError):
            ad.Gain()(y, SR, seed=0)
        with pytest.raises(ValueError):
            ad.Gain().batch([tone(seconds=0.1), y], SR, [0, 1])

    def test_float64_is_cast(self) -> None:
        out = ad.Gain(0, 0)(tone().astype(np.float64), SR, seed=0)
        assert out.dtype == np.float32

    @pytest.mark.parametrize(
        "make",
        [
            lambda: ad.TimeStretch(0.0, 1.0),
            lambda: ad.TimeStretch(-1.0, 1.0),
            lambda: ad.TimeStretch(1.2, 0.8),
            lambda: ad.PitchShift(3, -3),
            lambda: ad.PitchShift(-3, 3, method="sinc"),
            lambda: ad.TimeStretch(0.9, 1.1, method="psola"),
            lambda: ad.Gain(0, 1, p=1.5),
            lambda: ad.Gain(0, 1, p=-0.1),
            lambda: ad.AddNoise(snr_db=(20, 10)),
            lambda: ad.AddNoise(10, color="purple"),
            lambda: ad.SpeedPerturbation(rates=()),
            lambda: ad.SpeedPerturbation(rates=(0.9, -1.0)),
            lambda: ad.SpeedPerturbation(min_rate=1.2, max_rate=0.9),
            lambda: ad.SpeedPerturbation(min_rate=0.9),
            lambda: ad.Compose([]),
            lambda: ad.Compose([lambda y: y]),
        ],
    )
    def test_bad_parameters(self, make) -> None:
        with pytest.raises(ValueError):
            make()

    @pytest.mark.parametrize("seed", [-1, 2**64, 1.5, "7", True])
    def test_bad_seeds(self, seed: object) -> None:
        with pytest.raises(ValueError):
            ad.Gain()(tone(seconds=0.1), SR, seed=seed)  # type: ignore[arg-type]

    def test_bad_sample_rate_and_seed_count(self) -> None:
        with pytest.raises(ValueError):
            ad.Gain()(tone(seconds=0.1), 0, seed=0)
        with pytest.raises(ValueError, match="seeds"):
            ad.Gain().batch([tone(seconds=0.1)] * 2, SR, [1])
