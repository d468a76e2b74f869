//! The `GlobalAlloc` shim.

use crate::heap::stack::walk::Origin;
use crate::heap::{guard, track};
use core::alloc::{GlobalAlloc, Layout};
use std::alloc::System;

/// A global allocator that records every live block with its size, owning
/// task and call stack, delegating the allocation itself to `A`.
///
/// ```
/// use turbowish_alloc::TurboWish;
///
/// #[global_allocator]
/// static ALLOC: TurboWish = TurboWish::system();
/// # fn main() {}
/// ```
///
/// Any `GlobalAlloc` can be wrapped, for example
/// `TurboWish::new(mimalloc::MiMalloc)`. TurboWish's own tables never come
/// from `A`: they are mapped directly from the kernel.
#[derive(Debug, Default)]
pub struct TurboWish<A: GlobalAlloc = System> {
    inner: A,
}

impl TurboWish<System> {
    /// TurboWish over the system allocator (`malloc`).
    pub const fn system() -> Self {
        TurboWish { inner: System }
    }
}

impl<A: GlobalAlloc> TurboWish<A> {
    /// TurboWish over any global allocator.
    pub const fn new(inner: A) -> Self {
        TurboWish { inner }
    }

    /// The wrapped allocator.
    pub const fn inner(&self) -> &A {
        &self.inner
    }
}

// SAFETY: every method hands the caller's request to `inner` unchanged and
// returns its result unchanged, so `inner`'s guarantees carry over. The
// bookkeeping around it never touches the blocks themselves.
unsafe impl<A: GlobalAlloc> GlobalAlloc for TurboWish<A> {
    #[inline(always)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let origin = Origin::here();
        // SAFETY: forwarded with the caller's layout, as `GlobalAlloc` requires.
        let p = unsafe { self.inner.alloc(layout) };
        if !p.is_null()
            && let Some(_busy) = guard::enter()
        {
            track::allocated(p as usize, layout.size(), origin);
        }
        p
    }

    #[inline(always)]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let origin = Origin::here();
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { self.inner.alloc_zeroed(layout) };
        if !p.is_null()
            && let Some(_busy) = guard::enter()
        {
            track::allocated(p as usize, layout.size(), origin);
        }
        p
    }

    #[inline(always)]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(_busy) = guard::enter() {
            track::freeing(ptr as usize, layout.size());
        }
        // SAFETY: the caller guarantees `ptr` came from this allocator (hence
        // from `inner`) with `layout`. The record was removed first (table
        // rule 2), so the address may be reused at once.
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    #[inline(always)]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let origin = Origin::here();
        // A reallocated block is a new block, moved or not: the old record goes
        // (table rule 2: before `inner` may reuse the address) and a new one,
        // with this call's task and stack, comes in.
        let busy = guard::enter();
        let old = busy
            .as_ref()
            .and_then(|_| track::freeing(ptr as usize, layout.size()));
        // SAFETY: forwarded with the caller's arguments.
        let p = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if busy.is_some() {
            if p.is_null() {
                // The old block is still live and still the caller's.
                if let Some(old) = &old {
                    track::restore(old);
                }
            } else {
                track::allocated(p as usize, new_size, origin);
            }
        }
        p
    }
}
