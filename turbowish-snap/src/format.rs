//! The `.twsnap` container: a fixed header, then one zstd frame.
//!
//! ```text
//! offset  size  field
//!      0     8  magic "TWSNAP\r\n" (the \r\n catches text-mode mangling)
//!      8     2  format version, little-endian
//!     10     2  reserved, 0
//!     12     8  payload length in bytes (the zstd frame), little-endian
//!     20     8  decompressed payload length in bytes, little-endian
//!     28     4  CRC-32 of the payload bytes, little-endian
//!     32     -  payload: one zstd frame with a content checksum
//! ```
//!
//! Nothing may follow the payload.
//!
//! The payload is the postcard encoding of the columnar tables in
//! `columns` module. The reader trusts nothing: it checks the magic, version
//! and reserved field, that the file holds exactly the payload, its CRC (so
//! any damaged bit in the compressed data is caught before decompressing),
//! that the decompressed size is what the header says (and below
//! [`MAX_PAYLOAD`]) without ever growing a buffer beyond the data actually
//! present, that postcard consumed exactly the payload, and finally every
//! index and order invariant of the tables.

use crate::columns::Wire;
use crate::model::Snapshot;
use std::fmt;
use std::io::{self, Read, Write};
use std::path::Path;

/// The first eight bytes of every snapshot file.
pub const MAGIC: [u8; 8] = *b"TWSNAP\r\n";
/// The format version this crate writes, and the newest it reads.
pub const VERSION: u16 = 2;
/// The oldest format version this crate reads.
///
/// Version 2 added tasks, typed edges and labels, type names and containers;
/// version 1 files (no task data) are refused rather than half-read.
pub const OLDEST_READABLE: u16 = 2;
/// Largest decompressed payload the reader accepts (64 GiB): a header that
/// claims more is treated as corrupt rather than trusted with memory.
pub const MAX_PAYLOAD: u64 = 64 << 30;
const HEADER_LEN: usize = 32;
/// zstd level: fast enough for the capture child, and the columns compress
/// well even at low levels.
const LEVEL: i32 = 3;

