//! The analysis/synthesis window both time stretches use.

/// Periodic Hann window of `n` samples: copies at half-window hops sum to one.
pub fn hann(n: usize) -> Vec<f32> {
    (0..n).map(|i| (0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n as f64).cos()) as f32).collect()
}
