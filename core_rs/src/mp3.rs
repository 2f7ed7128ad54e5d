//! MPEG layer III through nanomp3, a safe port of minimp3: about 1.3x
//! symphonia's decoder per core, gapless from the LAME/Xing/VBRI tags, with
//! sample-accurate seeks.
//!
//! minimp3 resynchronises past damage without a word, where our contract
//! asks for a warning. So nanomp3 only takes a stream it can vouch for: one
//! run of layer III frames of one format from the first byte to the end
//! (trailing ID3v1/APEv2 tags aside), decoding to exactly the length it
//! declares. Anything else (junk, a cut, a corrupt frame, a format change,
//! an offset past the end) returns `None` and symphonia decodes the file as
//! before, with its warnings and errors.

use std::borrow::Cow;
use std::io::{Read, Seek, SeekFrom};

use nanomp3::{frames, strip_tags, SliceReader};

use crate::decode::{DecodeOptions, Decoded, OpenedTrack};
use crate::error::{Error, Result};
use crate::planes::PlanesWriter;
use crate::sniff::Kind;
use crate::source::AudioSource;

/// Decodes frames `start..end` (`end`: `None` to the end) of `track` into
/// planes with room for at least `capacity` frames, or `None` when nanomp3
/// cannot vouch for the stream (see the module docs).
pub(crate) fn decode(
    track: &OpenedTrack,
    source: &AudioSource,
    options: &DecodeOptions,
    (start, end): (u64, Option<u64>),
    capacity: u64,
) -> Result<Option<Decoded>> {
    if track.codec != "mp3" || track.kind != Kind::Mpeg {
        return Ok(None);
    }
    let Some(data) = stream_bytes(source, track.start_byte, track.byte_len) else { return Ok(None) };
    let Some((sample_rate, count, most)) = one_run_of_frames(&data) else { return Ok(None) };
    if sample_rate != track.sample_rate {
        return Ok(None);
    }
    let mut reader = SliceReader::<f32>::new(&data);
    // A tag claiming more than the frames decode to is not believed (nor
    // allocated for).
    let Some(total) = reader.total_samples().filter(|&total| total <= most) else { return Ok(None) };
    let stop = end.map_or(total, |e| e.min(total));
    if start >= stop || (start > 0 && reader.seek(start).is_err()) {
        return Ok(None);
    }
    let wanted = (stop - start) as usize;
    let planes = if options.mono { 1 } else { count };
    let room = capacity.min(track.byte_len.saturating_mul(16)) as usize;
    let mut out = PlanesWriter::new(planes, wanted, room)
        .map_err(|_| Error::decode(source.name(), format!("out of memory for {wanted} frames in {planes} channels")))?;
    while out.remaining() > 0 {
        let Ok(Some(block)) = reader.read_frame() else { break };
        out.append(block, count, |[x]| x);
    }
    // Short of the declared length: a corrupt frame was skipped, or the
    // stream ends early. symphonia's path reports which.
    Ok(out.finish().map(|samples| Decoded { samples, sample_rate, warning: track.warning.clone() }))
}

/// The stream's bytes from `start` (after the leading tags, where [`crate::sniff`]
/// found the first frame): borrowed when in memory, read otherwise. `None`
/// when they cannot be had (symphonia then reads, and reports, the file).
fn stream_bytes(source: &AudioSource, start: u64, len: u64) -> Option<Cow<'_, [u8]>> {
    if let AudioSource::Bytes { data, .. } = source {
        return data.get(start as usize..).map(Cow::Borrowed);
    }
    let mut reader = source.reader().ok()?;
    reader.seek(SeekFrom::Start(start)).ok()?;
    let mut bytes = Vec::new();
    bytes.try_reserve_exact(len.saturating_sub(start) as usize).ok()?;
    reader.read_to_end(&mut bytes).ok()?;
    Some(Cow::Owned(bytes))
}

