//! Decoded audio as the caller gets it: every channel's frames in one
//! allocation, channel after channel, which numpy takes over as a
//! `(channels, frames)` array without a copy.
//!
//! One `Vec` per channel, concatenated for numpy at the end, wrote every
//! sample twice and faulted in two fresh buffers: on a WAV clip that was
//! twice the page faults of libsndfile. [`PlanesWriter`] converts
//! interleaved blocks straight into their place in the final buffer.

use std::collections::TryReserveError;
use std::mem::MaybeUninit;

/// Planar f32 audio in one buffer: channel `c` is `[c * frames, (c + 1) * frames)`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Planes {
    data: Vec<f32>,
    channels: usize,
}

impl Planes {
    /// One buffer of `planes` (all of one length): moved when there is one,
    /// concatenated otherwise.
    pub fn from_planes(mut planes: Vec<Vec<f32>>) -> Planes {
        let channels = planes.len();
        let data = if channels == 1 { planes.pop().unwrap_or_default() } else { planes.concat() };
        Planes { data, channels }
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    pub fn frames(&self) -> usize {
        self.data.len().checked_div(self.channels).unwrap_or(0)
    }

    /// Channel `c`'s frames (empty past the last channel).
    pub fn plane(&self, c: usize) -> &[f32] {
        let frames = self.frames();
        self.data.get(c * frames..(c + 1) * frames).unwrap_or_default()
    }

    /// Every channel's frames, in order.
    pub fn planes(&self) -> Vec<&[f32]> {
        (0..self.channels).map(|c| self.plane(c)).collect()
    }

    /// All samples, channel after channel.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// The buffer itself, for numpy to own.
    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }

    /// `pieces` of one channel count, one after the other in time. One
    /// channel appends to the first piece (which a caller sizes for all).
    pub fn join(pieces: Vec<Planes>) -> Planes {
        let mut pieces = pieces.into_iter();
        let Some(mut whole) = pieces.next() else { return Planes::default() };
        let rest: Vec<Planes> = pieces.collect();
        if whole.channels == 1 {
            rest.iter().for_each(|piece| whole.data.extend_from_slice(&piece.data));
            return whole;
        }
        let planes = (0..whole.channels)
            .map(|c| std::iter::once(&whole).chain(&rest).flat_map(|piece| piece.plane(c)).copied().collect())
            .collect();
        Planes::from_planes(planes)
    }
}

/// Fills a [`Planes`] of known size from interleaved blocks, each sample
/// converted once, straight into its place (its channel's, or the channels'
/// mean). The buffer is not zeroed first: a fresh allocation's pages are
/// faulted in by the writes that fill them, once.
pub struct PlanesWriter {
    /// Capacity for `channels * frames` samples (or more), length 0 until
    /// [`PlanesWriter::finish`].
    data: Vec<f32>,
    channels: usize,
    frames: usize,
    /// Frames written in every plane.
    filled: usize,
    /// Set when a block did not fit the layout: nothing is handed out then.
    broken: bool,
}

impl PlanesWriter {
    /// Room for `frames` frames of `channels` channels; one channel
    /// reserves at least `room` frames, so that later pieces append to it
    /// in place ([`Planes::join`]).
    pub fn new(channels: usize, frames: usize, room: usize) -> Result<PlanesWriter, TryReserveError> {
        let mut data = Vec::new();
        let samples = if channels == 1 { frames.max(room) } else { channels.saturating_mul(frames) };
        data.try_reserve_exact(samples)?;
        Ok(PlanesWriter { data, channels, frames, filled: 0, broken: channels == 0 })
    }

    /// Frames still to write.
    pub fn remaining(&self) -> usize {
        self.frames - self.filled
    }

