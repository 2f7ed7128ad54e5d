//! audiodecode's core: decode, resample, mix down and augment audio for
//! machine-learning input pipelines.
//!
//! The crate is plain Rust; the Python binding layer lives in [`python`] and
//! is compiled only with the `python` feature (maturin turns it on).

pub mod augment;
mod convert;
pub mod decode;
pub mod error;
pub mod info;
pub mod load;
mod mp3;
mod mp4_edit;
pub mod planes;
pub mod pool;
pub mod resample;
mod rf64;
mod samples;
mod sniff;
pub mod source;
pub mod storage;
pub mod stream;
mod wav;

#[cfg(feature = "python")]
mod python;

pub use decode::{decode, DecodeOptions, Decoded};
pub use error::{Error, Result};
pub use info::{info, info_batch, AudioInfo};
pub use load::{load, load_batch, Audio, LoadRequest};
pub use planes::Planes;
pub use source::AudioSource;
