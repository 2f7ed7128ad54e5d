//! Butterworth low-, high-, band-pass and band-stop filters as cascades of
//! second-order sections, run causally or forward-backward (zero phase).
//!
//! Design follows the textbook route (as `scipy.signal.butter(..., output=
//! "sos")` does): the analog prototype's poles on the unit circle, the
//! frequency transform to the requested kind, the bilinear transform with
//! prewarped edges (so the -3 dB points land exactly on the requested
//! frequencies), then conjugate pole pairs with their zeros as biquads.
//! Each section is normalised to unit gain at a passband frequency; a
//! Butterworth filter's response there is exactly one, so the product is.
//!
//! Zero phase runs the filter twice, which squares the magnitude. To keep
//! the promise "-3 dB at the cutoff" the two passes use a prototype whose
//! squared response is -3 dB there (its edge moved by a factor `rho`), and
//! each pass has half the order, so the slope is still `rolloff` dB/octave.

use std::f64::consts::PI;

use realfft::num_complex::Complex64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterKind {
    LowPass,
    HighPass,
    BandPass,
    BandStop,
}

impl FilterKind {
    pub fn name(self) -> &'static str {
        match self {
            FilterKind::LowPass => "LowPassFilter",
            FilterKind::HighPass => "HighPassFilter",
            FilterKind::BandPass => "BandPassFilter",
            FilterKind::BandStop => "BandStopFilter",
        }
    }

    pub fn parse(name: &str) -> Option<FilterKind> {
        [FilterKind::LowPass, FilterKind::HighPass, FilterKind::BandPass, FilterKind::BandStop]
            .into_iter()
            .find(|k| k.name() == name)
    }

    /// Band-pass and band-stop take a centre and a bandwidth; the others a cutoff.
    pub fn is_band(self) -> bool {
        matches!(self, FilterKind::BandPass | FilterKind::BandStop)
    }
}

/// One biquad: `b0 + b1 z^-1 + b2 z^-2` over `1 + a1 z^-1 + a2 z^-2`.
#[derive(Clone, Copy, Debug)]
pub struct Section {
    b: [f64; 3],
    a: [f64; 2],
}

impl Section {
    fn response(&self, w: f64) -> f64 {
        let z1 = Complex64::from_polar(1.0, -w);
        let z2 = z1 * z1;
        let num = self.b[0] + z1 * self.b[1] + z2 * self.b[2];
        let den = 1.0 + z1 * self.a[0] + z2 * self.a[1];
        (num / den).norm()
    }
}

/// Magnitude response of a cascade at `freq_hz` (for tests and checks).
pub fn response(sections: &[Section], freq_hz: f64, sr: f64) -> f64 {
    let w = 2.0 * PI * freq_hz / sr;
    sections.iter().map(|s| s.response(w)).product()
}

/// The second-order sections of a Butterworth filter of `order` (>= 1)
/// with edges `low_hz` (the cutoff for low/high-pass) and `high_hz` (band
/// kinds only) at `sr`; the squared response is -3 dB at the edges when
/// `for_two_passes`. Edges must lie in (0, sr / 2).
pub fn design(
    kind: FilterKind,
    order: usize,
    low_hz: f64,
    high_hz: f64,
    sr: f64,
    for_two_passes: bool,
) -> Vec<Section> {
    // Prewarped analog edges for the bilinear transform s = 2 (z - 1) / (z + 1).
    let warp = |f: f64| 2.0 * (PI * f / sr).tan();
    let n = order as f64;
    // Two passes square the power response; for it to be 1/2 at the edge,
    // one pass must give 1/sqrt(2) there: 1 + rho^(-2n) = sqrt(2).
    let rho = if for_two_passes { (2f64.sqrt() - 1.0).powf(-1.0 / (2.0 * n)) } else { 1.0 };
    let prototype: Vec<Complex64> = (0..order)
        .map(|k| {
            let theta = PI * (2.0 * k as f64 + n + 1.0) / (2.0 * n);
            Complex64::from_polar(rho, theta)
        })
        .collect();
    // Analog poles after the frequency transform, and the digital zeros
    // each section gets, and the frequency (rad/sample) to normalise at.
    let (poles, zeros_per_section, reference): (Vec<Complex64>, Vec<[Complex64; 2]>, f64) = match kind {
        FilterKind::LowPass => {
            let wc = warp(low_hz);
            (prototype.iter().map(|p| p * wc).collect(), vec![[(-1.0).into(), (-1.0).into()]], 0.0)
        }
        FilterKind::HighPass => {
            let wc = warp(low_hz);
            (prototype.iter().map(|p| wc / p).collect(), vec![[1.0.into(), 1.0.into()]], PI)
        }
        FilterKind::BandPass | FilterKind::BandStop => {
            let (w1, w2) = (warp(low_hz), warp(high_hz));
            let (w0_sq, bw) = (w1 * w2, w2 - w1);
            let mut poles = Vec::with_capacity(2 * order);
            for p in &prototype {
                // Band-pass: s -> (s^2 + w0^2) / (bw s); band-stop: s -> bw s / (s^2 + w0^2).
                // Each prototype pole p gives the roots of s^2 - c s + w0^2 with c = p bw or bw / p.
                let c = if kind == FilterKind::BandPass { p * bw } else { bw / p };
                let disc = (c * c - 4.0 * w0_sq).sqrt();
                poles.push((c + disc) / 2.0);
                poles.push((c - disc) / 2.0);
            }
            // The centre, mapped back to the digital frequency axis.
            let center = 2.0 * (w0_sq.sqrt() / 2.0).atan();
            if kind == FilterKind::BandPass {
                (poles, vec![[1.0.into(), (-1.0).into()]], center)
            } else {
                let notch = Complex64::from_polar(1.0, center);
                (poles, vec![[notch, notch.conj()]], 0.0)
            }
        }
    };
    let digital: Vec<Complex64> = poles.iter().map(|s| (2.0 + s) / (2.0 - s)).collect();
    pair_into_sections(&digital, zeros_per_section[0], reference)
}

