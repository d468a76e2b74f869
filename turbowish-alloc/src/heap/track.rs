//! Bookkeeping for one allocation event: what the shim calls around the
//! inner allocator.
//!
//! These functions run inside the global allocator. Everything they call is
//! allocation-free or, where a library may allocate (the DWARF unwinder, the
//! first `pthread_getattr_np`), runs under the reentrancy guard, so those
//! allocations go untracked to the inner allocator.
//!
//! The common case (a block with a header, header rule 1) touches only the
//! block's own header and this thread's counters: no lock, no shared line.

use crate::heap::header::{self, Fields, HEADER};
use crate::heap::record::Record;
use crate::heap::stack::{self, sample, walk::Origin};
use crate::heap::{counters, guard, table};
use crate::tasks::tag;
use core::sync::atomic::Ordering::Relaxed;

/// The call stack of the block of `size` bytes allocated at `origin` by
/// task `tag`, interned; 0 when stacks are off or the block is not sampled
/// (sample rule 4 says which blocks always are). The caller holds the
/// reentrancy guard.
#[inline(always)]
fn stack(size: usize, origin: Origin, headed: bool, tag: u32) -> u32 {
    let certain = sample::certain(headed, tag);
    stack::stack_for(crate::init::settings(), size, origin, certain)
}

/// The header of a block of `size` bytes just allocated at `origin`: a
/// tracked one, counted, outside TurboWish's bookkeeping; an untracked one
/// inside it (header rule 2).
#[inline(always)]
fn new_fields(size: usize, origin: Origin) -> Fields {
    match guard::enter() {
        Some(_busy) => {
            counters::allocated(size);
            let task = tag::current_tag();
            Fields {
                size,
                stack: stack(size, origin, true, task),
                task,
                epoch: table::EPOCH.load(Relaxed),
                tracked: true,
                watched: false,
            }
        }
        None => Fields {
            size,
            stack: 0,
            task: 0,
            epoch: 0,
            tracked: false,
            watched: false,
        },
    }
}

/// Writes the header of a block the inner allocator just returned at `base`
/// (header rule 3) and returns the caller's pointer.
///
/// # Safety
///
/// `base` must be a fresh, 16-aligned block of at least `size + 16` bytes.
#[inline(always)]
pub(crate) unsafe fn header_allocated(base: *mut u8, size: usize, origin: Origin) -> *mut u8 {
    let fields = new_fields(size, origin);
    // SAFETY: as the caller guarantees.
    unsafe {
        header::write(base, &fields);
        base.add(HEADER)
    }
}

/// Forgets the block whose header `f` was read at `base`, about to go back to
/// the inner allocator; the caller clears the header (header rule 3).
#[inline(always)]
pub(crate) fn header_freed(base: usize, f: &Fields) {
    if !f.tracked {
        return;
    }
    match guard::enter() {
        Some(_busy) => {
            counters::freed(f.size);
            if f.watched
                && let Some(watcher) = table::unwatch(base + HEADER)
            {
                crate::tasks::registry::storage_freed(watcher - 1);
            }
        }
        // A signal handler freeing a block while its thread was inside
        // TurboWish: the thread's counters may be mid-update, so count
        // atomically; its watch-list row (if any) stays (table rule 5).
        None => counters::freed_shared(f.size),
    }
}

/// Records a side-table block the inner allocator just returned (table rule
/// 2). `origin` is where the shim was entered, where the stack walk starts.
#[inline]
pub(crate) fn side_allocated(addr: usize, size: usize, origin: Origin) {
    let Some(_busy) = guard::enter() else {
        return;
    };
    let task = tag::current_tag();
    let record = Record {
        addr,
        size,
        task,
        stack: stack(size, origin, false, task),
        epoch: table::EPOCH.load(Relaxed),
        watcher: 0,
        headed: false,
    };
    account(table::insert(&record), size, true);
}

/// Counts a side insert's outcome: a block gained (less any stale record it
/// displaced), or a block left untracked.
fn account(inserted: Result<usize, crate::heap::hashtable::Full>, size: usize, new: bool) {
    match inserted {
        Ok(stale) => {
            if stale > 0 {
                counters::freed(stale);
            }
            if new {
                counters::allocated(size);
            } else {
                counters::restored(size);
            }
        }
        Err(_) => {
            table::UNTRACKED.fetch_add(1, Relaxed);
        }
    }
}

/// Forgets a side block about to go back to the inner allocator (table rule
/// 2), returning its record so a failed `realloc` can restore it.
#[inline]
pub(crate) fn side_freeing(addr: usize) -> Option<Record> {
    let _busy = guard::enter()?;
    let record = table::remove(addr);
    match &record {
        Some(r) => {
            counters::freed(r.size);
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

/// Puts back a record taken by [`side_freeing`] when the block was not
/// freed after all (a `realloc` that failed leaves the old block live).
#[cold]
pub(crate) fn side_restore(record: &Record) {
    if let Some(_busy) = guard::enter() {
        account(table::insert(record), record.size, false);
    }
}
