//! The stack settings, read once from the environment.
//!
//! | variable | values | default |
//! |----------|--------|---------|
//! | `TURBOWISH_STACK` | `fp` (frame-pointer walk), `dwarf` (unwind tables), `off`, `sampled[:BYTES]` | `fp` |
//! | `TURBOWISH_DEPTH` | 1 to 64 return addresses per stack | 32 |
//!
//! `sampled` walks frame pointers for a Poisson sample of the allocated
//! bytes, one stack per BYTES on average (default 512 KiB; see
//! [`sample`](super::sample)); BYTES is a number of bytes from 1 to 1 TiB,
//! with an optional `K`, `KiB`, `M`, `MiB`, `G` or `GiB` (powers of 1024).
//! `sampled:` with a bad BYTES warns and uses the default mean.
//!
//! They are read at the first tracked allocation (by the first-use
//! initialisation, `crate::init`), which may come before `main`, from inside
//! the allocator. So this module uses `libc::getenv` (no `std::env` lock, no
//! allocation) and reports a bad value as one line written straight to file
//! descriptor 2 (stderr rules 1 and 2), then uses the default. It never
//! panics.

use crate::heap::stack::walk::{MAX_DEPTH, StackMode};
use crate::stderr::warn_value;
use core::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};

/// The allocation-tracking settings in force, from [`settings`](crate::settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// How stacks are captured.
    pub stack: StackMode,
    /// At most this many return addresses are kept per stack.
    pub depth: usize,
}

impl Settings {
    /// The mean of the stack sample in bytes, as snapshots record it
    /// (`Capture::stack_sample_bytes`): 0 unless stacks are sampled.
    pub(crate) fn sample_bytes(&self) -> u64 {
        match self.stack {
            StackMode::Sampled { mean_bytes } => mean_bytes,
            _ => 0,
        }
    }
}

/// Default number of frames per stack.
pub const DEFAULT_DEPTH: usize = 32;
/// Default mean of `TURBOWISH_STACK=sampled`: one stack per 512 KiB
/// allocated.
pub const DEFAULT_SAMPLE_BYTES: u64 = 512 << 10;
/// The largest mean `sampled:BYTES` takes (1 TiB).
const MAX_SAMPLE_BYTES: u64 = 1 << 40;
const DEFAULT: Settings = Settings {
    stack: StackMode::FramePointer,
    depth: DEFAULT_DEPTH,
};

static MODE: AtomicU8 = AtomicU8::new(0);
static DEPTH: AtomicUsize = AtomicUsize::new(DEFAULT_DEPTH);
static SAMPLE_BYTES: AtomicU64 = AtomicU64::new(DEFAULT_SAMPLE_BYTES);

/// Makes `s` the settings in force. Called once, by the first-use
/// initialisation, before it marks the settings ready (with `Release`).
pub(crate) fn publish(s: Settings) {
    let mode = match s.stack {
        StackMode::FramePointer => 0,
        StackMode::Dwarf => 1,
        StackMode::Off => 2,
        StackMode::Sampled { mean_bytes } => {
            SAMPLE_BYTES.store(mean_bytes, Ordering::Relaxed);
            3
        }
    };
    MODE.store(mode, Ordering::Relaxed);
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
            3 => StackMode::Sampled {
                mean_bytes: SAMPLE_BYTES.load(Ordering::Relaxed),
            },
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
            Err(StackError::Unknown) => warn_value(
                "TURBOWISH_STACK",
                v,
                "is not one of fp, dwarf, off, sampled[:BYTES]; using fp",
            ),
            Err(StackError::SampleBytes) => {
                warn_value(
                    "TURBOWISH_STACK",
                    v,
                    "does not give BYTES from 1 to 1TiB (such as sampled:64KiB); \
                     using sampled:512KiB",
                );
                s.stack = StackMode::Sampled {
                    mean_bytes: DEFAULT_SAMPLE_BYTES,
                };
            }
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

/// Why a `TURBOWISH_STACK` value was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum StackError {
    /// Not a mode at all.
    Unknown,
    /// `sampled:` followed by something other than a size in range.
    SampleBytes,
}

