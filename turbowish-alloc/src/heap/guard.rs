//! The reentrancy guard.
//!
//! While a thread is inside TurboWish's bookkeeping (capturing a stack,
//! interning it, updating the table), any allocation it makes is one of
//! TurboWish's own: it must go straight to the inner allocator, untracked,
//! or the shim would recurse into itself and try to take a shard lock it
//! already holds. The flag is a `const` thread-local without a destructor, so
//! reading it never allocates and never fails, even during thread teardown.

use core::cell::Cell;

thread_local! {
    static BUSY: Cell<bool> = const { Cell::new(false) };
}

/// Proof that this thread is inside TurboWish bookkeeping; clears the flag on
/// drop.
pub(crate) struct Reentry(());

/// Marks this thread busy, or returns `None` if it already is (the caller is
/// TurboWish itself, or a signal handler interrupted it): then the caller must
/// not touch any table.
#[inline(always)]
pub(crate) fn enter() -> Option<Reentry> {
    BUSY.try_with(|busy| {
        if busy.get() {
            None
        } else {
            busy.set(true);
            Some(Reentry(()))
        }
    })
    .ok()
    .flatten()
}

impl Drop for Reentry {
    #[inline(always)]
    fn drop(&mut self) {
        let _ = BUSY.try_with(|busy| busy.set(false));
    }
}

/// Clears the busy mark left by a forgotten [`Reentry`] (the fork protocol
/// holds it across `fork()`).
pub(crate) fn leave() {
    let _ = BUSY.try_with(|busy| busy.set(false));
}

/// Whether this thread is inside TurboWish bookkeeping.
pub(crate) fn is_busy() -> bool {
    BUSY.try_with(Cell::get).unwrap_or(true)
}
