//! Time stretching: a phase vocoder with identity phase locking (Laroche and
//! Dolson, 1999).
//!
//! A plain phase vocoder (librosa's) advances every bin's phase on its own,
//! which smears transients and makes speech sound "phasey". Identity phase
//! locking advances only spectral peaks and rotates the bins around each
//! peak with it, keeping the phase relations inside a partial. It is also
//! cheaper: trigonometry runs per peak, and the other bins are one complex
//! multiplication each.

use realfft::num_complex::Complex32;

use super::fft::{plans, Plans};
use super::window::hann;

/// Frame length for a sample rate: about 64 ms, a power of two (1024 at
/// 16 kHz, 2048 at 22.05 kHz, 4096 at 44.1 and 48 kHz).
pub fn frame_length(sr: u32) -> usize {
    ((sr as f64 * 0.064) as usize).next_power_of_two().max(256)
}

/// Power, relative to the frame's strongest bin, under which bins are not
/// phase-locked (-40 dB).
const LOCK_FLOOR: f32 = 1e-4;

/// `x` played `rate` times faster (rate > 1 shortens), pitch unchanged.
/// The output has `round(len / rate)` samples.
pub fn time_stretch(x: &[f32], rate: f64, sr: u32) -> Vec<f32> {
    let out_len = (x.len() as f64 / rate).round() as usize;
    if x.is_empty() || out_len == 0 {
        return vec![0.0; out_len];
    }
    if (rate - 1.0).abs() < 1e-12 {
        return x.to_vec();
    }
    let n_fft = frame_length(sr);
    // 87.5% overlap: against 75%, speech keeps its spectral envelope ~1 dB
    // closer to the original (tests/test_augment.py compares with librosa).
    let hop_out = n_fft / 8;
    let hop_in = hop_out as f64 * rate;
    let bins = n_fft / 2 + 1;
    let Plans { forward, inverse } = plans(n_fft);
    let window = hann(n_fft);

    // Frames are centred on their time: pad half a frame on each side.
    let pad = n_fft / 2;
    let frames = out_len.div_ceil(hop_out) + 1;
    let last_start = ((frames - 1) as f64 * hop_in).round() as usize;
    let mut padded = vec![0.0f32; pad + x.len() + last_start.saturating_sub(x.len()) + n_fft + 1];
    padded[pad..pad + x.len()].copy_from_slice(x);

    let mut out = vec![0.0f32; (frames - 1) * hop_out + n_fft];
    let mut norm = vec![0.0f32; out.len()];
    let mut frame = vec![0.0f32; n_fft];
    let mut spectrum = vec![Complex32::default(); bins];
    let mut previous = vec![Complex32::default(); bins];
    let mut synthesis = vec![Complex32::default(); bins];
    let mut previous_synthesis = vec![Complex32::default(); bins];
    let mut magnitude = vec![0.0f32; bins];
    let mut peaks: Vec<usize> = Vec::with_capacity(bins / 2);
    let mut scratch = forward.make_scratch_vec();
    let mut inverse_scratch = inverse.make_scratch_vec();
    let mut previous_start = 0usize;

    for m in 0..frames {
        let start = (m as f64 * hop_in).round() as usize;
        for ((f, &s), &w) in frame.iter_mut().zip(&padded[start..start + n_fft]).zip(&window) {
            *f = s * w;
        }
        // The buffers have the planned sizes, so the FFT cannot fail.
        let _ = forward.process_with_scratch(&mut frame, &mut spectrum, &mut scratch);

        if m == 0 {
            synthesis.copy_from_slice(&spectrum);
        } else {
            let advance_in = (start - previous_start) as f32;
            lock_phases(
                &spectrum,
                &previous,
                &previous_synthesis,
                &mut synthesis,
                &mut magnitude,
                &mut peaks,
                advance_in,
                hop_out as f32,
                n_fft,
            );
        }
        previous.copy_from_slice(&spectrum);
        previous_synthesis.copy_from_slice(&synthesis);
        previous_start = start;

        // The inverse transform needs real DC and Nyquist bins.
        spectrum.copy_from_slice(&synthesis);
        spectrum[0].im = 0.0;
        spectrum[bins - 1].im = 0.0;
        let _ = inverse.process_with_scratch(&mut spectrum, &mut frame, &mut inverse_scratch);
        let at = m * hop_out;
        let scale = 1.0 / n_fft as f32;
        for i in 0..n_fft {
            out[at + i] += frame[i] * window[i] * scale;
            norm[at + i] += window[i] * window[i];
        }
    }
    out.iter_mut().zip(&norm).for_each(|(y, &n)| *y = if n > 1e-3 { *y / n } else { 0.0 });
    out[pad..pad + out_len].to_vec()
}

