//! Where encoded audio comes from: a path or bytes already in memory.

use std::fs::File;
use std::io::{Cursor, Read, Seek};
use std::path::PathBuf;
use std::sync::Arc;

use symphonia::core::io::MediaSource;

use crate::error::{Error, Result};

/// An encoded audio file, by path or in memory.
#[derive(Clone, Debug)]
pub enum AudioSource {
    Path(PathBuf),
    /// Bytes plus a name for error messages (`"<bytes>"` when the caller
    /// gave none).
    Bytes {
        data: Arc<[u8]>,
        name: String,
    },
}

/// A readable, seekable byte stream symphonia can demux.
pub trait ByteStream: Read + Seek + Send + Sync {}
impl<T: Read + Seek + Send + Sync> ByteStream for T {}

impl AudioSource {
    pub fn path(path: impl Into<PathBuf>) -> Self {
        AudioSource::Path(path.into())
    }

    pub fn bytes(data: impl Into<Arc<[u8]>>, name: impl Into<String>) -> Self {
        AudioSource::Bytes { data: data.into(), name: name.into() }
    }

    /// The name every error message starts with.
    pub fn name(&self) -> String {
        match self {
            AudioSource::Path(path) => path.display().to_string(),
            AudioSource::Bytes { name, .. } => name.clone(),
        }
    }

    /// Opens the stream and returns it with its length in bytes.
    pub fn open(&self) -> Result<(Box<dyn MediaSource>, u64)> {
        match self {
            AudioSource::Path(path) => {
                let file = File::open(path).map_err(|err| self.io_error(err))?;
                let meta = file.metadata().map_err(|err| self.io_error(err))?;
                if meta.is_dir() {
                    return Err(Error::Io { path: self.name(), message: "is a directory".into() });
                }
                Ok((Box::new(file), meta.len()))
            }
            AudioSource::Bytes { data, .. } => {
                Ok((Box::new(Cursor::new(SharedBytes(data.clone()))), data.len() as u64))
            }
        }
    }

    /// Opens a plain reader, for the container parsing symphonia leaves to us.
    pub fn reader(&self) -> Result<Box<dyn ByteStream>> {
        match self {
            AudioSource::Path(path) => Ok(Box::new(File::open(path).map_err(|err| self.io_error(err))?)),
            AudioSource::Bytes { data, .. } => Ok(Box::new(Cursor::new(SharedBytes(data.clone())))),
        }
    }

    fn io_error(&self, err: std::io::Error) -> Error {
        if err.kind() == std::io::ErrorKind::NotFound {
            Error::NotFound { path: self.name() }
        } else {
            Error::Io { path: self.name(), message: err.to_string() }
        }
    }
}

/// `Arc<[u8]>` as a cursor target, so a batch can share one buffer.
#[derive(Clone)]
struct SharedBytes(Arc<[u8]>);

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}
