//! Fork rule 5 and the task registry's list lock: a `fork` from a signal
//! handler that interrupted a thread inside the registry (claiming or
//! finishing a row) must not deadlock in the fork handlers.
//!
//! The scenario could wedge the whole test process, so it runs in a child
//! process: the parent test re-executes this binary and judges its exit
//! status.

mod common;

use common::{is_child, rerun, run};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[global_allocator]
static A: turbowish_alloc::TurboWish = turbowish_alloc::TurboWish::system();

/// Signals handled so far.
static HANDLED: AtomicU64 = AtomicU64::new(0);

extern "C" fn fork_in_handler(_: libc::c_int) {
    // SAFETY: fork, _exit and waitpid are async-signal-safe system calls;
    // the child only exits, and the handler reaps it.
    unsafe {
        let pid = libc::fork();
        if pid == 0 {
            libc::_exit(0);
        }
        if pid > 0 {
            let mut status = 0;
            libc::waitpid(pid, &mut status, 0);
        }
    }
    HANDLED.fetch_add(1, Ordering::SeqCst);
}

/// The child side: a thread makes and drops traced futures (registry lock,
/// no allocation), or does plain work (`control`); the main thread signals it
/// and its handler forks. Exits 0, or 3 on a handler that never returned.
fn fork_in_handler_child(control: bool) {
    // Warm up: the registry's first chunk, the guard, the clock.
    drop(turbowish_alloc::traced(async {}));
    let stop = Arc::new(AtomicBool::new(false));
    let running = Arc::new(AtomicBool::new(false));
    let worker = {
        let (stop, running) = (stop.clone(), running.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if control {
                    n = std::hint::black_box(n.wrapping_mul(31).wrapping_add(7));
                } else {
                    drop(std::hint::black_box(turbowish_alloc::traced(async {})));
                }
                running.store(true, Ordering::Relaxed);
            }
        })
    };
    use std::os::unix::thread::JoinHandleExt;
    let pt = worker.as_pthread_t();
    // SAFETY: installs a handler for SIGUSR2 that only forks, reaps and
    // counts (`fork_in_handler`).
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = fork_in_handler as *const () as usize;
        libc::sigaction(libc::SIGUSR2, &action, std::ptr::null_mut());
    }
    // The signals must land in the worker's loop, not before it.
    common::wait_for("the worker to run its loop", || {
        match running.load(Ordering::Relaxed) {
            true => Ok(()),
            false => Err("not yet"),
        }
    });
    for i in 0..1000u64 {
        // SAFETY: the worker thread is alive until `stop`.
        unsafe { libc::pthread_kill(pt, libc::SIGUSR2) };
        let started = Instant::now();
        while HANDLED.load(Ordering::SeqCst) <= i {
            if started.elapsed() > Duration::from_secs(5) {
                println!("REVIEW: the signal handler's fork never returned (signal {i})");
                std::process::exit(3);
            }
            std::hint::spin_loop();
        }
    }
    stop.store(true, Ordering::Relaxed);
    worker.join().unwrap();
    println!("REVIEW: 1000 forks from the handler returned");
}

#[test]
#[ignore = "child process of fork_from_a_signal_handler_does_not_deadlock"]
fn child_fork_in_handler() {
    if is_child("child_fork_in_handler") {
        fork_in_handler_child(false);
    }
}

#[test]
#[ignore = "child process of fork_from_a_signal_handler_does_not_deadlock"]
fn child_fork_in_handler_control() {
    if is_child("child_fork_in_handler_control") {
        fork_in_handler_child(true);
    }
}

#[test]
fn fork_from_a_signal_handler_does_not_deadlock() {
    let limit = Duration::from_secs(60);
    let ran = run(rerun("child_fork_in_handler_control"), limit);
    assert_eq!(
        ran.code,
        Some(0),
        "control run (no registry use) failed:\n{ran}"
    );
    let ran = run(rerun("child_fork_in_handler"), limit);
    assert_eq!(
        ran.code,
        Some(0),
        "a fork from a signal handler that interrupted a thread holding the registry's \
         list lock (taken without the reentrancy guard) spins for ever in the prepare \
         handler:\n{ran}"
    );
}
