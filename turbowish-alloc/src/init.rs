//! First-use initialisation: the settings, then the fork handlers.
//!
//! It runs once, at the first tracked allocation (or the first call to
//! [`settings`](fn@settings)), which may come before `main`, inside the
//! allocator, on whichever thread allocates first.
//!
//! 1. The stack settings are read from the environment and published.
//! 2. Only then are the fork handlers registered, so a fork never finds the
//!    settings half-read: they need no lock (fork rule 2).
//!
//! Other threads that allocate meanwhile wait for step 1 (it takes
//! microseconds) and then go on.

use crate::heap::stack::settings::{self, Settings};
use crate::snapshot::atfork;
use core::sync::atomic::{AtomicU8, Ordering};

const UNREAD: u8 = 0;
const READING: u8 = 1;
const READY: u8 = 2;
static STATE: AtomicU8 = AtomicU8::new(UNREAD);

/// The settings in force (reading the environment if nothing has been
/// allocated yet).
#[inline]
pub fn settings() -> Settings {
    if STATE.load(Ordering::Acquire) != READY {
        init();
    }
    settings::published()
}

#[cold]
fn init() {
    if STATE
        .compare_exchange(UNREAD, READING, Ordering::Acquire, Ordering::Acquire)
        .is_err()
    {
        // Another thread is reading: parsing takes microseconds.
        while STATE.load(Ordering::Acquire) != READY {
            // SAFETY: sched_yield has no preconditions.
            unsafe { libc::sched_yield() };
        }
        return;
    }
    settings::publish(settings::from_env());
    STATE.store(READY, Ordering::Release);
    atfork::register();
}
