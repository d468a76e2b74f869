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
//! The payload is the postcard encoding of the columnar tables in the
//! `columns` module. The reader trusts nothing, and a hostile file costs it
//! little time and memory. Rules of the read side:
//!
//! 1. **Regular files only.** [`read_file`] opens without blocking
//!    (`O_NONBLOCK`, so a FIFO with no writer cannot hang it; `O_NOCTTY`, so
//!    a terminal never becomes the controlling one), refuses anything but a
//!    regular file from the open file's own `fstat` (no race with a rename),
//!    then clears `O_NONBLOCK`.
//! 2. **The header is checked before the payload is read:** magic, version,
//!    reserved field, and a decompressed size within the limit. By default
//!    the limit is [`MAX_RATIO`] times the compressed size (real snapshots
//!    compress 2 to 8 times), at least [`MIN_LIMIT`] and at most
//!    [`MAX_PAYLOAD`]: a decompression bomb is refused before a byte of it is
//!    decompressed. [`ReadOptions::max_size`] replaces the limit for a
//!    legitimately huge (or strangely regular) snapshot.
//! 3. **The payload is read only as far as the file holds it**, never into a
//!    buffer sized from the header, and its CRC is checked before it is
//!    decompressed (a damaged bit is reported as damage).
//! 4. **The tables are decoded as they are decompressed**, never more than
//!    the header announces and never the whole decompressed payload at once
//!    (the `stream` module), and checked table by table as they arrive (the
//!    `columns` module).
//! 5. **The frame ends exactly where the header says**, and the tables end
//!    exactly where the frame does.

use crate::columns::Wire;
use crate::model::Snapshot;
use crate::stream::Source;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

/// The first eight bytes of every snapshot file.
pub const MAGIC: [u8; 8] = *b"TWSNAP\r\n";
/// The format version this crate writes, and the newest it reads.
pub const VERSION: u16 = 8;
/// The oldest format version this crate reads.
///
/// Version 2 added tasks, typed edges and labels, type names and containers;
/// version 1 files (no task data) are refused rather than half-read.
/// Version 3 added [`EdgeKind::Shared`](crate::EdgeKind::Shared); a version
/// 2 file reads as it is (it has no shared edges, only typed ones).
/// Version 4 added tasks found from tokio's task cells (the task kind, cell,
/// boxed future and reference count, [`TaskState::Notified`](crate::TaskState::Notified))
/// and the capture's cell figures; older files read with those empty.
/// Version 5 added the wake edge kinds ([`EdgeKind::Waker`](crate::EdgeKind::Waker),
/// [`JoinHandle`](crate::EdgeKind::JoinHandle), [`Waiter`](crate::EdgeKind::Waiter))
/// and roots' per-target kinds; older files read with every pointer
/// conservative.
/// Version 6 added [`Capture::stack_sample_bytes`](crate::Capture::stack_sample_bytes)
/// (sampled stacks); older files read as 0, every block with its stack.
/// Version 7 added [`Block::stack_certain`](crate::Block::stack_certain)
/// (blocks with their stack whatever the sample); older files read with it
/// false.
/// Version 8 added where the resident memory goes
/// ([`Capture::resident_bytes`](crate::Capture::resident_bytes), the
/// allocator's figures, TurboWish's own); older files read with them
/// unknown.
pub const OLDEST_READABLE: u16 = 2;
/// Largest decompressed payload the reader accepts by default (64 GiB),
/// whatever the compressed size.
pub const MAX_PAYLOAD: u64 = 64 << 30;
/// Largest ratio of decompressed to compressed payload size the reader
/// accepts by default. Real snapshots compress 2 to 8 times (the most
/// regular one seen, a heap of thousands of identical tasks, 41 times); a
/// decompression bomb, thousands of times.
pub const MAX_RATIO: u64 = 64;
/// Decompressed payload size the reader accepts by default whatever the
/// ratio (1 MiB), so a small snapshot that compresses well is read. Tables
/// of that size hold at most about 24 MiB once read (a million empty
/// strings), whatever the file.
pub const MIN_LIMIT: u64 = 1 << 20;
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
    /// The header announces more decompressed data than the reader accepts
    /// (see [`ReadOptions`]): a decompression bomb, or a snapshot so large or
    /// so regular that the limit must be raised to read it.
    TooLarge {
        /// Decompressed size the header announces.
        size: u64,
        /// Compressed size of the payload.
        compressed: u64,
        /// The limit it exceeds.
        limit: u64,
    },
    /// The path names something other than a regular file (a FIFO, a
    /// directory, a device, a socket): it is refused before reading.
    NotAFile(&'static str),
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
            Error::TooLarge {
                size,
                compressed,
                limit,
            } => write!(
                f,
                "the snapshot's tables would decompress to {size} bytes, {} times their \
                 {compressed} compressed bytes, more than the {limit} bytes accepted",
                size / (*compressed).max(1)
            ),
            Error::NotAFile(kind) => write!(f, "it is {kind}, not a regular file"),
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
    frame(&encode_tables(snapshot)?, out)
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

/// How much a reader accepts (rule 2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// The largest decompressed payload to accept, in bytes, whatever the
    /// compression ratio. `None`: [`MAX_RATIO`] times the compressed size, at
    /// least [`MIN_LIMIT`] and at most [`MAX_PAYLOAD`].
    pub max_size: Option<u64>,
}

