//! The child's side of a capture, as a process: it marks itself busy (rule
//! 2), cuts itself off from the parent's signals, files and panic hook
//! (rules 3, 8), has the snapshot built, reports on the pipe and leaves with
//! `_exit`.

use super::build;
use super::memory::Memory;
use super::parked::{self, Parked};
use super::plan::Plan;
use crate::heap::guard;
use std::io::ErrorKind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The child: builds and writes the snapshot, reports, exits (rules 2, 3).
/// The parent sends the parked threads (rule 15) and the pause (rule 12) on
/// `pause_fd`.
pub(super) fn child_main(plan: &Plan, report_fd: i32, pause_fd: i32) -> ! {
    // Rule 2.
    if let Some(busy) = guard::enter() {
        core::mem::forget(busy);
    }
    // Rule 16: before anything the child allocates changes them.
    let allocator = Memory::read_allocator();
    isolate(&[report_fd, pause_fd]);
    // Rule 15: the parent sends the parked threads first, the pause last.
    let parked = receive_parked(pause_fd);
    let pause = || receive_pause(pause_fd);
    let result =
        std::panic::catch_unwind(|| build::build_and_write(plan, &parked, allocator, pause));
    let (line, code) = match result {
        Ok(Ok((bytes, blocks, edges))) => (format!("ok {bytes} {blocks} {edges}\n"), 0),
        Ok(Err(why)) => (format!("error {why}\n"), 1),
        Err(_) => ("error the capture panicked\n".to_owned(), 1),
    };
    // SAFETY: writes a valid buffer to our pipe, then ends the child without
    // running destructors or atexit handlers (rule 3).
    unsafe {
        libc::write(report_fd, line.as_ptr().cast(), line.len());
        libc::_exit(code)
    }
}

/// Cuts the child off from the parent's world (rule 8): it must not run the
/// parent's signal handlers (a `pkill -USR1` would otherwise trigger another
/// snapshot through the shared pipe), hold the parent's files open, outlive
/// the parent, or be spared by the OOM killer at the parent's expense.
fn isolate(keep: &[i32]) {
    // SAFETY: plain system calls on this process: block every signal (the
    // parent's SIGKILL still works) and ask for SIGKILL when the parent
    // dies. Neither touches memory we own.
    unsafe {
        let mut all: libc::sigset_t = core::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, core::ptr::null_mut());
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() == 1 {
            libc::_exit(1); // the parent is already gone
        }
    }
    close_all_but(keep);
    let _ = std::fs::write("/proc/self/oom_score_adj", "1000");
    report_faults(keep[0]);
    // A panic in a user's `Trace` impl is caught and recorded; the hook
    // installed before the fork stays silent here (rule 3).
    CHILD_PANICS_SILENT.store(true, Ordering::Relaxed);
}

/// Set in the capture child: the panic hook says nothing (rule 3).
static CHILD_PANICS_SILENT: AtomicBool = AtomicBool::new(false);

/// A panic hook, as `std::panic::take_hook` returns it.
type Hook = Box<dyn Fn(&std::panic::PanicHookInfo<'_>) + Sync + Send>;

/// The hook [`install_panic_hook`] replaced. Kept in a static rather than
/// in the new hook's closure: that closure is allocated in the capture, so
/// untracked (rule 13), and the scan never reads untracked memory; the
/// program's own hook (a tracked block: libtest installs one in every test
/// binary) would look unreachable in every snapshot. A static is module
/// data, a root, and the new hook's closure holds nothing (no allocation).
static PREVIOUS_HOOK: std::sync::OnceLock<Hook> = std::sync::OnceLock::new();

/// Installs, once and in the parent, a panic hook that defers to the one it
/// replaces except in the capture child. Setting a hook *in* the child would
/// take the hook lock, which a parent thread running a panic hook at the
/// fork may hold for ever (rule 3).
pub(super) fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = PREVIOUS_HOOK.set(std::panic::take_hook());
        std::panic::set_hook(Box::new(|info| {
            if CHILD_PANICS_SILENT.load(Ordering::Relaxed) {
                return;
            }
            if let Some(previous) = PREVIOUS_HOOK.get() {
                previous(info);
            }
        }));
    });
}

/// Where a fault is reported (see [`report_faults`]).
static REPORT_FD: core::sync::atomic::AtomicI32 = core::sync::atomic::AtomicI32::new(-1);

