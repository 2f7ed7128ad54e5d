//! Sending a batch's requests and retrying them: the engine's contract on
//! errors, time limits and lengths lives here.

use std::collections::HashMap;
use std::future::Future;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt};

use super::coalesce::{plan, Planned, Positions};
use super::stores::{locate, redact, Location, StoreOptions};
use super::{runtime, ErrorKind, RangeRequest, ReadError, ReadPolicy, Report};

/// HTTP client errors worth retrying (timeout, too early, too many requests).
const RETRIED_4XX: [u16; 3] = [408, 425, 429];

/// Why one try failed: worth another try, or final.
pub(super) enum Failure {
    Transient(String),
    Permanent(ErrorKind, String),
}

/// The outcome of one request over all its tries.
pub(super) struct Outcome<T> {
    pub(super) result: Result<T, (ErrorKind, String)>,
    tries: u64,
    latency: Option<f64>,
}

/// Reads every range of `requests`, all at once; results in input order.
/// Never panics on bad input: a bad URL or range is that slot's error.
pub fn read_batch(
    requests: &[RangeRequest],
    options: &StoreOptions,
    policy: &ReadPolicy,
) -> (Vec<Result<Bytes, ReadError>>, Report) {
    let mut results: Vec<Option<Result<Bytes, ReadError>>> = vec![None; requests.len()];
    // Group by object (and the ETag it must still have).
    let mut groups: HashMap<(&str, Option<&str>), Positions> = HashMap::new();
    for (position, request) in requests.iter().enumerate() {
        match request.end {
            Some(end) if end < request.start => {
                results[position] = Some(Err(failed(request, ErrorKind::Invalid, "not a valid range".into())));
            }
            end => groups
                .entry((request.url.as_str(), request.etag.as_deref()))
                .or_default()
                .push((position, end.map(|end| request.start..end))),
        }
    }
    let mut jobs = Vec::new();
    for ((url, etag), ranges) in groups {
        let location = match locate(url, options) {
            Ok(location) => location,
            Err(why) => {
                for (position, _) in ranges {
                    results[position] = Some(Err(failed(&requests[position], ErrorKind::Invalid, why.clone())));
                }
                continue;
            }
        };
        let location = Arc::new(location);
        let etag: Option<Arc<str>> = etag.map(Arc::from);
        for planned in plan(ranges, policy.coalesce_gap, policy.max_request) {
            jobs.push((location.clone(), etag.clone(), planned));
        }
    }
    let mut report = Report::default();
    let fetched = match runtime::runtime() {
        Ok(rt) => {
            // The whole batch is one task on the runtime's workers, not a
            // future this thread polls: a request's answer then wakes the
            // worker that already runs its connection instead of this
            // thread, which sleeps once for the batch (1.5 context switches
            // per request before, 0.8 after, at 20 ms). A panic in it
            // becomes the batch's error, not the caller's.
            let in_flight = policy.max_in_flight.max(1);
            let policy = policy.clone();
            let batch = async move {
                stream::iter(jobs)
                    .map(|(location, etag, planned)| {
                        let policy = &policy;
                        async move {
                            let outcome = fetch(&location, planned.range.clone(), etag.as_deref(), policy).await;
                            (planned, outcome)
                        }
                    })
                    .buffer_unordered(in_flight)
                    .collect::<Vec<(Planned, Outcome<Bytes>)>>()
                    .await
            };
            let task = rt.spawn(batch);
            rt.block_on(task).map_err(|err| format!("the batch's task stopped ({err})"))
        }
        Err(err) => Err(format!("the I/O runtime could not start ({err})")),
    };
    let fetched = match fetched {
        Ok(fetched) => fetched,
        Err(why) => {
            for (position, slot) in results.iter_mut().enumerate() {
                if slot.is_none() {
                    *slot = Some(Err(failed(&requests[position], ErrorKind::Failed, why.clone())));
                }
            }
            Vec::new()
        }
    };
    for (planned, outcome) in fetched {
        report.retries += outcome.tries.saturating_sub(1);
        report.latencies.extend(outcome.latency);
        match outcome.result {
            Ok(body) => {
                report.requests += 1;
                report.bytes += body.len() as u64;
                let base = planned.range.as_ref().map_or(0, |r| r.start);
                for (position, range) in planned.members {
                    let part = match range {
                        Some(r) => body.slice((r.start - base) as usize..(r.end - base) as usize),
                        None => body.clone(),
                    };
                    results[position] = Some(Ok(part));
                }
            }
            Err((kind, why)) => {
                for (position, _) in planned.members {
                    results[position] = Some(Err(failed(&requests[position], kind, why.clone())));
                }
            }
        }
    }
    let results = results
        .into_iter()
        .map(|slot| slot.unwrap_or_else(|| Err(ReadError { kind: ErrorKind::Failed, message: "not read".into() })))
        .collect();
    (results, report)
}

