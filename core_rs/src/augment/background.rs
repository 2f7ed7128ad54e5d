//! Background noise from recordings, mixed at a signal-to-noise ratio.

use super::noise::rms;
use super::rng::Rng;

/// Length of the equal-power crossfade where a short recording is looped.
const CROSSFADE_SECONDS: f64 = 0.01;

/// `n` samples of `noise` from a random position; a recording shorter than
/// `n` is looped, each repeat joined by an equal-power crossfade (noise
/// recordings are uncorrelated with their own other end, so their powers
/// add: sin/cos fades keep the level steady through the join).
pub fn excerpt(noise: &[f32], n: usize, sr: u32, rng: &mut Rng) -> Vec<f32> {
    let len = noise.len();
    if len >= n {
        let start = rng.index(len - n + 1);
        return noise[start..start + n].to_vec();
    }
    let fade = ((sr as f64 * CROSSFADE_SECONDS) as usize).min(len / 2).max(1);
    let period = len - fade;
    // Lay out enough repeats to cover a start anywhere in the first period.
    let total = n + period + fade;
    let mut out = vec![0.0f32; total];
    let ramp: Vec<f32> =
        (0..fade).map(|i| ((i as f64 + 0.5) / fade as f64 * std::f64::consts::FRAC_PI_2).sin() as f32).collect();
    let mut pos = 0;
    let mut first = true;
    while pos < total {
        for (i, &v) in noise.iter().enumerate() {
            let Some(slot) = out.get_mut(pos + i) else { break };
            let mut w = 1.0f32;
            if i < fade && !first {
                w = ramp[i];
            }
            if i >= len - fade {
                // Fade out mirrors the fade in: sin^2 + cos^2 = 1 across the join.
                w *= ramp[len - 1 - i];
            }
            *slot += v * w;
        }
        first = false;
        pos += period;
    }
    let start = rng.index(period);
    out[start..start + n].to_vec()
}

/// Adds `noise` (mono, already `frames` long) to every channel, scaled so
/// that the RMS ratio of the signal (mean power over channels) to the added
/// noise is `snr_db`. A silent signal or a silent excerpt leaves the clip
/// unchanged (no SNR is defined).
pub fn mix_at_snr(channels: &mut [Vec<f32>], noise: &[f32], snr_db: f64) {
    let signal_power: f64 = channels.iter().map(|c| rms(c).powi(2)).sum::<f64>() / channels.len().max(1) as f64;
    let noise_power = rms(noise).powi(2);
    if signal_power == 0.0 || noise_power == 0.0 {
        return;
    }
    let scale = ((signal_power / noise_power) / 10f64.powf(snr_db / 10.0)).sqrt() as f32;
    for channel in channels.iter_mut() {
        for (y, &v) in channel.iter_mut().zip(noise) {
            *y += v * scale;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_recordings_give_a_contiguous_piece() {
        let noise: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        let piece = excerpt(&noise, 100, 16000, &mut Rng::new(1, 0));
        assert_eq!(piece.len(), 100);
        assert!(piece.windows(2).all(|w| w[1] == w[0] + 1.0));
    }

    #[test]
    fn short_recordings_loop_at_a_steady_level() {
        let mut white = vec![0.0f32; 3000];
        Rng::new(4, 0).fill_normal(&mut white);
        let piece = excerpt(&white, 48000, 16000, &mut Rng::new(2, 0));
        assert_eq!(piece.len(), 48000);
        // Power per 20 ms stays near one, joins included.
        for block in piece.chunks(320) {
            let p = rms(block).powi(2);
            assert!((0.6..1.5).contains(&p), "{p}");
        }
    }
}
