//! Live and total counts without a shared cache line: each thread counts its
//! own allocations and frees in a slot only it writes, and readers sum the
//! slots.
//!
//! # Rules
//!
//! 1. A thread claims a slot at its first counted event (a compare-and-swap
//!    on the slot's owner word; it never allocates) and is the only writer of
//!    its counters: it updates them with a plain load and store, no locked
//!    instruction. Slots are cache-line aligned, so no two threads write one
//!    line.
//! 2. A free is counted by the thread that frees, whichever allocated: one
//!    thread's live figures may be negative, the sum is exact.
//! 3. At thread exit (a thread-local destructor) the slot's counts move to
//!    [`RETIRED`] and the slot is released. Events of a thread with no slot
//!    (all taken, or its thread-locals already destroyed) go straight to the
//!    shared [`SPILL`] counters with atomic adds.
//! 4. A sum taken while no thread allocates, frees or exits is exact. While
//!    they do, each counter is read once, so the sum is a mix of nearby
//!    instants; a thread exiting during the sum may be missed or counted
//!    twice for that one reading.
//! 5. Peak tracking publishes a thread's live-byte change to one shared
//!    counter only once it has moved by [`FLUSH_BYTES`] since the last
//!    publication (see `heap::stats`).

use core::cell::Cell;
use core::sync::atomic::{AtomicI64, AtomicU32, Ordering::Relaxed};

/// Per-thread batching threshold for peak tracking (rule 5).
pub const FLUSH_BYTES: i64 = 64 * 1024;

const SLOTS: usize = 1024;

/// One thread's counts (or the shared ones of rule 3).
#[repr(align(64))]
#[derive(Debug)]
pub(crate) struct Counts {
    /// Allocated and freed: live figures are the differences, so each event
    /// writes two counters.
    total_bytes: AtomicI64,
    total_blocks: AtomicI64,
    freed_bytes: AtomicI64,
    freed_blocks: AtomicI64,
    /// Live bytes at the last peak publication (rule 5).
    published: AtomicI64,
    /// 1 while a thread owns the slot.
    owner: AtomicU32,
}

impl Counts {
    const fn new() -> Counts {
        Counts {
            total_bytes: AtomicI64::new(0),
            total_blocks: AtomicI64::new(0),
            freed_bytes: AtomicI64::new(0),
            freed_blocks: AtomicI64::new(0),
            published: AtomicI64::new(0),
            owner: AtomicU32::new(0),
        }
    }

    /// Rule 1: only the owner writes, so load-then-store loses nothing.
    #[inline(always)]
    fn bump(c: &AtomicI64, d: i64) {
        c.store(c.load(Relaxed).wrapping_add(d), Relaxed);
    }

    fn live_bytes(&self) -> i64 {
        self.total_bytes.load(Relaxed) - self.freed_bytes.load(Relaxed)
    }

    fn take(&self) -> [i64; 4] {
        [
            self.total_bytes.swap(0, Relaxed),
            self.total_blocks.swap(0, Relaxed),
            self.freed_bytes.swap(0, Relaxed),
            self.freed_blocks.swap(0, Relaxed),
        ]
    }

    fn add_shared(&self, [tb, tn, fb, fnum]: [i64; 4]) {
        self.total_bytes.fetch_add(tb, Relaxed);
        self.total_blocks.fetch_add(tn, Relaxed);
        self.freed_bytes.fetch_add(fb, Relaxed);
        self.freed_blocks.fetch_add(fnum, Relaxed);
    }

    fn read(&self) -> Sums {
        let (tb, tn) = (
            self.total_bytes.load(Relaxed),
            self.total_blocks.load(Relaxed),
        );
        let (fb, fnum) = (
            self.freed_bytes.load(Relaxed),
            self.freed_blocks.load(Relaxed),
        );
        Sums {
            live_bytes: tb - fb,
            live_blocks: tn - fnum,
            total_bytes: tb,
            total_blocks: tn,
        }
    }
}

static SLOT: [Counts; SLOTS] = [const { Counts::new() }; SLOTS];
/// Counts of threads that have exited (rule 3).
static RETIRED: Counts = Counts::new();
/// Counts of threads without a slot (rule 3).
static SPILL: Counts = Counts::new();

