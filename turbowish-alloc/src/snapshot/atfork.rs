//! The fork protocol, in `pthread_atfork` handlers: a child process must
//! never find a TurboWish lock held.
//!
//! `fork()` copies only the calling thread. Had another thread been holding a
//! shard lock at that instant, the child's copy of the lock would stay locked
//! forever and the child's first allocation touching that shard would spin
//! for ever. So TurboWish registers `pthread_atfork` handlers (once, by the
//! first-use initialisation in `crate::init`, right after the settings are
//! read) that follow these rules, cited elsewhere as "fork rule N":
//!
//! 1. *Prepare* first marks the forking thread busy (the reentrancy guard), so
//!    that anything allocating after it, including prepare handlers of other
//!    libraries that run later, goes straight to the inner allocator and never
//!    waits on a lock this thread now holds.
//! 2. *Prepare* then takes every TurboWish lock, in one global order: the
//!    task registry's list lock, the stack interner's initialisation lock,
//!    its map shards in index order, then the side table's shards and the
//!    watch list's (table rule 3). Every other path holds at most one of
//!    these locks at a time, so this order cannot deadlock against them.
//!    (The settings need no lock: the handlers are registered only once they
//!    have been read.)
//! 3. Holding every lock means no thread is half-way through a side-table or
//!    interner update: the child inherits consistent tables. Blocks with a
//!    header need no lock: a header half-written or half-cleared at the fork
//!    fails its check in the child (header rule 4), so the block is listed
//!    as it was just before or just after.
//! 4. *Parent* and *child* release every lock and clear the busy mark, in both
//!    processes.
//! 5. If the forking thread was already busy (a `fork` from a signal handler
//!    that interrupted TurboWish on this thread), it may itself hold one of the
//!    locks, so *prepare* takes none and the other handlers release none.
//!
//! 6. A snapshot's fork is marked with its thread's id (the capture's
//!    [`SNAPSHOT_FORK`](capture::SNAPSHOT_FORK)); for it, and only in that
//!    thread, *prepare* advances the snapshot epoch while holding every lock,
//!    so every block recorded before the fork has an older birth epoch than
//!    every block recorded after it: a block's address and birth epoch name
//!    it across snapshots (see [`EPOCH`](table::EPOCH)).
//! 7. In the child of any other fork, only the forking thread exists: the
//!    thread registry forgets the others and a capture the parent had in
//!    progress is forgotten, so snapshots in that child work and are right.
//! 8. For a snapshot's fork, *prepare* notes the time before it takes the
//!    first lock, and *parent* the time after it released the last: that
//!    interval is the capture's pause (capture rule 12), as long as any
//!    other thread that allocates can have waited. Prepare handlers run in
//!    the reverse order of their registration and parent handlers in that
//!    order, and these were registered first (at the first allocation), so
//!    the interval holds every other library's handlers and the `fork`
//!    itself.

use crate::heap::stack::intern;
use crate::heap::{guard, table};
use crate::snapshot::{capture, threads};
use crate::tasks::registry;
use core::cell::Cell;
use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;

thread_local! {
    /// Whether this thread's current `fork` took the locks (rule 5), and
    /// whether it is a snapshot's (rule 6). Per thread: two threads may fork
    /// at once, and each handler runs in the forking thread.
    static HELD: Cell<bool> = const { Cell::new(false) };
    static SNAPSHOT: Cell<bool> = const { Cell::new(false) };
}

/// Rule 8: when the snapshot fork under way began taking locks, and how
/// long the last one held them (ns, monotonic clock).
static SNAPSHOT_LOCKING: AtomicU64 = AtomicU64::new(0);
static SNAPSHOT_PAUSE: AtomicU64 = AtomicU64::new(0);

/// The pause of the last snapshot fork (rule 8): read by the capture right
/// after its `fork` returns in the parent (one capture at a time: capture
/// rule 1).
pub(crate) fn snapshot_pause() -> Duration {
    Duration::from_nanos(SNAPSHOT_PAUSE.load(Ordering::Relaxed))
}

/// Registers the handlers. Called once, from first-use initialisation.
pub(crate) fn register() {
    // SAFETY: the three handlers are `extern "C" fn()` with static lifetime;
    // glibc's registration does not call back into Rust.
    let rc = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
    if rc != 0 {
        crate::stderr::warn_line(
            "turbowish: pthread_atfork failed; a forked child may hang if it allocates\n",
        );
    }
}

extern "C" fn prepare() {
    // Rule 6 and 7: record, whatever happens below, whether this is a
    // snapshot's fork, for the child handler.
    // SAFETY: gettid has no preconditions.
    let me = unsafe { libc::gettid() } as u32;
    let snapshot = capture::SNAPSHOT_FORK.load(Ordering::Relaxed) == me;
    let _ = SNAPSHOT.try_with(|s| s.set(snapshot));
    if snapshot {
        SNAPSHOT_LOCKING.store(crate::clock::precise_ns(), Ordering::Relaxed);
    }
    // Rule 1 (and rule 5: if busy already, take nothing).
    let Some(busy) = guard::enter() else {
        return;
    };
    core::mem::forget(busy);
    // Rule 2.
    registry::lock_forever();
    intern::lock_all_forever();
    table::lock_all_forever();
    let _ = HELD.try_with(|h| h.set(true));
    // Rule 6.
    if snapshot {
        table::EPOCH.fetch_add(1, Ordering::Relaxed);
    }
}

/// In the parent: the locks released, and a snapshot's pause noted (rule
/// 8).
extern "C" fn parent() {
    release();
    if SNAPSHOT.try_with(Cell::get).unwrap_or(false) {
        let began = SNAPSHOT_LOCKING.load(Ordering::Relaxed);
        let pause = crate::clock::precise_ns().saturating_sub(began);
        SNAPSHOT_PAUSE.store(pause, Ordering::Relaxed);
    }
}

/// In a child that is not a snapshot's (a user's own `fork`), the parent's
/// other threads are gone: forget them, and any capture in progress (rule 7).
/// In every child, no trigger can be served (trigger rule 1).
extern "C" fn child() {
    crate::snapshot::triggers::disarm();
    if !SNAPSHOT.try_with(Cell::get).unwrap_or(true) {
        threads::forget_other_threads();
        capture::reset_after_fork();
    }
    release();
}

extern "C" fn release() {
    if !HELD.try_with(|h| h.replace(false)).unwrap_or(false) {
        return;
    }
    // SAFETY: `prepare` took exactly these locks with `lock_all_forever` in
    // this thread (rule 2), and nothing has used the guarded data since: the
    // fork happened in between, in this thread.
    unsafe {
        table::unlock_all_forever();
        intern::unlock_all_forever();
        registry::unlock_forever();
    }
    guard::leave();
}
