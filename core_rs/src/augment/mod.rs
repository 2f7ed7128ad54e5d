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

mod background;
pub mod bank;
mod clipping;
mod convolve;
mod fft;
pub mod filter;
mod filter_recipe;
mod interp;
pub mod mixing;
mod noise;
pub mod rng;
mod shift;
mod simd;
mod stretch;
mod window;
mod wsola;

use std::sync::Arc;

use rayon::prelude::*;

pub use bank::Bank;
pub use clipping::ClipMode;
pub use filter::FilterKind;
pub use filter_recipe::FilterRecipe;
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

/// How `Shift` reads its range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShiftUnit {
    /// A fraction of the clip's length.
    Fraction,
    Seconds,
    Samples,
}

impl ShiftUnit {
    pub fn parse(name: &str) -> Option<ShiftUnit> {
        match name {
            "fraction" => Some(ShiftUnit::Fraction),
            "seconds" => Some(ShiftUnit::Seconds),
            "samples" => Some(ShiftUnit::Samples),
            _ => None,
        }
    }
}

/// The SNR range that still gives finite audio at float32 precision.
const SNR_DB_LIMIT: (f64, f64) = (-60.0, 120.0);
const GAIN_DB_LIMIT: f64 = 60.0;
/// Two octaves: a pitch shift stretches the clip by up to 2^(|k| / 12)
/// before reading it back, so this bounds the working memory at 4x.
const SEMITONES_LIMIT: f64 = 24.0;

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
    /// An excerpt of one of `count` recordings at an SNR (dB) drawn from
    /// `[min, max]`. `noises` holds the decoded recordings; it may be absent
    /// for checking and drawing, not for rendering.
    AddBackgroundNoise { noises: Option<Arc<Bank>>, count: usize, min_snr_db: f64, max_snr_db: f64, p: f64 },
    /// Convolution with one of `count` impulse responses, mixed `wet`.
    ApplyImpulseResponse { irs: Option<Arc<Bank>>, count: usize, wet: f64, p: f64 },
    /// A Butterworth low-, high-, band-pass or band-stop filter.
    Filter { filter: FilterRecipe, p: f64 },
    /// Hard clipping; the value (percent of samples, or dB below the peak)
    /// is drawn from `[min, max]`.
    Clipping { mode: ClipMode, min: f64, max: f64, p: f64 },
    /// Sign flip.
    PolarityInversion { p: f64 },
    /// A time shift drawn from `[min, max]` in `unit`.
    Shift { min: f64, max: f64, unit: ShiftUnit, rollover: bool, p: f64 },
    /// Silence over a fraction of the clip drawn from `[min_part, max_part]`.
    TimeMask { min_part: f64, max_part: f64, p: f64 },
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
    /// The drawn parameters by name (rate, semitones, snr_db, ...); drawn
    /// whether or not the transform fired, meaningful only if it did.
    pub params: Vec<(&'static str, f64)>,
    /// The stream its draws come from.
    stream: u64,
}

impl Drawn {
    fn value(&self, i: usize) -> f64 {
        self.params[i].1
    }
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

fn check_within(what: &str, low: f64, high: f64, limits: (f64, f64)) -> Result<()> {
    check_range(what, low, high)?;
    if low < limits.0 || high > limits.1 {
        return Err(Error::invalid(format!(
            "{what} must lie within [{}, {}], got ({low}, {high})",
            limits.0, limits.1
        )));
    }
    Ok(())
}

fn check_bank(what: &str, bank: &Option<Arc<Bank>>, count: usize) -> Result<()> {
    if count == 0 {
        return Err(Error::invalid(format!("{what}: no files")));
    }
    if let Some(bank) = bank {
        if bank.clips.len() != count {
            return Err(Error::invalid(format!("{what}: {} clips for {count} files", bank.clips.len())));
        }
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
            Transform::AddBackgroundNoise { .. } => "AddBackgroundNoise",
            Transform::ApplyImpulseResponse { .. } => "ApplyImpulseResponse",
            Transform::Filter { filter, .. } => filter.kind.name(),
            Transform::Clipping { .. } => "Clipping",
            Transform::PolarityInversion { .. } => "PolarityInversion",
            Transform::Shift { .. } => "Shift",
            Transform::TimeMask { .. } => "TimeMask",
            Transform::Compose { .. } => "Compose",
            Transform::OneOf { .. } => "OneOf",
        }
    }

