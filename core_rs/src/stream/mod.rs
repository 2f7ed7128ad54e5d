//! Streaming: a long file or a live byte stream decoded block by block,
//! identical to the whole decode.
//!
//! [`forward`] makes a read-once byte stream (a pipe, a socket, a callback)
//! something the sniffer and the demuxers can read; [`decoder`] pulls
//! packets from it and carries the resampler's state across blocks;
//! [`ahead`] runs it (and the resampler) on threads of their own while the
//! caller consumes the blocks already done.

pub mod ahead;
pub mod decoder;
pub mod forward;
mod pieces;

pub use ahead::DecodeAhead;
pub use decoder::{StreamDecoder, StreamOptions, StreamSource};
