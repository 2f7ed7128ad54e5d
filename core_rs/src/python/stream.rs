//! Bindings for streaming: `StreamReader`, the pull decoder behind
//! `audiodecode.stream`, and `UrlSource`, an object read forward through
//! the native read engine.

use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use numpy::{PyArray1, PyArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::buffer::shared_bytes;
use super::storage::{kind_name, policy, PolicyArg};
use crate::load::guard_panics;
use crate::source::AudioSource;
use crate::storage::blocks::Progress;
use crate::storage::{redact, scrub, BlockReader, StoreOptions};
use crate::stream::{DecodeAhead, StreamDecoder, StreamOptions, StreamSource};

/// The most bytes one call of a file-like object's `read` is asked for:
/// the input is pulled in bounded blocks, never whole.
const READ_BLOCK: usize = 64 * 1024;

/// A Python file-like object read forward through its `read1` method
/// where it has one, else `read`, the GIL taken for each call only.
/// `read1` (buffered files: a pipe's `Popen.stdout`, a socket's
/// `makefile("rb")`) returns what has arrived; a buffered `read(n)` would
/// wait for all `n` bytes, seconds of a live stream.
///
/// A thread decoding ahead must not wait for the GIL once its stream is
/// closed or the interpreter is shutting down (CPython ends such a thread
/// from inside its wait, which a Rust thread does not survive): `closed`
/// and `Python::try_attach` stop it with an error instead.
struct PyReader {
    file: Py<PyAny>,
    method: &'static str,
    closed: Arc<AtomicBool>,
}

impl Read for PyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = buf.len().min(READ_BLOCK);
        let stopped = || std::io::Error::other("the stream was closed");
        if self.closed.load(Ordering::Relaxed) {
            return Err(stopped());
        }
        Python::try_attach(|py| {
            if self.closed.load(Ordering::Relaxed) {
                return Err(stopped());
            }
            let data = self.file.bind(py).call_method1(self.method, (want,)).map_err(|err| {
                // The exception, named, becomes the I/O error's message.
                std::io::Error::other(format!(
                    "{}: {}",
                    err.get_type(py).name().map_or("Exception".into(), |n| n.to_string()),
                    err.value(py)
                ))
            })?;
            if data.is_none() {
                // A non-blocking stream with nothing to give yet.
                return Err(std::io::Error::other("read() returned None (a non-blocking stream); use a blocking one"));
            }
            let bytes =
                data.cast::<PyBytes>().map(|b| b.as_bytes().to_vec()).or_else(|_| data.extract::<Vec<u8>>()).map_err(
                    |_| {
                        std::io::Error::other(format!(
                            "read() returned {}, not bytes",
                            data.get_type().name().map_or("?".into(), |n| n.to_string())
                        ))
                    },
                )?;
            let n = bytes.len().min(want);
            buf[..n].copy_from_slice(&bytes[..n]);
            Ok(n)
        })
        .unwrap_or_else(|| Err(std::io::Error::other("the interpreter is shutting down")))
    }
}

/// An object of the native read engine (`s3://`, `gs://`, `az://`,
/// `http(s)://`), read forward in ranged blocks with the next ones in
/// flight; given to `StreamReader` as its source (once). Its counters and
/// the error that ended its reads stay readable here.
#[pyclass(module = "audiodecode._core")]
struct UrlSource {
    reader: Mutex<Option<BlockReader>>,
    progress: Arc<Progress>,
    options: StoreOptions,
    name: String,
}

#[pymethods]
impl UrlSource {
    /// `size` and `etag` as `storage_head` gave them: every block is pinned
    /// to that version of the object.
    #[new]
    #[pyo3(signature = (url, size, etag, options, policy_arg, block_bytes, blocks_ahead))]
    fn new(
        url: String,
        size: u64,
        etag: Option<String>,
        options: StoreOptions,
        policy_arg: PolicyArg,
        block_bytes: u64,
        blocks_ahead: usize,
    ) -> PyResult<Self> {
        let policy = policy(policy_arg)?;
        let reader = BlockReader::open(&url, size, etag, &options, policy, block_bytes, blocks_ahead)
            .map_err(|err| PyValueError::new_err(scrub(err.message, &options)))?;
        let progress = reader.progress();
        Ok(UrlSource { reader: Mutex::new(Some(reader)), progress, options, name: redact(&url) })
    }