/// The size and ETag of the object at `url` (retried like a read).
pub fn head(url: &str, options: &StoreOptions, policy: &ReadPolicy) -> Result<(u64, Option<String>), ReadError> {
    let request = RangeRequest { url: url.to_string(), start: 0, end: None, etag: None };
    let location = locate(url, options).map_err(|why| failed(&request, ErrorKind::Invalid, why))?;
    let rt = runtime::runtime().map_err(|err| failed(&request, ErrorKind::Failed, err.to_string()))?;
    let outcome = rt.block_on(retrying(policy, || async {
        match &location {
            Location::Local(path) => {
                let meta = std::fs::metadata(path).map_err(local_failure)?;
                Ok((meta.len(), None))
            }
            Location::Remote { store, path } => {
                let meta = store.head(path).await.map_err(classify)?;
                Ok((meta.size, meta.e_tag.map(|tag| unquote(&tag).to_string())))
            }
        }
    }));
    outcome.result.map_err(|(kind, why)| failed(&request, kind, why))
}

pub(super) fn failed(request: &RangeRequest, kind: ErrorKind, why: String) -> ReadError {
    let end = request.end.map_or_else(|| "end".to_string(), |end| end.to_string());
    ReadError { kind, message: format!("{} bytes {}-{end}: {why}", redact(&request.url), request.start) }
}

/// Bytes `range` of the object at `location`, retried as a batch's
/// requests are; the error names the URL and the range. For readers that
/// spawn their requests on the runtime themselves ([`super::blocks`]).
pub(super) async fn fetch_range(
    location: Arc<Location>,
    request: RangeRequest,
    policy: ReadPolicy,
) -> Result<(Bytes, u64), ReadError> {
    let range = request.start..request.end.unwrap_or(u64::MAX);
    let outcome = fetch(&location, Some(range), request.etag.as_deref(), &policy).await;
    let retries = outcome.tries.saturating_sub(1);
    outcome.result.map(|body| (body, retries)).map_err(|(kind, why)| failed(&request, kind, why))
}

/// One planned request, retried.
async fn fetch(
    location: &Location,
    range: Option<Range<u64>>,
    etag: Option<&str>,
    policy: &ReadPolicy,
) -> Outcome<Bytes> {
    retrying(policy, || async {
        match location {
            Location::Local(path) => read_local(path.clone(), range.clone()).await,
            Location::Remote { store, path } => read_remote(store.as_ref(), path, range.clone(), etag).await,
        }
    })
    .await
}

/// `attempt()` until it succeeds, fails for good, runs out of tries or out
/// of `policy.timeout` (each try is cut off at the time left).
pub(super) async fn retrying<T, F, Fut>(policy: &ReadPolicy, mut attempt: F) -> Outcome<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let deadline = Instant::now() + policy.timeout;
    let mut jitter = Jitter::new();
    let mut tries = 0u64;
    loop {
        let started = Instant::now();
        tries += 1;
        let left = deadline.saturating_duration_since(started);
        let why = match tokio::time::timeout(left, attempt()).await {
            Ok(Ok(value)) => {
                let latency = Some(started.elapsed().as_secs_f64());
                return Outcome { result: Ok(value), tries, latency };
            }
            Ok(Err(Failure::Permanent(kind, why))) => {
                return Outcome { result: Err((kind, why)), tries, latency: None }
            }
            Ok(Err(Failure::Transient(why))) => why,
            Err(_) => format!("no answer within the {:.3} s left", left.as_secs_f64()),
        };
        let exponent = (tries - 1).min(30) as i32;
        let wait = policy.backoff.mul_f64(2f64.powi(exponent)).min(policy.max_backoff).mul_f64(jitter.factor());
        if tries >= u64::from(policy.attempts.max(1)) || Instant::now() + wait >= deadline {
            let limit = policy.timeout.as_secs_f64();
            let why = format!("{why} (gave up after {tries} tries, {limit} s limit)");
            return Outcome { result: Err((ErrorKind::Failed, why)), tries, latency: None };
        }
        tokio::time::sleep(wait).await;
    }
}

async fn read_remote(
    store: &dyn ObjectStore,
    path: &object_store::path::Path,
    range: Option<Range<u64>>,
    etag: Option<&str>,
) -> Result<Bytes, Failure> {
    let options = GetOptions { range: range.clone().map(GetRange::Bounded), ..GetOptions::default() };
    let got = store.get_opts(path, options).await.map_err(classify)?;
    if let (Some(want), Some(have)) = (etag, got.meta.e_tag.as_deref()) {
        if unquote(want) != unquote(have) {
            let why =
                format!("the object changed since it was indexed (ETag {} now, {} then)", unquote(have), unquote(want));
            return Err(Failure::Permanent(ErrorKind::Changed, why));
        }
    }
    let size = got.meta.size;
    let served = got.range.clone();
    let body = got.bytes().await.map_err(classify)?;
    let wanted = range.as_ref().map_or(size, |r| r.end - r.start);
    if body.len() as u64 == wanted {
        return Ok(body);
    }
    match range {
        // The server says the object ends before the range does.
        Some(r) if served.end < r.end && size < r.end => Err(Failure::Permanent(
            ErrorKind::Failed,
            format!("got {} bytes, the object is shorter ({size} bytes; truncated?)", body.len()),
        )),
        _ => Err(Failure::Transient(format!("body cut short: got {} of {wanted} bytes", body.len()))),
    }
}