/// Sums of live and total counts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sums {
    pub(crate) live_bytes: i64,
    pub(crate) live_blocks: i64,
    pub(crate) total_bytes: i64,
    pub(crate) total_blocks: i64,
}

impl Sums {
    fn add(&mut self, o: &Sums) {
        self.live_bytes += o.live_bytes;
        self.live_blocks += o.live_blocks;
        self.total_bytes += o.total_bytes;
        self.total_blocks += o.total_blocks;
    }
}

const UNCLAIMED: usize = usize::MAX;
const NO_SLOT: usize = usize::MAX - 1;

/// This thread's slot index, released on exit (rule 3).
struct Mine(Cell<usize>);

impl Drop for Mine {
    fn drop(&mut self) {
        if let Some(slot) = SLOT.get(self.0.replace(NO_SLOT)) {
            let unpublished = slot.live_bytes() - slot.published.load(Relaxed);
            crate::heap::stats::publish(unpublished);
            RETIRED.add_shared(slot.take());
            slot.published.store(0, Relaxed);
            slot.owner.store(0, Relaxed);
        }
    }
}

thread_local! {
    static MINE: Mine = const { Mine(Cell::new(UNCLAIMED)) };
}

#[cold]
fn claim() -> usize {
    crate::snapshot::threads::register_current();
    SLOT.iter()
        .position(|s| {
            s.owner.load(Relaxed) == 0 && s.owner.compare_exchange(0, 1, Relaxed, Relaxed).is_ok()
        })
        .unwrap_or(NO_SLOT)
}

/// This thread's counts, claiming a slot at its first event (rule 1).
#[inline(always)]
fn mine() -> &'static Counts {
    let i = MINE
        .try_with(|m| match m.0.get() {
            UNCLAIMED => {
                let i = claim();
                m.0.set(i);
                i
            }
            i => i,
        })
        .unwrap_or(NO_SLOT);
    SLOT.get(i).unwrap_or(&SPILL)
}

/// Counts a new block of `size` bytes (allocated, or reallocated) on this
/// thread.
#[inline(always)]
pub(crate) fn allocated(size: usize) {
    let c = mine();
    if core::ptr::eq(c, &SPILL) {
        c.add_shared([size as i64, 1, 0, 0]);
        return;
    }
    Counts::bump(&c.total_bytes, size as i64);
    Counts::bump(&c.total_blocks, 1);
    flush_if_moved(c);
}

/// Counts a freed block of `size` bytes.
#[inline(always)]
pub(crate) fn freed(size: usize) {
    let c = mine();
    if core::ptr::eq(c, &SPILL) {
        return freed_shared(size);
    }
    Counts::bump(&c.freed_bytes, size as i64);
    Counts::bump(&c.freed_blocks, 1);
    flush_if_moved(c);
}

/// Counts a block back as live without counting a new allocation (a side
/// record restored after a failed `realloc`).
pub(crate) fn restored(size: usize) {
    SPILL.add_shared([0, 0, -(size as i64), -1]);
}

/// Counts a free atomically, for a thread whose own counters may be
/// mid-update (a signal handler that interrupted them).
pub(crate) fn freed_shared(size: usize) {
    SPILL.add_shared([0, 0, size as i64, 1]);
}

/// Rule 5.
#[inline(always)]
fn flush_if_moved(c: &Counts) {
    let live = c.live_bytes();
    let moved = live - c.published.load(Relaxed);
    if moved.abs() >= FLUSH_BYTES {
        c.published.store(live, Relaxed);
        crate::heap::stats::publish(moved);
    }
}

/// The sum over every thread (rule 4).
pub(crate) fn sum() -> Sums {
    let mut s = RETIRED.read();
    s.add(&SPILL.read());
    for slot in &SLOT {
        if slot.owner.load(Relaxed) != 0 {
            s.add(&slot.read());
        }
    }
    s
}

/// Memory the counters take: a static array, whatever the load.
pub(crate) const BYTES: usize = size_of::<[Counts; SLOTS]>();
