//! The native read engine: ranged reads of objects in S3, GCS, Azure Blob
//! Storage, over HTTP(S) and from local files, a whole batch at once; and
//! whole-file uploads of finished files ([`put_file`]).
//!
//! A batch of `(url, start, end)` ranges is grouped by object, ranges of
//! one object closer than a gap are fetched by one request
//! ([`coalesce`]), and every request goes out at once (at most
//! `max_in_flight` open) on the core's tokio runtime ([`runtime`]). Each
//! request is retried with exponential back-off and jitter on transient
//! failures (5xx, 408/425/429, resets, timeouts, bodies cut short) until it
//! succeeds, fails for good (404, 403, a changed object, a server that
//! ignores `Range`), runs out of tries or out of its total time. A body's
//! length is checked against the range asked for, so a short or whole-object
//! answer never becomes a record's bytes.

pub mod blocks;
mod coalesce;
mod fetch;
pub mod runtime;
pub mod stores;
mod upload;

use std::time::Duration;

pub use blocks::BlockReader;
pub use bytes::Bytes;
pub use fetch::{head, read_batch};
pub use stores::{redact, scrub, StoreOptions, SCHEMES};
pub use upload::put_file;

/// Bytes `[start, end)` of `url` (`end: None` reads to the end). `etag`,
/// when given, is the object's ETag when it was indexed: a different one
/// now fails the read with [`ErrorKind::Changed`].
#[derive(Clone, Debug)]
pub struct RangeRequest {
    pub url: String,
    pub start: u64,
    pub end: Option<u64>,
    pub etag: Option<String>,
}

/// How a batch is read.
#[derive(Clone, Debug)]
pub struct ReadPolicy {
    /// Tries per request, the first included.
    pub attempts: u32,
    /// First and largest wait between tries (times a factor in [0.5, 1)).
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// Total time one request may take over all its tries.
    pub timeout: Duration,
    /// Requests open at once.
    pub max_in_flight: usize,
    /// Ranges of one object whose gap is at most this many bytes are read
    /// by one request (0: only touching or overlapping ranges).
    pub coalesce_gap: u64,
    /// A coalesced request stops growing at this many bytes.
    pub max_request: u64,
}

/// Why a range could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The object does not exist (404).
    NotFound,
    /// Access refused (401, 403).
    PermissionDenied,
    /// The object's ETag is not the one it had when it was indexed.
    Changed,
    /// The request itself is wrong (a reversed range, an unknown scheme
    /// or option).
    Invalid,
    /// Anything else, after every try.
    Failed,
}

/// A failed range: the kind and a message naming the URL (query string
/// redacted), the byte range and the last reason.
#[derive(Clone, Debug)]
pub struct ReadError {
    pub kind: ErrorKind,
    pub message: String,
}

/// What a batch cost: requests that succeeded (coalesced ranges count
/// once), bytes received, retries, and the latency of each successful
/// request in seconds.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub requests: u64,
    pub bytes: u64,
    pub retries: u64,
    pub latencies: Vec<f64>,
}

/// Drops every client and the runtime: no engine thread or socket
/// survives it; the next read starts them again.
pub fn shutdown() {
    stores::clear();
    runtime::shutdown();
}
