//! An mmap-backed open-addressing hash table of fixed-size slots.
//!
//! Both the live-block table and the stack interner are built from this one
//! structure. It is not thread-safe; callers shard it and guard each shard with
//! a [`SpinLock`](crate::heap::spin::SpinLock).
//!
//! Linear probing, with backward-shift deletion (no tombstones, so a table
//! churned for days never degrades). Capacities need not be powers of two: the
//! home slot is `hash * cap >> 64` ("fastrange"), which lets the table grow by
//! 1.2x instead of 2x. With a maximum load of 0.8, the load after growing is
//! 0.8 / 1.2 = 0.67, so while a table grows its 16-byte slots cost 20 to 24
//! bytes per entry (plus, for a moment during each rebuild, the old mapping).
//! When entries are removed the table shrinks once it falls below 0.4 full,
//! back to 0.6: a table that has shrunk from its peak costs at most 40 bytes
//! per entry. Below one page of slots the page is the floor.
//!
//! Memory comes from [`Region`], never from the global allocator, and a failed
//! `mmap` is reported as [`Full`], never a panic.

use crate::heap::region::Region;
use core::marker::PhantomData;

/// A slot type. An all-zero slot is empty, so fresh mappings need no
/// initialisation.
///
/// # Safety
///
/// The all-zero bit pattern must be a valid value of the type (plain integers
/// only), and `key()` must return 0 for it.
pub(crate) unsafe trait Slot: Copy {
    /// The slot's key; 0 only for an empty slot.
    fn key(&self) -> u64;
    /// The hash of a key. High bits pick shards, the next bits the home slot.
    fn hash(key: u64) -> u64;
}

/// The table could not grow (the kernel refused memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full;

