//! The live-allocation table: every live block, its size, owning task, call
//! stack and birth epoch. [`block`] is the public lookup of one block.
//!
//! # Design
//!
//! The table is two sharded hash tables keyed by address: [`SmallSlot`]s for
//! the common small block and [`LargeSlot`]s for the rest (see
//! [`record`](crate::heap::record)). A block's shard is picked by a hash of its
//! address, so the thread that frees a block finds it without knowing which
//! thread allocated it (256 small shards, 64 large ones).
//!
//! The hash is of the block's 1 MiB *region*, not of the whole address. Malloc
//! implementations give each thread its own arena (glibc, jemalloc and
//! mimalloc all do), so a thread's blocks cluster in its own regions, and the
//! thread mostly touches its own shards: their lock and counter lines stay in
//! its core's cache instead of bouncing between cores on every allocation.
//! Threads share a shard's line only when one frees another's block, or when
//! their regions happen to hash to the same shard.
//!
//! # Rules
//!
//! The code below, and the fork protocol built on it, rely on these:
//!
//! 1. A block is in the table if and only if it is live, it was allocated
//!    through the shim while its thread was not already inside TurboWish
//!    bookkeeping, and the table could make room for it.
//! 2. A record is inserted after the inner allocator returns the block, and
//!    removed before the block is handed back to the inner allocator (by
//!    `dealloc` or `realloc`). So the inner allocator never reuses an address
//!    that is still in the table, and no two records share an address.
//! 3. A shard's lock protects its hash table and its counters. It is held only
//!    for one O(1) table operation (amortised; growing remaps the shard), and
//!    while it is held nothing allocates through the global allocator: the
//!    tables live in `mmap` regions. A thread holding a shard lock therefore
//!    never waits on anything but the kernel, which is what makes it safe for
//!    the fork protocol to take every lock.
//! 4. The hot path takes one shard lock at a time. Operations that need a
//!    consistent view of the whole table take every lock, always in the same
//!    order: small shards in index order, then large shards in index order.
//!    No path takes locks in any other order, so none can deadlock.
//! 5. Whether a block is small or large depends only on its address and size
//!    ([`is_small`]), both known when it is freed, so a free searches exactly
//!    one shard.
//! 6. Counters (live, total) live in the shard beside the table and change
//!    under the same lock, so a view taken under all locks (rule 4) is exact.
//! 7. A free the shim did not see (one made by a signal handler that
//!    interrupted TurboWish's bookkeeping on its thread) leaves a stale
//!    record. When the address is reused, the new record replaces it and the
//!    stale bytes leave the live counters. A small record reused by a large
//!    block is found by the large insert; the reverse (a stale large record
//!    reused by a small block) is not looked for, since it would cost every
//!    small allocation a second lookup; it stays until that block is freed.
//! 8. A block a task-registry row *watches* (a task's storage) has its record
//!    in the large table whatever its size, carrying the row's index, so the
//!    free of that block tells the registry at once (registry rule 4).
//!    [`watch`] moves a small record there while holding both shards' locks
//!    (small before large, rule 4), so no view ever misses the block. A free
//!    that misses the small table looks in the large table only while some
//!    record is watched ([`WATCHED`]).

use crate::heap::guard;
use crate::heap::hashtable::{Full, mix};
use crate::heap::record::{LargeSlot, Record, RecordSlot, SmallSlot, is_small};
use crate::heap::spin::{SpinGuard, SpinLock};
use crate::heap::stack::intern::StackId;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

/// The current snapshot epoch: blocks record it at birth, and each snapshot
/// advances it while holding every lock, so a block's (address, birth epoch)
/// names it uniquely across all snapshots of a process.
pub(crate) static EPOCH: AtomicU32 = AtomicU32::new(0);

/// Blocks that could not be tracked because a table could not grow.
pub(crate) static UNTRACKED: AtomicU64 = AtomicU64::new(0);
/// Frees of blocks the table never saw.
pub(crate) static UNKNOWN_FREES: AtomicU64 = AtomicU64::new(0);
/// Records replaced by a new block at the same address: their block was freed
/// without the shim seeing it (for example, from a signal handler that
/// interrupted TurboWish bookkeeping).
pub(crate) static STALE: AtomicU64 = AtomicU64::new(0);

/// Records currently watched (rule 8).
pub(crate) static WATCHED: AtomicU64 = AtomicU64::new(0);

