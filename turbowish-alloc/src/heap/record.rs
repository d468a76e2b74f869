//! What TurboWish knows about one live block, and how the side table packs
//! it.
//!
//! A block is described by a [`Record`], whether it came from an in-band
//! header (`heap::header`) or from the side table, which holds blocks without
//! a header (header rule 1: 4 KiB or more, or aligned to more than 16) in
//! 32-byte [`LargeSlot`]s. Such blocks are large, so the slot costs under
//! 1% of the block.

use crate::heap::hashtable::{Slot, mix};
pub(crate) use crate::heap::header::EPOCH_MASK;

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
    /// 0 for none (table rule 4).
    pub(crate) watcher: u32,
    /// Whether the block has an in-band header (header rule 1), rather
    /// than a side-table record.
    pub(crate) headed: bool,
}

impl Record {
    /// Whether the block has its stack whatever the sample (sampling
    /// rule 4 of `turbowish_format::rules::sampling`).
    pub(crate) fn stack_certain(&self) -> bool {
        crate::heap::stack::sample::certain(self.headed, self.task)
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
            // The watch list's rows are read for their watcher alone.
            headed: false,
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

const _: () = assert!(size_of::<LargeSlot>() == 32);
// The slot keeps a whole tag (tags rule 1) in their 32-bit task field.
const _: () = assert!(turbowish_format::rules::tags::TAG_BITS == u32::BITS);

/// A slot format, as the table sees it.
pub(crate) trait RecordSlot: Slot + Send {
    /// Packs `r`.
    fn pack(r: &Record) -> Self;
    fn unpack(&self) -> Record;
    /// The key under which a block at `addr` is stored.
    fn key_of(addr: usize) -> u64;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_slots_round_trip_and_wrap_epochs() {
        let r = Record {
            addr: 4096,
            size: 1 << 40,
            task: u32::MAX,
            stack: (1 << 20) - 1,
            epoch: EPOCH_MASK + 5,
            watcher: 9,
            headed: false,
        };
        assert_eq!(LargeSlot::pack(&r).unpack(), Record { epoch: 4, ..r });
    }
}
