//! The reentrancy guard.
//!
//! While a thread is inside TurboWish's bookkeeping (capturing a stack,
//! interning it, updating the table), any allocation it makes is one of
//! TurboWish's own: it must go straight to the inner allocator, untracked,
//! or the shim would recurse into itself and try to take a shard lock it
//! already holds. The flag is a `const` thread-local without a destructor, so
//! reading it never allocates and never fails, even during thread teardown.
//!
//! # Rules
//!
//! 1. TurboWish's own memory outside the allocation path is allocated with
//!    the thread marked busy too ([`untracked`]): the snapshot thread (its
//!    start, its settings, its whole life), the signal registration, and
//!    everything a capture prepares in the parent (its plan and module
//!    list, its report). Such blocks are in no snapshot and no `stats()`:
//!    the user's heap is the user's only.
//! 2. A block is freed in the mode it was allocated in: an untracked block
//!    with the thread busy, a tracked one without. What TurboWish hands the
//!    user (a snapshot's path, an error's text) is therefore allocated in the
//!    caller's own mode. A block with a header says itself whether it was
//!    tracked (header rule 2), so for those the rule is a convenience; for a
//!    side-table block, an untracked one someone else frees (a panic hook or
//!    signal registration a library replaces later) only counts as an
//!    unknown free, and a tracked one freed while busy would leave a stale
//!    record (table rule 5).
//! 3. Nothing that forks runs busy: the fork protocol takes no lock for a
//!    busy thread (fork rule 5). A capture lifts the mark around its `fork`
//!    alone ([`lifted`]), but only a mark [`untracked`] set: every TurboWish
//!    lock is taken through [`enter`], which fails in an untracked section,
//!    so such a thread holds none. A thread busy in the allocation path (a
//!    capture started by a signal handler that interrupted it) may hold one,
//!    and keeps its mark.

use core::cell::Cell;

thread_local! {
    static BUSY: Cell<bool> = const { Cell::new(false) };
    /// Whether the busy mark is [`untracked`]'s (rule 3).
    static UNTRACKED: Cell<bool> = const { Cell::new(false) };
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

/// Runs `f` with this thread marked busy: what it allocates is untracked
/// (rule 1), and must be freed likewise (rule 2). A thread already busy
/// stays so.
pub(crate) fn untracked<T>(f: impl FnOnce() -> T) -> T {
    /// Clears both marks, also when `f` panics.
    struct Section {
        _busy: Reentry,
    }
    impl Drop for Section {
        fn drop(&mut self) {
            let _ = UNTRACKED.try_with(|u| u.set(false));
        }
    }
    let _section = enter().map(|busy| {
        let _ = UNTRACKED.try_with(|u| u.set(true));
        Section { _busy: busy }
    });
    f()
}

/// Builds a value untracked (rule 1), lets `read` look at it in the
/// caller's own mode, and frees it untracked again (rule 2): for TurboWish's
/// own temporaries, such as the list of live blocks a query walks, which
/// must not show up in what the query reports.
pub(crate) fn with_untracked<T, U>(make: impl FnOnce() -> T, read: impl FnOnce(&T) -> U) -> U {
    let value = untracked(make);
    let out = read(&value);
    untracked(move || drop(value));
    out
}

/// Runs `f` with this thread's busy mark lifted, if [`untracked`] set it,
/// and puts it back after (rule 3). `f` must free nothing allocated while
/// busy, nor return anything allocated.
pub(crate) fn lifted<T: Copy>(f: impl FnOnce() -> T) -> T {
    let lift = is_busy() && UNTRACKED.try_with(Cell::get).unwrap_or(false);
    if lift {
        leave();
    }
    let out = f();
    if lift {
        let _ = BUSY.try_with(|busy| busy.set(true));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rule 3: only a mark `untracked` set is lifted.
    #[test]
    fn only_an_untracked_mark_is_lifted() {
        untracked(|| {
            assert!(is_busy());
            assert!(!lifted(is_busy));
            assert!(is_busy());
        });
        assert!(!is_busy());
        let bookkeeping = enter().expect("not busy");
        assert!(lifted(is_busy), "bookkeeping keeps its mark");
        untracked(|| assert!(lifted(is_busy), "nor is it untracked's"));
        assert!(is_busy());
        drop(bookkeeping);
        assert!(!is_busy());
    }
}