/// Blocks in the same 2^20-byte region share a shard.
const REGION_SHIFT: u32 = 20;
const SMALL_SHARDS: usize = 256;
const LARGE_SHARDS: usize = 64;

static SMALL: Shards<SmallSlot, SMALL_SHARDS> = Shards::new();
static LARGE: Shards<LargeSlot, LARGE_SHARDS> = Shards::new();

/// One shard's table and counters.
#[derive(Debug)]
pub(crate) struct ShardData<S> {
    table: crate::heap::hashtable::HashTable<S>,
    live_bytes: u64,
    total_bytes: u64,
    total_blocks: u64,
}

#[repr(align(64))] // one shard per cache line: shards must not share lines
struct Shard<S>(SpinLock<ShardData<S>>);

struct Shards<S, const N: usize>([Shard<S>; N]);

impl<S: RecordSlot, const N: usize> Shards<S, N> {
    const fn new() -> Self {
        Shards(
            [const {
                Shard(SpinLock::new(ShardData {
                    table: crate::heap::hashtable::HashTable::new(),
                    live_bytes: 0,
                    total_bytes: 0,
                    total_blocks: 0,
                }))
            }; N],
        )
    }

    #[inline(always)]
    fn shard(&self, addr: usize) -> &SpinLock<ShardData<S>> {
        let h = mix((addr >> REGION_SHIFT) as u64);
        &self.0[(h >> 56) as usize & (N - 1)].0
    }

    /// Inserts `r`; returns the size of a stale record it replaced (rule 7).
    #[inline]
    fn insert(&self, r: &Record, count_total: bool) -> Result<usize, Full> {
        let mut shard = self.shard(r.addr).lock();
        let old = shard.table.insert(S::pack(r))?;
        let stale = old.map_or(0, |old| {
            STALE.fetch_add(1, Relaxed);
            let size = old.unpack().size;
            shard.live_bytes -= size as u64;
            size
        });
        shard.live_bytes += r.size as u64;
        if count_total {
            shard.total_bytes += r.size as u64;
            shard.total_blocks += 1;
        }
        Ok(stale)
    }

    #[inline]
    fn remove(&self, addr: usize) -> Option<Record> {
        let mut shard = self.shard(addr).lock();
        let r = shard.table.remove(S::key_of(addr))?.unpack();
        shard.live_bytes -= r.size as u64;
        Some(r)
    }

    fn get(&self, addr: usize) -> Option<Record> {
        self.shard(addr)
            .lock()
            .table
            .get(S::key_of(addr))
            .map(|s| s.unpack())
    }

    fn lock_all_forever(&self) {
        self.0.iter().for_each(|s| s.0.lock_forever());
    }

    /// # Safety
    ///
    /// Every shard must have been locked with `lock_all_forever`.
    unsafe fn unlock_all_forever(&self) {
        for s in &self.0 {
            // SAFETY: taken by `lock_all_forever`, as the caller guarantees.
            unsafe { s.0.force_unlock() };
        }
    }

    fn lock_all(&self) -> [SpinGuard<'_, ShardData<S>>; N] {
        core::array::from_fn(|i| self.0[i].0.lock())
    }

    /// Appends every record to `out`, shard by shard. `out` grows only while no
    /// lock is held (rule 3).
    fn collect(&self, out: &mut Vec<Record>) {
        for shard in &self.0 {
            loop {
                let need = shard.0.lock().table.len();
                out.reserve(need + 16);
                let guard = shard.0.lock();
                if out.capacity() - out.len() < guard.table.len() {
                    continue; // it grew meanwhile: reserve again, unlocked
                }
                guard.table.for_each(|s| out.push(s.unpack()));
                break;
            }
        }
    }
}

/// Records a newly allocated block (rule 2: after the inner allocator).
/// Returns the bytes of stale records it displaced (rule 7).
#[inline]
pub(crate) fn insert(r: &Record) -> Result<usize, Full> {
    insert_counted(r, true)
}

/// Puts back a record removed by [`remove`] whose block was not freed after
/// all; it does not count as a new allocation.
pub(crate) fn reinsert(r: &Record) -> Result<usize, Full> {
    insert_counted(r, false)
}