    /// Appends the frames of `block`, interleaved samples of `in_channels`
    /// channels, each `W` units of `T` that `to_f32` converts (bytes of PCM,
    /// or one `f32`), up to the size given to [`PlanesWriter::new`]. Into one
    /// plane each, or, when the writer has one plane and the block more,
    /// their mean: the sum in channel order, then one scale, exactly as
    /// [`crate::convert`] and librosa's `to_mono`.
    pub fn append<T: Copy, const W: usize>(&mut self, block: &[T], in_channels: usize, to_f32: impl Fn([T; W]) -> f32) {
        let mean = self.channels == 1 && in_channels > 1;
        if in_channels == 0 || W == 0 || !(mean || in_channels == self.channels) {
            self.broken = true;
            return;
        }
        let row_len = in_channels * W;
        let n = (block.len() / row_len).min(self.remaining());
        let rows = || block.chunks_exact(row_len).take(n);
        let sample = |row: &[T], c: usize| to_f32(std::array::from_fn(|i| row[c * W + i]));
        let (frames, filled) = (self.frames, self.filled);
        let spare: &mut [MaybeUninit<f32>] = self.data.spare_capacity_mut();
        if mean {
            let scale = 1.0 / in_channels as f32;
            for (slot, row) in spare[filled..filled + n].iter_mut().zip(rows()) {
                let sum = (1..in_channels).fold(sample(row, 0), |sum, c| sum + sample(row, c));
                slot.write(sum * scale);
            }
        } else {
            for c in 0..in_channels {
                let at = c * frames + filled;
                for (slot, row) in spare[at..at + n].iter_mut().zip(rows()) {
                    slot.write(sample(row, c));
                }
            }
        }
        self.filled += n;
    }

    /// The planes, once every frame of every plane was written; `None`
    /// short of that (the caller's decoder stopped early).
    pub fn finish(mut self) -> Option<Planes> {
        if self.broken || self.filled != self.frames {
            return None;
        }
        let len = self.channels * self.frames;
        // SAFETY: `append` wrote slots `[c * frames, c * frames + filled)`
        // of every plane `c < channels` (the `mean` case: the one plane),
        // within the capacity `new` reserved, and `filled == frames`: all of
        // `[0, len)` is initialised.
        unsafe { self.data.set_len(len) };
        Some(Planes { data: self.data, channels: self.channels })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s16(bytes: [u8; 2]) -> f32 {
        i16::from_le_bytes(bytes) as f32 / 32768.0
    }

    #[test]
    fn interleaved_blocks_land_in_their_planes() {
        let frames: Vec<[i16; 3]> = (0..10).map(|i| [i, 100 + i, -i]).collect();
        let bytes: Vec<u8> = frames.iter().flatten().flat_map(|s| s.to_le_bytes()).collect();
        let mut writer = PlanesWriter::new(3, 10, 0).unwrap();
        // Blocks of 4 frames, the last one short, and a partial frame ignored.
        for block in bytes.chunks(4 * 6) {
            writer.append(block, 3, s16);
        }
        writer.append(&bytes[..5], 3, s16);
        let planes = writer.finish().unwrap();
        assert_eq!((planes.channels(), planes.frames()), (3, 10));
        for c in 0..3 {
            let want: Vec<f32> = frames.iter().map(|f| f[c] as f32 / 32768.0).collect();
            assert_eq!(planes.plane(c), &want[..]);
        }
    }

    #[test]
    fn one_plane_takes_the_mean_in_channel_order() {
        let block = [0.1f32, 0.7, -0.3, 0.25, 0.5, 1e-8];
        let mut writer = PlanesWriter::new(1, 2, 0).unwrap();
        writer.append(&block, 3, |[x]| x);
        let planes = writer.finish().unwrap();
        let scale = 1.0 / 3.0f32;
        assert_eq!(planes.as_slice(), &[(0.1 + 0.7 + -0.3) * scale, (0.25 + 0.5 + 1e-8) * scale]);
    }

    #[test]
    fn a_short_or_mismatched_fill_hands_out_nothing() {
        let mut short = PlanesWriter::new(2, 4, 0).unwrap();
        short.append(&[0.0f32; 6], 2, |[x]| x);
        assert_eq!(short.remaining(), 1);
        assert!(short.finish().is_none());
        let mut mismatched = PlanesWriter::new(2, 1, 0).unwrap();
        mismatched.append(&[0.0f32; 3], 3, |[x]| x);
        assert!(mismatched.finish().is_none());
        assert!(PlanesWriter::new(usize::MAX / 2, 3, 0).is_err());
    }

    #[test]
    fn pieces_join_in_time() {
        let a = Planes::from_planes(vec![vec![1.0, 2.0], vec![3.0, 4.0]]);
        let b = Planes::from_planes(vec![vec![5.0], vec![6.0]]);
        let joined = Planes::join(vec![a, b]);
        assert_eq!(joined.planes(), vec![&[1.0, 2.0, 5.0][..], &[3.0, 4.0, 6.0][..]]);
        let mono = Planes::join(vec![Planes::from_planes(vec![vec![1.0]]), Planes::from_planes(vec![vec![2.0]])]);
        assert_eq!(mono.as_slice(), &[1.0, 2.0]);
        assert_eq!(Planes::default().frames(), 0);
    }
}
