//! Process-wide figures: live and total counts summed over the threads'
//! counters (`heap::counters`), and a peak tracked without a global atomic on
//! every allocation.
//!
//! The peak cannot be read off per-thread counters (their maxima do not add
//! up), and a global counter touched by every allocation would make two cores
//! fight over one cache line. So each thread publishes its live-byte change
//! to a global counter once it has moved by [`FLUSH_BYTES`] (and when the
//! thread exits); the peak is the maximum that counter ever reached. Since
//! each thread may hold back up to `FLUSH_BYTES` of growth or shrinkage, the
//! reported peak can be off by at most `FLUSH_BYTES` per thread, in either
//! direction, and is never below the exact live bytes at any `stats()` call.
//!
//! Each publication is also where the snapshot triggers look (trigger rule
//! 1): one compare, no new work per allocation.
//!
//! [`stats`] and [`stats_by_task`] are the public readers.

pub use crate::heap::counters::FLUSH_BYTES;
use crate::heap::enumerate;
use crate::heap::header::HEADER;
use crate::heap::stack::intern;
use crate::heap::{counters, guard, table};
use core::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

static PUBLISHED_LIVE: AtomicI64 = AtomicI64::new(0);
static PEAK: AtomicU64 = AtomicU64::new(0);

/// Adds a thread's live-byte change to the published total (counters rule
/// 5).
pub(crate) fn publish(delta: i64) {
    if delta == 0 {
        return;
    }
    let now = PUBLISHED_LIVE.fetch_add(delta, Relaxed) + delta;
    if now > 0 {
        PEAK.fetch_max(now as u64, Relaxed);
    }
    // Trigger rule 1: the growth and peak triggers' one check.
    crate::snapshot::triggers::published(now);
}

/// The live bytes published so far (counters rule 5): what the triggers
/// compare (trigger rule 2).
pub(crate) fn published_live() -> i64 {
    PUBLISHED_LIVE.load(Relaxed)
}

/// The peak, raised to `live` if the exact live figure is higher.
pub(crate) fn peak(live: u64) -> u64 {
    PEAK.fetch_max(live, Relaxed).max(live)
}

/// Process-wide allocation figures, from [`stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Bytes in live tracked blocks.
    pub live_bytes: u64,
    /// Number of live tracked blocks.
    pub live_blocks: u64,
    /// Bytes ever allocated (each `realloc` counts its new size).
    pub total_bytes: u64,
    /// Blocks ever allocated (each `realloc` counts as one).
    pub total_blocks: u64,
    /// The highest `live_bytes` reached, within [`FLUSH_BYTES`] per thread
    /// either way.
    pub peak_live_bytes: u64,
    /// Memory TurboWish uses for its side table, watch list and counters.
    pub table_bytes: u64,
    /// Memory in block headers: 16 bytes per live block under 4 KiB
    /// (not counting any rounding up by the inner allocator).
    pub header_bytes: u64,
    /// Memory TurboWish uses for interned stacks.
    pub stack_bytes: u64,
    /// Distinct call stacks interned.
    pub stacks: u64,
    /// Blocks of 4 KiB or more left untracked because the side table could
    /// not grow.
    pub untracked_blocks: u64,
    /// Frees of blocks TurboWish never saw.
    pub unknown_frees: u64,
    /// Side-table records dropped because their address was reused without
    /// a free being seen (a free made while TurboWish's bookkeeping was
    /// interrupted).
    pub stale_records: u64,
}

/// Reads the current figures.
///
/// Live and total figures are sums of per-thread counters: exact whenever no
/// other thread is allocating or freeing meanwhile, and otherwise a mix of
/// nearby instants. Reading them takes no lock and never blocks another
/// thread.
///
/// Called from a signal handler that interrupted TurboWish on the same
/// thread, it returns `Stats::default()`.
pub fn stats() -> Stats {
    let Some(_busy) = guard::enter() else {
        return Stats::default();
    };
    let sums = counters::sum();
    let (stacks, stack_bytes) = intern::usage();
    let live_bytes = sums.live_bytes.max(0) as u64;
    let live_blocks = sums.live_blocks.max(0) as u64;
    Stats {
        live_bytes,
        live_blocks,
        total_bytes: sums.total_bytes.max(0) as u64,
        total_blocks: sums.total_blocks.max(0) as u64,
        peak_live_bytes: peak(live_bytes),
        table_bytes: table_bytes(),
        header_bytes: header_bytes(live_blocks),
        stack_bytes,
        stacks,
        untracked_blocks: table::UNTRACKED.load(Relaxed),
        unknown_frees: table::UNKNOWN_FREES.load(Relaxed),
        stale_records: table::STALE.load(Relaxed),
    }
}

/// [`Stats::table_bytes`].
fn table_bytes() -> u64 {
    table::mapped_bytes() + counters::BYTES as u64
}

/// [`Stats::header_bytes`], of `live_blocks` tracked blocks.
fn header_bytes(live_blocks: u64) -> u64 {
    live_blocks.saturating_sub(table::side_len()) * HEADER as u64
}

/// TurboWish's own memory, for a snapshot (capture rule 16): its tables
/// and interned stacks (mapped from the kernel), and its headers (inside
/// the inner allocator's blocks). For a caller that is already busy (the
/// capturing thread), which [`stats`] refuses.
pub(crate) fn own_memory() -> (u64, u64) {
    let live_blocks = counters::sum().live_blocks.max(0) as u64;
    let tables = table_bytes() + intern::usage().1;
    (tables, header_bytes(live_blocks))
}

/// Live bytes owned by one task, from [`stats_by_task`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskStats {
    /// The task tag: a tokio task id, or 0 for allocations outside tasks.
    pub task: u64,
    /// Bytes in live blocks the task allocated.
    pub live_bytes: u64,
    /// Number of those blocks.
    pub live_blocks: u64,
}

/// Live bytes and blocks per owning task, largest first (ties by task).
///
/// This walks the process's writable memory for block headers (enumeration
/// rules in `heap::enumerate`), at a few hundred milliseconds per GiB, so
/// while other threads allocate the result mixes nearby instants; use it for
/// reports, not exact accounting of a busy process. Empty when called from a
/// signal handler that interrupted TurboWish (see [`stats`]).
pub fn stats_by_task() -> Vec<TaskStats> {
    if guard::is_busy() {
        return Vec::new();
    }
    let mut out = guard::with_untracked(
        || {
            let mut by_task = std::collections::HashMap::<u64, TaskStats>::new();
            for r in enumerate::live_blocks(enumerate::Reading::Live) {
                let e = by_task.entry(u64::from(r.task)).or_insert(TaskStats {
                    task: u64::from(r.task),
                    live_bytes: 0,
                    live_blocks: 0,
                });
                e.live_bytes += r.size as u64;
                e.live_blocks += 1;
            }
            by_task
        },
        |by_task| by_task.values().copied().collect::<Vec<_>>(),
    );
    out.sort_by(|a, b| b.live_bytes.cmp(&a.live_bytes).then(a.task.cmp(&b.task)));
    out
}