pub(crate) fn parse_stack(v: &[u8]) -> Result<StackMode, StackError> {
    let v = v.trim_ascii();
    let sampled = |mean_bytes| StackMode::Sampled { mean_bytes };
    if v.eq_ignore_ascii_case(b"fp") {
        Ok(StackMode::FramePointer)
    } else if v.eq_ignore_ascii_case(b"dwarf") {
        Ok(StackMode::Dwarf)
    } else if v.eq_ignore_ascii_case(b"off") {
        Ok(StackMode::Off)
    } else if v.eq_ignore_ascii_case(b"sampled") {
        Ok(sampled(DEFAULT_SAMPLE_BYTES))
    } else if v.len() >= 8 && v[..8].eq_ignore_ascii_case(b"sampled:") {
        parse_bytes(&v[8..]).map(sampled)
    } else {
        Err(StackError::Unknown)
    }
}

/// A byte count from 1 to [`MAX_SAMPLE_BYTES`]: digits, then an optional
/// binary unit (`K`, `KiB`, `KB`, `M`, ..., any case).
pub(crate) fn parse_bytes(v: &[u8]) -> Result<u64, StackError> {
    let v = v.trim_ascii();
    let digits = v.iter().take_while(|d| d.is_ascii_digit()).count();
    if digits == 0 || digits > 13 {
        return Err(StackError::SampleBytes);
    }
    let n = v[..digits]
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    let unit = v[digits..].trim_ascii_start();
    let shift = [
        "", "b", "k", "kb", "kib", "m", "mb", "mib", "g", "gb", "gib",
    ]
    .iter()
    .position(|u| unit.eq_ignore_ascii_case(u.as_bytes()))
    .map(|i| [0, 0, 10, 10, 10, 20, 20, 20, 30, 30, 30][i])
    .ok_or(StackError::SampleBytes)?;
    match n.checked_mul(1 << shift) {
        Some(bytes @ 1..=MAX_SAMPLE_BYTES) => Ok(bytes),
        _ => Err(StackError::SampleBytes),
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
        assert_eq!(parse_stack(b"frame"), Err(StackError::Unknown));
        assert_eq!(parse_stack(b"\xff"), Err(StackError::Unknown));
    }

    #[test]
    fn sampled_takes_an_optional_mean_in_bytes() {
        let sampled = |mean_bytes| Ok(StackMode::Sampled { mean_bytes });
        assert_eq!(parse_stack(b"sampled"), sampled(512 << 10));
        assert_eq!(parse_stack(b" Sampled "), sampled(512 << 10));
        assert_eq!(parse_stack(b"sampled:64KiB"), sampled(64 << 10));
        assert_eq!(parse_stack(b"sampled:64k"), sampled(64 << 10));
        assert_eq!(parse_stack(b"SAMPLED:2 MB"), sampled(2 << 20));
        assert_eq!(parse_stack(b"sampled:1gib"), sampled(1 << 30));
        assert_eq!(parse_stack(b"sampled:4096"), sampled(4096));
        assert_eq!(parse_stack(b"sampled:1"), sampled(1));
        assert_eq!(parse_stack(b"sampled:1024G"), sampled(1 << 40));
        let bad = Err(StackError::SampleBytes);
        for v in [
            &b"sampled:0"[..],
            b"sampled:0KiB",
            b"sampled:lots",
            b"sampled:64KiBs",
            b"sampled:-5",
            b"sampled:1025G",
            b"sampled:99999999999999999999",
            b"sampled: ",
            b"sampled:",
        ] {
            assert_eq!(parse_stack(v), bad, "{}", String::from_utf8_lossy(v));
        }
        assert_eq!(parse_stack(b"sampledx"), Err(StackError::Unknown));
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
