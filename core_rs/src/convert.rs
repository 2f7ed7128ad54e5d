//! Decoded sample buffers to planar f32, or to their channel mean, written
//! straight into the caller's [`PlanesWriter`].
//!
//! symphonia's generic `copy_to_slice_planar` converts sample by sample
//! through its `Sample` traits and cost more than decoding a WAV file; these
//! are plain loops over each plane the compiler vectorises. 16-bit PCM skips
//! symphonia's decoder altogether (`Frames::InterleavedS16`). Scales are
//! symphonia's (and FFmpeg's): full-scale integer to [-1, 1).

use symphonia::core::audio::{Audio, AudioBuffer, GenericAudioBufferRef};

use crate::planes::PlanesWriter;

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

/// Appends frames `skip..skip + take` of `frames` to `out`: each plane
/// into its own, or their mean when `out` has one plane (the sum in plane
/// order, then one scale, exactly as librosa's `to_mono`). The caller made
/// the room ([`PlanesWriter::make_room`]).
pub fn append(frames: &Frames<'_>, skip: usize, take: usize, out: &mut PlanesWriter) {
    match frames {
        Frames::Buffer(buffer) => dispatch(buffer, skip, take, out),
        Frames::InterleavedS16 { data, channels: count } => {
            let row = 2 * count;
            let rows = data.get(skip * row..(skip + take) * row).unwrap_or_default();
            out.append(rows, *count, |bytes: [u8; 2]| i16::from_le_bytes(bytes) as f32 * (1.0 / 32768.0));
        }
    }
}

fn dispatch(buffer: &GenericAudioBufferRef<'_>, skip: usize, take: usize, out: &mut PlanesWriter) {
    match buffer {
        GenericAudioBufferRef::F32(buf) => append_buffer(buf, skip, take, out, |x| x),
        GenericAudioBufferRef::F64(buf) => append_buffer(buf, skip, take, out, |x| x as f32),
        GenericAudioBufferRef::S16(buf) => append_buffer(buf, skip, take, out, |x| x as f32 * (1.0 / 32768.0)),
        GenericAudioBufferRef::S32(buf) => {
            append_buffer(buf, skip, take, out, |x| (x as f64 * (1.0 / 2147483648.0)) as f32)
        }
        GenericAudioBufferRef::S24(buf) => {
            append_buffer(buf, skip, take, out, |x| x.inner() as f32 * (1.0 / 8388608.0))
        }
        GenericAudioBufferRef::U8(buf) => append_buffer(buf, skip, take, out, |x| (x as f32 - 128.0) * (1.0 / 128.0)),
        other => {
            // Rare formats (u16, u24, u32, i8): symphonia's own conversion.
            let frames = other.frames();
            let mut whole: Vec<Vec<f32>> = vec![vec![0.0; frames]; other.num_planes()];
            other.copy_to_slice_planar::<f32, _>(&mut whole);
            let planes: Vec<&[f32]> = whole.iter().map(Vec::as_slice).collect();
            out.append_planes(&planes, skip, take, |x| x);
        }
    }
}

fn append_buffer<S: symphonia::core::audio::sample::Sample + Copy>(
    buf: &AudioBuffer<S>,
    skip: usize,
    take: usize,
    out: &mut PlanesWriter,
    to_f32: impl Fn(S) -> f32,
) {
    let planes: Vec<&[S]> = (0..buf.num_planes()).filter_map(|i| buf.plane(i)).collect();
    out.append_planes(&planes, skip, take, to_f32);
}
