//! Band-limited interpolation at an arbitrary (irrational) ratio, for speed
//! perturbation and pitch shifting: `out[k] = x(k * step)`, low-passed when
//! `step > 1` so that reading faster does not alias.
//!
//! The decode path's resampler tabulates one kernel per phase of a rational
//! ratio; a pitch shift of 2^(k/12) has no small rational form, so this
//! tabulates the kernel at 256 phases per sample for the call's cutoff and
//! interpolates linearly between neighbouring phases.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use super::simd::sum_lanes;
#[cfg(target_arch = "x86_64")]
use super::simd::sum_lanes_avx;

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

/// Fractional positions between two samples at which the kernel is
/// tabulated; positions in between interpolate linearly between rows.
const PHASE_BITS: u32 = 8;
const PHASES: usize = 1 << PHASE_BITS;
/// One sample in the fixed-point positions of `read_with`.
const FRACTION: u64 = 1 << 32;

/// The kernel at one cutoff, sampled for every phase: row `p` holds the
/// weights of `taps` consecutive samples for an output that falls `p /
/// PHASES` of a sample after the `taps / 2 - 1`-th of them, and `slopes`
/// the step to row `p + 1`. Each row sums to one, so DC passes exactly.
/// Rows are zero-padded to a multiple of 8 floats (`stride`), so the inner
/// loop has no scalar tail.
struct FilterBank {
    taps: usize,
    stride: usize,
    rows: Vec<f32>,
    slopes: Vec<f32>,
}

impl FilterBank {
    fn new(cutoff: f64) -> FilterBank {
        let table = table();
        let last_entry = ZERO_CROSSINGS * OVERSAMPLE;
        let taps = 2 * (ZERO_CROSSINGS as f64 / cutoff).ceil() as usize;
        let stride = taps.next_multiple_of(8);
        let centre = (taps / 2 - 1) as f64;
        let mut rows = vec![0.0f32; (PHASES + 1) * stride];
        for (p, row) in rows.chunks_exact_mut(stride).enumerate() {
            let phase = p as f64 / PHASES as f64;
            for (i, w) in row[..taps].iter_mut().enumerate() {
                let entry = ((i as f64 - centre - phase).abs() * cutoff * OVERSAMPLE as f64 + 0.5) as usize;
                *w = if entry <= last_entry { table[entry] } else { 0.0 };
            }
            let sum: f32 = row.iter().sum();
            row.iter_mut().for_each(|w| *w /= sum);
        }
        let slopes = rows.iter().zip(&rows[stride..]).map(|(a, b)| b - a).collect();
        FilterBank { taps, stride, rows, slopes }
    }
}

/// Cutoffs are rounded down to a multiple of this (of the input's Nyquist
/// frequency), so that a continuous range of rates shares a few dozen
/// filter banks: building one costs as much as reading 5,000 samples.
/// Rounding down keeps the anti-aliasing: the band kept is at most 1.6%
/// narrower than the output's Nyquist band allows.
const CUTOFF_STEP: f64 = 1.0 / 64.0;

/// The filter bank for `cutoff` (a multiple of [`CUTOFF_STEP`]), built once
/// per process and shared by every thread; a cached bank is the one a call
/// would build, so caching never changes an output.
fn filter_bank(cutoff: f64) -> Arc<FilterBank> {
    static BANKS: OnceLock<Mutex<HashMap<u64, Arc<FilterBank>>>> = OnceLock::new();
    let banks = BANKS.get_or_init(Mutex::default);
    let lock = || banks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(bank) = lock().get(&cutoff.to_bits()) {
        return bank.clone();
    }
    // Built outside the lock: other threads' look-ups do not wait.
    let bank = Arc::new(FilterBank::new(cutoff));
    lock().entry(cutoff.to_bits()).or_insert(bank).clone()
}

/// `out_len` samples of `x` read at `step` input samples per output sample.
pub fn read_at_rate(x: &[f32], step: f64, out_len: usize) -> Vec<f32> {
    // Low-pass at the output's Nyquist when reading faster than 1:1. Steps
    // lie within [1/16, 16] (checked where transforms are built), so there
    // are at most 64 cutoffs.
    let cutoff = ((1.0 / step).min(1.0) / CUTOFF_STEP).floor().max(1.0) * CUTOFF_STEP;
    let bank = filter_bank(cutoff);
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx") {
        // SAFETY: the CPU has AVX, checked just above.
        return unsafe { read_with_avx(&bank, x, step, out_len) };
    }
    read_with(&bank, x, step, out_len)
}

/// Where output sample `k` reads: the first of its taps in the input, the
/// kernel's phase row and how far between rows `p` and `p + 1` it falls.
struct Position {
    first: i64,
    row: usize,
    between: f32,
}

/// Reads `x` through a filter bank at a fixed step.
struct Reader<'a> {
    bank: &'a FilterBank,
    x: &'a [f32],
    step_fixed: u64,
}

impl<'a> Reader<'a> {
    fn new(bank: &'a FilterBank, x: &'a [f32], step: f64) -> Self {
        // Positions in 32.32 fixed point: integer arithmetic only per sample;
        // the step's rounding (under 2^-33) drifts by 1e-4 samples per million.
        Reader { bank, x, step_fixed: (step * FRACTION as f64).round() as u64 }
    }

