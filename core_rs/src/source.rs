//! Where encoded audio comes from: a path or bytes already in memory.

use std::fs::{File, OpenOptions};
use std::io::{Cursor, Read, Seek, SeekFrom};
use std::path::PathBuf;

use bytes::Bytes;
use symphonia::core::io::MediaSource;

use crate::error::{Error, Result};

/// An encoded audio file, by path or in memory.
#[derive(Clone, Debug)]
pub enum AudioSource {
    Path(PathBuf),
    /// Bytes plus a name for error messages (`"<bytes>"` when the caller
    /// gave none). `Bytes` so that a buffer the read engine fetched, or a
    /// Python `bytes` object, is decoded where it lies, not copied.
    Bytes {
        data: Bytes,
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

    pub fn bytes(data: impl Into<Bytes>, name: impl Into<String>) -> Self {
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
                let (file, len) = self.open_regular(path)?;
                Ok((Box::new(file), len))
            }
            AudioSource::Bytes { data, .. } => Ok((Box::new(Cursor::new(data.clone())), data.len() as u64)),
        }
    }

    /// Opens a plain reader, for the container parsing symphonia leaves to us.
    pub fn reader(&self) -> Result<Box<dyn ByteStream>> {
        match self {
            AudioSource::Path(path) => Ok(Box::new(self.open_regular(path)?.0)),
            AudioSource::Bytes { data, .. } => Ok(Box::new(Cursor::new(data.clone()))),
        }
    }

    /// Opens `path` if it is a regular file, with its length. Opened
    /// non-blocking: opening a FIFO (or a device) for reading may wait for a
    /// writer forever, and reading one never ends; such paths are refused.
    fn open_regular(&self, path: &std::path::Path) -> Result<(File, u64)> {
        let mut options = OpenOptions::new();
        options.read(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            // O_NONBLOCK has no effect on reads of a regular file.
            options.custom_flags(libc::O_NONBLOCK);
        }
        let file = options.open(path).map_err(|err| self.io_error(err))?;
        let meta = file.metadata().map_err(|err| self.io_error(err))?;
        if meta.is_dir() {
            return Err(Error::Io { path: self.name(), message: "is a directory".into() });
        }
        if !meta.is_file() {
            return Err(Error::decode(self.name(), format!("not a regular file ({})", file_kind(&meta))));
        }
        Ok((file, meta.len()))
    }

    fn io_error(&self, err: std::io::Error) -> Error {
        if err.kind() == std::io::ErrorKind::NotFound {
            Error::NotFound { path: self.name() }
        } else {
            Error::Io { path: self.name(), message: err.to_string() }
        }
    }
}

/// What a path that is not a regular file or directory is, for messages.
fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let kind = meta.file_type();
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_socket() {
            return "a socket";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
    }
    let _ = meta;
    "not a file"
}

/// The part of a stream from `start` on, seen as a whole stream, with a few
/// bytes replaced: what symphonia reads once [`crate::sniff`] has found
/// where the audio starts (and any header field to read differently).
pub(crate) struct Window {
    inner: Box<dyn MediaSource>,
    start: u64,
    len: u64,
    /// Where the window is, relative to `start`.
    pos: u64,
    /// `(position relative to start, bytes)` read instead of the stream's.
    patches: Vec<(u64, Vec<u8>)>,
}

impl Window {
    /// `inner` (of `total` bytes) from `start` on; `patches` are positioned
    /// in `inner`'s terms.
    pub(crate) fn new(
        mut inner: Box<dyn MediaSource>,
        start: u64,
        total: u64,
        patches: Vec<(u64, Vec<u8>)>,
    ) -> std::io::Result<Self> {
        inner.seek(SeekFrom::Start(start))?;
        let patches = patches.into_iter().map(|(at, bytes)| (at - start, bytes)).collect();
        Ok(Window { inner, start, len: total - start, pos: 0, patches })
    }
}

impl Read for Window {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for (at, bytes) in &self.patches {
            // The overlap of [pos, pos + n) with [at, at + bytes.len()).
            let from = self.pos.max(*at);
            let to = (self.pos + n as u64).min(at + bytes.len() as u64);
            for p in from..to {
                buf[(p - self.pos) as usize] = bytes[(p - at) as usize];
            }
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Window {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let to = match to {
            SeekFrom::Start(p) => SeekFrom::Start(self.start + p),
            other => other,
        };
        let at = self.inner.seek(to)?;
        if at < self.start {
            self.inner.seek(SeekFrom::Start(self.start + self.pos))?;
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start of the audio"));
        }
        self.pos = at - self.start;
        Ok(self.pos)
    }
}

impl MediaSource for Window {
    fn is_seekable(&self) -> bool {
        self.inner.is_seekable()
    }

    fn byte_len(&self) -> Option<u64> {
        Some(self.len)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = std::env::temp_dir().join(format!("audiodecode-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("pipe.wav");
        let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let source = AudioSource::path(&fifo);
        for result in [source.open().map(|_| ()), source.reader().map(|_| ())] {
            match result {
                Err(Error::Decode { reason, .. }) => assert_eq!(reason, "not a regular file (a FIFO)"),
                other => panic!("expected a decode error, got {:?}", other.map(|_| ())),
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
