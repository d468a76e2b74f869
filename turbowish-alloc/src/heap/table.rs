//! The side table, and the watch list: the only shared structures the
//! allocation path touches, and only for rare blocks.
//!
//! Nearly every block carries its record in an in-band header
//! (`heap::header`). The side table holds the others (header rule 1: blocks
//! of 4 KiB or more, or aligned to more than 16), keyed by address.
//! [`block`] is the public lookup of one block, whichever kind.
//!
//! # Rules
//!
//! The code below, and the fork protocol built on it, rely on these:
//!
//! 1. A block without a header is in the side table if and only if it is
//!    live, it was allocated through the shim while its thread was not inside
//!    TurboWish bookkeeping, and the table could make room for it.
//! 2. A record is inserted after the inner allocator returns the block, and
//!    removed before the block is handed back to the inner allocator (by
//!    `dealloc` or `realloc`). So no two records share an address.
//! 3. A shard's lock protects its hash table and counters. It is held only
//!    for one O(1) table operation (amortised; growing remaps the shard), and
//!    while it is held nothing allocates through the global allocator: the
//!    tables live in `mmap` regions. A thread holding a shard lock therefore
//!    never waits on anything but the kernel, which is what makes it safe for
//!    the fork protocol to take every lock. Operations that need the whole
//!    table take every lock in one order: side shards in index order, then
//!    watch shards in index order. No path takes two in any other order.
//! 4. A block a task-registry row *watches* (a task's storage) tells the
//!    registry when it is freed (registry rule 4). A side-table record
//!    carries the row itself. A block with a header has its `watched` bit
//!    set, and its row in the watch list under its address; the free that
//!    sees the bit takes the row from the list.
//! 5. A free the shim did not see (one made by a signal handler that
//!    interrupted TurboWish's bookkeeping on its thread) leaves a stale side
//!    record; when the address is reused, the new record replaces it.
//!    (Blocks with headers have no such case: header rule 2.)

use crate::heap::guard;
use crate::heap::hashtable::{Full, mix};
use crate::heap::header::{self, HEADER};
use crate::heap::record::{LargeSlot, Record, RecordSlot};
use crate::heap::spin::SpinLock;
use crate::heap::stack::intern::StackId;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

/// The current snapshot epoch: blocks record it at birth, and each snapshot
/// advances it (fork rule 6), so a block's (address, birth epoch) names it
/// uniquely across all snapshots of a process.
pub(crate) static EPOCH: AtomicU32 = AtomicU32::new(0);

/// Side-table blocks that could not be tracked because the table could not
/// grow.
pub(crate) static UNTRACKED: AtomicU64 = AtomicU64::new(0);
/// Frees of blocks the shim never saw (header rule 6).
pub(crate) static UNKNOWN_FREES: AtomicU64 = AtomicU64::new(0);
/// Side records replaced by a new block at the same address (rule 5).
pub(crate) static STALE: AtomicU64 = AtomicU64::new(0);

/// Blocks in the same 2^20-byte region share a shard.
const REGION_SHIFT: u32 = 20;
const SIDE_SHARDS: usize = 64;
const WATCH_SHARDS: usize = 16;

static SIDE: Shards<LargeSlot, SIDE_SHARDS> = Shards::new();
/// Rule 4: the rows watching blocks with headers (the record's other fields
/// are unused).
static WATCHES: Shards<LargeSlot, WATCH_SHARDS> = Shards::new();

#[repr(align(64))] // one shard per cache line: shards must not share lines
struct Shard<S>(SpinLock<crate::heap::hashtable::HashTable<S>>);

struct Shards<S, const N: usize>([Shard<S>; N]);

impl<S: RecordSlot, const N: usize> Shards<S, N> {
    const fn new() -> Self {
        Shards([const { Shard(SpinLock::new(crate::heap::hashtable::HashTable::new())) }; N])
    }

    #[inline(always)]
    fn shard(&self, addr: usize) -> &SpinLock<crate::heap::hashtable::HashTable<S>> {
        let h = mix((addr >> REGION_SHIFT) as u64);
        &self.0[(h >> 56) as usize & (N - 1)].0
    }

    /// Inserts `r`; returns the size of a stale record it replaced (rule 5).
    fn insert(&self, r: &Record) -> Result<usize, Full> {
        let old = self.shard(r.addr).lock().insert(S::pack(r))?;
        Ok(old.map_or(0, |old| {
            STALE.fetch_add(1, Relaxed);
            old.unpack().size
        }))
    }

    fn remove(&self, addr: usize) -> Option<Record> {
        let r = self.shard(addr).lock().remove(S::key_of(addr))?;
        Some(r.unpack())
    }

    fn get(&self, addr: usize) -> Option<Record> {
        self.shard(addr)
            .lock()
            .get(S::key_of(addr))
            .map(|s| s.unpack())
    }

