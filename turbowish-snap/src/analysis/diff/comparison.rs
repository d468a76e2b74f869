//! [`Comparison`]: two analysed snapshots of one process, and what is
//! computed about the pair, each part once, on first use.
//!
//! # Rules
//!
//! 1. **Spawn sites** are compared by name ([`Analysis::spawned_at`]): a
//!    site's live tasks, retained and allocated bytes in A and in B, and
//!    its tasks that are new in B or ended since A.
//! 2. **Groups** of blocks are named from the snapshot the block is in; a
//!    block's task is looked up in that snapshot's task table, then in the
//!    other's, so that the blocks of a task that ended between the two (or
//!    began after A and allocated them) are still named by its spawn site.
//! 3. **A tag no task row has** is that of a task that ended before both
//!    snapshots' rows (its blocks outlive it): "(ended tasks)". When either
//!    capture did not read tokio's task cells (an older file, finding off)
//!    or did not understand some, it may also be a live untraced task:
//!    "(untraced or ended tasks)".

use super::{BlockMatch, GroupDelta, delta, group_changes, match_blocks, match_tasks};
use crate::analysis::Analysis;
use crate::analysis::census::{live_bytes, total};
use crate::analysis::sites::estimate::SiteWeights;
use crate::model::{BlockIndex, Snapshot, TaskIndex};
use std::borrow::Cow;
use std::cell::OnceCell;
use std::cmp::Reverse;
use std::collections::HashMap;

/// Two analysed snapshots of one process, A then B, and what changed.
/// Parts are computed on first use, once.
#[derive(Debug)]
pub struct Comparison<'x, 'a> {
    a: &'x Analysis<'a>,
    b: &'x Analysis<'a>,
    blocks: OnceCell<BlockMatch>,
    tasks: OnceCell<(Vec<TaskIndex>, Vec<TaskIndex>)>,
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
    /// Tasks in B and not in A, and in A and not in B.
    pub new_tasks: u64,
    /// See `new_tasks`.
    pub ended_tasks: u64,
}

