//! The heap as the wake analysis reads it: each block's pointers with
//! their kinds (the heap graph keeps no kinds), and which blocks are a
//! task's storage.

use crate::model::{
    BlockIndex, Edge, EdgeKind, RootKind, Snapshot, TaskIndex, TaskKind, TaskState,
};

/// No task, no root.
pub(super) const NONE: u32 = u32::MAX;

/// What a task is to the mark (rule 1 of [`waits`](super)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Standing {
    /// Running or notified (or a blocking task not finished): a live start.
    Start,
    /// Pending: live only once something live holds a way to wake it.
    Pending,
    /// Completed or cancelled: its storage is a plain block.
    Finished,
}

/// A snapshot with its [`Tables`]: each block's pointers with their kinds,
/// and the tasks' storage.
#[derive(Debug, Clone, Copy)]
pub(super) struct Wiring<'s> {
    /// The snapshot.
    pub snap: &'s Snapshot,
    t: &'s Tables,
}

/// What [`Wiring`] looks blocks and tasks up in, built once per snapshot.
#[derive(Debug, Clone)]
pub(super) struct Tables {
    /// Block `b`'s edges are `snap.edges[first[b]..first[b + 1]]`.
    first: Vec<usize>,
    /// The task (not finished) whose storage, cell or boxed future each
    /// block is, or [`NONE`].
    owner: Vec<u32>,
    /// Each task's root (index into [`Snapshot::roots`]), or [`NONE`].
    root: Vec<u32>,
}

impl Tables {
    /// The tables of `snap`, whose edges are sorted by their holder (as
    /// every snapshot read from a file is).
    pub fn new(snap: &Snapshot) -> Tables {
        let blocks = snap.blocks.len();
        let mut first = vec![0; blocks + 1];
        for e in &snap.edges {
            first[e.from.index() + 1] += 1;
        }
        for b in 0..blocks {
            first[b + 1] += first[b];
        }
        let mut owner = vec![NONE; blocks];
        for (t, task) in snap.task_indices().zip(&snap.tasks) {
            if standing(task.state, task.kind) == Standing::Finished {
                continue;
            }
            for b in storage_blocks(task) {
                if owner[b.index()] == NONE {
                    owner[b.index()] = t.get();
                }
            }
        }
        let mut root = vec![NONE; snap.tasks.len()];
        for (r, t) in (snap.roots.iter().zip(0u32..))
            .filter(|(r, _)| r.kind == RootKind::Task)
            .filter_map(|(r, i)| Some((i, r.task?)))
        {
            if let Some(slot) = root.get_mut(t.index()) {
                *slot = r;
            }
        }
        Tables { first, owner, root }
    }
}

impl<'s> Wiring<'s> {
    /// `snap` with `tables`, which must be its own.
    pub fn new(snap: &'s Snapshot, tables: &'s Tables) -> Wiring<'s> {
        Wiring { snap, t: tables }
    }

    /// The task, not finished, whose storage block `b` is.
    pub fn owner(self, b: u32) -> Option<TaskIndex> {
        Some(self.t.owner[b as usize])
            .filter(|&t| t != NONE)
            .map(TaskIndex::new)
    }

    /// Task `t`'s root (index into [`Snapshot::roots`]), if it has one.
    pub fn root_of(self, t: TaskIndex) -> Option<u32> {
        Some(self.t.root[t.index()]).filter(|&r| r != NONE)
    }

    /// Block `b`'s pointers, as (target, kind): its edges, and when it is a
    /// task's `storage`, the other targets of the task's root (the typed
    /// value it shares hangs from its storage, as in the heap graph).
    pub fn out(self, b: u32) -> impl Iterator<Item = (u32, EdgeKind)> + 's {
        let edges = &self.snap.edges[self.t.first[b as usize]..self.t.first[b as usize + 1]];
        let edges = edges.iter().map(|e| (e.to.get(), e.kind));
        edges.chain(self.task_value(b))
    }

    /// The other targets of the root of the task whose `storage` is `b`.
    fn task_value(self, b: u32) -> impl Iterator<Item = (u32, EdgeKind)> + 's {
        let snap = self.snap;
        let root = (self.owner(b))
            .filter(|&t| snap.task(t).storage == Some(BlockIndex::new(b)))
            .and_then(|t| self.root_of(t))
            .map(|r| &snap.roots[r as usize]);
        let targets = root.map_or(&[][..], |r| &r.targets[..]);
        let kinds = root.map_or(&[][..], |r| &r.kinds[..]);
        (targets.iter().enumerate())
            .filter(move |&(_, &t)| t.get() != b)
            .map(move |(i, t)| (t.get(), kinds.get(i).copied().unwrap_or_default()))
    }

    /// Block `b`'s edge to block `to`, if it has one (the heap's edges,
    /// not the task values).
    pub fn edge(self, b: u32, to: u32) -> Option<&'s Edge> {
        let edges = &self.snap.edges[self.t.first[b as usize]..self.t.first[b as usize + 1]];
        let i = edges.binary_search_by_key(&to, |e| e.to.get()).ok()?;
        Some(&edges[i])
    }
}

/// What task state and kind make of a task (rule 1 of [`waits`](super)).
pub(super) fn standing(state: TaskState, kind: TaskKind) -> Standing {
    match state {
        TaskState::Completed | TaskState::Cancelled => Standing::Finished,
        TaskState::Running | TaskState::Notified => Standing::Start,
        TaskState::Pending if kind == TaskKind::Blocking => Standing::Start,
        TaskState::Pending => Standing::Pending,
    }
}

/// Task `t`'s storage blocks: its storage, cell and boxed future, each
/// once.
pub(super) fn storage_blocks(t: &crate::model::Task) -> impl Iterator<Item = BlockIndex> {
    let [s, c, f] = [t.storage, t.cell, t.future_block];
    let c = c.filter(|&c| Some(c) != s);
    let f = f.filter(|&f| Some(f) != s && Some(f) != c);
    [s, c, f].into_iter().flatten()
}
