//! Batch-level mixing: Mixup (Zhang et al., 2018) and CutMix (Yun et al.,
//! 2019) in time, on a padded `(b, n)` batch with its `(b, classes)`
//! targets and `(b,)` valid lengths.
//!
//! Unlike the per-record transforms, these mix each row with another row of
//! the same batch, so one draw serves the whole batch: whether it mixes, the
//! weight `lam ~ Beta(alpha, alpha)`, the partner of every row (a uniform
//! permutation) and, for CutMix, where the span starts. The draw depends
//! only on the batch's seed; every output row is computed from unmodified
//! input rows, so the result is bit-identical on any thread count.

use rayon::prelude::*;

use super::check_probability;
use super::rng::Rng;
use crate::error::{catch_panics, Error, Result};
use crate::pool;

/// Which mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Every row becomes `lam * x[i] + (1 - lam) * x[perm[i]]`.
    Mixup,
    /// A span of `round((1 - lam) * n)` samples comes from the partner row.
    CutMix,
}

impl Kind {
    pub fn parse(name: &str) -> Option<Kind> {
        match name {
            "Mixup" => Some(Kind::Mixup),
            "CutMix" => Some(Kind::CutMix),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Mixup => "Mixup",
            Kind::CutMix => "CutMix",
        }
    }
}

/// What one batch seed draws.
#[derive(Clone, Debug, PartialEq)]
pub struct Draw {
    pub applied: bool,
    /// The weight of each row's own audio, in [0, 1].
    pub lam: f64,
    /// Row `i` is mixed with row `permutation[i]`.
    pub permutation: Vec<usize>,
    /// Where CutMix's span starts, as a fraction of the free positions.
    pub start: f64,
}

/// Checks the recipe; the draw and the mix refuse what this refuses.
pub fn validate(alpha: f64, p: f64) -> Result<()> {
    if !(alpha.is_finite() && alpha > 0.0) {
        return Err(Error::invalid(format!("alpha must be finite and > 0, got {alpha}")));
    }
    check_probability(p)
}

/// The draw of `seed` for a batch of `batch_size` rows. Every value is
/// drawn whether or not the batch mixes, in a fixed order, so `p` never
/// shifts the others.
pub fn draw(seed: u64, alpha: f64, p: f64, batch_size: usize) -> Result<Draw> {
    validate(alpha, p)?;
    let mut rng = Rng::new(seed, 0);
    let applied = rng.next_f64() < p;
    let lam = beta_symmetric(&mut rng, alpha);
    let permutation = permutation(&mut rng, batch_size);
    let start = rng.next_f64();
    Ok(Draw { applied, lam, permutation, start })
}

/// `Beta(alpha, alpha)` as `X / (X + Y)` with X, Y ~ Gamma(alpha), computed
/// from the variates' logarithms: for a small alpha both variates underflow
/// to 0 (a NaN ratio), while their log difference stays exact. The
/// logistic of a finite or infinite difference lies in [0, 1].
fn beta_symmetric(rng: &mut Rng, alpha: f64) -> f64 {
    let diff = log_gamma(rng, alpha) - log_gamma(rng, alpha);
    1.0 / (1.0 + (-diff).exp())
}

/// The logarithm of a Gamma(a) variate (unit scale). Marsaglia and Tsang
/// (2000) for a >= 1; below, Gamma(a) = Gamma(a + 1) * U^(1/a), whose
/// log `ln U / a` may be -inf (never NaN) for a tiny `a`.
fn log_gamma(rng: &mut Rng, a: f64) -> f64 {
    if a < 1.0 {
        let boosted = log_gamma(rng, a + 1.0);
        return boosted + rng.open_unit().ln() / a;
    }
    let d = a - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = rng.normal();
        let t = 1.0 + c * x;
        if t <= 0.0 {
            continue;
        }
        let v = t * t * t;
        let u = rng.open_unit();
        // The squeeze accepts ~98% without a logarithm, and keeps the loop
        // finite for a huge `a`, where the exact test's `d * (1 - v + ln v)`
        // is dominated by rounding.
        if u < 1.0 - 0.0331 * x.powi(4) || u.ln() < 0.5 * x * x + d * (1.0 - v + v.ln()) {
            return d.ln() + v.ln();
        }
    }
}

