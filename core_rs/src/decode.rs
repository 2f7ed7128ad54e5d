//! Decoding with symphonia: probe the content, seek to the offset, decode
//! the frames asked for into planar f32.

use std::sync::OnceLock;

use symphonia::core::codecs::audio::well_known::CODEC_ID_PCM_S16LE;
use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::{Hint, Probe, ProbeOptions};
use symphonia::core::formats::{FormatOptions, FormatReader, SeekMode, SeekTo, Track, TrackType};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::units::Timestamp;

use crate::convert::{append, Frames};
use crate::error::{Error, Result, UNSUPPORTED};
use crate::mp4_edit;
use crate::planes::{Planes, PlanesWriter};
use crate::sniff::{sniff, Kind};
use crate::source::{AudioSource, Window};

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

/// The most frames one byte of a compressed stream decodes to (a FLAC frame
/// of 65,535 constant samples takes about 10 bytes; Ogg Vorbis silence
/// about 1 byte per 1,000 frames): a declared length beyond it is not a fact
/// about the file.
const MAX_FRAMES_PER_BYTE: u64 = 8192;

/// Samples in the largest packet of any codec we decode (a FLAC block of
/// 65,536 frames in 8 channels). A header declaring larger packets sizes the
/// decoder's buffer by them; they are taken only if the file could hold them
/// (uncompressed, or 4-bit ADPCM at 2 samples a byte).
const MAX_PACKET_SAMPLES: u64 = 65_536 * 8;

/// A whole-file decode of a raw frame stream (MPEG audio, ADTS) that yields
/// fewer frames than this, covering less than half of the input, found
/// frame headers in bytes that are not audio.
const HANDFUL_OF_FRAMES: u64 = 32;

/// Why a chained Ogg file is refused (by the stream decoder: where it ends).
pub(crate) const CHAINED_OGG: &str =
    "chained Ogg streams (another stream follows the first): the core decodes only the first";

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

/// Decoded audio at the file's own rate, planar (one plane in all when
/// mixed down).
#[derive(Debug)]
pub struct Decoded {
    pub samples: Planes,
    pub sample_rate: u32,
    /// Set when part of the file was damaged and skipped (never with
    /// `strict`). Names the file and the reason.
    pub warning: Option<String>,
}

impl Decoded {
    pub fn frames(&self) -> usize {
        self.samples.frames()
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
    /// Bits per sample the header states (None for lossy codecs' headers).
    pub bits_per_sample: Option<u32>,
    /// Frames of the track per the container, after delay and padding.
    pub declared_frames: Option<u64>,
    /// Encoder priming symphonia does not drop by itself (MP4 edit lists).
    pub priming: u64,
    pub byte_len: u64,
    /// What the input is, and the byte where it starts (after tags).
    pub kind: Kind,
    pub start_byte: u64,
    /// Set when the header was read differently from what it says.
    pub warning: Option<String>,
}

/// symphonia's probe, made to take a format only where the stream given to
/// it starts (MP4's `ftyp` is 4 bytes in): [`sniff`] found that start.
pub(crate) fn probe() -> &'static Probe {
    static PROBE: OnceLock<Probe> = OnceLock::new();
    PROBE.get_or_init(|| {
        let mut probe = Probe::new_with_options(&ProbeOptions { max_probe_depth: 8, ..Default::default() });
        symphonia::default::register_enabled_formats(&mut probe);
        probe
    })
}