impl ReadOptions {
    /// The largest decompressed size accepted for `compressed` bytes of payload.
    pub fn limit(&self, compressed: u64) -> u64 {
        self.max_size.unwrap_or_else(|| {
            compressed
                .saturating_mul(MAX_RATIO)
                .clamp(MIN_LIMIT, MAX_PAYLOAD)
        })
    }
}

/// Reads a snapshot from `input`, with the default limits.
pub fn read(input: impl Read) -> Result<Snapshot, Error> {
    read_with(input, &ReadOptions::default())
}

/// Reads a snapshot from `input`, accepting what `options` allow.
pub fn read_with(mut input: impl Read, options: &ReadOptions) -> Result<Snapshot, Error> {
    let header = read_header(&mut input, options)?;
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
    let decoder = zstd::stream::read::Decoder::with_buffer(&payload[..])
        .map_err(|e| Error::Corrupt(format!("bad compressed data: {e}")))?;
    let snapshot = decode(Source::new(decoder, header.raw_len), header.version)?;
    check_kinds(&snapshot, header.version)?;
    Ok(snapshot)
}

/// Refuses edge kinds and task states newer than the file's version says
/// it holds.
fn check_kinds(snapshot: &Snapshot, version: u16) -> Result<(), Error> {
    let shared = |e: &crate::Edge| e.kind == crate::EdgeKind::Shared;
    if version < 3 && snapshot.edges.iter().any(shared) {
        return Err(Error::Corrupt(format!(
            "a version {version} file holds shared edges, which version 3 added"
        )));
    }
    let wake = |k: &crate::EdgeKind| k.is_wake();
    let wake_kinds = snapshot.edges.iter().map(|e| &e.kind);
    let wake_kinds = wake_kinds.chain(snapshot.roots.iter().flat_map(|r| &r.kinds));
    if version < 5 && wake_kinds.clone().any(wake) {
        return Err(Error::Corrupt(format!(
            "a version {version} file holds waker, join handle or waiter pointers, \
             which version 5 added"
        )));
    }
    let notified = |t: &crate::Task| t.state == crate::TaskState::Notified;
    if version < 4 && snapshot.tasks.iter().any(notified) {
        return Err(Error::Corrupt(format!(
            "a version {version} file holds notified tasks, which version 4 added"
        )));
    }
    Ok(())
}