/// A uniform permutation of `0..n` (Fisher-Yates).
fn permutation(rng: &mut Rng, n: usize) -> Vec<usize> {
    let mut out: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        out.swap(i, rng.index(i + 1));
    }
    out
}

/// A padded batch, row-major.
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    /// `(rows, samples)` audio.
    pub audio: &'a [f32],
    pub samples: usize,
    /// `(rows, classes)` targets.
    pub targets: &'a [f32],
    pub classes: usize,
    /// Valid samples per row, each in `0..=samples`.
    pub lengths: &'a [i32],
}

/// A mixed batch, shaped like its input.
#[derive(Clone, Debug, PartialEq)]
pub struct Mixed {
    pub audio: Vec<f32>,
    pub targets: Vec<f32>,
    pub lengths: Vec<i32>,
}

impl Batch<'_> {
    fn rows(&self) -> usize {
        self.lengths.len()
    }

    fn validate(&self) -> Result<()> {
        let rows = self.rows();
        if self.samples == 0 {
            return Err(Error::invalid("cannot mix rows of 0 samples"));
        }
        if self.audio.len() != rows * self.samples {
            return Err(Error::invalid(format!(
                "audio holds {} samples, not {rows} rows of {}",
                self.audio.len(),
                self.samples
            )));
        }
        if self.targets.len() != rows * self.classes {
            return Err(Error::invalid(format!(
                "{rows} clips but {} targets",
                self.targets.len() / self.classes.max(1)
            )));
        }
        if let Some(bad) = self.lengths.iter().find(|&&l| l < 0 || l as usize > self.samples) {
            return Err(Error::invalid(format!("length {bad} outside [0, {}]", self.samples)));
        }
        Ok(())
    }

    fn unchanged(&self) -> Mixed {
        Mixed { audio: self.audio.to_vec(), targets: self.targets.to_vec(), lengths: self.lengths.to_vec() }
    }
}

/// Mixes `batch` as `seed` draws, on `num_threads` threads (the default
/// pool when `None`). A batch of fewer than two rows, or one the draw does
/// not apply to, comes back unchanged. A panic (a bug) comes back as
/// [`Error::Internal`].
pub fn mix(kind: Kind, batch: Batch<'_>, seed: u64, alpha: f64, p: f64, num_threads: Option<usize>) -> Result<Mixed> {
    catch_panics(
        || {
            batch.validate()?;
            let drawn = draw(seed, alpha, p, batch.rows())?;
            if !drawn.applied || batch.rows() < 2 {
                return Ok(batch.unchanged());
            }
            pool::run(num_threads, || match kind {
                Kind::Mixup => mixup(batch, &drawn),
                Kind::CutMix => cutmix(batch, &drawn),
            })
        },
        |reason| Error::Internal(format!("{} failed ({reason}); please report this bug", kind.name())),
    )
}

/// Row `i` of `out` (width `width`) from rows `i` and `perm[i]` of `source`.
fn by_rows(source: &[f32], width: usize, perm: &[usize], row: impl Fn(&[f32], &[f32], &mut [f32]) + Sync) -> Vec<f32> {
    let mut out = vec![0.0f32; source.len()];
    if width == 0 {
        return out;
    }
    out.par_chunks_mut(width)
        .zip(perm.par_iter())
        .enumerate()
        .for_each(|(i, (dst, &j))| row(&source[i * width..(i + 1) * width], &source[j * width..(j + 1) * width], dst));
    out
}

/// `own_weight * own + partner_weight * partner` in float32, as numpy
/// computes it: the callers pass the two weights each rounded as numpy
/// rounds them, so that results match the numpy formulas bit for bit.
fn blend(own_weight: f32, partner_weight: f32) -> impl Fn(&[f32], &[f32], &mut [f32]) + Sync {
    move |own, partner, dst| {
        for ((d, &a), &b) in dst.iter_mut().zip(own).zip(partner) {
            *d = own_weight * a + partner_weight * b;
        }
    }
}

