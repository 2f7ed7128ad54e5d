//! Time stretching in the time domain: WSOLA, waveform-similarity overlap-add
//! (Verhelst and Roelands, 1993), the method behind sox's `tempo` effect
//! that Kaldi and ESPnet recipes use for tempo perturbation.
//!
//! Output frames are 40 ms Hann windows at 50% overlap. Frame `m` ideally
//! copies the input around `m * hop * rate`; within +-12 ms of that it takes
//! the segment that best continues the previous frame (largest
//! cross-correlation over the overlap), so periods line up and no phase
//! ever has to be synthesized. Speech and other periodic signals keep their
//! waveform, envelope and transients; dense polyphonic music is better
//! served by the phase vocoder (`stretch.rs`).
//!
//! The search is coarse to fine: correlations of 4-sample block sums at
//! every fourth lag, then every lag around the best one. All channels
//! share the frame positions (found on their sum), so stereo images stay.

use super::simd::dot;
use super::window::hann;

/// Frame length (even) at `sr`: 40 ms.
fn frame_length(sr: u32) -> usize {
    ((sr as f64 * 0.040) as usize / 2 * 2).max(16)
}

/// How far (samples) a frame may move from its ideal position: 12 ms,
/// enough to align periods of voices down to ~40 Hz.
fn tolerance(sr: u32) -> usize {
    ((sr as f64 * 0.012) as usize).max(2)
}

/// Decimation of the coarse search.
const COARSE: usize = 4;

/// `channels` played `rate` times faster (rate > 1 shortens), pitch
/// unchanged. Every output channel has `round(len / rate)` samples.
pub fn time_stretch(channels: &[Vec<f32>], rate: f64, sr: u32) -> Vec<Vec<f32>> {
    let len = channels.first().map_or(0, Vec::len);
    let out_len = (len as f64 / rate).round() as usize;
    if len == 0 || out_len == 0 {
        return vec![vec![0.0; out_len]; channels.len()];
    }
    if (rate - 1.0).abs() < 1e-12 {
        return channels.to_vec();
    }
    let width = frame_length(sr);
    let hop = width / 2;
    // Output frame `m` covers output samples `m * hop - hop ..` (`width` of
    // them): with one more frame than fits, every output sample lies
    // under exactly two windows, whose weights sum to one.
    let frames = out_len.div_ceil(hop) + 1;
    let layout = Layout { len, out_len, hop, width, delta: tolerance(sr), rate };
    let starts = match channels {
        [mono] => layout.frame_starts(mono),
        _ => layout.frame_starts(&mix(channels)),
    };
    debug_assert_eq!(starts.len(), frames);

    let window = hann(width);
    channels
        .iter()
        .map(|x| {
            let mut out = vec![0.0f32; out_len];
            for (m, &start) in starts.iter().enumerate() {
                // Output index of the frame's first sample, and the part of
                // the frame that lands inside both the output and the input.
                let at = (m * hop) as i64 - hop as i64;
                let first = 0i64.max(-at).max(-start) as usize;
                let last = (width as i64).min(out_len as i64 - at).min(len as i64 - start).max(first as i64) as usize;
                let (at, start) = ((at + first as i64) as usize, (start + first as i64) as usize);
                let n = last - first;
                for ((y, &v), &w) in out[at..at + n].iter_mut().zip(&x[start..start + n]).zip(&window[first..last]) {
                    *y += v * w;
                }
            }
            out
        })
        .collect()
}

/// The sum of the channels (the signal frame positions are chosen on).
fn mix(channels: &[Vec<f32>]) -> Vec<f32> {
    let mut sum = channels[0].clone();
    for channel in &channels[1..] {
        sum.iter_mut().zip(channel).for_each(|(s, &v)| *s += v);
    }
    sum
}

/// Sizes of one stretch, in samples.
struct Layout {
    len: usize,
    out_len: usize,
    hop: usize,
    width: usize,
    delta: usize,
    rate: f64,
}

