//! What each task holds: bytes it allocated that are still live,
//! bytes its storage retains, and bytes it shares with other tasks.
//!
//! Sharing is found in one pass over the edges: each edge from a block a
//! task owns (one its storage dominates, nearest first) to a block it does
//! not own gives a `(block, task)` pair; sorted and deduplicated, the pairs
//! give each block's set of distinct tasks, and the `sharing` module turns
//! those into per-task figures in time linear in the sharing. Pointers to
//! another task's storage are runtime links (run queues, task lists,
//! wakers), not shared data, and are left out; so are pointers to blocks
//! tokio's runtime allocated for itself (the scheduler's handle every cell
//! points to: [`runtime`]).

pub mod kind;
pub mod runtime;
mod sharing;

use super::graph::HeapGraph;
use super::retained::Retained;
use crate::model::{Snapshot, TaskIndex, TaskState};
use crate::rules::tag;
use runtime::RuntimeStacks;
use std::collections::HashMap;

/// How many of the tasks a task shares with [`TaskRow::shared_with`] names.
pub const SHARED_WITH_CAP: usize = sharing::CAP;

/// One task's figures, from [`task_rows`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRow {
    /// Index into [`Snapshot::tasks`].
    pub task: TaskIndex,
    /// Live bytes in blocks allocated inside the task's polls (its tag).
    pub allocated: u64,
    /// Live blocks among those.
    pub allocated_blocks: u64,
    /// Bytes the task's storage block retains: the future's state machine and
    /// everything only it keeps alive. 0 when the storage is unknown.
    pub retained: u64,
    /// Bytes of blocks the task's retained blocks point to that also another
    /// task's point to: memory it shares.
    pub shared: u64,
    /// How many blocks those bytes are in.
    pub shared_blocks: u64,
    /// How many other tasks point to at least one of those blocks.
    pub shared_with_tasks: u64,
    /// Whether `shared_with_tasks` is exact. It is a lower bound (the
    /// largest number of tasks sharing one of its blocks) only on graphs
    /// built to defeat the count: many large, overlapping sets of sharing
    /// tasks in many combinations, past a work budget linear in the input.
    pub shared_with_exact: bool,
    /// The first [`SHARED_WITH_CAP`] of those other tasks, in task order
    /// (indices into [`Snapshot::tasks`]).
    pub shared_with: Vec<TaskIndex>,
    /// Nanoseconds between its last poll and the snapshot (0 if never
    /// polled or running).
    pub idle_ns: u64,
}

/// The figures of every task in `snap`, in task order.
pub fn task_rows(snap: &Snapshot, graph: &HeapGraph, retained: &Retained) -> Vec<TaskRow> {
    let mut rows: Vec<TaskRow> = (snap.task_indices())
        .map(|task| row_of(snap, graph, retained, task))
        .collect();
    add_allocated(snap, &mut rows);
    add_shared(snap, graph, retained, &mut rows);
    rows
}

fn row_of(snap: &Snapshot, graph: &HeapGraph, retained: &Retained, task: TaskIndex) -> TaskRow {
    let t = snap.task(task);
    let idle_ns = match t.state {
        TaskState::Pending if t.last_poll_ns != 0 => {
            snap.process.time_ns.saturating_sub(t.last_poll_ns)
        }
        _ => 0,
    };
    TaskRow {
        task,
        allocated: 0,
        allocated_blocks: 0,
        retained: t
            .storage
            .map_or(0, |b| retained.bytes[graph.block_node(b.get()) as usize]),
        shared: 0,
        shared_blocks: 0,
        shared_with_tasks: 0,
        shared_with_exact: true,
        shared_with: Vec::new(),
        idle_ns,
    }
}

/// The traced task (index into [`Snapshot::tasks`]) of each allocation tag
/// ([`rules::tags`](crate::rules::tags)). Tag 0 is outside any task: no
/// task's (an id that is a multiple of 2^32 has none).
pub fn by_tag(snap: &Snapshot) -> HashMap<u64, TaskIndex> {
    (snap.tasks.iter().zip(snap.task_indices()))
        .map(|(t, i)| (tag(t.id), i))
        .filter(|&(tag, _)| tag != 0)
        .collect()
}

