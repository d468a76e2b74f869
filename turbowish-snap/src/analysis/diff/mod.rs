//! What changed between two snapshots of one process.
//!
//! Blocks are matched by their identity across snapshots, (address, birth
//! epoch): each snapshot advances the epoch, so a block alive in both has
//! the same identity in both, and a block freed and replaced at the same
//! address does not. Tasks are matched by their serial number.
//!
//! [`Comparison`] holds the two [`Analysis`](crate::analysis::Analysis)es and what is computed about
//! the pair: totals, spawn sites by change, and blocks grouped by a key.
//!
//! Sizes come from the file and may be anything up to `u64::MAX`: every
//! total saturates, and every change is [`delta`], saturating too.

mod comparison;

use crate::analysis::sites::estimate::{SiteSum, SiteWeights};
use crate::model::{BlockIndex, Snapshot, Task, TaskIndex};

pub use comparison::{Comparison, GroupBy, SpawnSiteChange, Totals};

/// How the blocks of snapshot A relate to those of snapshot B.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockMatch {
    /// Blocks of B not in A: born after A and alive at B (indices into B).
    pub born: Vec<BlockIndex>,
    /// Blocks of A not in B: freed between the two (indices into A).
    pub freed: Vec<BlockIndex>,
    /// Blocks alive in both, as (index in A, index in B).
    pub surviving: Vec<(BlockIndex, BlockIndex)>,
}

/// Matches the blocks of `a` and `b` by (address, birth epoch), in one pass
/// over both (blocks are sorted by address).
pub fn match_blocks(a: &Snapshot, b: &Snapshot) -> BlockMatch {
    let mut m = BlockMatch::default();
    let (mut i, mut j) = (0, 0);
    let index = |i: usize| BlockIndex::new(i as u32);
    while i < a.blocks.len() || j < b.blocks.len() {
        let (x, y) = (a.blocks.get(i), b.blocks.get(j));
        match (x, y) {
            (Some(x), Some(y)) if x.addr == y.addr => {
                if x.epoch == y.epoch {
                    m.surviving.push((index(i), index(j)));
                } else {
                    m.freed.push(index(i));
                    m.born.push(index(j));
                }
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x.addr < y.addr => {
                m.freed.push(index(i));
                i += 1;
            }
            (Some(_), None) => {
                m.freed.push(index(i));
                i += 1;
            }
            _ => {
                m.born.push(index(j));
                j += 1;
            }
        }
    }
    m
}

/// Why two snapshots cannot be compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// They come from different processes (or runs of one program).
    OtherProcess {
        /// Process id of A.
        a: u32,
        /// Process id of B.
        b: u32,
    },
    /// B was not taken after A.
    WrongOrder {
        /// Sequence number of A.
        a: u32,
        /// Sequence number of B.
        b: u32,
    },
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::OtherProcess { a, b } if a == b => write!(
                f,
                "the snapshots come from two different runs of process {a} (different start \
                 times); block identities do not carry over"
            ),
            Mismatch::OtherProcess { a, b } => write!(
                f,
                "the snapshots come from different processes ({a} and {b}); block identities \
                 do not carry over"
            ),
            Mismatch::WrongOrder { a, b } => write!(
                f,
                "snapshot A (#{a}) was not taken before snapshot B (#{b}); swap them"
            ),
        }
    }
}

/// Checks that `b` is a later snapshot of the same run of the same process
/// as `a`.
pub fn check_pair(a: &Snapshot, b: &Snapshot) -> Result<(), Mismatch> {
    let (pa, pb) = (&a.process, &b.process);
    if pa.pid != pb.pid || pa.start_token != pb.start_token {
        return Err(Mismatch::OtherProcess {
            a: pa.pid,
            b: pb.pid,
        });
    }
    if pa.sequence >= pb.sequence {
        return Err(Mismatch::WrongOrder {
            a: pa.sequence,
            b: pb.sequence,
        });
    }
    Ok(())
}

/// Tasks of `a` and `b` matched by [`identity`]: (new in B, ended since
/// A), as task indices into B and A.
pub fn match_tasks(a: &Snapshot, b: &Snapshot) -> (Vec<TaskIndex>, Vec<TaskIndex>) {
    let in_a: std::collections::HashSet<(bool, u64)> = a.tasks.iter().map(identity).collect();
    let in_b: std::collections::HashSet<(bool, u64)> = b.tasks.iter().map(identity).collect();
    let new = (b.task_indices())
        .filter(|&i| !in_a.contains(&identity(b.task(i))))
        .collect();
    let ended = (a.task_indices())
        .filter(|&i| !in_b.contains(&identity(a.task(i))))
        .collect();
    (new, ended)
}

/// What a task is across snapshots of one process: a traced task its
/// serial, a task found only from its tokio cell (serial 0) its tokio id,
/// which the runtime never reuses.
fn identity(t: &Task) -> (bool, u64) {
    match t.serial {
        0 => (false, t.id),
        serial => (true, serial),
    }
}

/// How one group of blocks changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupDelta {
    /// Live bytes and blocks of the group in A.
    pub bytes_a: u64,
    /// See `bytes_a`.
    pub blocks_a: u64,
    /// Live bytes and blocks of the group in B.
    pub bytes_b: u64,
    /// See `bytes_b`.
    pub blocks_b: u64,
    /// Bytes and blocks born after A and alive in B.
    pub born_bytes: u64,
    /// See `born_bytes`.
    pub born_blocks: u64,
    /// Bytes and blocks of A freed by B.
    pub freed_bytes: u64,
    /// See `freed_bytes`.
    pub freed_blocks: u64,
}