#[inline(always)]
fn insert_counted(r: &Record, count_total: bool) -> Result<usize, Full> {
    if is_small(r.addr, r.size) && r.watcher == 0 {
        SMALL.insert(r, count_total)
    } else {
        // Rule 7: a stale small record at this address would otherwise never
        // be found again. Large inserts are rare, so the extra lookup is cheap.
        let stale_small = if is_small(r.addr, 0) {
            SMALL.remove(r.addr).map_or(0, |old| {
                STALE.fetch_add(1, Relaxed);
                old.size
            })
        } else {
            0
        };
        Ok(stale_small + LARGE.insert(r, count_total)?)
    }
}

/// Forgets a block about to be freed (rule 2: before the inner allocator).
#[inline]
pub(crate) fn remove(addr: usize, size: usize) -> Option<Record> {
    let r = if is_small(addr, size) {
        SMALL.remove(addr).or_else(|| {
            // Rule 8: perhaps moved to the large table to be watched.
            (WATCHED.load(Relaxed) > 0)
                .then(|| LARGE.remove(addr))
                .flatten()
        })
    } else {
        LARGE.remove(addr)
    };
    if r.is_some_and(|r| r.watcher != 0) {
        WATCHED.fetch_sub(1, Relaxed);
    }
    r
}

/// Marks the live block starting at `addr` as watched by registry row
/// `watcher - 1` (rule 8), returning its record; `None` if no block starts
/// there. The caller holds the reentrancy guard.
pub(crate) fn watch(addr: usize, watcher: u32) -> Option<Record> {
    // Rule 4's order: small before large. The small lock is let go once the
    // record is out of it; the large one is held until it is back in, so
    // every view (which takes small shards before large ones) sees it once.
    let small = is_small(addr, 0).then(|| SMALL.shard(addr).lock());
    let mut large = LARGE.shard(addr).lock();
    let moved = small.and_then(|mut shard| {
        let r = shard.table.remove(SmallSlot::key_of(addr))?.unpack();
        shard.live_bytes -= r.size as u64;
        Some(r)
    });
    let mut r = match moved {
        Some(r) => r,
        None => {
            let r = large.table.remove(LargeSlot::key_of(addr))?.unpack();
            large.live_bytes -= r.size as u64;
            if r.watcher != 0 {
                WATCHED.fetch_sub(1, Relaxed);
            }
            r
        }
    };
    r.watcher = watcher;
    // A full large table cannot take it: it stays small and unwatched.
    let record = if large.table.insert(LargeSlot::pack(&r)).is_ok() {
        WATCHED.fetch_add(1, Relaxed);
        r
    } else {
        r.watcher = 0;
        drop(large);
        let _ = insert_counted(&r, false);
        return Some(r);
    };
    large.live_bytes += record.size as u64;
    Some(record)
}

/// The record of the block starting at `addr`, whatever its size.
pub(crate) fn get(addr: usize) -> Option<Record> {
    if is_small(addr, 0)
        && let Some(r) = SMALL.get(addr)
    {
        return Some(r);
    }
    LARGE.get(addr)
}

/// What TurboWish recorded about one live block, from [`block`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Block {
    /// Start address.
    pub addr: usize,
    /// Size requested by the allocation.
    pub size: usize,
    /// Owning task tag: its task's id cut to 32 bits (a tokio task id; see
    /// `turbowish_format::rules::tags`), or 0 outside tasks.
    pub task: u64,
    /// Call stack of the allocation.
    pub stack: StackId,
    /// Snapshot epoch at birth (modulo 2^19).
    pub epoch: u32,
}

/// Looks up the live block that starts at `ptr`.
///
/// Returns `None` for pointers that are not the start of a tracked block
/// (including interior pointers).
pub fn block<T: ?Sized>(ptr: *const T) -> Option<Block> {
    let _busy = guard::enter()?;
    let r = get(ptr.cast::<u8>() as usize)?;
    Some(Block {
        addr: r.addr,
        size: r.size,
        task: u64::from(r.task),
        stack: StackId::from_raw(r.stack),
        epoch: r.epoch,
    })
}

/// Every record, shard by shard (not one consistent instant).
pub(crate) fn records() -> Vec<Record> {
    let mut out = Vec::new();
    SMALL.collect(&mut out);
    LARGE.collect(&mut out);
    out
}

/// Sums over the whole table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) live_bytes: u64,
    pub(crate) live_blocks: u64,
    pub(crate) total_bytes: u64,
    pub(crate) total_blocks: u64,
    pub(crate) table_bytes: u64,
}

