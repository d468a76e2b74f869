//! Bookkeeping for one allocation event: what the shim calls once it holds
//! the reentrancy guard.
//!
//! These functions run inside the global allocator. Everything they call is
//! allocation-free or, where a library may allocate (the DWARF unwinder, the
//! first `pthread_getattr_np`), runs under the reentrancy guard, so those
//! allocations go untracked to the inner allocator.

use crate::heap::record::Record;
use crate::heap::stack::{self, walk::Origin};
use crate::heap::{stats, table};
use crate::snapshot::threads;
use crate::tasks::tag;
use core::sync::atomic::Ordering::Relaxed;

/// Records a block the inner allocator just returned (table rule 2).
/// `origin` is where the shim was entered, where the stack walk starts.
#[inline]
pub(crate) fn allocated(addr: usize, size: usize, origin: Origin) {
    threads::register_current();
    let stack = stack::stack_for(crate::init::settings(), size, origin);
    let record = Record {
        addr,
        size,
        task: tag::current_tag(),
        stack,
        epoch: table::EPOCH.load(Relaxed),
        watcher: 0,
    };
    account(table::insert(&record), size);
}

/// Counts an insert's outcome: live bytes gained (less any stale record it
/// displaced), or a block left untracked.
#[inline(always)]
fn account(inserted: Result<usize, crate::heap::hashtable::Full>, size: usize) {
    match inserted {
        Ok(stale) => stats::note(size as i64 - stale as i64),
        Err(_) => {
            table::UNTRACKED.fetch_add(1, Relaxed);
        }
    }
}

/// Forgets a block about to go back to the inner allocator (table rule 2),
/// returning its record so a failed `realloc` can restore it.
#[inline]
pub(crate) fn freeing(addr: usize, size: usize) -> Option<Record> {
    let record = table::remove(addr, size);
    match &record {
        Some(r) => {
            stats::note(-(r.size as i64));
            if r.watcher != 0 {
                crate::tasks::registry::storage_freed(r.watcher - 1);
            }
        }
        None => {
            table::UNKNOWN_FREES.fetch_add(1, Relaxed);
        }
    }
    record
}

/// Puts back a record taken by [`freeing`] when the block was not freed
/// after all (a `realloc` that failed leaves the old block live).
#[cold]
pub(crate) fn restore(record: &Record) {
    account(table::reinsert(record), record.size);
}
