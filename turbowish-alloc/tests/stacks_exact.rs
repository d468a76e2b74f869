//! `TURBOWISH_STACK=fp` is exact: the frames recorded for each block are
//! those of a full walk of the frame-pointer chain taken at the same point,
//! on many stacks: recursion of many depths, the same functions reached
//! from different callers in every order, on many threads at once.
//!
//! The reference walk is written here, independently of the recorder: it
//! follows the chain from the allocating function's own frame, with plain
//! checks, and is itself checked against the DWARF unwinder's return
//! addresses for the test's own frames. The recorded stack must hold it
//! whole, right after the return address into the allocating function: a
//! dropped, repeated or reordered frame anywhere fails.
//!
//! It runs in a child started with `TURBOWISH_STACK=fp` and
//! `TURBOWISH_DEPTH=64`, so the stacks are never cut by the depth limit.

mod common;

use common::{PATIENCE, is_child, rerun, run};
use std::hint::black_box;
use turbowish_alloc::{MAX_DEPTH, StackMode, TurboWish, block, settings};

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

/// The deepest call chain the tests build: the whole stack (test harness
/// and thread start included) stays within `MAX_DEPTH` frames.
const MAX_CHAIN: u32 = 34;

/// The caller's frame pointer chain as a plain full walk, into `frames`:
/// return addresses from `fp` up, while each frame pointer is 8-aligned,
/// inside this thread's stack (`bounds`), above the one before, and the
/// return address is not 0. Allocates nothing, so that the blocks checked
/// one after the other are allocated one after the other.
#[inline(always)]
fn reference_walk(mut fp: usize, (lo, hi): (usize, usize), frames: &mut [usize]) -> usize {
    let mut n = 0;
    while n < frames.len() && fp >= lo && fp.is_multiple_of(8) && fp + 16 <= hi {
        // SAFETY: `fp..fp + 16` lies inside this thread's stack, mapped for
        // as long as the thread runs, and both words are 8-aligned.
        let (next, ret) = unsafe {
            (
                std::ptr::read_volatile(fp as *const usize),
                std::ptr::read_volatile((fp + 8) as *const usize),
            )
        };
        if ret == 0 {
            break;
        }
        frames[n] = ret;
        n += 1;
        if next <= fp {
            break;
        }
        fp = next;
    }
    n
}

/// This thread's stack, as a (low, high) address range.
fn thread_stack() -> (usize, usize) {
    // SAFETY: `attr` is initialised by pthread_getattr_np before use and
    // destroyed once; the out-pointers are valid locals.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        assert_eq!(libc::pthread_getattr_np(libc::pthread_self(), &mut attr), 0);
        let mut addr = std::ptr::null_mut();
        let mut size = 0;
        assert_eq!(libc::pthread_attr_getstack(&attr, &mut addr, &mut size), 0);
        libc::pthread_attr_destroy(&mut attr);
        (addr as usize, addr as usize + size)
    }
}