/// How the tasks of one spawn site changed (a `diff --json` and
/// `leaks --json` row as it is).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SpawnSiteChange {
    /// Where they were spawned.
    pub spawned_at: String,
    /// Live tasks in A and in B.
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
    /// Compares `a` with `b`, a later snapshot of the same process. That is
    /// not checked here (see [`check_pair`](super::check_pair)): snapshots
    /// of two processes are compared anyway, every block born and freed.
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
    pub fn tasks(&self) -> (&[TaskIndex], &[TaskIndex]) {
        let (new, ended) =
            (self.tasks).get_or_init(|| match_tasks(self.a.snapshot(), self.b.snapshot()));
        (new, ended)
    }

    /// What changed, in total.
    pub fn totals(&self) -> Totals {
        let (a, b) = (self.a.snapshot(), self.b.snapshot());
        let m = self.blocks();
        let (new, ended) = self.tasks();
        let sizes = |s: &Snapshot, idx: &[BlockIndex]| total(idx.iter().map(|&i| s.block(i).size));
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

    /// Whether the figures of [`Comparison::groups`] by `by` are estimates:
    /// by site, when either snapshot's stacks were sampled (sites rule 5).
    pub fn estimated(&self, by: GroupBy) -> bool {
        let (wa, wb) = self.weights(by);
        wa.estimated() || wb.estimated()
    }

    /// How each snapshot's blocks count in groups by `by`.
    fn weights(&self, by: GroupBy) -> (SiteWeights, SiteWeights) {
        match by {
            GroupBy::Site => (
                SiteWeights::of(self.a.snapshot()),
                SiteWeights::of(self.b.snapshot()),
            ),
            _ => (SiteWeights::EXACT, SiteWeights::EXACT),
        }
    }

    /// The blocks of A and B grouped by `by`, with what was born and freed;
    /// most net growth first (ties: by key). By site, figures are
    /// estimates when stacks were sampled ([`Comparison::estimated`]).
    pub fn groups(&self, by: GroupBy) -> Vec<(String, GroupDelta)> {
        let (a, b) = (Side::new(self.a, by), Side::new(self.b, by));
        let (sa, sb) = (self.a.snapshot(), self.b.snapshot());
        let changes = group_changes(
            (sa, sb),
            self.blocks(),
            |i| a.key(by, &b, i),
            |j| b.key(by, &a, j),
            self.weights(by),
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

    /// Whether both captures read every task cell, so that every live
    /// task is a row (rule 3).
    fn all_read(&self, other: &Side) -> bool {
        let read = |a: &Analysis| {
            let c = &a.snapshot().capture;
            c.cells_ns > 0 && c.cells_not_understood == 0
        };
        read(self.a) && read(other.a)
    }

    /// The group of block `i` under `by`. A block's task is looked up in
    /// this snapshot's task table, then in `other`'s: a traced task that
    /// ended between the two is still named by its spawn site.
    fn key<'s>(&'s self, by: GroupBy, other: &'s Side<'x, 'a>, i: BlockIndex) -> Cow<'s, str> {
        let snap = self.a.snapshot();
        let block = snap.block(i);
        let task = match self.a.task_of_tag(block.task) {
            Some(t) => Some((self.a, t)),
            None => other.a.task_of_tag(block.task).map(|t| (other.a, t)),
        };
        match by {
            GroupBy::Spawn => match (task, block.task) {
                (Some((x, t)), _) => Cow::Borrowed(x.spawned_at(t)),
                (None, 0) => Cow::Borrowed("(outside tasks)"),
                (None, _) if self.all_read(other) => Cow::Borrowed("(ended tasks)"),
                (None, _) => Cow::Borrowed("(untraced or ended tasks)"),
            },
            GroupBy::Task => Cow::Owned(match task {
                Some((x, t)) => match x.snapshot().string(x.snapshot().task(t).name) {
                    "" => format!("task {}", block.task),
                    name => format!("task {} {name}", block.task),
                },
                None if block.task == 0 => "(outside tasks)".to_owned(),
                None if self.all_read(other) => format!("task {} (ended)", block.task),
                None => format!("task {} (untraced, or ended)", block.task),
            }),
            GroupBy::Site => Cow::Borrowed(self.labels[block.stack.index()].get_or_init(|| {
                (self.a.site(block.stack).label())
                    .unwrap_or_else(|| crate::analysis::sites::NO_STACK.to_owned())
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
    use crate::model::{Block, Root, RootKind, StringIndex, Task};

    /// A task (id 5, spawned at src/a.rs:3) holding a 10-byte block; with
    /// `ended`, the task is gone but its block survives.
    fn snapshot(sequence: u32, ended: bool) -> Snapshot {
        let mut s = Snapshot::default();
        s.strings.push("/x/src/a.rs".into());
        s.process.sequence = sequence;
        s.blocks = vec![
            Block {
                addr: 0x1000,
                size: 100,
                ..Block::default()
            },
            Block {
                addr: 0x2000,
                size: 10,
                task: 5,
                ..Block::default()
            },
        ];
        if !ended {
            s.tasks.push(Task {
                serial: 1,
                id: 5,
                file: StringIndex::new(1),
                line: 3,
                storage: Some(BlockIndex::new(0)),
                ..Task::default()
            });
            s.roots.push(Root {
                kind: RootKind::Task,
                targets: vec![BlockIndex::new(0)],
                task: Some(TaskIndex::new(0)),
                ..Root::default()
            });
        }
        s
    }

    #[test]
    fn an_ended_tasks_blocks_keep_its_spawn_site() {
        let (a, b) = (snapshot(1, false), snapshot(2, true));
        let (a, b) = (Analysis::new(&a), Analysis::new(&b));
        let pair = Comparison::new(&a, &b);
        let groups = pair.groups(GroupBy::Spawn);
        let site = groups.iter().find(|(k, _)| k == "src/a.rs:3").unwrap().1;
        assert_eq!((site.bytes_a, site.bytes_b), (10, 10));
        let sites = pair.spawn_sites();
        assert_eq!(sites.len(), 1);
        let s = &sites[0];
        assert_eq!(
            (s.tasks_a, s.tasks_b, s.ended_tasks, s.new_tasks),
            (1, 0, 1, 0)
        );
        assert_eq!((s.retained_a, s.retained_b), (100, 0));
        let t = pair.totals();
        assert_eq!(
            (t.surviving_blocks, t.ended_tasks, t.born_blocks),
            (2, 1, 0)
        );
    }
}