fn mixup(batch: Batch<'_>, drawn: &Draw) -> Mixed {
    let (lam, perm) = (drawn.lam as f32, &drawn.permutation);
    Mixed {
        audio: by_rows(batch.audio, batch.samples, perm, blend(lam, 1.0 - lam)),
        targets: by_rows(batch.targets, batch.classes, perm, blend(lam, 1.0 - lam)),
        lengths: perm.iter().enumerate().map(|(i, &j)| batch.lengths[i].max(batch.lengths[j])).collect(),
    }
}

/// The span `[start, start + len)` CutMix takes from the partner row.
fn cutmix_span(n: usize, lam: f64, start_fraction: f64) -> (usize, usize) {
    // Python's round(): ties to even.
    let len = ((1.0 - lam) * n as f64).round_ties_even() as usize;
    let free = n - len;
    let start = ((start_fraction * (free + 1) as f64) as usize).min(free);
    (start, len)
}

fn cutmix(batch: Batch<'_>, drawn: &Draw) -> Mixed {
    let n = batch.samples;
    let (start, len) = cutmix_span(n, drawn.lam, drawn.start);
    let perm = &drawn.permutation;
    let audio = by_rows(batch.audio, n, perm, |own, partner, dst| {
        dst.copy_from_slice(own);
        dst[start..start + len].copy_from_slice(&partner[start..start + len]);
    });
    // The targets are weighted by the share of the row each source fills.
    let share = (len as f64 / n as f64) as f32;
    let targets = by_rows(batch.targets, batch.classes, perm, blend(1.0 - share, share));
    // A partner that has audio inside the span extends the row to the end
    // of what it contributes; one that ends before the span adds none.
    let lengths = perm
        .iter()
        .enumerate()
        .map(|(i, &j)| {
            let (own, partner) = (batch.lengths[i], batch.lengths[j] as usize);
            if start < partner {
                own.max((start + len).min(partner) as i32)
            } else {
                own
            }
        })
        .collect();
    Mixed { audio, targets, lengths }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_var(values: &[f64]) -> (f64, f64) {
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
        (mean, var)
    }

    #[test]
    fn beta_draws_have_the_mean_and_variance_of_beta_alpha_alpha() {
        for alpha in [0.05, 0.2, 0.4, 1.0, 2.5, 30.0] {
            let lams: Vec<f64> = (0..40_000).map(|seed| draw(seed, alpha, 1.0, 0).unwrap().lam).collect();
            let (mean, var) = mean_var(&lams);
            let expected = 1.0 / (4.0 * (2.0 * alpha + 1.0));
            assert!((mean - 0.5).abs() < 0.01, "alpha {alpha}: mean {mean}");
            assert!((var / expected - 1.0).abs() < 0.04, "alpha {alpha}: variance {var}, expected {expected}");
        }
    }

    #[test]
    fn uniform_at_alpha_one() {
        // Beta(1, 1) is uniform: a tenth of the draws in each tenth.
        let mut bins = [0usize; 10];
        for seed in 0..50_000 {
            bins[(draw(seed, 1.0, 1.0, 0).unwrap().lam * 10.0) as usize % 10] += 1;
        }
        assert!(bins.iter().all(|&c| (c as f64 / 5000.0 - 1.0).abs() < 0.06), "{bins:?}");
    }

    #[test]
    fn extreme_alphas_give_finite_weights_in_the_unit_interval() {
        for alpha in [1e-300, 1e-3, 1e3, 1e300] {
            let lams: Vec<f64> = (0..2000).map(|seed| draw(seed, alpha, 1.0, 4).unwrap().lam).collect();
            assert!(lams.iter().all(|l| (0.0..=1.0).contains(l)), "alpha {alpha}");
            if alpha < 1.0 {
                // Nearly all the mass at 0 and 1, split evenly: P(1e-6 < lam <
                // 1 - 1e-6) = 1.4% at 1e-3, and at 1e-300 every draw is 0 or 1.
                let edge = if alpha < 1e-100 { 0.0 } else { 1e-6 };
                let inner = lams.iter().filter(|&&l| l > edge && l < 1.0 - edge).count();
                assert!(inner <= if alpha < 1e-100 { 0 } else { 60 }, "alpha {alpha}: {inner} of 2000 inside");
                let ones = lams.iter().filter(|&&l| l > 0.5).count();
                assert!((ones as f64 / 2000.0 - 0.5).abs() < 0.05, "alpha {alpha}: {ones} of 2000 near 1");
            } else {
                assert!(lams.iter().all(|l| (l - 0.5).abs() < 0.06), "alpha {alpha}");
            }
        }
    }

    #[test]
    fn permutations_are_permutations_and_uniform() {
        for size in [0, 1, 2, 7, 64] {
            let mut perm = draw(3, 0.4, 1.0, size).unwrap().permutation;
            perm.sort_unstable();
            assert_eq!(perm, (0..size).collect::<Vec<_>>());
        }
        // Each of the 6 orders of 3 rows about equally often.
        let mut counts = std::collections::HashMap::new();
        for seed in 0..60_000 {
            *counts.entry(draw(seed, 0.4, 1.0, 3).unwrap().permutation).or_insert(0usize) += 1;
        }
        assert_eq!(counts.len(), 6);
        assert!(counts.values().all(|&c| (c as f64 / 10_000.0 - 1.0).abs() < 0.05), "{counts:?}");
    }

    #[test]
    fn draws_follow_p_and_the_seed() {
        let fired = (0..10_000).filter(|&s| draw(s, 0.4, 0.3, 8).unwrap().applied).count();
        assert!((fired as f64 / 10_000.0 - 0.3).abs() < 0.02, "{fired}");
        assert_eq!(draw(11, 0.4, 1.0, 8).unwrap(), draw(11, 0.4, 1.0, 8).unwrap());
        assert_ne!(draw(11, 0.4, 1.0, 8).unwrap(), draw(12, 0.4, 1.0, 8).unwrap());
        // p does not shift the other draws.
        let (a, b) = (draw(11, 0.4, 1.0, 8).unwrap(), draw(11, 0.4, 0.0, 8).unwrap());
        assert!(a.applied && !b.applied && (a.lam, a.permutation, a.start) == (b.lam, b.permutation, b.start));
    }

    struct Owned {
        audio: Vec<f32>,
        targets: Vec<f32>,
        lengths: Vec<i32>,
        samples: usize,
        classes: usize,
    }

    impl Owned {
        fn new(rows: usize, samples: usize, classes: usize) -> Owned {
            let audio = (0..rows * samples).map(|i| ((i as f32) * 0.37).sin()).collect();
            let targets = (0..rows * classes).map(|i| (i / classes % classes == i % classes) as u8 as f32).collect();
            let lengths = (0..rows).map(|r| (samples - r * samples / (2 * rows)) as i32).collect();
            Owned { audio, targets, lengths, samples, classes }
        }

        fn batch(&self) -> Batch<'_> {
            Batch {
                audio: &self.audio,
                samples: self.samples,
                targets: &self.targets,
                classes: self.classes,
                lengths: &self.lengths,
            }
        }
    }

    #[test]
    fn mixup_blends_rows_targets_and_takes_the_longer_length() {
        let owned = Owned::new(6, 50, 3);
        let (n, c) = (50, 3);
        let drawn = draw(5, 0.4, 1.0, 6).unwrap();
        let out = mix(Kind::Mixup, owned.batch(), 5, 0.4, 1.0, Some(1)).unwrap();
        let lam = drawn.lam as f32;
        for (i, &j) in drawn.permutation.iter().enumerate() {
            for k in 0..n {
                assert_eq!(out.audio[i * n + k], lam * owned.audio[i * n + k] + (1.0 - lam) * owned.audio[j * n + k]);
            }
            let sum: f32 = out.targets[i * c..(i + 1) * c].iter().sum();
            assert!((sum - 1.0).abs() < 1e-6);
            assert_eq!(out.lengths[i], owned.lengths[i].max(owned.lengths[j]));
        }
    }

    #[test]
    fn cutmix_takes_the_span_from_the_partner() {
        let owned = Owned::new(5, 400, 5);
        let (n, c) = (400, 5);
        for seed in 0..20 {
            let drawn = draw(seed, 1.0, 1.0, 5).unwrap();
            let (start, len) = cutmix_span(n, drawn.lam, drawn.start);
            assert!(start + len <= n);
            let out = mix(Kind::CutMix, owned.batch(), seed, 1.0, 1.0, Some(1)).unwrap();
            let share = (len as f64 / n as f64) as f32;
            for (i, &j) in drawn.permutation.iter().enumerate() {
                for k in 0..n {
                    let from = if (start..start + len).contains(&k) { j } else { i };
                    assert_eq!(out.audio[i * n + k], owned.audio[from * n + k]);
                }
                for k in 0..c {
                    let expected = (1.0 - share) * owned.targets[i * c + k] + share * owned.targets[j * c + k];
                    assert_eq!(out.targets[i * c + k], expected);
                }
                assert!(out.lengths[i] >= owned.lengths[i] && out.lengths[i] as usize <= n);
            }
        }
    }

    #[test]
    fn cutmix_span_rounds_like_python_and_stays_inside() {
        // round(2.5) == 2 in Python.
        assert_eq!(cutmix_span(10, 0.75, 0.0), (0, 2));
        assert_eq!(cutmix_span(10, 0.0, 0.999_999), (0, 10));
        assert_eq!(cutmix_span(10, 1.0, 0.999_999), (10, 0));
        assert_eq!(cutmix_span(10, 0.5, 0.999_999), (5, 5));
    }

    #[test]
    fn bit_identical_on_one_and_two_threads() {
        let owned = Owned::new(33, 1000, 4);
        for kind in [Kind::Mixup, Kind::CutMix] {
            for seed in 0..4 {
                let one = mix(kind, owned.batch(), seed, 0.4, 1.0, Some(1)).unwrap();
                let two = mix(kind, owned.batch(), seed, 0.4, 1.0, Some(2)).unwrap();
                assert_eq!(one, two);
                assert_eq!(one, mix(kind, owned.batch(), seed, 0.4, 1.0, None).unwrap());
            }
        }
    }

    #[test]
    fn unapplied_and_single_row_batches_come_back_unchanged() {
        let owned = Owned::new(4, 30, 2);
        let same = |out: Mixed| out == owned.batch().unchanged();
        assert!(same(mix(Kind::Mixup, owned.batch(), 1, 0.4, 0.0, None).unwrap()));
        let single = Owned::new(1, 30, 2);
        assert_eq!(mix(Kind::CutMix, single.batch(), 1, 0.4, 1.0, None).unwrap(), single.batch().unchanged());
    }

    #[test]
    fn bad_recipes_and_batches_are_refused() {
        let owned = Owned::new(4, 30, 2);
        for (alpha, p) in [(0.0, 1.0), (-1.0, 1.0), (f64::NAN, 1.0), (f64::INFINITY, 1.0), (0.4, 1.5), (0.4, f64::NAN)]
        {
            assert!(matches!(mix(Kind::Mixup, owned.batch(), 0, alpha, p, None), Err(Error::InvalidArgument(_))));
        }
        let mut batch = owned.batch();
        batch.samples = 29;
        assert!(mix(Kind::Mixup, batch, 0, 0.4, 1.0, None).is_err());
        let mut batch = owned.batch();
        batch.targets = &owned.targets[2..];
        assert!(mix(Kind::Mixup, batch, 0, 0.4, 1.0, None).is_err());
        let long = [31, 1, 1, 1];
        let mut batch = owned.batch();
        batch.lengths = &long;
        assert!(mix(Kind::CutMix, batch, 0, 0.4, 1.0, None).is_err());
        assert!(mix(Kind::CutMix, owned.batch(), 0, 0.4, 1.0, Some(0)).is_err());
    }
}
