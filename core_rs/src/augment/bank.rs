//! Recorded audio the file-based transforms draw from (noise recordings,
//! room impulse responses): mono clips decoded once at one sample rate and
//! shared, read-only, by every thread and every call.

use std::fmt;

use super::convolve::SpectrumCache;

pub struct Bank {
    /// The rate the clips were decoded at; a clip at another rate is refused.
    pub sr: u32,
    pub clips: Vec<Vec<f32>>,
    /// Transforms of the clips as impulse responses, computed on first use.
    pub spectra: SpectrumCache,
}

impl Bank {
    pub fn new(sr: u32, clips: Vec<Vec<f32>>) -> Self {
        Bank { sr, clips, spectra: SpectrumCache::default() }
    }
}

impl fmt::Debug for Bank {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bank({} clips at {} Hz)", self.clips.len(), self.sr)
    }
}
