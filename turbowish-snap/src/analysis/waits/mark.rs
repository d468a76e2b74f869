//! The mark (rules 1 to 4 of [`waits`](super)): what is live, which
//! pending tasks something live can wake, and who marked each block.

use super::wiring::{NONE, Standing, Wiring, standing, storage_blocks};
use crate::analysis::graph::is_c_runtime;
use crate::model::{EdgeKind, Root, RootKind, TaskIndex};
use std::collections::VecDeque;

/// What marked a block (rule 10): the step above it on its wake path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Up {
    /// A root (index into [`Snapshot::roots`](crate::Snapshot::roots)).
    Root(u32),
    /// A block (index into [`Snapshot::blocks`](crate::Snapshot::blocks)).
    Block(u32),
    /// Nothing: the block is the storage of a running or notified task.
    Start,
}

/// Per block, what marked it, packed: a root `r` as `r`, a block `b` as
/// `roots + b`; [`START`] for a live start's storage, [`UNMARKED`], or
/// [`GUARDED`] for a pending task's storage not yet live (so that a
/// pointer's target is looked up once, in one array).
const UNMARKED: u32 = NONE;
const START: u32 = NONE - 1;
const GUARDED: u32 = NONE - 2;

/// The result of the mark.
#[derive(Debug, Clone)]
pub struct Marking {
    /// Per block, what marked it (packed, see [`UNMARKED`]).
    up: Vec<u32>,
    roots: u32,
    /// Per task: live (a start, or made live by a wake pointer).
    live: Vec<bool>,
    /// Per task made live by a wake pointer: the storage block it points
    /// into, or [`NONE`].
    entered: Vec<u32>,
}

impl Marking {
    /// Marks from the live starts of `w`'s snapshot to the fixed point.
    pub(super) fn new(w: Wiring) -> Marking {
        let mut m = Marking::guarded(w);
        let mut queue = VecDeque::new();
        for (t, task) in w.snap.task_indices().zip(&w.snap.tasks) {
            if standing(task.state, task.kind) == Standing::Start {
                m.make_live(w, t, START, None, &mut queue);
            }
        }
        // Rule 2: every start but thread stacks first, so that a path
        // names a stack only when nothing else reaches the block.
        for stacks in [false, true] {
            m.enter_roots(w, stacks, &mut queue);
            m.drain(w, &mut queue);
        }
        m
    }

    /// Nothing marked; every pending task's storage guarded.
    fn guarded(w: Wiring) -> Marking {
        let snap = w.snap;
        let mut up = vec![UNMARKED; snap.blocks.len()];
        for (b, up) in up.iter_mut().enumerate() {
            if w.owner(b as u32).is_some() {
                *up = GUARDED;
            }
        }
        Marking {
            up,
            roots: snap.roots.len() as u32,
            live: vec![false; snap.tasks.len()],
            entered: vec![NONE; snap.tasks.len()],
        }
    }

    /// Visits the targets of the roots that are live starts: thread stacks
    /// or the others.
    fn enter_roots(&mut self, w: Wiring, stacks: bool, queue: &mut VecDeque<u32>) {
        let roots = (w.snap.roots.iter().zip(0u32..))
            .filter(|(r, _)| is_start(w.snap, r) && (r.kind == RootKind::ThreadStack) == stacks);
        for (root, r) in roots {
            let kinds =
                (root.kinds.iter().copied()).chain(std::iter::repeat(EdgeKind::Conservative));
            for (&b, kind) in root.targets.iter().zip(kinds) {
                self.visit(w, r, b.get(), wakes_from_root(root.kind, kind), queue);
            }
        }
    }

    /// Follows every pointer of every queued block (each block is queued
    /// once: when marked).
    fn drain(&mut self, w: Wiring, queue: &mut VecDeque<u32>) {
        while let Some(b) = queue.pop_front() {
            let from = self.roots + b;
            for (to, kind) in w.out(b) {
                self.visit(w, from, to, kind.is_wake(), queue);
            }
        }
    }

    /// A pointer from `from` (packed) to block `b`, `waking` its task if
    /// it points into a pending task's storage (rule 2).
    fn visit(&mut self, w: Wiring, from: u32, b: u32, waking: bool, queue: &mut VecDeque<u32>) {
        match self.up[b as usize] {
            UNMARKED => {
                self.up[b as usize] = from;
                queue.push_back(b);
            }
            GUARDED if waking => {
                if let Some(t) = w.owner(b) {
                    self.make_live(w, t, from, Some(b), queue);
                }
            }
            _ => {} // marked, or a pending task's storage: not entered
        }
    }

    /// Makes task `t` live, marking its storage blocks: `entry` (the one a
    /// wake pointer from `from` points into) first, the others below it.
    fn make_live(
        &mut self,
        w: Wiring,
        t: TaskIndex,
        from: u32,
        entry: Option<u32>,
        queue: &mut VecDeque<u32>,
    ) {
        self.live[t.index()] = true;
        let blocks = storage_blocks(w.snap.task(t)).map(|b| b.get());
        let blocks: Vec<u32> = entry
            .into_iter()
            .chain(blocks.filter(|&b| Some(b) != entry))
            .collect();
        self.entered[t.index()] = entry.unwrap_or(NONE);
        for &b in &blocks {
            if matches!(self.up[b as usize], UNMARKED | GUARDED) {
                self.up[b as usize] = match entry {
                    Some(e) if e != b => self.roots + e,
                    _ => from,
                };
                queue.push_back(b);
            }
        }
    }

    /// Whether block `b` is live.
    pub fn is_marked(&self, b: u32) -> bool {
        !matches!(self.up[b as usize], UNMARKED | GUARDED)
    }

    /// Whether task `t` is live: a start, or made live by a wake pointer.
    pub fn is_live(&self, t: TaskIndex) -> bool {
        self.live[t.index()]
    }

    /// The storage block a wake pointer made task `t` live through, if one
    /// did.
    pub fn entered(&self, t: TaskIndex) -> Option<u32> {
        Some(self.entered[t.index()]).filter(|&b| b != NONE)
    }

    /// What marked block `b`, or `None` if it is not live.
    pub fn up(&self, b: u32) -> Option<Up> {
        match self.up[b as usize] {
            UNMARKED | GUARDED => None,
            START => Some(Up::Start),
            r if r < self.roots => Some(Up::Root(r)),
            p => Some(Up::Block(p - self.roots)),
        }
    }
}

/// Whether root `r` of `snap` is a live start (rule 1): any but a task's
/// (its task starts on its own) and the C runtime's static data.
fn is_start(snap: &crate::model::Snapshot, r: &Root) -> bool {
    match r.kind {
        RootKind::Task => false,
        RootKind::Static => !is_c_runtime(snap.string(r.label)),
        RootKind::ThreadStack | RootKind::ThreadLocal | RootKind::Named => true,
    }
}

/// Whether a root of kind `root` pointing by `kind` into a pending task's
/// storage makes the task live (rule 3: from a stack, only a waker).
fn wakes_from_root(root: RootKind, kind: EdgeKind) -> bool {
    match root {
        RootKind::ThreadStack => kind == EdgeKind::Waker,
        _ => kind.is_wake(),
    }
}
