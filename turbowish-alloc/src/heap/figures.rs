//! What the inner allocator says about its own memory: how much it holds
//! from the kernel, how much of that is in use, how much it keeps free. A
//! snapshot records it to say where the resident memory goes (capture rule
//! 16).
//!
//! # Rules
//!
//! Cited elsewhere as "figures rule N".
//!
//! 1. The shim carries a [`FiguresHook`], chosen when it is built:
//!    [`TurboWish::system`](crate::TurboWish::system) reads glibc's
//!    ([`AllocatorFigures::glibc`]), [`TurboWish::new`](crate::TurboWish::new)
//!    has none (unknown) unless
//!    [`with_figures`](crate::TurboWish::with_figures) gives one (for
//!    jemalloc or mimalloc, from their own statistics). The hot path never
//!    reads it.
//! 2. The shim publishes its hook on its side path (blocks of 4 KiB or
//!    more, or over-aligned, already behind a lock) with a load and a
//!    compare. The capture makes sure of it by asking the global allocator
//!    for one over-aligned byte before reading ([`read`]). A process whose
//!    global allocator is not TurboWish publishes none: unknown.
//! 3. The hook runs in the capture child, first thing, busy (capture rule
//!    13: what it allocates is untracked), never in the running program:
//!    `mallinfo2` takes each glibc arena's lock in turn and walks its free
//!    lists, under 2 µs on a heap of live blocks, but 31 ms (median of 50)
//!    with 100 MB of small blocks of which nine in ten were freed
//!    (hundreds of thousands of free chunks, most in fastbins). In the
//!    parent, every thread allocating in that arena would wait that long.
//!    In the child nothing waits: `fork` takes every arena lock and glibc
//!    re-initialises them in the child, as it must for the child to
//!    allocate at all, so the figures are those of the fork's instant. The
//!    same holds for any allocator a forked child can allocate from
//!    (jemalloc and mimalloc have fork handlers); one that cannot would
//!    hang the child before this hook mattered, and the capture's time-out
//!    ends it.
//! 4. `mallinfo2` is looked up when first needed (`dlsym`), so linking
//!    TurboWish does not raise the glibc a program needs to 2.33: an older
//!    glibc, or another libc, gives no figures. Neither do figures that say
//!    glibc holds nothing (a `malloc` replaced by `LD_PRELOAD`, which
//!    glibc's counters never see).

use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// An allocator's own figures, in bytes, from a [`FiguresHook`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AllocatorFigures {
    /// Which allocator (`"glibc"`, `"jemalloc"`, ...), as the summary names
    /// it.
    pub name: &'static str,
    /// Memory it holds from the kernel (for glibc: its arenas and its
    /// `mmap`ed chunks).
    pub held_bytes: u64,
    /// Of that, the blocks it handed out, with its per-block overhead and
    /// TurboWish's 16-byte headers.
    pub in_use_bytes: u64,
    /// Of that, free memory it keeps in its pools rather than returning it
    /// to the kernel.
    pub free_bytes: u64,
}

/// Gives the inner allocator's figures, or `None` when it has none: see
/// [`TurboWish::with_figures`](crate::TurboWish::with_figures).
pub type FiguresHook = fn() -> Option<AllocatorFigures>;

impl AllocatorFigures {
    /// Figures named `name`: `held` bytes from the kernel, of which `in_use`
    /// are handed out and `free` kept free.
    pub const fn new(name: &'static str, held: u64, in_use: u64, free: u64) -> Self {
        AllocatorFigures {
            name,
            held_bytes: held,
            in_use_bytes: in_use,
            free_bytes: free,
        }
    }

    /// glibc's figures, from `mallinfo2`: held = `arena + hblkhd`, in use =
    /// `uordblks + hblkhd`, free = `fordblks`. `None` without glibc 2.33 or
    /// later, or when glibc holds nothing (rule 4). It takes every arena's
    /// lock in turn (rule 3): call it outside any lock of your own.
    pub fn glibc() -> Option<AllocatorFigures> {
        let [arena, mmapped, in_use, free] = mallinfo2()?;
        let held = arena.saturating_add(mmapped);
        (held > 0).then(|| {
            let in_use = in_use.saturating_add(mmapped);
            AllocatorFigures::new("glibc", held, in_use, free)
        })
    }

    /// No figures: the hook of an allocator that has none.
    pub(crate) fn none() -> Option<AllocatorFigures> {
        None
    }
}

/// The published hook (rule 2), as an address; 0 until one is published.
static HOOK: AtomicUsize = AtomicUsize::new(0);

/// Publishes `hook` as the global allocator's (rule 2): a load and a compare
/// once published.
#[inline]
pub(crate) fn offer(hook: FiguresHook) {
    let address = hook as usize;
    if HOOK.load(Relaxed) != address {
        HOOK.store(address, Relaxed);
    }
}

/// The global allocator's figures, `None` when unknown (rule 2). Call it as
/// rule 3 says.
pub(crate) fn read() -> Option<AllocatorFigures> {
    probe_global_allocator();
    let address = HOOK.load(Relaxed);
    if address == 0 {
        return None;
    }
    // SAFETY: `HOOK` holds 0 or an address `offer` stored, which came from a
    // `FiguresHook`: a function pointer of this very type.
    let hook = unsafe { core::mem::transmute::<usize, FiguresHook>(address) };
    hook()
}

/// Asks the global allocator for one over-aligned byte, which a TurboWish
/// shim serves on its side path, publishing its hook (rule 2).
fn probe_global_allocator() {
    #[repr(align(64))]
    struct OverAligned(#[allow(dead_code)] u8);
    let layout = core::alloc::Layout::new::<OverAligned>();
    // SAFETY: a non-zero size; the block, if any, is freed at once with the
    // same layout.
    unsafe {
        let p = std::alloc::alloc(layout);
        if !p.is_null() {
            std::alloc::dealloc(p, layout);
        }
    }
}

/// `mallinfo2()`'s `arena`, `hblkhd`, `uordblks` and `fordblks`, the
/// function looked up once (rule 4).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn mallinfo2() -> Option<[u64; 4]> {
    type Mallinfo2 = unsafe extern "C" fn() -> libc::mallinfo2;
    /// 0: not looked up yet; 1: absent; else the function's address.
    static FUNCTION: AtomicUsize = AtomicUsize::new(0);
    let mut address = FUNCTION.load(Relaxed);
    if address == 0 {
        // SAFETY: looks a symbol up by a NUL-terminated name in the
        // process's global scope.
        let found = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"mallinfo2".as_ptr()) };
        address = if found.is_null() { 1 } else { found as usize };
        FUNCTION.store(address, Relaxed);
    }
    if address == 1 {
        return None;
    }
    // SAFETY: the address is glibc's `mallinfo2`, whose type is `Mallinfo2`
    // (glibc 2.33 and later: the symbol does not exist before).
    let function = unsafe { core::mem::transmute::<usize, Mallinfo2>(address) };
    // SAFETY: `mallinfo2` has no preconditions.
    let i = unsafe { function() };
    Some([i.arena, i.hblkhd, i.uordblks, i.fordblks].map(|x| x as u64))
}

/// No `mallinfo2` outside glibc (rule 4).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn mallinfo2() -> Option<[u64; 4]> {
    None
}