/// Groups poles into conjugate pairs (or pairs of real poles) and builds a
/// section per pair, each with the given zeros; a lone real pole gets a
/// first-order section with one of the zeros.
fn pair_into_sections(poles: &[Complex64], zeros: [Complex64; 2], reference: f64) -> Vec<Section> {
    const TOL: f64 = 1e-9;
    let mut complex: Vec<Complex64> = poles.iter().copied().filter(|p| p.im > TOL).collect();
    let mut real: Vec<f64> = poles.iter().filter(|p| p.im.abs() <= TOL).map(|p| p.re).collect();
    // Deterministic order: poles nearest the unit circle last (as scipy does).
    complex.sort_by(|a, b| a.norm().total_cmp(&b.norm()));
    real.sort_by(|a, b| a.abs().total_cmp(&b.abs()));
    let mut sections = Vec::new();
    let mut push = |b: [f64; 3], a: [f64; 2]| {
        let mut s = Section { b, a };
        let gain = s.response(reference);
        s.b.iter_mut().for_each(|v| *v /= gain);
        sections.push(s);
    };
    let quad = |r1: Complex64, r2: Complex64| [(-(r1 + r2)).re, (r1 * r2).re];
    let zq = quad(zeros[0], zeros[1]);
    for chunk in real.chunks(2) {
        if let [p1, p2] = chunk {
            push([1.0, zq[0], zq[1]], [-(p1 + p2), p1 * p2]);
        } else {
            // Order is odd (low/high-pass only): one zero, one pole.
            push([1.0, -zeros[0].re, 0.0], [-chunk[0], 0.0]);
        }
    }
    for p in complex {
        push([1.0, zq[0], zq[1]], quad(p, p.conj()));
    }
    sections
}

/// Runs the cascade over `x` in place (f64 state).
///
/// What bounds a filter's speed is its recursion: each output waits for the
/// previous one. Sections run two at a time, sample by sample, so that the
/// CPU overlaps their two chains (transposed direct form II, each state
/// update summed so that the new output enters last: one multiply and one
/// subtract on the chain). A lone section runs in direct form I, whose
/// chain is as short and which measured faster alone. States live in
/// locals: a store and reload inside the recursion would add to every
/// sample. f64 keeps the precision of poles close to the unit circle (a
/// 20 Hz high-pass at 48 kHz).
pub fn run(sections: &[Section], x: &mut [f64]) {
    for pair in sections.chunks(2) {
        match pair {
            [s, t] => {
                let (mut s0, mut s1, mut t0, mut t1) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
                for v in x.iter_mut() {
                    let input = *v;
                    let mid = s.b[0] * input + s0;
                    s0 = (s.b[1] * input + s1) - s.a[0] * mid;
                    s1 = s.b[2] * input - s.a[1] * mid;
                    let out = t.b[0] * mid + t0;
                    t0 = (t.b[1] * mid + t1) - t.a[0] * out;
                    t1 = t.b[2] * mid - t.a[1] * out;
                    *v = out;
                }
            }
            [s] => {
                let (mut x1, mut x2, mut y1, mut y2) = (0.0f64, 0.0, 0.0, 0.0);
                for v in x.iter_mut() {
                    let input = *v;
                    let y = (s.b[1] * x1 + s.b[2] * x2 - s.a[1] * y2 + s.b[0] * input) - s.a[0] * y1;
                    (x2, x1, y2, y1) = (x1, input, y1, y);
                    *v = y;
                }
            }
            _ => unreachable!("chunks(2) yields one or two sections"),
        }
    }
}

