//! Hard clipping at a threshold set by a percentile of the clip's absolute
//! sample values or by a level below its peak.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClipMode {
    /// The drawn value is the percentage of samples to clip (0-100).
    Percentile,
    /// The drawn value is the threshold in dB below the clip's peak (<= 0).
    Db,
}

/// The `q`-th percentile (0-100) of non-negative finite `values`,
/// interpolated linearly between order statistics as `numpy.percentile`
/// does by default.
fn percentile(values: Vec<f32>, q: f64) -> f32 {
    // Non-negative floats order as their bit patterns do: selecting on
    // integers is a plain comparison.
    let mut bits: Vec<u32> = values.into_iter().map(f32::to_bits).collect();
    let position = q / 100.0 * (bits.len() - 1) as f64;
    let low = position.floor() as usize;
    let frac = (position - low as f64) as f32;
    let (_, &mut at_low, above) = bits.select_nth_unstable(low);
    let at_low = f32::from_bits(at_low);
    if frac == 0.0 || above.is_empty() {
        return at_low;
    }
    let next = f32::from_bits(above.iter().copied().min().unwrap_or(0));
    at_low + (next - at_low) * frac
}

/// The threshold for `channels` (all channels together).
pub fn threshold(channels: &[Vec<f32>], mode: ClipMode, value: f64) -> f32 {
    let magnitudes = channels.iter().flat_map(|c| c.iter().map(|v| v.abs()));
    match mode {
        ClipMode::Percentile => percentile(magnitudes.collect(), 100.0 - value),
        ClipMode::Db => magnitudes.fold(0.0f32, f32::max) * 10f64.powf(value / 20.0) as f32,
    }
}

pub fn clip(channels: &mut [Vec<f32>], mode: ClipMode, value: f64) {
    let t = threshold(channels, mode, value);
    channels.iter_mut().for_each(|c| c.iter_mut().for_each(|v| *v = v.clamp(-t, t)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_matches_numpy_interpolation() {
        let v: Vec<f32> = vec![4.0, 1.0, 3.0, 2.0, 5.0];
        assert_eq!(percentile(v.clone(), 50.0), 3.0);
        assert_eq!(percentile(v.clone(), 0.0), 1.0);
        assert_eq!(percentile(v.clone(), 100.0), 5.0);
        assert_eq!(percentile(v, 62.5), 3.5);
    }

    #[test]
    fn clips_the_requested_share() {
        let mut c = vec![(0..1000).map(|i| (i as f32 - 500.0) / 500.0).collect::<Vec<f32>>()];
        clip(&mut c, ClipMode::Percentile, 20.0);
        let t = c[0].iter().fold(0.0f32, |a, v| a.max(v.abs()));
        let at = c[0].iter().filter(|v| v.abs() == t).count();
        assert!((195..=205).contains(&at), "{at}");
        let mut d = vec![vec![0.5f32, -1.0, 0.25]];
        clip(&mut d, ClipMode::Db, -6.0206);
        assert!((d[0][1] + 0.5).abs() < 1e-4 && d[0][2] == 0.25);
    }
}
