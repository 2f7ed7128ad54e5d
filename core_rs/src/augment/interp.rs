//! Band-limited interpolation at an arbitrary ratio, for speed
//! perturbation and pitch shifting: `out[k] = x(k * step)`, low-passed when
//! `step > 1` so that reading faster does not alias.
//!
//! A step with a small rational form `p / q` (speed perturbation's 0.9 and
//! 1.1) visits only `q` phases between samples: each gets its exact kernel
//! row, and an output is one dot product. A pitch shift's 2^(k/12) has no
//! such form, so its kernel is tabulated at 256 phases per sample and
//! interpolated linearly between neighbouring phases (twice the work per
//! tap). The decode path's resampler (`resample.rs`) has a kernel four
//! times as long, for 90 dB where augmentation needs far less.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use super::simd::{dot_lanes, sum_lanes};
#[cfg(target_arch = "x86_64")]
use super::simd::{dot_lanes_avx, sum_lanes_avx};

/// Zero crossings on each side at unit cutoff: about 70 dB of stop band,
/// plenty for augmentation, and half the taps of the decode path's kernel.
const ZERO_CROSSINGS: usize = 8;
/// Entries per unit of the sinc's argument in the master table the
/// per-cutoff filter banks are read from (nearest entry).
const OVERSAMPLE: usize = 4096;
const KAISER_BETA: f64 = 7.0;

/// `h(t)` for `t = j / OVERSAMPLE`, `j = 0..=ZERO_CROSSINGS * OVERSAMPLE`
/// (the kernel is symmetric), with one trailing zero.
fn table() -> &'static [f32] {
    static TABLE: OnceLock<Vec<f32>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let n = ZERO_CROSSINGS * OVERSAMPLE;
        let i0_beta = bessel_i0(KAISER_BETA);
        let mut table: Vec<f32> = (0..=n)
            .map(|j| {
                let t = j as f64 / OVERSAMPLE as f64;
                let x = t / ZERO_CROSSINGS as f64;
                let window = bessel_i0(KAISER_BETA * (1.0 - x * x).max(0.0).sqrt()) / i0_beta;
                let sinc = if j == 0 { 1.0 } else { (std::f64::consts::PI * t).sin() / (std::f64::consts::PI * t) };
                (sinc * window) as f32
            })
            .collect();
        table.push(0.0);
        table
    })
}

