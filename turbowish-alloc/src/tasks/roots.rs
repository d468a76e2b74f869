//! Named typed roots: shared values a snapshot walks by type.
//!
//! [`root`] registers a weak reference to an `Arc`'d value under a name. A
//! snapshot walks the value with its [`Trace`] impl while it is alive, so the
//! blocks it owns carry its type and field paths, and it appears among the
//! roots by name. The registration holds only a `Weak`: it never keeps the
//! value alive, and ends when the [`RootGuard`] is dropped.

use crate::tasks::registry::{self, KIND_ROOT, NewRow};
use crate::trace::{Heap, Trace, Tracer};
use core::alloc::Layout;
use core::panic::Location;
use std::sync::{Arc, Weak};

/// Keeps a typed root registered; unregisters it on drop.
#[derive(Debug)]
#[must_use = "the root is unregistered when the guard is dropped"]
pub struct RootGuard {
    slot: Option<u32>,
    /// The `Weak` the registry holds, as a raw pointer, and how to drop it.
    weak: usize,
    drop_weak: unsafe fn(usize),
}

/// Registers `value` as a typed root named `name` (cut to 40 bytes).
///
/// ```
/// use std::sync::{Arc, Mutex};
/// let sessions: Arc<Mutex<Vec<String>>> = Arc::default();
/// let _root = turbowish_alloc::root("sessions", &sessions);
/// // Snapshots now walk `sessions` by type while `_root` lives.
/// ```
#[track_caller]
pub fn root<T: Trace + Send + Sync + 'static>(name: &str, value: &Arc<T>) -> RootGuard {
    let weak = Weak::into_raw(Arc::downgrade(value)) as usize;
    let slot = registry::claim(NewRow {
        kind: KIND_ROOT,
        name,
        location: Location::caller(),
        type_name: core::any::type_name::<T>,
        size: size_of::<T>(),
    });
    if let Some(s) = slot.and_then(registry::slot) {
        s.set_value(weak, trace_weak::<T>, core::any::type_name::<Arc<T>>);
    }
    RootGuard {
        slot,
        weak,
        drop_weak: drop_weak::<T>,
    }
}

impl Drop for RootGuard {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            registry::finish(slot); // withdraws the pointer first
        }
        // SAFETY: `weak` came from `Weak::into_raw` for this very `T`
        // (`root`), and this is its only release.
        unsafe { (self.drop_weak)(self.weak) };
    }
}

/// # Safety
///
/// `weak` must come from `Weak::<T>::into_raw` and not have been released.
unsafe fn drop_weak<T>(weak: usize) {
    // SAFETY: as the caller guarantees.
    drop(unsafe { Weak::from_raw(weak as *const T) });
}

/// Walks the value behind a registered `Weak<T>`, if it is still alive.
///
/// # Safety
///
/// `addr` must be the pointer `Weak::<T>::into_raw` gave for a weak
/// reference still registered (the allocation therefore still exists in the
/// walked image); the tracer checks the allocation is a live block before
/// anything is read.
unsafe fn trace_weak<T: Trace>(addr: usize, tracer: &mut Tracer<'_>) {
    let Ok((layout, offset)) = Layout::new::<[usize; 2]>().extend(Layout::new::<T>()) else {
        return;
    };
    let start = addr.wrapping_sub(offset);
    let bytes = layout.pad_to_align().size();
    if !tracer.is_live_block(start, bytes) {
        return;
    }
    // SAFETY: the block at `start` is live and large enough for the
    // allocation of an `Arc<T>` (std's `ArcInner` is two counters then the
    // value, `#[repr(C)]`); a `Weak` for it was registered, so the counters
    // are valid to read. `ManuallyDrop` leaves the count untouched.
    let weak = core::mem::ManuallyDrop::new(unsafe { Weak::from_raw(addr as *const T) });
    if weak.strong_count() == 0 {
        return; // the value is gone; only the allocation remains
    }
    let block = Heap::block(start as *const u8, bytes)
        .named(core::any::type_name::<Arc<T>>())
        .shared();
    // SAFETY: a strong reference exists, so the value is alive.
    let value = unsafe { &*(addr as *const T) };
    tracer.heap(block, |t| value.trace(t));
}
