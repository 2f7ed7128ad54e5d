//! Bindings for the augmentations. Python classes (audiodecode/augment.py)
//! describe a recipe as nested tuples; it is parsed here on every call,
//! which costs microseconds and keeps the Python objects plain and
//! picklable.

use numpy::{PyArray1, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use std::sync::Arc;

use super::owned_elements;
use crate::augment::{
    apply, apply_batch, Bank, ClipMode, Color, FilterKind, FilterRecipe, ShiftUnit, StretchMethod, Transform,
};
use crate::samples::has_non_finite;

/// Decoded recordings (noise, impulse responses) handed to the core once
/// and shared by every later call without a copy.
#[pyclass(frozen, module = "audiodecode._core")]
pub struct AudioBank {
    inner: Arc<Bank>,
}

#[pymethods]
impl AudioBank {
    /// `clips`: mono float32 arrays at `sr`; each must be non-empty and finite.
    #[new]
    fn new(clips: Vec<PyReadonlyArrayDyn<'_, f32>>, sr: u32) -> PyResult<Self> {
        if sr == 0 {
            return Err(PyValueError::new_err("sr must be > 0"));
        }
        let mut out = Vec::with_capacity(clips.len());
        for (i, clip) in clips.iter().enumerate() {
            let view = clip.as_array();
            if view.ndim() != 1 || view.is_empty() {
                return Err(PyValueError::new_err(format!("clip {i} must be a non-empty 1-D array")));
            }
            let samples = owned_elements(view);
            if has_non_finite(&samples) {
                return Err(PyValueError::new_err(format!("clip {i} contains NaN or infinite samples")));
            }
            out.push(samples);
        }
        Ok(AudioBank { inner: Arc::new(Bank::new(sr, out)) })
    }

    fn __len__(&self) -> usize {
        self.inner.clips.len()
    }

    #[getter]
    fn sr(&self) -> u32 {
        self.inner.sr
    }
}

fn bank(item: Bound<'_, PyAny>) -> PyResult<Option<Arc<Bank>>> {
    if item.is_none() {
        return Ok(None);
    }
    let bank = item.cast::<AudioBank>().map_err(|_| PyValueError::new_err("expected an AudioBank or None"))?;
    Ok(Some(bank.get().inner.clone()))
}

fn parse(spec: &Bound<'_, PyAny>) -> PyResult<Transform> {
    let tuple = spec.cast::<PyTuple>().map_err(|_| PyValueError::new_err("a transform spec is a tuple"))?;
    let name: String = tuple.get_item(0)?.extract()?;
    let f = |i: usize| -> PyResult<f64> { tuple.get_item(i)?.extract() };
    let children =
        |i: usize| -> PyResult<Vec<Transform>> { tuple.get_item(i)?.try_iter()?.map(|child| parse(&child?)).collect() };
    let method = |i: usize| -> PyResult<StretchMethod> {
        let name: String = tuple.get_item(i)?.extract()?;
        StretchMethod::parse(&name)
            .ok_or_else(|| PyValueError::new_err(format!("method must be 'wsola' or 'phase_vocoder', not {name:?}")))
    };
    let transform = match name.as_str() {
        "TimeStretch" => Transform::TimeStretch { min_rate: f(1)?, max_rate: f(2)?, method: method(3)?, p: f(4)? },
        "PitchShift" => {
            Transform::PitchShift { min_semitones: f(1)?, max_semitones: f(2)?, method: method(3)?, p: f(4)? }
        }
        "AddNoise" => {
            let color: String = tuple.get_item(3)?.extract()?;
            let color = Color::parse(&color).ok_or_else(|| {
                PyValueError::new_err(format!("color must be 'white', 'pink' or 'brown', not {color:?}"))
            })?;
            Transform::AddNoise { min_snr_db: f(1)?, max_snr_db: f(2)?, color, p: f(4)? }
        }
        "Gain" => Transform::Gain { min_db: f(1)?, max_db: f(2)?, p: f(3)? },
        "SpeedPerturbation" => Transform::SpeedPerturbation {
            rates: tuple.get_item(1)?.extract()?,
            range: tuple.get_item(2)?.extract()?,
            p: f(3)?,
        },
        "AddBackgroundNoise" => Transform::AddBackgroundNoise {
            noises: bank(tuple.get_item(1)?)?,
            count: tuple.get_item(2)?.extract()?,
            min_snr_db: f(3)?,
            max_snr_db: f(4)?,
            p: f(5)?,
        },
        "ApplyImpulseResponse" => Transform::ApplyImpulseResponse {
            irs: bank(tuple.get_item(1)?)?,
            count: tuple.get_item(2)?.extract()?,
            wet: f(3)?,
            p: f(4)?,
        },
        "LowPassFilter" | "HighPassFilter" | "BandPassFilter" | "BandStopFilter" => Transform::Filter {
            filter: FilterRecipe {
                kind: FilterKind::parse(&name).ok_or_else(|| PyValueError::new_err("unknown filter"))?,
                min_hz: f(1)?,
                max_hz: f(2)?,
                min_bandwidth: f(3)?,
                max_bandwidth: f(4)?,
                min_rolloff: f(5)?,
                max_rolloff: f(6)?,
                zero_phase: tuple.get_item(7)?.extract()?,
            },
            p: f(8)?,
        },
        "Clipping" => {
            let mode: String = tuple.get_item(1)?.extract()?;
            let mode = match mode.as_str() {
                "percentile" => ClipMode::Percentile,
                "db" => ClipMode::Db,
                _ => return Err(PyValueError::new_err(format!("mode must be 'percentile' or 'db', not {mode:?}"))),
            };
            Transform::Clipping { mode, min: f(2)?, max: f(3)?, p: f(4)? }
        }
        "PolarityInversion" => Transform::PolarityInversion { p: f(1)? },
        "Shift" => {
            let unit: String = tuple.get_item(3)?.extract()?;
            let unit = ShiftUnit::parse(&unit).ok_or_else(|| {
                PyValueError::new_err(format!("shift_unit must be 'fraction', 'seconds' or 'samples', not {unit:?}"))
            })?;
            Transform::Shift { min: f(1)?, max: f(2)?, unit, rollover: tuple.get_item(4)?.extract()?, p: f(5)? }
        }
        "TimeMask" => Transform::TimeMask { min_part: f(1)?, max_part: f(2)?, p: f(3)? },
        "Compose" => Transform::Compose { transforms: children(1)?, p: f(2)? },
        "OneOf" => Transform::OneOf { transforms: children(1)?, p: f(2)? },
        other => return Err(PyValueError::new_err(format!("unknown transform {other:?}"))),
    };
    transform.validate()?;
    Ok(transform)
}

/// `(channels, n)` planes of a 1-D or 2-D float32 array.
fn planes(y: &PyReadonlyArrayDyn<'_, f32>) -> PyResult<Vec<Vec<f32>>> {
    let view = y.as_array();
    match view.ndim() {
        1 => Ok(vec![owned_elements(view)]),
        2 => Ok(view.outer_iter().map(owned_elements).collect()),
        n => Err(PyValueError::new_err(format!("audio must be (n,) or (channels, n), got {n} dimensions"))),
    }
}

fn to_array<'py>(py: Python<'py>, audio: Vec<Vec<f32>>, one_d: bool) -> PyResult<Bound<'py, PyAny>> {
    let (count, frames) = (audio.len(), audio.first().map_or(0, Vec::len));
    // One channel moves into numpy without a copy.
    let flat = if count == 1 {
        PyArray1::from_vec(py, audio.into_iter().next().unwrap_or_default())
    } else {
        PyArray1::from_vec(py, audio.concat())
    };
    if one_d {
        Ok(flat.into_any())
    } else {
        Ok(flat.reshape([count, frames])?.into_any())
    }
}

