//! The core's error type. The binding layer maps each variant to a Python
//! exception class, so the variants follow what a caller can act on.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

static QUIET_PANICS: Once = Once::new();

/// Everything that can go wrong while reading, decoding or transforming audio.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The path does not exist.
    #[error("{path}: no such file")]
    NotFound { path: String },
    /// Any other I/O failure (permissions, a directory, a broken pipe...).
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    /// The content is not audio this core can decode: unknown container,
    /// unsupported codec, zero bytes, garbage, or truncated beyond use.
    #[error("{path}: {reason}")]
    Decode { path: String, reason: String },
    /// The caller asked for something impossible (negative offset, zero
    /// sample rate, NaN in the input, ...).
    #[error("{0}")]
    InvalidArgument(String),
    /// A bug in this core (a caught panic), not something the caller did.
    #[error("{0}")]
    Internal(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn decode(path: impl fmt::Display, reason: impl fmt::Display) -> Self {
        Error::Decode { path: path.to_string(), reason: reason.to_string() }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidArgument(message.into())
    }

    /// `true` when the error is about the codec or container being one this
    /// core does not support, so that a caller may fall back to another
    /// backend (PyAV) instead of reporting a broken file.
    pub fn is_unsupported(&self) -> bool {
        matches!(self, Error::Decode { reason, .. } if reason.starts_with(UNSUPPORTED))
    }
}

/// Runs `work`, turning a panic into the error `on_panic` makes of its
/// message: a panic must never unwind into Python or take a batch down.
pub(crate) fn catch_panics<T>(work: impl FnOnce() -> Result<T>, on_panic: impl FnOnce(String) -> Error) -> Result<T> {
    QUIET_PANICS.call_once(|| {
        // A caught panic becomes an exception naming the file; std's default
        // hook would also print it (with a backtrace under RUST_BACKTRACE)
        // into the user's stderr. AUDIODECODE_RUST_PANICS=1 keeps that output
        // for debugging the core. The hook is this library's own: the
        // extension links its own copy of std.
        if std::env::var_os("AUDIODECODE_RUST_PANICS").is_none() {
            std::panic::set_hook(Box::new(|_| {}));
        }
    });
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|panic| {
        let reason = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(on_panic(reason))
    })
}

/// Prefix of every [`Error::Decode`] reason that means "not supported here"
/// rather than "damaged".
pub const UNSUPPORTED: &str = "unsupported";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_the_error_made_of_its_message() {
        let caught = catch_panics(|| -> Result<()> { panic!("index {} out of range", 7) }, Error::Internal);
        assert!(matches!(caught, Err(Error::Internal(message)) if message == "index 7 out of range"));
        assert!(catch_panics(|| Ok(3), Error::Internal).is_ok_and(|v| v == 3));
    }
}