/// Multiplicative hashing: cheap, and its high bits depend on every input bit.
#[inline(always)]
pub(crate) fn mix(x: u64) -> u64 {
    (x ^ (x >> 29)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

const MAX_LOAD_NUM: usize = 4; // grow above 4/5 = 0.8
const MAX_LOAD_DEN: usize = 5;
const MIN_LOAD_NUM: usize = 2; // shrink below 2/5 = 0.4 ...
const MIN_LOAD_DEN: usize = 5;
const SHRUNK_LOAD_NUM: usize = 3; // ... to 3/5 = 0.6
const SHRUNK_LOAD_DEN: usize = 5;

/// The table proper.
#[derive(Debug)]
pub(crate) struct HashTable<S> {
    region: Option<Region>,
    cap: usize,
    len: usize,
    _slots: PhantomData<S>,
}

impl<S: Slot> HashTable<S> {
    pub(crate) const fn new() -> Self {
        HashTable {
            region: None,
            cap: 0,
            len: 0,
            _slots: PhantomData,
        }
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes of memory mapped for slots.
    pub(crate) fn mapped_bytes(&self) -> usize {
        self.region.as_ref().map_or(0, Region::len)
    }

    fn slots(&self) -> &[S] {
        match &self.region {
            // SAFETY: the region holds `cap` slots (see `rebuild`), is
            // zero-initialised (all-zero is a valid empty `S`), and lives as
            // long as `&self`.
            Some(r) => unsafe { core::slice::from_raw_parts(r.as_ptr().cast::<S>(), self.cap) },
            None => &[],
        }
    }

    fn slots_mut(&mut self) -> &mut [S] {
        match &self.region {
            // SAFETY: as in `slots`, and `&mut self` makes the access unique.
            Some(r) => unsafe { core::slice::from_raw_parts_mut(r.as_ptr().cast::<S>(), self.cap) },
            None => &mut [],
        }
    }

    #[inline(always)]
    fn home(&self, key: u64) -> usize {
        // Skip the top byte: shards are chosen from it.
        let h = S::hash(key) << 8;
        ((u128::from(h) * self.cap as u128) >> 64) as usize
    }

    #[inline(always)]
    fn next(&self, i: usize) -> usize {
        if i + 1 == self.cap { 0 } else { i + 1 }
    }

    fn find(&self, key: u64) -> Option<usize> {
        if self.cap == 0 {
            return None;
        }
        let slots = self.slots();
        let mut i = self.home(key);
        loop {
            match slots[i].key() {
                0 => return None,
                k if k == key => return Some(i),
                _ => i = self.next(i),
            }
        }
    }

    /// The slot stored under `key`.
    pub(crate) fn get(&self, key: u64) -> Option<S> {
        self.find(key).map(|i| self.slots()[i])
    }

    /// Inserts `slot`, replacing and returning any slot with the same key.
    pub(crate) fn insert(&mut self, slot: S) -> Result<Option<S>, Full> {
        debug_assert_ne!(slot.key(), 0);
        if (self.len + 1) * MAX_LOAD_DEN > self.cap * MAX_LOAD_NUM {
            let want = (self.cap + self.cap / 5).max(self.len + 2);
            self.rebuild(want)?;
        }
        let key = slot.key();
        let mut i = self.home(key);
        let slots = self.slots_mut();
        loop {
            match slots[i].key() {
                0 => break,
                k if k == key => return Ok(Some(core::mem::replace(&mut slots[i], slot))),
                _ => i = if i + 1 == slots.len() { 0 } else { i + 1 },
            }
        }
        slots[i] = slot;
        self.len += 1;
        Ok(None)
    }

    /// Removes and returns the slot stored under `key`.
    pub(crate) fn remove(&mut self, key: u64) -> Option<S> {
        let mut hole = self.find(key)?;
        let removed = self.slots()[hole];
        // Backward-shift: pull later members of the cluster into the hole when
        // their home is not cyclically within (hole, j].
        let mut j = hole;
        loop {
            j = self.next(j);
            let k = self.slots()[j].key();
            if k == 0 {
                break;
            }
            let h = self.home(k);
            let movable = if hole <= j {
                h <= hole || h > j
            } else {
                h <= hole && h > j
            };
            if movable {
                let s = self.slots()[j];
                self.slots_mut()[hole] = s;
                hole = j;
            }
        }
        self.slots_mut()[hole] = zeroed();
        self.len -= 1;
        if self.len * MIN_LOAD_DEN < self.cap * MIN_LOAD_NUM
            && round_cap::<S>(self.len * SHRUNK_LOAD_DEN / SHRUNK_LOAD_NUM) < self.cap
        {
            // Shrinking is best effort: if the kernel refuses, keep the big table.
            let _ = self.rebuild(self.len * SHRUNK_LOAD_DEN / SHRUNK_LOAD_NUM);
        }
        Some(removed)
    }

    /// Visits every slot.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&S)) {
        for s in self.slots() {
            if s.key() != 0 {
                f(s);
            }
        }
    }

    /// Moves every slot into a fresh mapping of at least `want` slots.
    fn rebuild(&mut self, want: usize) -> Result<(), Full> {
        let cap = round_cap::<S>(want);
        let bytes = cap.checked_mul(size_of::<S>()).ok_or(Full)?;
        let region = Region::map(bytes, false).ok_or(Full)?;
        let old = core::mem::replace(
            self,
            HashTable {
                region: Some(region),
                cap,
                len: 0,
                _slots: PhantomData,
            },
        );
        for s in old.slots() {
            if s.key() != 0 {
                // Cannot recurse into `rebuild`: `cap` exceeds `old.len` / 0.8.
                self.insert(*s).map_err(|_| Full)?;
            }
        }
        Ok(())
    }
}

/// The smallest table: one page of slots.
fn min_cap<S>() -> usize {
    4096 / size_of::<S>()
}

/// `want` slots rounded up to whole pages.
fn round_cap<S>(want: usize) -> usize {
    let per_page = min_cap::<S>();
    want.max(per_page).div_ceil(per_page) * per_page
}

fn zeroed<S: Slot>() -> S {
    // SAFETY: implementors of the unsafe trait `Slot` promise that all-zero
    // is a valid (empty) value.
    unsafe { core::mem::zeroed() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Clone, Copy, Debug, PartialEq)]
    struct Pair(u64, u64);
    // SAFETY: two integers; all-zero has key 0.
    unsafe impl Slot for Pair {
        fn key(&self) -> u64 {
            self.0
        }
        fn hash(key: u64) -> u64 {
            mix(key)
        }
    }

    #[test]
    fn matches_a_model_under_random_churn() {
        let mut t = HashTable::<Pair>::new();
        let mut model = HashMap::new();
        let mut x = 0x1234_5678_u64;
        for step in 0..200_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Few distinct keys so inserts and removes collide often.
            let key = (x % 5_000) * 16 + 16;
            if x & 1 == 0 {
                let old = t.insert(Pair(key, step)).unwrap();
                assert_eq!(old.map(|p| p.1), model.insert(key, step));
            } else {
                assert_eq!(t.remove(key).map(|p| p.1), model.remove(&key));
            }
            assert_eq!(t.len(), model.len());
        }
        for (k, v) in &model {
            assert_eq!(t.get(*k), Some(Pair(*k, *v)));
        }
        let mut seen = 0;
        t.for_each(|_| seen += 1);
        assert_eq!(seen, model.len());
    }

    #[test]
    fn costs_at_most_40_bytes_per_entry_while_shrinking() {
        let mut t = HashTable::<Pair>::new();
        for k in 1..=50_000u64 {
            t.insert(Pair(k * 16, k)).unwrap();
        }
        for k in 1..=50_000u64 {
            t.remove(k * 16);
            // At most 40 bytes per entry (0.4 full), plus page rounding.
            let bytes = t.cap * size_of::<Pair>();
            assert!(bytes <= t.len * 40 + 4096, "{} / {}", t.len, t.cap);
        }
    }

    #[test]
    fn grows_in_small_steps_and_shrinks_when_emptied() {
        let mut t = HashTable::<Pair>::new();
        for k in 1..=100_000u64 {
            t.insert(Pair(k * 16, k)).unwrap();
            // Load stays at or above 0.8 / 1.2, except for the first page.
            if t.cap > min_cap::<Pair>() {
                assert!(
                    t.len * 3 >= t.cap * 2 - 3 * min_cap::<Pair>(),
                    "{} / {}",
                    t.len,
                    t.cap
                );
            }
        }
        let big = t.mapped_bytes();
        for k in 1..=100_000u64 {
            assert_eq!(t.remove(k * 16).map(|p| p.1), Some(k));
        }
        assert_eq!(t.len(), 0);
        assert!(t.mapped_bytes() < big / 100);
    }
}