/// Checks a recipe; raises ValueError naming the bad parameter.
#[pyfunction]
fn augment_validate(spec: &Bound<'_, PyAny>) -> PyResult<()> {
    parse(spec).map(|_| ())
}

/// The parameters `seed` draws: one dict per leaf transform, depth first.
#[pyfunction]
fn augment_params<'py>(py: Python<'py>, spec: &Bound<'py, PyAny>, seed: u64) -> PyResult<Bound<'py, PyList>> {
    let transform = parse(spec)?;
    let list = PyList::empty(py);
    for drawn in transform.sample(seed) {
        let dict = PyDict::new(py);
        dict.set_item("name", drawn.name)?;
        dict.set_item("applied", drawn.applied)?;
        for (key, value) in &drawn.params {
            if key.ends_with("_index") {
                dict.set_item(key, drawn.applied.then_some(*value as usize))?;
            } else {
                dict.set_item(key, drawn.applied.then_some(*value))?;
            }
        }
        list.append(dict)?;
    }
    Ok(list)
}

/// One clip, `(n,)` or `(channels, n)` float32; the GIL is released.
#[pyfunction]
fn augment<'py>(
    py: Python<'py>,
    spec: &Bound<'py, PyAny>,
    y: PyReadonlyArrayDyn<'py, f32>,
    sr: u32,
    seed: u64,
) -> PyResult<Bound<'py, PyAny>> {
    let transform = parse(spec)?;
    let one_d = y.ndim() == 1;
    let audio = planes(&y)?;
    let out = py.detach(|| apply(&transform, audio, sr, seed))?;
    to_array(py, out, one_d)
}

/// A batch of clips in parallel on the core's thread pool, GIL released.
#[pyfunction]
#[pyo3(signature = (spec, ys, sr, seeds, num_threads=None))]
fn augment_batch<'py>(
    py: Python<'py>,
    spec: &Bound<'py, PyAny>,
    ys: Vec<PyReadonlyArrayDyn<'py, f32>>,
    sr: u32,
    seeds: Vec<u64>,
    num_threads: Option<usize>,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let transform = parse(spec)?;
    let one_d: Vec<bool> = ys.iter().map(|y| y.ndim() == 1).collect();
    let batch: Vec<Vec<Vec<f32>>> = ys.iter().map(planes).collect::<PyResult<_>>()?;
    let out = py.detach(|| apply_batch(&transform, batch, sr, &seeds, num_threads))?;
    out.into_iter().zip(one_d).map(|(audio, one_d)| to_array(py, audio, one_d)).collect()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<AudioBank>()?;
    m.add_function(wrap_pyfunction!(augment_validate, m)?)?;
    m.add_function(wrap_pyfunction!(augment_params, m)?)?;
    m.add_function(wrap_pyfunction!(augment, m)?)?;
    m.add_function(wrap_pyfunction!(augment_batch, m)?)?;
    Ok(())
}
