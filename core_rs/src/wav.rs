//! WAV's PCM straight from the data chunk into the caller's buffer.
//!
//! A PCM WAV file is a header and a conversion. symphonia's reader copies
//! the data into a packet of 1,152 frames at a time and its decoder into
//! planes of its own sample type, before ours converts them to f32: three
//! passes and two allocations per packet where one pass does. Here the
//! header is still read by symphonia (its acceptance and its parameters are
//! the contract the other paths keep), and the data chunk, found by the same
//! chunk walk, is converted block by block into a [`PlanesWriter`].
//!
//! Only what this reads exactly as symphonia does is taken: 8/16/24/32-bit
//! integer and 32/64-bit float PCM (plain or WAVE_FORMAT_EXTENSIBLE, every
//! bit of the container valid), with every byte of the data chunk in the
//! file. Anything else (ADPCM, A-law, mu-law, fewer valid bits, a truncated
//! or unbounded data chunk, chunks symphonia skips differently, an offset
//! past the end) goes to symphonia's path, with its warnings and errors.
//!
//! RF64 and BW64 files ([`crate::rf64`]) are read here too, their data chunk
//! by the 64-bit size of their ds64 chunk (symphonia sees them through a
//! rewritten RIFF header, and decodes what this path leaves to it).

use std::cell::RefCell;
use std::io::SeekFrom;

use symphonia::core::codecs::audio::well_known::{
    CODEC_ID_PCM_F32LE, CODEC_ID_PCM_F64LE, CODEC_ID_PCM_S16LE, CODEC_ID_PCM_S24LE, CODEC_ID_PCM_S32LE, CODEC_ID_PCM_U8,
};
use symphonia::core::codecs::audio::AudioCodecParameters;

use crate::decode::{DecodeOptions, Decoded, OpenedTrack};
use crate::error::{Error, Result};
use crate::planes::{Planes, PlanesWriter};
use crate::rf64;
use crate::source::{AudioSource, ByteStream};

/// Bytes of the data chunk read and converted at a time from a file: small
/// enough to stay in cache between the read and the conversion.
const BLOCK_BYTES: usize = 256 * 1024;

/// Chunks walked before the data chunk (a file has a few).
const MAX_CHUNKS: usize = 1024;

thread_local! {
    /// The read buffer of this thread, reused by every file it decodes.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The sample encodings read here, as symphonia's PCM decoder names them.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Encoding {
    U8,
    S16,
    S24,
    S32,
    F32,
    F64,
}

impl Encoding {
    /// The encoding of `params`, if symphonia would decode every bit of its
    /// container (no shift for fewer valid bits).
    fn of(params: &AudioCodecParameters) -> Option<Encoding> {
        let (encoding, bits) = match params.codec {
            CODEC_ID_PCM_U8 => (Encoding::U8, 8),
            CODEC_ID_PCM_S16LE => (Encoding::S16, 16),
            CODEC_ID_PCM_S24LE => (Encoding::S24, 24),
            CODEC_ID_PCM_S32LE => (Encoding::S32, 32),
            CODEC_ID_PCM_F32LE => (Encoding::F32, 32),
            CODEC_ID_PCM_F64LE => (Encoding::F64, 64),
            _ => return None,
        };
        let full = |stated: Option<u32>| stated.is_none_or(|b| b == bits);
        (full(params.bits_per_sample) && full(params.bits_per_coded_sample)).then_some(encoding)
    }

    fn bytes(self) -> usize {
        match self {
            Encoding::U8 => 1,
            Encoding::S16 => 2,
            Encoding::S24 => 3,
            Encoding::S32 | Encoding::F32 => 4,
            Encoding::F64 => 8,
        }
    }
}

/// The frames `bytes` of PCM in `channels` channels hold, for the encodings
/// read here (`None` for others): an RF64 data chunk's length from its
/// ds64 chunk, where the header symphonia reads cannot say it.
pub(crate) fn frames_in(params: &AudioCodecParameters, channels: u64, bytes: u64) -> Option<u64> {
    let frame_bytes = Encoding::of(params)?.bytes() as u64 * channels;
    (frame_bytes > 0).then(|| bytes / frame_bytes)
}

