//! The whole per-file job, decode (and mix down) -> resample, and its batched,
//! parallel form.

use rayon::prelude::*;

use crate::decode::{decode, decode_track, open_for, DecodeOptions, Decoded, OpenedTrack};
use crate::error::{catch_panics, Error, Result};
use crate::planes::Planes;
use crate::pool;
use crate::resample::resample_planes;
use crate::samples::has_non_finite;
use crate::source::AudioSource;

#[derive(Clone, Debug)]
pub struct LoadRequest {
    pub source: AudioSource,
    /// Target rate; `None` keeps the file's.
    pub sample_rate: Option<u32>,
    /// What to decode, mixdown included.
    pub decode: DecodeOptions,
}

/// Loaded audio: planar, one plane when mono.
#[derive(Debug)]
pub struct Audio {
    pub samples: Planes,
    pub sample_rate: u32,
    pub warning: Option<String>,
}

/// The highest target rate taken: 768 kHz, the top of professional audio
/// interfaces. The work and memory of a load grow with the rate asked for.
pub const MAX_SAMPLE_RATE: u32 = 768_000;

pub fn load(request: &LoadRequest) -> Result<Audio> {
    if let Some(sr) = request.sample_rate {
        if !(1..=MAX_SAMPLE_RATE).contains(&sr) {
            return Err(Error::invalid(format!("sr must be in [1, {MAX_SAMPLE_RATE}] Hz, got {sr}")));
        }
    }
    guard_panics(&request.source, || load_unguarded(request))
}

/// Runs `work` on `source`, turning a panic into a decode error about that
/// file: demuxers and decoders are third-party code fed untrusted bytes.
pub(crate) fn guard_panics<T>(source: &AudioSource, work: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_panics(work, |reason| Error::decode(source.name(), format!("decoder crashed on malformed data ({reason})")))
}

fn load_unguarded(request: &LoadRequest) -> Result<Audio> {
    let decoded = decode_in_pieces(&request.source, &request.decode, rayon::current_num_threads())?;
    if has_non_finite(decoded.samples.as_slice()) {
        return Err(Error::decode(request.source.name(), "the audio contains NaN or infinite samples"));
    }
    let sr_in = decoded.sample_rate;
    let sample_rate = request.sample_rate.unwrap_or(sr_in);
    // At the file's rate the decoded buffer is the one the caller gets.
    let samples = if sample_rate == sr_in {
        decoded.samples
    } else {
        Planes::from_planes(resample_planes(&decoded.samples.planes(), sr_in, sample_rate)?)
    };
    Ok(Audio { samples, sample_rate, warning: decoded.warning })
}

/// A request at least twice this long is decoded in pieces of at least
/// this length, in parallel: a long file alone would otherwise leave all
/// but one core idle.
const PIECE_SECONDS: f64 = 30.0;

/// [`decode`], split over up to `threads` pieces when the request is long
/// and the codec restarts exactly. Each piece seeks with the decoder's
/// pre-roll, so the pieces join without a seam. Anything unusual in a
/// piece (an error, a warning, a short read) falls back to one sequential
/// decode, whose behaviour on damaged files is the defined one.
fn decode_in_pieces(source: &AudioSource, options: &DecodeOptions, threads: usize) -> Result<Decoded> {
    // The probe that plans the pieces is the one a short request decodes.
    let track = open_for(source, options)?;
    let Some(bounds) = plan_pieces(&track, options, threads) else {
        return decode_track(track, source, options, 0);
    };
    let sr = track.sample_rate as f64;
    let last = bounds.len() - 2;
    let pieces: Option<Vec<Decoded>> = (0..=last)
        .into_par_iter()
        .map(|k| {
            let open_ended = k == last && options.duration_s.is_none();
            let frames = bounds[k + 1] - bounds[k];
            let piece = DecodeOptions {
                offset_s: bounds[k] as f64 / sr,
                duration_s: (!open_ended).then_some(frames as f64 / sr),
                ..options.clone()
            };
            let capacity = if k == 0 { bounds[last + 1] - bounds[0] } else { 0 };
            let decoded = decode_track(open_for(source, &piece).ok()?, source, &piece, capacity).ok()?;
            let whole = decoded.warning.is_none() && (open_ended || decoded.frames() as u64 == frames);
            whole.then_some(decoded)
        })
        .collect();
    let Some(pieces) = pieces else {
        return decode(source, options);
    };
    let Some(first) = pieces.first() else { return decode(source, options) };
    let (sample_rate, warning) = (first.sample_rate, first.warning.clone());
    let samples = Planes::join(pieces.into_iter().map(|piece| piece.samples).collect());
    Ok(Decoded { samples, sample_rate, warning })
}

