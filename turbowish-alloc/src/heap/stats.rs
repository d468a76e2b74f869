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