/// The frame pointer of the function this is inlined into.
#[inline(always)]
fn frame_pointer() -> usize {
    let fp: usize;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: reads a register; no memory access, no stack use, no flags.
    unsafe {
        std::arch::asm!("mov {}, rbp", out(reg) fp, options(nomem, nostack, preserves_flags));
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: as above.
    unsafe {
        std::arch::asm!("mov {}, x29", out(reg) fp, options(nomem, nostack, preserves_flags));
    }
    fp
}

/// The return addresses the DWARF unwinder finds above the function that
/// calls this (innermost first; its own frame and this one left out).
#[inline(never)]
fn dwarf_callers() -> Vec<usize> {
    let mut ips = Vec::new();
    backtrace::trace(|f| {
        ips.push(f.ip() as usize);
        true
    });
    // The unwinder's own frames, then this function's, then its caller's
    // position: the caller's caller's return address follows.
    let at = ips
        .iter()
        .position(|&ip| function_name(ip).contains("dwarf_callers"))
        .expect("the unwinder finds dwarf_callers");
    ips.split_off(at + 2)
}

/// The name of the function holding `ip` (the outermost, when inlined).
fn function_name(ip: usize) -> String {
    let mut name = String::new();
    backtrace::resolve(ip as *mut _, |s| {
        if let Some(n) = s.name() {
            name = n.to_string();
        }
    });
    name
}

/// Allocates a block, then checks its recorded stack against the reference
/// walk from this very frame. Never inlined: it is the allocating function.
/// Allocates nothing else unless a check fails (or the DWARF cross-check
/// runs): a walk that reused frames of the thread's previous stack would
/// be reusing this site's.
#[inline(never)]
fn allocate_and_check(checks: &mut Checks) -> Box<[u8; 48]> {
    let b = black_box(Box::new([7u8; 48]));
    let mut reference = [0usize; MAX_DEPTH + 1];
    let n = reference_walk(frame_pointer(), checks.bounds, &mut reference);
    let recorded = block(b.as_ptr()).expect("tracked").stack.frames();
    checks.compare(recorded, &reference[..n]);
    if let Some(own) = checks.dwarf_frames.take() {
        checks.compare_with_dwarf(&reference[..n], &dwarf_callers(), own);
    }
    b
}

/// What one thread checked.
struct Checks {
    /// The thread's stack.
    bounds: (usize, usize),
    blocks: u64,
    frames: u64,
    /// When set, the next check also compares the reference with DWARF,
    /// which must agree on at least this many frames (the test's own).
    dwarf_frames: Option<usize>,
}

impl Checks {
    /// The recorded stack is some allocator frames (the shim's own
    /// position, allocation glue), then the return address into the
    /// allocating function, then exactly the reference.
    fn compare(&mut self, recorded: &[usize], reference: &[usize]) {
        assert!(
            recorded.len() < MAX_DEPTH,
            "the stack reached the depth limit: the chain is too deep to compare whole"
        );
        assert!(!reference.is_empty(), "no reference frames");
        let at = recorded
            .iter()
            .position(|&f| f == reference[0])
            .unwrap_or_else(|| {
                panic!("the caller's return address is not recorded:\n{recorded:#x?}\nreference:\n{reference:#x?}")
            });
        assert!(
            (2..=12).contains(&at),
            "{at} frames before the caller's: allocator frames and the allocating function"
        );
        assert_eq!(
            &recorded[at..],
            reference,
            "recorded stack (from the caller) differs from the full walk"
        );
        self.blocks += 1;
        self.frames += recorded.len() as u64;
    }

    /// The reference walk agrees with the DWARF unwinder on (at least) the
    /// first `own` frames, the test's own.
    fn compare_with_dwarf(&mut self, reference: &[usize], dwarf: &[usize], own: usize) {
        let n = reference
            .iter()
            .zip(dwarf)
            .take_while(|(a, b)| a == b)
            .count();
        assert!(
            n >= own,
            "the reference walk and the unwinder agree on {n} frames only:\n{reference:#x?}\n{dwarf:#x?}"
        );
    }
}

/// Calls down a chain shaped by `path`: one bit per level, `left` or
/// `right` (two functions that both call on), then allocates at the bottom
/// and checks. The same functions, reached from every order of callers.
#[inline(never)]
fn left(path: u64, level: u32, checks: &mut Checks) -> usize {
    let b = step(path, level, checks);
    black_box(b) + 1
}

#[inline(never)]
fn right(path: u64, level: u32, checks: &mut Checks) -> usize {
    let b = step(path, level, checks);
    black_box(b) + 2
}

#[inline(never)]
fn step(path: u64, level: u32, checks: &mut Checks) -> usize {
    match level {
        0 => allocate_and_check(checks)[0] as usize,
        _ if path >> (level % 64) & 1 == 0 => left(path, level - 1, checks),
        _ => right(path, level - 1, checks),
    }
}

/// Plain recursion: the same return address repeated `depth` times.
#[inline(never)]
fn recurse(depth: u32, checks: &mut Checks) -> usize {
    if depth == 0 {
        return allocate_and_check(checks)[0] as usize;
    }
    black_box(recurse(depth - 1, checks)) + 1
}

/// Every shape, from shallow to deep, with the DWARF cross-check once per
/// depth; returns what was checked.
fn all_shapes(seed: u64) -> Checks {
    let mut checks = Checks {
        bounds: thread_stack(),
        blocks: 0,
        frames: 0,
        dwarf_frames: None,
    };
    let mut rng = seed | 1;
    for depth in 0..MAX_CHAIN {
        // `recurse`'s frames, then `all_shapes`'s.
        checks.dwarf_frames = Some(depth as usize + 2);
        black_box(recurse(depth, &mut checks));
        for _ in 0..24 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            black_box(step(rng, depth / 2, &mut checks));
        }
    }
    checks
}

#[test]
fn frame_pointer_stacks_are_full_walks() {
    const TEST: &str = "frame_pointer_stacks_are_full_walks";
    if !is_child(TEST) {
        let mut cmd = rerun(TEST);
        cmd.env("TURBOWISH_STACK", "fp")
            .env("TURBOWISH_DEPTH", "64");
        let ran = run(cmd, PATIENCE);
        assert!(ran.passed_one(), "child failed:\n{ran}");
        return;
    }
    assert_eq!(settings().stack, StackMode::FramePointer);
    assert_eq!(settings().depth, MAX_DEPTH);
    let on_this_thread = all_shapes(0x1234_5678);
    let threads: Vec<Checks> = std::thread::scope(|s| {
        let spawned: Vec<_> = (0..8u64)
            .map(|t| s.spawn(move || all_shapes(0x9E37_79B9 * (t + 1))))
            .collect();
        spawned.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let blocks: u64 = threads.iter().map(|c| c.blocks).sum::<u64>() + on_this_thread.blocks;
    let frames: u64 = threads.iter().map(|c| c.frames).sum::<u64>() + on_this_thread.frames;
    assert_eq!(blocks, 9 * u64::from(MAX_CHAIN) * 25);
    println!("{blocks} blocks checked, {frames} frames");
}