/// The frame bounds of the pieces of `options`' range of `track` (`None`:
/// decode in one go): the request's range of the declared length, cut
/// evenly.
fn plan_pieces(track: &OpenedTrack, options: &DecodeOptions, threads: usize) -> Option<Vec<u64>> {
    if threads < 2 || !seams_are_exact(&track.codec) {
        return None;
    }
    let (sr, declared) = (track.sample_rate, track.declared_frames?);
    let start = (options.offset_s * sr as f64).round() as u64;
    let end = options
        .duration_s
        .filter(|d| d.is_finite() && *d > 0.0)
        .map_or(declared, |d| (start + (d * sr as f64).round() as u64).min(declared));
    let piece_frames = (PIECE_SECONDS * sr as f64) as u64;
    let count = (end.saturating_sub(start) / piece_frames).min(threads as u64);
    (count >= 2).then(|| (0..=count).map(|k| start + (end - start) * k / count).collect())
}

/// Codecs whose output after a seek (with pre-roll) is bit-identical to a
/// continuous decode (tests/test_decode.py checks each). Not AAC: its
/// perceptual noise substitution draws from a decoder-wide random state,
/// so a decode that starts mid-file fills those bands with other noise.
pub(crate) fn seams_are_exact(codec: &str) -> bool {
    codec.starts_with("pcm") || matches!(codec, "flac" | "mp3" | "vorbis")
}

