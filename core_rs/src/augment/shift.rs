//! Moving the clip in time: by a whole number of samples, rolled around or
//! filled with silence; and silencing a span (time masking).

/// Shifts every channel by `by` samples (positive: later). With `rollover`
/// the samples pushed off one end come back at the other; without, the
/// gap is silence.
pub fn shift(channels: &mut [Vec<f32>], by: i64, rollover: bool) {
    for c in channels.iter_mut() {
        let n = c.len() as i64;
        if rollover {
            let k = by.rem_euclid(n) as usize;
            c.rotate_right(k);
        } else if by >= 0 {
            let k = by.min(n) as usize;
            c.rotate_right(k);
            c[..k].fill(0.0);
        } else {
            let k = (-by).min(n) as usize;
            c.rotate_left(k);
            let len = c.len();
            c[len - k..].fill(0.0);
        }
    }
}

/// Silences `length` samples from `start` in every channel.
pub fn mask(channels: &mut [Vec<f32>], start: usize, length: usize) {
    for c in channels.iter_mut() {
        let end = (start + length).min(c.len());
        c[start.min(end)..end].fill(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifts_roll_or_fill() {
        let base = vec![vec![1.0f32, 2.0, 3.0, 4.0]];
        let mut a = base.clone();
        shift(&mut a, 1, true);
        assert_eq!(a[0], [4.0, 1.0, 2.0, 3.0]);
        let mut b = base.clone();
        shift(&mut b, -5, true);
        assert_eq!(b[0], [2.0, 3.0, 4.0, 1.0]);
        let mut c = base.clone();
        shift(&mut c, 2, false);
        assert_eq!(c[0], [0.0, 0.0, 1.0, 2.0]);
        let mut d = base.clone();
        shift(&mut d, -1, false);
        assert_eq!(d[0], [2.0, 3.0, 4.0, 0.0]);
        let mut e = base;
        shift(&mut e, 9, false);
        assert_eq!(e[0], [0.0; 4]);
    }
}