impl Layout {
    /// Where (in the input; negative before its start) the segment of each
    /// output frame starts.
    fn frame_starts(&self, x: &[f32]) -> Vec<i64> {
        let Layout { len, out_len, hop, width, delta, rate } = *self;
        let frames = out_len.div_ceil(hop) + 1;
        let overlap = hop;
        let ideal = |m: usize| (m as f64 * hop as f64 * rate).round() as i64 - hop as i64;
        let mut target = vec![0.0f32; overlap];
        let mut target_blocks = vec![0.0f32; overlap / COARSE];
        let mut region = vec![0.0f32; 2 * delta + overlap + COARSE];
        let mut region_blocks = vec![0.0f32; region.len() / COARSE];
        let mut starts: Vec<i64> = Vec::with_capacity(frames);
        starts.push(ideal(0));
        for m in 1..frames {
            if m * hop + width > hop + out_len {
                // Frames reaching past the output's end are pinned so that
                // the input's last sample lands on the output's last:
                // searched positions there would move the clip's ending, or
                // cross-fade two copies of it.
                starts.push(len as i64 - out_len as i64 + (m * hop) as i64 - hop as i64);
                continue;
            }
            // The natural continuation of the previous frame's segment,
            // and every sample a candidate may cover.
            copy_padded(x, starts[m - 1] + hop as i64, &mut target);
            let low = ideal(m) - delta as i64;
            copy_padded(x, low, &mut region);

            // Coarse: block sums, at lags that are multiples of COARSE.
            block_sums(&target, &mut target_blocks);
            block_sums(&region, &mut region_blocks);
            let mut coarse = (0.0f32, None);
            for b in 0..=2 * delta / COARSE {
                let score = dot(&region_blocks[b..b + target_blocks.len()], &target_blocks);
                if score > coarse.0 {
                    coarse = (score, Some(b * COARSE));
                }
            }
            let Some(around) = coarse.1 else {
                // Nothing correlates (silence, or noise): stay on time.
                starts.push(ideal(m));
                continue;
            };
            // Fine: every lag within one block of the coarse winner.
            let mut fine = (f32::NEG_INFINITY, around);
            for lag in around.saturating_sub(COARSE - 1)..=(around + COARSE - 1).min(2 * delta) {
                let score = dot(&region[lag..lag + overlap], &target);
                if score > fine.0 {
                    fine = (score, lag);
                }
            }
            starts.push(low + fine.1 as i64);
        }
        starts
    }
}

/// `out` filled from `x` starting at `start`, zero outside `x`.
fn copy_padded(x: &[f32], start: i64, out: &mut [f32]) {
    out.fill(0.0);
    let first = (-start).clamp(0, out.len() as i64) as usize;
    let last = (x.len() as i64 - start).clamp(first as i64, out.len() as i64) as usize;
    if first < last {
        let from = (start + first as i64) as usize;
        out[first..last].copy_from_slice(&x[from..from + last - first]);
    }
}

/// Sums of consecutive blocks of COARSE samples.
fn block_sums(x: &[f32], out: &mut [f32]) {
    for (o, block) in out.iter_mut().zip(x.chunks_exact(COARSE)) {
        *o = block.iter().sum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f64, sr: u32, n: usize) -> Vec<f32> {
        (0..n).map(|i| (0.5 * (std::f64::consts::TAU * hz * i as f64 / sr as f64).sin()) as f32).collect()
    }

    /// Frequency from zero crossings, away from the ends.
    fn crossing_hz(x: &[f32], sr: u32) -> f64 {
        let x = &x[x.len() / 10..x.len() * 9 / 10];
        let ups: Vec<usize> = (1..x.len()).filter(|&i| x[i - 1] < 0.0 && x[i] >= 0.0).collect();
        (ups.len() - 1) as f64 * sr as f64 / (ups[ups.len() - 1] - ups[0]) as f64
    }

    #[test]
    fn stretch_changes_length_not_pitch() {
        let sr = 16000;
        let x = tone(440.0, sr, 32000);
        for rate in [0.5, 0.8, 1.25, 2.0] {
            let y = time_stretch(std::slice::from_ref(&x), rate, sr);
            assert_eq!(y[0].len(), (32000.0 / rate).round() as usize);
            let hz = crossing_hz(&y[0], sr);
            assert!((hz - 440.0).abs() < 440.0 * 0.002, "rate {rate}: {hz} Hz");
        }
    }

    #[test]
    fn a_steady_tone_keeps_its_amplitude() {
        let y = time_stretch(&[tone(220.0, 16000, 16000)], 0.8, 16000);
        let body = &y[0][2000..18000];
        let peak = body.iter().fold(0.0f32, |m, &v| m.max(v.abs()));
        let trough = body.chunks(400).map(|c| c.iter().fold(0.0f32, |m, &v| m.max(v.abs()))).fold(1.0f32, f32::min);
        assert!(peak < 0.52 && trough > 0.48, "{trough}..{peak}");
    }

    #[test]
    fn channels_share_positions() {
        let x = tone(300.0, 16000, 8000);
        let y = time_stretch(&[x.clone(), x.iter().map(|v| 0.5 * v).collect()], 1.3, 16000);
        assert!(y[0].iter().zip(&y[1]).all(|(a, b)| (0.5 * a - b).abs() < 1e-6));
    }
}
