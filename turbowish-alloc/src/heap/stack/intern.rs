//! Stack interning: each distinct call stack is stored once and named by a
//! 20-bit id, so a block record carries 20 bits instead of 32 addresses.
//!
//! [`StackId`] is an id as the public API shows it.
//!
//! # Rules
//!
//! 1. Ids are handed out once and never reused; a stack's frames never change
//!    after its id is published. Readers therefore need no lock: an id they
//!    hold always names the same frames.
//! 2. An id is published (its index entry stored with `Release`) before it is
//!    inserted in the lookup map, and the map is read under its shard lock, so
//!    whoever obtains an id also sees its frames.
//! 3. The arena and index are reserved once (`MAP_NORESERVE`, so untouched
//!    pages cost nothing) and never unmapped: `frames()` may hand out
//!    `&'static` slices.
//! 4. When ids or arena space run out, new stacks get [`OVERFLOW`]: memory stays
//!    bounded, and the loss is visible in the stats.
//!
//! Each thread keeps a small direct-mapped cache of the stacks it interned
//! last (hash to id). A hit is checked against the arena, frame by frame, so
//! the cache never returns the wrong id; it only saves the shared map's
//! lock, whose cache line would otherwise bounce between cores on every
//! allocation. The hash is the stack's [`StackHash`], which the
//! frame-pointer walk computes as it reads the frames: interning reads the
//! frames once, for that check.

use crate::heap::hashtable::{HashTable, Slot, mix};
use crate::heap::region::Region;
use crate::heap::spin::SpinLock;
use core::cell::Cell;
use core::fmt;
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// Number of distinct ids, including 0 (no stack) and [`OVERFLOW`].
pub(crate) const MAX_STACKS: u32 = 1 << 20;
/// The id given to stacks once the interner is full.
pub(crate) const OVERFLOW: u32 = MAX_STACKS - 1;
/// Arena capacity in words: 256 MiB of address space, committed as used.
const ARENA_WORDS: usize = 1 << 25;
const SHARDS: usize = 64;

static ARENA: AtomicPtr<usize> = AtomicPtr::new(core::ptr::null_mut());
static INDEX: AtomicPtr<AtomicU64> = AtomicPtr::new(core::ptr::null_mut());
static INIT: SpinLock<bool> = SpinLock::new(false);
static NEXT_ID: AtomicU32 = AtomicU32::new(1);
static NEXT_WORD: AtomicUsize = AtomicUsize::new(0);
static MAP: [SpinLock<HashTable<InternSlot>>; SHARDS] =
    [const { SpinLock::new(HashTable::new()) }; SHARDS];

#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct InternSlot {
    key: u64,
    id: u32,
    _pad: u32,
}

// SAFETY: plain integers; the all-zero value has key 0.
unsafe impl Slot for InternSlot {
    fn key(&self) -> u64 {
        self.key
    }
    fn hash(key: u64) -> u64 {
        mix(key)
    }
}

/// The interning hash of a stack, added to frame by frame so that the
/// frame-pointer walk computes it as it reads the frames (walk cost rule 2).
///
/// Per frame only a rotate and an xor depend on the frames before; the
/// multiply that spreads the frame's bits does not, so it runs beside the
/// walk's chain of loads. The rotation makes the hash depend on order; the
/// final mix ([`StackHash::finish`]) on every bit and on the length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StackHash(u64);

impl StackHash {
    /// The hash of no frames.
    pub(crate) const START: StackHash = StackHash(0x243F_6A88_85A3_08D3);

    /// The hash of the frames so far followed by `frame`.
    #[inline(always)]
    pub(crate) fn add(self, frame: usize) -> StackHash {
        StackHash(self.0.rotate_left(7) ^ (frame as u64).wrapping_mul(0x517C_C1B7_2722_0A95))
    }

    /// The hash of `frames`, frame by frame.
    pub(crate) fn of(frames: &[usize]) -> StackHash {
        frames.iter().fold(StackHash::START, |h, &f| h.add(f))
    }

    /// The key [`intern_hashed`] takes, for these `len` frames: never 0.
    #[inline(always)]
    pub(crate) fn finish(self, len: usize) -> u64 {
        mix(self.0 ^ (len as u64).rotate_right(8)).max(1)
    }
}

