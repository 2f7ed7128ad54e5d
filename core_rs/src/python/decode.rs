//! Bindings for decoding: `load`, `load_batch`, `info`.

use std::path::PathBuf;

use numpy::{PyArray1, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::decode::DecodeOptions;
use crate::info::{info as core_info, info_batch as core_info_batch, AudioInfo};
use crate::load::{load as core_load, load_batch as core_load_batch, Audio, LoadRequest};
use crate::source::AudioSource;

use super::buffer::shared_bytes;

/// A path (str or os.PathLike) or the encoded bytes themselves (`bytes` or
/// the read engine's `FetchedBytes`, neither copied).
pub struct SourceArg(AudioSource);

impl<'a, 'py> FromPyObject<'a, 'py> for SourceArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if let Some(data) = shared_bytes(&obj) {
            return Ok(SourceArg(AudioSource::bytes(data, "<bytes>")));
        }
        let path: PathBuf = obj.extract()?;
        Ok(SourceArg(AudioSource::path(path)))
    }
}

/// `(array, sample_rate, warning)`; the array is `(n,)` when mono, else
/// `(channels, n)`.
type Loaded<'py> = (Bound<'py, PyAny>, u32, Option<String>);

/// numpy takes the core's buffer over (`from_vec` moves it, and the reshape
/// of a contiguous array is a view): the samples are not copied again.
fn to_python<'py>(py: Python<'py>, audio: Audio, mono: bool) -> PyResult<Loaded<'py>> {
    let (count, frames) = (audio.samples.channels(), audio.samples.frames());
    let flat = PyArray1::from_vec(py, audio.samples.into_vec());
    let array = if mono { flat.into_any() } else { flat.reshape([count, frames])?.into_any() };
    Ok((array, audio.sample_rate, audio.warning))
}

fn request(
    source: AudioSource,
    sr: Option<u32>,
    mono: bool,
    offset: f64,
    duration: Option<f64>,
    strict: bool,
) -> LoadRequest {
    LoadRequest {
        source,
        sample_rate: sr,
        decode: DecodeOptions { offset_s: offset, duration_s: duration, strict, mono },
    }
}

/// Decodes one file; the GIL is released while decoding.
#[pyfunction]
#[pyo3(signature = (source, sr=None, mono=true, offset=0.0, duration=None, strict=false))]
fn load<'py>(
    py: Python<'py>,
    source: SourceArg,
    sr: Option<u32>,
    mono: bool,
    offset: f64,
    duration: Option<f64>,
    strict: bool,
) -> PyResult<Loaded<'py>> {
    let request = request(source.0, sr, mono, offset, duration, strict);
    // On the core's pool: long clips split their resampling across it.
    let audio = py.detach(|| crate::pool::run(None, || core_load(&request)))??;
    to_python(py, audio, mono)
}

/// Decodes many files in parallel (rayon, GIL released). Each entry is the
/// `(array, sample_rate, warning)` triple or the exception for that file.
#[pyfunction]
#[pyo3(signature = (sources, sr=None, mono=true, offsets=None, durations=None, strict=false, num_threads=None))]
#[allow(clippy::too_many_arguments)]
fn load_batch<'py>(
    py: Python<'py>,
    sources: Vec<SourceArg>,
    sr: Option<u32>,
    mono: bool,
    offsets: Option<Vec<f64>>,
    durations: Option<Vec<Option<f64>>>,
    strict: bool,
    num_threads: Option<usize>,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let n = sources.len();
    let offsets = offsets.unwrap_or_else(|| vec![0.0; n]);
    let durations = durations.unwrap_or_else(|| vec![None; n]);
    if offsets.len() != n || durations.len() != n {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "offsets ({}) and durations ({}) must have one entry per source ({n})",
            offsets.len(),
            durations.len()
        )));
    }
    let requests: Vec<LoadRequest> = sources
        .into_iter()
        .zip(offsets.into_iter().zip(durations))
        .map(|(source, (offset, duration))| request(source.0, sr, mono, offset, duration, strict))
        .collect();
    let results = py.detach(|| core_load_batch(&requests, num_threads))?;
    results
        .into_iter()
        .map(|result| match result {
            Ok(audio) => Ok(to_python(py, audio, mono)?.into_pyobject(py)?.into_any()),
            Err(err) => Ok(PyErr::from(err).into_value(py).into_bound(py).into_any()),
        })
        .collect()
}

/// Stream properties read from the headers, without decoding audio.
#[pyfunction]
fn info<'py>(py: Python<'py>, source: SourceArg) -> PyResult<Bound<'py, PyDict>> {
    let info = py.detach(|| core_info(&source.0))?;
    info_dict(py, info)
}

/// Many sources' headers read in parallel (rayon, GIL released). Each
/// entry is `info`'s dict or the exception for that source.
#[pyfunction]
#[pyo3(signature = (sources, num_threads=None))]
fn info_batch<'py>(
    py: Python<'py>,
    sources: Vec<SourceArg>,
    num_threads: Option<usize>,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let sources: Vec<AudioSource> = sources.into_iter().map(|s| s.0).collect();
    let results = py.detach(|| core_info_batch(&sources, num_threads))?;
    results
        .into_iter()
        .map(|result| match result {
            Ok(info) => Ok(info_dict(py, info)?.into_any()),
            Err(err) => Ok(PyErr::from(err).into_value(py).into_bound(py).into_any()),
        })
        .collect()
}

fn info_dict(py: Python<'_>, info: AudioInfo) -> PyResult<Bound<'_, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("sample_rate", info.sample_rate)?;
    dict.set_item("channels", info.channels)?;
    dict.set_item("frames", info.frames)?;
    dict.set_item("duration", info.duration_s())?;
    dict.set_item("codec", info.codec)?;
    dict.set_item("container", info.container)?;
    dict.set_item("bits_per_sample", info.bits_per_sample)?;
    Ok(dict)
}

/// Resamples `(channels, n)` float32 audio from `sr_in` to `sr_out` (used by
/// the PyAV fallback so that every backend resamples identically).
#[pyfunction]
fn resample<'py>(
    py: Python<'py>,
    y: numpy::PyReadonlyArray2<'py, f32>,
    sr_in: u32,
    sr_out: u32,
) -> PyResult<Bound<'py, PyAny>> {
    let planes: Vec<Vec<f32>> = y.as_array().outer_iter().map(|row| row.to_vec()).collect();
    let count = planes.len();
    let out = py.detach(|| crate::pool::run(None, || crate::resample::resample(planes, sr_in, sr_out)))??;
    let frames = out.first().map_or(0, Vec::len);
    Ok(PyArray1::from_vec(py, out.concat()).reshape([count, frames])?.into_any())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(resample, m)?)?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(load_batch, m)?)?;
    m.add_function(wrap_pyfunction!(info, m)?)?;
    m.add_function(wrap_pyfunction!(info_batch, m)?)?;
    Ok(())
}
