//! Process-wide counters: exact live and total figures from the table, and a
//! peak tracked without a global atomic on every allocation.
//!
//! Live and total counts are exact: they live in the table's shards and are
//! summed under every shard lock (table rule 6). The peak cannot be read off
//! the shards (their maxima do not add up), and a global counter touched by
//! every allocation would make two cores fight over one cache line. So each
//! thread accumulates its live-byte delta locally and publishes it to a global
//! counter once it reaches [`FLUSH_BYTES`] (and when the thread exits); the
//! peak is the maximum that counter ever reached. Since each thread may hold
//! back up to `FLUSH_BYTES` of growth or shrinkage, the reported peak can be
//! off by at most `FLUSH_BYTES` per thread, in either direction, and is never
//! below the exact live bytes at any `stats()` call.
//!
//! [`stats`] and [`stats_by_task`] are the public readers.

use crate::heap::stack::intern;
use crate::heap::{guard, table};
use core::cell::Cell;
use core::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

/// Per-thread batching threshold for peak tracking.
pub const FLUSH_BYTES: i64 = 64 * 1024;

static PUBLISHED_LIVE: AtomicI64 = AtomicI64::new(0);
static PEAK: AtomicU64 = AtomicU64::new(0);

struct Pending(Cell<i64>);

impl Drop for Pending {
    fn drop(&mut self) {
        publish(self.0.replace(0));
    }
}

thread_local! {
    static PENDING: Pending = const { Pending(Cell::new(0)) };
}

/// Notes a change in live bytes made by this thread.
#[inline]
pub(crate) fn note(delta: i64) {
    let published = PENDING.try_with(|p| {
        let v = p.0.get() + delta;
        if v.abs() >= FLUSH_BYTES {
            p.0.set(0);
            publish(v);
        } else {
            p.0.set(v);
        }
    });
    if published.is_err() {
        // This thread's locals are gone (it is exiting): publish directly.
        publish(delta);
    }
}

fn publish(delta: i64) {
    if delta == 0 {
        return;
    }
    let now = PUBLISHED_LIVE.fetch_add(delta, Relaxed) + delta;
    if now > 0 {
        PEAK.fetch_max(now as u64, Relaxed);
    }
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
    /// Memory TurboWish uses for its block table.
    pub table_bytes: u64,
    /// Memory TurboWish uses for interned stacks.
    pub stack_bytes: u64,
    /// Distinct call stacks interned.
    pub stacks: u64,
    /// Blocks left untracked because the table could not grow.
    pub untracked_blocks: u64,
    /// Frees of blocks TurboWish never saw.
    pub unknown_frees: u64,
    /// Records dropped because their address was reused without a free being
    /// seen (a free made while TurboWish's bookkeeping was interrupted).
    pub stale_records: u64,
}

/// Reads the current figures.
///
/// Live and total figures are exact: they are summed while every table shard
/// is locked, so they describe one instant. This briefly blocks allocations on
/// all threads (a few microseconds); do not call it in a tight loop.
///
/// Like `malloc`, this is not async-signal-safe. Called from a signal handler
/// that interrupted TurboWish on the same thread, it returns
/// `Stats::default()` instead of waiting for a lock that thread holds.
pub fn stats() -> Stats {
    use core::sync::atomic::Ordering::Relaxed;
    let Some(_busy) = guard::enter() else {
        return Stats::default();
    };
    let totals = table::lock_all().totals();
    let (stacks, stack_bytes) = intern::usage();
    Stats {
        live_bytes: totals.live_bytes,
        live_blocks: totals.live_blocks,
        total_bytes: totals.total_bytes,
        total_blocks: totals.total_blocks,
        peak_live_bytes: peak(totals.live_bytes),
        table_bytes: totals.table_bytes,
        stack_bytes,
        stacks,
        untracked_blocks: table::UNTRACKED.load(Relaxed),
        unknown_frees: table::UNKNOWN_FREES.load(Relaxed),
        stale_records: table::STALE.load(Relaxed),
    }
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
/// This walks the whole table shard by shard, so while other threads allocate
/// the result mixes nearby instants; use it for reports, not exact
/// accounting of a busy process. Empty when called from a signal handler that
/// interrupted TurboWish (see [`stats`]).
pub fn stats_by_task() -> Vec<TaskStats> {
    if guard::is_busy() {
        return Vec::new();
    }
    let mut by_task = std::collections::HashMap::<u64, TaskStats>::new();
    for r in table::records() {
        let e = by_task.entry(u64::from(r.task)).or_insert(TaskStats {
            task: u64::from(r.task),
            live_bytes: 0,
            live_blocks: 0,
        });
        e.live_bytes += r.size as u64;
        e.live_blocks += 1;
    }
    let mut out: Vec<_> = by_task.into_values().collect();
    out.sort_by(|a, b| b.live_bytes.cmp(&a.live_bytes).then(a.task.cmp(&b.task)));
    out
}
