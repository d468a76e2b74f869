//! Call-stack capture: a validating frame-pointer walker, a DWARF fallback,
//! or nothing.
//!
//! The frame-pointer walk reads `[fp]` (the caller's frame pointer) and
//! `[fp + 8]` (the return address) up the chain. Every frame pointer is checked
//! before it is read: it must lie between the stack pointer at the allocator's
//! entry and the top of the current thread's stack, be 8-aligned, leave room
//! for both words, and be strictly above the previous one (stacks grow down,
//! so callers' frames are higher). The first frame that fails any check ends
//! the walk; a function compiled without frame pointers therefore truncates
//! the stack instead of crashing the process.
//!
//! The lower bound is the live stack pointer, not the bottom that
//! `pthread_getattr_np` reports: for the main thread that bottom is derived
//! from `RLIMIT_STACK` and much of the range below the stack pointer may be
//! unmapped (entirely so under `ulimit -s unlimited`). Everything from the
//! stack pointer up to the top of the stack is mapped, and callers' frames all
//! lie in it.
//!
//! The DWARF fallback uses `backtrace::trace_unsynchronized`, never
//! `backtrace::trace`: the latter takes a process-wide lock, and a fork child
//! that found it held would hang.

use core::cell::Cell;
use core::mem::MaybeUninit;

/// The deepest stack TurboWish records.
pub const MAX_DEPTH: usize = 64;

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

/// Reads a register (or computes an address) with one instruction per
/// architecture; 0 on architectures TurboWish does not walk.
macro_rules! read_register {
    ($x86_64:literal, $aarch64:literal) => {{
        let value: usize;
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the instruction only writes `value`: no memory access, no
        // stack use, no flags.
        unsafe {
            core::arch::asm!($x86_64, out(reg) value, options(nomem, nostack, preserves_flags));
        }
        #[cfg(target_arch = "aarch64")]
        // SAFETY: as above.
        unsafe {
            core::arch::asm!($aarch64, out(reg) value, options(nomem, nostack, preserves_flags));
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        {
            value = 0;
        }
        value
    }};
}

/// The frame pointer of the calling function (after inlining).
#[inline(always)]
pub(crate) fn frame_pointer() -> usize {
    read_register!("mov {}, rbp", "mov {}, x29")
}

/// The stack pointer of the calling function (after inlining).
#[inline(always)]
pub(crate) fn stack_pointer() -> usize {
    read_register!("mov {}, rsp", "mov {}, sp")
}

/// The address of the current instruction (after inlining).
#[inline(always)]
pub(crate) fn program_counter() -> usize {
    read_register!("lea {}, [rip]", "adr {}, .")
}

/// Where the allocator shim was entered: its frame pointer, stack pointer and
/// program counter, read by the (always inlined) shim itself.
///
/// The shim is usually inlined all the way into the function that allocates,
/// and then `fp` is *that function's* frame: the walk from `fp` starts at its
/// caller, and the allocating function appears only through `pc`. When the
/// shim was not inlined, `pc` lies in the allocator entry point instead, which
/// analysis skips like any allocator frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin {
    pub(crate) fp: usize,
    pub(crate) sp: usize,
    pub(crate) pc: usize,
}

impl Origin {
    #[inline(always)]
    pub(crate) fn here() -> Origin {
        Origin {
            fp: frame_pointer(),
            sp: stack_pointer(),
            pc: program_counter(),
        }
    }
}

/// Captures up to `depth` frames of the allocation made at `origin` into
/// `buf`, innermost first.
/// The buffer is uninitialised: zeroing 512 bytes per allocation would cost
/// more than the walk.
pub(crate) fn capture(
    mode: StackMode,
    origin: Origin,
    buf: &mut [MaybeUninit<usize>; MAX_DEPTH],
    depth: usize,
) -> &[usize] {
    let depth = depth.clamp(1, MAX_DEPTH);
    let n = match mode {
        StackMode::Off => 0,
        StackMode::FramePointer => {
            buf[0].write(origin.pc);
            let callers = match live_stack(origin.sp) {
                Some(live) => {
                    // SAFETY: `live` runs from the current stack pointer to
                    // the top of this thread's stack: mapped and readable for
                    // the whole walk, since we are running on it.
                    unsafe { walk_frame_pointers(origin.fp, live, &mut buf[1..depth]) }
                }
                None => 0,
            };
            1 + callers
        }
        StackMode::Dwarf => capture_dwarf(origin.sp, &mut buf[..depth]),
    };
    // SAFETY: both walkers initialise exactly the first `n` elements.
    unsafe { core::slice::from_raw_parts(buf.as_ptr().cast::<usize>(), n) }
}

