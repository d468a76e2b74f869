//! Memory nothing reaches, finished futures something still holds, and
//! idle tasks holding memory.

use super::graph::HeapGraph;
use super::retained::Retained;
use super::sites::SiteTotal;
use super::sites::estimate::{SiteSum, SiteWeights};
use super::tasks::TaskRow;
use crate::model::{BlockIndex, Snapshot, StackIndex, StringIndex, TaskIndex};

/// Unreachable blocks of one allocation stack and allocating task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unreachable {
    /// The allocation stack (index into [`Snapshot::stacks`]).
    pub stack: StackIndex,
    /// The allocating task's tag (0 outside tasks).
    pub task: u64,
    /// Blocks and bytes no root reaches.
    pub blocks: u64,
    /// See `blocks`.
    pub bytes: u64,
}

/// Blocks no root reaches, grouped by allocation stack and task, largest
/// first. Such blocks are leaks (`mem::forget`, a lost `Box::leak`, a
/// reference cycle of `Rc`s) or blocks whose only pointer is somewhere the
/// scan cannot see (a register, memory outside the heap and the roots).
pub fn unreachable(snap: &Snapshot, graph: &HeapGraph, retained: &Retained) -> Vec<Unreachable> {
    let mut groups: std::collections::HashMap<(StackIndex, u64), Unreachable> = Default::default();
    for (i, b) in snap.block_indices().zip(&snap.blocks) {
        if retained.reachable(graph.block_node(i.get())) {
            continue;
        }
        let g = groups.entry((b.stack, b.task)).or_insert(Unreachable {
            stack: b.stack,
            task: b.task,
            blocks: 0,
            bytes: 0,
        });
        g.blocks += 1;
        g.bytes = g.bytes.saturating_add(b.size);
    }
    let mut out: Vec<Unreachable> = groups.into_values().collect();
    out.sort_by(|a, b| {
        (b.bytes, b.blocks, a.stack, a.task).cmp(&(a.bytes, a.blocks, b.stack, b.task))
    });
    out
}

/// The blocks no root reaches as figures by site: per allocating task and
/// allocation stack, estimates when stacks were sampled ([`sites`] rule 5),
/// largest first (ties: more blocks, then by stack and task). The groups
/// of [`unreachable`] are the exact figures.
///
/// [`sites`]: super::sites
pub fn unreachable_by_site(
    snap: &Snapshot,
    graph: &HeapGraph,
    retained: &Retained,
) -> Vec<(u64, SiteTotal)> {
    let weights = SiteWeights::of(snap);
    let mut groups: std::collections::HashMap<(StackIndex, u64), SiteSum> = Default::default();
    for (i, b) in snap.block_indices().zip(&snap.blocks) {
        if !retained.reachable(graph.block_node(i.get())) {
            groups.entry((b.stack, b.task)).or_default().add(weights, b);
        }
    }
    let mut out: Vec<(u64, SiteTotal)> = (groups.iter())
        .filter(|(_, sum)| !sum.is_empty())
        .map(|(&(stack, task), sum)| (task, SiteTotal::new(stack, sum)))
        .collect();
    out.sort_by(|(ta, a), (tb, b)| {
        (b.bytes, b.blocks, a.stack, ta).cmp(&(a.bytes, a.blocks, b.stack, tb))
    });
    out
}

/// Who points at a block: another block, or a root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Holder {
    /// A block, by index, and the edge's label (0 for none).
    Block(BlockIndex, StringIndex),
    /// A root, by index.
    Root(u32),
}

/// A finished task whose storage is still alive, and what points at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zombie {
    /// Index into [`Snapshot::tasks`].
    pub task: TaskIndex,
    /// Its storage block.
    pub storage: BlockIndex,
    /// Everything with a pointer to the storage block except the task's own
    /// root. Pointers from other task cells are kept: a waker stored in
    /// another task's future is exactly what makes a zombie.
    pub holders: Vec<Holder>,
}