/// Decodes the tables from `src` and checks that they end exactly where the
/// decompressed data does, at the length the header announced (rule 5).
fn decode(mut src: Source<impl Read>, version: u16) -> Result<Snapshot, Error> {
    let limit = src.limit();
    let snapshot = crate::columns::decode(&mut src, version)?;
    let (total, stray) = src.finish()?;
    if total != limit {
        let more = if total > limit { "more than " } else { "" };
        return Err(Error::Corrupt(format!(
            "the tables decompress to {more}{total} bytes, the header says {limit}"
        )));
    }
    if stray > 0 {
        return Err(Error::Corrupt(format!(
            "{stray} stray bytes after the tables"
        )));
    }
    Ok(snapshot)
}

/// Decodes and checks decompressed tables, as [`read`] does after the
/// header and decompression. For the fuzzer.
#[doc(hidden)]
pub fn read_tables(raw: &[u8]) -> Result<Snapshot, Error> {
    decode(Source::new(raw, raw.len() as u64), VERSION)
}

/// The decompressed tables of `snapshot`, as [`write`] compresses them
/// (public for the fuzzer).
#[doc(hidden)]
pub fn encode_tables(snapshot: &Snapshot) -> Result<Vec<u8>, Error> {
    crate::validate::check(snapshot).map_err(Error::Invalid)?;
    postcard::to_stdvec(&Wire::from_snapshot(snapshot))
        .map_err(|e| Error::Invalid(format!("cannot encode: {e}")))
}

/// Writes `snapshot` to the file at `path`, atomically and privately: it is
/// written to a new temporary file beside it (mode 0600, never a name that
/// exists, so never through a planted link) and renamed into place, so a
/// reader (or a crash) never sees half a snapshot, and an existing file is
/// only replaced whole. See the rules in [`files`](crate::files).
pub fn write_file(snapshot: &Snapshot, path: &Path) -> Result<u64, Error> {
    crate::files::write_new(path, |f| write(snapshot, io::BufWriter::new(f)))
}

/// Reads the snapshot file at `path`, with the default limits.
pub fn read_file(path: &Path) -> Result<Snapshot, Error> {
    read_file_with(path, &ReadOptions::default())
}

/// Reads the snapshot file at `path`, accepting what `options` allow. Only
/// a regular file is read (rule 1).
pub fn read_file_with(path: &Path, options: &ReadOptions) -> Result<Snapshot, Error> {
    read_with(io::BufReader::new(open_regular(path)?), options)
}

/// Opens `path` for reading if it is a regular file (rule 1).
fn open_regular(path: &Path) -> Result<File, Error> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let kind = file.metadata()?.file_type();
    if !kind.is_file() {
        return Err(Error::NotAFile(kind_name(kind)));
    }
    set_blocking(&file)?;
    Ok(file)
}

/// What a file that is not a regular file is, for errors.
fn kind_name(kind: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else {
        "a special file"
    }
}

/// Clears `O_NONBLOCK` on `file`.
fn set_blocking(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: `fd` is an open descriptor owned by `file`, which outlives the
    // call; F_GETFL reads its status flags and touches no memory.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above; F_SETFL only changes the descriptor's status flags.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

struct Header {
    payload_len: u64,
    raw_len: u64,
    crc: u32,
    version: u16,
}

fn read_header(input: &mut impl Read, options: &ReadOptions) -> Result<Header, Error> {
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
    check_version(version)?;
    if header[10..12] != [0, 0] {
        return Err(Error::Corrupt("reserved header bytes are not zero".into()));
    }
    let le = |r: std::ops::Range<usize>| u64::from_le_bytes(header[r].try_into().expect("8 bytes"));
    let (payload_len, raw_len) = (le(12..20), le(20..28));
    let crc = u32::from_le_bytes(header[28..32].try_into().expect("4 bytes"));
    let limit = options.limit(payload_len);
    if raw_len > limit {
        return Err(Error::TooLarge {
            size: raw_len,
            compressed: payload_len,
            limit,
        });
    }
    Ok(Header {
        payload_len,
        raw_len,
        crc,
        version,
    })
}

fn check_version(version: u16) -> Result<(), Error> {
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
    Ok(())
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
