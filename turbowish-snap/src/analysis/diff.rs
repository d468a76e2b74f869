//! What changed between two snapshots of one process.
//!
//! Blocks are matched by their identity across snapshots, (address, birth
//! epoch): each snapshot advances the epoch, so a block alive in both has
//! the same identity in both, and a block freed and replaced at the same
//! address does not. Tasks are matched by their serial number.
//!
//! [`Comparison`] holds the two [`Analysis`]es and what is computed about
//! the pair: totals, spawn sites by change, and blocks grouped by a key.
//!
//! Sizes come from the file and may be anything up to `u64::MAX`: every
//! total saturates, and every change is [`delta`], saturating too.

use super::Analysis;
use super::census::{live_bytes, total};
use crate::model::Snapshot;
use std::borrow::Cow;
use std::cell::OnceCell;
use std::cmp::Reverse;
use std::collections::HashMap;

/// How the blocks of snapshot A relate to those of snapshot B.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockMatch {
    /// Blocks of B not in A: born after A and alive at B (indices into B).
    pub born: Vec<u32>,
    /// Blocks of A not in B: freed between the two (indices into A).
    pub freed: Vec<u32>,
    /// Blocks alive in both, as (index in A, index in B).
    pub surviving: Vec<(u32, u32)>,
}