impl Totals {
    fn add<S: RecordSlot>(&mut self, d: &ShardData<S>) {
        self.live_bytes += d.live_bytes;
        self.live_blocks += d.table.len() as u64;
        self.total_bytes += d.total_bytes;
        self.total_blocks += d.total_blocks;
        self.table_bytes += d.table.mapped_bytes() as u64;
    }
}

/// Takes every shard lock in rule-4 order and keeps them (fork rule 2).
pub(crate) fn lock_all_forever() {
    SMALL.lock_all_forever();
    LARGE.lock_all_forever();
}

/// Releases the locks taken by [`lock_all_forever`].
///
/// # Safety
///
/// The caller must have called [`lock_all_forever`] and not released since.
pub(crate) unsafe fn unlock_all_forever() {
    // SAFETY: the caller guarantees every shard was locked by us.
    unsafe {
        LARGE.unlock_all_forever();
        SMALL.unlock_all_forever();
    }
}

/// Every shard lock, held (rule 4 order); released on drop.
pub(crate) struct AllLocked {
    small: [SpinGuard<'static, ShardData<SmallSlot>>; SMALL_SHARDS],
    large: [SpinGuard<'static, ShardData<LargeSlot>>; LARGE_SHARDS],
}

/// Takes every shard lock in rule-4 order. Must not be called by a thread that
/// holds a shard lock or is inside TurboWish bookkeeping.
pub(crate) fn lock_all() -> AllLocked {
    let small = SMALL.lock_all();
    let large = LARGE.lock_all();
    AllLocked { small, large }
}

impl AllLocked {
    /// Exact totals at this instant (rule 6).
    pub(crate) fn totals(&self) -> Totals {
        let mut t = Totals::default();
        self.small.iter().for_each(|d| t.add(&**d));
        self.large.iter().for_each(|d| t.add(&**d));
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(addr: usize, size: usize) -> Record {
        Record {
            addr,
            size,
            task: 1,
            stack: 0,
            epoch: 0,
            watcher: 0,
        }
    }

    /// Rule 7: a record whose free was missed is replaced when its address is
    /// reused, in the same table or (small to large) across tables, and its
    /// bytes leave the live figures.
    #[test]
    fn stale_records_are_replaced_and_uncounted() {
        // Fake addresses: this unit-test binary does not use TurboWish as its
        // allocator, so nothing else touches the table.
        let (a, b) = (0x5500_0000_0000usize, 0x5500_0001_0000usize);
        let before = lock_all().totals();
        assert_eq!(insert(&rec(a, 100)), Ok(0));
        assert_eq!(insert(&rec(a, 40)), Ok(100), "same table");
        assert_eq!(insert(&rec(b, 64)), Ok(0));
        assert_eq!(
            insert(&rec(b, 10_000)),
            Ok(64),
            "small record reused by a large block"
        );
        let during = lock_all().totals();
        assert_eq!(during.live_bytes - before.live_bytes, 10_040);
        assert_eq!(during.live_blocks - before.live_blocks, 2);
        assert_eq!(get(b).map(|r| r.size), Some(10_000));
        assert_eq!(remove(a, 40).map(|r| r.size), Some(40));
        assert_eq!(remove(b, 10_000).map(|r| r.size), Some(10_000));
        assert_eq!(lock_all().totals().live_bytes, before.live_bytes);
    }

    /// Rule 8: a watched small record moves to the large table, stays
    /// visible throughout, and its free hands back the watcher.
    #[test]
    fn a_watched_record_moves_and_its_free_names_the_watcher() {
        let addr = 0x7e00_0000_1230;
        let copies = || records().iter().filter(|r| r.addr == addr).count();
        insert(&rec(addr, 64)).unwrap();
        let watched = watch(addr, 42).expect("the block is live");
        assert_eq!((watched.size, watched.watcher), (64, 42));
        assert_eq!(get(addr).map(|r| r.watcher), Some(42));
        assert_eq!(copies(), 1, "in one table only");
        let freed = remove(addr, 64).expect("found in the large table");
        assert_eq!(freed.watcher, 42);
        assert_eq!(get(addr), None);
        assert_eq!(copies(), 0);
        assert_eq!(watch(addr, 1), None, "nothing to watch once freed");
    }
}
