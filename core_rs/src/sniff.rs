//! Where the audio starts and what it is, decided from the first bytes before
//! symphonia sees them.
//!
//! symphonia's probe scans up to 1 MB into the input for any format marker,
//! so a `RIFF` header stored inside an OptimFROG or Monkey's Audio file (or
//! after junk) was read as PCM, and a few bytes of a non-audio file that look
//! like an MPEG frame header were decoded as noise. Here a container is taken
//! only where its format says it starts: at the start of the input, after
//! ID3v2/APEv2 tags at most. Raw frame streams (MPEG audio, ADTS AAC), which
//! have no file header, need evidence as FFmpeg's probe asks for it: a run
//! of consecutive, consistent frame headers.

use std::io::{Read, Seek, SeekFrom};

use crate::error::{Error, Result, UNSUPPORTED};
use crate::rf64;

/// How far into the input (after the tags) a frame stream may start: an MP3
/// cut out of a broadcast starts mid-frame, and some taggers leave junk.
const FRAME_SEARCH_BYTES: usize = 64 * 1024;
/// Consecutive frame headers asked of a stream at the very start (FFmpeg's
/// probe is confident from 4 on) and of one found after junk (7, as
/// FFmpeg's `first_frames` test).
const FRAMES_AT_START: usize = 4;
const FRAMES_AFTER_JUNK: usize = 7;
/// Bytes read to look for the first frames: the search, and seven frames of
/// the largest kind (free-format layer III at 640 kbit/s and 8 kHz).
const FRAME_HEAD_BYTES: u64 = (FRAME_SEARCH_BYTES + 7 * 8 * 1024) as u64;
/// Bytes read first for a frame stream starting at its first byte: four
/// frames of layer III up to 320 kbit/s at 32 kHz (1,441 bytes each).
const FIRST_FRAMES_BYTES: u64 = 6 * 1024;
/// Bytes read to find a container's magic (and FLAC's STREAMINFO).
const MAGIC_BYTES: u64 = 64;
/// FLAC metadata blocks walked to find the first frame (a file has a few).
const MAX_FLAC_BLOCKS: usize = 1024;

/// The kinds of input the core decodes, by what starts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Wave,
    Aiff,
    Caf,
    Flac,
    Ogg,
    Matroska,
    Mp4,
    /// MPEG audio layer I, II or III frames.
    Mpeg,
    Adts,
}

impl Kind {
    /// Whether symphonia's reader `short_name` reads this kind.
    pub(crate) fn read_by(self, short_name: &str) -> bool {
        match self {
            Kind::Wave => short_name == "wave",
            Kind::Aiff => short_name == "aiff",
            Kind::Caf => short_name == "caf",
            Kind::Flac => short_name == "flac",
            Kind::Ogg => short_name == "ogg",
            Kind::Matroska => short_name == "matroska",
            Kind::Mp4 => short_name == "isomp4",
            Kind::Mpeg => matches!(short_name, "mp1" | "mp2" | "mp3"),
            Kind::Adts => short_name == "aac",
        }
    }

    /// Raw frame streams, which a demuxer resynchronises on by scanning.
    pub(crate) fn is_frame_stream(self) -> bool {
        matches!(self, Kind::Mpeg | Kind::Adts)
    }
}

/// What [`sniff`] found: the kind, the byte where it starts, and bytes of
/// the header to read differently (see [`flac_block_sizes`]).
#[derive(Debug)]
pub(crate) struct Sniffed {
    pub kind: Kind,
    pub start: u64,
    /// `(position, bytes)` replacing the input's bytes there.
    pub patches: Vec<(u64, Vec<u8>)>,
    /// An RF64 file's data chunk length from its ds64 chunk, which the
    /// RIFF header symphonia reads cannot say from 4 GiB on.
    pub rf64_data_len: Option<u64>,
    /// Why the header was patched, for the caller's warning.
    pub warning: Option<String>,
}

