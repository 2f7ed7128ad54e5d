//! A pull decoder: packets decoded, mixed down and resampled as they are
//! read, in blocks, with the same decoders, the same timeline trimming and
//! the same resampling kernel as [`crate::load`], so that the blocks of a
//! stream concatenate to exactly what `load` returns for the whole file.
//!
//! Nothing is sought and nothing decoded twice: a block costs the same at
//! hour ten as at second zero, and memory is one packet, the resampler's
//! taps and the block being filled.

use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;

use crate::convert::{append, Frames};
use crate::decode::{
    audio_track, check_window, frame_window, interleaved_s16_channels, make_decoder, open, probe, AudioTrack,
    OpenedTrack, CHAINED_OGG,
};
use crate::error::{Error, Result, UNSUPPORTED};
use crate::load::{seams_are_exact, MAX_SAMPLE_RATE};
use crate::planes::PlanesWriter;
use crate::resample::ResampleStream;
use crate::samples::has_non_finite;
use crate::sniff::{sniff, Kind};
use crate::source::AudioSource;
use crate::stream::forward::{Forward, ForwardRead};

/// Where the encoded bytes come from.
pub enum StreamSource {
    /// A path or bytes: seekable, so every container (MP4 too) streams.
    Audio(AudioSource),
    /// A reader that only goes forward, with a name for messages.
    Forward { reader: ForwardRead, name: String },
}

/// What to stream, and how.
#[derive(Clone, Debug, Default)]
pub struct StreamOptions {
    /// Output rate; `None` keeps the stream's.
    pub sample_rate: Option<u32>,
    pub mono: bool,
    pub offset_s: f64,
    pub duration_s: Option<f64>,
    /// Raise on a damaged packet instead of skipping it with a warning.
    pub strict: bool,
}

pub struct StreamDecoder {
    name: String,
    /// A path or bytes (seekable): what [`Self::pieces`] decodes from.
    source: Option<AudioSource>,
    track: OpenedTrack,
    decoder: Box<dyn AudioDecoder>,
    /// Channels of 16-bit PCM read straight from the packets, as `decode`.
    interleaved_s16: Option<usize>,
    options: StreamOptions,
    sample_rate: u32,
    /// Created with the first decoded packet, whose channel count is the
    /// output's (as in `decode`), from the stream's rate to `resample_to`.
    resampler: Option<ResampleStream>,
    resample_to: u32,
    /// Timeline frames: the first wanted, the end wanted, taken so far.
    start: u64,
    end: Option<u64>,
    taken: u64,
    /// The output's channel count (one when mixed down).
    planes: usize,
    /// Output frames decoded beyond the last block handed out.
    ready: Vec<Vec<f32>>,
    warnings: Vec<String>,
    damaged_packets: u64,
    /// Where the last packet ended on the timeline, to see gaps by.
    timeline_end: Option<i64>,
    /// Set when the stream ended at damage (already warned about).
    cut: bool,
    done: bool,
}

impl StreamDecoder {
    pub fn open(source: StreamSource, options: StreamOptions) -> Result<Self> {
        validate(&options)?;
        let (track, name, source) = match source {
            StreamSource::Audio(source) => (open(&source)?, source.name(), Some(source)),
            StreamSource::Forward { reader, name } => (open_forward(reader, &name)?, name, None),
        };
        let (params, decoder) = make_decoder(&track, &name)?;
        let interleaved_s16 = interleaved_s16_channels(&params);
        let (start, mut end) = frame_window(&track, options.offset_s, options.duration_s, &name)?;
        if track.priming > 0 {
            // As `decode`: an MP4 edit list ends the track before its padding.
            if let Some(declared) = track.declared_frames {
                end = Some(end.map_or(declared, |e| e.min(declared)).max(start));
            }
        }
        let warnings = track.warning.iter().cloned().collect();
        let sample_rate = options.sample_rate.unwrap_or(track.sample_rate);
        Ok(StreamDecoder {
            sample_rate,
            name,
            source,
            track,
            decoder,
            interleaved_s16,
            options,
            resampler: None,
            resample_to: sample_rate,
            start,
            end,
            taken: 0,
            planes: 0,
            ready: Vec::new(),
            warnings,
            damaged_packets: 0,
            timeline_end: None,
            cut: false,
            done: false,
        })
    }

    /// The output rate.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// The stream's own rate.
    pub fn native_rate(&self) -> u32 {
        self.track.sample_rate
    }