/// The zombie futures of `snap` (completed or cancelled tasks with live
/// storage) with their holders.
pub fn zombies(snap: &Snapshot) -> Vec<Zombie> {
    let mut out: Vec<Zombie> = snap
        .task_indices()
        .zip(&snap.tasks)
        .filter(|(_, t)| t.state.is_finished())
        .filter_map(|(i, t)| {
            Some(Zombie {
                task: i,
                storage: t.storage?,
                holders: Vec::new(),
            })
        })
        .collect();
    // Per block, the zombie whose storage it is: an index, not a hash map,
    // since every edge is looked up.
    const NONE: u32 = u32::MAX;
    let mut by_storage = vec![NONE; snap.blocks.len()];
    for (i, z) in out.iter().enumerate() {
        by_storage[z.storage.index()] = i as u32;
    }
    let zombie_at =
        |b: BlockIndex| Some(by_storage[b.index()] as usize).filter(|&z| z != NONE as usize);
    // A storage block's pointers into itself (a task cell's own list links
    // and waker data) keep nothing alive: not holders.
    for e in snap.edges.iter().filter(|e| e.from != e.to) {
        if let Some(z) = zombie_at(e.to) {
            out[z].holders.push(Holder::Block(e.from, e.label));
        }
    }
    for (r, root) in snap.roots.iter().enumerate() {
        for &t in &root.targets {
            if let Some(z) = zombie_at(t)
                && root.task != Some(out[z].task)
            {
                out[z].holders.push(Holder::Root(r as u32));
            }
        }
    }
    out
}

/// The tasks of `rows` (rows of `snap`'s tasks) idle for at least
/// `min_idle_ns` since their last poll and retaining at least
/// `min_retained` bytes, most retained first (ties: by task id).
pub fn idle<'r>(
    snap: &Snapshot,
    rows: &'r [TaskRow],
    min_idle_ns: u64,
    min_retained: u64,
) -> Vec<&'r TaskRow> {
    let mut idle: Vec<&TaskRow> = (rows.iter())
        .filter(|r| r.idle_ns >= min_idle_ns && r.retained >= min_retained)
        .collect();
    let id = |r: &TaskRow| snap.task(r.task).id;
    idle.sort_by(|x, y| y.retained.cmp(&x.retained).then(id(x).cmp(&id(y))));
    idle
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Block, Edge, Root, Task, TaskState};

    fn b(i: u32) -> BlockIndex {
        BlockIndex::new(i)
    }

    #[test]
    fn unreachable_blocks_and_zombie_holders() {
        // 0: static data's block; 1: a zombie's storage, held by 0;
        // 2 and 3: a leaked cycle; 4: the zombie's own allocation.
        let s = Snapshot {
            blocks: (0..5)
                .map(|i| Block {
                    addr: 0x1000 * (i + 1),
                    size: 10 * (i + 1),
                    stack: StackIndex::new((i % 2) as u32),
                    task: if i >= 2 { 9 } else { 0 },
                    ..Block::default()
                })
                .collect(),
            edges: [(0, 1), (1, 1), (1, 4), (2, 3), (3, 2)]
                .map(|(f, t)| Edge::new(b(f), b(t)))
                .to_vec(),
            roots: vec![
                Root {
                    targets: vec![b(0)],
                    ..Root::default()
                },
                Root {
                    targets: vec![b(1)],
                    task: Some(TaskIndex::new(0)),
                    ..Root::default()
                },
            ],
            tasks: vec![Task {
                state: TaskState::Completed,
                storage: Some(b(1)),
                ..Task::default()
            }],
            stacks: vec![vec![], vec![]],
            ..Snapshot::default()
        };
        let g = HeapGraph::new(&s);
        let r = Retained::new(&s, &g);
        let u = unreachable(&s, &g, &r);
        assert_eq!(u.len(), 2);
        let stack = StackIndex::new;
        assert_eq!((u[0].bytes, u[0].stack, u[0].task), (40, stack(1), 9));
        assert_eq!((u[1].bytes, u[1].stack), (30, stack(0)));
        let z = zombies(&s);
        assert_eq!(z.len(), 1);
        assert_eq!(
            z[0].holders,
            [Holder::Block(b(0), StringIndex::EMPTY)],
            "neither its own root nor its own pointer into itself is a holder"
        );
    }
}
