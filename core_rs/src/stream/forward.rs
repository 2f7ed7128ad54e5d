//! A byte stream read once, front to back (a pipe, a socket, a callback),
//! made readable by [`crate::sniff`] and symphonia's probe.
//!
//! The sniffer seeks around the first bytes (past tags, to the first FLAC
//! frame); the demuxers then only read forward. So every byte is kept while
//! sniffing, seeks land inside what was kept, and once the audio's start is
//! known the kept bytes before it are dropped: memory is the head of the
//! stream, then nothing.

use std::io::{Read, Seek, SeekFrom};

use symphonia::core::io::MediaSource;

/// Any reader the demuxer may pull from on another thread.
pub type ForwardRead = Box<dyn Read + Send + Sync>;

pub struct Forward {
    inner: ForwardRead,
    /// Bytes read from `inner` and not yet given out for good, starting at
    /// stream position `kept_from`.
    kept: Vec<u8>,
    kept_from: u64,
    /// The stream position the next read returns.
    pos: u64,
    /// While sniffing, bytes read are kept for later seeks.
    rewindable: bool,
    /// Stream position where the audio starts (positions below it are hidden
    /// from the demuxer), and `(position, bytes)` read instead of the stream's.
    start: u64,
    patches: Vec<(u64, Vec<u8>)>,
}

impl Forward {
    pub fn new(inner: ForwardRead) -> Self {
        Forward { inner, kept: Vec::new(), kept_from: 0, pos: 0, rewindable: true, start: 0, patches: Vec::new() }
    }

    /// The audio starts at stream position `start`; forget what lies before
    /// it and stop keeping bytes.
    pub fn begin_at(&mut self, start: u64, patches: Vec<(u64, Vec<u8>)>) -> std::io::Result<()> {
        self.seek_stream(start)?;
        let drop = ((start - self.kept_from) as usize).min(self.kept.len());
        self.kept.drain(..drop);
        self.kept_from += drop as u64;
        (self.rewindable, self.start, self.patches) = (false, start, patches);
        Ok(())
    }

    /// Moves to stream position `to`: backwards within the kept bytes,
    /// forwards by reading (and keeping) the bytes in between.
    fn seek_stream(&mut self, to: u64) -> std::io::Result<()> {
        if to < self.kept_from {
            return Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "the stream cannot seek back"));
        }
        let mut sink = [0u8; 8192];
        while self.kept_from + (self.kept.len() as u64) < to {
            self.pos = self.kept_from + self.kept.len() as u64;
            let want = ((to - self.pos) as usize).min(sink.len());
            if self.read_stream(&mut sink[..want])? == 0 {
                break;
            }
        }
        self.pos = to;
        Ok(())
    }

    /// Reads at `pos` from the kept bytes or, past them, from `inner`.
    fn read_stream(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let end = self.kept_from + self.kept.len() as u64;
        if self.pos < end {
            let at = (self.pos - self.kept_from) as usize;
            let n = buf.len().min(self.kept.len() - at);
            buf[..n].copy_from_slice(&self.kept[at..at + n]);
            self.pos += n as u64;
            if !self.rewindable && self.pos == end {
                // Read through: nothing needs them any more.
                self.kept_from = end;
                self.kept.clear();
            }
            return Ok(n);
        }
        if self.pos > end {
            // Only a seek past the end (of a stream shorter than asked) lands here.
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if self.rewindable {
            self.kept.extend_from_slice(&buf[..n]);
        } else {
            self.kept_from += n as u64;
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl Read for Forward {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let from = self.pos;
        let n = self.read_stream(buf)?;
        for (at, bytes) in &self.patches {
            let lo = from.max(*at);
            let hi = (from + n as u64).min(at + bytes.len() as u64);
            for p in lo..hi {
                buf[(p - from) as usize] = bytes[(p - at) as usize];
            }
        }
        Ok(n)
    }
}

/// Seeks for the sniffer (absolute positions in the whole stream) before
/// [`Forward::begin_at`]; afterwards positions count from the audio's start
/// and only the current one is reachable (symphonia is told the stream
/// cannot seek, and asks only for its position).
impl Seek for Forward {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => p as i128 + self.start as i128,
            SeekFrom::Current(d) => self.pos as i128 + d as i128,
            SeekFrom::End(_) => {
                return Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "the stream's length is unknown"))
            }
        };
        if target < self.start as i128 || (!self.rewindable && target != self.pos as i128) {
            return Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "the stream cannot seek"));
        }
        self.seek_stream(target as u64)?;
        Ok(self.pos - self.start)
    }
}

impl MediaSource for Forward {
    fn is_seekable(&self) -> bool {
        false
    }

    fn byte_len(&self) -> Option<u64> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeks_while_sniffing_then_reads_on_from_the_start_with_the_patches() {
        let data: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        let mut stream = Forward::new(Box::new(std::io::Cursor::new(data.clone())));
        let mut four = [0u8; 4];
        stream.seek(SeekFrom::Start(30_000)).unwrap();
        stream.read_exact(&mut four).unwrap();
        assert_eq!(four, data[30_000..30_004]);
        stream.seek(SeekFrom::Start(10)).unwrap();
        stream.read_exact(&mut four).unwrap();
        assert_eq!(four, data[10..14]);
        stream.begin_at(100, vec![(102, vec![7, 7]), (40_000, vec![9])]).unwrap();
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).unwrap();
        let mut want = data[100..].to_vec();
        want[2..4].copy_from_slice(&[7, 7]);
        want[39_900] = 9;
        assert_eq!(rest, want);
        assert!(stream.kept.is_empty(), "the head is dropped once read through");
        assert!(stream.seek(SeekFrom::Start(0)).is_err());
    }
}