async fn read_local(path: std::path::PathBuf, range: Option<Range<u64>>) -> Result<Bytes, Failure> {
    let read = move || -> Result<Bytes, Failure> {
        let file = std::fs::File::open(&path).map_err(local_failure)?;
        let range = match range {
            Some(r) => r,
            None => 0..file.metadata().map_err(local_failure)?.len(),
        };
        let mut buffer = vec![0u8; (range.end - range.start) as usize];
        let mut filled = 0;
        while filled < buffer.len() {
            match file.read_at(&mut buffer[filled..], range.start + filled as u64) {
                Ok(0) => {
                    let why = format!("got {filled} bytes, the object is shorter (truncated?)");
                    return Err(Failure::Permanent(ErrorKind::Failed, why));
                }
                Ok(n) => filled += n,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(err) => return Err(local_failure(err)),
            }
        }
        Ok(Bytes::from(buffer))
    };
    match tokio::task::spawn_blocking(read).await {
        Ok(result) => result,
        Err(err) => Err(Failure::Permanent(ErrorKind::Failed, format!("the read stopped ({err})"))),
    }
}

pub(super) fn local_failure(err: std::io::Error) -> Failure {
    let kind = match err.kind() {
        std::io::ErrorKind::NotFound => ErrorKind::NotFound,
        std::io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        _ => ErrorKind::Failed,
    };
    Failure::Permanent(kind, err.to_string())
}

/// Sorts an `object_store` error into final and worth another try.
/// `object_store` does not export its status type, so the status of a
/// failed request is read from its message ("... status code: 503 ...").
pub(super) fn classify(err: object_store::Error) -> Failure {
    use object_store::Error as E;
    let why = err.to_string();
    match &err {
        E::NotFound { .. } => return Failure::Permanent(ErrorKind::NotFound, format!("HTTP 404 ({why})")),
        E::PermissionDenied { .. } => {
            return Failure::Permanent(ErrorKind::PermissionDenied, format!("HTTP 403 ({why})"));
        }
        E::Unauthenticated { .. } => {
            return Failure::Permanent(ErrorKind::PermissionDenied, format!("HTTP 401 ({why})"));
        }
        // The HTTP store's word for a 200 answer to a ranged request.
        E::NotSupported { .. } => {
            let why = format!("the server ignores Range and answered with the whole object ({why})");
            return Failure::Permanent(ErrorKind::Failed, why);
        }
        E::Precondition { .. } => {
            return Failure::Permanent(ErrorKind::Changed, format!("the object changed since it was indexed ({why})"));
        }
        _ => {}
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(current) = source {
        if current.downcast_ref::<object_store::client::HttpError>().is_some() {
            // Connection refused or reset, DNS, a timeout, a body cut short.
            return Failure::Transient(why);
        }
        if let Some(status) = status_in(&current.to_string()) {
            return match status {
                500..=599 => Failure::Transient(format!("HTTP {status} ({why})")),
                s if RETRIED_4XX.contains(&s) => Failure::Transient(format!("HTTP {status} ({why})")),
                401 | 403 => Failure::Permanent(ErrorKind::PermissionDenied, format!("HTTP {status} ({why})")),
                404 | 410 => Failure::Permanent(ErrorKind::NotFound, format!("HTTP {status} ({why})")),
                412 => Failure::Permanent(ErrorKind::Changed, format!("HTTP 412 ({why})")),
                _ => Failure::Permanent(ErrorKind::Failed, format!("HTTP {status} ({why})")),
            };
        }
        source = current.source();
    }
    // A 200 answer to a ranged request, a Content-Range that is not the
    // range asked for: the server will not answer differently next time.
    Failure::Permanent(ErrorKind::Failed, why)
}

fn status_in(message: &str) -> Option<u16> {
    let at = message.find("status code: ")? + "status code: ".len();
    message.get(at..at + 3)?.parse().ok()
}

fn unquote(tag: &str) -> &str {
    tag.trim_start_matches("W/").trim_matches('"')
}

/// A factor in [0.5, 1) per retry, so that requests failed together do not
/// come back together (xorshift; no cryptographic use).
struct Jitter(u64);

impl Jitter {
    fn new() -> Self {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64);
        Jitter(nanos | 1)
    }

    fn factor(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        0.5 + (self.0 >> 11) as f64 / (1u64 << 53) as f64 * 0.5
    }
}

#[cfg(test)]
mod tests {
    use super::{status_in, Jitter};

    #[test]
    fn statuses_are_read_from_messages() {
        assert_eq!(status_in("Server returned non-2xx status code: 503 Service Unavailable: x"), Some(503));
        assert_eq!(status_in("connection reset"), None);
    }

    #[test]
    fn jitter_stays_in_its_interval() {
        let mut jitter = Jitter::new();
        assert!((0..1000).map(|_| jitter.factor()).all(|f| (0.5..1.0).contains(&f)));
    }
}