    /// `(kind, message)` of the error that ended the reads (kinds as
    /// `storage_read_batch` gives them), or None.
    #[getter]
    fn error(&self) -> Option<(String, String)> {
        self.progress.error().map(|err| (kind_name(err.kind).to_string(), scrub(err.message, &self.options)))
    }

    /// Requests that succeeded, bytes received and retries so far.
    #[getter]
    fn stats(&self) -> (u64, u64, u64) {
        let p = &self.progress;
        (p.requests.load(Ordering::Relaxed), p.bytes.load(Ordering::Relaxed), p.retries.load(Ordering::Relaxed))
    }

    #[getter]
    fn name(&self) -> String {
        self.name.clone()
    }
}

/// The decoder, in the caller's thread or running ahead on its own.
enum State {
    // Boxed: the decoder is large beside the other states.
    Inline(Box<StreamDecoder>),
    Ahead(DecodeAhead),
    /// With the damaged packets counted before.
    Closed(u64),
}

/// A stream being decoded: `read(min_frames)` returns the next block of
/// output frames, `(channels, n)` float32, or `None` at the end.
#[pyclass(module = "audiodecode._core")]
struct StreamReader {
    state: Mutex<State>,
    /// Set on close and drop: a Python source is not read any more.
    closed: Arc<AtomicBool>,
    name: String,
    sample_rate: u32,
    native_rate: u32,
}

impl Drop for StreamReader {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Relaxed);
    }
}

impl StreamReader {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[pymethods]
impl StreamReader {
    /// `source`: a path, bytes, a `UrlSource`, or an object with
    /// `read(n) -> bytes` (read forward only); `name` names the latter in
    /// messages.
    #[new]
    #[pyo3(signature = (source, sr=None, mono=true, offset=0.0, duration=None, strict=false, name=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        source: Bound<'_, PyAny>,
        sr: Option<u32>,
        mono: bool,
        offset: f64,
        duration: Option<f64>,
        strict: bool,
        name: Option<String>,
    ) -> PyResult<Self> {
        let closed = Arc::new(AtomicBool::new(false));
        let source = if let Some(data) = shared_bytes(&source) {
            StreamSource::Audio(AudioSource::bytes(data, name.unwrap_or_else(|| "<bytes>".into())))
        } else if let Ok(url) = source.cast::<UrlSource>() {
            let url = url.borrow();
            let reader = url.reader.lock().unwrap_or_else(|e| e.into_inner()).take();
            let reader = reader
                .ok_or_else(|| PyValueError::new_err(format!("{}: this UrlSource was read already", url.name)))?;
            StreamSource::Forward { reader: Box::new(reader), name: url.name.clone() }
        } else if source.hasattr("read")? {
            let name = name.unwrap_or_else(|| "<stream>".into());
            let method = if source.hasattr("read1")? { "read1" } else { "read" };
            let reader = PyReader { file: source.unbind(), method, closed: closed.clone() };
            StreamSource::Forward { reader: Box::new(reader), name }
        } else {
            StreamSource::Audio(AudioSource::path(source.extract::<PathBuf>()?))
        };
        let display = match &source {
            StreamSource::Audio(audio) => audio.name(),
            StreamSource::Forward { name, .. } => name.clone(),
        };
        let options = StreamOptions { sample_rate: sr, mono, offset_s: offset, duration_s: duration, strict };
        let guard = AudioSource::bytes(Vec::new(), display.clone());
        let decoder = py.detach(|| guard_panics(&guard, || StreamDecoder::open(source, options)))?;
        Ok(StreamReader {
            sample_rate: decoder.sample_rate(),
            native_rate: decoder.native_rate(),
            state: Mutex::new(State::Inline(Box::new(decoder))),
            closed,
            name: display,
        })
    }