/// Loads every request in parallel, results in input order. `num_threads`
/// `None` uses the core's default pool (one thread per core).
pub fn load_batch(requests: &[LoadRequest], num_threads: Option<usize>) -> Result<Vec<Result<Audio>>> {
    pool::run(num_threads, || requests.par_iter().map(load).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::MAX_SECONDS;

    /// A 16-bit PCM WAV file in memory.
    fn wav(channels: &[Vec<i16>], sr: u32) -> Vec<u8> {
        let (count, frames) = (channels.len() as u16, channels[0].len() as u32);
        let data_len = frames * count as u32 * 2;
        let mut out = Vec::new();
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&(36 + data_len).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&sr.to_le_bytes());
        out.extend_from_slice(&(sr * count as u32 * 2).to_le_bytes());
        out.extend_from_slice(&(count * 2).to_le_bytes());
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&data_len.to_le_bytes());
        for i in 0..frames as usize {
            for plane in channels {
                out.extend_from_slice(&plane[i].to_le_bytes());
            }
        }
        out
    }

    fn request(bytes: Vec<u8>, decode: DecodeOptions) -> LoadRequest {
        LoadRequest { source: AudioSource::bytes(bytes, "test.wav"), sample_rate: None, decode }
    }

    fn ramp(frames: usize, step: i16) -> Vec<i16> {
        (0..frames).map(|i| (i as i16).wrapping_mul(step)).collect()
    }

    #[test]
    fn decodes_exact_samples_and_means_channels() {
        let (left, right) = (ramp(1000, 3), ramp(1000, -5));
        let bytes = wav(&[left.clone(), right.clone()], 8000);
        let stereo = load(&request(bytes.clone(), DecodeOptions::default())).unwrap();
        assert_eq!(stereo.sample_rate, 8000);
        assert_eq!(stereo.samples.plane(1)[10], right[10] as f32 / 32768.0);
        let mono = load(&request(bytes, DecodeOptions { mono: true, ..Default::default() })).unwrap();
        assert_eq!(mono.samples.channels(), 1);
        let want = (left[77] as f32 / 32768.0 + right[77] as f32 / 32768.0) * 0.5;
        assert_eq!(mono.samples.plane(0)[77], want);
    }

    #[test]
    fn a_long_request_decoded_in_pieces_equals_one_decode() {
        // 150 s at 1 kHz: five 30 s pieces at most, three with three threads.
        let (left, right) = (ramp(150_000, 7), ramp(150_000, -3));
        let source = AudioSource::bytes(wav(&[left, right], 1000), "long.wav");
        for options in [
            DecodeOptions::default(),
            DecodeOptions { mono: true, ..Default::default() },
            DecodeOptions { offset_s: 10.5, duration_s: Some(100.0), ..Default::default() },
            DecodeOptions { offset_s: 20.0, duration_s: Some(1000.0), ..Default::default() },
        ] {
            let bounds = plan_pieces(&open_for(&source, &options).unwrap(), &options, 3).expect("long enough to split");
            assert!(bounds.len() >= 3, "{bounds:?}");
            let pieces = pool::run(Some(3), || decode_in_pieces(&source, &options, 3)).unwrap().unwrap();
            let whole = decode(&source, &options).unwrap();
            assert_eq!(pieces.samples, whole.samples, "{options:?}");
        }
        let short = DecodeOptions { duration_s: Some(50.0), ..Default::default() };
        let track = || open_for(&source, &DecodeOptions::default()).unwrap();
        assert!(plan_pieces(&track(), &short, 3).is_none());
        assert!(plan_pieces(&track(), &DecodeOptions::default(), 1).is_none());
    }

    #[test]
    fn a_truncated_long_file_falls_back_to_one_decode_and_warns() {
        let mut bytes = wav(&[ramp(100_000, 5)], 1000);
        bytes.truncate(bytes.len() / 2);
        let source = AudioSource::bytes(bytes, "cut.wav");
        let options = DecodeOptions::default();
        assert!(plan_pieces(&open_for(&source, &options).unwrap(), &options, 2).is_some());
        let pieces = pool::run(Some(2), || decode_in_pieces(&source, &options, 2)).unwrap().unwrap();
        let whole = decode(&source, &options).unwrap();
        assert_eq!(pieces.samples, whole.samples);
        assert!(pieces.warning.is_some() && pieces.warning == whole.warning);
    }

    #[test]
    fn offset_and_duration_select_frames() {
        let left = ramp(8000, 1);
        let options = DecodeOptions { offset_s: 0.25, duration_s: Some(0.125), ..Default::default() };
        let audio = load(&request(wav(std::slice::from_ref(&left), 8000), options)).unwrap();
        assert_eq!(audio.samples.frames(), 1000);
        assert_eq!(audio.samples.plane(0)[0], left[2000] as f32 / 32768.0);
    }

    #[test]
    fn out_of_range_rates_offsets_and_durations_are_invalid_arguments() {
        let bytes = wav(&[ramp(8000, 1)], 8000);
        let invalid = |sample_rate: Option<u32>, offset_s: f64, duration_s: Option<f64>| {
            let decode = DecodeOptions { offset_s, duration_s, ..Default::default() };
            let request = LoadRequest { sample_rate, ..request(bytes.clone(), decode) };
            match load(&request) {
                Err(Error::InvalidArgument(message)) => message,
                other => {
                    panic!("{sample_rate:?} {offset_s} {duration_s:?}: expected an invalid argument, got {other:?}")
                }
            }
        };
        assert!(invalid(Some(0), 0.0, None).starts_with("sr must be in [1, 768000]"));
        assert!(invalid(Some(768_001), 0.0, None).starts_with("sr must be"));
        assert!(invalid(None, 5e14, None).starts_with("offset must be"));
        assert!(invalid(None, f64::NAN, None).starts_with("offset must be"));
        assert!(invalid(None, 0.0, Some(1e308)).starts_with("duration must be"));
        assert!(invalid(None, 0.0, Some(1e-9)).contains("less than half a frame"));
        // The bounds themselves are taken: an offset of 1e9 s is past the end.
        assert!(invalid(None, MAX_SECONDS, Some(MAX_SECONDS)).contains("past the end"));
        let decode = DecodeOptions { duration_s: Some(0.01), ..Default::default() };
        let audio =
            load(&LoadRequest { sample_rate: Some(MAX_SAMPLE_RATE), ..request(bytes.clone(), decode) }).unwrap();
        assert_eq!(audio.samples.frames(), 80 * 96);
    }

    #[test]
    fn empty_and_garbage_inputs_are_decode_errors_naming_the_source() {
        for bytes in [Vec::new(), vec![0x5a; 4096]] {
            match load(&request(bytes, DecodeOptions::default())) {
                Err(Error::Decode { path, .. }) => assert_eq!(path, "test.wav"),
                other => panic!("expected a decode error, got {other:?}"),
            }
        }
    }

    #[test]
    fn batch_keeps_order_and_isolates_failures() {
        let good = wav(&[ramp(500, 2)], 8000);
        let requests = vec![
            request(good.clone(), DecodeOptions::default()),
            request(b"not audio at all".to_vec(), DecodeOptions::default()),
            request(good, DecodeOptions { offset_s: 0.03125, ..Default::default() }),
        ];
        let results = load_batch(&requests, Some(2)).unwrap();
        assert_eq!(results[0].as_ref().unwrap().samples.frames(), 500);
        assert!(results[1].is_err());
        assert_eq!(results[2].as_ref().unwrap().samples.frames(), 250);
        assert!(load_batch(&requests, Some(0)).is_err());
    }
}