/// `(sample rate, channels, frames they decode to)` of `data` if it is one
/// unbroken run of layer III frames of one rate and channel count, from its
/// first byte to its end or its trailing tags.
fn one_run_of_frames(data: &[u8]) -> Option<(u32, usize, u64)> {
    let end = strip_tags(data).len() + nanomp3::id3v2_len(data);
    let mut frames = frames(data);
    let first = frames.next()?;
    if first.offset != 0 || first.layer != 3 {
        return None;
    }
    let mut next = first.data.len();
    let mut samples = first.samples as u64;
    for frame in frames {
        let same = frame.layer == 3 && frame.sample_rate == first.sample_rate && frame.channels == first.channels;
        if !same || frame.offset != next {
            return None;
        }
        next += frame.data.len();
        samples += frame.samples as u64;
    }
    (next == end).then_some((first.sample_rate, first.channels.num() as usize, samples))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{decode as decode_any, open_for};

    /// 0.6 s of 440 Hz left, 660 Hz right at 44.1 kHz, LAME at 64 kbit/s
    /// (an Info tag with the encoder delay and padding).
    const STEREO: &[u8] = include_bytes!("../../tests/fixtures/mp3/stereo-44k.mp3");
    const FRAMES: usize = 26_460;

    fn source(bytes: &[u8]) -> AudioSource {
        AudioSource::bytes(bytes.to_vec(), "tone.mp3")
    }

    fn ours(bytes: &[u8], options: &DecodeOptions) -> Option<Decoded> {
        let source = source(bytes);
        let track = open_for(&source, options).unwrap();
        let sr = track.sample_rate as f64;
        let start = (options.offset_s * sr).round() as u64;
        let end = options.duration_s.map(|d| start + (d * sr).round() as u64);
        decode(&track, &source, options, (start, end), 0).unwrap()
    }

    fn snr_db(got: &[f32], want: &[f32]) -> f64 {
        let signal: f64 = want.iter().map(|&w| (w as f64).powi(2)).sum();
        let noise: f64 = got.iter().zip(want).map(|(&g, &w)| (g as f64 - w as f64).powi(2)).sum();
        10.0 * (signal / noise.max(1e-30)).log10()
    }

    #[test]
    fn a_clean_stream_decodes_gapless_through_nanomp3() {
        let whole = ours(STEREO, &DecodeOptions::default()).expect("nanomp3 takes a clean stream");
        assert_eq!(whole.sample_rate, 44_100);
        assert_eq!((whole.samples.channels(), whole.frames()), (2, FRAMES));
        assert!(whole.warning.is_none());
        let mono = ours(STEREO, &DecodeOptions { mono: true, ..Default::default() }).unwrap();
        let (left, right) = (whole.samples.plane(0), whole.samples.plane(1));
        let mean: Vec<f32> = left.iter().zip(right).map(|(l, r)| (l + r) * 0.5).collect();
        assert_eq!(mono.samples.as_slice(), &mean[..]);
    }

    #[test]
    fn a_seek_equals_the_slice_of_the_whole_decode() {
        let whole = ours(STEREO, &DecodeOptions::default()).unwrap();
        let options = DecodeOptions { offset_s: 0.25, duration_s: Some(0.2), ..Default::default() };
        let part = ours(STEREO, &options).unwrap();
        for (part, whole) in part.samples.planes().into_iter().zip(whole.samples.planes()) {
            assert_eq!(part[..], whole[11_025..11_025 + 8_820]);
        }
        let to_the_end = ours(STEREO, &DecodeOptions { offset_s: 0.5, duration_s: Some(9.0), ..Default::default() });
        assert_eq!(to_the_end.unwrap().samples.plane(1), &whole.samples.plane(1)[22_050..]);
    }

    #[test]
    fn a_stream_it_cannot_vouch_for_goes_to_symphonia() {
        let whole = ours(STEREO, &DecodeOptions::default()).unwrap();
        // Cut mid-frame, and cut at a frame boundary (the Info tag counts
        // more frames): symphonia decodes what is there and warns.
        let frame_starts: Vec<usize> = frames(STEREO).map(|f| f.offset).collect();
        for cut in [STEREO.len() / 2, frame_starts[frame_starts.len() / 2]] {
            let cut = &STEREO[..cut];
            assert!(ours(cut, &DecodeOptions::default()).is_none());
            let fallback = decode_any(&source(cut), &DecodeOptions::default()).unwrap();
            assert!(fallback.warning.as_deref().is_some_and(|w| w.contains("truncated")), "{:?}", fallback.warning);
            let n = fallback.frames() - 1152;
            assert!(snr_db(&fallback.samples.plane(0)[..n], &whole.samples.plane(0)[..n]) > 60.0);
        }
        // Junk between frames, and an offset past the end.
        let mut junk = STEREO.to_vec();
        junk.splice(frame_starts[10]..frame_starts[10], [0u8; 100]);
        assert!(ours(&junk, &DecodeOptions::default()).is_none());
        assert!(ours(STEREO, &DecodeOptions { offset_s: 0.7, ..Default::default() }).is_none());
        assert!(decode_any(&source(STEREO), &DecodeOptions { offset_s: 0.7, ..Default::default() }).is_err());
    }

    #[test]
    fn trailing_tags_are_not_junk() {
        let mut tagged = STEREO.to_vec();
        tagged.extend_from_slice(b"TAG");
        tagged.resize(STEREO.len() + 128, b' ');
        let decoded = ours(&tagged, &DecodeOptions::default()).expect("an ID3v1 tag ends the frames");
        assert_eq!(decoded.samples, ours(STEREO, &DecodeOptions::default()).unwrap().samples);
    }
}
