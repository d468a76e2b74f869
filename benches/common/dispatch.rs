//! The dispatching global allocator of the benches that compare allocators
//! (`overhead`, `service`), and the checks a child runs on it.
//!
//! The global allocator is fixed per binary, so a bench's binary uses
//! `Dispatch`, which forwards to one allocator chosen once, at the first
//! allocation, from `TW_BENCH_ALLOC`:
//!
//! | value                | allocator                              |
//! |----------------------|----------------------------------------|
//! | `system` (default)   | `std::alloc::System` (glibc's malloc)  |
//! | `turbowish`          | `TurboWish::system()`                  |
//! | `jemalloc`           | `tikv_jemallocator::Jemalloc`          |
//! | `turbowish-jemalloc` | `TurboWish::new(Jemalloc)`             |
//! | `dhat`               | `dhat::Alloc`                          |
//!
//! Each variant then runs in a child process: the bench re-runs its own
//! executable with [`CHILD_VAR`] and the variant's environment
//! ([`configure`]). The dispatch (one load and branch) is paid by every
//! variant, the baselines included.
//!
//! # Rules
//!
//! 1. The choice is made before the first block is allocated and never
//!    changes, so every block is freed by the allocator that made it.
//! 2. A child proves it runs what it was asked for ([`check_child`]): the
//!    dispatch matches `TW_BENCH_ALLOC`; glibc's malloc serves a fresh 1 MiB
//!    block exactly when the variant is built on it (so jemalloc really
//!    serves the jemalloc variants); and TurboWish's settings are those of
//!    `TURBOWISH_STACK`.
//! 3. A stack mode this build of TurboWish does not know is *unsupported*,
//!    not an error: TurboWish warns on stderr ([`rejected_setting`] finds the
//!    line) and falls back to `fp`, and the child exits with
//!    [`UNSUPPORTED_EXIT`]. The parent may then skip an optional variant,
//!    saying so, but never reports a figure for it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::process::Command;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use tikv_jemallocator::Jemalloc;
use turbowish::TurboWish;

/// Set (to anything) in a child's environment.
pub const CHILD_VAR: &str = "TW_BENCH_CHILD";

/// A child's exit status when its TurboWish stack mode is unsupported (rule 3).
pub const UNSUPPORTED_EXIT: i32 = 3;

/// Which allocator this process uses. `Unset` only until the first allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    Unset = 0,
    System = 1,
    TurboWish = 2,
    Dhat = 3,
    Jemalloc = 4,
    TurboWishJemalloc = 5,
}

impl Mode {
    /// The mode a `TW_BENCH_ALLOC` value names.
    fn parse(value: &[u8]) -> Option<Mode> {
        match value {
            b"system" => Some(Mode::System),
            b"turbowish" => Some(Mode::TurboWish),
            b"dhat" => Some(Mode::Dhat),
            b"jemalloc" => Some(Mode::Jemalloc),
            b"turbowish-jemalloc" => Some(Mode::TurboWishJemalloc),
            _ => None,
        }
    }

    /// TurboWish tracks the blocks.
    pub fn tracks(self) -> bool {
        matches!(self, Mode::TurboWish | Mode::TurboWishJemalloc)
    }

    /// glibc's malloc serves the blocks (rule 2).
    fn on_glibc(self) -> bool {
        matches!(self, Mode::System | Mode::TurboWish | Mode::Dhat)
    }
}

/// The mode, as a `Mode` discriminant. Written once (possibly by two threads
/// racing to the first allocation, which compute the same value).
static MODE: AtomicU8 = AtomicU8::new(Mode::Unset as u8);
static TURBOWISH: TurboWish = TurboWish::system();
static TURBOWISH_JEMALLOC: TurboWish<Jemalloc> = TurboWish::new(Jemalloc);
static DHAT: dhat::Alloc = dhat::Alloc;

/// Forwards every call to the allocator named by `TW_BENCH_ALLOC`.
struct Dispatch;

#[global_allocator]
static ALLOC: Dispatch = Dispatch;

/// The allocator this process dispatches to.
#[inline(always)]
pub fn mode() -> Mode {
    match MODE.load(Relaxed) {
        1 => Mode::System,
        2 => Mode::TurboWish,
        3 => Mode::Dhat,
        4 => Mode::Jemalloc,
        5 => Mode::TurboWishJemalloc,
        _ => choose_mode(),
    }
}

/// Reads `TW_BENCH_ALLOC` with `libc::getenv`: `std::env` takes a lock and
/// allocates, neither of which an allocator may do.
#[cold]
fn choose_mode() -> Mode {
    // SAFETY: the name is NUL-terminated; getenv neither allocates nor locks
    // in glibc, and nothing in these benches calls setenv.
    let p = unsafe { libc::getenv(c"TW_BENCH_ALLOC".as_ptr()) };
    let value = if p.is_null() {
        &b""[..]
    } else {
        // SAFETY: getenv returned a NUL-terminated string in the environment.
        unsafe { std::ffi::CStr::from_ptr(p) }.to_bytes()
    };
    // An unknown name runs on System; `check_child` rejects it.
    let m = Mode::parse(value).unwrap_or(Mode::System);
    MODE.store(m as u8, Relaxed);
    m
}