    fn at(&self, k: usize) -> Position {
        let t = k as u64 * self.step_fixed;
        let fraction = t & (FRACTION - 1);
        Position {
            first: (t >> 32) as i64 - (self.bank.taps / 2 - 1) as i64,
            row: (fraction >> (32 - PHASE_BITS)) as usize,
            between: (fraction & ((1 << (32 - PHASE_BITS)) - 1)) as f32 * (1.0 / (1u64 << (32 - PHASE_BITS)) as f32),
        }
    }

    /// Whether every tap (padding included) falls inside the input.
    fn inside(&self, at: &Position) -> bool {
        at.first >= 0 && at.first + self.bank.stride as i64 <= self.x.len() as i64
    }

    fn kernel(&self, at: &Position) -> (&'a [f32], &'a [f32]) {
        let range = at.row * self.bank.stride..(at.row + 1) * self.bank.stride;
        (&self.bank.rows[range.clone()], &self.bank.slopes[range])
    }

    fn taps_at(&self, at: &Position) -> &'a [f32] {
        &self.x[at.first as usize..at.first as usize + self.bank.stride]
    }

    fn read(&self, at: &Position, dot: impl Fn(&[f32], &[f32], f32, &[f32]) -> f32) -> f32 {
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
                let w = row[i] + at.between * slope[i];
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

fn read_with(bank: &FilterBank, x: &[f32], step: f64, out_len: usize) -> Vec<f32> {
    let reader = Reader::new(bank, x, step);
    (0..out_len).map(|k| reader.read(&reader.at(k), interpolated_dot)).collect()
}

/// [`read_with`] four output samples at a time: their eight-lane sums are
/// reduced together (a 4x4 transpose), which is where one sample at a time
/// spent half its time. The additions are those of [`sum_lanes`], in its
/// order, so the output is bit-identical to the portable path's.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn read_with_avx(bank: &FilterBank, x: &[f32], step: f64, out_len: usize) -> Vec<f32> {
    use std::arch::x86_64::*;
    // SAFETY (for every call below): this function only runs on CPUs with AVX.
    let one = |r: &[f32], s: &[f32], b: f32, x: &[f32]| unsafe { interpolated_dot_avx(r, s, b, x) };
    let reader = Reader::new(bank, x, step);
    let mut out = vec![0.0f32; out_len];
    for (group, y) in out.chunks_mut(4).enumerate() {
        let at: [Position; 4] = std::array::from_fn(|i| reader.at(4 * group + i));
        if y.len() < 4 || !at.iter().all(|a| reader.inside(a)) {
            y.iter_mut().zip(&at).for_each(|(y, a)| *y = reader.read(a, one));
            continue;
        }
        let mut quads = [_mm_setzero_ps(); 4];
        for (quad, a) in quads.iter_mut().zip(&at) {
            let (row, slope) = reader.kernel(a);
            let lanes = unsafe { interpolated_lanes_avx(row, slope, a.between, reader.taps_at(a)) };
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

/// `sum((row[i] + between * slope[i]) * x[i])`, all lengths a multiple of 8:
/// eight lanes, then [`sum_lanes`].
fn interpolated_dot(row: &[f32], slope: &[f32], between: f32, x: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    for ((r, s), x) in row.chunks_exact(8).zip(slope.chunks_exact(8)).zip(x.chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += (r[i] + between * s[i]) * x[i];
        }
    }
    sum_lanes(acc)
}

/// [`interpolated_dot`]'s eight lane sums in an AVX register: the same
/// operations in the same order (no fused multiply-add), so the output is
/// bit-identical on every CPU; the compiler does not find this form by itself.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
#[inline]
unsafe fn interpolated_lanes_avx(row: &[f32], slope: &[f32], between: f32, x: &[f32]) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
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

/// [`interpolated_dot`] with AVX.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
#[inline]
unsafe fn interpolated_dot_avx(row: &[f32], slope: &[f32], between: f32, x: &[f32]) -> f32 {
    // SAFETY: AVX is enabled in this function.
    unsafe { sum_lanes_avx(interpolated_lanes_avx(row, slope, between, x)) }
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
        assert!(snr_of_a_tone_read_at(500.0, 1.25) > 50.0);
        assert!(snr_of_a_tone_read_at(1000.0, 0.8) > 50.0);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx_path_is_bit_identical_to_the_portable_one() {
        if !is_x86_feature_detected!("avx") {
            return;
        }
        let x: Vec<f32> = (0..3000).map(|i| ((i * 7919) % 1009) as f32 / 1009.0 - 0.5).collect();
        for step in [0.83f64, 1.0, 1.19, 2.5] {
            let bank = FilterBank::new((1.0 / step).min(1.0));
            let portable = read_with(&bank, &x, step, 2000);
            // SAFETY: AVX is present, checked above.
            let avx = unsafe { read_with_avx(&bank, &x, step, 2000) };
            assert_eq!(portable, avx, "step {step}");
        }
    }
}
