//! Encoder priming in MP4/M4A files.
//!
//! symphonia's MP4 demuxer ignores edit lists, so an AAC track decodes with
//! the encoder's priming frames (1024 for FFmpeg's and Apple's encoders) in
//! front. The first edit's `media_time` says how many to drop; FFmpeg drops
//! exactly that many, and so do we.

use std::io::{Read, Seek, SeekFrom};

const MAX_DEPTH: usize = 8;

/// Frames of priming to drop from the first audio track of the MP4 file
/// starting at byte `start`, or 0 when the file has no usable edit list (or
/// is not MP4 at all).
pub fn priming_frames(reader: &mut dyn ReadSeek, start: u64) -> u64 {
    let end = match reader.seek(SeekFrom::End(0)) {
        Ok(end) => end,
        Err(_) => return 0,
    };
    find_audio_priming(reader, start, end, 0).unwrap_or(0)
}

pub trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}

/// One box header: its type, where its payload starts, and where it ends.
struct BoxHeader {
    kind: [u8; 4],
    payload: u64,
    end: u64,
}

fn read_header(reader: &mut dyn ReadSeek, at: u64, limit: u64) -> Option<BoxHeader> {
    if at + 8 > limit {
        return None;
    }
    reader.seek(SeekFrom::Start(at)).ok()?;
    let mut head = [0u8; 8];
    reader.read_exact(&mut head).ok()?;
    let size32 = u32::from_be_bytes(head[0..4].try_into().ok()?) as u64;
    let kind: [u8; 4] = head[4..8].try_into().ok()?;
    let (size, header_len) = match size32 {
        0 => (limit - at, 8),
        1 => {
            let mut large = [0u8; 8];
            reader.read_exact(&mut large).ok()?;
            (u64::from_be_bytes(large), 16)
        }
        n => (n, 8),
    };
    if size < header_len || at.checked_add(size)? > limit {
        return None;
    }
    Some(BoxHeader { kind, payload: at + header_len, end: at + size })
}

/// Walks `moov/trak`, returning the first sound track's priming.
fn find_audio_priming(reader: &mut dyn ReadSeek, start: u64, end: u64, depth: usize) -> Option<u64> {
    if depth > MAX_DEPTH {
        return None;
    }
    let mut at = start;
    while let Some(header) = read_header(reader, at, end) {
        match &header.kind {
            b"moov" => return find_audio_priming(reader, header.payload, header.end, depth + 1),
            b"trak" if track_is_sound(reader, header.payload, header.end) => {
                return Some(edit_media_time(reader, header.payload, header.end).unwrap_or(0));
            }
            _ => {}
        }
        at = header.end;
    }
    None
}

fn child(reader: &mut dyn ReadSeek, start: u64, end: u64, kind: &[u8; 4]) -> Option<BoxHeader> {
    let mut at = start;
    while let Some(header) = read_header(reader, at, end) {
        if &header.kind == kind {
            return Some(header);
        }
        at = header.end;
    }
    None
}

fn track_is_sound(reader: &mut dyn ReadSeek, start: u64, end: u64) -> bool {
    (|| {
        let mdia = child(reader, start, end, b"mdia")?;
        let hdlr = child(reader, mdia.payload, mdia.end, b"hdlr")?;
        // version/flags (4), pre_defined (4), handler_type (4)
        reader.seek(SeekFrom::Start(hdlr.payload + 8)).ok()?;
        let mut handler = [0u8; 4];
        reader.read_exact(&mut handler).ok()?;
        Some(&handler == b"soun")
    })()
    .unwrap_or(false)
}

/// `media_time` of the first edit that is not an empty edit (-1).
fn edit_media_time(reader: &mut dyn ReadSeek, start: u64, end: u64) -> Option<u64> {
    let edts = child(reader, start, end, b"edts")?;
    let elst = child(reader, edts.payload, edts.end, b"elst")?;
    reader.seek(SeekFrom::Start(elst.payload)).ok()?;
    let mut head = [0u8; 8];
    reader.read_exact(&mut head).ok()?;
    let version = head[0];
    let entries = u32::from_be_bytes(head[4..8].try_into().ok()?);
    for _ in 0..entries.min(16) {
        let media_time = if version == 1 {
            let mut entry = [0u8; 20];
            reader.read_exact(&mut entry).ok()?;
            i64::from_be_bytes(entry[8..16].try_into().ok()?)
        } else {
            let mut entry = [0u8; 12];
            reader.read_exact(&mut entry).ok()?;
            i32::from_be_bytes(entry[4..8].try_into().ok()?) as i64
        };
        if media_time >= 0 {
            return Some(media_time as u64);
        }
    }
    None
}