    /// Hands the resampling to the caller: blocks come out at the stream's
    /// own rate (for a resampler on another thread, [`super::ahead`]).
    /// Only before the first block.
    pub fn native_blocks(&mut self) {
        if self.resampler.is_none() {
            self.resample_to = self.track.sample_rate;
        }
    }

    /// The stream cut into pieces of about `seconds` that can be decoded
    /// apart, each from its own reader, as `load` cuts a long file: for a
    /// path or bytes whose codec restarts exactly after a seek (PCM, FLAC,
    /// Vorbis), with a declared length and at least two pieces to the
    /// range; only before the first block. `None`: decode in one go.
    pub fn pieces(&self, seconds: f64) -> Option<Pieces> {
        let source = self.source.clone()?;
        let declared = self.track.declared_frames?;
        // Not MP3: a piece of it goes through nanomp3, which reads and scans
        // the whole stream to vouch for it, so every piece would cost the file.
        let codec = self.track.codec.as_str();
        if self.resampler.is_some() || self.track.priming > 0 || codec == "mp3" || !seams_are_exact(codec) {
            return None;
        }
        let end = self.end.map_or(declared, |end| end.min(declared));
        let piece = (seconds * self.track.sample_rate as f64) as u64;
        let count = end.saturating_sub(self.start) / piece.max(1);
        (count >= 2).then(|| Pieces {
            source,
            bounds: (0..=count).map(|k| self.start + (end - self.start) * k / count).collect(),
            open_ended: self.end.is_none(),
            sample_rate: self.track.sample_rate,
            mono: self.options.mono,
            strict: self.options.strict,
        })
    }

    /// The name messages give the stream.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Damaged packets skipped so far.
    pub fn damaged_packets(&self) -> u64 {
        self.damaged_packets
    }

    /// Warnings since the last call, each naming the stream.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// The next block of at least `min_frames` output frames (fewer only
    /// at the end), planar; `None` once everything was handed out.
    pub fn next_block(&mut self, min_frames: usize) -> Result<Option<Vec<Vec<f32>>>> {
        while !self.done && self.ready.first().is_none_or(|plane| plane.len() < min_frames.max(1)) {
            self.decode_packet()?;
        }
        if self.ready.first().is_none_or(Vec::is_empty) {
            return Ok(None);
        }
        let empty = vec![Vec::new(); self.ready.len()];
        Ok(Some(std::mem::replace(&mut self.ready, empty)))
    }