/// Converts the frames of `block` into `out`, each sample as
/// [`crate::convert`] converts symphonia's decoded sample of that type.
fn convert(encoding: Encoding, block: &[u8], channels: usize, out: &mut PlanesWriter) {
    match encoding {
        Encoding::U8 => out.append(block, channels, |[x]: [u8; 1]| (x as f32 - 128.0) * (1.0 / 128.0)),
        Encoding::S16 => out.append(block, channels, |x| i16::from_le_bytes(x) as f32 * (1.0 / 32768.0)),
        Encoding::S24 => out.append(block, channels, |[a, b, c]: [u8; 3]| {
            (i32::from_le_bytes([0, a, b, c]) >> 8) as f32 * (1.0 / 8388608.0)
        }),
        Encoding::S32 => out.append(block, channels, |x| (i32::from_le_bytes(x) as f64 * (1.0 / 2147483648.0)) as f32),
        Encoding::F32 => out.append(block, channels, f32::from_le_bytes),
        Encoding::F64 => out.append(block, channels, |x| f64::from_le_bytes(x) as f32),
    }
}

/// Frames `start..end` (`end`: `None` to the end) of `track`, a WAV file
/// probed by symphonia with `params`, decoded from its data chunk; `None`
/// when symphonia's path should decode it (see the module docs).
pub(crate) fn decode(
    track: &OpenedTrack,
    params: &AudioCodecParameters,
    source: &AudioSource,
    options: &DecodeOptions,
    (start, end): (u64, Option<u64>),
    capacity: u64,
) -> Result<Option<Decoded>> {
    if track.container != "wave" || track.priming != 0 {
        return Ok(None);
    }
    let (Some(encoding), Some(channels)) = (Encoding::of(params), track.channels) else { return Ok(None) };
    if channels == 0 {
        return Ok(None);
    }
    let frame_bytes = (encoding.bytes() * channels) as u64;
    let mut reader = source.reader()?;
    let io = |err: std::io::Error| Error::Io { path: source.name(), message: err.to_string() };
    let Some((data_at, data_len)) = data_chunk(&mut *reader, track.start_byte).map_err(io)? else {
        return Ok(None);
    };
    let frames = data_len / frame_bytes;
    // symphonia's own count of the frames (its length, unless it was not
    // believed), the whole chunk in the file, something to decode.
    let in_file = data_at.checked_add(data_len).is_some_and(|end| end <= track.byte_len);
    if track.declared_frames != Some(frames) || !in_file || start >= frames {
        return Ok(None);
    }
    let stop = end.map_or(frames, |e| e.min(frames));
    let wanted = (stop - start) as usize;
    let planes = if options.mono { 1 } else { channels };
    let mut out = PlanesWriter::new(planes, wanted, capacity as usize)
        .map_err(|_| Error::decode(source.name(), format!("out of memory for {wanted} frames in {planes} channels")))?;
    let (from, bytes) = (data_at + start * frame_bytes, wanted as u64 * frame_bytes);
    match source {
        AudioSource::Bytes { data, .. } => {
            let Some(block) = data.get(from as usize..(from + bytes) as usize) else { return Ok(None) };
            convert(encoding, block, channels, &mut out);
        }
        AudioSource::Path(_) => read_blocks(&mut *reader, from, bytes, frame_bytes as usize, |block| {
            convert(encoding, block, channels, &mut out)
        })
        .map_err(io)?,
    }
    Ok(out.finish().map(|samples: Planes| Decoded {
        samples,
        sample_rate: track.sample_rate,
        warning: track.warning.clone(),
    }))
}