/// Filters one channel; `zero_phase` runs forwards then backwards over the
/// signal extended by odd reflection at both ends (as `filtfilt` does), so
/// that the start-up transients fall outside the kept samples.
pub fn filter_channel(sections: &[Section], channel: &mut [f32], zero_phase: bool) {
    let n = channel.len();
    if !zero_phase {
        let mut x: Vec<f64> = channel.iter().map(|&v| v as f64).collect();
        run(sections, &mut x);
        channel.iter_mut().zip(&x).for_each(|(c, &v)| *c = v as f32);
        return;
    }
    let pad = (6 * sections.len() + 3).min(n.saturating_sub(1));
    let (first, last) = (channel[0] as f64, channel[n - 1] as f64);
    let mut x = Vec::with_capacity(n + 2 * pad);
    x.extend((1..=pad).rev().map(|i| 2.0 * first - channel[i] as f64));
    x.extend(channel.iter().map(|&v| v as f64));
    x.extend((1..=pad).map(|i| 2.0 * last - channel[n - 1 - i] as f64));
    run(sections, &mut x);
    x.reverse();
    run(sections, &mut x);
    x.reverse();
    channel.iter_mut().zip(&x[pad..pad + n]).for_each(|(c, &v)| *c = v as f32);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(v: f64) -> f64 {
        20.0 * v.log10()
    }

    #[test]
    fn minus_three_db_at_the_edges_and_the_promised_slope() {
        let sr = 16000.0;
        for order in 1..=6 {
            for two in [false, true] {
                let passes = if two { 2 } else { 1 };
                let total = |s: &[Section], f: f64| passes as f64 * db(response(s, f, sr));
                let lp = design(FilterKind::LowPass, order, 500.0, 0.0, sr, two);
                assert!((total(&lp, 500.0) + 3.0103).abs() < 1e-6, "lp {order} {two} {}", total(&lp, 500.0));
                assert!(total(&lp, 1.0).abs() < 1e-3);
                // The slope, an octave well inside the stop band and well below
                // Nyquist (where the bilinear transform steepens it).
                let steep = design(FilterKind::LowPass, order, 100.0, 0.0, sr, two);
                let slope = total(&steep, 800.0) - total(&steep, 1600.0);
                let expected = 6.0206 * (order * passes) as f64;
                assert!((slope - expected).abs() < 0.1 * expected, "lp slope {order} {two}: {slope}");
                let hp = design(FilterKind::HighPass, order, 1000.0, 0.0, sr, two);
                assert!((total(&hp, 1000.0) + 3.0103).abs() < 1e-6, "hp {order} {two}");
                assert!(total(&hp, 7999.0).abs() < 1e-3);
                let bp = design(FilterKind::BandPass, order, 800.0, 1600.0, sr, two);
                assert!((total(&bp, 800.0) + 3.0103).abs() < 1e-6, "bp {order} {two}");
                assert!((total(&bp, 1600.0) + 3.0103).abs() < 1e-6);
                let bs = design(FilterKind::BandStop, order, 800.0, 1600.0, sr, two);
                assert!((total(&bs, 800.0) + 3.0103).abs() < 1e-6, "bs {order} {two}");
                assert!((total(&bs, 1600.0) + 3.0103).abs() < 1e-6);
                assert!(total(&bs, 20.0).abs() < 1e-3);
            }
        }
    }

    #[test]
    fn sections_are_stable() {
        for kind in [FilterKind::LowPass, FilterKind::HighPass, FilterKind::BandPass, FilterKind::BandStop] {
            for s in design(kind, 8, 30.0, 7000.0, 16000.0, false) {
                // Poles inside the unit circle: |a2| < 1 and |a1| < 1 + a2.
                assert!(s.a[1].abs() < 1.0 && s.a[0].abs() < 1.0 + s.a[1], "{kind:?} {s:?}");
            }
        }
    }
}
