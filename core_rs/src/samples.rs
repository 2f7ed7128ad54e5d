//! Checks on decoded or user-supplied sample buffers.

/// Whether any sample is NaN or infinite: all exponent bits set. Counting
/// in integers lets the compiler vectorize the scan (`any(is_finite)` stops
/// early but runs one sample at a time, slower than a gain or a mixdown).
pub fn has_non_finite(x: &[f32]) -> bool {
    const EXPONENT: u32 = 0x7F80_0000;
    x.chunks(4096).any(|chunk| chunk.iter().map(|v| u32::from(v.to_bits() & EXPONENT == EXPONENT)).sum::<u32>() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nan_and_infinities_anywhere() {
        let mut x = vec![0.5f32; 10_000];
        assert!(!has_non_finite(&x));
        assert!(!has_non_finite(&[f32::MAX, f32::MIN, f32::MIN_POSITIVE, -0.0, 1e-45]));
        for (at, bad) in [(0, f32::NAN), (4097, f32::INFINITY), (9_999, f32::NEG_INFINITY)] {
            x[at] = bad;
            assert!(has_non_finite(&x), "{bad} at {at}");
            x[at] = 0.5;
        }
    }
}