/// Magic numbers of formats other decoders read (FFmpeg, through the PyAV
/// fallback) and this core does not: such a file must never reach a reader
/// of ours that would find a header inside it.
const FOREIGN: &[(&[u8], &str)] = &[
    (b"OFR ", "OptimFROG"),
    (b"MAC ", "Monkey's Audio"),
    (b"wvpk", "WavPack"),
    (b"TTA1", "TTA"),
    (b"tBaK", "TAK"),
    (b"ajkg", "Shorten"),
    (b"MPCK", "Musepack"),
    (b"MP+", "Musepack"),
    (b"RF64", "RF64"),
    (b"BW64", "BW64"),
    (b"RIFX", "big-endian RIFF"),
    (b"FRM8", "DSDIFF"),
    (b"DSD ", "DSF"),
    (b".snd", "Sun/NeXT audio"),
    (b"#!AMR", "AMR"),
    (b"\x30\x26\xb2\x75", "ASF/WMA"),
    (b".RMF", "RealMedia"),
    (b"Creative Voice File", "Creative Voice"),
];

/// Decides what `input` (of `len` bytes) is and where it starts.
pub(crate) fn sniff(input: &mut (impl Read + Seek + ?Sized), len: u64, name: &str) -> Result<Sniffed> {
    let io = |err: std::io::Error| Error::Io { path: name.to_string(), message: err.to_string() };
    let start = skip_tags(input, len).map_err(io)?;
    let head = read_at(input, start, MAGIC_BYTES).map_err(io)?;
    let sniffed = |kind| Sniffed { kind, start, patches: Vec::new(), rf64_data_len: None, warning: None };
    let at = |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);
    if at(0, b"RIFF") && at(8, b"WAVE") {
        return Ok(sniffed(Kind::Wave));
    }
    if at(0, b"FORM") && (at(8, b"AIFF") || at(8, b"AIFC")) {
        return Ok(sniffed(Kind::Aiff));
    }
    if at(0, b"caff") {
        return Ok(sniffed(Kind::Caf));
    }
    if at(0, b"fLaC") {
        let first_frame = first_flac_frame(input, start).map_err(io)?;
        let (patch, warning) = first_frame.and_then(|frame| flac_block_sizes(&head, &frame, start)).unzip();
        return Ok(Sniffed { patches: patch.into_iter().collect(), warning, ..sniffed(Kind::Flac) });
    }
    if at(0, b"OggS") {
        return Ok(sniffed(Kind::Ogg));
    }
    if at(0, b"\x1a\x45\xdf\xa3") {
        return Ok(sniffed(Kind::Matroska));
    }
    if at(4, b"ftyp") {
        return Ok(sniffed(Kind::Mp4));
    }
    if rf64::is_rf64(&head) {
        if let Some(rf64) = rf64::read(input, start).map_err(io)? {
            let patches = rf64.patches(start, len);
            return Ok(Sniffed { patches, rf64_data_len: rf64.data_len, ..sniffed(Kind::Wave) });
        }
    }
    if let Some((_, format)) = FOREIGN.iter().find(|(magic, _)| at(0, magic)) {
        return Err(Error::decode(name, format!("{UNSUPPORTED} format ({format})")));
    }
    let rest = len - start;
    // A frame run from the very first byte is told from its first frames:
    // a live stream (a pipe from an encoder) need not deliver the whole
    // search window, seconds of audio, before its first chunk. The answer
    // is the one the whole window gives (its search finds offset 0 first).
    let first = read_at(input, start, FIRST_FRAMES_BYTES).map_err(io)?;
    if let Some(kind) = frame_kind(&first) {
        if frame_run(&first, kind, rest).0 >= FRAMES_AT_START {
            return Ok(sniffed(kind));
        }
    }
    let head = read_at(input, start, FRAME_HEAD_BYTES).map_err(io)?;
    if let Some((offset, kind)) = frame_stream(&head, rest) {
        return Ok(Sniffed { start: start + offset as u64, ..sniffed(kind) });
    }
    Err(Error::decode(name, format!("{UNSUPPORTED} or unrecognised format (no container header at its start)")))
}

