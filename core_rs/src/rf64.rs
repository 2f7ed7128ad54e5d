//! RF64 and BW64 (EBU Tech 3306, ITU-R BS.2088): WAV whose sizes may pass
//! 4 GiB. The form is `RF64` (or `BW64`) instead of `RIFF`, a `ds64` chunk
//! comes first with the 64-bit RIFF and data sizes, and a 32-bit size of
//! `0xFFFFFFFF` in the header means "the one in ds64".
//!
//! symphonia reads only `RIFF`. The sniffer hands it the same bytes with the
//! header rewritten ([`Rf64::patches`]): sizes that fit in 32 bits as they
//! are, which makes the file a WAV that symphonia reads as any other (its
//! checks, warnings and errors included). A data chunk of 4 GiB or more
//! is "unbounded" there (read to the end of the input), and the direct PCM
//! path (`wav.rs`) reads it by its 64-bit size instead.

use std::io::{Read, Seek};

use crate::sniff;

/// A 32-bit size saying "see ds64".
pub(crate) const SEE_DS64: u32 = u32::MAX;

/// What symphonia is told of a data chunk that claims more than the input
/// holds and more than 32 bits can say: 4 GiB, a length it checks against
/// the parent chunk and decodes up to the end of the bytes with the
/// "truncated" warning, as it does a WAV claiming that much.
const BEYOND_THE_INPUT: u32 = u32::MAX - 1;

/// Chunks walked before the data chunk (a file has a few).
const MAX_CHUNKS: usize = 1024;
/// How far into the form the data chunk may start. The walk seeks over the
/// chunks before it, and on a forward-only stream (a pipe) a seek while
/// sniffing reads and keeps the bytes: a chunk size claiming gigabytes must
/// not make it read them.
const MAX_HEADER_BYTES: u64 = 16 << 20;

/// Whether `head`, the first 12 bytes of a form, start an RF64 or BW64 WAVE.
pub(crate) fn is_rf64(head: &[u8]) -> bool {
    head.len() >= 12 && matches!(&head[..4], b"RF64" | b"BW64") && &head[8..12] == b"WAVE"
}

/// The 64-bit sizes of the `ds64` chunk.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Ds64 {
    /// The RIFF form's length (after its 8-byte header).
    pub riff_len: u64,
    /// The data chunk's length (after its 8-byte header).
    pub data_len: u64,
}

/// The `ds64` chunk of the RF64 form at `start`, which the specifications
/// place first; `None` if it is not there (or cut short).
pub(crate) fn ds64(reader: &mut (impl Read + Seek + ?Sized), start: u64) -> std::io::Result<Option<Ds64>> {
    // The chunk header, then riffSize, dataSize and sampleCount.
    let Some(chunk) = read_at(reader, start + 12, 8 + 24)? else { return Ok(None) };
    if &chunk[..4] != b"ds64" || le32(&chunk[4..8]) < 24 {
        return Ok(None);
    }
    Ok(Some(Ds64 { riff_len: le64(&chunk[8..16]), data_len: le64(&chunk[16..24]) }))
}

/// Where an RF64 file's sizes are, and what they are.
#[derive(Debug, PartialEq)]
pub(crate) struct Rf64 {
    /// The form's 32-bit size field, and the size in effect.
    riff_field: u32,
    riff_len: u64,
    /// Where the data chunk's header is, its 32-bit size field, and the
    /// size in effect: `None` where both say "unknown" (`0xFFFFFFFF`, and 0
    /// in ds64: FFmpeg writing to a pipe cannot go back to fill them in).
    data_header: u64,
    data_field: u32,
    pub data_len: Option<u64>,
}

