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

/// Fills a [`Planes`] from interleaved blocks or a decoder's planes, each
/// sample converted once, straight into its place (its channel's, or the
/// channels' mean). The buffer is not zeroed first: a fresh allocation's
/// pages are faulted in by the writes that fill them, once.
///
/// Sized up front where the stream vouches for its length (WAV, nanomp3's
/// MP3); grown geometrically by [`PlanesWriter::make_room`] where it does
/// not (symphonia's packets), and cut to what was written by
/// [`PlanesWriter::into_planes`].
pub struct PlanesWriter {
    /// Capacity for `channels * frames` samples (or more), length 0 until
    /// [`PlanesWriter::finish`]: plane `c` starts at `c * frames`.
    data: Vec<f32>,
    channels: usize,
    /// Frames each plane has room for.
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
        } else if in_channels == 2 {
            // Stereo, the common case, in one pass over the block: a pass
            // per plane read every row twice (6% of an MP3 clip's decode).
            let (first, second) = spare.split_at_mut(frames);
            let slots = first[filled..filled + n].iter_mut().zip(&mut second[filled..filled + n]);
            for ((left, right), row) in slots.zip(rows()) {
                left.write(sample(row, 0));
                right.write(sample(row, 1));
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

    /// Frames written in every plane.
    pub fn filled(&self) -> usize {
        self.filled
    }

    /// Room for at least `frames` more frames in every plane: the planes
    /// move to a buffer with twice the room (or what is asked, if more)
    /// when they are full.
    pub fn make_room(&mut self, frames: usize) -> Result<(), TryReserveError> {
        if self.remaining() >= frames {
            return Ok(());
        }
        let room = self.filled.saturating_add(frames).max(self.frames.saturating_mul(2));
        let mut data = Vec::new();
        data.try_reserve_exact(self.channels.saturating_mul(room))?;
        let spare = data.spare_capacity_mut();
        for c in 0..self.channels {
            for (slot, &x) in spare[c * room..].iter_mut().zip(self.written(c)) {
                slot.write(x);
            }
        }
        self.data = data;
        self.frames = room;
        Ok(())
    }

    /// The frames written so far in plane `c < channels`.
    fn written(&self, c: usize) -> &[f32] {
        debug_assert!(c < self.channels);
        // SAFETY: plane `c` starts at `c * frames` within the capacity
        // `new`/`make_room` reserved, and its first `filled` slots were
        // written (`append`, `append_planes`, `make_room`'s copy).
        unsafe { std::slice::from_raw_parts(self.data.as_ptr().add(c * self.frames), self.filled) }
    }

    /// Appends `take` frames from `skip` on of a decoder's `planes` (one
    /// slice per channel, each at least `skip + take` long), converted by
    /// `to_f32`, up to the room [`PlanesWriter::make_room`] made. Into one
    /// plane each, or, when the writer has one plane and the block more,
    /// their mean: the sum in plane order, then one scale, as
    /// [`PlanesWriter::append`].
    pub fn append_planes<S: Copy>(&mut self, planes: &[&[S]], skip: usize, take: usize, to_f32: impl Fn(S) -> f32) {
        let mean = self.channels == 1 && planes.len() > 1;
        let short = planes.iter().any(|plane| plane.len() < skip + take);
        if planes.is_empty() || short || !(mean || planes.len() == self.channels) {
            self.broken = true;
            return;
        }
        let n = take.min(self.remaining());
        let (frames, filled) = (self.frames, self.filled);
        let spare: &mut [MaybeUninit<f32>] = self.data.spare_capacity_mut();
        if mean {
            // A block at a time on the stack, so that each plane's pass is
            // a plain loop the compiler vectorises.
            const BLOCK: usize = 256;
            let scale = 1.0 / planes.len() as f32;
            let mut sum = [0.0f32; BLOCK];
            for at in (0..n).step_by(BLOCK) {
                let len = BLOCK.min(n - at);
                let from = skip + at;
                for (s, &x) in sum[..len].iter_mut().zip(&planes[0][from..from + len]) {
                    *s = to_f32(x);
                }
                for plane in &planes[1..] {
                    for (s, &x) in sum[..len].iter_mut().zip(&plane[from..from + len]) {
                        *s += to_f32(x);
                    }
                }
                for (slot, &s) in spare[filled + at..filled + at + len].iter_mut().zip(&sum[..len]) {
                    slot.write(s * scale);
                }
            }
        } else {
            for (c, plane) in planes.iter().enumerate() {
                let at = c * frames + filled;
                for (slot, &x) in spare[at..at + n].iter_mut().zip(&plane[skip..skip + n]) {
                    slot.write(to_f32(x));
                }
            }
        }
        self.filled += n;
    }

    /// The planes as far as they were written (every plane moved up to
    /// follow the one before where the room was larger); `None` if a block
    /// did not fit the layout.
    pub fn into_planes(mut self) -> Option<Planes> {
        if self.broken {
            return None;
        }
        let (channels, frames, filled) = (self.channels, self.frames, self.filled);
        if filled < frames {
            let base = self.data.as_mut_ptr();
            for c in 1..channels {
                // SAFETY: both ranges lie within the capacity (`c * filled <=
                // c * frames`), the source's `filled` slots were written, and
                // `copy` allows the overlap.
                unsafe { std::ptr::copy(base.add(c * frames), base.add(c * filled), filled) };
            }
        }
        self.frames = filled;
        self.finish()
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
        // Stereo (its own one-pass loop) and three channels.
        for channels in [2, 3] {
            let bytes: Vec<u8> = frames.iter().flat_map(|f| &f[..channels]).flat_map(|s| s.to_le_bytes()).collect();
            let mut writer = PlanesWriter::new(channels, 10, 0).unwrap();
            // Blocks of 4 frames, the last one short, and a partial frame ignored.
            for block in bytes.chunks(4 * 2 * channels) {
                writer.append(block, channels, s16);
            }
            writer.append(&bytes[..5], channels, s16);
            let planes = writer.finish().unwrap();
            assert_eq!((planes.channels(), planes.frames()), (channels, 10));
            for c in 0..channels {
                let want: Vec<f32> = frames.iter().map(|f| f[c] as f32 / 32768.0).collect();
                assert_eq!(planes.plane(c), &want[..]);
            }
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
    fn decoder_planes_grow_and_are_cut_to_what_was_written() {
        let left: Vec<i16> = (0..1000).map(|i| i * 3).collect();
        let right: Vec<i16> = (0..1000).map(|i| -i).collect();
        let third: Vec<i16> = (0..1000).map(|i| i % 7).collect();
        let to_f32 = |x: i16| x as f32 / 32768.0;
        // Room for 10 frames, then packets of 300 frames of which the first
        // 50 are skipped: three moves, and room for more than is written.
        let mut writer = PlanesWriter::new(2, 10, 0).unwrap();
        for packet in 0..3 {
            let at = packet * 300;
            writer.make_room(250).unwrap();
            writer.append_planes(&[&left[at..at + 300], &right[at..at + 300]], 50, 250, to_f32);
        }
        assert_eq!(writer.filled(), 750);
        let planes = writer.into_planes().unwrap();
        assert_eq!((planes.channels(), planes.frames()), (2, 750));
        let want = |plane: &[i16]| -> Vec<f32> {
            (0..3).flat_map(|p| plane[p * 300 + 50..p * 300 + 300].iter().map(|&x| to_f32(x))).collect()
        };
        assert_eq!(planes.plane(0), &want(&left)[..]);
        assert_eq!(planes.plane(1), &want(&right)[..]);

        // The mean over more frames than one stack block, summed in plane
        // order then scaled, as `append`'s.
        let mut mono = PlanesWriter::new(1, 0, 0).unwrap();
        mono.make_room(1000).unwrap();
        mono.append_planes(&[&left[..], &right[..], &third[..]], 0, 1000, to_f32);
        let interleaved: Vec<i16> = (0..1000).flat_map(|i| [left[i], right[i], third[i]]).collect();
        let mut by_rows = PlanesWriter::new(1, 1000, 0).unwrap();
        by_rows.append(&interleaved, 3, |[x]| to_f32(x));
        assert_eq!(mono.into_planes().unwrap(), by_rows.finish().unwrap());

        // A packet of another channel count, or shorter than asked, breaks it.
        let mut mismatched = PlanesWriter::new(2, 10, 0).unwrap();
        mismatched.append_planes(&[&left[..10]], 0, 10, to_f32);
        assert!(mismatched.into_planes().is_none());
        let mut short = PlanesWriter::new(2, 10, 0).unwrap();
        short.append_planes(&[&left[..5], &right[..5]], 0, 10, to_f32);
        assert!(short.into_planes().is_none());
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