    /// Checks every parameter; the constructors call it so that a bad
    /// recipe fails where it is written, not in a worker later.
    pub fn validate(&self) -> Result<()> {
        check_probability(self.probability())?;
        match self {
            Transform::TimeStretch { min_rate, max_rate, .. } => {
                check_range("rate", *min_rate, *max_rate)?;
                if *min_rate <= 0.0 {
                    return Err(Error::invalid(format!("rates must be > 0, got {min_rate}")));
                }
                if *max_rate > 16.0 || *min_rate < 1.0 / 16.0 {
                    return Err(Error::invalid("rates must lie within [1/16, 16]"));
                }
                Ok(())
            }
            Transform::PitchShift { min_semitones, max_semitones, .. } => {
                check_within("semitones", *min_semitones, *max_semitones, (-SEMITONES_LIMIT, SEMITONES_LIMIT))
            }
            Transform::AddNoise { min_snr_db, max_snr_db, .. }
            | Transform::AddBackgroundNoise { min_snr_db, max_snr_db, .. } => {
                check_within("snr_db", *min_snr_db, *max_snr_db, SNR_DB_LIMIT)?;
                match self {
                    Transform::AddBackgroundNoise { noises, count, .. } => check_bank("noises", noises, *count),
                    _ => Ok(()),
                }
            }
            Transform::Gain { min_db, max_db, .. } => {
                check_within("gain_db", *min_db, *max_db, (-GAIN_DB_LIMIT, GAIN_DB_LIMIT))
            }
            Transform::SpeedPerturbation { rates, range, .. } => {
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
            Transform::ApplyImpulseResponse { irs, count, wet, .. } => {
                if !(0.0..=1.0).contains(wet) {
                    return Err(Error::invalid(format!("wet must be in [0, 1], got {wet}")));
                }
                check_bank("irs", irs, *count)
            }
            Transform::Filter { filter, .. } => filter.validate(),
            Transform::Clipping { mode, min, max, .. } => match mode {
                ClipMode::Percentile => check_within("percentile_threshold", *min, *max, (0.0, 100.0)),
                ClipMode::Db => check_within("threshold_db", *min, *max, (-60.0, 0.0)),
            },
            Transform::PolarityInversion { .. } => Ok(()),
            Transform::Shift { min, max, .. } => check_range("shift", *min, *max),
            Transform::TimeMask { min_part, max_part, .. } => {
                check_within("band_part", *min_part, *max_part, (0.0, 1.0))
            }
            Transform::Compose { transforms, .. } | Transform::OneOf { transforms, .. } => {
                if transforms.is_empty() {
                    return Err(Error::invalid(format!("{} needs at least one transform", self.name())));
                }
                transforms.iter().try_for_each(Transform::validate)
            }
        }
    }

    /// Checks what depends on the clip's rate: filter edges below Nyquist,
    /// recordings decoded at this rate.
    fn validate_for_rate(&self, sr: u32) -> Result<()> {
        match self {
            Transform::Filter { filter, .. } => filter.validate_for_rate(sr),
            Transform::AddBackgroundNoise { noises: bank, .. } | Transform::ApplyImpulseResponse { irs: bank, .. } => {
                match bank {
                    Some(bank) if bank.sr == sr => Ok(()),
                    Some(bank) => Err(Error::invalid(format!(
                        "{}: recordings decoded at {} Hz for a clip at {sr} Hz",
                        self.name(),
                        bank.sr
                    ))),
                    None => Err(Error::invalid(format!("{}: recordings not loaded", self.name()))),
                }
            }
            Transform::Compose { transforms, .. } | Transform::OneOf { transforms, .. } => {
                transforms.iter().try_for_each(|t| t.validate_for_rate(sr))
            }
            _ => Ok(()),
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
        let name = self.name();
        let mut leaf = |params: Vec<(&'static str, f64)>| out.push(Drawn { name, applied, params, stream });
        let lerp = |low: f64, high: f64| low + (high - low) * value_draw;
        match self {
            Transform::TimeStretch { min_rate, max_rate, .. } => leaf(vec![("rate", lerp(*min_rate, *max_rate))]),
            Transform::PitchShift { min_semitones, max_semitones, .. } => {
                leaf(vec![("semitones", lerp(*min_semitones, *max_semitones))])
            }
            Transform::AddNoise { min_snr_db, max_snr_db, .. } => {
                leaf(vec![("snr_db", lerp(*min_snr_db, *max_snr_db))])
            }
            Transform::Gain { min_db, max_db, .. } => leaf(vec![("gain_db", lerp(*min_db, *max_db))]),
            Transform::SpeedPerturbation { rates, range, .. } => {
                let rate = if *range {
                    lerp(rates[0], rates[1])
                } else {
                    rates[((value_draw * rates.len() as f64) as usize).min(rates.len() - 1)]
                };
                leaf(vec![("rate", rate)])
            }
            Transform::AddBackgroundNoise { count, min_snr_db, max_snr_db, .. } => {
                let index = rng.index(*count) as f64;
                leaf(vec![("snr_db", lerp(*min_snr_db, *max_snr_db)), ("noise_index", index)])
            }
            Transform::ApplyImpulseResponse { count, .. } => {
                leaf(vec![("ir_index", ((value_draw * *count as f64) as usize).min(count - 1) as f64)])
            }
            Transform::Filter { filter, .. } => leaf(filter.draw(value_draw, &mut rng)),
            Transform::Clipping { mode, min, max, .. } => {
                let key = if *mode == ClipMode::Percentile { "percentile_threshold" } else { "threshold_db" };
                leaf(vec![(key, lerp(*min, *max))])
            }
            Transform::PolarityInversion { .. } => leaf(vec![]),
            Transform::Shift { min, max, .. } => leaf(vec![("shift", lerp(*min, *max))]),
            Transform::TimeMask { min_part, max_part, .. } => {
                let start = rng.next_f64();
                leaf(vec![("band_part", lerp(*min_part, *max_part)), ("start_fraction", start)])
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
            | Transform::AddBackgroundNoise { p, .. }
            | Transform::ApplyImpulseResponse { p, .. }
            | Transform::Filter { p, .. }
            | Transform::Clipping { p, .. }
            | Transform::PolarityInversion { p }
            | Transform::Shift { p, .. }
            | Transform::TimeMask { p, .. }
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
    transform.validate_for_rate(sr)?;
    let mut leaves = Vec::new();
    transform.leaves(&mut leaves);
    let mut audio = channels;
    for (leaf, drawn) in leaves.into_iter().zip(transform.sample(seed)) {
        if !drawn.applied {
            continue;
        }
        audio = render(leaf, audio, sr, &drawn, Rng::new(seed, drawn.stream).fork(1));
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

fn render(leaf: &Transform, mut audio: Vec<Vec<f32>>, sr: u32, drawn: &Drawn, mut rng: Rng) -> Vec<Vec<f32>> {
    let frames = audio[0].len();
    match leaf {
        Transform::TimeStretch { method, .. } => method.stretch(&audio, drawn.value(0), sr),
        Transform::PitchShift { method, .. } => {
            // Slow down by the pitch factor, then read it back at the
            // original length: duration kept, frequencies scaled.
            let factor = 2f64.powf(drawn.value(0) / 12.0);
            let stretched = method.stretch(&audio, 1.0 / factor, sr);
            let step = stretched[0].len() as f64 / frames as f64;
            stretched.iter().map(|c| interp::read_at_rate(c, step, frames)).collect()
        }
        Transform::SpeedPerturbation { .. } => {
            let rate = drawn.value(0);
            if rate == 1.0 {
                // Kaldi's recipe draws 1.0 a third of the time: the clip as it is.
                return audio;
            }
            let out_len = ((frames as f64 / rate).round() as usize).max(1);
            audio.iter().map(|c| interp::read_at_rate(c, rate, out_len)).collect()
        }
        Transform::AddNoise { color, .. } => {
            noise::add_at_snr(&mut audio, drawn.value(0), *color, &mut rng);
            audio
        }
        Transform::Gain { .. } => {
            let scale = 10f64.powf(drawn.value(0) / 20.0) as f32;
            audio.iter_mut().for_each(|c| c.iter_mut().for_each(|s| *s *= scale));
            audio
        }
        Transform::AddBackgroundNoise { noises: Some(bank), .. } => {
            let recording = &bank.clips[drawn.value(1) as usize];
            let piece = background::excerpt(recording, frames, sr, &mut rng);
            background::mix_at_snr(&mut audio, &piece, drawn.value(0));
            audio
        }
        Transform::ApplyImpulseResponse { irs: Some(bank), wet, .. } => {
            let index = drawn.value(0) as usize;
            convolve::reverberate(&mut audio, &bank.clips[index], *wet, Some((&bank.spectra, index)));
            audio
        }
        Transform::Filter { filter, .. } => {
            filter.render(&mut audio, &drawn.params, sr);
            audio
        }
        Transform::Clipping { mode, .. } => {
            clipping::clip(&mut audio, *mode, drawn.value(0));
            audio
        }
        Transform::PolarityInversion { .. } => {
            audio.iter_mut().for_each(|c| c.iter_mut().for_each(|s| *s = -*s));
            audio
        }
        Transform::Shift { unit, rollover, .. } => {
            let amount = drawn.value(0);
            let samples = match unit {
                ShiftUnit::Fraction => amount * frames as f64,
                ShiftUnit::Seconds => amount * sr as f64,
                ShiftUnit::Samples => amount,
            };
            // Beyond the clip's length a fill leaves silence and a roll wraps.
            let by = samples.round().clamp(-(frames as f64) * 2.0, frames as f64 * 2.0) as i64;
            shift::shift(&mut audio, by, *rollover);
            audio
        }
        Transform::TimeMask { .. } => {
            let length = (drawn.value(0) * frames as f64).round() as usize;
            let start = (drawn.value(1) * (frames - length.min(frames) + 1) as f64) as usize;
            shift::mask(&mut audio, start.min(frames), length);
            audio
        }
        // Without recordings `validate_for_rate` has already refused the call.
        Transform::AddBackgroundNoise { noises: None, .. }
        | Transform::ApplyImpulseResponse { irs: None, .. }
        | Transform::Compose { .. }
        | Transform::OneOf { .. } => audio,
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

    fn recipe_chain() -> Transform {
        let ir: Vec<f32> =
            (0..3000).map(|i| (-(i as f32) / 400.0).exp() * ((i * 7919 % 13) as f32 / 6.0 - 1.0)).collect();
        let noise: Vec<f32> = (0..5000).map(|i| (i * 104729 % 1000) as f32 / 500.0 - 1.0).collect();
        let bank = |clips| Some(Arc::new(Bank::new(16000, clips)));
        Transform::Compose {
            transforms: vec![
                Transform::SpeedPerturbation { rates: vec![0.9, 1.0, 1.1], range: false, p: 1.0 },
                Transform::AddBackgroundNoise {
                    noises: bank(vec![noise.clone(), noise[..700].to_vec()]),
                    count: 2,
                    min_snr_db: 5.0,
                    max_snr_db: 20.0,
                    p: 0.8,
                },
                Transform::ApplyImpulseResponse { irs: bank(vec![ir]), count: 1, wet: 1.0, p: 0.8 },
                Transform::Filter {
                    filter: FilterRecipe {
                        kind: FilterKind::BandPass,
                        min_hz: 300.0,
                        max_hz: 3000.0,
                        min_bandwidth: 0.5,
                        max_bandwidth: 1.5,
                        min_rolloff: 12.0,
                        max_rolloff: 24.0,
                        zero_phase: true,
                    },
                    p: 0.8,
                },
                Transform::Clipping { mode: ClipMode::Percentile, min: 0.0, max: 10.0, p: 0.5 },
                Transform::PolarityInversion { p: 0.5 },
                Transform::Shift { min: -0.2, max: 0.2, unit: ShiftUnit::Fraction, rollover: false, p: 0.5 },
                Transform::TimeMask { min_part: 0.0, max_part: 0.3, p: 0.5 },
            ],
            p: 1.0,
        }
    }

    #[test]
    fn recorded_and_filter_transforms_are_bit_identical_on_any_thread_count() {
        let batch: Vec<Vec<Vec<f32>>> = (0..8)
            .map(|k| vec![(0..6000 + 300 * k).map(|i| (i as f32 * 0.021 * (k + 1) as f32).sin()).collect()])
            .collect();
        let seeds: Vec<u64> = (0..8).map(|i| i * 104729 + 3).collect();
        let chain = recipe_chain();
        let one = apply_batch(&chain, batch.clone(), 16000, &seeds, Some(1)).unwrap();
        let two = apply_batch(&chain, batch.clone(), 16000, &seeds, Some(2)).unwrap();
        assert_eq!(one, two);
        // A fresh recipe (nothing cached yet) gives the same as a used one.
        assert_eq!(one[5], apply(&recipe_chain(), batch[5].clone(), 16000, seeds[5]).unwrap());
        assert!(one.iter().all(|clip| clip[0].iter().all(|v| v.is_finite())));
    }

    #[test]
    fn rate_dependent_checks() {
        let clip = vec![vec![0.1f32; 1000]];
        let lp = |max_hz| Transform::Filter {
            filter: FilterRecipe {
                kind: FilterKind::LowPass,
                min_hz: 100.0,
                max_hz,
                min_bandwidth: 0.0,
                max_bandwidth: 0.0,
                min_rolloff: 12.0,
                max_rolloff: 12.0,
                zero_phase: false,
            },
            p: 1.0,
        };
        assert!(apply(&lp(7999.0), clip.clone(), 16000, 0).is_ok());
        assert!(apply(&lp(8000.0), clip.clone(), 16000, 0).is_err());
        // Recordings at another rate, or none, are refused rather than misused.
        assert!(apply(&recipe_chain(), clip.clone(), 22050, 0).is_err());
        let unloaded = Transform::ApplyImpulseResponse { irs: None, count: 1, wet: 1.0, p: 1.0 };
        assert!(unloaded.validate().is_ok());
        assert!(apply(&unloaded, clip, 16000, 0).is_err());
    }
}