pub(crate) fn open(source: &AudioSource) -> Result<OpenedTrack> {
    let name = source.name();
    let (mut media, byte_len) = source.open()?;
    if byte_len == 0 {
        return Err(Error::decode(&name, "empty file (0 bytes)"));
    }
    let sniffed = sniff(&mut *media, byte_len, &name)?;
    let window = Window::new(media, sniffed.start, byte_len, sniffed.patches)
        .map_err(|err| Error::Io { path: name.clone(), message: err.to_string() })?;
    let mss = MediaSourceStream::new(Box::new(window), MediaSourceStreamOptions::default());
    // No extension hint: the container is found from the content alone.
    let format = probe().probe(&Hint::new(), mss, FormatOptions::default(), MetadataOptions::default()).map_err(
        |err| match err {
            SymphoniaError::Unsupported(_) => Error::decode(&name, format!("{UNSUPPORTED} or unrecognised container")),
            other => Error::decode(&name, format!("not a readable audio file ({other})")),
        },
    )?;
    let container = format.format_info().short_name;
    if !sniffed.kind.read_by(container) {
        // The reader of the kind the start says refused the header, and the
        // probe found another format's marker a few bytes in.
        return Err(Error::decode(&name, format!("damaged {:?} header", sniffed.kind)));
    }
    let AudioTrack { track, params, codec, sample_rate, channels } = audio_track(&*format, &name, container)?;
    if channels.is_none() {
        return Err(Error::decode(&name, "no channel count in the stream header"));
    }
    let channel_count = channels.unwrap_or(1) as u64;
    if let Some(n) = params.max_frames_per_packet {
        if n.saturating_mul(channel_count) > MAX_PACKET_SAMPLES.max(byte_len.saturating_mul(2)) {
            return Err(Error::decode(
                &name,
                format!("the header declares packets of {n} frames, more than the {byte_len}-byte file can hold"),
            ));
        }
    }
    let priming = if sniffed.kind == Kind::Mp4 {
        source.reader().map(|mut reader| mp4_edit::priming_frames(&mut reader, sniffed.start)).unwrap_or(0)
    } else {
        0
    };
    // A length the bytes cannot hold (twice over: a file cut in half still
    // says how long it was) is damage, not a fact to report or plan by.
    let holds = frames_the_bytes_hold(&codec, params, channel_count, byte_len - sniffed.start);
    // An RF64 data chunk of 4 GiB or more is unbounded to symphonia: its
    // frames are counted from the ds64 chunk's size.
    let num_frames = track
        .num_frames
        .or_else(|| sniffed.rf64_data_len.and_then(|len| crate::wav::frames_in(params, channel_count, len)));
    let declared_frames = num_frames.map(|n| n.saturating_sub(priming)).filter(|&n| n <= holds.saturating_mul(2));
    Ok(OpenedTrack {
        track_id: track.id,
        sample_rate,
        channels,
        codec,
        container,
        bits_per_sample: params.bits_per_sample,
        declared_frames,
        priming,
        byte_len,
        format,
        kind: sniffed.kind,
        start_byte: sniffed.start,
        warning: sniffed.warning.map(|w| format!("{name}: {w}")),
    })
}

/// The default audio track of a probed container and what its header
/// declares, checked: a registered codec, a sample rate, a plausible channel
/// count where one is given.
pub(crate) struct AudioTrack<'a> {
    pub track: &'a Track,
    pub params: &'a AudioCodecParameters,
    /// symphonia's short name of the codec.
    pub codec: String,
    pub sample_rate: u32,
    pub channels: Option<usize>,
}

pub(crate) fn audio_track<'a>(format: &'a dyn FormatReader, name: &str, container: &str) -> Result<AudioTrack<'a>> {
    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(|| Error::decode(name, format!("{UNSUPPORTED}: no audio track in {container}")))?;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|params| params.audio())
        .ok_or_else(|| Error::decode(name, format!("{UNSUPPORTED}: no audio codec parameters")))?;
    let codec = match symphonia::default::get_codecs().get_audio_decoder(params.codec) {
        Some(registered) => registered.codec.info.short_name.to_string(),
        None => return Err(Error::decode(name, format!("{UNSUPPORTED} codec ({})", params.codec))),
    };
    let sample_rate = params
        .sample_rate
        .filter(|&sr| sr > 0)
        .ok_or_else(|| Error::decode(name, "no sample rate in the stream header"))?;
    let channels = params.channels.as_ref().map(|c| c.count());
    if let Some(count) = channels.filter(|&count| count == 0 || count > MAX_CHANNELS) {
        return Err(Error::decode(name, format!("implausible channel count {count} in the stream header")));
    }
    Ok(AudioTrack { track, params, codec, sample_rate, channels })
}

/// An upper bound on the frames `bytes` of a stream of `codec` can hold:
/// exact for uncompressed PCM (every frame takes its bytes), generous for
/// compressed codecs ([`MAX_FRAMES_PER_BYTE`]).
fn frames_the_bytes_hold(codec: &str, params: &AudioCodecParameters, channels: u64, bytes: u64) -> u64 {
    if !codec.starts_with("pcm") {
        return bytes.saturating_mul(MAX_FRAMES_PER_BYTE);
    }
    // The narrowest sample the header names (A-law and mu-law: a byte).
    let bits = [params.bits_per_coded_sample, params.bits_per_sample].into_iter().flatten().min().unwrap_or(8);
    bytes / (channels * (bits as u64 / 8).max(1))
}