/// Follows the frame-pointer chain from `fp`.
///
/// # Safety
///
/// `bounds` must be a range of readable memory (the current thread's stack).
/// `fp` may be anything: it is validated against `bounds` before every read.
unsafe fn walk_frame_pointers(
    mut fp: usize,
    (lo, hi): (usize, usize),
    out: &mut [MaybeUninit<usize>],
) -> usize {
    let mut n = 0;
    while n < out.len() {
        if fp < lo || !fp.is_multiple_of(8) || fp > hi.saturating_sub(16) {
            break;
        }
        // SAFETY: `lo <= fp` and `fp + 16 <= hi`, so both words lie inside the
        // readable range the caller promised; `fp` is 8-aligned.
        let (next, ret) = unsafe { (*(fp as *const usize), *((fp + 8) as *const usize)) };
        if ret == 0 {
            break;
        }
        out[n].write(ret);
        n += 1;
        if next <= fp {
            break;
        }
        fp = next;
    }
    n
}

/// Unwinds with DWARF tables, keeping the frame the shim runs in and its
/// callers: frames whose stack pointer is at or above `sp`, the stack pointer
/// read in the shim. (Frames deeper than the shim, TurboWish's own and the
/// unwinder's, have lower stack pointers.)
/// (The frame pointer cannot be trusted here: DWARF mode exists for code built
/// without frame pointers.)
fn capture_dwarf(sp: usize, out: &mut [MaybeUninit<usize>]) -> usize {
    let mut n = 0;
    // SAFETY: `trace_unsynchronized` requires that no other thread run a
    // trace concurrently with a non-reentrant unwinder. On Linux the unwinder
    // is libgcc's `_Unwind_Backtrace`, which is thread-safe; the requirement
    // exists for platforms (Windows dbghelp) TurboWish does not support.
    unsafe {
        backtrace::trace_unsynchronized(|frame| {
            if (frame.sp() as usize) < sp {
                return true;
            }
            out[n].write(frame.ip() as usize);
            n += 1;
            n < out.len()
        });
    }
    n
}

