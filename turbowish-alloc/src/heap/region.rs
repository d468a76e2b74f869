//! Memory for TurboWish's own tables, mapped straight from the kernel.
//!
//! The allocation table cannot get its memory from the global allocator: that
//! is the allocator it instruments, and its locks are held while the table
//! grows. Every table therefore lives in anonymous `mmap` regions, which are
//! zero-filled (an all-zero slot is an empty slot everywhere in this crate) and
//! cost no tracked allocation.

use core::ptr::NonNull;

/// An anonymous, zero-filled, read-write mapping, unmapped on drop.
#[derive(Debug)]
pub(crate) struct Region {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: a `Region` owns its mapping exclusively, like a `Box<[u8]>`; it has
// no thread affinity, and shared access only hands out `&[T]` views.
unsafe impl Send for Region {}
// SAFETY: see `Send`; `&Region` gives read-only access.
unsafe impl Sync for Region {}

impl Region {
    /// Maps `len` bytes (rounded up to whole pages), or `None` if the kernel
    /// refuses. `reserve_only` maps with `MAP_NORESERVE`: address space for a
    /// large append-only arena whose pages are committed only when touched.
    pub(crate) fn map(len: usize, reserve_only: bool) -> Option<Region> {
        let len = round_to_page(len.max(1))?;
        let mut flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
        if reserve_only {
            flags |= libc::MAP_NORESERVE;
        }
        // SAFETY: an anonymous private mapping with a null hint aliases no
        // existing memory; all arguments are valid for mmap(2).
        let ptr = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return None;
        }
        Some(Region {
            ptr: NonNull::new(ptr.cast())?,
            len,
        })
    }

    /// Mapped length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Start of the mapping.
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned, and the region is
        // being dropped, so nothing can use the mapping afterwards.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

fn round_to_page(len: usize) -> Option<usize> {
    const PAGE: usize = 4096;
    len.checked_add(PAGE - 1).map(|l| l & !(PAGE - 1))
}
