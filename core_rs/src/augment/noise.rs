//! Additive noise at a requested signal-to-noise ratio.

use realfft::num_complex::Complex32;

use super::fft::{plans, Plans};
use super::rng::Rng;

/// The noise spectrum's slope: power falls as 1/f^0 (white), 1/f (pink,
/// -3 dB per octave) or 1/f^2 (brown, -6 dB per octave).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Color {
    White,
    Pink,
    Brown,
}

impl Color {
    pub fn parse(name: &str) -> Option<Color> {
        match name {
            "white" => Some(Color::White),
            "pink" => Some(Color::Pink),
            "brown" | "brownian" | "red" => Some(Color::Brown),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Color::White => "white",
            Color::Pink => "pink",
            Color::Brown => "brown",
        }
    }

    /// Amplitude exponent: |X(f)| ~ f^-exponent.
    fn exponent(self) -> f32 {
        match self {
            Color::White => 0.0,
            Color::Pink => 0.5,
            Color::Brown => 1.0,
        }
    }
}

/// `n` samples of zero-mean noise of the given color (any scale).
pub fn noise(n: usize, color: Color, rng: &mut Rng) -> Vec<f32> {
    let mut white = vec![0.0f32; n];
    rng.fill_normal(&mut white);
    if color == Color::White || n < 4 {
        return white;
    }
    // Shape white noise in the frequency domain: exact slopes at every
    // frequency, unlike filter approximations (Voss-McCartney and kin).
    let Plans { forward, inverse } = plans(n);
    let mut spectrum = forward.make_output_vec();
    let _ = forward.process(&mut white, &mut spectrum);
    let exponent = color.exponent();
    spectrum[0] = Complex32::default();
    for (k, bin) in spectrum.iter_mut().enumerate().skip(1) {
        *bin *= (k as f32).powf(-exponent);
    }
    if let Some(last) = spectrum.last_mut() {
        last.im = 0.0;
    }
    let mut shaped = vec![0.0f32; n];
    let _ = inverse.process(&mut spectrum, &mut shaped);
    shaped
}

pub fn rms(x: &[f32]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    // Eight running sums, added in a fixed order at the end: one sum would
    // wait on each addition in turn (a sixth of the time went there).
    let mut acc = [0.0f64; 8];
    let chunks = x.chunks_exact(8);
    let tail: f64 = chunks.remainder().iter().map(|&v| (v as f64) * (v as f64)).sum();
    for c in chunks {
        for i in 0..8 {
            acc[i] += (c[i] as f64) * (c[i] as f64);
        }
    }
    let total = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7])) + tail;
    (total / x.len() as f64).sqrt()
}

/// Adds `noise` scaled so that rms(signal) / rms(added) is `snr_db`. All
/// channels share one scale (from the mean power over channels). A silent
/// signal has no defined SNR and is returned unchanged.
pub fn add_at_snr(channels: &mut [Vec<f32>], snr_db: f64, color: Color, rng: &mut Rng) {
    let frames = channels.first().map_or(0, Vec::len);
    let signal_power: f64 = channels.iter().map(|c| rms(c).powi(2)).sum::<f64>() / channels.len().max(1) as f64;
    if signal_power == 0.0 || frames == 0 {
        return;
    }
    let noises: Vec<Vec<f32>> = channels.iter().map(|_| noise(frames, color, rng)).collect();
    let noise_power: f64 = noises.iter().map(|n| rms(n).powi(2)).sum::<f64>() / noises.len() as f64;
    if noise_power == 0.0 {
        return;
    }
    let scale = ((signal_power / noise_power) / 10f64.powf(snr_db / 10.0)).sqrt() as f32;
    for (channel, n) in channels.iter_mut().zip(&noises) {
        for (y, &v) in channel.iter_mut().zip(n) {
            *y += v * scale;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lands_on_the_requested_snr() {
        let signal: Vec<f32> = (0..16000).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
        for color in [Color::White, Color::Pink, Color::Brown] {
            let mut channels = vec![signal.clone()];
            add_at_snr(&mut channels, 12.5, color, &mut Rng::new(3, 0));
            let added: Vec<f32> = channels[0].iter().zip(&signal).map(|(a, b)| a - b).collect();
            let snr = 20.0 * (rms(&signal) / rms(&added)).log10();
            assert!((snr - 12.5).abs() < 0.01, "{color:?}: {snr}");
        }
    }
}
