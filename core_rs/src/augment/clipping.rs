//! Hard clipping at a threshold set by a percentile of the clip's absolute
//! sample values or by a level below its peak.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClipMode {
    /// The drawn value is the percentage of samples to clip (0-100).
    Percentile,
    /// The drawn value is the threshold in dB below the clip's peak (<= 0).
    Db,
}

/// The `q`-th percentile (0-100) of the magnitudes of `channels`' samples
/// (finite), interpolated linearly between order statistics as
/// `numpy.percentile` does by default.
fn percentile_of_magnitudes(channels: &[Vec<f32>], q: f64) -> f32 {
    // Magnitudes order as their bit patterns (sign bit cleared) do: select on integers.
    let mut bits = Vec::with_capacity(channels.iter().map(Vec::len).sum());
    for channel in channels {
        bits.extend(channel.iter().map(|v| v.to_bits() & 0x7FFF_FFFF));
    }
    let position = q / 100.0 * (bits.len() - 1) as f64;
    let low = position.floor() as usize;
    let frac = (position - low as f64) as f32;
    let (at_low, next) = order_statistics(bits, low);
    let at_low = f32::from_bits(at_low);
    match next {
        Some(next) if frac != 0.0 => at_low + (f32::from_bits(next) - at_low) * frac,
        _ => at_low,
    }
}

/// Buckets of the radix selection: the top bits of a non-negative float's
/// pattern (its exponent and one mantissa bit).
const BUCKET_SHIFT: u32 = 22;
const BUCKETS: usize = 1 << (32 - BUCKET_SHIFT);
/// Histograms counted side by side: audio puts runs of samples into one
/// bucket, and one histogram would wait on each increment of it in turn.
const LANES: usize = 4;

/// The `k`-th smallest of `bits` and the one after it (None when `k` is the
/// last), by one radix pass: a histogram of the top bits finds the bucket
/// holding rank `k`, and only that bucket's values (a few percent of a
/// clip: audio magnitudes spread over dozens of buckets) are selected among.
fn order_statistics(bits: Vec<u32>, k: usize) -> (u32, Option<u32>) {
    let mut counts = vec![[0u32; LANES]; BUCKETS];
    let chunks = bits.chunks_exact(LANES);
    for &b in chunks.remainder() {
        counts[(b >> BUCKET_SHIFT) as usize][0] += 1;
    }
    for chunk in chunks {
        for lane in 0..LANES {
            counts[(chunk[lane] >> BUCKET_SHIFT) as usize][lane] += 1;
        }
    }
    let (mut below, mut bucket) = (0usize, 0usize);
    let total = |bucket: usize| counts[bucket].iter().sum::<u32>() as usize;
    while below + total(bucket) <= k {
        below += total(bucket);
        bucket += 1;
    }
    let mut inside: Vec<u32> = bits.iter().copied().filter(|&b| (b >> BUCKET_SHIFT) as usize == bucket).collect();
    let (_, &mut at, above) = inside.select_nth_unstable(k - below);
    let next = match above.iter().min() {
        Some(&next) => Some(next),
        // Rank k is its bucket's last: the next is the least above it (rare: one more pass).
        None => bits.iter().copied().filter(|&b| b > at).min(),
    };
    (at, next)
}

/// The threshold for `channels` (all channels together).
pub fn threshold(channels: &[Vec<f32>], mode: ClipMode, value: f64) -> f32 {
    match mode {
        ClipMode::Percentile => percentile_of_magnitudes(channels, 100.0 - value),
        ClipMode::Db => {
            let peak = channels.iter().flat_map(|c| c.iter().map(|v| v.abs())).fold(0.0f32, f32::max);
            peak * 10f64.powf(value / 20.0) as f32
        }
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
        let v = vec![vec![4.0f32, -1.0, 3.0, 2.0, -5.0]];
        assert_eq!(percentile_of_magnitudes(&v, 50.0), 3.0);
        assert_eq!(percentile_of_magnitudes(&v, 0.0), 1.0);
        assert_eq!(percentile_of_magnitudes(&v, 100.0), 5.0);
        assert_eq!(percentile_of_magnitudes(&v, 62.5), 3.5);
    }

    #[test]
    fn radix_selection_agrees_with_sorting() {
        let mut rng = super::super::rng::Rng::new(9, 0);
        for n in [1usize, 2, 7, 1000, 33_001] {
            let mut values = vec![0.0f32; n];
            rng.fill_normal(&mut values);
            // Magnitudes of several decades, ties and zeros included.
            let values: Vec<f32> = values
                .iter()
                .enumerate()
                .map(|(i, v)| if i % 97 == 0 { 0.0 } else { (v * 0.3).abs().powi(3) })
                .collect();
            let mut sorted = values.clone();
            sorted.sort_by(f32::total_cmp);
            for k in [0, n / 3, n / 2, n.saturating_sub(2), n - 1] {
                let (at, next) = order_statistics(values.iter().map(|v| v.to_bits()).collect(), k);
                assert_eq!(f32::from_bits(at), sorted[k], "n {n} k {k}");
                assert_eq!(next.map(f32::from_bits), sorted.get(k + 1).copied(), "n {n} k {k}");
            }
        }
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
