//! Seeded, deterministic audio augmentations.
//!
//! A [`Transform`] is a recipe with parameter ranges. Applying it to a clip
//! with a seed first draws the parameters ([`Transform::sample`]) and then
//! renders them ([`apply`]); the draw depends only on the seed, so the same
//! `(seed, input)` gives bit-identical output on any thread and in any
//! batch position.
//!
//! Seeding rule: transform `i` of a `Compose` (depth-first, counting nested
//! ones) draws from stream `i` of the seed, so a transform's draw does not
//! change when one before it is added, removed or fires differently.

mod interp;
mod noise;
pub mod rng;
mod simd;
mod stretch;
mod window;
mod wsola;

use rayon::prelude::*;

pub use noise::Color;
use rng::Rng;

use crate::error::{catch_panics, Error, Result};
use crate::pool;
use crate::samples::has_non_finite;

/// How a time stretch (and the stretch inside a pitch shift) is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StretchMethod {
    /// Waveform-similarity overlap-add in the time domain (`wsola.rs`):
    /// fast, and faithful on speech and other periodic sounds.
    Wsola,
    /// Phase vocoder with identity phase locking (`stretch.rs`): better on
    /// dense polyphonic music, several times slower.
    PhaseVocoder,
}

impl StretchMethod {
    pub fn parse(name: &str) -> Option<StretchMethod> {
        match name {
            "wsola" => Some(StretchMethod::Wsola),
            "phase_vocoder" => Some(StretchMethod::PhaseVocoder),
            _ => None,
        }
    }

    fn stretch(self, channels: &[Vec<f32>], rate: f64, sr: u32) -> Vec<Vec<f32>> {
        match self {
            StretchMethod::Wsola => wsola::time_stretch(channels, rate, sr),
            StretchMethod::PhaseVocoder => channels.iter().map(|c| stretch::time_stretch(c, rate, sr)).collect(),
        }
    }
}

/// An augmentation recipe.
#[derive(Clone, Debug)]
pub enum Transform {
    /// Tempo by a factor drawn from `[min_rate, max_rate]`, pitch kept.
    TimeStretch { min_rate: f64, max_rate: f64, method: StretchMethod, p: f64 },
    /// Pitch by semitones drawn from `[min, max]`, duration kept.
    PitchShift { min_semitones: f64, max_semitones: f64, method: StretchMethod, p: f64 },
    /// Noise at an SNR (dB) drawn from `[min, max]`.
    AddNoise { min_snr_db: f64, max_snr_db: f64, color: Color, p: f64 },
    /// Gain in dB drawn from `[min, max]`.
    Gain { min_db: f64, max_db: f64, p: f64 },
    /// Speed (tempo and pitch together, by resampling): one of `rates`, or
    /// uniform in `[rates[0], rates[1]]` when `range`.
    SpeedPerturbation { rates: Vec<f64>, range: bool, p: f64 },
    /// All in order, each with its own probability.
    Compose { transforms: Vec<Transform>, p: f64 },
    /// One of them, chosen uniformly, with its own probability.
    OneOf { transforms: Vec<Transform>, p: f64 },
}

/// What one transform drew for one seed.
#[derive(Clone, Debug, PartialEq)]
pub struct Drawn {
    pub name: &'static str,
    pub applied: bool,
    /// The drawn value (rate, semitones, snr_db, gain_db), if it applied.
    pub value: Option<f64>,
    /// The stream its noise comes from (AddNoise only).
    noise_stream: u64,
}

fn check_probability(p: f64) -> Result<()> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(Error::invalid(format!("p must be in [0, 1], got {p}")))
    }
}

fn check_range(what: &str, low: f64, high: f64) -> Result<()> {
    if !low.is_finite() || !high.is_finite() {
        return Err(Error::invalid(format!("{what} must be finite, got ({low}, {high})")));
    }
    if low > high {
        return Err(Error::invalid(format!("{what}: min {low} > max {high}")));
    }
    Ok(())
}

