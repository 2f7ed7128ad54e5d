//! Encoded bytes shared between Python and the core without copies: the
//! read engine's buffers as `FetchedBytes`, and Python `bytes` objects
//! decoded where they lie.

use std::ffi::{c_int, c_void};

use bytes::Bytes;
use pyo3::exceptions::PyIndexError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PySlice, PySliceMethods};

/// Bytes the read engine fetched, kept in the core's memory: the decoder,
/// `info` and `load_batch` read them where they are, and Python sees them
/// through the buffer protocol (`memoryview`, `bytes(x)`, `len`, slicing).
///
/// Read-only; a slice shares the buffer instead of copying it.
#[pyclass(frozen, module = "audiodecode._core", name = "FetchedBytes")]
pub struct FetchedBytes(pub Bytes);

#[pymethods]
impl FetchedBytes {
    fn __len__(&self) -> usize {
        self.0.len()
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.0)
    }

    /// An index gives an int, a slice with step 1 gives `FetchedBytes` over
    /// the same buffer; any other step gives `bytes`.
    fn __getitem__<'py>(&self, py: Python<'py>, index: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let len = self.0.len();
        if let Ok(slice) = index.cast::<PySlice>() {
            let parts = slice.indices(len as isize)?;
            if parts.step == 1 {
                let (start, stop) = (parts.start as usize, (parts.stop.max(parts.start)) as usize);
                return Ok(Bound::new(py, FetchedBytes(self.0.slice(start..stop)))?.into_any());
            }
            let picked: Vec<u8> =
                (0..parts.slicelength).map(|k| self.0[(parts.start + k as isize * parts.step) as usize]).collect();
            return Ok(PyBytes::new(py, &picked).into_any());
        }
        let at: isize = index.extract()?;
        let position = if at < 0 { at + len as isize } else { at };
        match usize::try_from(position).ok().and_then(|p| self.0.get(p)) {
            Some(byte) => Ok(byte.into_pyobject(py)?.into_any()),
            None => Err(PyIndexError::new_err("index out of range")),
        }
    }

    /// Equal to any bytes-like object with the same content.
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        match other.cast::<FetchedBytes>() {
            Ok(other) => self.0 == other.get().0,
            Err(_) => other.extract::<pyo3::buffer::PyBuffer<u8>>().is_ok_and(|view| {
                view.is_c_contiguous()
                    && view.item_count() == self.0.len()
                    && view.to_vec(other.py()).is_ok_and(|content| content == self.0)
            }),
        }
    }

    /// The hash of the equal `bytes`, so that the two are one key.
    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        PyBytes::new(py, &self.0).hash()
    }

    fn __repr__(&self) -> String {
        format!("FetchedBytes({} bytes)", self.0.len())
    }

    /// Pickled as plain `bytes` (another process has its own engine).
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyBytes>,))> {
        let builtins = py.import("builtins")?;
        Ok((builtins.getattr("bytes")?, (PyBytes::new(py, &self.0),)))
    }

    /// # Safety
    /// `view` is the `Py_buffer` Python asks to fill. The buffer is never
    /// written (read-only: a writable request is refused by
    /// `PyBuffer_FillInfo`) and lives as long as this object, which the
    /// view holds a reference to until it is released.
    unsafe fn __getbuffer__(slf: Bound<'_, Self>, view: *mut ffi::Py_buffer, flags: c_int) -> PyResult<()> {
        let data = &slf.get().0;
        // SAFETY: see above; `PyBuffer_FillInfo` takes its own reference to `slf`.
        let status = unsafe {
            ffi::PyBuffer_FillInfo(view, slf.as_ptr(), data.as_ptr() as *mut c_void, data.len() as isize, 1, flags)
        };
        if status == -1 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }
}

/// A Python `bytes` object's buffer, kept alive by a reference to the
/// object. `bytes` objects are immutable, so the buffer neither moves nor
/// changes while the reference is held, with or without the GIL.
struct PyBytesOwner {
    _object: Py<PyBytes>,
    data: *const u8,
    len: usize,
}

// SAFETY: the pointer is into an immutable buffer the held reference keeps
// alive; `Py` itself is Send and Sync (dropped without the GIL, its decref
// waits for the next time a thread holds it).
unsafe impl Send for PyBytesOwner {}
unsafe impl Sync for PyBytesOwner {}

impl AsRef<[u8]> for PyBytesOwner {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: see the type's comment.
        unsafe { std::slice::from_raw_parts(self.data, self.len) }
    }
}

/// The content of `obj` without copying it, if it is `bytes` or
/// `FetchedBytes`; None for anything else (a path, a mutable buffer).
pub fn shared_bytes(obj: &Bound<'_, PyAny>) -> Option<Bytes> {
    if let Ok(fetched) = obj.cast::<FetchedBytes>() {
        return Some(fetched.get().0.clone());
    }
    let bytes = obj.cast::<PyBytes>().ok()?;
    let content = bytes.as_bytes();
    let owner = PyBytesOwner { data: content.as_ptr(), len: content.len(), _object: bytes.clone().unbind() };
    Some(Bytes::from_owner(owner))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<FetchedBytes>()
}