/// Matches the blocks of `a` and `b` by (address, birth epoch), in one pass
/// over both (blocks are sorted by address).
pub fn match_blocks(a: &Snapshot, b: &Snapshot) -> BlockMatch {
    let mut m = BlockMatch::default();
    let (mut i, mut j) = (0, 0);
    while i < a.blocks.len() || j < b.blocks.len() {
        let (x, y) = (a.blocks.get(i), b.blocks.get(j));
        match (x, y) {
            (Some(x), Some(y)) if x.addr == y.addr => {
                if x.epoch == y.epoch {
                    m.surviving.push((i as u32, j as u32));
                } else {
                    m.freed.push(i as u32);
                    m.born.push(j as u32);
                }
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x.addr < y.addr => {
                m.freed.push(i as u32);
                i += 1;
            }
            (Some(_), None) => {
                m.freed.push(i as u32);
                i += 1;
            }
            _ => {
                m.born.push(j as u32);
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

/// Tasks of `a` and `b` matched by serial: (new in B, ended since A), as
/// task indices into B and A.
pub fn match_tasks(a: &Snapshot, b: &Snapshot) -> (Vec<u32>, Vec<u32>) {
    let in_a: std::collections::HashSet<u64> = a.tasks.iter().map(|t| t.serial).collect();
    let in_b: std::collections::HashSet<u64> = b.tasks.iter().map(|t| t.serial).collect();
    let new = (0..b.tasks.len() as u32)
        .filter(|&i| !in_a.contains(&b.tasks[i as usize].serial))
        .collect();
    let ended = (0..a.tasks.len() as u32)
        .filter(|&i| !in_b.contains(&a.tasks[i as usize].serial))
        .collect();
    (new, ended)
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
/// particular order.
pub fn group_changes<K: std::hash::Hash + Eq>(
    a: &Snapshot,
    b: &Snapshot,
    m: &BlockMatch,
    key_a: impl Fn(u32) -> K,
    key_b: impl Fn(u32) -> K,
) -> Vec<(K, GroupDelta)> {
    let mut groups: std::collections::HashMap<K, GroupDelta> = Default::default();
    for (i, block) in a.blocks.iter().enumerate() {
        let g = groups.entry(key_a(i as u32)).or_default();
        g.bytes_a = g.bytes_a.saturating_add(block.size);
        g.blocks_a += 1;
    }
    for &i in &m.freed {
        let g = groups.entry(key_a(i)).or_default();
        g.freed_bytes = g.freed_bytes.saturating_add(a.blocks[i as usize].size);
        g.freed_blocks += 1;
    }
    for (j, block) in b.blocks.iter().enumerate() {
        let g = groups.entry(key_b(j as u32)).or_default();
        g.bytes_b = g.bytes_b.saturating_add(block.size);
        g.blocks_b += 1;
    }
    for &j in &m.born {
        let g = groups.entry(key_b(j)).or_default();
        g.born_bytes = g.born_bytes.saturating_add(b.blocks[j as usize].size);
        g.born_blocks += 1;
    }
    groups.into_iter().collect()
}

/// Two analysed snapshots of one process, A then B, and what changed.
/// Parts are computed on first use, once.
#[derive(Debug)]
pub struct Comparison<'x, 'a> {
    a: &'x Analysis<'a>,
    b: &'x Analysis<'a>,
    blocks: OnceCell<BlockMatch>,
    tasks: OnceCell<(Vec<u32>, Vec<u32>)>,
}

/// What changed between A and B, in total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Live bytes in A and in B.
    pub live_bytes_a: u64,
    /// See `live_bytes_a`.
    pub live_bytes_b: u64,
    /// Bytes and blocks born after A and alive in B.
    pub born_bytes: u64,
    /// See `born_bytes`.
    pub born_blocks: u64,
    /// Bytes and blocks of A freed by B.
    pub freed_bytes: u64,
    /// See `freed_bytes`.
    pub freed_blocks: u64,
    /// Blocks alive in both.
    pub surviving_blocks: u64,
    /// Traced tasks in B and not in A, and in A and not in B.
    pub new_tasks: u64,
    /// See `new_tasks`.
    pub ended_tasks: u64,
}

/// How the tasks of one spawn site changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpawnSiteChange {
    /// Where they were spawned.
    pub spawned_at: String,
    /// Live traced tasks in A and in B.
    pub tasks_a: u64,
    /// See `tasks_a`.
    pub tasks_b: u64,
    /// Bytes their storages retain in A and in B.
    pub retained_a: u64,
    /// See `retained_a`.
    pub retained_b: u64,
    /// Live bytes allocated in their polls, in A and in B.
    pub allocated_a: u64,
    /// See `allocated_a`.
    pub allocated_b: u64,
    /// Tasks of B not in A, and of A not in B.
    pub new_tasks: u64,
    /// See `new_tasks`.
    pub ended_tasks: u64,
}

/// What blocks are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// The spawn site of the traced task whose polls allocated the block.
    Spawn,
    /// The task whose polls allocated the block.
    Task,
    /// The allocation site.
    Site,
    /// The block's type, where a typed walk named it.
    Type,
}

impl<'x, 'a> Comparison<'x, 'a> {
    /// Compares `a` with `b`, a later snapshot of the same process (see
    /// [`check_pair`]; unchecked here: compared anyway, every block of
    /// another process looks born and freed).
    pub fn new(a: &'x Analysis<'a>, b: &'x Analysis<'a>) -> Self {
        Comparison {
            a,
            b,
            blocks: OnceCell::new(),
            tasks: OnceCell::new(),
        }
    }

    /// The blocks of A and B, matched.
    pub fn blocks(&self) -> &BlockMatch {
        (self.blocks).get_or_init(|| match_blocks(self.a.snapshot(), self.b.snapshot()))
    }

    /// Traced tasks new in B (indices into B's tasks), and ended since A
    /// (indices into A's).
    pub fn tasks(&self) -> (&[u32], &[u32]) {
        let (new, ended) =
            (self.tasks).get_or_init(|| match_tasks(self.a.snapshot(), self.b.snapshot()));
        (new, ended)
    }

    /// What changed, in total.
    pub fn totals(&self) -> Totals {
        let (a, b) = (self.a.snapshot(), self.b.snapshot());
        let m = self.blocks();
        let (new, ended) = self.tasks();
        let sizes =
            |s: &Snapshot, idx: &[u32]| total(idx.iter().map(|&i| s.blocks[i as usize].size));
        Totals {
            live_bytes_a: live_bytes(a),
            live_bytes_b: live_bytes(b),
            born_bytes: sizes(b, &m.born),
            born_blocks: m.born.len() as u64,
            freed_bytes: sizes(a, &m.freed),
            freed_blocks: m.freed.len() as u64,
            surviving_blocks: m.surviving.len() as u64,
            new_tasks: new.len() as u64,
            ended_tasks: ended.len() as u64,
        }
    }

    /// Per spawn site: live tasks and what they retain and allocated, in A
    /// and B; most growth in retained bytes first (ties: most growth in
    /// tasks, then by name).
    pub fn spawn_sites(&self) -> Vec<SpawnSiteChange> {
        let mut sites: HashMap<&str, SpawnSiteChange> = HashMap::new();
        for s in self.a.spawn_sites() {
            let c = sites.entry(&s.spawned_at).or_default();
            (c.tasks_a, c.retained_a, c.allocated_a) = (s.tasks, s.retained, s.allocated);
        }
        for s in self.b.spawn_sites() {
            let c = sites.entry(&s.spawned_at).or_default();
            (c.tasks_b, c.retained_b, c.allocated_b) = (s.tasks, s.retained, s.allocated);
        }
        let (new, ended) = self.tasks();
        for &t in new {
            sites.entry(self.b.spawned_at(t)).or_default().new_tasks += 1;
        }
        for &t in ended {
            sites.entry(self.a.spawned_at(t)).or_default().ended_tasks += 1;
        }
        let mut out: Vec<SpawnSiteChange> = (sites.into_iter())
            .map(|(spawned_at, s)| SpawnSiteChange {
                spawned_at: spawned_at.to_owned(),
                ..s
            })
            .collect();
        out.sort_by(|x, y| {
            let key = |s: &SpawnSiteChange| {
                let growth = delta(s.retained_a, s.retained_b);
                (Reverse(growth), Reverse(delta(s.tasks_a, s.tasks_b)))
            };
            key(x)
                .cmp(&key(y))
                .then_with(|| x.spawned_at.cmp(&y.spawned_at))
        });
        out
    }

    /// The blocks of A and B grouped by `by`, with what was born and freed;
    /// most net growth first (ties: by key).
    pub fn groups(&self, by: GroupBy) -> Vec<(String, GroupDelta)> {
        let (a, b) = (Side::new(self.a, by), Side::new(self.b, by));
        let (sa, sb) = (self.a.snapshot(), self.b.snapshot());
        let changes = group_changes(
            sa,
            sb,
            self.blocks(),
            |i| a.key(by, &b, i),
            |j| b.key(by, &a, j),
        );
        let mut rows: Vec<(String, GroupDelta)> = (changes.into_iter())
            .map(|(key, g)| (key.into_owned(), g))
            .collect();
        rows.sort_by(|x, y| y.1.net().cmp(&x.1.net()).then_with(|| x.0.cmp(&y.0)));
        rows
    }
}

/// One snapshot of a pair, for naming groups: its site labels, by stack,
/// computed on first use.
struct Side<'x, 'a> {
    a: &'x Analysis<'a>,
    labels: Vec<OnceCell<String>>,
}

impl<'x, 'a> Side<'x, 'a> {
    fn new(a: &'x Analysis<'a>, by: GroupBy) -> Self {
        let stacks = match by {
            GroupBy::Site => a.snapshot().stacks.len(),
            _ => 0,
        };
        Side {
            a,
            labels: (0..stacks).map(|_| OnceCell::new()).collect(),
        }
    }

    /// The group of block `i` under `by`. A block's task is looked up in
    /// this snapshot's task table, then in `other`'s: a traced task that
    /// ended between the two is still named by its spawn site.
    fn key<'s>(&'s self, by: GroupBy, other: &'s Side<'x, 'a>, i: u32) -> Cow<'s, str> {
        let snap = self.a.snapshot();
        let block = &snap.blocks[i as usize];
        let task = match self.a.task_of_tag(block.task) {
            Some(t) => Some((self.a, t)),
            None => other.a.task_of_tag(block.task).map(|t| (other.a, t)),
        };
        match by {
            GroupBy::Spawn => match (task, block.task) {
                (Some((x, t)), _) => Cow::Borrowed(x.spawned_at(t)),
                (None, 0) => Cow::Borrowed("(outside tasks)"),
                (None, _) => Cow::Borrowed("(untraced or ended tasks)"),
            },
            GroupBy::Task => Cow::Owned(match task {
                Some((x, t)) => match x.snapshot().string(x.snapshot().tasks[t as usize].name) {
                    "" => format!("task {}", block.task),
                    name => format!("task {} {name}", block.task),
                },
                None if block.task == 0 => "(outside tasks)".to_owned(),
                None => format!("task {} (untraced, or ended)", block.task),
            }),
            GroupBy::Site => Cow::Borrowed(self.labels[block.stack as usize].get_or_init(|| {
                (self.a.site(block.stack).label())
                    .unwrap_or_else(|| "(no stack recorded)".to_owned())
            })),
            GroupBy::Type => match snap.string(block.type_name) {
                "" => Cow::Borrowed("(untyped)"),
                t => Cow::Borrowed(t),
            },
        }
    }
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
        assert_eq!(m.surviving, [(0, 0)]);
        assert_eq!(m.freed, [1, 2]);
        assert_eq!(m.born, [1, 2]);
    }

    #[test]
    fn groups_sum_live_born_and_freed() {
        let a = snap(&[(0x10, 0), (0x20, 0), (0x30, 0)]);
        let b = snap(&[(0x10, 0), (0x20, 1), (0x40, 1)]);
        let m = match_blocks(&a, &b);
        let g = group_changes(&a, &b, &m, |i| i % 2, |j| j % 2);
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
