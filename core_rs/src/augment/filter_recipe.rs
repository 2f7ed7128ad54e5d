//! The filter transforms' recipe: cutoff (or centre), bandwidth and slope
//! ranges, their checks, their per-record draw and the rendering of a draw
//! through the Butterworth cascade of `filter.rs`.

use super::filter::{self, FilterKind};
use super::rng::Rng;
use super::{check_range, check_within};
use crate::error::{Error, Result};

const ROLLOFF_LIMIT: f64 = 96.0;

/// A Butterworth filter: cutoff (or centre) in Hz drawn log-uniformly from
/// `[min_hz, max_hz]`, bandwidth as a fraction of the centre from
/// `[min_bandwidth, max_bandwidth]` (band kinds), slope in dB/octave one of
/// the multiples of 6 (12 when `zero_phase`) in `[min_rolloff, max_rolloff]`.
#[derive(Clone, Debug)]
pub struct FilterRecipe {
    pub kind: FilterKind,
    pub min_hz: f64,
    pub max_hz: f64,
    pub min_bandwidth: f64,
    pub max_bandwidth: f64,
    pub min_rolloff: f64,
    pub max_rolloff: f64,
    pub zero_phase: bool,
}

impl FilterRecipe {
    /// Slopes come in steps of one pass's first order: 6 dB/octave, or 12
    /// when the filter runs twice (zero phase).
    fn rolloff_step(&self) -> f64 {
        if self.zero_phase {
            12.0
        } else {
            6.0
        }
    }

    /// The first multiple of the step in the rolloff range, and how many there are.
    fn rolloff_choices(&self) -> (f64, usize) {
        let step = self.rolloff_step();
        let first = (self.min_rolloff / step).ceil();
        let last = (self.max_rolloff / step).floor();
        (first * step, (last - first + 1.0).max(1.0) as usize)
    }

    fn freq_name(&self) -> &'static str {
        if self.kind.is_band() {
            "center_freq"
        } else {
            "cutoff_freq"
        }
    }

    pub fn validate(&self) -> Result<()> {
        let (what, min_hz, max_hz) = (self.freq_name(), self.min_hz, self.max_hz);
        check_range(what, min_hz, max_hz)?;
        if min_hz <= 0.0 {
            return Err(Error::invalid(format!("{what} must be > 0 Hz, got {min_hz}")));
        }
        if self.kind.is_band() {
            let (low, high) = (self.min_bandwidth, self.max_bandwidth);
            check_range("bandwidth_fraction", low, high)?;
            if low <= 0.0 || high >= 2.0 {
                return Err(Error::invalid(format!(
                    "bandwidth_fraction must lie in (0, 2) (the band's lower edge above 0 Hz), got ({low}, {high})"
                )));
            }
        }
        check_within("rolloff", self.min_rolloff, self.max_rolloff, (6.0, ROLLOFF_LIMIT))?;
        if self.rolloff_choices().0 > self.max_rolloff {
            return Err(Error::invalid(format!(
                "rolloff ({}, {}) contains no multiple of {} dB/octave{}",
                self.min_rolloff,
                self.max_rolloff,
                self.rolloff_step(),
                if self.zero_phase { " (zero phase runs the filter twice)" } else { "" }
            )));
        }
        Ok(())
    }

    /// The filter's highest edge must lie below the clip's Nyquist frequency.
    pub fn validate_for_rate(&self, sr: u32) -> Result<()> {
        let nyquist = sr as f64 / 2.0;
        let (what, top) = if self.kind.is_band() {
            ("center_freq x (1 + bandwidth_fraction / 2)", self.max_hz * (1.0 + self.max_bandwidth / 2.0))
        } else {
            ("cutoff_freq", self.max_hz)
        };
        if top >= nyquist {
            return Err(Error::invalid(format!(
                "{}: {what} reaches {top} Hz, at or above the Nyquist frequency {nyquist} Hz of sr={sr}",
                self.kind.name()
            )));
        }
        Ok(())
    }

    /// One record's draw: the frequency from `value_draw`, the rest from `rng`.
    pub fn draw(&self, value_draw: f64, rng: &mut Rng) -> Vec<(&'static str, f64)> {
        // Log-uniform: an octave is as likely at 200 Hz as at 4 kHz.
        let freq = self.min_hz * (self.max_hz / self.min_hz).powf(value_draw);
        let bandwidth = rng.uniform(self.min_bandwidth, self.max_bandwidth);
        let (first, choices) = self.rolloff_choices();
        let rolloff = first + self.rolloff_step() * rng.index(choices) as f64;
        if self.kind.is_band() {
            vec![(self.freq_name(), freq), ("bandwidth_fraction", bandwidth), ("rolloff", rolloff)]
        } else {
            vec![(self.freq_name(), freq), ("rolloff", rolloff)]
        }
    }

    /// Filters every channel with the filter `params` (a [`Self::draw`]) describes.
    pub fn render(&self, audio: &mut [Vec<f32>], params: &[(&'static str, f64)], sr: u32) {
        let (freq, rolloff) = (params[0].1, params.last().map_or(6.0, |p| p.1));
        let (low, high) = if self.kind.is_band() {
            let half = freq * params[1].1 / 2.0;
            (freq - half, freq + half)
        } else {
            (freq, 0.0)
        };
        let order = (rolloff / self.rolloff_step()).round() as usize;
        let sections = filter::design(self.kind, order, low, high, sr as f64, self.zero_phase);
        audio.iter_mut().for_each(|c| filter::filter_channel(&sections, c, self.zero_phase));
    }
}
