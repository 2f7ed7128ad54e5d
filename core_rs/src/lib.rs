//! audiodecode's core: decode, resample, mix down and augment audio for
//! machine-learning input pipelines.
//!
//! The crate is plain Rust; the Python binding layer lives in [`python`] and
//! is compiled only with the `python` feature (maturin turns it on).

pub mod error;

#[cfg(feature = "python")]
mod python;

pub use error::{Error, Result};
