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
//! # Cost
//!
//! Each frame is a load that depends on the previous one: the walk cannot
//! be cheaper than that chain, so nothing else may lengthen it.
//!
//! 1. **One exit test per frame.** The checks on the next frame pointer
//!    (aligned, above this one, below the top) are one unsigned compare
//!    ([`next_frame_ok`]), folded with "the buffer is full" and "the return
//!    address is 0" into a single, predictable branch.
//! 2. **The interning hash is computed during the walk**
//!    ([`StackHash`]): interning never reads the frames again to hash them.
//!    Its dependent part per frame is a rotate and an xor, shorter than the
//!    load chain, so it costs no time of its own.
//! 3. **Nothing is cached.** Every frame of every stack is read: the same
//!    return addresses recur under different callers and in recursion, so a
//!    walk that stopped at frames it had seen before would be wrong.
//!
//! The walk keeps exactly the frames of the plain walk (check, read, check
//! the next), whatever the memory holds: the unit tests compare both on
//! random chains, and `tests/stacks_exact.rs` compares recorded stacks with
//! an independent walk taken at the allocation.
//!
//! The DWARF fallback uses `backtrace::trace_unsynchronized`, never
//! `backtrace::trace`: the latter takes a process-wide lock, and a fork child
//! that found it held would hang.

use crate::heap::stack::intern::StackHash;
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
    /// Walk the frame-pointer chain for a Poisson sample of the allocated
    /// bytes, one stack every `mean_bytes` on average
    /// (`TURBOWISH_STACK=sampled[:BYTES]`, default 512 KiB): a block of
    /// `size` bytes gets its stack with probability
    /// `1 - exp(-size / mean_bytes)`, the others none. Every block is still
    /// recorded, with its size and task; only stacks are sampled, and site
    /// figures read from such a snapshot are estimates.
    Sampled {
        /// The mean number of bytes allocated between two stacks.
        mean_bytes: u64,
    },
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
/// `buf`, innermost first, with their interning hash ([`StackHash::finish`]).
/// The buffer is uninitialised: zeroing 512 bytes per allocation would cost
/// more than the walk. `Sampled` walks the frame pointers, as `FramePointer`
/// does (whether to walk at all is decided before).
pub(crate) fn capture(
    mode: StackMode,
    origin: Origin,
    buf: &mut [MaybeUninit<usize>; MAX_DEPTH],
    depth: usize,
) -> (&[usize], u64) {
    let depth = depth.clamp(1, MAX_DEPTH);
    let (n, hash) = match mode {
        StackMode::Off => (0, StackHash::START),
        StackMode::FramePointer | StackMode::Sampled { .. } => {
            buf[0].write(origin.pc);
            let hash = StackHash::START.add(origin.pc);
            let (callers, hash) = match live_stack(origin.sp) {
                Some(live) => {
                    // SAFETY: `live` runs from the current stack pointer to
                    // the top of this thread's stack: mapped and readable for
                    // the whole walk, since we are running on it.
                    unsafe { walk_frame_pointers(origin.fp, live, &mut buf[1..depth], hash) }
                }
                None => (0, hash),
            };
            (1 + callers, hash)
        }
        StackMode::Dwarf => {
            let n = capture_dwarf(origin.sp, &mut buf[..depth]);
            // SAFETY: `capture_dwarf` initialised the first `n` elements.
            let frames = unsafe { core::slice::from_raw_parts(buf.as_ptr().cast::<usize>(), n) };
            (n, StackHash::of(frames))
        }
    };
    // SAFETY: every walker initialises exactly the first `n` elements.
    let frames = unsafe { core::slice::from_raw_parts(buf.as_ptr().cast::<usize>(), n) };
    (frames, hash.finish(n))
}

