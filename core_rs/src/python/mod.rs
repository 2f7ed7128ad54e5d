//! The Python binding layer: the one `#[pymodule]`, thin wrappers that
//! convert arguments, release the GIL around core work and map errors.

mod allocator;
mod augment;
mod buffer;
mod decode;
mod errors;
mod heap;
mod mixing;
mod storage;
mod stream;

use numpy::ndarray::ArrayViewD;
use pyo3::prelude::*;

/// An array view's elements in row-major order, owned: work done with the
/// GIL released must not read memory that Python code could write to.
fn owned_elements<T: Copy>(view: ArrayViewD<'_, T>) -> Vec<T> {
    view.as_slice().map_or_else(|| view.iter().copied().collect(), <[T]>::to_vec)
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    allocator::configure();
    heap::configure();
    // Benchmarks refuse to time a test build (see benchmarks/common.py).
    m.add("DEBUG_BUILD", cfg!(debug_assertions))?;
    // The argument bounds, so that the Python layer checks the same ones.
    m.add("MAX_SAMPLE_RATE", crate::load::MAX_SAMPLE_RATE)?;
    m.add("MAX_SECONDS", crate::decode::MAX_SECONDS)?;
    errors::register(m)?;
    buffer::register(m)?;
    decode::register(m)?;
    augment::register(m)?;
    mixing::register(m)?;
    storage::register(m)?;
    stream::register(m)?;
    Ok(())
}