    /// Reads and decodes one packet into `ready`; at the end of the stream
    /// flushes the resampler and sets `done`.
    fn decode_packet(&mut self) -> Result<()> {
        let name = self.name.as_str();
        if self.end.is_some_and(|end| self.start + self.taken >= end) {
            return self.finish();
        }
        let packet = match self.track.format.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) => return self.finish(),
            // A chained Ogg file (see `decode::CHAINED_OGG`): the stream
            // ends with its first link, said so rather than silently.
            Err(SymphoniaError::ResetRequired) => {
                if self.options.strict {
                    return Err(Error::decode(name, CHAINED_OGG));
                }
                self.warnings.push(format!("{name}: {CHAINED_OGG}; the stream ends with it"));
                self.cut = true;
                return self.finish();
            }
            Err(SymphoniaError::IoError(err)) if err.kind() == std::io::ErrorKind::UnexpectedEof => {
                if self.track.kind == Kind::Wave && self.track.declared_frames.is_none() {
                    // A live WAV (its length a placeholder) ends where its
                    // writer stopped, mid-packet: the end, not damage.
                    return self.finish();
                }
                if self.options.strict {
                    return Err(Error::decode(name, "stream is truncated"));
                }
                self.warnings.push(format!("{name}: stream is truncated; decoded up to the damage"));
                self.cut = true;
                return self.finish();
            }
            // The source itself failed (a callback raised, a socket broke):
            // that is not damage to skip.
            Err(SymphoniaError::IoError(err)) => {
                return Err(Error::Io { path: name.to_string(), message: format!("reading failed: {err}") })
            }
            Err(err) => {
                if self.options.strict || self.taken == 0 {
                    return Err(Error::decode(name, format!("damaged stream ({err})")));
                }
                self.warnings.push(format!("{name}: damaged stream ({err}); decoded up to the damage"));
                self.cut = true;
                return self.finish();
            }
        };
        if packet.track_id != self.track.track_id {
            return Ok(());
        }
        let buffer = if let Some(count) = self.interleaved_s16 {
            Frames::InterleavedS16 { data: &packet.data, channels: count }
        } else {
            match self.decoder.decode(&packet) {
                Ok(buffer) => Frames::Buffer(buffer),
                Err(SymphoniaError::DecodeError(reason)) | Err(SymphoniaError::LimitError(reason)) => {
                    return self.skip_packet(reason.to_string());
                }
                Err(SymphoniaError::IoError(err)) => return self.skip_packet(err.to_string()),
                Err(err) => return Err(Error::decode(name, format!("decoder failed ({err})"))),
            }
        };
        let frames = buffer.frames();
        if frames == 0 {
            return Ok(());
        }
        if self.resampler.is_none() {
            let count = buffer.channels();
            if count == 0 {
                return Err(Error::decode(name, "stream has no channels"));
            }
            let planes = if self.options.mono { 1 } else { count };
            self.resampler = Some(ResampleStream::new(planes, self.track.sample_rate, self.resample_to)?);
            self.planes = planes;
            self.ready = vec![Vec::new(); planes];
        }
        // The packet's place on the timeline, trimmed to the range wanted,
        // exactly as `decode` does.
        let first = packet.pts.get() + packet.trim_start.get() as i64 - self.track.priming as i64;
        let last = first + frames as i64;
        let want_from = (self.start + self.taken) as i64;
        let want_to = self.end.map_or(i64::MAX, |e| e as i64);
        if let Some(expected) = self.timeline_end.filter(|&expected| first > expected) {
            // The demuxer resynchronised past damage (FLAC frames carry
            // their number): frames are missing. They are not made up, as
            // in `load`; the gap is counted and said.
            let at = expected as f64 / self.track.sample_rate as f64;
            let message = format!("damaged data at {at:.3} s ({} frames lost)", first - expected);
            if self.options.strict {
                return Err(Error::decode(name, message));
            }
            self.damaged_packets += 1;
            self.warnings.push(format!("{name}: skipped {message}; resynchronised"));
        }
        self.timeline_end = Some(last);
        let (from, to) = (first.max(want_from), last.min(want_to));
        if from >= to {
            return if first >= want_to { self.finish() } else { Ok(()) };
        }
        let (skip, take) = ((from - first) as usize, (to - from) as usize);
        // One packet's frames at the native rate, planar.
        let mut writer = PlanesWriter::new(self.planes, take, 0)
            .map_err(|_| Error::decode(name, format!("out of memory for {take} frames")))?;
        append(&buffer, skip, take, &mut writer);
        let count = buffer.channels();
        let Some(native) = writer.finish() else {
            return self.skip_packet(format!("a packet of {count} channels in a stream of {}", self.planes));
        };
        if has_non_finite(native.as_slice()) {
            return Err(Error::decode(name, "the audio contains NaN or infinite samples"));
        }
        self.taken += take as u64;
        let out = self.resampler.as_mut().expect("created above").push(&native.planes());
        self.append(out);
        Ok(())
    }

    fn skip_packet(&mut self, reason: String) -> Result<()> {
        if self.options.strict {
            return Err(Error::decode(&self.name, format!("damaged packet ({reason})")));
        }
        self.damaged_packets += 1;
        let at = (self.start + self.taken) as f64 / self.track.sample_rate as f64;
        self.warnings.push(format!("{}: skipped a damaged packet at {at:.3} s ({reason})", self.name));
        Ok(())
    }

    /// The end of the stream: the resampler's tail, and checks on what came.
    fn finish(&mut self) -> Result<()> {
        self.done = true;
        let Some(resampler) = self.resampler.as_mut() else {
            return Err(Error::decode(&self.name, "no audio frames could be decoded"));
        };
        let tail = resampler.finish();
        self.append(tail);
        // As `decode`: a demuxer that ends quietly at a cut is told by the
        // declared length (known only for a path or bytes).
        let wanted = match (self.end, self.track.declared_frames) {
            (Some(e), Some(n)) => Some(e.min(n)),
            (e, n) => e.or(n),
        };
        let got = self.start + self.taken;
        if wanted.is_some_and(|wanted| got < wanted) && !self.cut && self.damaged_packets == 0 {
            let message = format!("stream is truncated: {got} of {} frames", wanted.unwrap_or(0));
            if self.options.strict {
                return Err(Error::decode(&self.name, message));
            }
            self.warnings.push(format!("{}: {message}; decoded up to the damage", self.name));
        }
        Ok(())
    }

    fn append(&mut self, out: Vec<Vec<f32>>) {
        for (ready, plane) in self.ready.iter_mut().zip(out) {
            if ready.is_empty() {
                *ready = plane;
            } else {
                ready.extend_from_slice(&plane);
            }
        }
    }
}

