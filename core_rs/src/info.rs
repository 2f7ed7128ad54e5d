//! Stream properties without decoding the audio.

use crate::decode::{decode_track, open, DecodeOptions};
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
}

impl AudioInfo {
    pub fn duration_s(&self) -> Option<f64> {
        self.frames.map(|n| n as f64 / self.sample_rate as f64)
    }
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
    };
    if info.container == "aac" {
        // An ADTS stream's channel count is only what its first frame
        // header says; the frames' own elements decide what decodes (and
        // FFmpeg goes by them too). Decode the first frame and report its
        // channels, so that `info` and `load` agree; a stream the decoder
        // refuses is refused here too, as `load` would refuse it.
        let first_frame = DecodeOptions { duration_s: Some(1024.0 / info.sample_rate as f64), ..Default::default() };
        let decoded = decode_track(track, source, &first_frame, 0)?;
        if decoded.frames() > 0 {
            info.channels = decoded.channels.len();
        }
    }
    Ok(info)
}