fn add_allocated(snap: &Snapshot, rows: &mut [TaskRow]) {
    let by_tag = by_tag(snap);
    for b in &snap.blocks {
        if let Some(&i) = by_tag.get(&tag(b.task)) {
            let row = &mut rows[i.index()];
            row.allocated = row.allocated.saturating_add(b.size);
            row.allocated_blocks += 1;
        }
    }
}

/// The task whose storage dominates each block (its nearest such
/// dominator), or `u32::MAX`.
fn owners(snap: &Snapshot, graph: &HeapGraph, retained: &Retained) -> Vec<u32> {
    const NONE: u32 = u32::MAX;
    let mut storage_of = vec![NONE; snap.blocks.len()];
    for (i, t) in snap.tasks.iter().enumerate() {
        if let Some(b) = t.storage {
            storage_of[b.index()] = i as u32;
        }
    }
    let mut owner = vec![NONE; graph.csr.nodes()];
    for n in super::retained::top_down(&retained.idom) {
        let own = graph.node_block(n).map_or(NONE, |b| storage_of[b as usize]);
        owner[n as usize] = if own != NONE {
            own
        } else {
            owner[retained.idom[n as usize] as usize]
        };
    }
    (0..snap.blocks.len() as u32)
        .map(|b| owner[graph.block_node(b) as usize])
        .collect()
}

fn add_shared(snap: &Snapshot, graph: &HeapGraph, retained: &Retained, rows: &mut [TaskRow]) {
    let pairs = referrers(snap, &owners(snap, graph, retained));
    let size = |b: u32| snap.blocks[b as usize].size;
    for (row, s) in rows
        .iter_mut()
        .zip(sharing::shared(snap.tasks.len(), &pairs, size))
    {
        row.shared = s.bytes;
        row.shared_blocks = s.blocks;
        row.shared_with_tasks = s.tasks;
        row.shared_with_exact = s.exact;
        row.shared_with = s.first.into_iter().map(TaskIndex::new).collect();
    }
}