/// A stream cut into pieces by [`StreamDecoder::pieces`].
#[derive(Clone, Debug)]
pub struct Pieces {
    pub source: AudioSource,
    /// Frame bounds on the timeline: piece `k` is `bounds[k]..bounds[k + 1]`.
    pub bounds: Vec<u64>,
    /// The last piece reads to the end of the stream (no duration asked).
    pub open_ended: bool,
    pub sample_rate: u32,
    pub mono: bool,
    pub strict: bool,
}

/// [`crate::decode::open`] for a forward-only stream: sniffed on the bytes
/// kept from its head, probed, with no length to check against.
fn open_forward(reader: ForwardRead, name: &str) -> Result<OpenedTrack> {
    let io = |err: std::io::Error| Error::Io { path: name.to_string(), message: format!("reading failed: {err}") };
    let mut forward = Forward::new(reader);
    let sniffed = sniff(&mut forward, u64::MAX, name)?;
    if sniffed.kind == Kind::Mp4 {
        return Err(Error::decode(
            name,
            "MP4/M4A cannot be streamed from a source that cannot seek: its index may sit at the end \
             of the file; pass a path or the bytes",
        ));
    }
    forward.begin_at(sniffed.start, sniffed.patches).map_err(io)?;
    let mss = MediaSourceStream::new(Box::new(forward), MediaSourceStreamOptions::default());
    let format = probe().probe(&Hint::new(), mss, FormatOptions::default(), MetadataOptions::default()).map_err(
        |err| match err {
            SymphoniaError::IoError(err) if err.kind() != std::io::ErrorKind::UnexpectedEof => io(err),
            SymphoniaError::Unsupported(_) => Error::decode(name, format!("{UNSUPPORTED} or unrecognised container")),
            other => Error::decode(name, format!("not a readable audio stream ({other})")),
        },
    )?;
    let container = format.format_info().short_name;
    if !sniffed.kind.read_by(container) {
        return Err(Error::decode(name, format!("damaged {:?} header", sniffed.kind)));
    }
    let AudioTrack { track, params, codec, sample_rate, channels } = audio_track(&*format, name, container)?;
    let declared = declared_frames(track.num_frames, params, sniffed.kind);
    Ok(OpenedTrack {
        track_id: track.id,
        sample_rate,
        channels,
        codec,
        container,
        bits_per_sample: params.bits_per_sample,
        declared_frames: declared,
        priming: 0,
        byte_len: u64::MAX,
        format,
        kind: sniffed.kind,
        start_byte: sniffed.start,
        warning: sniffed.warning.map(|w| format!("{name}: {w}")),
    })
}

/// The length a forward-only stream's header declares, to tell a cut
/// stream by; `None` for the placeholder a live WAV writer leaves (a data
/// size of `0xFFFFFFFF`, or 0), which is no fact about the stream.
fn declared_frames(frames: Option<u64>, params: &AudioCodecParameters, kind: Kind) -> Option<u64> {
    let frames = frames.filter(|&n| n > 0)?;
    if kind != Kind::Wave {
        return Some(frames);
    }
    let channels = params.channels.as_ref().map_or(1, |c| c.count()) as u64;
    let bits = params.bits_per_coded_sample.or(params.bits_per_sample).unwrap_or(8) as u64;
    let frame_bytes = channels * bits.div_ceil(8).max(1);
    (frames.saturating_add(1).saturating_mul(frame_bytes) <= u32::MAX as u64 - frame_bytes).then_some(frames)
}

fn validate(options: &StreamOptions) -> Result<()> {
    if let Some(sr) = options.sample_rate {
        if !(1..=MAX_SAMPLE_RATE).contains(&sr) {
            return Err(Error::invalid(format!("sr must be in [1, {MAX_SAMPLE_RATE}] Hz, got {sr}")));
        }
    }
    check_window(options.offset_s, options.duration_s)
}