fn bessel_i0(x: f64) -> f64 {
    let (mut sum, mut term) = (1.0f64, 1.0f64);
    for k in 1..64 {
        term *= (x / 2.0 / k as f64).powi(2);
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

/// Phases tabulated per input sample for a step with no small rational
/// form; positions in between interpolate linearly between rows.
const PHASE_BITS: u32 = 8;
const PHASES: usize = 1 << PHASE_BITS;
/// One sample in the fixed-point positions of an interpolated read.
const FRACTION: u64 = 1 << 32;
/// A step `p / q` with `q` up to this reads through `q` exact rows: the
/// positions repeat every `q` outputs. Speed perturbation's usual rates
/// (0.9, 1.1, 0.95) have `q` of 10 or 20.
const MAX_EXACT_PHASES: u64 = 256;

/// The kernel at one cutoff, sampled at a set of phases: row `r` holds the
/// weights of `taps` consecutive samples for an output that falls `r /
/// phases` of a sample after the `taps / 2 - 1`-th of them. Each row sums
/// to one, so DC passes exactly. Rows are zero-padded to a multiple of 8
/// floats (`stride`), so the inner loop has no scalar tail. An interpolated
/// bank also has the step to the next row (`slopes`, one row more).
struct FilterBank {
    taps: usize,
    stride: usize,
    rows: Vec<f32>,
    slopes: Vec<f32>,
}

impl FilterBank {
    fn new(cutoff: f64, phases: usize, interpolated: bool) -> FilterBank {
        let table = table();
        let last_entry = ZERO_CROSSINGS * OVERSAMPLE;
        let taps = 2 * (ZERO_CROSSINGS as f64 / cutoff).ceil() as usize;
        let stride = taps.next_multiple_of(8);
        let centre = (taps / 2 - 1) as f64;
        let mut rows = vec![0.0f32; (phases + usize::from(interpolated)) * stride];
        for (r, row) in rows.chunks_exact_mut(stride).enumerate() {
            let phase = r as f64 / phases as f64;
            for (i, w) in row[..taps].iter_mut().enumerate() {
                let entry = ((i as f64 - centre - phase).abs() * cutoff * OVERSAMPLE as f64 + 0.5) as usize;
                *w = if entry <= last_entry { table[entry] } else { 0.0 };
            }
            let sum: f32 = row.iter().sum();
            row.iter_mut().for_each(|w| *w /= sum);
        }
        let slopes = if interpolated { rows.iter().zip(&rows[stride..]).map(|(a, b)| b - a).collect() } else { vec![] };
        FilterBank { taps, stride, rows, slopes }
    }
}

/// Cutoffs are rounded down to a multiple of this (of the input's Nyquist
/// frequency), so that a continuous range of rates shares a few dozen
/// filter banks: building one costs as much as reading 5,000 samples.
/// Rounding down keeps the anti-aliasing: the band kept is at most 1.6%
/// narrower than the output's Nyquist band allows.
const CUTOFF_STEP: f64 = 1.0 / 64.0;

/// The filter bank for `cutoff` (a multiple of [`CUTOFF_STEP`]) with exact
/// rows for `phases` (or interpolated ones when `None`), built once per
/// process and shared by every thread; a cached bank is the one a call
/// would build, so caching never changes an output. At most 64 cutoffs x
/// (256 exact phase counts + 1) banks can exist.
fn filter_bank(cutoff: f64, phases: Option<u64>) -> Arc<FilterBank> {
    type Key = (u64, Option<u64>);
    static BANKS: OnceLock<Mutex<HashMap<Key, Arc<FilterBank>>>> = OnceLock::new();
    let banks = BANKS.get_or_init(Mutex::default);
    let lock = || banks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let key = (cutoff.to_bits(), phases);
    if let Some(bank) = lock().get(&key) {
        return bank.clone();
    }
    // Built outside the lock: other threads' look-ups do not wait.
    let bank = Arc::new(match phases {
        Some(q) => FilterBank::new(cutoff, q as usize, false),
        None => FilterBank::new(cutoff, PHASES, true),
    });
    lock().entry(key).or_insert(bank).clone()
}

/// `step` as `p / q` with `q <= MAX_EXACT_PHASES`, if it is one (to within
/// float rounding of the decimal it was written as).
fn as_fraction(step: f64) -> Option<(u64, u64)> {
    (1..=MAX_EXACT_PHASES).find_map(|q| {
        let p = (step * q as f64).round();
        ((step * q as f64 - p).abs() < 1e-9 * p && p >= 1.0).then_some((p as u64, q))
    })
}

/// The kernel's cutoff (of the input's Nyquist frequency) for `step`:
/// low-pass at the output's Nyquist when reading faster than 1:1. Steps lie
/// within [1/16, 16] (checked where transforms are built), so there are at
/// most 64 cutoffs.
fn cutoff_for(step: f64) -> f64 {
    ((1.0 / step).min(1.0) / CUTOFF_STEP).floor().max(1.0) * CUTOFF_STEP
}

/// The filter bank and the stepping for `step`.
fn plan(step: f64) -> (Arc<FilterBank>, Stepping) {
    let cutoff = cutoff_for(step);
    match as_fraction(step) {
        Some((p, q)) => (filter_bank(cutoff, Some(q)), Stepping::Exact { p, q }),
        None => {
            (filter_bank(cutoff, None), Stepping::Interpolated { step_fixed: (step * FRACTION as f64).round() as u64 })
        }
    }
}

/// `out_len` samples of `x` read at `step` input samples per output sample.
pub fn read_at_rate(x: &[f32], step: f64, out_len: usize) -> Vec<f32> {
    let (bank, stepping) = plan(step);
    let reader = Reader { bank: &bank, x, stepping };
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx") {
        // SAFETY: the CPU has AVX, checked just above.
        return unsafe { read_with_avx(&reader, out_len) };
    }
    read_portable(&reader, out_len)
}

fn read_portable(reader: &Reader<'_>, out_len: usize) -> Vec<f32> {
    reader.positions().take(out_len).map(|at| reader.read(&at, weighted_taps)).collect()
}

/// How output positions advance through the input.
#[derive(Clone, Copy)]
enum Stepping {
    /// `p / q` input samples per output: exact positions, `q` phases.
    Exact { p: u64, q: u64 },
    /// Positions in 32.32 fixed point: integer arithmetic only per sample;
    /// the step's rounding (under 2^-33) drifts by 1e-4 samples per million.
    Interpolated { step_fixed: u64 },
}

/// Where output sample `k` reads: the first of its taps in the input, the
/// kernel's row, and (interpolated banks) how far towards the next row.
struct Position {
    first: i64,
    row: usize,
    between: f32,
}

impl Position {
    /// Never read: `positions()` does not end.
    const NONE: Position = Position { first: 0, row: 0, between: 0.0 };
}

/// One output: the sum of its weighted taps, `row[i] * x[i]`, or
/// `(row[i] + between * slope[i]) * x[i]` for an interpolated bank.
type Dot = fn(&[f32], &[f32], f32, &[f32]) -> f32;

/// Reads `x` through a filter bank.
struct Reader<'a> {
    bank: &'a FilterBank,
    x: &'a [f32],
    stepping: Stepping,
}