/// `(block, task)` for every edge from a block `task` owns to a block it
/// does not, other than a task's storage or a block of the runtime's
/// ([`runtime`]): sorted, each once.
fn referrers(snap: &Snapshot, owner: &[u32]) -> Vec<(u32, u32)> {
    let mut is_storage = vec![false; snap.blocks.len()];
    for b in snap.tasks.iter().filter_map(|t| t.storage) {
        is_storage[b.index()] = true;
    }
    let runtime = RuntimeStacks::new(snap);
    let mut pairs: Vec<(u32, u32)> = (snap.edges.iter())
        .filter(|e| owner[e.from.index()] != u32::MAX && !is_storage[e.to.index()])
        .filter(|e| !runtime.is_runtime(snap.block(e.to).stack))
        .map(|e| (e.to.get(), owner[e.from.index()], owner[e.to.index()]))
        .filter(|&(_, from, to)| from != u32::MAX && from != to)
        .map(|(block, from, _)| (block, from))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Block, BlockIndex, Edge, Root, RootKind, Task};

    fn b(i: u32) -> BlockIndex {
        BlockIndex::new(i)
    }

    /// Two tasks whose storages (blocks 0 and 1) each own a private block
    /// (2 and 3) and both point to block 4; block 0 also points to block 1
    /// (a runtime link between task cells, not sharing).
    #[test]
    fn shared_blocks_name_the_tasks_that_share_them() {
        let s = Snapshot {
            blocks: [100, 100, 10, 20, 1000]
                .iter()
                .enumerate()
                .map(|(i, &size)| Block {
                    addr: 0x1000 * (i as u64 + 1),
                    size,
                    task: [0, 0, 5, 6, 5][i],
                    ..Block::default()
                })
                .collect(),
            edges: [(0, 1), (0, 2), (0, 4), (1, 3), (1, 4)]
                .map(|(f, t)| Edge::new(b(f), b(t)))
                .to_vec(),
            tasks: (0..2)
                .map(|i| Task {
                    id: 5 + i as u64,
                    storage: Some(b(i)),
                    ..Task::default()
                })
                .collect(),
            roots: (0..2)
                .map(|i| Root {
                    kind: RootKind::Task,
                    targets: vec![b(i)],
                    task: Some(TaskIndex::new(i)),
                    ..Root::default()
                })
                .collect(),
            ..Snapshot::default()
        };
        let g = HeapGraph::new(&s);
        let r = Retained::new(&s, &g);
        let rows = task_rows(&s, &g, &r);
        assert_eq!((rows[0].retained, rows[1].retained), (110, 120));
        assert_eq!((rows[0].shared, rows[1].shared), (1000, 1000));
        assert_eq!(rows[0].shared_with, [TaskIndex::new(1)]);
        assert_eq!(rows[1].shared_with, [TaskIndex::new(0)]);
        assert_eq!((rows[0].shared_blocks, rows[0].shared_with_tasks), (1, 1));
        assert!(rows[1].shared_with_exact);
        assert_eq!((rows[0].allocated, rows[0].allocated_blocks), (1010, 2));
        assert_eq!((rows[1].allocated, rows[1].allocated_blocks), (20, 1));
    }

    /// Both tasks' storages point to block 2, which tokio's runtime
    /// allocated (its scheduler's handle), and to block 3, the program's.
    #[test]
    fn blocks_of_the_runtime_are_not_shared() {
        let mut s = Snapshot::default();
        let file = |s: &mut Snapshot, f: &str| {
            s.strings.push(f.to_owned());
            Some(crate::model::StringIndex::new(s.strings.len() as u32 - 1))
        };
        let reg = "/h/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f";
        let symbols = [
            (
                "alloc::sync::Arc<T>::new",
                "/rustc/0a1b/library/alloc/src/sync.rs",
            ),
            (
                "create",
                &*format!("{reg}/tokio-1.54.1/src/runtime/scheduler/multi_thread/worker.rs"),
            ),
            ("svc::main", "/h/svc/src/main.rs"),
        ];
        for (i, (function, path)) in symbols.into_iter().enumerate() {
            let function = file(&mut s, function).unwrap();
            let file = file(&mut s, path);
            s.frames.push(crate::model::Frame {
                addr: 0x10 * (i as u64 + 1),
                symbols: vec![crate::model::Symbol {
                    function,
                    file,
                    line: 1,
                }],
                ..Default::default()
            });
        }
        let f = crate::model::FrameIndex::new;
        s.stacks.push(vec![f(0), f(1), f(2)]); // the runtime's
        s.stacks.push(vec![f(0), f(2)]); // the program's
        s.blocks = [(100, 0), (100, 0), (1024, 1), (64, 2)]
            .iter()
            .zip(1u64..)
            .map(|(&(size, stack), i)| Block {
                addr: 0x1000 * i,
                size,
                stack: crate::model::StackIndex::new(stack),
                ..Block::default()
            })
            .collect();
        s.edges = [(0, 2), (0, 3), (1, 2), (1, 3)]
            .map(|(f, t)| Edge::new(b(f), b(t)))
            .to_vec();
        s.tasks = (0..2)
            .map(|i| Task {
                id: 5 + i as u64,
                storage: Some(b(i)),
                ..Task::default()
            })
            .collect();
        s.roots = (0..2)
            .map(|i| Root {
                kind: RootKind::Task,
                targets: vec![b(i)],
                task: Some(TaskIndex::new(i)),
                ..Root::default()
            })
            .collect();
        let g = HeapGraph::new(&s);
        let r = Retained::new(&s, &g);
        let rows = task_rows(&s, &g, &r);
        assert_eq!((rows[0].shared, rows[0].shared_blocks), (64, 1));
        assert_eq!(rows[1].shared_with, [TaskIndex::new(0)]);
    }
}