/// Forwards one call to the allocator of the current mode.
macro_rules! dispatch {
    ($method:ident($($arg:expr),*)) => {
        match mode() {
            Mode::TurboWish => TURBOWISH.$method($($arg),*),
            Mode::TurboWishJemalloc => TURBOWISH_JEMALLOC.$method($($arg),*),
            Mode::Jemalloc => Jemalloc.$method($($arg),*),
            Mode::Dhat => DHAT.$method($($arg),*),
            _ => System.$method($($arg),*),
        }
    };
}

// SAFETY: each method passes its arguments unchanged to one allocator and
// returns its result unchanged. The mode is fixed before the first block is
// allocated and never changes (rule 1), so every block is freed or resized
// by the allocator that made it.
unsafe impl GlobalAlloc for Dispatch {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is forwarded unchanged.
        unsafe { dispatch!(alloc(layout)) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is forwarded unchanged.
        unsafe { dispatch!(alloc_zeroed(layout)) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from the same allocator (the mode never changes).
        unsafe { dispatch!(dealloc(ptr, layout)) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from the same allocator (the mode never changes).
        unsafe { dispatch!(realloc(ptr, layout, new_size)) }
    }
}

// ---------------------------------------------------------------------------
// Parent side.

/// Sets a child's environment: the allocator, TurboWish's stack mode (its
/// depth left at the default), and the child marker.
pub fn configure(cmd: &mut Command, alloc: &str, stack: &str) {
    cmd.env(CHILD_VAR, "1")
        .env("TW_BENCH_ALLOC", alloc)
        .env("TURBOWISH_STACK", stack)
        .env_remove("TURBOWISH_DEPTH");
}

/// The line of a child's stderr where TurboWish rejected one of its
/// settings, if any (rule 3).
pub fn rejected_setting(stderr: &str) -> Option<&str> {
    stderr
        .lines()
        .find(|l| l.starts_with("turbowish: TURBOWISH_"))
}

// ---------------------------------------------------------------------------
// Child side.

/// Why a child does not run what it was asked for.
#[derive(Debug)]
pub enum Mismatch {
    /// This build of TurboWish does not know the stack mode (rule 3).
    Unsupported(String),
    /// Anything else: a bench bug.
    Wrong(String),
}

impl Mismatch {
    /// Prints the reason and exits with the status the parent expects.
    pub fn exit(self, who: &str) -> ! {
        match self {
            Mismatch::Unsupported(why) => {
                eprintln!("{who}: unsupported: {why}");
                std::process::exit(UNSUPPORTED_EXIT)
            }
            Mismatch::Wrong(why) => {
                eprintln!("{who}: {why}");
                std::process::exit(1)
            }
        }
    }
}

/// Checks rule 2: the allocator and TurboWish settings are those asked for.
pub fn check_child() -> Result<(), Mismatch> {
    let want = std::env::var("TW_BENCH_ALLOC").unwrap_or_default();
    let expected = Mode::parse(want.as_bytes())
        .ok_or_else(|| Mismatch::Wrong(format!("unknown TW_BENCH_ALLOC={want:?}")))?;
    let got = mode();
    if got != expected {
        return Err(Mismatch::Wrong(format!(
            "asked for {want}, dispatching to {got:?}"
        )));
    }
    if glibc_serves() != got.on_glibc() {
        return Err(Mismatch::Wrong(format!(
            "{got:?}: glibc's malloc {} a fresh 1 MiB block",
            if got.on_glibc() {
                "did not serve"
            } else {
                "served"
            }
        )));
    }
    if got.tracks() {
        check_stack_mode()?;
    }
    Ok(())
}

/// Whether glibc's malloc serves a fresh block of 1 MiB: its count of bytes
/// in use (arenas and mapped chunks, all arenas) grows by that much.
fn glibc_serves() -> bool {
    // SAFETY: mallinfo2 only reads glibc's malloc state, under its locks.
    let in_use = || unsafe {
        let m = libc::mallinfo2();
        m.uordblks + m.hblkhd
    };
    const SIZE: usize = 1 << 20;
    let before = in_use();
    let block = black_box(vec![1u8; SIZE]);
    let after = in_use();
    drop(block);
    after >= before + SIZE
}

/// TurboWish's stack mode is the one `TURBOWISH_STACK` names: `off`, `fp`,
/// or any other mode by name (`sampled:BYTES` is `sampled`), found in the
/// settings' debug form, so that a mode this bench predates still checks.
fn check_stack_mode() -> Result<(), Mismatch> {
    let asked = std::env::var("TURBOWISH_STACK").unwrap_or_default();
    let name = asked.split(':').next().unwrap_or("").trim().to_lowercase();
    let expect = match name.as_str() {
        "off" => "stack: off".to_owned(),
        "fp" => "stack: framepointer".to_owned(),
        other => other.to_owned(),
    };
    let settings = turbowish::settings();
    let shown = format!("{settings:?}").to_lowercase();
    if name.is_empty() || !shown.contains(&expect) {
        return Err(Mismatch::Unsupported(format!(
            "TURBOWISH_STACK={asked:?} but TurboWish runs with {settings:?}"
        )));
    }
    Ok(())
}
