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

    /// A standard normal variate: Marsaglia and Tsang's ziggurat (2000)
    /// with 128 layers. 98.8% of draws take one `u64`, a comparison and a
    /// multiply; the rest (the layers' wedges and the tail beyond 3.44)
    /// are drawn exactly by rejection. The layer index and the value come
    /// from separate bits of the `u64` (the original's shared bits
    /// correlate them).
    pub fn normal(&mut self) -> f64 {
        self.normal_from(ziggurat())
    }

    #[inline(always)]
    fn normal_from(&mut self, table: &Ziggurat) -> f64 {
        let (layer, hz) = self.ziggurat_draw();
        if hz.unsigned_abs() < table.k[layer] {
            return hz as f64 * table.w[layer];
        }
        self.normal_outside(table, layer, hz)
    }

    /// A layer and a signed 32-bit draw (the sign and magnitude of x),
    /// from separate bits of one `u64`.
    #[inline(always)]
    fn ziggurat_draw(&mut self) -> (usize, i32) {
        let bits = self.next_u64();
        ((bits & (LAYERS as u64 - 1)) as usize, (bits >> 32) as u32 as i32)
    }

    /// The 1.2% of draws outside their layer's rectangle.
    #[cold]
    fn normal_outside(&mut self, table: &Ziggurat, mut layer: usize, mut hz: i32) -> f64 {
        loop {
            let x = hz as f64 * table.w[layer];
            if layer == 0 {
                // The tail beyond R (Marsaglia 1964).
                let tail = loop {
                    let x = -self.open_unit().ln() / ZIGGURAT_R;
                    let y = -self.open_unit().ln();
                    if y + y >= x * x {
                        break ZIGGURAT_R + x;
                    }
                };
                return if hz > 0 { tail } else { -tail };
            }
            // The wedge between the layer's rectangle and the curve.
            let u = self.next_f64();
            if table.f[layer] + u * (table.f[layer - 1] - table.f[layer]) < (-0.5 * x * x).exp() {
                return x;
            }
            (layer, hz) = self.ziggurat_draw();
            if hz.unsigned_abs() < table.k[layer] {
                return hz as f64 * table.w[layer];
            }
        }
    }

    /// Uniform in (0, 1): never 0, so its logarithm is finite.
    pub fn open_unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
    }

    /// Fills `out` with standard normal samples ([`Rng::normal`]).
    pub fn fill_normal(&mut self, out: &mut [f32]) {
        let table = ziggurat();
        out.iter_mut().for_each(|v| *v = self.normal_from(table) as f32);
    }
}

/// The ziggurat's layers and the start of its tail, for 128 layers of
/// equal area `ZIGGURAT_V` under exp(-x^2 / 2) (Marsaglia and Tsang 2000).
const LAYERS: usize = 128;
const ZIGGURAT_R: f64 = 3.442619855899;
const ZIGGURAT_V: f64 = 9.91256303526217e-3;

/// Per layer: `k`, the magnitude (of a 31-bit draw) below which a draw
/// lies inside the layer's rectangle; `w`, the draw's scale to x; `f`,
/// exp(-x^2 / 2) at the layer's edge.
struct Ziggurat {
    k: [u32; LAYERS],
    w: [f64; LAYERS],
    f: [f64; LAYERS],
}

fn ziggurat() -> &'static Ziggurat {
    static TABLE: std::sync::OnceLock<Ziggurat> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        const M: f64 = 2147483648.0; // 2^31
        let (mut k, mut w, mut f) = ([0u32; LAYERS], [0f64; LAYERS], [0f64; LAYERS]);
        let mut edge = ZIGGURAT_R;
        let mut outer = edge;
        // Layer 0 is the base strip plus the tail: its "rectangle" is as
        // wide as the strip's area over the curve's height at R.
        let q = ZIGGURAT_V / (-0.5 * edge * edge).exp();
        k[0] = (edge / q * M) as u32;
        k[1] = 0;
        w[0] = q / M;
        w[LAYERS - 1] = edge / M;
        f[0] = 1.0;
        f[LAYERS - 1] = (-0.5 * edge * edge).exp();
        for i in (1..LAYERS - 1).rev() {
            edge = (-2.0 * (ZIGGURAT_V / edge + (-0.5 * edge * edge).exp()).ln()).sqrt();
            k[i + 1] = (edge / outer * M) as u32;
            outer = edge;
            f[i] = (-0.5 * edge * edge).exp();
            w[i] = edge / M;
        }
        Ziggurat { k, w, f }
    })
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
    fn normal_samples_follow_the_normal_distribution() {
        // Kolmogorov-Smirnov against the normal CDF (erf by Abramowitz and
        // Stegun 7.1.26, 1.5e-7), over every region of the ziggurat.
        let cdf = |x: f64| {
            let t = 1.0 / (1.0 + 0.3275911 * x.abs() / 2f64.sqrt());
            let poly =
                t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
            let erf = 1.0 - poly * (-x * x / 2.0).exp();
            0.5 * (1.0 + erf.copysign(x))
        };
        let mut rng = Rng::new(5, 0);
        let mut draws: Vec<f64> = (0..100_000).map(|_| rng.normal()).collect();
        draws.sort_by(f64::total_cmp);
        let n = draws.len() as f64;
        let d = draws.iter().enumerate().map(|(i, &x)| (cdf(x) - i as f64 / n).abs()).fold(0.0, f64::max);
        // The 0.1% critical value of D for n = 100,000 is 1.95 / sqrt(n) = 0.0062.
        assert!(d < 0.0062, "KS distance {d}");
        // The tail beyond R = 3.44 is drawn too: P(|x| > 3.5) = 4.65e-4.
        let beyond = draws.iter().filter(|x| x.abs() > 3.5).count() as f64 / n;
        assert!((beyond - 4.65e-4).abs() < 1.5e-4, "{beyond}");
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