/// Fills `synthesis` with this frame's spectrum under locked phases.
#[allow(clippy::too_many_arguments)]
fn lock_phases(
    spectrum: &[Complex32],
    previous: &[Complex32],
    previous_synthesis: &[Complex32],
    synthesis: &mut [Complex32],
    magnitude: &mut [f32],
    peaks: &mut Vec<usize>,
    advance_in: f32,
    advance_out: f32,
    n_fft: usize,
) {
    let bins = spectrum.len();
    for (m, s) in magnitude.iter_mut().zip(spectrum) {
        *m = s.norm_sqr();
    }
    // Locking pays off around partials; in the noise floor it cancels
    // energy (measured: high bands of speech lost 5-10 dB). Bins this far
    // below the frame's strongest are advanced on their own, as in a plain
    // phase vocoder. That makes most bins peaks, so the trigonometry below
    // is polynomial (errors near 1e-5 rad) rather than libm's.
    let floor = magnitude.iter().copied().fold(0.0f32, f32::max) * LOCK_FLOOR;
    peaks.clear();
    for k in 0..bins {
        if magnitude[k] <= floor {
            if magnitude[k] > 0.0 {
                peaks.push(k);
            }
            continue;
        }
        let left = if k >= 2 {
            magnitude[k - 2].max(magnitude[k - 1])
        } else if k == 1 {
            magnitude[0]
        } else {
            0.0
        };
        let right = match bins - 1 - k {
            0 => 0.0,
            1 => magnitude[k + 1],
            _ => magnitude[k + 1].max(magnitude[k + 2]),
        };
        if magnitude[k] > left && magnitude[k] >= right && magnitude[k] > 0.0 {
            peaks.push(k);
        }
    }
    if peaks.is_empty() {
        synthesis.copy_from_slice(spectrum);
        return;
    }
    let two_pi = std::f32::consts::TAU;
    // Each peak's phase advances at its measured instantaneous frequency;
    // its region (up to the midpoint to the next peak) turns with it.
    let mut region_start = 0usize;
    for (p, &k) in peaks.iter().enumerate() {
        let region_end = peaks.get(p + 1).map_or(bins, |&next| (k + next).div_ceil(2));
        let omega = two_pi * k as f32 / n_fft as f32;
        let phase_now = fast_atan2(spectrum[k].im, spectrum[k].re);
        let phase_before = fast_atan2(previous[k].im, previous[k].re);
        let deviation = wrap(phase_now - phase_before - omega * advance_in);
        let instantaneous = omega + deviation / advance_in;
        let target = fast_atan2(previous_synthesis[k].im, previous_synthesis[k].re) + instantaneous * advance_out;
        // Rotation taking the analysis phase of the peak to its target.
        let (sin, cos) = fast_sin_cos(wrap(target - phase_now));
        let rotation = Complex32::new(cos, sin);
        for j in region_start..region_end {
            synthesis[j] = spectrum[j] * rotation;
        }
        region_start = region_end;
    }
}

/// atan2 to about 1e-5 rad: octant reduction and a minimax polynomial.
fn fast_atan2(y: f32, x: f32) -> f32 {
    let (ax, ay) = (x.abs(), y.abs());
    let (small, large) = if ax > ay { (ay, ax) } else { (ax, ay) };
    if large == 0.0 {
        return 0.0;
    }
    let t = small / large;
    let t2 = t * t;
    let mut angle = t * (0.999_866 + t2 * (-0.330_299_5 + t2 * (0.180_141 + t2 * (-0.085_133 + t2 * 0.020_835_1))));
    if ay > ax {
        angle = std::f32::consts::FRAC_PI_2 - angle;
    }
    if x < 0.0 {
        angle = std::f32::consts::PI - angle;
    }
    if y < 0.0 {
        -angle
    } else {
        angle
    }
}

/// (sin, cos) of an angle in [-pi, pi] to about 1e-6, by Taylor series on a
/// quarter period.
fn fast_sin_cos(angle: f32) -> (f32, f32) {
    use std::f32::consts::{FRAC_PI_2, PI};
    // Fold into [-pi/2, pi/2] where the series converges fast.
    let (folded, flip) = if angle > FRAC_PI_2 {
        (PI - angle, true)
    } else if angle < -FRAC_PI_2 {
        (-PI - angle, true)
    } else {
        (angle, false)
    };
    let x2 = folded * folded;
    let sin = folded * (1.0 + x2 * (-1.0 / 6.0 + x2 * (1.0 / 120.0 + x2 * (-1.0 / 5040.0 + x2 * (1.0 / 362_880.0)))));
    let cos =
        1.0 + x2 * (-0.5 + x2 * (1.0 / 24.0 + x2 * (-1.0 / 720.0 + x2 * (1.0 / 40320.0 + x2 * (-1.0 / 3_628_800.0)))));
    (sin, if flip { -cos } else { cos })
}

fn wrap(phase: f32) -> f32 {
    let two_pi = std::f32::consts::TAU;
    phase - two_pi * (phase / two_pi).round()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dominant_hz(x: &[f32], sr: f64) -> f64 {
        // Zero crossings over the middle of the clip.
        let mid = &x[x.len() / 4..3 * x.len() / 4];
        let crossings = mid.windows(2).filter(|w| w[0] <= 0.0 && w[1] > 0.0).count();
        crossings as f64 * sr / mid.len() as f64
    }

    #[test]
    fn fast_trigonometry_is_accurate() {
        for i in 0..2000 {
            let angle = -std::f32::consts::PI + i as f32 * std::f32::consts::TAU / 2000.0;
            let (s, c) = fast_sin_cos(angle);
            assert!((s - angle.sin()).abs() < 1e-5 && (c - angle.cos()).abs() < 1e-5, "{angle}");
            assert!((fast_atan2(s, c) - angle).abs() < 2e-5 || (angle.abs() - std::f32::consts::PI).abs() < 1e-4);
        }
    }

    #[test]
    fn stretch_changes_length_not_pitch() {
        let sr = 16000;
        let x: Vec<f32> =
            (0..32000).map(|i| (0.5 * (std::f64::consts::TAU * 440.0 * i as f64 / sr as f64).sin()) as f32).collect();
        for rate in [0.8, 1.25] {
            let y = time_stretch(&x, rate, sr);
            assert_eq!(y.len(), (32000.0 / rate).round() as usize);
            let f = dominant_hz(&y, sr as f64);
            assert!((f - 440.0).abs() < 4.4, "rate {rate}: {f} Hz");
        }
    }
}