    fn mapped_bytes(&self) -> u64 {
        self.0
            .iter()
            .map(|s| s.0.lock().mapped_bytes() as u64)
            .sum()
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

    /// Appends every record to `out`, shard by shard. `out` grows only while no
    /// lock is held (rule 3).
    fn collect(&self, out: &mut Vec<Record>) {
        for shard in &self.0 {
            loop {
                let need = shard.0.lock().len();
                out.reserve(need + 16);
                let table = shard.0.lock();
                if out.capacity() - out.len() < table.len() {
                    continue; // it grew meanwhile: reserve again, unlocked
                }
                table.for_each(|s| out.push(s.unpack()));
                break;
            }
        }
    }
}

/// Records a newly allocated side block (rule 2: after the inner
/// allocator). Returns the bytes of a stale record it displaced (rule 5).
pub(crate) fn insert(r: &Record) -> Result<usize, Full> {
    SIDE.insert(r)
}

/// Forgets a side block about to be freed (rule 2: before the inner
/// allocator).
pub(crate) fn remove(addr: usize) -> Option<Record> {
    SIDE.remove(addr)
}

/// Takes the row watching the header block at `addr` off the watch list
/// (rule 4): its free saw the `watched` bit.
pub(crate) fn unwatch(addr: usize) -> Option<u32> {
    WATCHES.remove(addr).map(|r| r.watcher)
}

/// The row watching the header block at `addr` (rule 4), plus one; 0 if
/// none. Takes one watch-list lock; allocates nothing.
pub(crate) fn watcher_of(addr: usize) -> u32 {
    WATCHES.get(addr).map_or(0, |r| r.watcher)
}

/// Marks the live block starting at `addr` as watched by registry row
/// `watcher - 1` (rule 4), returning its record; `None` if no block starts
/// there. The caller holds the reentrancy guard, and the block is the
/// storage of the task it is polling (header rule 7).
pub(crate) fn watch(addr: usize, watcher: u32) -> Option<Record> {
    if let Some(mut r) = SIDE.remove(addr) {
        r.watcher = watcher;
        let _ = SIDE.insert(&r);
        return Some(r);
    }
    let mut f = crate::heap::enumerate::header_before(addr)?;
    let record = Record {
        addr,
        size: f.size,
        task: f.task,
        stack: f.stack,
        epoch: f.epoch,
        watcher,
        headed: true,
    };
    if !f.tracked || WATCHES.insert(&record).is_err() {
        return None;
    }
    f.watched = true;
    // SAFETY: `header_before` read a valid header 16 bytes before `addr`, so
    // that is a live block's header (header rule 3), 16-aligned, and the
    // caller polls the task it belongs to, so no thread frees it meanwhile
    // (header rule 7).
    unsafe { header::write((addr - HEADER) as *mut u8, &f) };
    Some(record)
}

/// The side record of the block starting at `addr`.
pub(crate) fn get(addr: usize) -> Option<Record> {
    SIDE.get(addr)
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
/// (including interior pointers). `ptr` may be any pointer: the memory in
/// front of it is read with a system call that fails instead of faulting.
pub fn block<T: ?Sized>(ptr: *const T) -> Option<Block> {
    let addr = ptr.cast::<u8>() as usize;
    let r = match crate::heap::enumerate::header_before(addr) {
        Some(f) if f.tracked => Record {
            addr,
            size: f.size,
            task: f.task,
            stack: f.stack,
            epoch: f.epoch,
            watcher: 0,
            headed: true,
        },
        _ => {
            let _busy = guard::enter()?;
            get(addr)?
        }
    };
    Some(Block {
        addr: r.addr,
        size: r.size,
        task: u64::from(r.task),
        stack: StackId::from_raw(r.stack),
        epoch: r.epoch,
    })
}

/// Every side record, shard by shard (not one consistent instant).
pub(crate) fn records() -> Vec<Record> {
    let mut out = Vec::new();
    SIDE.collect(&mut out);
    out
}

/// Live side records.
pub(crate) fn side_len() -> u64 {
    SIDE.0.iter().map(|s| s.0.lock().len() as u64).sum()
}

/// Memory the side table and the watch list have mapped.
pub(crate) fn mapped_bytes() -> u64 {
    SIDE.mapped_bytes() + WATCHES.mapped_bytes()
}

/// Takes every lock in rule-3 order and keeps them (fork rule 2).
pub(crate) fn lock_all_forever() {
    SIDE.lock_all_forever();
    WATCHES.lock_all_forever();
}

/// Releases the locks taken by [`lock_all_forever`].
///
/// # Safety
///
/// The caller must have called [`lock_all_forever`] and not released since.
pub(crate) unsafe fn unlock_all_forever() {
    // SAFETY: the caller guarantees every shard was locked by us.
    unsafe {
        WATCHES.unlock_all_forever();
        SIDE.unlock_all_forever();
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
            headed: false,
        }
    }

    /// Rule 5: a record whose free was missed is replaced when its address
    /// is reused.
    #[test]
    fn stale_records_are_replaced() {
        // Fake addresses: this unit-test binary does not use TurboWish as its
        // allocator, so nothing else touches the table.
        let a = 0x5500_0000_0000usize;
        assert_eq!(insert(&rec(a, 1 << 20)), Ok(0));
        assert_eq!(insert(&rec(a, 1 << 21)), Ok(1 << 20));
        assert_eq!(get(a).map(|r| r.size), Some(1 << 21));
        assert_eq!(remove(a).map(|r| r.size), Some(1 << 21));
        assert_eq!(get(a), None);
    }

    /// Rule 4 for a side block: the record itself carries the row.
    #[test]
    fn a_watched_side_record_names_its_watcher() {
        let addr = 0x7e00_0000_1230;
        insert(&rec(addr, 1 << 20)).unwrap();
        let watched = watch(addr, 42).expect("the block is live");
        assert_eq!((watched.size, watched.watcher), (1 << 20, 42));
        assert_eq!(remove(addr).map(|r| r.watcher), Some(42));
        assert_eq!(watch(addr, 1), None, "nothing to watch once freed");
    }
}