impl<'a> Reader<'a> {
    /// The positions of output samples 0, 1, 2, ... in turn; advanced by
    /// additions only (a 64-bit division per sample cost a third of the time).
    fn positions(&self) -> impl Iterator<Item = Position> {
        let centre = (self.bank.taps / 2 - 1) as i64;
        let (mut whole, mut row, mut fixed) = (0i64, 0u64, 0u64);
        let stepping = self.stepping;
        std::iter::from_fn(move || {
            let at = match stepping {
                Stepping::Exact { p, q } => {
                    let at = Position { first: whole - centre, row: row as usize, between: 0.0 };
                    (whole, row) = (whole + (p / q) as i64, row + p % q);
                    if row >= q {
                        (whole, row) = (whole + 1, row - q);
                    }
                    at
                }
                Stepping::Interpolated { step_fixed } => {
                    let fraction = fixed & (FRACTION - 1);
                    let low_bits = fraction & ((1 << (32 - PHASE_BITS)) - 1);
                    let at = Position {
                        first: (fixed >> 32) as i64 - centre,
                        row: (fraction >> (32 - PHASE_BITS)) as usize,
                        between: low_bits as f32 * (1.0 / (1u64 << (32 - PHASE_BITS)) as f32),
                    };
                    fixed += step_fixed;
                    at
                }
            };
            Some(at)
        })
    }

    /// Whether every tap (padding included) falls inside the input.
    fn inside(&self, at: &Position) -> bool {
        at.first >= 0 && at.first + self.bank.stride as i64 <= self.x.len() as i64
    }

    /// The row's weights and slopes (empty for an exact bank).
    fn kernel(&self, at: &Position) -> (&'a [f32], &'a [f32]) {
        let range = at.row * self.bank.stride..(at.row + 1) * self.bank.stride;
        let slopes = if self.bank.slopes.is_empty() { &[][..] } else { &self.bank.slopes[range.clone()] };
        (&self.bank.rows[range], slopes)
    }

    fn taps_at(&self, at: &Position) -> &'a [f32] {
        &self.x[at.first as usize..at.first as usize + self.bank.stride]
    }

    fn read(&self, at: &Position, dot: Dot) -> f32 {
        let (row, slope) = self.kernel(at);
        if self.inside(at) {
            return dot(row, slope, at.between, self.taps_at(at));
        }
        // Near the ends: the taps that exist, renormalized, so the clip
        // does not fade towards zero there.
        let n = self.x.len() as i64;
        let (mut acc, mut norm) = (0.0f32, 0.0f32);
        for i in 0..self.bank.taps {
            let j = at.first + i as i64;
            if (0..n).contains(&j) {
                let w = if slope.is_empty() { row[i] } else { row[i] + at.between * slope[i] };
                acc += w * self.x[j as usize];
                norm += w;
            }
        }
        if norm > 1e-6 {
            acc / norm
        } else {
            0.0
        }
    }
}

