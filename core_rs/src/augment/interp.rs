//! Band-limited interpolation at an arbitrary (irrational) ratio, for speed
//! perturbation and pitch shifting: `out[k] = x(k * step)`, low-passed when
//! `step > 1` so that reading faster does not alias.
//!
//! The decode path's resampler tabulates one kernel per phase of a rational
//! ratio; a pitch shift of 2^(k/12) has no small rational form, so this
//! evaluates an oversampled windowed-sinc table with linear interpolation.

use std::sync::OnceLock;

/// Zero crossings on each side at unit cutoff: about 70 dB of stop band,
/// plenty for augmentation, and half the taps of the decode path's kernel.
const ZERO_CROSSINGS: usize = 8;
/// Table entries per unit of the sinc's argument; taps take the nearest
/// entry (a timing error below 1/8000 of a sample, far under the noise of
/// any augmentation).
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

/// `out_len` samples of `x` read at `step` input samples per output sample.
pub fn read_at_rate(x: &[f32], step: f64, out_len: usize) -> Vec<f32> {
    let table = table();
    // Low-pass at the output's Nyquist when reading faster than 1:1.
    let cutoff = (1.0 / step).min(1.0);
    let half_width = ZERO_CROSSINGS as f64 / cutoff;
    // Table entries per input sample.
    let scale = OVERSAMPLE as f64 * cutoff;
    let last_entry = ZERO_CROSSINGS * OVERSAMPLE;
    let n = x.len() as i64;
    let mut out = Vec::with_capacity(out_len);
    for k in 0..out_len {
        let t = k as f64 * step;
        let first = ((t - half_width).ceil() as i64).max(0);
        let last = ((t + half_width).floor() as i64).min(n - 1);
        let (mut acc, mut norm) = (0.0f32, 0.0f32);
        // Distance from `t` to tap `i`, in table entries, stepped down by
        // `scale` per tap (its sign flips past `t`).
        let mut position = (t - first as f64) * scale;
        for &sample in &x[first as usize..(last + 1).max(first) as usize] {
            let j = (position.abs() + 0.5) as usize;
            let w = if j <= last_entry { table[j] } else { 0.0 };
            acc += w * sample;
            norm += w;
            position -= scale;
        }
        // Dividing by the tap sum keeps DC exact and, near the clip's ends,
        // avoids fading towards zero.
        out.push(if norm > 1e-6 { acc / norm } else { 0.0 });
    }
    out
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

    #[test]
    fn a_tone_read_faster_rises_in_frequency() {
        let sr = 16000.0;
        let x: Vec<f32> = (0..16000).map(|i| (std::f64::consts::TAU * 500.0 * i as f64 / sr).sin() as f32).collect();
        let y = read_at_rate(&x, 1.25, 12800);
        let want: Vec<f32> = (0..12800).map(|i| (std::f64::consts::TAU * 625.0 * i as f64 / sr).sin() as f32).collect();
        let err: f64 = y[200..12600].iter().zip(&want[200..12600]).map(|(a, b)| ((a - b) as f64).powi(2)).sum();
        let pow: f64 = want[200..12600].iter().map(|&b| (b as f64).powi(2)).sum();
        assert!(10.0 * (pow / err).log10() > 50.0);
    }
}
