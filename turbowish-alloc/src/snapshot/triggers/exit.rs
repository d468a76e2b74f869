//! Rule 6: a snapshot at normal exit (an `atexit` hook) and on `SIGTERM`
//! (when the program left it at its default).
//!
//! The hook captures from the exiting thread itself: the snapshot thread
//! may be mid-capture or asleep, and the process is going away. `SIGTERM`
//! cannot be answered in its handler (a capture forks and allocates, which
//! a handler that interrupted `malloc` must not), so the handler only
//! flags the request and wakes the snapshot thread, which takes the
//! snapshot and then ends the process with the default action.

use super::wake;
use crate::snapshot::install::{self, Config};
use core::sync::atomic::{AtomicBool, AtomicI32, Ordering::Relaxed};
use std::sync::OnceLock;

/// The settings the hook captures with, set once at install (untracked:
/// guard rule 1).
static SETTINGS: OnceLock<Config> = OnceLock::new();
/// The process that installed the hook.
static PID: AtomicI32 = AtomicI32::new(0);
/// A `SIGTERM` is waiting for its snapshot.
static TERM: AtomicBool = AtomicBool::new(false);

/// Registers the hook and, if `SIGTERM` is at its default, the handler.
/// Call untracked: `config` is kept for the process's life.
pub(crate) fn install(config: &Config) {
    if SETTINGS.set(config.clone()).is_err() {
        return;
    }
    // SAFETY: getpid has no preconditions.
    PID.store(unsafe { libc::getpid() }, Relaxed);
    // SAFETY: registers an `extern "C" fn()` of static lifetime.
    if unsafe { libc::atexit(at_exit) } != 0 {
        crate::stderr::warn_line("turbowish: atexit failed; no snapshot at exit\n");
    }
    handle_sigterm();
}

/// The process's current action for `SIGTERM`.
fn current_sigterm() -> libc::sighandler_t {
    // SAFETY: reads the current action into a zeroed, valid `sigaction`.
    unsafe {
        let mut now: libc::sigaction = core::mem::zeroed();
        libc::sigaction(libc::SIGTERM, core::ptr::null(), &mut now);
        now.sa_sigaction
    }
}

/// Installs [`on_sigterm`] if `SIGTERM` is at its default (rule 6).
fn handle_sigterm() {
    if current_sigterm() != libc::SIG_DFL {
        return; // the program's own handler, or ignored: not ours
    }
    // SAFETY: a zeroed `sigaction` with an empty mask and a handler of the
    // `extern "C" fn(c_int)` shape `sa_flags` (no SA_SIGINFO) asks for.
    unsafe {
        let mut action: libc::sigaction = core::mem::zeroed();
        action.sa_sigaction = on_sigterm as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGTERM, &action, core::ptr::null_mut());
    }
}

/// The handler: flags the request and wakes the snapshot thread, unless
/// another handler has taken `SIGTERM` over and calls this one as its
/// predecessor (rule 6). Async-signal-safe: atomics, `sigaction`, `write`.
extern "C" fn on_sigterm(_: libc::c_int) {
    let ours = on_sigterm as extern "C" fn(libc::c_int) as libc::sighandler_t;
    if current_sigterm() != ours {
        return;
    }
    TERM.store(true, Relaxed);
    wake::wake();
}

/// Whether a `SIGTERM` waits for its snapshot, which the caller (the
/// snapshot thread) then takes: the request is cleared, so a process that
/// survives the raise is not snapshotted again and again.
pub(crate) fn sigterm_requested() -> bool {
    TERM.swap(false, Relaxed)
}

/// After the `SIGTERM` snapshot: the default action back, and the signal
/// raised again, which ends the process as it would have ended.
pub(crate) fn end_by_sigterm() {
    // SAFETY: sets the default action and unblocks SIGTERM for this thread
    // (from a valid, initialised set) before raising it.
    unsafe {
        libc::signal(libc::SIGTERM, libc::SIG_DFL);
        let mut set: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, core::ptr::null_mut());
        libc::raise(libc::SIGTERM);
    }
}

/// The `atexit` hook: a snapshot from the exiting thread, in the process
/// that installed it only.
extern "C" fn at_exit() {
    // SAFETY: getpid has no preconditions.
    if unsafe { libc::getpid() } != PID.load(Relaxed) {
        return;
    }
    if let Some(config) = SETTINGS.get() {
        install::take_numbered(config, super::Trigger::Exit, None);
    }
}