/// The codec parameters of `track`'s audio track.
fn audio_params(track: &OpenedTrack) -> Option<&AudioCodecParameters> {
    let audio = track.format.tracks().iter().find(|t| t.id == track.track_id)?;
    audio.codec_params.as_ref()?.audio()
}

/// The codec parameters of `track` and a decoder made from them.
pub(crate) fn make_decoder(track: &OpenedTrack, name: &str) -> Result<(AudioCodecParameters, Box<dyn AudioDecoder>)> {
    let params = audio_params(track).cloned().ok_or_else(|| Error::decode(name, "audio track disappeared"))?;
    let decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default().gapless(true))
        .map_err(|err| Error::decode(name, format!("{UNSUPPORTED} codec parameters ({err})")))?;
    Ok((params, decoder))
}

/// The reason to skip a packet the decoder refused with `err` as damage, or
/// `None` when the decoder cannot go on. An unsupported feature after audio
/// has decoded is a damaged packet too (a mutated ADTS frame announcing a
/// program config element): only at the start does it mean the stream is
/// one the decoder cannot read (and PyAV's to try).
fn damage(err: &SymphoniaError, decoded_some: bool) -> Option<String> {
    match err {
        SymphoniaError::DecodeError(reason) | SymphoniaError::LimitError(reason) => Some(reason.to_string()),
        SymphoniaError::IoError(err) => Some(err.to_string()),
        SymphoniaError::Unsupported(reason) if decoded_some => Some(format!("unsupported feature: {reason}")),
        _ => None,
    }
}

/// Packets [`first_packet_channels`] tries before giving up.
const CHANNEL_PROBE_PACKETS: usize = 64;