/// Whether `next`, read as the caller's frame pointer from the frame at
/// `fp`, may be walked to: 8-aligned, strictly above `fp`, and at most `top`
/// (the highest address that leaves room for two words), in one compare
/// (cost rule 1).
///
/// `fp` must be 8-aligned and at most `top`. The valid `next` are
/// `fp + 8 + 8k` for `k < (top - fp) / 8`; rotating `next - fp - 8` right by
/// three bits gives exactly `k` for those, and at least 2^60 for any `next`
/// that is misaligned (its low bits land on top) or below `fp + 8` (the
/// subtraction wraps past 2^63, since user addresses are below 2^63): more
/// than any `(top - fp) / 8`, as no stack spans 2^63 bytes.
///
/// `last` (0 or 1) fails the test whatever `next` is: it is or-ed into the
/// top bit, so that the walk's other reasons to stop share the one compare.
#[inline(always)]
fn next_frame_ok(fp: usize, next: usize, top: usize, last: usize) -> bool {
    let step = next.wrapping_sub(fp + 8).rotate_right(3);
    (step | last << (usize::BITS - 1)) < (top - fp) >> 3
}

/// Follows the frame-pointer chain from `fp`, writing return addresses to
/// `out` and adding them to `hash`; returns how many it wrote and the hash.
///
/// # Safety
///
/// `bounds` must be a range of readable memory (the current thread's stack).
/// `fp` may be anything: it is validated against `bounds` before every read.
#[inline(always)]
unsafe fn walk_frame_pointers(
    fp: usize,
    (lo, hi): (usize, usize),
    out: &mut [MaybeUninit<usize>],
    mut hash: StackHash,
) -> (usize, StackHash) {
    let top = hi.saturating_sub(16);
    if out.is_empty() || fp < lo || !fp.is_multiple_of(8) || fp > top {
        return (0, hash);
    }
    let (len, out) = (out.len(), out.as_mut_ptr().cast::<usize>());
    let (mut fp, mut n) = (fp, 0);
    let (mut ret, mut before);
    loop {
        // SAFETY: `lo <= fp <= top = hi - 16` and `fp` is 8-aligned: checked
        // above for the first frame, by `next_frame_ok` for every later one
        // (`fp < next <= top`, `next - fp` a multiple of 8). Both words lie
        // inside the readable range the caller promised.
        let next = unsafe { *(fp as *const usize) };
        // SAFETY: as above.
        ret = unsafe { *((fp + 8) as *const usize) };
        // SAFETY: `n < len`: the loop ends when `n` reaches `len`.
        unsafe { out.add(n).write(ret) };
        n += 1;
        (before, hash) = (hash, hash.add(ret));
        // Cost rule 1: one branch. A full buffer or a return address of 0
        // sets the top bit of the compared number, which fails the compare.
        let last = ((n == len) | (ret == 0)) as usize;
        if !next_frame_ok(fp, next, top, last) {
            break;
        }
        fp = next;
    }
    // A return address of 0 ends the chain and is not a frame.
    if ret == 0 {
        (n, hash) = (n - 1, before);
    }
    (n, hash)
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

    /// The plain walk the fused one must equal (cost rules): check the
    /// frame pointer, read both words, stop at a return address of 0 or a
    /// caller frame not above this one.
    fn plain_walk(mut fp: usize, (lo, hi): (usize, usize), max: usize) -> Vec<usize> {
        let mut out = Vec::new();
        while out.len() < max {
            if fp < lo || !fp.is_multiple_of(8) || fp > hi.saturating_sub(16) {
                break;
            }
            // SAFETY: checked against the bounds, which the callers make
            // cover readable memory.
            let (next, ret) = unsafe { (*(fp as *const usize), *((fp + 8) as *const usize)) };
            if ret == 0 {
                break;
            }
            out.push(ret);
            if next <= fp {
                break;
            }
            fp = next;
        }
        out
    }

    /// The fused walk of `fp` within `bounds`: its frames, and whether its
    /// hash is the hash of those frames.
    fn walk(fp: usize, bounds: (usize, usize), max: usize) -> (Vec<usize>, bool) {
        let mut out = vec![MaybeUninit::new(0usize); max];
        // SAFETY: the callers' bounds cover readable memory.
        let (n, hash) = unsafe { walk_frame_pointers(fp, bounds, &mut out, StackHash::START) };
        let got: Vec<usize> = out[..n].iter().map(unsafe_read).collect();
        let hashed = hash.finish(n) == StackHash::of(&got).finish(n);
        (got, hashed)
    }

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
        let (got, hashed) = walk(base, bounds, 8);
        assert_eq!(got, [0x1111, 0x2222, 0x3333]);
        assert!(hashed);
    }

    #[test]
    fn walker_rejects_loops_misalignment_and_out_of_range_starts() {
        let mut fake = [0usize; 8];
        let base = fake.as_ptr() as usize;
        let bounds = (base, base + size_of_val(&fake));
        fake[0] = base; // points at itself: must not loop
        fake[1] = 0x1111;
        std::hint::black_box(&mut fake);
        assert_eq!(walk(base, bounds, 8).0.len(), 1);
        assert_eq!(walk(base + 1, bounds, 8).0.len(), 0);
        assert_eq!(walk(base + 8 * 7, bounds, 8).0.len(), 0);
        assert_eq!(walk(0, bounds, 8).0.len(), 0);
        assert_eq!(walk(base, bounds, 0).0.len(), 0);
    }

    /// On random memory shaped like stacks (chains going up, down, sideways,
    /// misaligned, out of bounds, return addresses of 0), at every depth
    /// limit, the fused walk keeps exactly the frames of the plain one, and
    /// its hash is theirs.
    #[test]
    fn the_fused_walk_equals_the_plain_walk_on_random_chains() {
        const WORDS: usize = 64;
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut fake = vec![0usize; WORDS];
        let base = fake.as_ptr() as usize;
        let bounds = (base + 8, base + 8 * (WORDS - 2));
        let mut lengths = [0usize; 9];
        for _ in 0..20_000 {
            for (i, w) in fake.iter_mut().enumerate() {
                let r = next();
                *w = match (i % 2, r % 16) {
                    // Return addresses: mostly code-like, sometimes 0.
                    (1, 0) => 0,
                    (1, _) => 0x5555_0000 + (r >> 8) as usize % 4096,
                    // Frame pointers: mostly a few words up, else anything.
                    (_, 0) => base + (r >> 8) as usize % (8 * WORDS + 64),
                    (_, 1) => (r >> 8) as usize,
                    (_, 2) => base + 8 * i - 8,
                    (_, 3) => base + 8 * i + 3,
                    (_, _) => base + 8 * (i + 2 + (r >> 8) as usize % 5),
                };
            }
            let start = base + (next() as usize % (8 * WORDS + 16)).saturating_sub(8);
            let max = next() as usize % 40;
            std::hint::black_box(&mut fake);
            let want = plain_walk(start, bounds, max);
            let (got, hashed) = walk(start, bounds, max);
            assert_eq!(got, want, "start {:#x}, max {max}", start - base);
            assert!(hashed);
            lengths[want.len().min(8)] += 1;
        }
        // The random chains reach every length, so every exit is taken.
        assert!(lengths.iter().all(|&n| n > 0), "{lengths:?}");
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
        let (frames, hash) = capture(StackMode::FramePointer, origin, &mut buf, 32);
        assert_eq!(frames, &[0x4242]);
        assert_eq!(hash, StackHash::of(&[0x4242]).finish(1));
    }

    #[inline(never)]
    fn dwarf_capture_here(origin_fp: usize) -> Vec<usize> {
        let origin = Origin {
            fp: origin_fp,
            sp: stack_pointer(),
            pc: program_counter(),
        };
        let mut buf = [MaybeUninit::uninit(); MAX_DEPTH];
        capture(StackMode::Dwarf, origin, &mut buf, 32).0.to_vec()
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