/// One output's weighted taps summed in eight lanes, then [`sum_lanes`];
/// all lengths are a multiple of 8.
fn weighted_taps(row: &[f32], slope: &[f32], between: f32, x: &[f32]) -> f32 {
    if slope.is_empty() {
        return sum_lanes(dot_lanes(row, x));
    }
    let mut acc = [0.0f32; 8];
    for ((r, s), x) in row.chunks_exact(8).zip(slope.chunks_exact(8)).zip(x.chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += (r[i] + between * s[i]) * x[i];
        }
    }
    sum_lanes(acc)
}

/// The reads four output samples at a time: their eight-lane sums are
/// reduced together (a 4x4 transpose), which is where one sample at a time
/// spent half its time. The operations are those of [`weighted_taps`] and
/// [`sum_lanes`], in their order, so the output is bit-identical to the
/// portable path's on every CPU.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn read_with_avx(reader: &Reader<'_>, out_len: usize) -> Vec<f32> {
    use std::arch::x86_64::*;
    // SAFETY (every call below): this function only runs on CPUs with AVX.
    let one: Dot = |r, s, b, x| unsafe { sum_lanes_avx(lanes_avx(r, s, b, x)) };
    let mut out = vec![0.0f32; out_len];
    let mut positions = reader.positions();
    for y in out.chunks_mut(4) {
        let at: [Position; 4] = std::array::from_fn(|_| positions.next().unwrap_or(Position::NONE));
        if y.len() < 4 || !at.iter().all(|a| reader.inside(a)) {
            y.iter_mut().zip(&at).for_each(|(y, a)| *y = reader.read(a, one));
            continue;
        }
        let mut quads = [_mm_setzero_ps(); 4];
        for (quad, a) in quads.iter_mut().zip(&at) {
            let (row, slope) = reader.kernel(a);
            let lanes = unsafe { lanes_avx(row, slope, a.between, reader.taps_at(a)) };
            // (a0 + a4, a1 + a5, a2 + a6, a3 + a7), as sum_lanes begins.
            *quad = _mm_add_ps(_mm256_castps256_ps128(lanes), _mm256_extractf128_ps(lanes, 1));
        }
        // Lane i of `even` holds (q0 + q2) of output i, of `odd` (q1 + q3).
        let low = _mm_add_ps(_mm_unpacklo_ps(quads[0], quads[1]), _mm_unpackhi_ps(quads[0], quads[1]));
        let high = _mm_add_ps(_mm_unpacklo_ps(quads[2], quads[3]), _mm_unpackhi_ps(quads[2], quads[3]));
        let (even, odd) = (_mm_movelh_ps(low, high), _mm_movehl_ps(high, low));
        // SAFETY: `y` holds four floats.
        unsafe { _mm_storeu_ps(y.as_mut_ptr(), _mm_add_ps(even, odd)) };
    }
    out
}