/// Up to `n` bytes from `at` on.
pub(crate) fn read_at(input: &mut (impl Read + Seek + ?Sized), at: u64, n: u64) -> std::io::Result<Vec<u8>> {
    input.seek(SeekFrom::Start(at))?;
    let mut bytes = Vec::new();
    Read::take(&mut *input, n).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The byte after the ID3v2 and APEv2 tags at the start of the input.
fn skip_tags(input: &mut (impl Read + Seek + ?Sized), len: u64) -> std::io::Result<u64> {
    let mut at = 0u64;
    loop {
        let header = read_at(input, at, 32)?;
        let header = header.as_slice();
        let next = if let Some(size) = id3v2_size(header) {
            at + size
        } else if header.len() == 32 && &header[..8] == b"APETAGEX" {
            // The size counts the items and the footer, not this header.
            at + 32 + u32::from_le_bytes(header[12..16].try_into().expect("4 bytes")) as u64
        } else {
            return Ok(at);
        };
        if next >= len {
            return Ok(at);
        }
        at = next;
    }
}

/// The whole size of the ID3v2 tag `header` starts, if it starts one.
fn id3v2_size(header: &[u8]) -> Option<u64> {
    if header.len() < 10 || &header[..3] != b"ID3" || header[3] == 0xff || header[4] == 0xff {
        return None;
    }
    let size = header[6..10].iter().try_fold(0u64, |acc, &b| (b < 0x80).then_some(acc << 7 | b as u64))?;
    let footer = if header[5] & 0x10 != 0 { 10 } else { 0 };
    Some(10 + size + footer)
}

/// Where a run of frame headers long enough to be believed starts in `head`
/// (the first bytes of an input with `rest` bytes left), and its kind.
fn frame_stream(head: &[u8], rest: u64) -> Option<(usize, Kind)> {
    let search = head.len().min(FRAME_SEARCH_BYTES);
    (0..search).find_map(|offset| {
        let kind = frame_kind(&head[offset..])?;
        let (frames, to_the_end) = frame_run(&head[offset..], kind, rest - offset as u64);
        let needed = if offset == 0 { FRAMES_AT_START } else { FRAMES_AFTER_JUNK };
        // A stream of fewer frames than asked for is whole when it runs
        // exactly to the end of the input (a very short file).
        (frames >= needed || (offset == 0 && to_the_end && frames > 0)).then_some((offset, kind))
    })
}

fn frame_kind(bytes: &[u8]) -> Option<Kind> {
    let header = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?);
    if mpeg_frame_len(header).is_some() {
        Some(Kind::Mpeg)
    } else if bytes.len() >= 7 && adts_frame_len(bytes).is_some() {
        Some(Kind::Adts)
    } else {
        None
    }
}

/// How many consistent frames follow each other from the start of `bytes`
/// (of an input with `rest` bytes from there), and whether they run to the
/// end of the input.
fn frame_run(bytes: &[u8], kind: Kind, rest: u64) -> (usize, bool) {
    let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let first = word(0);
    let (mut at, mut frames) = (0usize, 0usize);
    while at + 7 <= bytes.len() {
        let len = match kind {
            Kind::Mpeg if word(at) & MPEG_SAME_HEADER == first & MPEG_SAME_HEADER => match mpeg_frame_len(word(at)) {
                Some(0) => free_format_len(bytes, at, word(at)),
                other => other,
            },
            // Profile, rate and channels stay the same (not the length).
            Kind::Adts if word(at) & ADTS_SAME_HEADER == first & ADTS_SAME_HEADER => adts_frame_len(&bytes[at..at + 7]),
            _ => None,
        };
        let Some(len) = len.filter(|&len| len > 4) else { break };
        frames += 1;
        at += len;
        if at as u64 >= rest {
            return (frames, true);
        }
    }
    (frames, false)
}

/// The ADTS header bits that stay the same from frame to frame: sync, ID,
/// layer, protection, profile, rate and channel configuration.
const ADTS_SAME_HEADER: u32 = 0xffff_fdc0;

/// FFmpeg's `SAME_HEADER_MASK`: sync, version, layer and sample rate stay
/// the same from frame to frame.
const MPEG_SAME_HEADER: u32 = 0xffe0_0000 | (3 << 19) | (3 << 17) | (3 << 10);

