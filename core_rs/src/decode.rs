//! Decoding with symphonia: probe the content, seek to the offset, decode
//! the frames asked for into planar f32.

use symphonia::core::codecs::audio::well_known::CODEC_ID_PCM_S16LE;
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, SeekMode, SeekTo, TrackType};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::units::Timestamp;

use crate::convert::{append_mean, append_planar, Frames};
use crate::error::{Error, Result, UNSUPPORTED};
use crate::mp4_edit;
use crate::source::AudioSource;

/// Packets decoded before a seek target and thrown away.
const PREROLL_PACKETS: u64 = 4;

/// More channels than any audio file carries (FFmpeg's own layouts stop at
/// 64; Ambisonics of order 14 has 225): a header claiming more is damaged,
/// and believing it would size buffers by it.
const MAX_CHANNELS: usize = 255;

/// The largest `offset` and `duration` taken, in seconds (about 31.7
/// years): their sum in frames at any `u32` rate stays below `i64::MAX`,
/// the range of the demuxers' timestamps.
pub const MAX_SECONDS: f64 = 1e9;

/// Which part of the file to decode, and how to treat damage.
#[derive(Clone, Debug, Default)]
pub struct DecodeOptions {
    /// Start, in seconds from the first sample.
    pub offset_s: f64,
    /// Length in seconds; `None` decodes to the end.
    pub duration_s: Option<f64>,
    /// Raise on a damaged packet instead of skipping it with a warning.
    pub strict: bool,
    /// Mix the channels down to their mean while converting, as librosa's
    /// `to_mono` (one pass, no per-channel copies).
    pub mono: bool,
}

/// Decoded audio at the file's own rate, one `Vec` per channel (one in all
/// when mixed down).
#[derive(Debug)]
pub struct Decoded {
    pub channels: Vec<Vec<f32>>,
    pub sample_rate: u32,
    /// Set when part of the file was damaged and skipped (never with
    /// `strict`). Names the file and the reason.
    pub warning: Option<String>,
}

impl Decoded {
    pub fn frames(&self) -> usize {
        self.channels.first().map_or(0, Vec::len)
    }
}

/// An opened, probed file with a decoder ready for its audio track.
pub(crate) struct OpenedTrack {
    pub format: Box<dyn FormatReader>,
    pub track_id: u32,
    pub sample_rate: u32,
    pub channels: Option<usize>,
    pub codec: String,
    pub container: &'static str,
    /// Frames of the track per the container, after delay and padding.
    pub declared_frames: Option<u64>,
    /// Encoder priming symphonia does not drop by itself (MP4 edit lists).
    pub priming: u64,
    pub byte_len: u64,
}

pub(crate) fn open(source: &AudioSource) -> Result<OpenedTrack> {
    let name = source.name();
    let (media, byte_len) = source.open()?;
    if byte_len == 0 {
        return Err(Error::decode(&name, "empty file (0 bytes)"));
    }
    let mss = MediaSourceStream::new(media, MediaSourceStreamOptions::default());
    // No extension hint: the container is found from the content alone.
    let format = symphonia::default::get_probe()
        .probe(&Hint::new(), mss, FormatOptions::default(), MetadataOptions::default())
        .map_err(|err| match err {
            SymphoniaError::Unsupported(_) => Error::decode(&name, format!("{UNSUPPORTED} or unrecognised container")),
            other => Error::decode(&name, format!("not a readable audio file ({other})")),
        })?;
    let container = format.format_info().short_name;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(|| Error::decode(&name, format!("{UNSUPPORTED}: no audio track in {container}")))?;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|params| params.audio())
        .ok_or_else(|| Error::decode(&name, format!("{UNSUPPORTED}: no audio codec parameters")))?;
    let registered = symphonia::default::get_codecs().get_audio_decoder(params.codec);
    let codec = match registered {
        Some(registered) => registered.codec.info.short_name.to_string(),
        None => return Err(Error::decode(&name, format!("{UNSUPPORTED} codec ({})", params.codec))),
    };
    let sample_rate = params
        .sample_rate
        .filter(|&sr| sr > 0)
        .ok_or_else(|| Error::decode(&name, "no sample rate in the stream header"))?;
    let channels = params.channels.as_ref().map(|c| c.count());
    match channels {
        Some(count) if count == 0 || count > MAX_CHANNELS => {
            return Err(Error::decode(&name, format!("implausible channel count {count} in the stream header")))
        }
        None => return Err(Error::decode(&name, "no channel count in the stream header")),
        Some(_) => {}
    }
    let priming = if container.contains("mp4") || container.contains("isomp4") {
        source.reader().map(|mut reader| mp4_edit::priming_frames(&mut reader)).unwrap_or(0)
    } else {
        0
    };
    let declared_frames = track.num_frames.map(|n| n.saturating_sub(priming));
    Ok(OpenedTrack {
        track_id: track.id,
        sample_rate,
        channels,
        codec,
        container,
        declared_frames,
        priming,
        byte_len,
        format,
    })
}

