//! A caller compiled without frame pointers can leave a garbage value in
//! `rbp` that lies inside the main thread's *nominal* stack range (which
//! `pthread_getattr_np` derives from `RLIMIT_STACK`) but far below the mapped
//! stack. With `RLIMIT_STACK` unlimited most of that range is unmapped. The
//! frame-pointer walk must stop there, not crash.
//!
//! The scenario must run on the real main thread (libtest would run it on a
//! spawned one), so this binary has its own harness, run with one thread, and
//! re-executes itself with an unlimited stack rlimit.
#![cfg_attr(not(target_arch = "x86_64"), allow(unused))]

mod common;

use common::{CHILD, PATIENCE, is_child, run};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use turbowish_alloc::{TurboWish, block};

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

fn main() {
    let mut args = libtest_mimic::Arguments::from_args();
    args.test_threads = Some(1); // runs tests on this, the main, thread
    let trial = if is_child("scenario") {
        libtest_mimic::Trial::test("scenario", || {
            scenario();
            Ok(())
        })
    } else {
        libtest_mimic::Trial::test(
            "garbage_frame_pointer_on_the_main_thread_does_not_crash",
            || {
                run_child();
                Ok(())
            },
        )
    };
    let trials = if cfg!(target_arch = "x86_64") {
        vec![trial]
    } else {
        vec![]
    };
    libtest_mimic::run(&args, trials).exit();
}

fn run_child() {
    // Its own harness: run with no arguments, the child runs its one trial.
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.env(CHILD, "scenario")
        .env("TURBOWISH_STACK", "fp")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closure only calls setrlimit, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            let unlimited = libc::rlimit {
                rlim_cur: libc::RLIM_INFINITY,
                rlim_max: libc::RLIM_INFINITY,
            };
            libc::setrlimit(libc::RLIMIT_STACK, &unlimited);
            Ok(())
        });
    }
    let ran = run(cmd, PATIENCE);
    assert!(ran.passed_one(), "child failed ({:?}):\n{ran}", ran.code);
}

#[cfg(target_arch = "x86_64")]
fn scenario() {
    // SAFETY: gettid and getpid have no preconditions.
    let (tid, pid) = unsafe { (libc::gettid(), libc::getpid()) };
    assert_eq!(tid, pid, "not the main thread");
    free_block(allocate_a_block()); // settings read, bounds cached
    for bad in [unmapped_stack_address(), 0, 1, usize::MAX & !7] {
        let p = call_with_rbp(bad, allocate_a_block);
        let b = block(p as *const u8).expect("tracked");
        // Frame 0 (where the shim was entered) is always there.
        assert!(!b.stack.frames().is_empty());
        free_block(p);
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn scenario() {}

#[cfg(target_arch = "x86_64")]
#[inline(never)]
extern "C" fn allocate_a_block() -> usize {
    Box::into_raw(std::hint::black_box(Box::new([7u8; 24]))) as usize
}

#[cfg(target_arch = "x86_64")]
fn free_block(p: usize) {
    // SAFETY: `p` came from `Box::into_raw` of a `Box<[u8; 24]>`.
    drop(unsafe { Box::from_raw(p as *mut [u8; 24]) });
}

/// Calls `f` with `rbp` set to `bad`, as a caller compiled without frame
/// pointers might leave it (its CFI describes the frame by `rsp`).
#[cfg(target_arch = "x86_64")]
#[unsafe(naked)]
extern "C" fn call_with_rbp(bad: usize, f: extern "C" fn() -> usize) -> usize {
    core::arch::naked_asm!(
        ".cfi_startproc",
        "push rbp",
        ".cfi_adjust_cfa_offset 8",
        ".cfi_offset rbp, -16",
        "mov rbp, rdi",
        "call rsi",
        "pop rbp",
        ".cfi_adjust_cfa_offset -8",
        ".cfi_restore rbp",
        "ret",
        ".cfi_endproc",
    )
}

/// An 8-aligned address inside the main thread's nominal stack range but far
/// below the live stack.
#[cfg(target_arch = "x86_64")]
fn unmapped_stack_address() -> usize {
    let lo = common::stack_lo();
    let here = &lo as *const usize as usize;
    assert!(here - lo > 1 << 30, "stack rlimit is not unlimited");
    ((lo + here) / 2) & !0xfff
}