impl GroupDelta {
    /// Live bytes in B minus live bytes in A, saturating.
    pub fn net(&self) -> i64 {
        delta(self.bytes_a, self.bytes_b)
    }
}

/// `b - a` as a signed number, saturating at the ends of `i64`.
pub fn delta(a: u64, b: u64) -> i64 {
    let d = i128::from(b) - i128::from(a);
    d.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Sums the blocks of `a` and `b` into groups named by `key_a` and `key_b`
/// (block index to group), with what was born and freed; groups in no
/// particular order. Each snapshot's blocks count as its `weights` say:
/// [`SiteWeights::EXACT`] for once each, exactly; a snapshot's own weights
/// for figures by site, estimates when its stacks were sampled.
pub fn group_changes<K: std::hash::Hash + Eq>(
    (a, b): (&Snapshot, &Snapshot),
    m: &BlockMatch,
    key_a: impl Fn(BlockIndex) -> K,
    key_b: impl Fn(BlockIndex) -> K,
    (wa, wb): (SiteWeights, SiteWeights),
) -> Vec<(K, GroupDelta)> {
    // Per group: live in A, freed, live in B, born.
    let mut groups: std::collections::HashMap<K, [SiteSum; 4]> = Default::default();
    for (i, block) in a.block_indices().zip(&a.blocks) {
        groups.entry(key_a(i)).or_default()[0].add(wa, block);
    }
    for &i in &m.freed {
        groups.entry(key_a(i)).or_default()[1].add(wa, a.block(i));
    }
    for (j, block) in b.block_indices().zip(&b.blocks) {
        groups.entry(key_b(j)).or_default()[2].add(wb, block);
    }
    for &j in &m.born {
        groups.entry(key_b(j)).or_default()[3].add(wb, b.block(j));
    }
    (groups.into_iter())
        .filter(|(_, sums)| sums.iter().any(|s| !s.is_empty()))
        .map(|(k, [in_a, freed, in_b, born])| {
            let g = GroupDelta {
                bytes_a: in_a.bytes(),
                blocks_a: in_a.blocks(),
                bytes_b: in_b.bytes(),
                blocks_b: in_b.blocks(),
                born_bytes: born.bytes(),
                born_blocks: born.blocks(),
                freed_bytes: freed.bytes(),
                freed_blocks: freed.blocks(),
            };
            (k, g)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Block;

    fn snap(blocks: &[(u64, u32)]) -> Snapshot {
        Snapshot {
            blocks: blocks
                .iter()
                .map(|&(addr, epoch)| Block {
                    addr,
                    epoch,
                    size: 8,
                    ..Block::default()
                })
                .collect(),
            ..Snapshot::default()
        }
    }

    #[test]
    fn blocks_match_by_address_and_epoch() {
        let a = snap(&[(0x10, 0), (0x20, 0), (0x30, 0)]);
        // 0x10 survives, 0x20 was freed and its address reused, 0x30 freed,
        // 0x40 new.
        let b = snap(&[(0x10, 0), (0x20, 1), (0x40, 1)]);
        let m = match_blocks(&a, &b);
        let b = BlockIndex::new;
        assert_eq!(m.surviving, [(b(0), b(0))]);
        assert_eq!(m.freed, [b(1), b(2)]);
        assert_eq!(m.born, [b(1), b(2)]);
    }

    #[test]
    fn groups_sum_live_born_and_freed() {
        let a = snap(&[(0x10, 0), (0x20, 0), (0x30, 0)]);
        let b = snap(&[(0x10, 0), (0x20, 1), (0x40, 1)]);
        let m = match_blocks(&a, &b);
        let exact = (SiteWeights::EXACT, SiteWeights::EXACT);
        let g = group_changes((&a, &b), &m, |i| i.get() % 2, |j| j.get() % 2, exact);
        let get = |k| g.iter().find(|(key, _)| *key == k).unwrap().1;
        assert_eq!((get(0).bytes_a, get(0).bytes_b), (16, 16));
        assert_eq!((get(0).freed_blocks, get(0).born_blocks), (1, 1));
        assert_eq!((get(1).freed_blocks, get(1).born_blocks), (1, 1));
        assert_eq!(get(1).net(), 0);
    }

    #[test]
    fn pairs_from_other_processes_or_out_of_order_are_refused() {
        let mut a = Snapshot::default();
        a.process.pid = 7;
        a.process.start_token = 100;
        a.process.sequence = 1;
        let mut b = a.clone();
        b.process.sequence = 2;
        assert_eq!(check_pair(&a, &b), Ok(()));
        assert_eq!(check_pair(&b, &a), Err(Mismatch::WrongOrder { a: 2, b: 1 }));
        b.process.start_token = 101;
        let err = check_pair(&a, &b).unwrap_err();
        assert!(err.to_string().contains("two different runs"), "{err}");
        b.process.pid = 8;
        assert!(
            check_pair(&a, &b)
                .unwrap_err()
                .to_string()
                .contains("(7 and 8)")
        );
    }
}
