//! One-line warnings on stderr, written without allocating or locking.
//!
//! TurboWish warns from inside the global allocator, where nothing may
//! allocate or lock: a bad setting, or fork handlers that could not be
//! registered, at the first allocation (perhaps before `main`). Such a line
//! is formatted into a fixed buffer and written straight to file descriptor
//! 2. Lines printed elsewhere (the snapshot thread's reports) go through
//! `std::io::stderr`, but show values the same way, through [`Shown`].
//!
//! # Rules
//!
//! 1. Every warning TurboWish prints is exactly one line, whatever the value
//!    it quotes: values and paths are shown through [`Shown`], which escapes
//!    control characters, quotes and backslashes, and bytes that are not
//!    UTF-8 (`\n`, `\x1b`, `\xff`), and cuts values after
//!    [`SHOWN_BYTES`] bytes.
//! 2. Nothing here allocates: [`Shown`] formats through `core::fmt`, and a
//!    line is built in a fixed buffer that always ends in its newline.

use core::fmt::{self, Write as _};

/// Writes `turbowish: NAME="value" reason` as one line to stderr, without
/// allocating or locking (rules 1 and 2).
pub(crate) fn warn_value(name: &str, value: &[u8], reason: &str) {
    let mut line = LineBuf::default();
    let _ = write!(line, "turbowish: {name}={} {reason}", Shown::value(value));
    warn_bytes(line.finish());
}

/// Values longer than this are cut in warnings (rule 1).
pub(crate) const SHOWN_BYTES: usize = 200;

/// A value or path shown on one line (rule 1): `"value"`, or a bare path.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shown<'a> {
    bytes: &'a [u8],
    quoted: bool,
    limit: usize,
}

impl<'a> Shown<'a> {
    /// A value, in quotes, cut after [`SHOWN_BYTES`] bytes.
    pub(crate) fn value(bytes: &'a [u8]) -> Shown<'a> {
        Shown {
            bytes,
            quoted: true,
            limit: SHOWN_BYTES,
        }
    }

    /// A path, whole and without quotes (the path of a file written).
    pub(crate) fn path(path: &'a std::path::Path) -> Shown<'a> {
        use std::os::unix::ffi::OsStrExt;
        Shown {
            bytes: path.as_os_str().as_bytes(),
            quoted: false,
            limit: usize::MAX,
        }
    }
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cut = &self.bytes[..self.bytes.len().min(self.limit)];
        let quote = if self.quoted { "\"" } else { "" };
        f.write_str(quote)?;
        for chunk in cut.utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    '\\' | '"' => write!(f, "\\{c}")?,
                    '\n' => f.write_str("\\n")?,
                    '\r' => f.write_str("\\r")?,
                    '\t' => f.write_str("\\t")?,
                    c if c.is_control() && (c as u32) < 0x80 => write!(f, "\\x{:02x}", c as u32)?,
                    c if c.is_control() => write!(f, "\\u{{{:x}}}", c as u32)?,
                    c => f.write_char(c)?,
                }
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        if cut.len() < self.bytes.len() {
            write!(f, "...{quote} ({} bytes)", self.bytes.len())
        } else {
            f.write_str(quote)
        }
    }
}

/// Writes one preformatted line to stderr, without allocating or locking.
pub(crate) fn warn_line(line: &str) {
    warn_bytes(line.as_bytes());
}

fn warn_bytes(bytes: &[u8]) {
    // SAFETY: writes an initialised buffer of `bytes.len()` bytes to fd 2.
    unsafe {
        libc::write(2, bytes.as_ptr().cast(), bytes.len());
    }
}

/// A fixed buffer that `write!` fills without allocating (truncating), for
/// one line (rule 2).
struct LineBuf {
    buf: [u8; 1024],
    len: usize,
}

impl Default for LineBuf {
    fn default() -> Self {
        LineBuf {
            buf: [0; 1024],
            len: 0,
        }
    }
}

impl LineBuf {
    /// The line, ended by its newline (in the byte kept for it).
    fn finish(&mut self) -> &[u8] {
        self.buf[self.len] = b'\n';
        &self.buf[..=self.len]
    }
}

impl fmt::Write for LineBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len() - 1 - self.len; // keep one byte for '\n'
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(s: Shown<'_>) -> String {
        let mut line = LineBuf::default();
        write!(line, "{s}").unwrap();
        String::from_utf8(line.finish().to_vec()).unwrap()
    }

    #[test]
    fn shown_values_are_one_line_escaped_and_cut() {
        assert_eq!(shown(Shown::value(b"usr1")), "\"usr1\"\n");
        assert_eq!(
            shown(Shown::value(b"a\nb\rc\td\x1b[2J\x07\"q\"\\")),
            "\"a\\nb\\rc\\td\\x1b[2J\\x07\\\"q\\\"\\\\\"\n"
        );
        // UTF-8 is kept, C1 controls and bytes that are not UTF-8 escaped.
        assert_eq!(shown(Shown::value("é\u{85}".as_bytes())), "\"é\\u{85}\"\n");
        assert_eq!(shown(Shown::value(b"\xff\xc3")), "\"\\xff\\xc3\"\n");
        let long = [b'\n'; 5000];
        let line = shown(Shown::value(&long));
        assert_eq!(line.lines().count(), 1);
        assert!(line.ends_with("...\" (5000 bytes)\n"), "{line}");
        assert_eq!(line.matches("\\n").count(), SHOWN_BYTES);
        let path = std::path::Path::new("/tmp/new\nline/a \"b\".twsnap");
        assert_eq!(
            shown(Shown::path(path)),
            "/tmp/new\\nline/a \\\"b\\\".twsnap\n"
        );
    }

    #[test]
    fn a_full_line_still_ends_in_a_newline() {
        let mut line = LineBuf::default();
        write!(line, "{}", "x".repeat(5000)).unwrap();
        let bytes = line.finish();
        assert_eq!(bytes.len(), 1024);
        assert_eq!(bytes.last(), Some(&b'\n'));
    }
}
