//! Stream properties without decoding the audio.

use rayon::prelude::*;

use crate::decode::{first_packet_channels, open};
use crate::error::Result;
use crate::source::AudioSource;

#[derive(Clone, Debug, PartialEq)]
pub struct AudioInfo {
    pub sample_rate: u32,
    pub channels: usize,
    /// Frames after encoder delay and padding; `None` when the container
    /// does not say (e.g. an MP3 without a Xing/LAME header).
    pub frames: Option<u64>,
    pub codec: String,
    pub container: String,
    /// Bits per sample of a lossless stream (PCM, FLAC, ALAC: what a
    /// lossless copy must keep); `None` for lossy codecs, whose decoded
    /// samples have no such depth.
    pub bits_per_sample: Option<u32>,
}

impl AudioInfo {
    pub fn duration_s(&self) -> Option<f64> {
        self.frames.map(|n| n as f64 / self.sample_rate as f64)
    }
}

/// Reads every source's headers in parallel, results in input order.
/// `num_threads` `None` uses the core's default pool (one thread per core).
pub fn info_batch(sources: &[AudioSource], num_threads: Option<usize>) -> Result<Vec<Result<AudioInfo>>> {
    crate::pool::run(num_threads, || sources.par_iter().map(info).collect())
}

pub fn info(source: &AudioSource) -> Result<AudioInfo> {
    crate::load::guard_panics(source, || info_unguarded(source))
}

fn info_unguarded(source: &AudioSource) -> Result<AudioInfo> {
    let track = open(source)?;
    let mut info = AudioInfo {
        sample_rate: track.sample_rate,
        // `open` refuses a track without a plausible channel count.
        channels: track.channels.unwrap_or(0),
        frames: track.declared_frames,
        codec: track.codec.clone(),
        container: track.container.to_string(),
        bits_per_sample: lossless_bits(&track.codec, track.bits_per_sample),
    };
    if info.container == "aac" {
        // An ADTS stream's channel count is only what its first frame
        // header says; the frames' own elements decide what decodes (and
        // FFmpeg goes by them too). Report the channels of the first frame
        // that decodes, as `load` gives them (it skips damaged ones too).
        if let Some(channels) = first_packet_channels(track, &source.name())? {
            info.channels = channels;
        }
    }
    Ok(info)
}

/// The depth of a lossless codec's samples (the header's, or the float
/// width, which WAV headers state only in the format tag); `None` for
/// lossy codecs.
fn lossless_bits(codec: &str, stated: Option<u32>) -> Option<u32> {
    if codec.starts_with("pcm_f32") {
        Some(32)
    } else if codec.starts_with("pcm_f64") {
        Some(64)
    } else if codec.starts_with("pcm") || matches!(codec, "flac" | "alac" | "wavpack") {
        stated
    } else {
        None
    }
}