/// The length in bytes of the MPEG audio frame `header` starts (0 for free
/// format), or `None` when it is not a valid header.
fn mpeg_frame_len(header: u32) -> Option<usize> {
    const KBPS: [[u16; 15]; 5] = [
        [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448], // v1 layer I
        [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],    // v1 layer II
        [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],     // v1 layer III
        [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],    // v2 layer I
        [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],         // v2 layers II, III
    ];
    if header & 0xffe0_0000 != 0xffe0_0000 {
        return None;
    }
    let version = (header >> 19) & 3; // 0: 2.5, 1: reserved, 2: MPEG-2, 3: MPEG-1
    let layer = 4 - ((header >> 17) & 3); // 4: reserved
    let bitrate = ((header >> 12) & 15) as usize;
    let rate_index = ((header >> 10) & 3) as usize;
    if version == 1 || layer == 4 || bitrate == 15 || rate_index == 3 || header & 3 == 2 {
        return None;
    }
    if bitrate == 0 {
        return Some(0);
    }
    let rate = [44100, 48000, 32000][rate_index] >> [2, 0, 1, 0][version as usize];
    let table = match (version == 3, layer) {
        (true, l) => l as usize - 1,
        (false, 1) => 3,
        (false, _) => 4,
    };
    let bps = KBPS[table][bitrate] as usize * 1000;
    let padding = ((header >> 9) & 1) as usize;
    Some(match layer {
        1 => (12 * bps / rate + padding) * 4,
        3 if version != 3 => 72 * bps / rate + padding,
        _ => 144 * bps / rate + padding,
    })
}

/// The longest free-format frame: layer III at MPEG-2.5's 8 kHz and the
/// highest free bit rate, 640 kbit/s (72 * 640,000 / 8,000 bytes, padded).
const MAX_FREE_FRAME: usize = 5761;

/// A free-format frame's length: up to the next header that matches it.
fn free_format_len(bytes: &[u8], at: usize, header: u32) -> Option<usize> {
    let same = |word: u32| word & (MPEG_SAME_HEADER | 0xf000) == header & (MPEG_SAME_HEADER | 0xf000);
    // Bounded, so that junk full of lone free-format headers costs linear time.
    (at + 4..bytes.len().saturating_sub(4).min(at + MAX_FREE_FRAME + 1))
        .find(|&next| same(u32::from_be_bytes(bytes[next..next + 4].try_into().expect("4 bytes"))))
        .map(|next| next - at)
}

/// The length of the ADTS frame `header` (7 bytes) starts, or `None`.
fn adts_frame_len(header: &[u8]) -> Option<usize> {
    let sync = u16::from_be_bytes([header[0], header[1]]);
    // Sync, then the layer bits, which are 0 in ADTS.
    if sync & 0xfff6 != 0xfff0 {
        return None;
    }
    let rate_index = (header[2] >> 2) & 15;
    if rate_index > 12 {
        return None;
    }
    let len = ((header[3] as usize & 3) << 11) | (header[4] as usize) << 3 | (header[5] as usize) >> 5;
    let header_len = if header[1] & 1 == 0 { 9 } else { 7 };
    (len > header_len).then_some(len)
}

/// A FLAC file whose frames' block size disagrees with STREAMINFO's bounds
/// (found in real-world files): symphonia's demuxer refuses every frame,
/// FFmpeg's tool decodes them by their own headers. Returns STREAMINFO's
/// bounds rewritten to admit the first frame's block size (and the
/// warning), or `None` when they agree.
fn flac_block_sizes(head: &[u8], frame: &[u8], start: u64) -> Option<((u64, Vec<u8>), String)> {
    // "fLaC", then STREAMINFO: a 4-byte block header, min and max block size.
    let min = u16::from_be_bytes(head.get(8..10)?.try_into().ok()?);
    let max = u16::from_be_bytes(head.get(10..12)?.try_into().ok()?);
    let total = u64::from_be_bytes(head.get(18..26)?.try_into().ok()?) & 0xf_ffff_ffff;
    let (block, variable) = flac_frame_block(frame)?;
    // The last frame may be shorter than the minimum; a one-frame file's
    // only frame is its last.
    let agrees = block <= max && (block >= min || total <= block as u64) && (variable || min == max);
    if agrees {
        return None;
    }
    let (new_min, new_max) = if variable { (16.min(block), max.max(block).max(17)) } else { (block, block) };
    let mut bounds = new_min.to_be_bytes().to_vec();
    bounds.extend_from_slice(&new_max.to_be_bytes());
    let warning = format!(
        "the frames' block size ({block}) disagrees with STREAMINFO's ({min} to {max}); decoded by the frames' \
         own headers, as FFmpeg does"
    );
    Some(((start + 8, bounds), warning))
}