/// Reads `bytes` bytes from `from` into this thread's scratch buffer, whole
/// frames of `frame_bytes` at a time, handing each block to `take`.
fn read_blocks(
    reader: &mut dyn ByteStream,
    from: u64,
    bytes: u64,
    frame_bytes: usize,
    mut take: impl FnMut(&[u8]),
) -> std::io::Result<()> {
    reader.seek(SeekFrom::Start(from))?;
    SCRATCH.with_borrow_mut(|scratch| {
        let block = (BLOCK_BYTES / frame_bytes).max(1) * frame_bytes;
        if scratch.len() < block {
            scratch.resize(block, 0);
        }
        let mut left = bytes;
        while left > 0 {
            let n = left.min(block as u64) as usize;
            reader.read_exact(&mut scratch[..n])?;
            take(&scratch[..n]);
            left -= n as u64;
        }
        Ok(())
    })
}

/// `(offset, length)` of the data chunk of the RIFF (or RF64) WAVE form at
/// `start`, walked as symphonia's chunk reader walks it; `None` where that
/// walk and the one of the RIFF specification could part (an unbounded form
/// or data chunk, a chunk whose parser reads other than its length) or no
/// data chunk comes. An RF64 form's sizes come from its ds64 chunk where
/// its 32-bit ones say so.
fn data_chunk(reader: &mut dyn ByteStream, start: u64) -> std::io::Result<Option<(u64, u64)>> {
    let mut head = [0u8; 12];
    reader.seek(SeekFrom::Start(start))?;
    reader.read_exact(&mut head)?;
    let riff_field = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    let (riff_len, ds64) = if rf64::is_rf64(&head) {
        let Some(ds64) = rf64::ds64(reader, start)? else { return Ok(None) };
        (if riff_field == rf64::SEE_DS64 { ds64.riff_len } else { u64::from(riff_field) }, Some(ds64))
    } else if &head[..4] == b"RIFF" && &head[8..] == b"WAVE" && riff_field != u32::MAX {
        (u64::from(riff_field), None)
    } else {
        return Ok(None);
    };
    if riff_len < 4 {
        return Ok(None);
    }
    let (body, parent) = (start + 12, riff_len - 4);
    let mut consumed = 0u64;
    for _ in 0..MAX_CHUNKS {
        consumed += consumed & 1;
        if consumed + 8 > parent {
            return Ok(None);
        }
        let mut header = [0u8; 8];
        reader.seek(SeekFrom::Start(body.saturating_add(consumed)))?;
        reader.read_exact(&mut header)?;
        let field = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let len = match ds64 {
            Some(ds64) if &header[..4] == b"data" && field == rf64::SEE_DS64 => ds64.data_len,
            // Unbounded in a RIFF form; in an RF64 one, the size of a chunk
            // listed in the ds64 table, which is not read.
            _ if field == u32::MAX => return Ok(None),
            _ => u64::from(field),
        };
        consumed += 8;
        if parent - consumed < len {
            return Ok(None);
        }
        let exact = match &header[..4] {
            b"data" => return Ok(Some((body + consumed, len))),
            // The lengths symphonia's parsers of the formats taken here read
            // to the end (a longer `fmt `, `fact`, or an odd `LIST`, which
            // it pads twice, leaves it elsewhere).
            b"fmt " => matches!(len, 16 | 18 | 40),
            b"fact" => len == 4,
            b"LIST" => len >= 4 && len % 2 == 0,
            _ => true,
        };
        if !exact {
            return Ok(None);
        }
        consumed += len;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{decode as decode_any, open_for};

    /// `(format tag, bits)` of each encoding read here, and its sample bytes.
    const ENCODINGS: [(u16, u16); 6] = [(1, 8), (1, 16), (1, 24), (1, 32), (3, 32), (3, 64)];

    /// A sample of `bits` at frame `i`, channel `c`: every byte value and both
    /// extremes turn up, and channels differ.
    fn sample(tag: u16, bits: u16, i: usize, c: usize) -> Vec<u8> {
        let x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(c as u32 * 7);
        match (tag, bits) {
            (3, 32) => (((x % 20001) as f32 - 10000.0) / 9000.0).to_le_bytes().to_vec(),
            (3, 64) => (((x % 20001) as f64 - 10000.0) / 9000.0 + 1e-12).to_le_bytes().to_vec(),
            _ => x.to_le_bytes()[..bits as usize / 8].to_vec(),
        }
    }

    /// A WAV file: `fmt ` of `fmt_len` (16, 18 or 40 with the extensible
    /// tag), `extra` chunks before the data, `riff_len` overriding the form's.
    fn wav(tag: u16, bits: u16, channels: usize, frames: usize, extra: &[u8], riff_len: Option<u32>) -> Vec<u8> {
        let block = channels * bits as usize / 8;
        let mut fmt = Vec::new();
        let extensible = tag == 0xFFFE;
        fmt.extend_from_slice(&tag.to_le_bytes());
        fmt.extend_from_slice(&(channels as u16).to_le_bytes());
        fmt.extend_from_slice(&8000u32.to_le_bytes());
        fmt.extend_from_slice(&(8000 * block as u32).to_le_bytes());
        fmt.extend_from_slice(&(block as u16).to_le_bytes());
        fmt.extend_from_slice(&bits.to_le_bytes());
        if extensible {
            fmt.extend_from_slice(&22u16.to_le_bytes());
            fmt.extend_from_slice(&bits.to_le_bytes());
            fmt.extend_from_slice(&((1u32 << channels) - 1).to_le_bytes());
            let sub: u8 = if bits == 64 { 3 } else { 1 };
            fmt.extend_from_slice(&[sub, 0, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71]);
        }
        let mut body = b"WAVEfmt ".to_vec();
        body.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
        body.extend_from_slice(&fmt);
        body.extend_from_slice(extra);
        body.extend_from_slice(b"data");
        body.extend_from_slice(&((frames * block) as u32).to_le_bytes());
        let subtag = if extensible {
            if bits == 64 {
                3
            } else {
                1
            }
        } else {
            tag
        };
        for i in 0..frames {
            for c in 0..channels {
                body.extend(sample(subtag, bits, i, c));
            }
        }
        let mut out = b"RIFF".to_vec();
        out.extend_from_slice(&riff_len.unwrap_or(body.len() as u32).to_le_bytes());
        out.extend(body);
        out
    }

    /// The direct path's decode, or `None` where it declines.
    fn direct(bytes: &[u8], options: &DecodeOptions) -> Option<Decoded> {
        let source = AudioSource::bytes(bytes.to_vec(), "t.wav");
        let track = open_for(&source, options).unwrap();
        let sr = track.sample_rate as f64;
        let start = (options.offset_s * sr).round() as u64;
        let end = options.duration_s.map(|d| start + (d * sr).round() as u64);
        let params = audio_params(&track).unwrap().clone();
        decode(&track, &params, &source, options, (start, end), 0).unwrap()
    }

    fn audio_params(track: &OpenedTrack) -> Option<&AudioCodecParameters> {
        let audio = track.format.tracks().iter().find(|t| t.id == track.track_id)?;
        audio.codec_params.as_ref()?.audio()
    }

    /// symphonia's decode of the same audio: an unbounded RIFF form (as
    /// FFmpeg writes to a pipe) is left to it, and reads the same.
    fn symphonia(bytes: &[u8], options: &DecodeOptions) -> Decoded {
        let mut unbounded = bytes.to_vec();
        unbounded[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(direct(&unbounded, options).is_none());
        decode_any(&AudioSource::bytes(unbounded, "t.wav"), options).unwrap()
    }

    fn windows() -> Vec<DecodeOptions> {
        vec![
            DecodeOptions::default(),
            DecodeOptions { mono: true, ..Default::default() },
            DecodeOptions { offset_s: 0.0375, duration_s: Some(0.05), ..Default::default() },
            DecodeOptions { offset_s: 0.1, duration_s: Some(10.0), mono: true, ..Default::default() },
        ]
    }

    #[test]
    fn every_encoding_reads_as_symphonia_does() {
        for (tag, bits) in ENCODINGS {
            for channels in [1, 2, 3] {
                for extensible in [false, true] {
                    let tag = if extensible { 0xFFFE } else { tag };
                    let bytes = wav(tag, bits, channels, 1001, b"", None);
                    for options in windows() {
                        let got = direct(&bytes, &options).unwrap_or_else(|| panic!("{tag} {bits} {options:?}"));
                        let want = symphonia(&bytes, &options);
                        assert_eq!(got.samples, want.samples, "{tag} {bits}-bit, {channels} channels, {options:?}");
                        assert_eq!((got.sample_rate, &got.warning), (want.sample_rate, &want.warning));
                    }
                }
            }
        }
    }

    #[test]
    fn a_file_is_read_in_blocks_as_bytes_are_at_once() {
        // 24-bit in 3 channels: 9-byte frames, several blocks.
        let bytes = wav(1, 24, 3, 70_001, b"", None);
        let path = std::env::temp_dir().join(format!("audiodecode-wav-{}.wav", std::process::id()));
        std::fs::write(&path, &bytes).unwrap();
        for options in windows() {
            let track = open_for(&AudioSource::path(&path), &options).unwrap();
            let params = audio_params(&track).unwrap().clone();
            let sr = 8000.0;
            let start = (options.offset_s * sr).round() as u64;
            let end = options.duration_s.map(|d| start + (d * sr).round() as u64);
            let from_file = decode(&track, &params, &AudioSource::path(&path), &options, (start, end), 0).unwrap();
            assert_eq!(from_file.unwrap().samples, direct(&bytes, &options).unwrap().samples, "{options:?}");
        }
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn chunks_before_the_data_are_walked_as_symphonia_walks_them() {
        // An odd-length unknown chunk (padded) and an even LIST chunk.
        let mut extra = b"junk\x03\0\0\0abc\0".to_vec();
        extra.extend_from_slice(b"LIST\x0e\0\0\0INFOISFT\x02\0\0\0x\0");
        extra.extend_from_slice(b"fact\x04\0\0\0\x10\0\0\0");
        let bytes = wav(1, 16, 2, 500, &extra, None);
        let got = direct(&bytes, &DecodeOptions::default()).expect("taken");
        assert_eq!(got.samples, symphonia(&bytes, &DecodeOptions::default()).samples);
        // An odd LIST chunk, which symphonia pads twice (and then fails to
        // read), is never taken.
        let odd_list = wav(1, 16, 2, 500, b"LIST\x05\0\0\0abcde\0", None);
        assert_eq!(data_chunk(&mut std::io::Cursor::new(&odd_list), 0).unwrap(), None);
        assert_eq!(data_chunk(&mut std::io::Cursor::new(&bytes), 0).unwrap(), Some((90, 2000)));
    }

    /// `bytes`, a WAV file from [`wav`], as FFmpeg writes RF64 (`-rf64
    /// always`): the form `RF64`, a ds64 chunk first with the sizes, both
    /// 32-bit sizes "see ds64".
    fn to_rf64(bytes: &[u8], ds64_data_len: Option<u64>) -> Vec<u8> {
        let data = bytes.windows(4).position(|w| w == b"data").unwrap();
        let data_len = u32::from_le_bytes(bytes[data + 4..data + 8].try_into().unwrap()) as u64;
        let mut out = b"RF64\xff\xff\xff\xffWAVEds64\x1c\0\0\0".to_vec();
        out.extend_from_slice(&((bytes.len() + 36 - 8) as u64).to_le_bytes());
        out.extend_from_slice(&ds64_data_len.unwrap_or(data_len).to_le_bytes());
        out.extend_from_slice(&[0; 12]);
        out.extend_from_slice(&bytes[12..data + 4]);
        out.extend_from_slice(&[0xff; 4]);
        out.extend_from_slice(&bytes[data + 8..]);
        out
    }

    #[test]
    fn rf64_reads_as_the_same_wav_does() {
        for (tag, bits) in ENCODINGS {
            for channels in [1, 3] {
                let riff = wav(tag, bits, channels, 1001, b"junk\x03\0\0\0abc\0", None);
                let rf64 = to_rf64(&riff, None);
                for options in windows() {
                    let got = direct(&rf64, &options).unwrap_or_else(|| panic!("{tag} {bits} {options:?}"));
                    let want = direct(&riff, &options).unwrap();
                    assert_eq!(got.samples, want.samples, "{tag} {bits}-bit, {channels} channels, {options:?}");
                    assert_eq!(got.warning, None);
                }
            }
        }
        // A file cut short: as the same WAV cut short, symphonia decodes
        // what is there and warns.
        let riff = wav(1, 16, 2, 1000, b"", None);
        let whole = DecodeOptions::default();
        let cut = |bytes: &[u8]| bytes[..bytes.len() - 1001].to_vec();
        let rf64 = to_rf64(&riff, None);
        assert!(direct(&cut(&rf64), &whole).is_none());
        let (got, want) =
            (decode_any(&AudioSource::bytes(cut(&rf64), "t.wav"), &whole).unwrap(), symphonia(&cut(&riff), &whole));
        assert_eq!(got.samples, want.samples);
        assert!(got.warning.as_deref().is_some_and(|w| w.contains("truncated")), "{:?}", got.warning);
        // ds64 sizes beyond the input, up to 2^64 - 1: not read here. Both
        // beyond it: symphonia decodes what is there, with the truncated
        // warning; a data chunk beyond its form: symphonia's error.
        for claim in [1 << 32, 1 << 40, 1 << 63, u64::MAX] {
            let mut rf64 = to_rf64(&riff, Some(claim));
            let err = decode_any(&AudioSource::bytes(rf64.clone(), "t.wav"), &whole).unwrap_err().to_string();
            assert!(err.contains("t.wav") && err.contains("exceeds parent"), "{claim}: {err}");
            rf64[20..28].copy_from_slice(&claim.to_le_bytes());
            assert!(direct(&rf64, &whole).is_none(), "{claim}");
            let decoded = decode_any(&AudioSource::bytes(rf64, "t.wav"), &whole).unwrap();
            assert_eq!(decoded.samples, direct(&riff, &whole).unwrap().samples);
            assert!(
                decoded.warning.as_deref().is_some_and(|w| w.contains("truncated")),
                "{claim}: {:?}",
                decoded.warning
            );
        }
    }

    #[test]
    fn what_it_cannot_read_exactly_goes_to_symphonia() {
        let bytes = wav(1, 16, 2, 1000, b"", None);
        // A data chunk cut short: symphonia decodes what is there and warns.
        let cut = &bytes[..bytes.len() - 1001];
        assert!(direct(cut, &DecodeOptions::default()).is_none());
        let decoded = decode_any(&AudioSource::bytes(cut.to_vec(), "cut.wav"), &DecodeOptions::default()).unwrap();
        assert!(decoded.warning.as_deref().is_some_and(|w| w.contains("truncated")), "{:?}", decoded.warning);
        // An offset past the end: symphonia's error.
        let past = DecodeOptions { offset_s: 0.125, ..Default::default() };
        assert!(direct(&bytes, &past).is_none());
        assert!(decode_any(&AudioSource::bytes(bytes.clone(), "t.wav"), &past).is_err());
        // 20 valid bits in 24: symphonia's shift.
        let mut twenty = wav(0xFFFE, 24, 1, 100, b"", None);
        twenty[38..40].copy_from_slice(&20u16.to_le_bytes());
        assert!(direct(&twenty, &DecodeOptions::default()).is_none());
        // A partial frame at the end of the data chunk is not a frame.
        let mut ragged = wav(1, 16, 2, 1000, b"", None);
        let data_len = 4000u32 + 3;
        ragged[40..44].copy_from_slice(&data_len.to_le_bytes());
        ragged.extend_from_slice(&[1, 2, 3]);
        let len = ragged.len() as u32 - 8;
        ragged[4..8].copy_from_slice(&len.to_le_bytes());
        let got = direct(&ragged, &DecodeOptions::default()).expect("taken");
        assert_eq!(got.frames(), 1000);
        assert_eq!(got.samples, symphonia(&ragged, &DecodeOptions::default()).samples);
    }
}