/// The eight lane sums of [`weighted_taps`] in an AVX register: the same
/// operations in the same order (no fused multiply-add); the compiler does
/// not find this form by itself.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
#[inline]
unsafe fn lanes_avx(row: &[f32], slope: &[f32], between: f32, x: &[f32]) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    if slope.is_empty() {
        // SAFETY: AVX is enabled in this function.
        return unsafe { dot_lanes_avx(row, x) };
    }
    let n = row.len().min(slope.len()).min(x.len());
    let (pr, ps, px) = (row.as_ptr(), slope.as_ptr(), x.as_ptr());
    let weight = _mm256_set1_ps(between);
    let mut acc = _mm256_setzero_ps();
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n, within all three slices; loads are unaligned.
        let w = unsafe { _mm256_add_ps(_mm256_loadu_ps(pr.add(i)), _mm256_mul_ps(weight, _mm256_loadu_ps(ps.add(i)))) };
        acc = _mm256_add_ps(acc, _mm256_mul_ps(w, unsafe { _mm256_loadu_ps(px.add(i)) }));
        i += 8;
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_step_returns_the_input() {
        let x: Vec<f32> = (0..500).map(|i| ((i * 37) % 101) as f32 / 101.0 - 0.5).collect();
        let y = read_at_rate(&x, 1.0, x.len());
        for (a, b) in x.iter().zip(&y) {
            assert!((a - b).abs() < 1e-5);
        }
    }

    /// SNR (dB) of a `hz` tone read at `step` against the tone it should become.
    fn snr_of_a_tone_read_at(hz: f64, step: f64) -> f64 {
        let (sr, n) = (16000.0, 16000);
        let out_len = (n as f64 / step) as usize;
        let tone = |f: f64, len: usize| -> Vec<f32> {
            (0..len).map(|i| (std::f64::consts::TAU * f * i as f64 / sr).sin() as f32).collect()
        };
        let y = read_at_rate(&tone(hz, n), step, out_len);
        let want = tone(hz * step, out_len);
        let body = 200..out_len - 200;
        let err: f64 = y[body.clone()].iter().zip(&want[body.clone()]).map(|(a, b)| ((a - b) as f64).powi(2)).sum();
        let pow: f64 = want[body].iter().map(|&b| (b as f64).powi(2)).sum();
        10.0 * (pow / err).log10()
    }

    #[test]
    fn a_tone_read_faster_or_slower_moves_in_frequency() {
        // Exact phases (5/4, 4/5, 9/10, 11/10) and interpolated ones (pitch ratios).
        for (hz, step) in [(500.0, 1.25), (1000.0, 0.8), (1500.0, 0.9), (700.0, 1.1)] {
            assert!(as_fraction(step).is_some());
            assert!(snr_of_a_tone_read_at(hz, step) > 50.0, "{step}");
        }
        for (hz, semitones) in [(500.0f64, 3.0f64), (1000.0, -2.0), (300.0, 7.0)] {
            let step = 2f64.powf(semitones / 12.0);
            assert!(as_fraction(step).is_none());
            assert!(snr_of_a_tone_read_at(hz, step) > 50.0, "{step}");
        }
    }

    #[test]
    fn small_fractions_are_found_and_others_are_not() {
        assert_eq!(as_fraction(0.9), Some((9, 10)));
        assert_eq!(as_fraction(1.1), Some((11, 10)));
        assert_eq!(as_fraction(1.0), Some((1, 1)));
        assert_eq!(as_fraction(0.95), Some((19, 20)));
        assert_eq!(as_fraction(1.0 / 3.0), Some((1, 3)));
        assert_eq!(as_fraction(std::f64::consts::PI / 3.0), None);
    }

    #[test]
    fn exact_phases_read_what_interpolated_ones_approximate() {
        let x: Vec<f32> = (0..4000).map(|i| (i as f32 * 0.05).sin() * 0.5).collect();
        let (exact_bank, exact) = plan(1.1);
        let interpolated = Stepping::Interpolated { step_fixed: (1.1 * FRACTION as f64).round() as u64 };
        let interpolated_bank = filter_bank(cutoff_for(1.1), None);
        let a = read_portable(&Reader { bank: &exact_bank, x: &x, stepping: exact }, 3600);
        let b = read_portable(&Reader { bank: &interpolated_bank, x: &x, stepping: interpolated }, 3600);
        let worst = a.iter().zip(&b).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
        assert!(worst < 1e-3, "{worst}");
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx_path_is_bit_identical_to_the_portable_one() {
        if !is_x86_feature_detected!("avx") {
            return;
        }
        let x: Vec<f32> = (0..3000).map(|i| ((i * 7919) % 1009) as f32 / 1009.0 - 0.5).collect();
        for step in [0.83f64, 0.9, 1.0, 1.1, 1.19, 2.5, 2f64.powf(5.0 / 12.0), 2f64.powf(-3.0 / 12.0)] {
            let (bank, stepping) = plan(step);
            let reader = Reader { bank: &bank, x: &x, stepping };
            let portable = read_portable(&reader, 2000);
            // SAFETY: AVX is present, checked above.
            let avx = unsafe { read_with_avx(&reader, 2000) };
            assert_eq!(portable, avx, "step {step}");
        }
    }
}
