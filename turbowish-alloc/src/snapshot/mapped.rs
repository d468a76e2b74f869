//! Files mapped read-only: the module files that symbolization and static
//! naming parse, in the snapshot's fork child.

use std::path::Path;
use std::ptr::NonNull;

/// A whole file mapped read-only, unmapped on drop.
///
/// The bytes are borrowed as an immutable slice: a file rewritten in place
/// while mapped would change under it, and one truncated would fault on
/// access (`SIGBUS`). Loaders, linkers and package managers replace files
/// rather than rewrite them, as every debugger that maps its inputs assumes.
pub(crate) struct Mapped {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapped {
    /// Maps the regular file at `path`; `None` if it cannot be opened, is not
    /// a regular file (opened non-blocking, so a FIFO cannot hang us) or is
    /// empty.
    pub(crate) fn open(path: &Path) -> Option<Mapped> {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::OpenOptionsExt;
        let file = (std::fs::OpenOptions::new().read(true))
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .ok()?;
        let meta = file.metadata().ok().filter(|m| m.is_file())?;
        let len = usize::try_from(meta.len()).ok().filter(|&n| n > 0)?;
        let (prot, flags) = (libc::PROT_READ, libc::MAP_PRIVATE);
        // SAFETY: a new private read-only mapping at an address the kernel
        // picks; it aliases no Rust object. The descriptor may be closed
        // afterwards: the mapping keeps the file.
        let ptr =
            unsafe { libc::mmap(core::ptr::null_mut(), len, prot, flags, file.as_raw_fd(), 0) };
        if ptr == libc::MAP_FAILED {
            return None;
        }
        Some(Mapped {
            ptr: NonNull::new(ptr.cast())?,
            len,
        })
    }

    /// Maps a loaded module's file; for the main program deleted or replaced
    /// since it started (its path then ends in ` (deleted)`), the running
    /// file itself through `/proc/self/exe`.
    pub(crate) fn module_file(path: &str) -> Option<Mapped> {
        Mapped::open(Path::new(path)).or_else(|| {
            let exe = std::fs::read_link("/proc/self/exe").ok()?;
            (exe.as_os_str() == path)
                .then(|| Mapped::open(Path::new("/proc/self/exe")))
                .flatten()
        })
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: `len` bytes are mapped readable at `ptr` until `self` is
        // dropped, which the borrow prevents (see the type's docs about the
        // file changing underneath).
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `open`, unmapped once; no borrow of
        // `bytes` outlives `self`.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}
