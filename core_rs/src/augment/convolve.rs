//! Room reverberation: convolution with an impulse response by FFT
//! overlap-add, aligned on the response's direct path.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealToComplex};

use super::fft::{plans, Plans};
use super::noise::rms;

/// Most memory the response spectra of one bank may hold; beyond it they
/// are computed on every call (a large IR collection on long clips).
const SPECTRUM_CACHE_BYTES: usize = 256 << 20;

/// Response spectra by (response, taps used, FFT size), shared by every
/// thread. A cached spectrum is the very one a call would compute, so
/// whether it was cached never changes an output.
/// (response index, taps used, FFT size).
type SpectrumKey = (usize, usize, usize);

#[derive(Default)]
pub struct SpectrumCache {
    spectra: Mutex<HashMap<SpectrumKey, Arc<Vec<Complex32>>>>,
    bytes: AtomicUsize,
}

impl SpectrumCache {
    fn get_or_compute(&self, key: SpectrumKey, compute: impl FnOnce() -> Vec<Complex32>) -> Arc<Vec<Complex32>> {
        let lock = || self.spectra.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(found) = lock().get(&key) {
            return found.clone();
        }
        // Computed outside the lock: other threads' look-ups do not wait.
        let spectrum = Arc::new(compute());
        let size = spectrum.len() * std::mem::size_of::<Complex32>();
        if self.bytes.load(Ordering::Relaxed) + size <= SPECTRUM_CACHE_BYTES {
            let mut map = lock();
            if map.insert(key, spectrum.clone()).is_none() {
                self.bytes.fetch_add(size, Ordering::Relaxed);
            }
        }
        spectrum
    }
}

/// The direct path: the response's largest absolute sample (the first one
/// on ties), the arrival that the output is aligned on.
pub fn direct_path(ir: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in ir.iter().enumerate() {
        if v.abs() > ir[best].abs() {
            best = i;
        }
    }
    best
}

/// The smallest even `2^a 3^b 5^c` at or above `n` (sizes rustfft does
/// fast; even, so that the real transform's last bin is the Nyquist bin).
fn next_fast_len(n: usize) -> usize {
    let mut best = n.next_power_of_two().max(2);
    let mut p5 = 1;
    while p5 < best {
        let mut p35 = p5;
        while p35 < best {
            // The smallest power of two taking p35 to n or more.
            let candidate = p35 * n.div_ceil(p35).next_power_of_two().max(2);
            best = best.min(candidate);
            p35 *= 3;
        }
        p5 *= 5;
    }
    best
}

/// The FFT size for overlap-add of an `n`-sample signal with an `m`-tap
/// response whose spectrum is cached: the one minimising (FFTs per block x
/// blocks) x size x log(size) among powers of two (several blocks) and the
/// smallest fast size holding the whole convolution (one block). Mixed
/// radix costs about a tenth more per point (measured with realfft on
/// 24,576-65,536 points).
fn fft_size(n: usize, m: usize) -> usize {
    let full = next_fast_len(n + m - 1);
    let cost = |size: usize| {
        let blocks = n.div_ceil(size - m + 1) as f64;
        let radix = if size.is_power_of_two() { 1.0 } else { 1.1 };
        // One forward and one inverse per block.
        2.0 * blocks * size as f64 * (size as f64).log2() * radix
    };
    let mut best = (cost(full), full);
    let mut size = (2 * m).next_power_of_two().max(64);
    while size < full {
        if cost(size) < best.0 {
            best = (cost(size), size);
        }
        size *= 2;
    }
    best.1
}

