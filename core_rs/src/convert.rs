//! Decoded sample buffers to planar f32.
//!
//! symphonia's generic `copy_to_slice_planar` converts sample by sample
//! through its `Sample` traits and cost more than decoding a WAV file; these
//! are plain loops over each plane the compiler vectorises. Scales are
//! symphonia's (and FFmpeg's): full-scale integer to [-1, 1).

use symphonia::core::audio::{Audio, AudioBuffer, GenericAudioBufferRef};

/// Appends frames `skip..skip + take` of every plane of `buffer` to the
/// matching `channels` entry.
pub fn append_planar(buffer: &GenericAudioBufferRef<'_>, skip: usize, take: usize, channels: &mut [Vec<f32>]) {
    match buffer {
        GenericAudioBufferRef::F32(buf) => append(buf, skip, take, channels, |x| x),
        GenericAudioBufferRef::F64(buf) => append(buf, skip, take, channels, |x| x as f32),
        GenericAudioBufferRef::S16(buf) => append(buf, skip, take, channels, |x| x as f32 * (1.0 / 32768.0)),
        GenericAudioBufferRef::S32(buf) => {
            append(buf, skip, take, channels, |x| (x as f64 * (1.0 / 2147483648.0)) as f32)
        }
        GenericAudioBufferRef::S24(buf) => append(buf, skip, take, channels, |x| x.inner() as f32 * (1.0 / 8388608.0)),
        GenericAudioBufferRef::U8(buf) => append(buf, skip, take, channels, |x| (x as f32 - 128.0) * (1.0 / 128.0)),
        other => {
            // Rare formats (u16, u24, u32, i8): symphonia's own conversion.
            let frames = other.frames();
            let mut whole: Vec<Vec<f32>> = vec![vec![0.0; frames]; channels.len()];
            other.copy_to_slice_planar::<f32, _>(&mut whole);
            for (dst, src) in channels.iter_mut().zip(&whole) {
                dst.extend_from_slice(&src[skip..skip + take]);
            }
        }
    }
}

fn append<S: symphonia::core::audio::sample::Sample + Copy>(
    buf: &AudioBuffer<S>,
    skip: usize,
    take: usize,
    channels: &mut [Vec<f32>],
    to_f32: impl Fn(S) -> f32,
) {
    for (index, dst) in channels.iter_mut().enumerate() {
        if let Some(plane) = buf.plane(index) {
            dst.extend(plane[skip..skip + take].iter().map(|&x| to_f32(x)));
        }
    }
}