/// Why a snapshot could not be read or written.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The underlying read or write failed.
    Io(io::Error),
    /// The file does not start with the snapshot magic.
    NotASnapshot,
    /// The file was written by a newer TurboWish.
    TooNew {
        /// Version in the file.
        found: u16,
        /// Newest version this build reads.
        supported: u16,
    },
    /// The file was written by a TurboWish too old for this one to read.
    TooOld {
        /// Version in the file.
        found: u16,
        /// Oldest version this build reads.
        oldest: u16,
    },
    /// The file ends before the data its header announces.
    Truncated {
        /// Bytes the header announces after it.
        expected: u64,
        /// Bytes actually there.
        found: u64,
    },
    /// The file's contents are inconsistent: damaged or not written by
    /// TurboWish.
    Corrupt(String),
    /// A snapshot about to be written breaks an invariant (a writer bug).
    Invalid(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "{e}"),
            Error::NotASnapshot => f.write_str("not a TurboWish snapshot (wrong magic bytes)"),
            Error::TooNew { found, supported } => write!(
                f,
                "snapshot format version {found} is newer than this turbowish reads \
                 (up to {supported}); upgrade turbowish"
            ),
            Error::TooOld { found, oldest } => write!(
                f,
                "snapshot format version {found} is older than this turbowish reads \
                 (from {oldest}); use an older turbowish"
            ),
            Error::Truncated { expected, found } => write!(
                f,
                "snapshot is truncated: its header announces {expected} bytes of data, \
                 the file has {found}"
            ),
            Error::Corrupt(what) => write!(f, "snapshot is corrupt: {what}"),
            Error::Invalid(what) => write!(f, "refusing to write an invalid snapshot: {what}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

/// Writes `snapshot` to `out`; returns the number of bytes written.
pub fn write(snapshot: &Snapshot, out: impl Write) -> Result<u64, Error> {
    crate::validate::check(snapshot).map_err(Error::Invalid)?;
    let raw = postcard::to_stdvec(&Wire::from_snapshot(snapshot))
        .map_err(|e| Error::Invalid(format!("cannot encode: {e}")))?;
    frame(&raw, out)
}

/// Compresses the encoded tables and writes them with their header.
fn frame(raw: &[u8], mut out: impl Write) -> Result<u64, Error> {
    let mut encoder = zstd::bulk::Compressor::new(LEVEL)?;
    encoder.include_checksum(true)?;
    let payload = encoder.compress(raw)?;
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(&MAGIC);
    header[8..10].copy_from_slice(&VERSION.to_le_bytes());
    header[12..20].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    header[20..28].copy_from_slice(&(raw.len() as u64).to_le_bytes());
    header[28..32].copy_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.write_all(&header)?;
    out.write_all(&payload)?;
    out.flush()?;
    Ok((HEADER_LEN + payload.len()) as u64)
}

/// Reads a snapshot from `input`.
pub fn read(mut input: impl Read) -> Result<Snapshot, Error> {
    let header = read_header(&mut input)?;
    let payload = read_exactly(&mut input, header.payload_len)?;
    if read_up_to(&mut input, &mut [0u8; 1])? != 0 {
        return Err(Error::Corrupt(
            "data follows the end of the snapshot".into(),
        ));
    }
    if crc32fast::hash(&payload) != header.crc {
        return Err(Error::Corrupt(
            "checksum mismatch: the data is damaged".into(),
        ));
    }
    let raw = decompress(&payload, header.raw_len)?;
    let (wire, rest) = postcard::take_from_bytes::<Wire>(&raw)
        .map_err(|e| Error::Corrupt(format!("cannot decode the tables: {e}")))?;
    if !rest.is_empty() {
        return Err(Error::Corrupt(format!(
            "{} stray bytes after the tables",
            rest.len()
        )));
    }
    wire.into_snapshot()
}

/// Writes `snapshot` to the file at `path`, atomically and privately: it is
/// written to a new temporary file beside it (mode 0600, never a name that
/// exists, so never through a planted link) and renamed into place, so a
/// reader (or a crash) never sees half a snapshot, and an existing file is
/// only replaced whole. See the rules in [`files`](crate::files).
pub fn write_file(snapshot: &Snapshot, path: &Path) -> Result<u64, Error> {
    crate::files::write_new(path, |f| write(snapshot, io::BufWriter::new(f)))
}

/// Reads the snapshot file at `path`.
pub fn read_file(path: &Path) -> Result<Snapshot, Error> {
    read(io::BufReader::new(std::fs::File::open(path)?))
}

struct Header {
    payload_len: u64,
    raw_len: u64,
    crc: u32,
}

fn read_header(input: &mut impl Read) -> Result<Header, Error> {
    let mut header = [0u8; HEADER_LEN];
    let got = read_up_to(input, &mut header)?;
    if got < MAGIC.len() || header[..8] != MAGIC {
        return Err(Error::NotASnapshot);
    }
    if got < HEADER_LEN {
        return Err(Error::Truncated {
            expected: HEADER_LEN as u64,
            found: got as u64,
        });
    }
    let version = u16::from_le_bytes([header[8], header[9]]);
    if version > VERSION {
        return Err(Error::TooNew {
            found: version,
            supported: VERSION,
        });
    }
    if version < OLDEST_READABLE {
        return Err(Error::TooOld {
            found: version,
            oldest: OLDEST_READABLE,
        });
    }
    if header[10..12] != [0, 0] {
        return Err(Error::Corrupt("reserved header bytes are not zero".into()));
    }
    let le = |r: std::ops::Range<usize>| u64::from_le_bytes(header[r].try_into().expect("8 bytes"));
    let (payload_len, raw_len) = (le(12..20), le(20..28));
    let crc = u32::from_le_bytes(header[28..32].try_into().expect("4 bytes"));
    if raw_len > MAX_PAYLOAD {
        return Err(Error::Corrupt(format!(
            "the header claims {raw_len} bytes of tables, more than the {MAX_PAYLOAD} accepted"
        )));
    }
    Ok(Header {
        payload_len,
        raw_len,
        crc,
    })
}

/// Reads exactly `len` bytes, growing the buffer only as data arrives (a
/// hostile length cannot make the reader allocate memory the file lacks).
fn read_exactly(input: &mut impl Read, len: u64) -> Result<Vec<u8>, Error> {
    let mut buf = Vec::new();
    let got = input.take(len).read_to_end(&mut buf)? as u64;
    if got < len {
        return Err(Error::Truncated {
            expected: len,
            found: got,
        });
    }
    Ok(buf)
}

fn decompress(payload: &[u8], raw_len: u64) -> Result<Vec<u8>, Error> {
    let decoder = zstd::stream::read::Decoder::with_buffer(payload)
        .map_err(|e| Error::Corrupt(format!("bad compressed data: {e}")))?;
    // One byte more than announced, to notice a payload that is longer.
    let mut raw = Vec::new();
    decoder
        .take(raw_len + 1)
        .read_to_end(&mut raw)
        .map_err(|e| Error::Corrupt(format!("bad compressed data: {e}")))?;
    if raw.len() as u64 != raw_len {
        return Err(Error::Corrupt(format!(
            "the tables decompress to {} bytes, the header says {raw_len}",
            raw.len()
        )));
    }
    Ok(raw)
}

/// Like `read_exact`, but reports how much it got instead of failing.
fn read_up_to(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A payload whose first vector (the build id) claims 2^62 elements: the
    /// reader must fail on the missing data, not try to allocate them.
    #[test]
    fn hostile_inner_lengths_fail_without_allocating() {
        let mut raw = vec![0u8, 0u8]; // pid, exe
        raw.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x3F]);
        raw.extend_from_slice(&[1, 2, 3]);
        let mut file = Vec::new();
        frame(&raw, &mut file).unwrap();
        match read(&file[..]) {
            Err(Error::Corrupt(why)) => assert!(why.contains("decode"), "{why}"),
            other => panic!("expected a decode error, got {other:?}"),
        }
    }

    #[test]
    fn stray_bytes_after_the_tables_are_refused() {
        let mut raw = postcard::to_stdvec(&Wire::from_snapshot(&Snapshot::default())).unwrap();
        raw.push(0);
        let mut file = Vec::new();
        frame(&raw, &mut file).unwrap();
        assert!(matches!(read(&file[..]), Err(Error::Corrupt(why)) if why.contains("stray")));
    }
}
