//! The thread registry: every thread that has allocated, with its stack
//! bounds and thread pointer, so that a snapshot can scan other threads'
//! stacks and thread-local storage as roots.
//!
//! # Rules
//!
//! 1. A thread registers itself at its first tracked allocation, into a fixed
//!    array of slots in static memory: registering never allocates and takes
//!    no lock (a slot is claimed with a compare-and-swap on its owner field).
//! 2. A slot's fields are written before its owner is published with
//!    `Release`; a reader (the fork child) that sees an owner sees its fields.
//! 3. A thread's slot is released when the thread exits (a thread-local
//!    destructor), and may then be claimed by a new thread.
//! 4. When every slot is taken, further threads are not registered; their
//!    stacks are not roots, which a snapshot reports.

use core::cell::Cell;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// Most threads registered at once.
pub(crate) const MAX_THREADS: usize = 4096;

struct Slot {
    /// Kernel thread id of the owner; 0 when free.
    tid: AtomicU32,
    stack_lo: AtomicUsize,
    stack_hi: AtomicUsize,
    /// The thread pointer (x86_64 `fs` base, aarch64 `tpidr_el0`).
    thread_pointer: AtomicUsize,
}

static SLOTS: [Slot; MAX_THREADS] = [const {
    Slot {
        tid: AtomicU32::new(0),
        stack_lo: AtomicUsize::new(0),
        stack_hi: AtomicUsize::new(0),
        thread_pointer: AtomicUsize::new(0),
    }
}; MAX_THREADS];
/// Threads that found no free slot (rule 4).
pub(crate) static UNREGISTERED: AtomicU64 = AtomicU64::new(0);

/// This thread's slot, released on thread exit (rule 3).
struct Registration(Cell<usize>);

const UNCLAIMED: usize = usize::MAX;

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(slot) = SLOTS.get(self.0.get()) {
            slot.tid.store(0, Ordering::Release);
        }
    }
}

thread_local! {
    static REGISTRATION: Registration = const { Registration(Cell::new(UNCLAIMED)) };
}

/// Registers the current thread if it is not yet (rule 1). Called from
/// allocation bookkeeping, under the reentrancy guard.
#[inline]
pub(crate) fn register_current() {
    let _ = REGISTRATION.try_with(|r| {
        if r.0.get() == UNCLAIMED {
            r.0.set(claim().unwrap_or(MAX_THREADS));
        }
    });
}

#[cold]
fn claim() -> Option<usize> {
    let (lo, hi) = crate::heap::stack::walk::stack_bounds()?;
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() } as u32;
    for (i, slot) in SLOTS.iter().enumerate() {
        if slot.tid.load(Ordering::Relaxed) != 0 {
            continue;
        }
        // Claim with a placeholder owner so no one else takes the slot while
        // its fields are written, then publish the real owner (rule 2).
        if slot
            .tid
            .compare_exchange(0, u32::MAX, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            slot.stack_lo.store(lo, Ordering::Relaxed);
            slot.stack_hi.store(hi, Ordering::Relaxed);
            slot.thread_pointer
                .store(thread_pointer(), Ordering::Relaxed);
            slot.tid.store(tid, Ordering::Release);
            return Some(i);
        }
    }
    UNREGISTERED.fetch_add(1, Ordering::Relaxed);
    None
}

/// In a fork child: every registered thread but this one is gone (fork rule
/// 7). Frees their slots; this thread keeps its own.
pub(crate) fn forget_other_threads() {
    let mine = REGISTRATION.try_with(|r| r.0.get()).unwrap_or(UNCLAIMED);
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() } as u32;
    for (i, slot) in SLOTS.iter().enumerate() {
        if i == mine {
            slot.tid.store(tid, Ordering::Release);
        } else {
            slot.tid.store(0, Ordering::Release);
        }
    }
}

/// A registered thread, as the snapshot sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ThreadInfo {
    pub(crate) tid: u32,
    pub(crate) stack_lo: usize,
    pub(crate) stack_hi: usize,
    pub(crate) thread_pointer: usize,
}

/// Every registered thread (rule 2: only published slots).
pub(crate) fn registered() -> Vec<ThreadInfo> {
    SLOTS
        .iter()
        .filter_map(|s| {
            let tid = s.tid.load(Ordering::Acquire);
            (tid != 0 && tid != u32::MAX).then(|| ThreadInfo {
                tid,
                stack_lo: s.stack_lo.load(Ordering::Relaxed),
                stack_hi: s.stack_hi.load(Ordering::Relaxed),
                thread_pointer: s.thread_pointer.load(Ordering::Relaxed),
            })
        })
        .collect()
}

/// The thread pointer: where this thread's TCB is, with the static TLS block
/// just below it (x86_64) or just above it (aarch64).
pub(crate) fn thread_pointer() -> usize {
    let tp: usize;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: reads the TCB's self-pointer at fs:0, which glibc always sets.
    unsafe {
        core::arch::asm!("mov {}, fs:0", out(reg) tp, options(nostack, readonly, preserves_flags));
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: reads a system register; no memory access.
    unsafe {
        core::arch::asm!("mrs {}, tpidr_el0", out(reg) tp, options(nomem, nostack, preserves_flags));
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        tp = 0;
    }
    tp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_register_and_release_their_slots() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let h = std::thread::spawn(move || {
            register_current();
            // SAFETY: gettid has no preconditions.
            tx.send(unsafe { libc::gettid() } as u32).unwrap();
            done_rx.recv().unwrap();
        });
        let tid = rx.recv().unwrap();
        let me = registered()
            .into_iter()
            .find(|t| t.tid == tid)
            .expect("registered");
        assert!(me.stack_lo < me.stack_hi && me.thread_pointer != 0);
        done_tx.send(()).unwrap();
        h.join().unwrap();
        assert!(
            registered().iter().all(|t| t.tid != tid),
            "slot not released"
        );
    }
}
