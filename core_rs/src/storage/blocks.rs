//! An object read front to back in large ranged blocks, the next ones
//! already on their way: the forward byte stream that `audiodecode.stream`
//! decodes a URL from.
//!
//! Each block is one request of the engine's [`super::fetch`] (retried,
//! length-checked, pinned to the object's ETag), spawned on the engine's
//! runtime `ahead` blocks before the decoder needs it, so the network's
//! latency hides behind decoding. Memory is the block being read and the
//! ones in flight, whatever the object's size.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::{Buf, Bytes};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use super::fetch::fetch_range;
use super::stores::{locate, Location, StoreOptions};
use super::{runtime, ErrorKind, RangeRequest, ReadError, ReadPolicy};

/// What a [`BlockReader`] did, readable from another thread while the
/// reader itself is owned by the decoder: requests that succeeded, bytes
/// received, retries, and the error that ended the reads.
#[derive(Debug, Default)]
pub struct Progress {
    pub requests: AtomicU64,
    pub bytes: AtomicU64,
    pub retries: AtomicU64,
    error: Mutex<Option<ReadError>>,
}

impl Progress {
    /// The error that ended the reads, if one did.
    pub fn error(&self) -> Option<ReadError> {
        self.error.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

type Pending = JoinHandle<Result<(Bytes, u64), ReadError>>;

pub struct BlockReader {
    location: Arc<Location>,
    /// The URL and ETag every block is asked with.
    request: RangeRequest,
    policy: ReadPolicy,
    runtime: Arc<Runtime>,
    size: u64,
    block: u64,
    ahead: usize,
    /// Where the next block to request starts.
    next: u64,
    pending: VecDeque<Pending>,
    current: Bytes,
    progress: Arc<Progress>,
    /// Set at the first failed block: no later byte is served after a gap.
    failed: Option<ReadError>,
}

impl BlockReader {
    /// A reader of the `size` bytes of `url` (whose ETag, when given, every
    /// block must still have), in blocks of `block` bytes with `ahead`
    /// requests in flight. The first requests go out now.
    pub fn open(
        url: &str,
        size: u64,
        etag: Option<String>,
        options: &StoreOptions,
        policy: ReadPolicy,
        block: u64,
        ahead: usize,
    ) -> Result<Self, ReadError> {
        let request = RangeRequest { url: url.to_string(), start: 0, end: Some(size), etag };
        let invalid = |why: String| ReadError { kind: ErrorKind::Invalid, message: format!("{url}: {why}") };
        if block == 0 {
            return Err(invalid("the block size must be > 0 bytes".into()));
        }
        let location = Arc::new(locate(url, options).map_err(invalid)?);
        let runtime = runtime::runtime()
            .map_err(|err| ReadError { kind: ErrorKind::Failed, message: format!("{url}: the I/O runtime ({err})") })?;
        let mut reader = BlockReader {
            location,
            request,
            policy,
            runtime,
            size,
            block,
            ahead: ahead.max(1),
            next: 0,
            pending: VecDeque::new(),
            current: Bytes::new(),
            progress: Arc::default(),
            failed: None,
        };
        reader.request_ahead();
        Ok(reader)
    }

    /// The counters and the error, shared.
    pub fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }

    /// Keeps `ahead` blocks in flight (fewer near the end).
    fn request_ahead(&mut self) {
        while self.pending.len() < self.ahead && self.next < self.size {
            let end = (self.next + self.block).min(self.size);
            let request = RangeRequest { start: self.next, end: Some(end), ..self.request.clone() };
            let task = fetch_range(self.location.clone(), request, self.policy.clone());
            self.pending.push_back(self.runtime.spawn(task));
            self.next = end;
        }
    }

    fn fail(&mut self, err: ReadError) -> std::io::Error {
        *self.progress.error.lock().unwrap_or_else(PoisonError::into_inner) = Some(err.clone());
        self.failed = Some(err.clone());
        io_error(&err)
    }
}

/// The read error as an I/O error of the matching kind (never
/// `UnexpectedEof`, which the decoder takes for a cut stream).
fn io_error(err: &ReadError) -> std::io::Error {
    let kind = match err.kind {
        ErrorKind::NotFound => std::io::ErrorKind::NotFound,
        ErrorKind::PermissionDenied => std::io::ErrorKind::PermissionDenied,
        _ => std::io::ErrorKind::Other,
    };
    std::io::Error::new(kind, err.message.clone())
}

impl Read for BlockReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(err) = &self.failed {
            return Err(io_error(err));
        }
        while self.current.is_empty() {
            let Some(pending) = self.pending.pop_front() else { return Ok(0) };
            self.request_ahead();
            let got = self.runtime.block_on(pending).unwrap_or_else(|err| {
                let message = format!("{}: the read stopped ({err})", self.request.url);
                Err(ReadError { kind: ErrorKind::Failed, message })
            });
            match got {
                Ok((body, retries)) => {
                    self.progress.requests.fetch_add(1, Ordering::Relaxed);
                    self.progress.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                    self.progress.retries.fetch_add(retries, Ordering::Relaxed);
                    self.current = body;
                }
                Err(err) => return Err(self.fail(err)),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

impl Drop for BlockReader {
    fn drop(&mut self) {
        // Requests nobody will read: cancelled, their connections freed.
        for pending in &self.pending {
            pending.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn policy() -> ReadPolicy {
        ReadPolicy {
            attempts: 1,
            backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
            timeout: Duration::from_secs(5),
            max_in_flight: 4,
            coalesce_gap: 0,
            max_request: 1 << 20,
        }
    }

    #[test]
    fn reads_a_local_object_whole_in_blocks_and_counts_them() {
        let dir = std::env::temp_dir().join(format!("audiodecode-blocks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("blob");
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let url = format!("file://{}", path.display());
        let mut reader = BlockReader::open(&url, data.len() as u64, None, &Vec::new(), policy(), 3000, 2).unwrap();
        let progress = reader.progress();
        let mut got = Vec::new();
        reader.read_to_end(&mut got).unwrap();
        assert_eq!(got, data);
        assert_eq!(progress.requests.load(Ordering::Relaxed), 4);
        assert!(progress.error().is_none());
        // A size larger than the object: the last block is short, a named error.
        let mut reader = BlockReader::open(&url, 12_000, None, &Vec::new(), policy(), 3000, 2).unwrap();
        let err = reader.read_to_end(&mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("bytes 9000-12000"), "{err}");
        assert!(reader.read(&mut [0u8; 4]).is_err(), "no byte is served after a failed block");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