/// The first 16 bytes of the first FLAC frame of the stream at `start`,
/// after the metadata blocks (`None` if there are none).
fn first_flac_frame(input: &mut (impl Read + Seek + ?Sized), start: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut at = start + 4;
    for _ in 0..MAX_FLAC_BLOCKS {
        let block = read_at(input, at, 4)?;
        if block.len() < 4 {
            return Ok(None);
        }
        at += 4 + ((block[1] as u64) << 16 | (block[2] as u64) << 8 | block[3] as u64);
        if block[0] & 0x80 != 0 {
            let frame = read_at(input, at, 16)?;
            return Ok((frame.len() == 16).then_some(frame));
        }
    }
    Ok(None)
}

/// The block size of the FLAC frame whose header `frame` starts, and whether
/// the stream is variable-blocking.
fn flac_frame_block(frame: &[u8]) -> Option<(u16, bool)> {
    if frame[0] != 0xff || frame[1] & 0xfe != 0xf8 {
        return None;
    }
    let variable = frame[1] & 1 == 1;
    // The coded frame or sample number: UTF-8-like, 1 to 7 bytes.
    let number_len = match frame[4] {
        b if b < 0x80 => 1,
        b => (b.leading_ones() as usize).clamp(2, 7),
    };
    let extra = &frame[4 + number_len..];
    let block = match frame[2] >> 4 {
        1 => 192,
        code @ 2..=5 => 576 << (code - 2),
        6 => extra[0] as u16 + 1,
        7 => u16::from_be_bytes([extra[0], extra[1]]).checked_add(1)?,
        code @ 8..=15 => 256 << (code - 8),
        _ => return None,
    };
    Some((block, variable))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn sniff_bytes(bytes: &[u8]) -> Result<Sniffed> {
        sniff(&mut Cursor::new(bytes), bytes.len() as u64, "x")
    }

    /// `count` MPEG-1 layer III frames at 128 kbit/s, 44.1 kHz (417 bytes).
    fn mp3_frames(count: usize) -> Vec<u8> {
        let mut frame = vec![0u8; 417];
        frame[..4].copy_from_slice(&[0xff, 0xfb, 0x90, 0x00]);
        frame.repeat(count)
    }

    #[test]
    fn a_container_counts_only_at_the_start_after_tags() {
        let mut wav = b"RIFF\x24\0\0\0WAVEfmt ".to_vec();
        wav.resize(64, 0);
        assert_eq!(sniff_bytes(&wav).unwrap().kind, Kind::Wave);
        let mut tagged = b"ID3\x04\0\0\0\0\0\x0a".to_vec();
        tagged.extend_from_slice(&[0; 10]);
        tagged.extend_from_slice(&wav);
        let found = sniff_bytes(&tagged).unwrap();
        assert_eq!((found.kind, found.start), (Kind::Wave, 20));
        let mut junk = vec![0x11; 300];
        junk.extend_from_slice(&wav);
        assert!(sniff_bytes(&junk).unwrap_err().is_unsupported());
        let mut ofr = b"OFR \x0f\0\0\0".to_vec();
        ofr.extend_from_slice(&wav);
        let err = sniff_bytes(&ofr).unwrap_err();
        assert!(err.is_unsupported() && err.to_string().contains("OptimFROG"), "{err}");
    }

    #[test]
    fn rf64_is_wave_with_its_header_rewritten_or_unsupported() {
        let mut rf64 = b"RF64\xff\xff\xff\xffWAVEds64\x1c\0\0\0".to_vec();
        rf64.extend_from_slice(&[100u64.to_le_bytes(), 40u64.to_le_bytes(), [0; 8]].concat());
        rf64.extend_from_slice(&[0; 4]);
        rf64.extend_from_slice(b"fmt \x10\0\0\0\x01\0\x01\0\x40\x1f\0\0\x80\x3e\0\0\x02\0\x10\0data\xff\xff\xff\xff");
        rf64.resize(rf64.len() + 40, 0);
        let found = sniff_bytes(&rf64).unwrap();
        assert_eq!((found.kind, found.rf64_data_len), (Kind::Wave, Some(40)));
        assert_eq!(found.patches, vec![(0, b"RIFF\x64\0\0\0".to_vec()), (76, 40u32.to_le_bytes().to_vec())]);
        // No ds64 chunk first: not walked, FFmpeg's to try.
        rf64[12..16].copy_from_slice(b"JUNK");
        let err = sniff_bytes(&rf64).unwrap_err();
        assert!(err.is_unsupported() && err.to_string().contains("RF64"), "{err}");
    }

    #[test]
    fn mpeg_audio_needs_a_run_of_frame_headers() {
        assert_eq!(sniff_bytes(&mp3_frames(5)).unwrap().kind, Kind::Mpeg);
        // Two frames that are the whole input: a very short file.
        assert_eq!(sniff_bytes(&mp3_frames(2)).unwrap().kind, Kind::Mpeg);
        // Two frames, then something else: not evidence enough.
        let mut short = mp3_frames(2);
        short.extend_from_slice(&[0x42; 5000]);
        assert!(sniff_bytes(&short).is_err());
        // After junk, seven frames are asked for.
        let mut late = vec![0x42; 100];
        late.extend_from_slice(&mp3_frames(6));
        late.extend_from_slice(&[0x42; 5000]);
        assert!(sniff_bytes(&late).is_err());
        let mut late = vec![0x42; 100];
        late.extend_from_slice(&mp3_frames(8));
        assert_eq!(sniff_bytes(&late).unwrap().start, 100);
    }

    #[test]
    fn free_format_frames_are_measured_to_the_next_header() {
        // MPEG-1 layer III, free format (bitrate index 0), 44.1 kHz.
        let mut frame = vec![0u8; 700];
        frame[..4].copy_from_slice(&[0xff, 0xfb, 0x00, 0x00]);
        let stream = frame.repeat(6);
        assert_eq!(free_format_len(&stream, 0, 0xfffb_0000), Some(700));
        let found = sniff_bytes(&stream).unwrap();
        assert_eq!((found.kind, found.start), (Kind::Mpeg, 0));
    }

    #[test]
    fn adts_needs_a_run_too() {
        // AAC LC, 44.1 kHz, stereo, 200-byte frames, no CRC.
        let mut frame = [0u8; 200];
        let len = 200u16;
        frame[..7].copy_from_slice(&[
            0xff,
            0xf1,
            0x50,
            0x80 | (len >> 11) as u8,
            (len >> 3) as u8,
            ((len & 7) << 5) as u8 | 0x1f,
            0xfc,
        ]);
        assert_eq!(adts_frame_len(&frame[..7]), Some(200));
        assert_eq!(sniff_bytes(&frame.repeat(5)).unwrap().kind, Kind::Adts);
        let mut short = frame.repeat(2);
        short.extend_from_slice(&[0x42; 5000]);
        assert!(sniff_bytes(&short).is_err());
    }

    #[test]
    fn mpeg_frame_lengths_follow_the_standard() {
        assert_eq!(mpeg_frame_len(0xfffb_9000), Some(417)); // v1 L3 128k 44.1k
        assert_eq!(mpeg_frame_len(0xfffb_9200), Some(418)); // padded
        assert_eq!(mpeg_frame_len(0xfff3_9000), Some(261)); // v2 L3 80k 22.05k: 72 * 80000 / 22050
        assert_eq!(mpeg_frame_len(0xffff_9000), Some(312)); // v1 L1 288k 44.1k: (12 * 288000 / 44100) * 4
        assert_eq!(mpeg_frame_len(0xffff_f000), None); // bitrate index 15
        assert_eq!(mpeg_frame_len(0xfffb_9c00), None); // sample rate index 3
    }
}