/// Maps the arena and index on first use (rule 3).
fn ensure_init() -> Option<(*mut usize, *mut AtomicU64)> {
    let arena = ARENA.load(Ordering::Acquire);
    if !arena.is_null() {
        return Some((arena, INDEX.load(Ordering::Acquire)));
    }
    let mut done = INIT.lock();
    if !*done {
        let arena = Region::map(ARENA_WORDS * size_of::<usize>(), true)?;
        let index = Region::map(MAX_STACKS as usize * size_of::<u64>(), true)?;
        INDEX.store(index.as_ptr().cast(), Ordering::Release);
        ARENA.store(arena.as_ptr().cast(), Ordering::Release);
        // Rule 3: never unmapped.
        core::mem::forget((arena, index));
        *done = true;
    }
    Some((ARENA.load(Ordering::Acquire), INDEX.load(Ordering::Acquire)))
}

const RECENT_SLOTS: usize = 256;

thread_local! {
    /// This thread's recently interned stacks: (hash, id), 0 when empty.
    static RECENT: [Cell<(u64, u32)>; RECENT_SLOTS] =
        const { [const { Cell::new((0, 0)) }; RECENT_SLOTS] };
}

/// The id of `frames`, interning them if new. Never allocates through the
/// global allocator.
#[cfg(test)]
pub(crate) fn intern(frames: &[usize]) -> u32 {
    intern_hashed(frames, StackHash::of(frames).finish(frames.len()))
}

/// The id of `frames`, whose [`StackHash`] is `key`, interning them if new.
/// The frames are read once more only to compare them with the stack the
/// key names (never trusted alone: two stacks may share a key). Never
/// allocates through the global allocator.
pub(crate) fn intern_hashed(frames: &[usize], key: u64) -> u32 {
    if frames.is_empty() {
        return 0;
    }
    let slot = (mix(key) >> 56) as usize % RECENT_SLOTS;
    let cached = RECENT.try_with(|r| r[slot].get()).unwrap_or((0, 0));
    if cached.0 == key && frames_of(cached.1) == frames {
        return cached.1;
    }
    let id = intern_shared(frames, key);
    if id != OVERFLOW {
        let _ = RECENT.try_with(|r| r[slot].set((key, id)));
    }
    id
}

/// Looks `frames` (hashing to `key`) up in the shared map, interning them if
/// new.
fn intern_shared(frames: &[usize], mut key: u64) -> u32 {
    let Some((arena, index)) = ensure_init() else {
        return OVERFLOW;
    };
    let mut map = MAP[(mix(key) >> 56) as usize % SHARDS].lock();
    loop {
        match map.get(key) {
            Some(slot) if frames_of(slot.id) == frames => return slot.id,
            // A 64-bit hash collision: try the next key.
            Some(_) => key = key.wrapping_add(1).max(1),
            None => break,
        }
    }
    let Some(id) = publish(frames, arena, index) else {
        return OVERFLOW;
    };
    // If the map cannot grow the id still names its frames; it just will not
    // be found again, and the next capture of this stack interns a copy.
    let _ = map.insert(InternSlot { key, id, _pad: 0 });
    id
}

/// Copies `frames` into the arena under a fresh id (rule 2).
fn publish(frames: &[usize], arena: *mut usize, index: *mut AtomicU64) -> Option<u32> {
    if NEXT_ID.load(Ordering::Relaxed) >= OVERFLOW {
        return None;
    }
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    if id >= OVERFLOW {
        return None;
    }
    let len = frames.len().min(255);
    let start = NEXT_WORD.fetch_add(len, Ordering::Relaxed);
    if start + len > ARENA_WORDS {
        return None;
    }
    // SAFETY: `start..start + len` lies inside the arena (checked above) and
    // was reserved for this call alone by the `fetch_add`; `id < MAX_STACKS`
    // indexes inside the index region. Both regions are mapped forever (rule 3).
    unsafe {
        core::ptr::copy_nonoverlapping(frames.as_ptr(), arena.add(start), len);
        (*index.add(id as usize)).store(((start as u64) << 8) | len as u64, Ordering::Release);
    }
    Some(id)
}

