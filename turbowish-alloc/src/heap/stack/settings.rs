//! Settings read once from the environment.
//!
//! | variable | values | default |
//! |----------|--------|---------|
//! | `TURBOWISH_STACK` | `fp` (frame-pointer walk), `dwarf` (unwind tables), `off` | `fp` |
//! | `TURBOWISH_DEPTH` | 1 to 64 return addresses per stack | 32 |
//!
//! They are read at the first tracked allocation, which may come before
//! `main`, from inside the allocator. So this module uses `libc::getenv`
//! (no `std::env` lock, no allocation) and reports a bad value as one line
//! written straight to file descriptor 2, then uses the default. It never
//! panics.
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

use crate::heap::stack::walk::MAX_DEPTH;
use core::fmt::{self, Write as _};
use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

/// How TurboWish captures the call stack of each allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackMode {
    /// Walk the frame-pointer chain (`TURBOWISH_STACK=fp`, the default): a few
    /// nanoseconds per frame. Needs code built with frame pointers.
    FramePointer,
    /// Unwind with DWARF call-frame information (`TURBOWISH_STACK=dwarf`):
    /// works without frame pointers, at 100 ns or more per frame.
    Dwarf,
    /// Record no stacks (`TURBOWISH_STACK=off`): the cheapest mode; blocks
    /// still carry their size and task.
    Off,
}

/// The allocation-tracking settings in force, from [`settings`](crate::settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// How stacks are captured.
    pub stack: StackMode,
    /// At most this many return addresses are kept per stack.
    pub depth: usize,
}

/// Default number of frames per stack.
pub const DEFAULT_DEPTH: usize = 32;
const DEFAULT: Settings = Settings {
    stack: StackMode::FramePointer,
    depth: DEFAULT_DEPTH,
};

const UNREAD: u8 = 0;
const READING: u8 = 1;
const READY: u8 = 2;
static STATE: AtomicU8 = AtomicU8::new(UNREAD);
static MODE: AtomicU8 = AtomicU8::new(0);
static DEPTH: AtomicUsize = AtomicUsize::new(DEFAULT_DEPTH);

/// The settings, reading the environment on first call.
#[inline]
pub(crate) fn get() -> Settings {
    if STATE.load(Ordering::Acquire) != READY {
        init();
    }
    Settings {
        stack: match MODE.load(Ordering::Relaxed) {
            1 => StackMode::Dwarf,
            2 => StackMode::Off,
            _ => StackMode::FramePointer,
        },
        depth: DEPTH.load(Ordering::Relaxed),
    }
}

#[cold]
fn init() {
    if STATE
        .compare_exchange(UNREAD, READING, Ordering::Acquire, Ordering::Acquire)
        .is_err()
    {
        // Another thread is reading: parsing takes microseconds.
        while STATE.load(Ordering::Acquire) != READY {
            // SAFETY: sched_yield has no preconditions.
            unsafe { libc::sched_yield() };
        }
        return;
    }
    let s = from_env();
    MODE.store(
        match s.stack {
            StackMode::FramePointer => 0,
            StackMode::Dwarf => 1,
            StackMode::Off => 2,
        },
        Ordering::Relaxed,
    );
    DEPTH.store(s.depth, Ordering::Relaxed);
    STATE.store(READY, Ordering::Release);
    // First-use initialisation of the rest of the runtime.
    crate::snapshot::atfork::register();
}

fn from_env() -> Settings {
    let mut s = DEFAULT;
    if let Some(v) = getenv(c"TURBOWISH_STACK") {
        match parse_stack(v) {
            Ok(mode) => s.stack = mode,
            Err(()) => warn(
                "TURBOWISH_STACK",
                v,
                "is not one of fp, dwarf, off; using fp",
            ),
        }
    }
    if let Some(v) = getenv(c"TURBOWISH_DEPTH") {
        match parse_depth(v) {
            Ok(d) => s.depth = d,
            Err(DepthError::TooDeep) => {
                warn("TURBOWISH_DEPTH", v, "is above the maximum; using 64");
                s.depth = MAX_DEPTH;
            }
            Err(DepthError::Invalid) => warn(
                "TURBOWISH_DEPTH",
                v,
                "is not a number from 1 to 64; using 32",
            ),
        }
    }
    s
}

/// The value of an environment variable, unless unset or empty.
fn getenv(name: &core::ffi::CStr) -> Option<&'static [u8]> {
    // SAFETY: `name` is NUL-terminated. getenv takes no lock in glibc; the
    // returned string lives in the environment block, which TurboWish reads
    // once at start-up, before the program could have changed it.
    let p = unsafe { libc::getenv(name.as_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: getenv returned a valid NUL-terminated string.
    let v = unsafe { core::ffi::CStr::from_ptr(p) }.to_bytes();
    (!v.trim_ascii().is_empty()).then_some(v)
}

pub(crate) fn parse_stack(v: &[u8]) -> Result<StackMode, ()> {
    let v = v.trim_ascii();
    if v.eq_ignore_ascii_case(b"fp") {
        Ok(StackMode::FramePointer)
    } else if v.eq_ignore_ascii_case(b"dwarf") {
        Ok(StackMode::Dwarf)
    } else if v.eq_ignore_ascii_case(b"off") {
        Ok(StackMode::Off)
    } else {
        Err(())
    }
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DepthError {
    Invalid,
    TooDeep,
}

pub(crate) fn parse_depth(v: &[u8]) -> Result<usize, DepthError> {
    let v = v.trim_ascii();
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return Err(DepthError::Invalid);
    }
    let n = v.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    match n {
        0 => Err(DepthError::Invalid),
        n if n > MAX_DEPTH as u64 => Err(DepthError::TooDeep),
        n => Ok(n as usize),
    }
}

/// Writes `turbowish: NAME="value" reason` as one line to stderr, without
/// allocating or locking (rules 1 and 2).
fn warn(name: &str, value: &[u8], reason: &str) {
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

    #[test]
    fn stack_modes_parse_case_insensitively_and_reject_the_rest() {
        assert_eq!(parse_stack(b"fp"), Ok(StackMode::FramePointer));
        assert_eq!(parse_stack(b" DWARF\n"), Ok(StackMode::Dwarf));
        assert_eq!(parse_stack(b"Off"), Ok(StackMode::Off));
        assert_eq!(parse_stack(b"frame"), Err(()));
        assert_eq!(parse_stack(b"\xff"), Err(()));
    }

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

    #[test]
    fn depths_are_bounded() {
        assert_eq!(parse_depth(b"1"), Ok(1));
        assert_eq!(parse_depth(b" 64 "), Ok(64));
        assert_eq!(parse_depth(b"65"), Err(DepthError::TooDeep));
        assert_eq!(
            parse_depth(b"99999999999999999999999"),
            Err(DepthError::Invalid)
        );
        assert_eq!(parse_depth(b"0"), Err(DepthError::Invalid));
        assert_eq!(parse_depth(b"-3"), Err(DepthError::Invalid));
        assert_eq!(parse_depth(b"3x"), Err(DepthError::Invalid));
    }
}
