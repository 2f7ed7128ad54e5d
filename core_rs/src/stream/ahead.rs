//! Decoding ahead: a stream's next blocks are decoded and resampled on
//! threads of their own while the caller consumes the current one.
//!
//! Two stages, each a thread, joined by bounded channels: the decoder
//! (demux, decode, mix down: blocks at the stream's own rate; for a long
//! path or bytes, pieces decoded two at once, [`super::pieces`]) and the
//! resampler (the same stateful [`ResampleStream`] the inline decoder
//! uses, fed the same frames in the same order, so the output is
//! bit-identical). On two cores the stages and the consumer overlap, and
//! memory is the blocks in flight: one in each stage, one between them and
//! `depth` ready for the caller.
//!
//! Warnings and errors travel in order with the blocks: the consumer sees
//! every block decoded before a failure, then the failure. A stage stops
//! when the one after it is gone (the reader was closed or dropped) or at
//! the stop flag, checked between blocks, so no thread outlives its stream
//! by more than the block it is decoding.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{catch_panics, Error, Result};
use crate::resample::ResampleStream;
use crate::stream::pieces::piece_stage;
use crate::stream::StreamDecoder;

/// Pieces a path or bytes is decoded in, two at once (see [`super::pieces`]):
/// long enough that opening and seeking for each costs little, short
/// enough that the pieces in flight stay a few megabytes.
const PIECE_SECONDS: f64 = 10.0;

/// A block (`Ok(Some)`), the end (`Ok(None)`) or the failure of a stage,
/// with the warnings and the damaged-packet count as of that point.
pub(super) struct Message {
    pub(super) result: Result<Option<Vec<Vec<f32>>>>,
    pub(super) warnings: Vec<String>,
    pub(super) damaged: u64,
}

/// How long [`DecodeAhead::close`] waits for its threads: one block's
/// decode, unless a source's `read` blocks (a pipe with no writer).
const CLOSE_WAIT: Duration = Duration::from_secs(5);

pub struct DecodeAhead {
    name: String,
    /// Decoded in pieces on the pool ([`super::pieces`]), not in one go.
    in_pieces: bool,
    blocks: Option<Receiver<Message>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// A failure that came after frames still to hand out.
    failed: Option<Error>,
    warnings: Vec<String>,
    damaged: u64,
    done: bool,
}

