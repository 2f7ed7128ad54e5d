//! Bindings for the batch-level mixes (audiodecode/data/mixing.py): the
//! draw of a batch seed, and the mix itself with the GIL released.

use numpy::{PyArray1, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::owned_elements;
use crate::augment::mixing::{self, Batch, Kind};

fn parse_kind(name: &str) -> PyResult<Kind> {
    Kind::parse(name).ok_or_else(|| PyValueError::new_err(format!("kind must be 'Mixup' or 'CutMix', not {name:?}")))
}

/// The array's elements in row-major order ([`owned_elements`]), and its shape.
fn owned<T: numpy::Element + Copy>(
    what: &str,
    array: &PyReadonlyArrayDyn<'_, T>,
    ndim: usize,
) -> PyResult<(Vec<T>, Vec<usize>)> {
    if array.ndim() != ndim {
        return Err(PyValueError::new_err(format!(
            "{what} must have {ndim} dimension(s), got shape {:?}",
            array.shape()
        )));
    }
    Ok((owned_elements(array.as_array()), array.shape().to_vec()))
}

/// What `seed` draws for a batch of `batch_size` rows.
#[pyfunction]
fn mix_params<'py>(
    py: Python<'py>,
    kind: &str,
    seed: u64,
    alpha: f64,
    p: f64,
    batch_size: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let kind = parse_kind(kind)?;
    let drawn = mixing::draw(seed, alpha, p, batch_size)?;
    let dict = PyDict::new(py);
    dict.set_item("name", kind.name())?;
    dict.set_item("applied", drawn.applied)?;
    dict.set_item("lam", drawn.lam)?;
    let permutation: Vec<i64> = drawn.permutation.iter().map(|&i| i as i64).collect();
    dict.set_item("permutation", PyArray1::from_vec(py, permutation))?;
    dict.set_item("start", drawn.start)?;
    Ok(dict)
}

/// Mixes a `(b, n)` float32 batch, its `(b, classes)` float32 targets and
/// `(b,)` int32 lengths as `seed` draws; returns the three mixed arrays.
#[pyfunction]
#[pyo3(signature = (kind, audio, targets, lengths, seed, alpha, p, num_threads=None))]
#[allow(clippy::too_many_arguments)]
fn mix_batch<'py>(
    py: Python<'py>,
    kind: &str,
    audio: PyReadonlyArrayDyn<'py, f32>,
    targets: PyReadonlyArrayDyn<'py, f32>,
    lengths: PyReadonlyArrayDyn<'py, i32>,
    seed: u64,
    alpha: f64,
    p: f64,
    num_threads: Option<usize>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let kind = parse_kind(kind)?;
    let (audio, audio_shape) = owned("audio", &audio, 2)?;
    let (targets, target_shape) = owned("targets", &targets, 2)?;
    let (lengths, length_shape) = owned("lengths", &lengths, 1)?;
    let rows = audio_shape[0];
    if target_shape[0] != rows || length_shape[0] != rows {
        return Err(PyValueError::new_err(format!(
            "{rows} clips but {} targets and {} lengths",
            target_shape[0], length_shape[0]
        )));
    }
    let batch = Batch {
        audio: &audio,
        samples: audio_shape[1],
        targets: &targets,
        classes: target_shape[1],
        lengths: &lengths,
    };
    let mixed = py.detach(|| mixing::mix(kind, batch, seed, alpha, p, num_threads))?;
    Ok((
        PyArray1::from_vec(py, mixed.audio).reshape([rows, audio_shape[1]])?.into_any(),
        PyArray1::from_vec(py, mixed.targets).reshape([rows, target_shape[1]])?.into_any(),
        PyArray1::from_vec(py, mixed.lengths).into_any(),
    ))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(mix_params, m)?)?;
    m.add_function(wrap_pyfunction!(mix_batch, m)?)?;
    Ok(())
}
