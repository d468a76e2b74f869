//! Choosing one block from the command line, alike in every command that
//! takes `--block ADDR` or `--task ID`: how an address is parsed, which
//! block holds it, and the errors when none does.

use crate::{BlockIndex, Snapshot};
use anyhow::{Result, bail};

/// Parses `--block`'s address: hex with `0x`, or decimal.
pub fn parse_address(s: &str) -> Result<u64, String> {
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.map_err(|_| format!("{s:?} is not an address (hex with 0x, or decimal)"))
}

/// The live block at or containing `addr`.
pub fn block_at(snap: &Snapshot, addr: u64) -> Result<BlockIndex> {
    let i = snap.blocks.partition_point(|b| b.addr <= addr);
    let found = i
        .checked_sub(1)
        .filter(|&i| addr - snap.blocks[i].addr < snap.blocks[i].size.max(1));
    match found {
        Some(i) => Ok(BlockIndex::new(i as u32)),
        None => bail!("no live block at or containing address {addr:#x}"),
    }
}

/// The storage block (future) of the task with id `id`.
pub fn task_storage(snap: &Snapshot, id: u64) -> Result<BlockIndex> {
    let Some(task) = snap.tasks.iter().find(|t| t.id == id) else {
        bail!("no task with id {id} (see `turbowish tasks`)");
    };
    match task.storage {
        Some(s) => Ok(s),
        None => bail!("task {id} has no known storage: it was never polled"),
    }
}
