//! What the table knows about one live block, and how that is packed.
//!
//! A block is described by a [`Record`]. Records are stored in one of two slot
//! formats, chosen from the block's address and size alone, so that `dealloc`
//! (which is told both) knows which table to search without trying two:
//!
//! - [`SmallSlot`], 16 bytes, for blocks under 4 KiB at an 8-aligned address
//!   below 2^48: nearly every block a Rust program allocates.
//! - [`LargeSlot`], 32 bytes, for everything else. Such blocks are at least
//!   4 KiB, so the bigger slot costs under 1% of the block itself.
//!
//! Field widths, and what happens at their limits:
//!
//! | field  | small slot | large slot | past the limit |
//! |--------|-----------|------------|----------------|
//! | address | 45 bits (`addr >> 3`) | 64 | n/a: routed to the large slot |
//! | size   | 12 bits   | 64         | n/a: routed to the large slot |
//! | stack  | 20 bits   | 32 (20 used) | the interner hands out [`StackId::OVERFLOW`](crate::StackId::OVERFLOW) |
//! | task   | 32 bits   | 32         | a tag has `TAG_BITS` = 32 bits (tags rule 1) |
//! | epoch  | 19 bits   | 32 (19 used) | epochs are kept modulo 2^19 |

use crate::heap::hashtable::{Slot, mix};

/// Blocks of this size or larger go to the large table.
pub(crate) const SMALL_MAX_SIZE: usize = 1 << 12;
const ADDR_LIMIT: usize = 1 << 48;
const EPOCH_BITS: u32 = 19;
/// Mask applied to birth epochs everywhere, so both slot kinds agree.
pub(crate) const EPOCH_MASK: u32 = (1 << EPOCH_BITS) - 1;

/// One live block, unpacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) addr: usize,
    pub(crate) size: usize,
    /// Owning task tag (`turbowish_format::rules::tags`: the task's id
    /// modulo 2^`TAG_BITS`); 0 outside any task.
    pub(crate) task: u32,
    /// Interned call stack; 0 when stacks are off.
    pub(crate) stack: u32,
    /// Snapshot epoch at birth, modulo 2^19.
    pub(crate) epoch: u32,
    /// The task-registry row watching this block as its storage, plus one;
    /// 0 for none. Only large slots hold it (table rule 8).
    pub(crate) watcher: u32,
}

/// Whether a block at `addr` of `size` bytes is stored in a [`SmallSlot`].
#[inline(always)]
pub(crate) fn is_small(addr: usize, size: usize) -> bool {
    size < SMALL_MAX_SIZE && addr.is_multiple_of(8) && addr < ADDR_LIMIT
}

/// A packed 16-byte record:
/// `w0 = addr >> 3 | epoch << 45`, `w1 = size | stack << 12 | task << 32`.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub(crate) struct SmallSlot {
    w0: u64,
    w1: u64,
}

const ADDR_FIELD: u64 = (1 << 45) - 1;

impl RecordSlot for SmallSlot {
    #[inline(always)]
    fn pack(r: &Record) -> Self {
        debug_assert!(is_small(r.addr, r.size) && r.watcher == 0);
        debug_assert!(r.stack < 1 << 20);
        SmallSlot {
            w0: (r.addr as u64 >> 3) | (u64::from(r.epoch & EPOCH_MASK) << 45),
            w1: r.size as u64 | (u64::from(r.stack) << 12) | (u64::from(r.task) << 32),
        }
    }

    #[inline(always)]
    fn unpack(&self) -> Record {
        Record {
            addr: ((self.w0 & ADDR_FIELD) << 3) as usize,
            size: (self.w1 & 0xFFF) as usize,
            task: (self.w1 >> 32) as u32,
            stack: ((self.w1 >> 12) & 0xF_FFFF) as u32,
            epoch: (self.w0 >> 45) as u32,
            watcher: 0,
        }
    }

    #[inline(always)]
    fn key_of(addr: usize) -> u64 {
        addr as u64 >> 3
    }
}

// SAFETY: plain integers; the all-zero value has key 0.
unsafe impl Slot for SmallSlot {
    #[inline(always)]
    fn key(&self) -> u64 {
        self.w0 & ADDR_FIELD
    }
    #[inline(always)]
    fn hash(key: u64) -> u64 {
        mix(key)
    }
}

/// A 32-byte record for big or oddly placed blocks.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub(crate) struct LargeSlot {
    addr: u64,
    size: u64,
    task: u32,
    stack: u32,
    epoch: u32,
    watcher: u32,
}

impl RecordSlot for LargeSlot {
    #[inline(always)]
    fn pack(r: &Record) -> Self {
        LargeSlot {
            addr: r.addr as u64,
            size: r.size as u64,
            task: r.task,
            stack: r.stack,
            epoch: r.epoch & EPOCH_MASK,
            watcher: r.watcher,
        }
    }

    #[inline(always)]
    fn unpack(&self) -> Record {
        Record {
            addr: self.addr as usize,
            size: self.size as usize,
            task: self.task,
            stack: self.stack,
            epoch: self.epoch,
            watcher: self.watcher,
        }
    }

    #[inline(always)]
    fn key_of(addr: usize) -> u64 {
        addr as u64
    }
}

// SAFETY: plain integers; the all-zero value has key 0.
unsafe impl Slot for LargeSlot {
    #[inline(always)]
    fn key(&self) -> u64 {
        self.addr
    }
    #[inline(always)]
    fn hash(key: u64) -> u64 {
        mix(key >> 4)
    }
}

const _: () = assert!(size_of::<SmallSlot>() == 16 && size_of::<LargeSlot>() == 32);
// Both slots keep a whole tag (tags rule 1) in their 32-bit task field.
const _: () = assert!(turbowish_format::rules::tags::TAG_BITS == u32::BITS);

/// The two slot formats, seen uniformly by the table.
pub(crate) trait RecordSlot: Slot + Send {
    /// Packs `r`; for [`SmallSlot`], `r` must satisfy [`is_small`].
    fn pack(r: &Record) -> Self;
    fn unpack(&self) -> Record;
    /// The key under which a block at `addr` is stored.
    fn key_of(addr: usize) -> u64;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_slots_round_trip_at_field_limits() {
        let r = Record {
            addr: (1 << 48) - 8,
            size: SMALL_MAX_SIZE - 1,
            task: u32::MAX,
            stack: (1 << 20) - 1,
            epoch: EPOCH_MASK,
            watcher: 0,
        };
        assert_eq!(SmallSlot::pack(&r).unpack(), r);
        let zero = Record {
            addr: 8,
            size: 0,
            task: 0,
            stack: 0,
            epoch: 0,
            watcher: 0,
        };
        assert_eq!(SmallSlot::pack(&zero).unpack(), zero);
        assert_eq!(SmallSlot::pack(&zero).key(), 1);
    }

    #[test]
    fn epochs_wrap_identically_in_both_slot_kinds() {
        let r = Record {
            addr: 4096,
            size: 1 << 20,
            task: 7,
            stack: 3,
            epoch: EPOCH_MASK + 5,
            watcher: 0,
        };
        assert_eq!(LargeSlot::pack(&r).unpack().epoch, 4);
        let small = Record { size: 8, ..r };
        assert_eq!(SmallSlot::pack(&small).unpack().epoch, 4);
    }

    #[test]
    fn routing_depends_only_on_address_and_size() {
        assert!(is_small(0x7f00_0000_0010, 4095));
        assert!(!is_small(0x7f00_0000_0010, 4096));
        assert!(!is_small(0x7f00_0000_0011, 16));
        assert!(!is_small(1 << 48, 16));
    }
}