impl DecodeAhead {
    /// Runs `decoder` ahead in blocks of about `block_frames` output frames,
    /// `depth` of them ready for the caller; no resampler stage when the
    /// stream is read at its own rate.
    pub fn start(mut decoder: StreamDecoder, block_frames: usize, depth: usize) -> Result<Self> {
        let (native, out) = (decoder.native_rate(), decoder.sample_rate());
        let name = decoder.name().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let depth = depth.max(1);
        let spawn = |label: &str, work: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(format!("audiodecode-stream-{label}"))
                .spawn(work)
                .map_err(|err| Error::Io { path: name.clone(), message: format!("cannot start a thread ({err})") })
        };
        let (to_caller, blocks) = sync_channel(depth);
        let mut threads = Vec::new();
        decoder.native_blocks();
        let native_frames = (block_frames as u128 * native as u128).div_ceil(out as u128) as usize;
        let pieces = decoder.pieces(PIECE_SECONDS);
        let in_pieces = pieces.is_some();
        let flag = stop.clone();
        let decode = move |to: SyncSender<Message>| match pieces {
            Some(plan) => piece_stage(decoder, plan, native_frames, to, flag),
            None => decode_stage(decoder, native_frames, to, flag),
        };
        if native == out {
            threads.push(spawn("decode", Box::new(move || decode(to_caller)))?);
        } else {
            // One block between the stages: the resampler keeps pace.
            let (to_resampler, natives) = sync_channel(1);
            threads.push(spawn("decode", Box::new(move || decode(to_resampler)))?);
            let (flag, label) = (stop.clone(), name.clone());
            let resample = move || resample_stage(natives, to_caller, (native, out), flag, label);
            match spawn("resample", Box::new(resample)) {
                Ok(thread) => threads.push(thread),
                Err(err) => {
                    stop.store(true, Ordering::Relaxed);
                    return Err(err);
                }
            }
        }
        Ok(DecodeAhead {
            name,
            in_pieces,
            blocks: Some(blocks),
            stop,
            threads,
            failed: None,
            warnings: Vec::new(),
            damaged: 0,
            done: false,
        })
    }

    /// Whether the stream is decoded in pieces, two at once.
    pub fn in_pieces(&self) -> bool {
        self.in_pieces
    }

    /// Damaged packets skipped up to the last block handed out.
    pub fn damaged_packets(&self) -> u64 {
        self.damaged
    }

    /// Warnings up to the last block handed out.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// The next block of at least `min_frames` frames (fewer only at the
    /// end), as [`StreamDecoder::next_block`]: the blocks done ahead,
    /// joined until they are long enough; waits for them when none is.
    pub fn next_block(&mut self, min_frames: usize) -> Result<Option<Vec<Vec<f32>>>> {
        if let Some(err) = self.failed.take() {
            return Err(err);
        }
        let mut out: Vec<Vec<f32>> = Vec::new();
        while !self.done && out.first().map_or(0, Vec::len) < min_frames.max(1) {
            let Some(message) = self.blocks.as_ref().and_then(|blocks| blocks.recv().ok()) else {
                self.done = true;
                return Err(Error::Internal(format!("{}: the decoding thread stopped", self.name)));
            };
            self.warnings.extend(message.warnings);
            self.damaged = message.damaged;
            match message.result {
                Ok(Some(planes)) if out.is_empty() => out = planes,
                Ok(Some(planes)) => out.iter_mut().zip(planes).for_each(|(all, part)| all.extend_from_slice(&part)),
                Ok(None) => self.done = true,
                Err(err) => {
                    self.done = true;
                    if out.first().is_none_or(Vec::is_empty) {
                        return Err(err);
                    }
                    // The frames before the failure first, the failure next.
                    self.failed = Some(err);
                }
            }
        }
        Ok(out.first().is_some_and(|plane| !plane.is_empty()).then_some(out))
    }

    /// Stops the threads and waits (at most [`CLOSE_WAIT`]) for them to end.
    pub fn close(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // A stage waiting to hand a block over sees its receiver gone.
        self.blocks = None;
        self.done = true;
        let deadline = Instant::now() + CLOSE_WAIT;
        while self.threads.iter().any(|thread| !thread.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        for thread in std::mem::take(&mut self.threads) {
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
    }
}

impl Drop for DecodeAhead {
    /// Without waiting (the caller may hold the GIL a source's `read`
    /// needs): the threads see the flag or their receiver gone and end.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

pub(super) fn decode_stage(mut decoder: StreamDecoder, frames: usize, to: SyncSender<Message>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let name = decoder.name().to_string();
        let result = catch_panics(
            || decoder.next_block(frames),
            |why| Error::decode(&name, format!("decoder crashed on malformed data ({why})")),
        );
        let last = !matches!(result, Ok(Some(_)));
        let message = Message { result, warnings: decoder.take_warnings(), damaged: decoder.damaged_packets() };
        if to.send(message).is_err() || last {
            return;
        }
    }
}

fn resample_stage(
    from: Receiver<Message>,
    to: SyncSender<Message>,
    (native, out): (u32, u32),
    stop: Arc<AtomicBool>,
    name: String,
) {
    let mut resampler: Option<ResampleStream> = None;
    for message in from {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let Message { result, warnings, damaged } = message;
        let (result, end) = match result {
            Ok(Some(planes)) => {
                let pushed = catch_panics(
                    || {
                        if resampler.is_none() {
                            resampler = Some(ResampleStream::new(planes.len(), native, out)?);
                        }
                        let slices: Vec<&[f32]> = planes.iter().map(Vec::as_slice).collect();
                        Ok(resampler.as_mut().map(|r| r.push(&slices)))
                    },
                    |why| Error::Internal(format!("{name}: resampler crashed ({why})")),
                );
                (pushed, false)
            }
            // The end: the resampler's tail, then the end itself.
            Ok(None) => (Ok(resampler.as_mut().map(ResampleStream::finish)), true),
            Err(err) => (Err(err), true),
        };
        let failed = result.is_err();
        if to.send(Message { result, warnings, damaged }).is_err() || failed {
            return;
        }
        if end {
            let _ = to.send(Message { result: Ok(None), warnings: Vec::new(), damaged });
            return;
        }
    }
}