/// The RF64 form at `start`, walked chunk by chunk (each padded to an even
/// length) up to its data chunk; `None` where that walk fails: no ds64
/// chunk first, a chunk other than the data sized "see ds64" (the table of
/// such chunks is not read), no data chunk, or the input ends first.
pub(crate) fn read(reader: &mut (impl Read + Seek + ?Sized), start: u64) -> std::io::Result<Option<Rf64>> {
    let Some(head) = read_at(reader, start, 12)? else { return Ok(None) };
    let Some(ds64) = ds64(reader, start)?.filter(|_| is_rf64(&head)) else { return Ok(None) };
    let riff_field = le32(&head[4..8]);
    let riff_len = if riff_field == SEE_DS64 { ds64.riff_len } else { u64::from(riff_field) };
    let mut at = start + 12;
    for _ in 0..MAX_CHUNKS {
        if at - start > MAX_HEADER_BYTES {
            return Ok(None);
        }
        let Some(header) = read_at(reader, at, 8)? else { return Ok(None) };
        let field = le32(&header[4..8]);
        if &header[..4] == b"data" {
            let data_len = match field {
                SEE_DS64 => Some(ds64.data_len).filter(|&len| len > 0),
                _ => Some(u64::from(field)),
            };
            return Ok(Some(Rf64 { riff_field, riff_len, data_header: at, data_field: field, data_len }));
        }
        if field == SEE_DS64 {
            return Ok(None);
        }
        at += 8 + u64::from(field) + u64::from(field & 1);
    }
    Ok(None)
}

impl Rf64 {
    /// `(position, bytes)` that make the input at `start` (of `input_len`
    /// bytes) the RIFF WAVE symphonia reads: the form's magic and size, and
    /// the data chunk's size where it is "see ds64".
    pub(crate) fn patches(&self, start: u64, input_len: u64) -> Vec<(u64, Vec<u8>)> {
        let fit = |len: u64| u32::try_from(len).ok().filter(|&len| len != u32::MAX);
        // A form of 4 GiB or more, or of unknown size (0), is unbounded to
        // symphonia (no parent length to check its chunks against), as
        // FFmpeg's piped WAV is.
        let riff = match self.riff_field {
            SEE_DS64 => fit(self.riff_len).filter(|&len| len > 0).unwrap_or(u32::MAX),
            field => field,
        };
        let mut form = b"RIFF".to_vec();
        form.extend_from_slice(&riff.to_le_bytes());
        let mut patches = vec![(start, form)];
        if self.data_field == SEE_DS64 {
            let data = match self.data_len {
                // Unknown: read to the end of the input.
                None => u32::MAX,
                Some(len) => match fit(len) {
                    Some(len) => len,
                    None if (self.data_header + 8).checked_add(len).is_some_and(|end| end <= input_len) => u32::MAX,
                    None => BEYOND_THE_INPUT,
                },
            };
            patches.push((self.data_header + 4, data.to_le_bytes().to_vec()));
        }
        patches
    }
}

/// `n` bytes from `at`, or `None` if the input ends first.
fn read_at(reader: &mut (impl Read + Seek + ?Sized), at: u64, n: usize) -> std::io::Result<Option<Vec<u8>>> {
    let bytes = sniff::read_at(reader, at, n as u64)?;
    Ok((bytes.len() == n).then_some(bytes))
}

fn le32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes"))
}

