//! The whole per-file job, decode (and mix down) -> resample, and its batched,
//! parallel form.

use std::panic::{catch_unwind, AssertUnwindSafe};

use rayon::prelude::*;

use crate::decode::{decode, DecodeOptions};
use crate::error::{Error, Result};
use crate::resample::resample;
use crate::source::AudioSource;

#[derive(Clone, Debug)]
pub struct LoadRequest {
    pub source: AudioSource,
    /// Target rate; `None` keeps the file's.
    pub sample_rate: Option<u32>,
    /// What to decode, mixdown included.
    pub decode: DecodeOptions,
}

/// Loaded audio: planar, `channels.len()` is 1 when mono.
#[derive(Debug)]
pub struct Audio {
    pub channels: Vec<Vec<f32>>,
    pub sample_rate: u32,
    pub warning: Option<String>,
}

pub fn load(request: &LoadRequest) -> Result<Audio> {
    // Decoders are third-party code fed untrusted bytes: a panic in one must
    // become an error about that file, never unwind into Python.
    catch_unwind(AssertUnwindSafe(|| load_unguarded(request))).unwrap_or_else(|panic| {
        let reason = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(Error::decode(request.source.name(), format!("decoder crashed on malformed data ({reason})")))
    })
}

fn load_unguarded(request: &LoadRequest) -> Result<Audio> {
    let decoded = decode(&request.source, &request.decode)?;
    if decoded.channels.iter().flatten().any(|s| !s.is_finite()) {
        return Err(Error::decode(request.source.name(), "the audio contains NaN or infinite samples"));
    }
    let sr_in = decoded.sample_rate;
    let channels = decoded.channels;
    let sample_rate = request.sample_rate.unwrap_or(sr_in);
    let channels = resample(channels, sr_in, sample_rate)?;
    Ok(Audio { channels, sample_rate, warning: decoded.warning })
}

/// Loads every request in parallel, results in input order. `num_threads`
/// `None` uses rayon's global pool (one thread per core).
pub fn load_batch(requests: &[LoadRequest], num_threads: Option<usize>) -> Result<Vec<Result<Audio>>> {
    let run = || requests.par_iter().map(load).collect::<Vec<_>>();
    match num_threads {
        None => Ok(run()),
        Some(0) => Err(Error::invalid("num_threads must be >= 1")),
        Some(n) => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|err| Error::invalid(format!("cannot start {n} threads: {err}")))?;
            Ok(pool.install(run))
        }
    }
}
