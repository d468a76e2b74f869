//! The fork protocol: a child process must never find a TurboWish lock held.
//!
//! `fork()` copies only the calling thread. Had another thread been holding a
//! shard lock at that instant, the child's copy of the lock would stay locked
//! forever and the child's first allocation touching that shard would spin
//! for ever. So TurboWish registers `pthread_atfork` handlers (once, at the
//! first tracked allocation) that follow these rules:
//!
//! 1. *Prepare* first marks the forking thread busy (the reentrancy guard), so
//!    that anything allocating after it, including prepare handlers of other
//!    libraries that run later, goes straight to the inner allocator and never
//!    waits on a lock this thread now holds.
//! 2. *Prepare* then takes every TurboWish lock, in one global order: the
//!    stack interner's initialisation lock, its map shards in index order,
//!    then the table's shards (small, then large, each in index order: table
//!    rule 4). Every other path holds at most one of these locks at a time, so
//!    this order cannot deadlock against them. (The settings need no lock: the
//!    handlers are registered only once they have been read.)
//! 3. Holding every lock means no thread is half-way through recording or
//!    forgetting a block: the child inherits a consistent table.
//! 4. *Parent* and *child* release every lock and clear the busy mark, in both
//!    processes.
//! 5. If the forking thread was already busy (a `fork` from a signal handler
//!    that interrupted TurboWish on this thread), it may itself hold one of the
//!    locks, so *prepare* takes none and the other handlers release none.
//!
//! 6. A snapshot's fork is marked ([`SNAPSHOT_FORK`]); for it, *prepare*
//!    advances the snapshot epoch while holding every lock, so every block
//!    recorded before the fork has an older birth epoch than every block
//!    recorded after it (table rule 1's "identity across snapshots").

use crate::{config, guard, intern, table};
use core::sync::atomic::{AtomicBool, Ordering};

/// Whether the current `fork` took the locks (rule 5).
static HELD: AtomicBool = AtomicBool::new(false);
/// Set by the snapshot thread just before it forks (rule 6); consumed by
/// *prepare*.
pub(crate) static SNAPSHOT_FORK: AtomicBool = AtomicBool::new(false);

/// Registers the handlers. Called once, from first-use initialisation.
pub(crate) fn register() {
    // SAFETY: the three handlers are `extern "C" fn()` with static lifetime;
    // glibc's registration does not call back into Rust.
    let rc = unsafe { libc::pthread_atfork(Some(prepare), Some(release), Some(release)) };
    if rc != 0 {
        config::warn_line(
            "turbowish: pthread_atfork failed; a forked child may hang if it allocates\n",
        );
    }
}

extern "C" fn prepare() {
    // Rule 1 (and rule 5: if busy already, take nothing).
    let Some(busy) = guard::enter() else {
        return;
    };
    core::mem::forget(busy);
    // Rule 2.
    intern::lock_all_forever();
    table::lock_all_forever();
    HELD.store(true, Ordering::Relaxed);
    // Rule 6.
    if SNAPSHOT_FORK.swap(false, Ordering::Relaxed) {
        table::EPOCH.fetch_add(1, Ordering::Relaxed);
    }
}

extern "C" fn release() {
    if !HELD.swap(false, Ordering::Relaxed) {
        return;
    }
    // SAFETY: `prepare` took exactly these locks with `lock_all_forever` in
    // this thread (rule 2), and nothing has used the guarded data since: the
    // fork happened in between, in this thread.
    unsafe {
        table::unlock_all_forever();
        intern::unlock_all_forever();
    }
    guard::leave();
}
