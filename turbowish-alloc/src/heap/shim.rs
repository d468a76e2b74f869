//! The `GlobalAlloc` shim.
//!
//! A block whose layout allows it (header rule 1) is allocated 16 bytes
//! larger, with the header in front; every other block goes through the side
//! table. Both `dealloc` and `realloc` are told the layout, so they always
//! know which kind of block they hold.

use crate::heap::figures::{self, AllocatorFigures, FiguresHook};
use crate::heap::header::{self, HEADER, has_header};
use crate::heap::stack::walk::Origin;
use crate::heap::table;
use crate::heap::track;
use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::Ordering::Relaxed;
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
/// `TurboWish::new(mimalloc::MiMalloc)`. Blocks under 4 KiB are asked of
/// `A` 16 bytes larger and aligned to 16, for their header; TurboWish's own
/// tables never come from `A`: they are mapped directly from the kernel.
///
/// Snapshots record where the process's resident memory goes, with the
/// inner allocator's own figures where it has them (figures rule 1):
/// `TurboWish::system()` reads glibc's `mallinfo2`; another allocator's
/// come from a hook given to [`with_figures`](TurboWish::with_figures).
#[derive(Debug)]
pub struct TurboWish<A: GlobalAlloc = System> {
    inner: A,
    /// The inner allocator's figures (figures rules 1 and 2).
    figures: FiguresHook,
}

impl TurboWish<System> {
    /// TurboWish over the system allocator (`malloc`), with glibc's figures
    /// ([`AllocatorFigures::glibc`]).
    pub const fn system() -> Self {
        TurboWish::new(System).with_figures(AllocatorFigures::glibc)
    }
}

impl<A: GlobalAlloc> TurboWish<A> {
    /// TurboWish over any global allocator, without figures of its own
    /// (snapshots record them as unknown): see
    /// [`with_figures`](TurboWish::with_figures). For `System`, prefer
    /// [`TurboWish::system`].
    pub const fn new(inner: A) -> Self {
        TurboWish {
            inner,
            figures: AllocatorFigures::none,
        }
    }

    /// The same shim, whose snapshots take the inner allocator's figures
    /// from `figures` (run in the snapshot's fork child, never in the
    /// running program, with its allocations untracked: figures rule 3).
    ///
    /// ```
    /// use std::alloc::System;
    /// use turbowish_alloc::{AllocatorFigures, TurboWish};
    ///
    /// #[global_allocator]
    /// static A: TurboWish = TurboWish::new(System).with_figures(AllocatorFigures::glibc);
    /// # fn main() {}
    /// ```
    pub const fn with_figures(mut self, figures: FiguresHook) -> Self {
        self.figures = figures;
        self
    }

    /// The wrapped allocator.
    pub const fn inner(&self) -> &A {
        &self.inner
    }
}

/// What the inner allocator is asked for, for a block of `size` bytes with a
/// header.
#[inline(always)]
fn with_header(size: usize) -> Layout {
    // SAFETY: `size < 2^12` (header rule 1), so `size + 16` neither overflows
    // nor exceeds `isize::MAX` rounded to 16; 16 is a power of two.
    unsafe { Layout::from_size_align_unchecked(size + HEADER, HEADER) }
}

impl<A: GlobalAlloc + Default> Default for TurboWish<A> {
    /// [`TurboWish::new`] over `A`'s default: no figures.
    fn default() -> Self {
        TurboWish::new(A::default())
    }
}

impl<A: GlobalAlloc> TurboWish<A> {
    /// Allocates with `f` (the inner `alloc` or `alloc_zeroed`).
    #[inline(always)]
    unsafe fn alloc_with(
        &self,
        layout: Layout,
        origin: Origin,
        f: impl FnOnce(&A, Layout) -> *mut u8,
    ) -> *mut u8 {
        if has_header(layout.size(), layout.align()) {
            let base = f(&self.inner, with_header(layout.size()));
            if base.is_null() {
                return base;
            }
            // SAFETY: a fresh block of `size + 16` bytes aligned to 16.
            return unsafe { track::header_allocated(base, layout.size(), origin) };
        }
        let p = f(&self.inner, layout);
        if !p.is_null() {
            figures::offer(self.figures); // figures rule 2: off the hot path
            track::side_allocated(p as usize, layout.size(), origin);
        }
        p
    }