thread_local! {
    /// (low, high) bounds of this thread's stack; (0, 0) before the first
    /// lookup, (1, 1) if the lookup failed.
    static BOUNDS: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

/// The part of this thread's stack that is certainly mapped: from `sp` (the
/// current stack pointer) to the top. `None` when the bounds are unknown or
/// `sp` is not on the thread's stack (a signal handler on an alternate stack).
fn live_stack(sp: usize) -> Option<(usize, usize)> {
    let (lo, hi) = stack_bounds()?;
    (lo <= sp && sp < hi).then_some((sp, hi))
}

/// This thread's stack as a (low, high) address range, looked up once.
pub(crate) fn stack_bounds() -> Option<(usize, usize)> {
    let cached = BOUNDS.try_with(Cell::get).ok()?;
    let bounds = match cached {
        (0, 0) => {
            let b = query_stack_bounds().unwrap_or((1, 1));
            let _ = BOUNDS.try_with(|c| c.set(b));
            b
        }
        b => b,
    };
    (bounds != (1, 1)).then_some(bounds)
}

fn query_stack_bounds() -> Option<(usize, usize)> {
    // SAFETY: `attr` is initialised by pthread_getattr_np before any read and
    // destroyed exactly once; the out-pointers are valid locals.
    unsafe {
        let mut attr: libc::pthread_attr_t = core::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return None;
        }
        let mut addr: *mut libc::c_void = core::ptr::null_mut();
        let mut size: libc::size_t = 0;
        let rc = libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
        libc::pthread_attr_destroy(&mut attr);
        if rc != 0 || addr.is_null() {
            return None;
        }
        Some((addr as usize, addr as usize + size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walker_stops_at_garbage_frame_pointers() {
        // A fake stack: three frames chained upward, then a pointer outside.
        let mut fake = [0usize; 16];
        let base = fake.as_ptr() as usize;
        let bounds = (base, base + size_of_val(&fake));
        fake[0] = base + 4 * 8; // frame 0 -> frame at index 4
        fake[1] = 0x1111;
        fake[4] = base + 8 * 8; // -> index 8
        fake[5] = 0x2222;
        fake[8] = 0xdead_0000; // garbage: outside the bounds
        fake[9] = 0x3333;
        std::hint::black_box(&mut fake);
        let mut out = [MaybeUninit::new(0usize); 8];
        // SAFETY: `bounds` cover exactly the readable `fake` array.
        let n = unsafe { walk_frame_pointers(base, bounds, &mut out) };
        let got: Vec<usize> = out[..n].iter().map(unsafe_read).collect();
        assert_eq!(got, [0x1111, 0x2222, 0x3333]);
    }

    #[test]
    fn walker_rejects_loops_misalignment_and_out_of_range_starts() {
        let mut fake = [0usize; 8];
        let base = fake.as_ptr() as usize;
        let bounds = (base, base + size_of_val(&fake));
        fake[0] = base; // points at itself: must not loop
        fake[1] = 0x1111;
        std::hint::black_box(&mut fake);
        let mut out = [MaybeUninit::new(0usize); 8];
        // SAFETY: `bounds` cover exactly the readable `fake` array.
        unsafe {
            assert_eq!(walk_frame_pointers(base, bounds, &mut out), 1);
            assert_eq!(walk_frame_pointers(base + 1, bounds, &mut out), 0);
            assert_eq!(walk_frame_pointers(base + 8 * 7, bounds, &mut out), 0);
            assert_eq!(walk_frame_pointers(0, bounds, &mut out), 0);
        }
    }

    fn unsafe_read(f: &MaybeUninit<usize>) -> usize {
        // SAFETY: the test buffers are initialised with `MaybeUninit::new`.
        unsafe { f.assume_init() }
    }

    /// The allocating function was built without frame pointers, so `rbp` at
    /// the shim is garbage: here, a fake frame *below* the live stack pointer.
    /// Such memory may be unmapped (main thread, unlimited stack rlimit), so
    /// the walk must not read it at all: only frame 0 is kept.
    #[test]
    fn frame_pointer_walk_never_reads_below_the_stack_pointer() {
        let mut fake = [0usize; 8];
        fake[0] = fake.as_ptr() as usize + 4 * 8;
        fake[1] = 0x1111;
        std::hint::black_box(&mut fake);
        let origin = Origin {
            fp: fake.as_ptr() as usize,
            sp: fake.as_ptr() as usize + size_of_val(&fake), // fake lies below it
            pc: 0x4242,
        };
        let mut buf = [MaybeUninit::uninit(); MAX_DEPTH];
        assert_eq!(
            capture(StackMode::FramePointer, origin, &mut buf, 32),
            &[0x4242]
        );
    }

    #[inline(never)]
    fn dwarf_capture_here(origin_fp: usize) -> Vec<usize> {
        let origin = Origin {
            fp: origin_fp,
            sp: stack_pointer(),
            pc: program_counter(),
        };
        let mut buf = [MaybeUninit::uninit(); MAX_DEPTH];
        capture(StackMode::Dwarf, origin, &mut buf, 32).to_vec()
    }

    /// DWARF mode exists for code without frame pointers, where `rbp` is
    /// garbage: the frames kept must not depend on it.
    #[test]
    fn dwarf_capture_keeps_callers_whatever_the_frame_pointer() {
        for fp in [0, 1, usize::MAX & !7, frame_pointer()] {
            let mut names = Vec::new();
            for ip in dwarf_capture_here(fp) {
                backtrace::resolve(ip as *mut _, |s| {
                    names.extend(s.name().map(|n| n.to_string()))
                });
            }
            assert!(
                names
                    .iter()
                    .all(|n| !n.contains("capture_dwarf") && !n.starts_with("backtrace::")),
                "fp {fp:#x}: kept TurboWish's own frames: {names:#?}"
            );
            assert!(
                names.iter().any(|n| n.contains("dwarf_capture_here")),
                "fp {fp:#x}: lost the caller: {names:#?}"
            );
        }
    }

    #[test]
    fn this_threads_stack_contains_a_local() {
        let local = 0u8;
        let (lo, hi) = stack_bounds().expect("pthread_getattr_np works on Linux");
        let at = &local as *const u8 as usize;
        assert!(lo <= at && at < hi);
    }
}
