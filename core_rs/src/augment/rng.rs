//! A small, seedable, splittable random number generator.
//!
//! Every draw of an augmentation comes from a stream keyed by the record's
//! seed and the transform's position, so the same `(seed, input)` gives the
//! same output on any thread, in any batch position, with no shared state.

/// SplitMix64 (Steele, Lea and Flood 2014): one u64 of state, full period,
/// passes BigCrush; ample for augmentation parameters and noise.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// The stream `stream` of `seed`: distinct streams of one seed, and the
    /// same stream of distinct seeds, are unrelated.
    pub fn new(seed: u64, stream: u64) -> Self {
        Rng { state: mix(seed ^ mix(stream.wrapping_add(GOLDEN))) }
    }

    /// A child stream, for work that must not shift the parent's draws.
    pub fn fork(&self, stream: u64) -> Self {
        Rng::new(self.state, stream)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        mix(self.state)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [low, high] (exactly `low` when the range is empty).
    pub fn uniform(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.next_f64()
    }

    /// Uniform index in `0..n`.
    pub fn index(&mut self, n: usize) -> usize {
        ((self.next_f64() * n as f64) as usize).min(n.saturating_sub(1))
    }

    /// Fills `out` with standard normal samples: Marsaglia's polar method,
    /// two samples per accepted pair of uniforms (79% of pairs), with no
    /// trigonometry; each u64 gives both uniforms of a pair (24 bits each).
    pub fn fill_normal(&mut self, out: &mut [f32]) {
        const UNIT: f32 = 1.0 / (1u32 << 23) as f32;
        for pair in out.chunks_mut(2) {
            let (u, v, s) = loop {
                let bits = self.next_u64();
                // Uniform in (-1, 1) from the top 24 bits of each half.
                let u = ((bits >> 40) as f32 + 0.5) * UNIT - 1.0;
                let v = (((bits >> 8) & 0xFF_FFFF) as f32 + 0.5) * UNIT - 1.0;
                let s = u * u + v * v;
                if s < 1.0 && s > 0.0 {
                    break (u, v, s);
                }
            };
            let scale = (-2.0 * s.ln() / s).sqrt();
            pair[0] = u * scale;
            if let Some(second) = pair.get_mut(1) {
                *second = v * scale;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| Rng::new(7, 0).next_u64()).collect();
        assert!(a.iter().all(|&x| x == a[0]));
        assert_ne!(Rng::new(7, 0).next_u64(), Rng::new(7, 1).next_u64());
        assert_ne!(Rng::new(7, 0).next_u64(), Rng::new(8, 0).next_u64());
    }

    #[test]
    fn normal_samples_have_unit_variance() {
        let mut out = vec![0.0f32; 200_000];
        Rng::new(1, 2).fill_normal(&mut out);
        let mean = out.iter().map(|&x| x as f64).sum::<f64>() / out.len() as f64;
        let var = out.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / out.len() as f64;
        assert!(mean.abs() < 0.01 && (var - 1.0).abs() < 0.02, "{mean} {var}");
        // Gaussian tails, not just unit variance: kurtosis 3, and 4.55% of
        // samples beyond two standard deviations.
        let kurtosis = out.iter().map(|&x| (x as f64 - mean).powi(4)).sum::<f64>() / out.len() as f64 / (var * var);
        let beyond_two = out.iter().filter(|x| x.abs() > 2.0).count() as f64 / out.len() as f64;
        assert!((kurtosis - 3.0).abs() < 0.05 && (beyond_two - 0.0455).abs() < 0.002, "{kurtosis} {beyond_two}");
    }
}
