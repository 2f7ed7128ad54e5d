//! The decode stage of [`super::ahead`] for a long path or bytes: the next
//! pieces decoded at once on the core's pool, each from its own reader
//! seeked (with the decoder's pre-roll) to the piece's start, exactly as
//! `load` splits a long file, and handed on in order. One core decodes the
//! piece the stream is in while the other decodes the next.
//!
//! A piece that is anything but clean (an error, a warning, fewer frames
//! than planned) is not used: from its start on, the stream is decoded in
//! one go by a [`StreamDecoder`], whose behaviour on damaged input is the
//! defined one (warnings, skipped packets, errors in order).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use super::ahead::{decode_stage, Message};
use super::decoder::Pieces;
use crate::decode::{decode_track, open_for, DecodeOptions};
use crate::error::{catch_panics, Error};
use crate::stream::{StreamDecoder, StreamOptions, StreamSource};

/// Pieces decoded at once (the pool's threads) plus the one waited for.
const IN_FLIGHT: usize = 3;

/// Where piece `k`'s planes arrive (`None`: it was not clean).
type PieceResult = (usize, Receiver<Option<Vec<Vec<f32>>>>);

pub(super) fn piece_stage(
    mut decoder: StreamDecoder,
    plan: Pieces,
    frames: usize,
    to: SyncSender<Message>,
    stop: Arc<AtomicBool>,
) {
    let plan = Arc::new(plan);
    let count = plan.bounds.len() - 1;
    // The opening's warnings (a skipped tag, ...) go with the first block.
    let mut warnings = decoder.take_warnings();
    let mut in_flight: VecDeque<PieceResult> = VecDeque::new();
    let mut next = 0;
    loop {
        while in_flight.len() < IN_FLIGHT && next < count {
            let (done, piece) = sync_channel(1);
            let job = plan.clone();
            let k = next;
            let spawned = crate::pool::spawn(move || {
                let piece = catch_panics(|| Ok(decode_piece(&job, k)), |_| Error::Internal(String::new()));
                let _ = done.send(piece.unwrap_or(None));
            });
            if spawned.is_err() {
                break;
            }
            in_flight.push_back((k, piece));
            next += 1;
        }
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let Some((k, piece)) = in_flight.pop_front() else {
            let _ = to.send(Message { result: Ok(None), warnings, damaged: 0 });
            return;
        };
        match piece.recv().ok().flatten() {
            Some(planes) => {
                let message = Message { result: Ok(Some(planes)), warnings: std::mem::take(&mut warnings), damaged: 0 };
                if to.send(message).is_err() {
                    return;
                }
            }
            None => return in_one_go(&plan, k, frames, to, stop),
        }
    }
}

/// Piece `k` at the stream's own rate, or `None` when it is not clean.
fn decode_piece(plan: &Pieces, k: usize) -> Option<Vec<Vec<f32>>> {
    let last = plan.bounds.len() - 2;
    let open_ended = k == last && plan.open_ended;
    let (from, frames) = (plan.bounds[k], plan.bounds[k + 1] - plan.bounds[k]);
    let sr = plan.sample_rate as f64;
    let options = DecodeOptions {
        offset_s: from as f64 / sr,
        duration_s: (!open_ended).then_some(frames as f64 / sr),
        strict: plan.strict,
        mono: plan.mono,
    };
    let decoded = decode_track(open_for(&plan.source, &options).ok()?, &plan.source, &options, frames).ok()?;
    let whole = decoded.warning.is_none() && (open_ended || decoded.frames() as u64 == frames);
    // The stream's stages pass a Vec per channel; a piece is 10 s, so the
    // copy out of the planar buffer is small next to its decode.
    whole.then(|| decoded.samples.planes().into_iter().map(<[f32]>::to_vec).collect())
}

/// The rest of the stream from piece `k` on, decoded in one go.
fn in_one_go(plan: &Pieces, k: usize, frames: usize, to: SyncSender<Message>, stop: Arc<AtomicBool>) {
    let sr = plan.sample_rate as f64;
    let (from, end) = (plan.bounds[k], plan.bounds[plan.bounds.len() - 1]);
    let options = StreamOptions {
        sample_rate: None,
        mono: plan.mono,
        offset_s: from as f64 / sr,
        duration_s: (!plan.open_ended).then_some((end - from) as f64 / sr),
        strict: plan.strict,
    };
    match StreamDecoder::open(StreamSource::Audio(plan.source.clone()), options) {
        Ok(mut decoder) => {
            if k > 0 {
                // The opening's warnings went out with the first piece.
                decoder.take_warnings();
            }
            decode_stage(decoder, frames, to, stop);
        }
        Err(err) => {
            let _ = to.send(Message { result: Err(err), warnings: Vec::new(), damaged: 0 });
        }
    }
}
