//! Bloat: memory spent before any is used. Futures whose state machines are
//! large (each task spawned there costs that much however little it does),
//! and containers with capacity they hold no elements in.

use super::Analysis;
use crate::model::{Snapshot, StringIndex};
use std::cmp::Reverse;
use std::collections::HashMap;

/// Futures of this size or more are bloated, by default: tokio moves
/// futures above 16 KiB into a box of their own in release builds.
pub const BLOATED: u64 = 16 << 10;

/// The futures of one spawn site and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FutureGroup {
    /// Where the tasks were spawned (as [`Analysis::spawned_at`] names it).
    pub spawned_at: String,
    /// The future's type (index into [`Snapshot::strings`]).
    pub future_type: StringIndex,
    /// `size_of` the future (of the first task of the group).
    pub future_size: u64,
    /// How many tasks.
    pub tasks: u64,
}

/// Tasks grouped by spawn site and future type, largest future
/// first (ties: more tasks, then by spawn site).
pub fn futures(a: &Analysis) -> Vec<FutureGroup> {
    let snap = a.snapshot();
    let mut groups: HashMap<(&str, StringIndex), FutureGroup> = HashMap::new();
    for (t, i) in snap.tasks.iter().zip(snap.task_indices()) {
        let at = a.spawned_at(i);
        let g = groups
            .entry((at, t.future_type))
            .or_insert_with(|| FutureGroup {
                spawned_at: at.to_owned(),
                future_type: t.future_type,
                future_size: t.future_size,
                tasks: 0,
            });
        g.tasks += 1;
    }
    let mut futures: Vec<FutureGroup> = groups.into_values().collect();
    futures.sort_by(|x, y| {
        let key = |f: &FutureGroup| (Reverse(f.future_size), Reverse(f.tasks));
        key(x)
            .cmp(&key(y))
            .then_with(|| x.spawned_at.cmp(&y.spawned_at))
    });
    futures
}

/// How many tasks have a future of `min_size` bytes or more.
pub fn bloated_tasks(snap: &Snapshot, min_size: u64) -> u64 {
    snap.tasks
        .iter()
        .filter(|t| t.future_size >= min_size)
        .count() as u64
}

/// The containers of one type, from typed walks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerGroup {
    /// The type of their blocks (index into [`Snapshot::strings`]; 0 when
    /// unknown).
    pub type_name: StringIndex,
    /// How many containers, and the bytes of their blocks (saturating).
    pub blocks: u64,
    /// See `blocks`.
    pub bytes: u64,
    /// Bytes of their blocks beyond their elements (see [`unused`]).
    pub unused_bytes: u64,
}

/// Containers grouped by type, those with unused capacity only, most unused
/// bytes first (ties: by type name).
pub fn containers(snap: &Snapshot) -> Vec<ContainerGroup> {
    let mut groups: HashMap<StringIndex, ContainerGroup> = HashMap::new();
    for c in &snap.containers {
        let block = snap.block(c.block);
        let g = groups
            .entry(block.type_name)
            .or_insert_with(|| ContainerGroup {
                type_name: block.type_name,
                blocks: 0,
                bytes: 0,
                unused_bytes: 0,
            });
        g.blocks += 1;
        g.bytes = g.bytes.saturating_add(block.size);
        let unused = unused(block.size, c.len, c.capacity);
        g.unused_bytes = g.unused_bytes.saturating_add(unused);
    }
    let mut groups: Vec<ContainerGroup> = (groups.into_values())
        .filter(|c| c.unused_bytes > 0)
        .collect();
    groups.sort_by(|x, y| {
        (y.unused_bytes.cmp(&x.unused_bytes))
            .then_with(|| snap.string(x.type_name).cmp(snap.string(y.type_name)))
    });
    groups
}

/// Bytes of a container's block that hold no element: its share of the
/// block beyond `len` of `capacity` elements.
pub fn unused(block_bytes: u64, len: u64, capacity: u64) -> u64 {
    if capacity == 0 || len >= capacity {
        return 0;
    }
    (block_bytes as u128 * u128::from(capacity - len) / u128::from(capacity)) as u64
}

#[cfg(test)]
mod tests {
    #[test]
    fn unused_capacity_is_the_share_beyond_len() {
        assert_eq!(super::unused(800, 3, 8), 500);
        assert_eq!(super::unused(800, 8, 8), 0);
        assert_eq!(super::unused(0, 0, 0), 0);
        assert_eq!(super::unused(u64::MAX, 0, 2), u64::MAX);
    }
}
