//! Python exception classes and the mapping from [`crate::Error`].

use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyValueError};
use pyo3::prelude::*;

pyo3::create_exception!(
    _core,
    AudioDecodeError,
    pyo3::exceptions::PyException,
    "Root of every error audiodecode raises about audio content."
);
pyo3::create_exception!(
    _core,
    DecodeError,
    AudioDecodeError,
    "The file is not audio we can decode: unsupported codec or container, zero bytes, garbage, or truncated beyond use. The message names the file and the reason."
);

pyo3::create_exception!(
    _core,
    UnsupportedFormatError,
    DecodeError,
    "The container or codec is one the Rust core does not decode; `backend=\"auto\"` retries such files with PyAV."
);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("AudioDecodeError", py.get_type::<AudioDecodeError>())?;
    m.add("DecodeError", py.get_type::<DecodeError>())?;
    m.add("UnsupportedFormatError", py.get_type::<UnsupportedFormatError>())?;
    Ok(())
}

impl From<crate::Error> for PyErr {
    fn from(err: crate::Error) -> PyErr {
        let message = err.to_string();
        match err {
            crate::Error::NotFound { .. } => PyFileNotFoundError::new_err(message),
            crate::Error::Io { .. } => PyOSError::new_err(message),
            ref decode @ crate::Error::Decode { .. } if decode.is_unsupported() => {
                UnsupportedFormatError::new_err(message)
            }
            crate::Error::Decode { .. } => DecodeError::new_err(message),
            crate::Error::InvalidArgument(_) => PyValueError::new_err(message),
            crate::Error::Internal(_) => AudioDecodeError::new_err(message),
        }
    }
}