/// Work buffers of one thread, kept between calls: buffers of a few
/// hundred kilobytes are handed back to the system when freed, and
/// faulting their pages in again on every call cost as much as a tenth of
/// the transforms.
#[derive(Default)]
struct Scratch {
    time: Vec<f32>,
    product: Vec<f32>,
    spectrum: Vec<Complex32>,
    /// realfft's own working space (its `process` would allocate it per call).
    fft: Vec<Complex32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// `(x * ir)[start .. start + x.len()]`, the linear convolution's samples
/// from `start` on, for every channel, by overlap-add. `cache` (with the
/// response's key) keeps the response's spectrum between calls.
pub fn convolve_window(
    channels: &[Vec<f32>],
    ir: &[f32],
    start: usize,
    cache: Option<(&SpectrumCache, usize)>,
) -> Vec<Vec<f32>> {
    let n = channels[0].len();
    // Taps beyond start + n only reach samples after the window.
    let ir = &ir[..ir.len().min(start + n)];
    let m = ir.len();
    let size = fft_size(n, m);
    let Plans { forward, inverse } = plans(size);
    let compute = || {
        let mut padded = vec![0.0f32; size];
        padded[..m].copy_from_slice(ir);
        let mut spectrum = forward.make_output_vec();
        let _ = forward.process(&mut padded, &mut spectrum);
        // realfft's inverse is unnormalised; fold 1 / size into the response.
        let norm = 1.0 / size as f32;
        spectrum.iter_mut().for_each(|c| *c *= norm);
        spectrum
    };
    let ir_spectrum = match cache {
        Some((cache, key)) => cache.get_or_compute((key, m, size), compute),
        None => Arc::new(compute()),
    };
    SCRATCH.with(|cell| {
        let mut scratch = cell.borrow_mut();
        let wet = overlap_add(channels, &mut scratch, (&*forward, &*inverse), &ir_spectrum, start, m, size);
        // A long clip and response leave tens of megabytes: not kept.
        if scratch.time.capacity() > SCRATCH_KEEP_FLOATS {
            *scratch = Scratch::default();
        }
        wet
    })
}

/// The largest work buffers (floats of the FFT size) a thread keeps
/// between calls: 4 MB each, an FFT of over 20 s at 48 kHz.
const SCRATCH_KEEP_FLOATS: usize = 1 << 20;

/// [`convolve_window`]'s blocks: each channel's blocks of `size - m + 1`
/// samples transformed, multiplied by the response's spectrum and added
/// back where they belong, in `scratch`'s buffers.
fn overlap_add(
    channels: &[Vec<f32>],
    scratch: &mut Scratch,
    (forward, inverse): (&dyn RealToComplex<f32>, &dyn ComplexToReal<f32>),
    ir_spectrum: &[Complex32],
    start: usize,
    m: usize,
    size: usize,
) -> Vec<Vec<f32>> {
    let n = channels[0].len();
    let block = size - m + 1;
    let Scratch { time, product, spectrum, fft } = scratch;
    time.resize(size, 0.0);
    product.resize(size, 0.0);
    spectrum.resize(size / 2 + 1, Complex32::default());
    fft.resize(forward.get_scratch_len().max(inverse.get_scratch_len()), Complex32::default());
    channels
        .iter()
        .map(|x| {
            let mut out = vec![0.0f32; n];
            for block_start in (0..n).step_by(block) {
                let end = (block_start + block).min(n);
                time[..end - block_start].copy_from_slice(&x[block_start..end]);
                time[end - block_start..].fill(0.0);
                let _ = forward.process_with_scratch(time, spectrum, fft);
                spectrum.iter_mut().zip(ir_spectrum.iter()).for_each(|(s, h)| *s *= h);
                // The inverse wants a real DC and Nyquist bin; rounding can leave a trace.
                spectrum[0].im = 0.0;
                if let Some(last) = spectrum.last_mut() {
                    last.im = 0.0;
                }
                let _ = inverse.process_with_scratch(spectrum, product, fft);
                // Full-convolution index block_start + j lands at out[block_start + j - start];
                // the block's result spans end - block_start + m - 1 of them.
                let first = start.max(block_start);
                let last = (start + n).min(end + m - 1);
                if first < last {
                    let from = &product[first - block_start..last - block_start];
                    out[first - start..last - start].iter_mut().zip(from).for_each(|(o, &v)| *o += v);
                }
            }
            out
        })
        .collect()
}

/// Reverberates `channels` with `ir`: the output has the input's length,
/// starts at the direct path (no added delay), and has the input's RMS
/// (mean power over channels); `wet` mixes it with the dry input
/// (`(1 - wet) dry + wet reverberant`). A response of silence, or a silent
/// result, leaves the clip unchanged.
pub fn reverberate(channels: &mut [Vec<f32>], ir: &[f32], wet: f64, cache: Option<(&SpectrumCache, usize)>) {
    let power = |c: &[Vec<f32>]| c.iter().map(|x| rms(x).powi(2)).sum::<f64>() / c.len().max(1) as f64;
    let dry_power = power(channels);
    let wet_signal = convolve_window(channels, ir, direct_path(ir), cache);
    let wet_power = power(&wet_signal);
    if dry_power == 0.0 || wet_power == 0.0 {
        return;
    }
    let level = (dry_power / wet_power).sqrt();
    let (dry_gain, wet_gain) = ((1.0 - wet) as f32, (wet * level) as f32);
    for (channel, reverberant) in channels.iter_mut().zip(&wet_signal) {
        for (y, &r) in channel.iter_mut().zip(reverberant) {
            *y = dry_gain * *y + wet_gain * r;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct(x: &[f32], ir: &[f32]) -> Vec<f64> {
        let mut full = vec![0.0f64; x.len() + ir.len() - 1];
        for (i, &a) in x.iter().enumerate() {
            for (j, &b) in ir.iter().enumerate() {
                full[i + j] += a as f64 * b as f64;
            }
        }
        full
    }

    #[test]
    fn matches_direct_convolution_for_every_block_layout() {
        let x: Vec<f32> = (0..3001).map(|i| (i * 37 % 101) as f32 / 50.0 - 1.0).collect();
        for m in [1usize, 7, 64, 700, 2900, 5000] {
            let ir: Vec<f32> =
                (0..m).map(|i| (-(i as f32) / 300.0).exp() * if i % 3 == 0 { 1.0 } else { -0.5 }).collect();
            let full = direct(&x, &ir);
            for start in [0usize, 5, m / 2] {
                let cache = SpectrumCache::default();
                let got = convolve_window(std::slice::from_ref(&x), &ir, start, Some((&cache, 0)));
                // The second call takes the cached spectrum: the same output.
                assert_eq!(got, convolve_window(std::slice::from_ref(&x), &ir, start, Some((&cache, 0))));
                let peak = full.iter().fold(0.0f64, |a, &v| a.max(v.abs()));
                for (k, &v) in got[0].iter().enumerate() {
                    let want = full.get(start + k).copied().unwrap_or(0.0);
                    assert!((v as f64 - want).abs() <= 1e-5 * peak, "m {m} start {start} k {k}: {v} vs {want}");
                }
            }
        }
    }

    #[test]
    fn fast_lengths() {
        assert_eq!(next_fast_len(47999), 48000);
        assert_eq!(next_fast_len(1025), 1080);
        assert_eq!(next_fast_len(4096), 4096);
        assert_eq!(next_fast_len(7), 8);
        assert_eq!(next_fast_len(6001), 6144);
        assert!((1..5000).all(|n| next_fast_len(n).is_multiple_of(2)));
    }

    #[test]
    fn a_delayed_impulse_gives_the_input_back() {
        let x: Vec<f32> = (0..500).map(|i| (i as f32 * 0.1).sin()).collect();
        let mut ir = vec![0.0f32; 300];
        ir[120] = 0.5;
        let mut channels = vec![x.clone()];
        reverberate(&mut channels, &ir, 1.0, None);
        for (a, b) in channels[0].iter().zip(&x) {
            assert!((a - b).abs() < 1e-5);
        }
    }
}
