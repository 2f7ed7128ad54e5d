//! Bindings for streaming: `StreamReader`, the pull decoder behind
//! `audiodecode.stream`.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Mutex;

use numpy::{PyArray1, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::load::guard_panics;
use crate::source::AudioSource;
use crate::stream::{StreamDecoder, StreamOptions, StreamSource};

/// The most bytes one call of a file-like object's `read` is asked for:
/// the input is pulled in bounded blocks, never whole.
const READ_BLOCK: usize = 64 * 1024;

/// A Python file-like object read forward through its `read` method, the
/// GIL taken for each call only.
struct PyReader {
    file: Py<PyAny>,
}

impl Read for PyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = buf.len().min(READ_BLOCK);
        Python::attach(|py| {
            let data = self.file.bind(py).call_method1("read", (want,)).map_err(|err| {
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
    }
}

/// A stream being decoded: `read(min_frames)` returns the next block of
/// output frames, `(channels, n)` float32, or `None` at the end.
#[pyclass(module = "audiodecode._core")]
struct StreamReader {
    inner: Mutex<StreamDecoder>,
    name: String,
}

#[pymethods]
impl StreamReader {
    /// `source`: a path, bytes, or an object with `read(n) -> bytes` (read
    /// forward only); `name` names the latter in messages.
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
        let source = if let Ok(bytes) = source.cast::<PyBytes>() {
            StreamSource::Audio(AudioSource::bytes(bytes.as_bytes(), name.unwrap_or_else(|| "<bytes>".into())))
        } else if source.hasattr("read")? {
            let name = name.unwrap_or_else(|| "<stream>".into());
            StreamSource::Forward { reader: Box::new(PyReader { file: source.unbind() }), name }
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
        Ok(StreamReader { inner: Mutex::new(decoder), name: display })
    }

    /// The next block of at least `min_frames` frames (fewer only at the
    /// end) as `(channels, n)` float32, or `None` when the stream is over.
    /// The GIL is released while decoding.
    fn read<'py>(&self, py: Python<'py>, min_frames: usize) -> PyResult<Option<Bound<'py, PyAny>>> {
        let guard = AudioSource::bytes(Vec::new(), self.name.clone());
        let block = py.detach(|| {
            let mut decoder = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            guard_panics(&guard, || decoder.next_block(min_frames))
        })?;
        let Some(planes) = block else { return Ok(None) };
        let (count, frames) = (planes.len(), planes.first().map_or(0, Vec::len));
        Ok(Some(PyArray1::from_vec(py, planes.concat()).reshape([count, frames])?.into_any()))
    }

    /// Warnings (each naming the stream) since the last call.
    fn take_warnings(&self) -> Vec<String> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).take_warnings()
    }

    /// The output rate.
    #[getter]
    fn sample_rate(&self) -> u32 {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).sample_rate()
    }

    /// The stream's own rate.
    #[getter]
    fn native_rate(&self) -> u32 {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).native_rate()
    }

    /// Damaged packets skipped so far.
    #[getter]
    fn damaged_packets(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).damaged_packets()
    }

    #[getter]
    fn name(&self) -> String {
        self.name.clone()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<StreamReader>()
}