    /// From now on decode (and resample) ahead on threads of their own, in
    /// blocks of about `block_frames` output frames, `depth` of them ready
    /// for the caller. Before the first `read`.
    #[pyo3(signature = (block_frames, depth=2))]
    fn decode_ahead(&self, block_frames: usize, depth: usize) -> PyResult<()> {
        let mut state = self.state();
        if block_frames == 0 {
            return Err(PyValueError::new_err(format!("block_frames must be >= 1, got {block_frames}")));
        }
        match std::mem::replace(&mut *state, State::Closed(0)) {
            State::Inline(decoder) => {
                *state = State::Ahead(DecodeAhead::start(*decoder, block_frames, depth)?);
                Ok(())
            }
            other => {
                *state = other;
                Err(PyValueError::new_err(format!(
                    "{}: decode_ahead() on a stream already running ahead or closed",
                    self.name
                )))
            }
        }
    }

    /// The next block of at least `min_frames` frames (fewer only at the
    /// end) as `(channels, n)` float32, or `None` when the stream is over.
    /// The GIL is released while decoding or waiting.
    fn read<'py>(&self, py: Python<'py>, min_frames: usize) -> PyResult<Option<Bound<'py, PyAny>>> {
        let guard = AudioSource::bytes(Vec::new(), self.name.clone());
        let block = py.detach(|| match &mut *self.state() {
            State::Inline(decoder) => guard_panics(&guard, || decoder.next_block(min_frames)),
            State::Ahead(ahead) => ahead.next_block(min_frames),
            State::Closed(_) => Ok(None),
        })?;
        let Some(planes) = block else { return Ok(None) };
        let (count, frames) = (planes.len(), planes.first().map_or(0, Vec::len));
        Ok(Some(PyArray1::from_vec(py, planes.concat()).reshape([count, frames])?.into_any()))
    }

    /// Stops decoding: the threads running ahead end (waited for a few
    /// seconds at most) and the source is let go; `read` returns None.
    fn close(&self, py: Python<'_>) {
        self.closed.store(true, Ordering::Relaxed);
        let mut slot = self.state();
        let damaged = match &*slot {
            State::Inline(decoder) => decoder.damaged_packets(),
            State::Ahead(ahead) => ahead.damaged_packets(),
            State::Closed(damaged) => *damaged,
        };
        let state = std::mem::replace(&mut *slot, State::Closed(damaged));
        drop(slot);
        py.detach(move || {
            if let State::Ahead(mut ahead) = state {
                ahead.close();
            }
        });
    }

    /// Warnings (each naming the stream) up to the last block read.
    fn take_warnings(&self) -> Vec<String> {
        match &mut *self.state() {
            State::Inline(decoder) => decoder.take_warnings(),
            State::Ahead(ahead) => ahead.take_warnings(),
            State::Closed(_) => Vec::new(),
        }
    }

    /// The output rate.
    #[getter]
    fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// The stream's own rate.
    #[getter]
    fn native_rate(&self) -> u32 {
        self.native_rate
    }

    /// Damaged packets skipped up to the last block read.
    #[getter]
    fn damaged_packets(&self) -> u64 {
        match &*self.state() {
            State::Inline(decoder) => decoder.damaged_packets(),
            State::Ahead(ahead) => ahead.damaged_packets(),
            State::Closed(damaged) => *damaged,
        }
    }

    /// How the stream is decoded: "inline" (in the caller's thread),
    /// "ahead" (on threads of its own), "ahead in pieces" (two pieces at
    /// once on the core's pool), or "closed".
    #[getter]
    fn mode(&self) -> &'static str {
        match &*self.state() {
            State::Inline(_) => "inline",
            State::Ahead(ahead) if ahead.in_pieces() => "ahead in pieces",
            State::Ahead(_) => "ahead",
            State::Closed(_) => "closed",
        }
    }

    #[getter]
    fn name(&self) -> String {
        self.name.clone()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<UrlSource>()?;
    m.add_class::<StreamReader>()
}
