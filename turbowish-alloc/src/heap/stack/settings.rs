//! The stack settings, read once from the environment.
//!
//! | variable | values | default |
//! |----------|--------|---------|
//! | `TURBOWISH_STACK` | `fp` (frame-pointer walk), `dwarf` (unwind tables), `off` | `fp` |
//! | `TURBOWISH_DEPTH` | 1 to 64 return addresses per stack | 32 |
//!
//! They are read at the first tracked allocation (by the first-use
//! initialisation, `crate::init`), which may come before `main`, from inside
//! the allocator. So this module uses `libc::getenv` (no `std::env` lock, no
//! allocation) and reports a bad value as one line written straight to file
//! descriptor 2 (stderr rules 1 and 2), then uses the default. It never
//! panics.

use crate::heap::stack::walk::{MAX_DEPTH, StackMode};
use crate::stderr::warn_value;
use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

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

static MODE: AtomicU8 = AtomicU8::new(0);
static DEPTH: AtomicUsize = AtomicUsize::new(DEFAULT_DEPTH);

/// Makes `s` the settings in force. Called once, by the first-use
/// initialisation, before it marks the settings ready (with `Release`).
pub(crate) fn publish(s: Settings) {
    MODE.store(
        match s.stack {
            StackMode::FramePointer => 0,
            StackMode::Dwarf => 1,
            StackMode::Off => 2,
        },
        Ordering::Relaxed,
    );
    DEPTH.store(s.depth, Ordering::Relaxed);
}

/// The settings [`publish`] stored (the defaults before it ran); read them
/// through `crate::init`, which publishes them first.
#[inline]
pub(crate) fn published() -> Settings {
    Settings {
        stack: match MODE.load(Ordering::Relaxed) {
            1 => StackMode::Dwarf,
            2 => StackMode::Off,
            _ => StackMode::FramePointer,
        },
        depth: DEPTH.load(Ordering::Relaxed),
    }
}

/// The settings the environment asks for; a bad value gives one line on
/// stderr and the default.
pub(crate) fn from_env() -> Settings {
    let mut s = DEFAULT;
    if let Some(v) = getenv(c"TURBOWISH_STACK") {
        match parse_stack(v) {
            Ok(mode) => s.stack = mode,
            Err(()) => warn_value(
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
                warn_value("TURBOWISH_DEPTH", v, "is above the maximum; using 64");
                s.depth = MAX_DEPTH;
            }
            Err(DepthError::Invalid) => warn_value(
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