/// The channel count of the first packet of `track` that decodes to frames,
/// which is what [`decode_track`] gives its output (damaged packets before
/// it are skipped there too); `None` if none of the first packets decodes.
pub(crate) fn first_packet_channels(mut track: OpenedTrack, name: &str) -> Result<Option<usize>> {
    let (_, mut decoder) = make_decoder(&track, name)?;
    for _ in 0..CHANNEL_PROBE_PACKETS {
        let packet = match track.format.next_packet() {
            Ok(Some(packet)) => packet,
            _ => return Ok(None),
        };
        if packet.track_id != track.track_id {
            continue;
        }
        match decoder.decode(&packet) {
            Ok(buffer) => {
                let buffer = Frames::Buffer(buffer);
                if buffer.frames() > 0 {
                    return Ok(Some(buffer.channels()));
                }
            }
            // Where `decode_track` gives up, so does this: both answers
            // then come from the fallback.
            Err(err) if damage(&err, false).is_none() => {
                return Err(Error::decode(name, format!("decoder failed ({err})")));
            }
            Err(_) => {}
        }
    }
    Ok(None)
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
    let (start, mut end) = frame_window(&track, options.offset_s, options.duration_s, &name)?;
    // PCM in WAV straight from the data chunk where it reads as symphonia does.
    if let Some(params) = audio_params(&track) {
        if let Some(decoded) = crate::wav::decode(&track, params, source, options, (start, end), capacity)? {
            return Ok(decoded);
        }
    }
    // Layer III through the faster decoder where it vouches for the stream
    // (no symphonia decoder is made for it).
    if let Some(decoded) = crate::mp3::decode(&track, source, options, (start, end), capacity)? {
        return Ok(decoded);
    }
    let (track_params, mut decoder) = make_decoder(&track, &name)?;
    let interleaved_s16 = interleaved_s16_channels(&track_params);
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

    // Made at the first packet that decodes to frames (its channel count is
    // the output's), then filled packet by packet in place.
    let mut out: Option<PlanesWriter> = None;
    let mut warning: Option<String> = None;
    // Frames reserved up front: what the request or the header says, capped
    // by the file size so that a header declaring gigabytes cannot make a
    // tiny file allocate them (more is made room for as it decodes).
    let cap = track.byte_len.saturating_mul(16);
    let expected = end.map(|e| e - start).or(track.declared_frames.map(|n| n.saturating_sub(start))).unwrap_or(0);
    let room = capacity.max(expected).min(cap) as usize;
    let decoded_frames = |out: &Option<PlanesWriter>| out.as_ref().map_or(0, PlanesWriter::filled);
    // What the frames of a raw frame stream cover, to tell audio from a few
    // frame headers found in other bytes.
    let (mut packets, mut packet_bytes) = (0u64, 0u64);
    // The channel count of the first packet that decoded to frames.
    let mut in_channels: Option<usize> = None;
    let mut ended = false;
    // A WAV whose data chunk's size is the placeholder of a writer that
    // could not go back (FFmpeg to a pipe: 0xFFFFFFFF) is read to the end
    // of the input, where its last packet is cut short: the end, not damage
    // (as the stream decoder takes it).
    let placeholder_length = track.kind == Kind::Wave
        && track.format.tracks().iter().any(|t| t.id == track.track_id && t.num_frames.is_none());

    loop {
        if let Some(end) = end {
            if decoded_frames(&out) as u64 >= end - start {
                break;
            }
        }
        let packet = match track.format.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) => {
                ended = true;
                break;
            }
            // Only symphonia's Ogg reader asks for a reset: at the first page
            // of another physical stream, a chained file (links one after
            // the other, as Icecast writes them). It reads each link as a
            // new track and this path decodes one: refused, where stopping
            // here returned part of the file without a word (the fallback,
            // FFmpeg, decodes every link).
            Err(SymphoniaError::ResetRequired) => return Err(Error::decode(&name, CHAINED_OGG)),
            Err(SymphoniaError::IoError(err)) if err.kind() == std::io::ErrorKind::UnexpectedEof => {
                if placeholder_length {
                    ended = true;
                    break;
                }
                if options.strict {
                    return Err(Error::decode(&name, "file is truncated"));
                }
                warning.get_or_insert_with(|| format!("{name}: file is truncated; decoded up to the damage"));
                break;
            }
            Err(err) => {
                if options.strict || decoded_frames(&out) == 0 {
                    return Err(Error::decode(&name, format!("damaged stream ({err})")));
                }
                warning.get_or_insert_with(|| format!("{name}: damaged stream ({err}); decoded up to the damage"));
                break;
            }
        };
        if packet.track_id != track.track_id {
            continue;
        }
        packets += 1;
        packet_bytes += packet.data.len() as u64;
        let buffer = if let Some(count) = interleaved_s16 {
            Frames::InterleavedS16 { data: &packet.data, channels: count }
        } else {
            let decoded_some = decoded_frames(&out) > 0;
            match decoder.decode(&packet) {
                Ok(buffer) => Frames::Buffer(buffer),
                Err(err) => match damage(&err, decoded_some) {
                    Some(reason) if !options.strict => {
                        warning.get_or_insert_with(|| format!("{name}: skipped a damaged packet ({reason})"));
                        continue;
                    }
                    Some(reason) => return Err(Error::decode(&name, format!("damaged packet ({reason})"))),
                    None => return Err(Error::decode(&name, format!("decoder failed ({err})"))),
                },
            }
        };
        let frames = buffer.frames();
        if frames == 0 {
            continue;
        }
        let count = buffer.channels();
        let writer = match &mut out {
            Some(writer) => writer,
            None => {
                if count == 0 {
                    return Err(Error::decode(&name, "stream has no channels"));
                }
                let planes = if options.mono { 1 } else { count };
                let frames = expected.min(cap / planes as u64) as usize;
                let writer =
                    PlanesWriter::new(planes, frames, room).map_err(|_| out_of_memory(&name, frames, planes))?;
                out.insert(writer)
            }
        };
        if count != in_channels.unwrap_or(count) {
            // Another layout than the first packet's, which laid out the
            // planes: not this output's audio.
            let reason = format!("a packet of {count} channels in a stream of {}", in_channels.unwrap_or(0));
            if options.strict {
                return Err(Error::decode(&name, format!("damaged packet ({reason})")));
            }
            warning.get_or_insert_with(|| format!("{name}: skipped a damaged packet ({reason})"));
            continue;
        }
        in_channels = Some(count);
        // Timeline position of the buffer's first frame: the packet's pts,
        // plus what gapless trimming removed, minus the MP4 priming.
        let first = packet.pts.get() + packet.trim_start.get() as i64 - track.priming as i64;
        let last = first + frames as i64;
        let want_from = start as i64 + writer.filled() as i64;
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
        let planes = if options.mono { 1 } else { count };
        writer.make_room(take).map_err(|_| out_of_memory(&name, writer.filled() + take, planes))?;
        append(&buffer, skip, take, writer);
    }

    let after_start = track.byte_len - track.start_byte;
    if track.kind.is_frame_stream()
        && ended
        && start == 0
        && packets < HANDFUL_OF_FRAMES
        && packet_bytes.saturating_mul(2) < after_start
    {
        return Err(Error::decode(
            &name,
            format!("not audio: only {packets} frames ({packet_bytes} bytes) in the {after_start} bytes of the stream"),
        ));
    }
    if decoded_frames(&out) == 0 {
        if start > 0 && track.declared_frames.is_some_and(|n| start >= n) {
            return Err(Error::invalid(format!(
                "{name}: offset {:.3} s is past the end of the audio ({:.3} s)",
                options.offset_s,
                track.declared_frames.unwrap_or(0) as f64 / track.sample_rate as f64
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
        let got = start + decoded_frames(&out) as u64;
        if got < wanted && warning.is_none() {
            let message = format!("file is truncated: {got} of {wanted} frames");
            if options.strict {
                return Err(Error::decode(&name, message));
            }
            warning = Some(format!("{name}: {message}; decoded up to the damage"));
        }
    }
    // The header's own quirk (read as FFmpeg reads it) comes first.
    let warning = match (track.warning, warning) {
        (Some(quirk), Some(damage)) => Some(format!("{quirk}; {}", damage.trim_start_matches(&format!("{name}: ")))),
        (quirk, damage) => quirk.or(damage),
    };
    let samples = out
        .and_then(PlanesWriter::into_planes)
        .ok_or_else(|| Error::decode(&name, "decoded planes did not match the stream's layout"))?;
    Ok(Decoded { samples, sample_rate: track.sample_rate, warning })
}

/// The decode error for an allocation that failed (under an address-space
/// limit): it must fail the call, not abort the process.
fn out_of_memory(name: &str, frames: impl std::fmt::Display, channels: usize) -> Error {
    Error::decode(name, format!("out of memory for {frames} frames in {channels} channels"))
}

fn validate(options: &DecodeOptions) -> Result<()> {
    check_window(options.offset_s, options.duration_s)
}

/// The channel count of 16-bit little-endian PCM, which is read from the
/// packets directly; None for every other codec.
pub(crate) fn interleaved_s16_channels(params: &AudioCodecParameters) -> Option<usize> {
    (params.codec == CODEC_ID_PCM_S16LE)
        .then(|| params.channels.as_ref().map(|c| c.count()))
        .flatten()
        .filter(|&count| count > 0)
}

/// The track's frames `[start, end)` for `offset`/`duration` seconds (end
/// None: to the end of the stream); a duration under half a frame is refused.
pub(crate) fn frame_window(
    track: &OpenedTrack,
    offset_s: f64,
    duration_s: Option<f64>,
    name: &str,
) -> Result<(u64, Option<u64>)> {
    let sr = track.sample_rate as f64;
    let start = (offset_s * sr).round() as u64;
    let end = duration_s.map(|d| start + (d * sr).round() as u64);
    if end == Some(start) {
        return Err(Error::invalid(format!(
            "duration {} s is less than half a frame at {name}'s rate ({} Hz)",
            duration_s.unwrap_or(0.0),
            track.sample_rate
        )));
    }
    Ok((start, end))
}

/// The `offset`/`duration` bounds every entry point (load, stream) checks.
pub(crate) fn check_window(offset_s: f64, duration_s: Option<f64>) -> Result<()> {
    if !(0.0..=MAX_SECONDS).contains(&offset_s) {
        return Err(Error::invalid(format!(
            "offset must be a number of seconds in [0, {MAX_SECONDS:e}], got {offset_s}"
        )));
    }
    if let Some(d) = duration_s {
        if !(d > 0.0 && d <= MAX_SECONDS) {
            return Err(Error::invalid(format!(
                "duration must be a number of seconds in (0, {MAX_SECONDS:e}], got {d}"
            )));
        }
    }
    Ok(())
}