/// Turns a memory fault in the child (a `Trace` impl that followed a pointer
/// its checks could not see, such as a torn value's) into a clear report
/// instead of a silent death.
fn report_faults(report_fd: i32) {
    extern "C" fn on_fault(_: libc::c_int) {
        const LINE: &[u8] = b"error the capture child hit a memory fault; a Trace impl may \
            have read through a torn value (no snapshot was written)\n";
        let fd = REPORT_FD.load(core::sync::atomic::Ordering::Relaxed);
        // SAFETY: write(2) and _exit(2) are async-signal-safe; the buffer is
        // a static.
        unsafe {
            libc::write(fd, LINE.as_ptr().cast(), LINE.len());
            libc::_exit(3);
        }
    }
    REPORT_FD.store(report_fd, core::sync::atomic::Ordering::Relaxed);
    // A stack overflow faults with no stack left to run the handler on: give
    // it its own (leaked: the child ends with `_exit`).
    let alt: &'static mut [u8] = Box::leak(vec![0u8; 64 * 1024].into_boxed_slice());
    // SAFETY: installs a handler that only calls async-signal-safe functions,
    // on an alternate stack that lives for the rest of the process, and
    // unblocks the two synchronous fault signals in this (single-threaded)
    // child.
    unsafe {
        let stack = libc::stack_t {
            ss_sp: alt.as_mut_ptr().cast(),
            ss_flags: 0,
            ss_size: alt.len(),
        };
        libc::sigaltstack(&stack, core::ptr::null_mut());
        let mut action: libc::sigaction = core::mem::zeroed();
        action.sa_flags = libc::SA_ONSTACK;
        action.sa_sigaction = on_fault as *const () as usize;
        let mut faults: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut faults);
        for sig in [libc::SIGSEGV, libc::SIGBUS] {
            libc::sigaction(sig, &action, core::ptr::null_mut());
            libc::sigaddset(&mut faults, sig);
        }
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &faults, core::ptr::null_mut());
    }
}

/// Closes every descriptor from 3 up except those in `keep` (which may be
/// below 3 if the process had closed its standard streams).
fn close_all_but(keep: &[i32]) {
    let close = |first: libc::c_uint, last: libc::c_uint| {
        if first <= last {
            // SAFETY: closes descriptors of this process only; the child
            // uses none of them (it opens its own files afterwards).
            unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) };
        }
    };
    let mut kept: Vec<libc::c_uint> = keep.iter().map(|&fd| fd.max(0) as libc::c_uint).collect();
    kept.sort_unstable();
    let mut first = 3;
    for fd in kept.into_iter().filter(|&fd| fd >= 3) {
        if fd > first {
            close(first, fd - 1);
        }
        first = first.max(fd + 1);
    }
    close(first, libc::c_uint::MAX);
}

/// The threads that stayed parked across the fork, as the parent found
/// them (rules 14, 15); none if its message is cut short or makes no sense.
fn receive_parked(fd: i32) -> Parked {
    let mut count = [0u8; 4];
    if !read_exact(fd, &mut count) {
        return Parked::default();
    }
    let Some(len) = parked::entry_bytes(count) else {
        return Parked::default();
    };
    let mut entries = vec![0u8; len];
    match read_exact(fd, &mut entries) {
        true => Parked::decode(&entries),
        false => Parked::default(),
    }
}

/// The pause the parent measured (rule 12); zero if it sent none.
fn receive_pause(fd: i32) -> Duration {
    let mut ns = [0u8; 8];
    match read_exact(fd, &mut ns) {
        true => Duration::from_nanos(u64::from_ne_bytes(ns)),
        false => Duration::ZERO,
    }
}

/// Fills `buf` from the parent's socket; `false` if it ends first. The
/// parent sends right after the fork; if it dies first, so does this child
/// (rule 8).
fn read_exact(fd: i32, buf: &mut [u8]) -> bool {
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: reads into the unfilled rest of a valid buffer.
        let n = unsafe { libc::read(fd, buf[got..].as_mut_ptr().cast(), buf.len() - got) };
        match n {
            n if n > 0 => got += n as usize,
            n if n < 0 && std::io::Error::last_os_error().kind() == ErrorKind::Interrupted => {}
            _ => return false,
        }
    }
    true
}
