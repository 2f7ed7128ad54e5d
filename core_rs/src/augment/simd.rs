//! The inner product WSOLA's search spends its time in, and the fixed-order
//! lane sum it shares with the rate change's filter (`interp.rs`).
//!
//! The compiler does not vectorize a float reduction by itself (that would
//! reorder the additions), and its attempts with explicit lanes come out
//! two floats wide. So the lanes are written out: eight sums, added
//! pairwise in a fixed order, in AVX registers where the CPU has them and
//! in plain Rust otherwise, with bit-identical results either way.

/// `sum(a[i] * b[i])` over the shorter length.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx") {
        // SAFETY: the CPU has AVX, checked just above.
        return unsafe { dot_avx(a, b) };
    }
    dot_portable(a, b)
}

fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let whole = a.len() / 8 * 8;
    sum_lanes(dot_lanes(a, b)) + tail_sum(&a[whole..], &b[whole..])
}

/// The eight lane sums of `a[i] * b[i]` over the whole chunks of 8 of the
/// shorter length (lane `i % 8` gets element `i`).
pub fn dot_lanes(a: &[f32], b: &[f32]) -> [f32; 8] {
    let mut acc = [0.0f32; 8];
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc
}

/// Eight lane sums added in the fixed order every path uses:
/// `((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7))`.
pub fn sum_lanes(acc: [f32; 8]) -> f32 {
    ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]))
}

/// [`sum_lanes`] of an AVX register: the same additions in the same order.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
pub unsafe fn sum_lanes_avx(acc: std::arch::x86_64::__m256) -> f32 {
    use std::arch::x86_64::*;
    // (a0+a4, a1+a5, a2+a6, a3+a7), then (.0 + .2, .1 + .3), then their sum.
    let quad = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    let pair = _mm_add_ps(quad, _mm_movehl_ps(quad, quad));
    _mm_cvtss_f32(_mm_add_ss(pair, _mm_shuffle_ps(pair, pair, 1)))
}

fn tail_sum(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0.0, |sum, (x, y)| sum + x * y)
}

/// [`dot_lanes`] in an AVX register: the same operations in the same order
/// (no fused multiply-add).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
#[inline]
pub unsafe fn dot_lanes_avx(a: &[f32], b: &[f32]) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    let whole = a.len().min(b.len()) / 8 * 8;
    let mut acc = _mm256_setzero_ps();
    for i in (0..whole).step_by(8) {
        // SAFETY: i + 8 <= whole <= len of both slices; loads are unaligned.
        let (x, y) = unsafe { (_mm256_loadu_ps(a.as_ptr().add(i)), _mm256_loadu_ps(b.as_ptr().add(i))) };
        acc = _mm256_add_ps(acc, _mm256_mul_ps(x, y));
    }
    acc
}

/// [`dot_portable`] with AVX. `a` and `b` have the same length.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn dot_avx(a: &[f32], b: &[f32]) -> f32 {
    let whole = a.len() / 8 * 8;
    // SAFETY: AVX is enabled in this function.
    let lanes = unsafe { sum_lanes_avx(dot_lanes_avx(a, b)) };
    lanes + tail_sum(&a[whole..], &b[whole..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_gives_the_same_bits() {
        let a: Vec<f32> = (0..203).map(|i| ((i * 7919) % 1009) as f32 / 1009.0 - 0.5).collect();
        let b: Vec<f32> = (0..203).map(|i| ((i * 104_729) % 997) as f32 / 997.0 - 0.5).collect();
        for n in [0, 5, 8, 80, 203] {
            let exact: f64 = a[..n].iter().zip(&b[..n]).map(|(x, y)| *x as f64 * *y as f64).sum();
            let portable = dot_portable(&a[..n], &b[..n]);
            assert!((portable as f64 - exact).abs() < 1e-4, "{n}");
            assert_eq!(dot(&a[..n], &b[..n]).to_bits(), portable.to_bits(), "{n}");
        }
    }
}