impl Transform {
    pub fn name(&self) -> &'static str {
        match self {
            Transform::TimeStretch { .. } => "TimeStretch",
            Transform::PitchShift { .. } => "PitchShift",
            Transform::AddNoise { .. } => "AddNoise",
            Transform::Gain { .. } => "Gain",
            Transform::SpeedPerturbation { .. } => "SpeedPerturbation",
            Transform::Compose { .. } => "Compose",
            Transform::OneOf { .. } => "OneOf",
        }
    }

    /// Checks every parameter; the constructors call it so that a bad
    /// recipe fails where it is written, not in a worker later.
    pub fn validate(&self) -> Result<()> {
        match self {
            Transform::TimeStretch { min_rate, max_rate, p, .. } => {
                check_probability(*p)?;
                check_range("rate", *min_rate, *max_rate)?;
                if *min_rate <= 0.0 {
                    return Err(Error::invalid(format!("rates must be > 0, got {min_rate}")));
                }
                if *max_rate > 16.0 || *min_rate < 1.0 / 16.0 {
                    return Err(Error::invalid("rates must lie within [1/16, 16]"));
                }
                Ok(())
            }
            Transform::PitchShift { min_semitones, max_semitones, p, .. } => {
                check_probability(*p)?;
                check_range("semitones", *min_semitones, *max_semitones)?;
                if min_semitones.abs() > 48.0 || max_semitones.abs() > 48.0 {
                    return Err(Error::invalid("semitones must lie within [-48, 48]"));
                }
                Ok(())
            }
            Transform::AddNoise { min_snr_db, max_snr_db, p, .. } => {
                check_probability(*p)?;
                check_range("snr_db", *min_snr_db, *max_snr_db)
            }
            Transform::Gain { min_db, max_db, p } => {
                check_probability(*p)?;
                check_range("gain (dB)", *min_db, *max_db)
            }
            Transform::SpeedPerturbation { rates, range, p } => {
                check_probability(*p)?;
                if rates.is_empty() {
                    return Err(Error::invalid("rates must not be empty"));
                }
                if *range {
                    check_range("rate", rates[0], rates[1])?;
                }
                if rates.iter().any(|&r| !(r.is_finite() && r > 0.0)) {
                    return Err(Error::invalid(format!("rates must be finite and > 0, got {rates:?}")));
                }
                if rates.iter().any(|&r| !(1.0 / 16.0..=16.0).contains(&r)) {
                    return Err(Error::invalid("rates must lie within [1/16, 16]"));
                }
                Ok(())
            }
            Transform::Compose { transforms, p } | Transform::OneOf { transforms, p } => {
                check_probability(*p)?;
                if transforms.is_empty() {
                    return Err(Error::invalid(format!("{} needs at least one transform", self.name())));
                }
                transforms.iter().try_for_each(Transform::validate)
            }
        }
    }

    /// The parameters `seed` draws for every leaf transform, depth first.
    pub fn sample(&self, seed: u64) -> Vec<Drawn> {
        let mut drawn = Vec::new();
        let mut next_stream = 0u64;
        self.sample_into(seed, true, &mut next_stream, &mut drawn);
        drawn
    }

    fn sample_into(&self, seed: u64, enabled: bool, next_stream: &mut u64, out: &mut Vec<Drawn>) {
        let stream = *next_stream;
        *next_stream += 1;
        let mut rng = Rng::new(seed, stream);
        // Always draw the same numbers, fired or not, so that one transform's
        // outcome never shifts another's stream.
        let fires = rng.next_f64() < self.probability();
        let value_draw = rng.next_f64();
        let applied = enabled && fires;
        let leaf = |name, value: f64| Drawn { name, applied, value: applied.then_some(value), noise_stream: stream };
        match self {
            Transform::TimeStretch { min_rate, max_rate, .. } => {
                out.push(leaf("TimeStretch", min_rate + (max_rate - min_rate) * value_draw))
            }
            Transform::PitchShift { min_semitones, max_semitones, .. } => {
                out.push(leaf("PitchShift", min_semitones + (max_semitones - min_semitones) * value_draw))
            }
            Transform::AddNoise { min_snr_db, max_snr_db, .. } => {
                out.push(leaf("AddNoise", min_snr_db + (max_snr_db - min_snr_db) * value_draw))
            }
            Transform::Gain { min_db, max_db, .. } => out.push(leaf("Gain", min_db + (max_db - min_db) * value_draw)),
            Transform::SpeedPerturbation { rates, range, .. } => {
                let rate = if *range {
                    rates[0] + (rates[1] - rates[0]) * value_draw
                } else {
                    rates[((value_draw * rates.len() as f64) as usize).min(rates.len() - 1)]
                };
                out.push(leaf("SpeedPerturbation", rate))
            }
            Transform::Compose { transforms, .. } => {
                for t in transforms {
                    t.sample_into(seed, applied, next_stream, out);
                }
            }
            Transform::OneOf { transforms, .. } => {
                let chosen = ((value_draw * transforms.len() as f64) as usize).min(transforms.len() - 1);
                for (i, t) in transforms.iter().enumerate() {
                    t.sample_into(seed, applied && i == chosen, next_stream, out);
                }
            }
        }
    }

    fn probability(&self) -> f64 {
        match self {
            Transform::TimeStretch { p, .. }
            | Transform::PitchShift { p, .. }
            | Transform::AddNoise { p, .. }
            | Transform::Gain { p, .. }
            | Transform::SpeedPerturbation { p, .. }
            | Transform::Compose { p, .. }
            | Transform::OneOf { p, .. } => *p,
        }
    }

    fn leaves<'a>(&'a self, out: &mut Vec<&'a Transform>) {
        match self {
            Transform::Compose { transforms, .. } | Transform::OneOf { transforms, .. } => {
                transforms.iter().for_each(|t| t.leaves(out))
            }
            leaf => out.push(leaf),
        }
    }
}