fn le64(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, SeekFrom};

    /// An RF64 header as FFmpeg writes it (`-rf64 always`): both 32-bit sizes
    /// "see ds64", a 28-byte ds64, a 16-byte fmt, `data_len` bytes of data.
    fn rf64(riff_len: u64, data_len: u64, data: usize) -> Vec<u8> {
        let mut out = b"RF64\xff\xff\xff\xffWAVEds64\x1c\0\0\0".to_vec();
        out.extend_from_slice(&riff_len.to_le_bytes());
        out.extend_from_slice(&data_len.to_le_bytes());
        out.extend_from_slice(&(data_len / 2).to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(b"fmt \x10\0\0\0\x01\0\x01\0\x40\x1f\0\0\x80\x3e\0\0\x02\0\x10\0");
        out.extend_from_slice(b"data\xff\xff\xff\xff");
        out.resize(out.len() + data, 7);
        out
    }

    /// A reader that records the furthest position sought to.
    struct CountingReader<R> {
        inner: R,
        furthest: u64,
    }

    impl<R: Read> Read for CountingReader<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.inner.read(buf)
        }
    }

    impl<R: Seek> Seek for CountingReader<R> {
        fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
            let at = self.inner.seek(to)?;
            self.furthest = self.furthest.max(at);
            Ok(at)
        }
    }

    fn read_bytes(bytes: &[u8]) -> Option<Rf64> {
        read(&mut Cursor::new(bytes), 0).unwrap()
    }

    #[test]
    fn sizes_that_fit_in_32_bits_are_written_into_the_riff_header() {
        let bytes = rf64(1000 + 72, 1000, 1000);
        let found = read_bytes(&bytes).unwrap();
        assert_eq!((found.data_header, found.data_len), (72, Some(1000)));
        let patches = found.patches(0, bytes.len() as u64);
        assert_eq!(patches, vec![(0, b"RIFF\x30\x04\0\0".to_vec()), (76, 1000u32.to_le_bytes().to_vec())]);
    }

    #[test]
    fn sizes_of_4_gib_or_more_are_unbounded_where_the_input_holds_them() {
        let big = 5u64 << 30;
        let found = read_bytes(&rf64(big + 72, big, 10)).unwrap();
        assert_eq!(found.data_len, Some(big));
        // An input that holds them (a file of 5 GiB) ...
        let unbounded = found.patches(0, big + 80);
        assert_eq!(unbounded[0].1, b"RIFF\xff\xff\xff\xff".to_vec());
        assert_eq!(unbounded[1].1, u32::MAX.to_le_bytes().to_vec());
        // ... and one that does not: a claim symphonia reads as truncated.
        let claimed = found.patches(0, 1000);
        assert_eq!(claimed[1].1, (u32::MAX - 1).to_le_bytes().to_vec());
        // 2^63 and u64::MAX overflow nothing.
        for hostile in [1u64 << 63, u64::MAX] {
            let found = read_bytes(&rf64(hostile, hostile, 10)).unwrap();
            assert_eq!(found.patches(0, 1000)[1].1, (u32::MAX - 1).to_le_bytes().to_vec());
        }
    }

    #[test]
    fn sizes_left_unknown_by_a_writer_to_a_pipe_are_unbounded() {
        // FFmpeg writing RF64 to a pipe leaves ds64's sizes 0.
        let found = read_bytes(&rf64(0, 0, 1000)).unwrap();
        assert_eq!(found.data_len, None);
        let patches = found.patches(0, u64::MAX);
        assert_eq!(patches, vec![(0, b"RIFF\xff\xff\xff\xff".to_vec()), (76, vec![0xff; 4])]);
    }

    #[test]
    fn what_is_not_an_rf64_walk_is_none() {
        let bytes = rf64(1072, 1000, 1000);
        // No ds64 first.
        let mut no_ds64 = bytes.clone();
        no_ds64[12..16].copy_from_slice(b"junk");
        assert_eq!(read_bytes(&no_ds64), None);
        // A RIFF form.
        let mut riff = bytes.clone();
        riff[..4].copy_from_slice(b"RIFF");
        assert_eq!(read_bytes(&riff), None);
        // Cut before the data chunk, or in the ds64 chunk.
        assert_eq!(read_bytes(&bytes[..70]), None);
        assert_eq!(read_bytes(&bytes[..30]), None);
        // Another chunk sized "see ds64" (its size would be in the table).
        let mut table = bytes.clone();
        table[52..56].copy_from_slice(&[0xff; 4]);
        assert_eq!(read_bytes(&table), None);
        // A chunk before the data claiming 4 GiB: not sought over.
        let mut huge = bytes.clone();
        huge[52..56].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
        let mut reader = CountingReader { inner: Cursor::new(&huge), furthest: 0 };
        assert_eq!(read(&mut reader, 0).unwrap(), None);
        assert!(reader.furthest < 100, "{}", reader.furthest);
        // BW64 is the same form.
        let mut bw64 = bytes;
        bw64[..4].copy_from_slice(b"BW64");
        assert_eq!(read_bytes(&bw64).unwrap().data_len, Some(1000));
    }
}
