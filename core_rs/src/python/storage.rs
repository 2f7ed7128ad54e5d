//! Bindings of the native read engine (`crate::storage`): a batch of byte
//! ranges read with the GIL released, an object's size and ETag, a whole
//! file's upload, shutdown.

use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use super::buffer::FetchedBytes;
use crate::storage::{self, ErrorKind, RangeRequest, ReadError, ReadPolicy, StoreOptions};

/// `(attempts, backoff_s, max_backoff_s, timeout_s, max_in_flight,
/// coalesce_gap, max_request)`, as `audiodecode.data.sources.storage` passes it.
pub(super) type PolicyArg = (u32, f64, f64, f64, usize, u64, u64);

fn seconds(name: &str, value: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| PyValueError::new_err(format!("{name} must be >= 0 seconds, got {value}")))
}

pub(super) fn policy(arg: PolicyArg) -> PyResult<ReadPolicy> {
    let (attempts, backoff_s, max_backoff_s, timeout_s, max_in_flight, coalesce_gap, max_request) = arg;
    Ok(ReadPolicy {
        attempts,
        backoff: seconds("backoff_s", backoff_s)?,
        max_backoff: seconds("max_backoff_s", max_backoff_s)?,
        timeout: seconds("timeout_s", timeout_s)?,
        max_in_flight,
        coalesce_gap,
        max_request,
    })
}

pub(super) fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::NotFound => "not_found",
        ErrorKind::PermissionDenied => "permission",
        ErrorKind::Changed => "changed",
        ErrorKind::Invalid => "invalid",
        ErrorKind::Failed => "failed",
    }
}

/// `(kind, message)` of a failed read, its message scrubbed of option values.
fn error_tuple<'py>(py: Python<'py>, err: ReadError, options: &StoreOptions) -> PyResult<Bound<'py, PyAny>> {
    Ok(PyTuple::new(py, [kind_name(err.kind).to_string(), storage::scrub(err.message, options)])?.into_any())
}

/// Reads `ranges` (`(url, start, end or None, etag or None)`) at once.
/// Returns `(results, (requests, bytes, retries, latencies_s))`; a result
/// is the bytes (`FetchedBytes`) or `(kind, message)`.
#[pyfunction]
#[allow(clippy::type_complexity)]
fn storage_read_batch<'py>(
    py: Python<'py>,
    ranges: Vec<(String, u64, Option<u64>, Option<String>)>,
    options: StoreOptions,
    policy_arg: PolicyArg,
) -> PyResult<(Vec<Bound<'py, PyAny>>, (u64, u64, u64, Vec<f64>))> {
    let policy = policy(policy_arg)?;
    let requests: Vec<RangeRequest> =
        ranges.into_iter().map(|(url, start, end, etag)| RangeRequest { url, start, end, etag }).collect();
    let (results, report) = py.detach(|| storage::read_batch(&requests, &options, &policy));
    let results = results
        .into_iter()
        .map(|result| match result {
            // Handed over, not copied: the decoder reads the engine's buffer.
            Ok(body) => Ok(Bound::new(py, FetchedBytes(body))?.into_any()),
            Err(err) => error_tuple(py, err, &options),
        })
        .collect::<PyResult<_>>()?;
    Ok((results, (report.requests, report.bytes, report.retries, report.latencies)))
}

/// What `storage_head` answers: `(size, etag, error)`.
type HeadAnswer<'py> = (Option<u64>, Option<String>, Option<Bound<'py, PyAny>>);

/// `(size, etag or None, None)` of the object at `url`, or
/// `(None, None, (kind, message))`.
#[pyfunction]
fn storage_head<'py>(
    py: Python<'py>,
    url: String,
    options: StoreOptions,
    policy_arg: PolicyArg,
) -> PyResult<HeadAnswer<'py>> {
    let policy = policy(policy_arg)?;
    match py.detach(|| storage::head(&url, &options, &policy)) {
        Ok((size, etag)) => Ok((Some(size), etag, None)),
        Err(err) => Ok((None, None, Some(error_tuple(py, err, &options)?))),
    }
}

/// Uploads local file `path` to `url` whole: `(size, None)`, or
/// `(None, (kind, message))`.
#[pyfunction]
fn storage_put_file<'py>(
    py: Python<'py>,
    url: String,
    path: std::path::PathBuf,
    options: StoreOptions,
    policy_arg: PolicyArg,
) -> PyResult<(Option<u64>, Option<Bound<'py, PyAny>>)> {
    let policy = policy(policy_arg)?;
    match py.detach(|| storage::put_file(&url, &path, &options, &policy)) {
        Ok(size) => Ok((Some(size), None)),
        Err(err) => Ok((None, Some(error_tuple(py, err, &options)?))),
    }
}

/// Stops the engine's threads and closes its connections (they start
/// again on the next read).
#[pyfunction]
fn storage_shutdown(py: Python<'_>) {
    py.detach(storage::shutdown);
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("STORAGE_SCHEMES", storage::SCHEMES.to_vec())?;
    m.add_function(wrap_pyfunction!(storage_read_batch, m)?)?;
    m.add_function(wrap_pyfunction!(storage_head, m)?)?;
    m.add_function(wrap_pyfunction!(storage_put_file, m)?)?;
    m.add_function(wrap_pyfunction!(storage_shutdown, m)?)?;
    Ok(())
}