/// Applies `transform` with `seed` to planar `channels` at `sr`; the input
/// must be finite and non-empty (checked here). A panic (a bug) comes back
/// as [`Error::Internal`].
pub fn apply(transform: &Transform, channels: Vec<Vec<f32>>, sr: u32, seed: u64) -> Result<Vec<Vec<f32>>> {
    catch_panics(
        || apply_unguarded(transform, channels, sr, seed),
        |reason| Error::Internal(format!("augmentation failed ({reason}); please report this bug")),
    )
}

fn apply_unguarded(transform: &Transform, channels: Vec<Vec<f32>>, sr: u32, seed: u64) -> Result<Vec<Vec<f32>>> {
    validate_input(&channels, sr)?;
    let mut leaves = Vec::new();
    transform.leaves(&mut leaves);
    let mut audio = channels;
    for (leaf, drawn) in leaves.into_iter().zip(transform.sample(seed)) {
        let Some(value) = drawn.value else { continue };
        audio = render(leaf, audio, sr, value, Rng::new(seed, drawn.noise_stream).fork(1));
    }
    Ok(audio)
}

/// [`apply`] over a batch in parallel; `seeds[i]` goes with `batch[i]`.
pub fn apply_batch(
    transform: &Transform,
    batch: Vec<Vec<Vec<f32>>>,
    sr: u32,
    seeds: &[u64],
    num_threads: Option<usize>,
) -> Result<Vec<Vec<Vec<f32>>>> {
    if batch.len() != seeds.len() {
        return Err(Error::invalid(format!("{} clips but {} seeds", batch.len(), seeds.len())));
    }
    pool::run(num_threads, || {
        batch.into_par_iter().zip(seeds).map(|(clip, &seed)| apply(transform, clip, sr, seed)).collect()
    })?
}

fn validate_input(channels: &[Vec<f32>], sr: u32) -> Result<()> {
    if sr == 0 {
        return Err(Error::invalid("sr must be > 0"));
    }
    if channels.is_empty() || channels[0].is_empty() {
        return Err(Error::invalid("cannot augment an empty clip"));
    }
    if channels.iter().any(|c| c.len() != channels[0].len()) {
        return Err(Error::invalid("channels differ in length"));
    }
    if channels.iter().any(|c| has_non_finite(c)) {
        return Err(Error::invalid("the clip contains NaN or infinite samples"));
    }
    Ok(())
}