    /// Moves a block to a new one of `new_size` bytes by copying: when it
    /// changes kind (header or side), or came from elsewhere.
    #[cold]
    unsafe fn realloc_by_copy(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's `realloc` contract makes this layout valid.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: a non-zero size (the `realloc` contract).
        let p = unsafe { self.alloc(new_layout) };
        if !p.is_null() {
            // SAFETY: both blocks are live and distinct, each at least as long
            // as the shorter size.
            unsafe {
                core::ptr::copy_nonoverlapping(ptr, p, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        p
    }

    /// `realloc` of a block with a header that keeps one.
    #[inline(always)]
    unsafe fn realloc_header(
        &self,
        ptr: *mut u8,
        layout: Layout,
        new_size: usize,
        origin: Origin,
    ) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator with `layout`, so 16 bytes
        // before it is its header (header rule 1); if not, rule 6.
        let base = unsafe { ptr.sub(HEADER) };
        // SAFETY: see above; the caller owns the block.
        let Some(old) = (unsafe { header::read(base) }) else {
            table::UNKNOWN_FREES.fetch_add(1, Relaxed);
            // SAFETY: as our caller's.
            return unsafe { self.realloc_foreign(ptr, layout, new_size) };
        };
        // SAFETY: header rule 3: cleared before the inner allocator may reuse
        // or move the block.
        unsafe { header::clear(base) };
        // SAFETY: `base` came from `inner` with this layout.
        let nb = unsafe {
            self.inner
                .realloc(base, with_header(layout.size()), new_size + HEADER)
        };
        if nb.is_null() {
            // SAFETY: the old block is still live and ours: its header back.
            unsafe { header::write(base, &old) };
            return nb;
        }
        track::header_freed(base as usize, &old);
        // SAFETY: a live block of `new_size + 16` bytes, aligned to 16.
        unsafe { track::header_allocated(nb, new_size, origin) }
    }

    /// A block the shim did not allocate (header rule 6), moved into a new
    /// one of ours.
    #[cold]
    unsafe fn realloc_foreign(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as `realloc_by_copy`, except that the old block goes back to
        // `inner` as it came.
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let p = self.alloc(new_layout);
            if !p.is_null() {
                core::ptr::copy_nonoverlapping(ptr, p, layout.size().min(new_size));
                self.inner.dealloc(ptr, layout);
            }
            p
        }
    }
}

// SAFETY: every block handed out is either `inner`'s block itself (side
// blocks) or `inner`'s block 16 bytes in (header blocks), at least as large
// and as aligned as asked: a header block is asked for `size + 16` bytes
// aligned to 16, and its alignment is at most 16 (header rule 1). Each is
// given back to `inner` as it came, the kind being decided by the layout
// alone. The bookkeeping never touches the caller's bytes.
unsafe impl<A: GlobalAlloc> GlobalAlloc for TurboWish<A> {
    #[inline(always)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let origin = Origin::here();
        // SAFETY: forwarded with a valid layout.
        unsafe { self.alloc_with(layout, origin, |a, l| a.alloc(l)) }
    }

    #[inline(always)]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let origin = Origin::here();
        // SAFETY: forwarded with a valid layout; a header is written over
        // zeroes the caller never sees.
        unsafe { self.alloc_with(layout, origin, |a, l| a.alloc_zeroed(l)) }
    }

    #[inline(always)]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !has_header(layout.size(), layout.align()) {
            track::side_freeing(ptr as usize);
            // SAFETY: the caller guarantees `ptr` came from this allocator
            // with `layout`: a side block is `inner`'s own. Its record went
            // first (table rule 2).
            return unsafe { self.inner.dealloc(ptr, layout) };
        }
        // SAFETY: a header block's header is 16 bytes before it (header rule
        // 1); a foreign block's 16 bytes are readable (header rule 6).
        let base = unsafe { ptr.sub(HEADER) };
        // SAFETY: see above; the caller owns the block.
        match unsafe { header::read(base) } {
            Some(f) => {
                track::header_freed(base as usize, &f);
                // SAFETY: header rule 3, then `base` goes back to `inner` with
                // the layout it was allocated with.
                unsafe {
                    header::clear(base);
                    self.inner.dealloc(base, with_header(layout.size()));
                }
            }
            None => {
                table::UNKNOWN_FREES.fetch_add(1, Relaxed);
                // SAFETY: header rule 6: not ours, so `inner`'s as it is.
                unsafe { self.inner.dealloc(ptr, layout) }
            }
        }
    }

    #[inline(always)]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let origin = Origin::here();
        let old_header = has_header(layout.size(), layout.align());
        let new_header = has_header(new_size, layout.align());
        if old_header && new_header {
            // SAFETY: as our caller's.
            return unsafe { self.realloc_header(ptr, layout, new_size, origin) };
        }
        if old_header != new_header {
            // SAFETY: as our caller's.
            return unsafe { self.realloc_by_copy(ptr, layout, new_size) };
        }
        // A reallocated block is a new block, moved or not: the old record goes
        // (table rule 2: before `inner` may reuse the address) and a new one,
        // with this call's task and stack, comes in.
        let old = track::side_freeing(ptr as usize);
        // SAFETY: forwarded with the caller's arguments.
        let p = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if p.is_null() {
            if let Some(old) = &old {
                track::side_restore(old);
            }
        } else {
            track::side_allocated(p as usize, new_size, origin);
        }
        p
    }
}