/// Decodes `[offset, offset + duration)` of `source`.
pub fn decode(source: &AudioSource, options: &DecodeOptions) -> Result<Decoded> {
    decode_track(open_for(source, options)?, source, options, 0)
}

/// `options` checked, then `source` opened (probed) for decoding them.
pub(crate) fn open_for(source: &AudioSource, options: &DecodeOptions) -> Result<OpenedTrack> {
    validate(options)?;
    open(source)
}

/// [`decode`] of `track`, `source` opened by [`open_for`] with `options`,
/// with room for at least `capacity` frames per output channel (within the
/// file-size cap): the first of several pieces reserves the whole request,
/// so the others are appended without moving it.
pub(crate) fn decode_track(
    mut track: OpenedTrack,
    source: &AudioSource,
    options: &DecodeOptions,
    capacity: u64,
) -> Result<Decoded> {
    let name = source.name();
    let track_params = track
        .format
        .tracks()
        .iter()
        .find(|t| t.id == track.track_id)
        .and_then(|t| t.codec_params.as_ref())
        .and_then(|p| p.audio())
        .cloned()
        .ok_or_else(|| Error::decode(&name, "audio track disappeared"))?;
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&track_params, &AudioDecoderOptions::default().gapless(true))
        .map_err(|err| Error::decode(&name, format!("{UNSUPPORTED} codec parameters ({err})")))?;

    // 16-bit little-endian PCM is read from the packets directly.
    let interleaved_s16 = (track_params.codec == CODEC_ID_PCM_S16LE)
        .then(|| track_params.channels.as_ref().map(|c| c.count()))
        .flatten()
        .filter(|&count| count > 0);

    let sr = track.sample_rate as f64;
    let start = (options.offset_s * sr).round() as u64;
    let mut end = options.duration_s.map(|d| start + (d * sr).round() as u64);
    if end == Some(start) {
        return Err(Error::invalid(format!(
            "duration {} s is less than half a frame at {name}'s rate ({} Hz)",
            options.duration_s.unwrap_or(0.0),
            track.sample_rate
        )));
    }
    if track.priming > 0 {
        // An MP4 edit list also ends the track before the encoder's padding
        // (FFmpeg keeps that padding; the gapless length is the declared one).
        // An offset past that end decodes nothing (and says so below).
        if let Some(declared) = track.declared_frames {
            end = Some(end.map_or(declared, |e| e.min(declared)).max(start));
        }
    }

    if start > 0 {
        // The track's timeline includes the priming we drop ourselves.
        // Lossy decoders need a few packets of history (MP3's bit reservoir,
        // the MDCT overlap) before their output is exact, so land early and
        // discard up to `start` by timestamp below.
        let preroll = PREROLL_PACKETS * track_params.max_frames_per_packet.unwrap_or(1152).min(16384);
        let ts = Timestamp::from((start.saturating_sub(preroll) + track.priming) as i64);
        // A failed seek (unseekable stream, no index) falls back to decoding
        // from the start and discarding, which is slower but exact.
        if track.format.seek(SeekMode::Accurate, SeekTo::Timestamp { ts, track_id: track.track_id }).is_ok() {
            decoder.reset();
        }
    }

    let mut channels: Vec<Vec<f32>> = Vec::new();
    let mut warning: Option<String> = None;
    // Frames already reserved, capped by the file size so that a header
    // declaring gigabytes cannot make a tiny file allocate them.
    let reserve = end
        .map(|e| e - start)
        .or(track.declared_frames.map(|n| n.saturating_sub(start)))
        .unwrap_or(0)
        .max(capacity)
        .min(track.byte_len.saturating_mul(16));

    loop {
        if let Some(end) = end {
            if channels.first().is_some_and(|c| c.len() as u64 >= end - start) {
                break;
            }
        }
        let packet = match track.format.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) => break,
            Err(SymphoniaError::ResetRequired) => break,
            Err(SymphoniaError::IoError(err)) if err.kind() == std::io::ErrorKind::UnexpectedEof => {
                if options.strict {
                    return Err(Error::decode(&name, "file is truncated"));
                }
                warning.get_or_insert_with(|| format!("{name}: file is truncated; decoded up to the damage"));
                break;
            }
            Err(err) => {
                if options.strict || channels.first().is_none_or(Vec::is_empty) {
                    return Err(Error::decode(&name, format!("damaged stream ({err})")));
                }
                warning.get_or_insert_with(|| format!("{name}: damaged stream ({err}); decoded up to the damage"));
                break;
            }
        };
        if packet.track_id != track.track_id {
            continue;
        }
        let buffer = if let Some(count) = interleaved_s16 {
            Frames::InterleavedS16 { data: &packet.data, channels: count }
        } else {
            match decoder.decode(&packet) {
                Ok(buffer) => Frames::Buffer(buffer),
                Err(SymphoniaError::DecodeError(reason)) | Err(SymphoniaError::LimitError(reason)) => {
                    if options.strict {
                        return Err(Error::decode(&name, format!("damaged packet ({reason})")));
                    }
                    warning.get_or_insert_with(|| format!("{name}: skipped a damaged packet ({reason})"));
                    continue;
                }
                Err(SymphoniaError::IoError(err)) => {
                    if options.strict {
                        return Err(Error::decode(&name, format!("damaged packet ({err})")));
                    }
                    warning.get_or_insert_with(|| format!("{name}: skipped a damaged packet ({err})"));
                    continue;
                }
                Err(err) => return Err(Error::decode(&name, format!("decoder failed ({err})"))),
            }
        };
        let frames = buffer.frames();
        if frames == 0 {
            continue;
        }
        if channels.is_empty() {
            let count = buffer.channels();
            if count == 0 {
                return Err(Error::decode(&name, "stream has no channels"));
            }
            let planes = if options.mono { 1 } else { count };
            channels = (0..planes).map(|_| Vec::with_capacity(reserve as usize)).collect();
        }
        // Timeline position of the buffer's first frame: the packet's pts,
        // plus what gapless trimming removed, minus the MP4 priming.
        let first = packet.pts.get() + packet.trim_start.get() as i64 - track.priming as i64;
        let last = first + frames as i64;
        let want_from = start as i64 + channels[0].len() as i64;
        let want_to = end.map_or(i64::MAX, |e| e as i64);
        let from = first.max(want_from);
        let to = last.min(want_to);
        if from >= to {
            if first >= want_to {
                break;
            }
            continue;
        }
        let (skip, take) = ((from - first) as usize, (to - from) as usize);
        if options.mono {
            append_mean(&buffer, skip, take, &mut channels[0]);
        } else {
            append_planar(&buffer, skip, take, &mut channels);
        }
    }

    if channels.first().is_none_or(Vec::is_empty) {
        if start > 0 && track.declared_frames.is_some_and(|n| start >= n) {
            return Err(Error::invalid(format!(
                "{name}: offset {:.3} s is past the end of the audio ({:.3} s)",
                options.offset_s,
                track.declared_frames.unwrap_or(0) as f64 / sr
            )));
        }
        let reason = warning.take().map_or("no audio frames could be decoded".to_string(), |w| {
            w.trim_start_matches(&format!("{name}: ")).to_string()
        });
        return Err(Error::decode(&name, reason));
    }
    // Some demuxers (MP3) end quietly at a cut; the declared length tells.
    let wanted = match (end, track.declared_frames) {
        (Some(e), Some(n)) => Some(e.min(n)),
        (e, n) => e.or(n),
    };
    if let Some(wanted) = wanted {
        let got = start + channels[0].len() as u64;
        if got < wanted && warning.is_none() {
            let message = format!("file is truncated: {got} of {wanted} frames");
            if options.strict {
                return Err(Error::decode(&name, message));
            }
            warning = Some(format!("{name}: {message}; decoded up to the damage"));
        }
    }
    Ok(Decoded { channels, sample_rate: track.sample_rate, warning })
}

fn validate(options: &DecodeOptions) -> Result<()> {
    if !(0.0..=MAX_SECONDS).contains(&options.offset_s) {
        return Err(Error::invalid(format!(
            "offset must be a number of seconds in [0, {MAX_SECONDS:e}], got {}",
            options.offset_s
        )));
    }
    if let Some(d) = options.duration_s {
        if !(d > 0.0 && d <= MAX_SECONDS) {
            return Err(Error::invalid(format!(
                "duration must be a number of seconds in (0, {MAX_SECONDS:e}], got {d}"
            )));
        }
    }
    Ok(())
}