fn render(leaf: &Transform, mut audio: Vec<Vec<f32>>, sr: u32, value: f64, mut rng: Rng) -> Vec<Vec<f32>> {
    match leaf {
        Transform::TimeStretch { method, .. } => method.stretch(&audio, value, sr),
        Transform::PitchShift { method, .. } => {
            // Slow down by the pitch factor, then read it back at the
            // original length: duration kept, frequencies scaled.
            let factor = 2f64.powf(value / 12.0);
            let stretched = method.stretch(&audio, 1.0 / factor, sr);
            let step = stretched[0].len() as f64 / audio[0].len() as f64;
            stretched.iter().map(|c| interp::read_at_rate(c, step, audio[0].len())).collect()
        }
        Transform::SpeedPerturbation { .. } => {
            let out_len = ((audio[0].len() as f64 / value).round() as usize).max(1);
            audio.iter().map(|c| interp::read_at_rate(c, value, out_len)).collect()
        }
        Transform::AddNoise { color, .. } => {
            noise::add_at_snr(&mut audio, value, *color, &mut rng);
            audio
        }
        Transform::Gain { .. } => {
            let scale = 10f64.powf(value / 20.0) as f32;
            audio.iter_mut().for_each(|c| c.iter_mut().for_each(|s| *s *= scale));
            audio
        }
        Transform::Compose { .. } | Transform::OneOf { .. } => audio,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain() -> Transform {
        Transform::Compose {
            transforms: vec![
                Transform::TimeStretch { min_rate: 0.8, max_rate: 1.2, method: StretchMethod::Wsola, p: 0.7 },
                Transform::Gain { min_db: -6.0, max_db: 6.0, p: 1.0 },
                Transform::AddNoise { min_snr_db: 10.0, max_snr_db: 20.0, color: Color::Pink, p: 0.5 },
            ],
            p: 1.0,
        }
    }

    #[test]
    fn same_seed_same_output_on_any_thread_count() {
        let clip: Vec<Vec<f32>> = vec![(0..8000).map(|i| (i as f32 * 0.03).sin()).collect()];
        let batch = vec![clip.clone(); 6];
        let seeds: Vec<u64> = (0..6).map(|i| i * 7919).collect();
        let one = apply_batch(&chain(), batch.clone(), 16000, &seeds, Some(1)).unwrap();
        let two = apply_batch(&chain(), batch, 16000, &seeds, Some(2)).unwrap();
        assert_eq!(one, two);
        assert_eq!(one[3], apply(&chain(), clip, 16000, seeds[3]).unwrap());
        assert_ne!(one[1], one[2]);
    }

    #[test]
    fn a_transform_draw_ignores_the_ones_before_it() {
        let gain = |p| Transform::Compose {
            transforms: vec![
                Transform::Gain { min_db: 0.0, max_db: 1.0, p },
                Transform::Gain { min_db: -3.0, max_db: 3.0, p: 1.0 },
            ],
            p: 1.0,
        };
        for seed in 0..20 {
            assert_eq!(gain(0.0).sample(seed)[1], gain(1.0).sample(seed)[1]);
        }
    }

    #[test]
    fn rejects_bad_recipes_and_inputs() {
        assert!(Transform::TimeStretch { min_rate: 0.0, max_rate: 1.0, method: StretchMethod::Wsola, p: 1.0 }
            .validate()
            .is_err());
        assert!(Transform::Gain { min_db: 2.0, max_db: 1.0, p: 1.0 }.validate().is_err());
        assert!(Transform::Gain { min_db: 0.0, max_db: 1.0, p: 1.5 }.validate().is_err());
        assert!(apply(&chain(), vec![vec![]], 16000, 0).is_err());
        assert!(apply(&chain(), vec![vec![f32::NAN; 10]], 16000, 0).is_err());
        let mut late_infinity = vec![0.5f32; 9000];
        late_infinity[8999] = f32::NEG_INFINITY;
        assert!(apply(&chain(), vec![vec![0.5; 9000], late_infinity], 16000, 0).is_err());
        assert!(!has_non_finite(&[f32::MAX, f32::MIN_POSITIVE, -0.0, 1e-45]));
    }
}