/// The return addresses of stack `id`; empty for 0, [`OVERFLOW`] or an id
/// never handed out.
pub(crate) fn frames_of(id: u32) -> &'static [usize] {
    if id == 0 || id >= OVERFLOW {
        return &[];
    }
    let (arena, index) = (ARENA.load(Ordering::Acquire), INDEX.load(Ordering::Acquire));
    if arena.is_null() || index.is_null() {
        return &[];
    }
    // SAFETY: `id < MAX_STACKS` is inside the index region, which is mapped
    // forever (rule 3) and zero where unpublished.
    let entry = unsafe { (*index.add(id as usize)).load(Ordering::Acquire) };
    if entry == 0 {
        return &[];
    }
    let (start, len) = ((entry >> 8) as usize, (entry & 0xFF) as usize);
    // SAFETY: a published entry names `len` words at `start` inside the arena,
    // written before the `Release` store we just `Acquire`d and never written
    // again (rule 1).
    unsafe { core::slice::from_raw_parts(arena.add(start), len) }
}

/// Takes the initialisation lock and every map shard lock, in index order,
/// and keeps them (fork rule 2).
pub(crate) fn lock_all_forever() {
    INIT.lock_forever();
    MAP.iter().for_each(SpinLock::lock_forever);
}

/// Releases the locks taken by [`lock_all_forever`].
///
/// # Safety
///
/// The caller must have called [`lock_all_forever`] and not released since.
pub(crate) unsafe fn unlock_all_forever() {
    for m in &MAP {
        // SAFETY: taken by `lock_all_forever`, as the caller guarantees.
        unsafe { m.force_unlock() };
    }
    // SAFETY: as above.
    unsafe { INIT.force_unlock() };
}

/// Number of distinct stacks interned so far, and the bytes they occupy
/// (arena words, index entries and lookup maps).
pub(crate) fn usage() -> (u64, u64) {
    let ids = u64::from(NEXT_ID.load(Ordering::Relaxed).min(OVERFLOW) - 1);
    let words = NEXT_WORD.load(Ordering::Relaxed).min(ARENA_WORDS) as u64;
    let maps: usize = MAP.iter().map(|m| m.lock().mapped_bytes()).sum();
    (ids, words * 8 + ids * 8 + maps as u64)
}

/// An interned call stack.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StackId(u32);

impl StackId {
    /// The stack of allocations made with stacks off, or not sampled
    /// (`TURBOWISH_STACK=sampled`).
    pub const NONE: StackId = StackId(0);
    /// The stack given once the interner is full (about a million distinct
    /// stacks): the allocation's real stack was not kept.
    pub const OVERFLOW: StackId = StackId(OVERFLOW);

    /// The id the interner handed out as `id`.
    pub(crate) const fn from_raw(id: u32) -> StackId {
        StackId(id)
    }

    /// The raw id.
    pub const fn as_u32(self) -> u32 {
        self.0
    }

    /// The code addresses, innermost first. Empty for [`StackId::NONE`] and
    /// [`StackId::OVERFLOW`].
    ///
    /// With frame-pointer stacks the first address is the instruction where
    /// the allocator was entered: inside the allocating function when the
    /// allocator was inlined into it (usual in release builds), or inside the
    /// allocator's entry point otherwise. The rest are return addresses.
    /// Symbolizers should skip frames in `turbowish_alloc`, `__rust_alloc*`
    /// and `__rg_*`, as they skip std's allocation frames.
    pub fn frames(self) -> &'static [usize] {
        frames_of(self.0)
    }
}

impl fmt::Debug for StackId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StackId({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_stacks_share_an_id_and_round_trip() {
        let a = [0x1000, 0x2000, 0x3000];
        let b = [0x1000, 0x2000, 0x3001];
        let ia = intern(&a);
        let ib = intern(&b);
        assert_ne!(ia, ib);
        assert_eq!(intern(&a), ia);
        assert_eq!(frames_of(ia), &a);
        assert_eq!(frames_of(ib), &b);
        assert_eq!(intern(&[]), 0);
        assert_eq!(frames_of(0), &[] as &[usize]);
        assert_eq!(frames_of(OVERFLOW), &[] as &[usize]);
    }

    #[test]
    fn many_threads_intern_the_same_stacks_consistently() {
        let ids: Vec<Vec<u32>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        (0..2000usize)
                            .map(|i| intern(&[0xAB_0000 + i, 7, i * 3]))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for other in &ids[1..] {
            assert_eq!(other, &ids[0]);
        }
        for (i, id) in ids[0].iter().enumerate() {
            assert_eq!(frames_of(*id), &[0xAB_0000 + i, 7, i * 3]);
        }
    }
}
