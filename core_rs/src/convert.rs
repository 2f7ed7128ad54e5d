//! Decoded sample buffers to planar f32, or to their channel mean.
//!
//! symphonia's generic `copy_to_slice_planar` converts sample by sample
//! through its `Sample` traits and cost more than decoding a WAV file; these
//! are plain loops over each plane the compiler vectorises. 16-bit PCM skips
//! symphonia's decoder altogether (`Frames::InterleavedS16`). Scales are
//! symphonia's (and FFmpeg's): full-scale integer to [-1, 1).

use symphonia::core::audio::{Audio, AudioBuffer, GenericAudioBufferRef};

/// Where converted frames go.
#[derive(Clone, Copy)]
enum Sink {
    /// One output plane per input plane.
    Planar,
    /// One output plane: the mean of the input planes.
    Mean,
}

/// The frames of one packet: a decoder's buffer, or 16-bit little-endian
/// PCM read straight from the packet (a WAV file's usual content, where
/// symphonia's per-sample decoding cost more than everything else).
pub enum Frames<'a> {
    Buffer(GenericAudioBufferRef<'a>),
    InterleavedS16 { data: &'a [u8], channels: usize },
}

impl Frames<'_> {
    pub fn frames(&self) -> usize {
        match self {
            Frames::Buffer(buffer) => buffer.frames(),
            Frames::InterleavedS16 { data, channels } => data.len() / (2 * channels),
        }
    }

    pub fn channels(&self) -> usize {
        match self {
            Frames::Buffer(buffer) => buffer.spec().channels().count(),
            Frames::InterleavedS16 { channels, .. } => *channels,
        }
    }
}

/// Appends frames `skip..skip + take` of every plane of `frames` to the
/// matching `channels` entry.
pub fn append_planar(frames: &Frames<'_>, skip: usize, take: usize, channels: &mut [Vec<f32>]) {
    match frames {
        Frames::Buffer(buffer) => dispatch(buffer, skip, take, channels, Sink::Planar),
        Frames::InterleavedS16 { data, channels: count } => {
            let rows = || data.chunks_exact(2 * count).skip(skip).take(take);
            for (c, dst) in channels.iter_mut().enumerate() {
                dst.extend(rows().map(|row| s16_at(row, c)));
            }
        }
    }
}

/// Appends the mean over planes of frames `skip..skip + take` to `mono`:
/// the sum in plane order, then one scale, exactly as librosa's `to_mono`.
pub fn append_mean(frames: &Frames<'_>, skip: usize, take: usize, mono: &mut Vec<f32>) {
    match frames {
        Frames::Buffer(buffer) => dispatch(buffer, skip, take, std::slice::from_mut(mono), Sink::Mean),
        // The same operations, in the same order, as `emit` on planes.
        Frames::InterleavedS16 { data, channels: 1 } => {
            mono.extend(data.chunks_exact(2).skip(skip).take(take).map(|row| s16_at(row, 0)))
        }
        Frames::InterleavedS16 { data, channels: count } => {
            let scale = 1.0 / *count as f32;
            mono.extend(data.chunks_exact(2 * count).skip(skip).take(take).map(|row| {
                let sum = (1..*count).fold(s16_at(row, 0), |sum, c| sum + s16_at(row, c));
                sum * scale
            }));
        }
    }
}

/// Sample `c` of an interleaved 16-bit little-endian frame, scaled to [-1, 1).
#[inline(always)]
fn s16_at(row: &[u8], c: usize) -> f32 {
    i16::from_le_bytes([row[2 * c], row[2 * c + 1]]) as f32 * (1.0 / 32768.0)
}

fn dispatch(buffer: &GenericAudioBufferRef<'_>, skip: usize, take: usize, out: &mut [Vec<f32>], sink: Sink) {
    match buffer {
        GenericAudioBufferRef::F32(buf) => append(buf, skip, take, out, sink, |x| x),
        GenericAudioBufferRef::F64(buf) => append(buf, skip, take, out, sink, |x| x as f32),
        GenericAudioBufferRef::S16(buf) => append(buf, skip, take, out, sink, |x| x as f32 * (1.0 / 32768.0)),
        GenericAudioBufferRef::S32(buf) => {
            append(buf, skip, take, out, sink, |x| (x as f64 * (1.0 / 2147483648.0)) as f32)
        }
        GenericAudioBufferRef::S24(buf) => append(buf, skip, take, out, sink, |x| x.inner() as f32 * (1.0 / 8388608.0)),
        GenericAudioBufferRef::U8(buf) => append(buf, skip, take, out, sink, |x| (x as f32 - 128.0) * (1.0 / 128.0)),
        other => {
            // Rare formats (u16, u24, u32, i8): symphonia's own conversion.
            let frames = other.frames();
            let mut whole: Vec<Vec<f32>> = vec![vec![0.0; frames]; other.num_planes()];
            other.copy_to_slice_planar::<f32, _>(&mut whole);
            let planes: Vec<&[f32]> = whole.iter().map(|p| &p[skip..skip + take]).collect();
            emit(&planes, out, sink, |x| x);
        }
    }
}

fn append<S: symphonia::core::audio::sample::Sample + Copy>(
    buf: &AudioBuffer<S>,
    skip: usize,
    take: usize,
    out: &mut [Vec<f32>],
    sink: Sink,
    to_f32: impl Fn(S) -> f32 + Copy,
) {
    let planes: Vec<&[S]> = (0..buf.num_planes()).filter_map(|i| buf.plane(i)).map(|p| &p[skip..skip + take]).collect();
    emit(&planes, out, sink, to_f32);
}

fn emit<S: Copy>(planes: &[&[S]], out: &mut [Vec<f32>], sink: Sink, to_f32: impl Fn(S) -> f32 + Copy) {
    match sink {
        Sink::Planar => {
            for (dst, plane) in out.iter_mut().zip(planes) {
                dst.extend(plane.iter().map(|&x| to_f32(x)));
            }
        }
        Sink::Mean => {
            let dst = &mut out[0];
            let at = dst.len();
            let Some((first, rest)) = planes.split_first() else { return };
            dst.extend(first.iter().map(|&x| to_f32(x)));
            if rest.is_empty() {
                return;
            }
            let acc = &mut dst[at..];
            for plane in rest {
                for (a, &x) in acc.iter_mut().zip(plane.iter()) {
                    *a += to_f32(x);
                }
            }
            let scale = 1.0 / planes.len() as f32;
            acc.iter_mut().for_each(|a| *a *= scale);
        }
    }
}
