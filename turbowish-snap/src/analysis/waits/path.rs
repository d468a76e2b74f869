//! Wake paths (rule 10 of [`waits`](super)): read back from the marks,
//! from the block holding a task's wake pointer up to a live start.

use super::mark::{Marking, Up};
use super::wiring::Wiring;
use crate::model::{BlockIndex, EdgeKind, RootKind, StringIndex, TaskIndex};

/// What holds the next step of a wake path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// A root (index into [`Snapshot::roots`](crate::Snapshot::roots)),
    /// with its label for the block it points at (for static data, the
    /// symbol of the static).
    Root(u32, StringIndex),
    /// A task's storage (its future), at this block: a running or
    /// notified task, or one made live by the step before it.
    Task(TaskIndex, BlockIndex),
    /// Any other block.
    Block(BlockIndex),
}

/// How a step points at the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A stored `Waker`.
    Waker,
    /// An intrusive waiter list's link into the future.
    Waiter,
    /// A bare pointer at a task cell: a `JoinHandle` or `AbortHandle`.
    JoinHandle,
    /// A field reported by a `Trace` impl (its label; empty for none), or
    /// the typed value a task shares, at that field path.
    Field(StringIndex),
    /// A word that looks like a pointer.
    Pointer,
}

/// One step of a wake path: a holder, and how it points at the next step
/// (the last: at the task).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// What holds the next step.
    pub holder: Holder,
    /// How.
    pub via: Via,
}

/// The steps of pending task `t`'s wake path, the live start first, or
/// `None` if no wake pointer made it live (it is stuck, or not pending).
pub(super) fn wake_path(w: Wiring, m: &Marking, t: TaskIndex) -> Option<Vec<Step>> {
    let mut target = m.entered(t)?;
    let mut steps: Vec<Step> = Vec::new();
    while let Some(Up::Block(p)) = m.up(target) {
        let via = via(w, p, target);
        target = p;
        let holder = match w.owner(p) {
            // A hop inside one task's storage is no step of its own.
            Some(o) if steps.last().is_some_and(|s| same_task(s.holder, o)) => continue,
            Some(o) => Holder::Task(o, BlockIndex::new(p)),
            None => Holder::Block(BlockIndex::new(p)),
        };
        steps.push(Step { holder, via });
    }
    if let Some(Up::Root(r)) = m.up(target) {
        steps.push(root_step(w, r, target));
    }
    steps.reverse();
    Some(steps)
}

fn same_task(h: Holder, t: TaskIndex) -> bool {
    matches!(h, Holder::Task(o, _) if o == t)
}

/// The step of root `r` pointing at block `b`.
fn root_step(w: Wiring, r: u32, b: u32) -> Step {
    let root = &w.snap.roots[r as usize];
    let b = BlockIndex::new(b);
    let via = match (root.kind, root.kind_of(b)) {
        (RootKind::Named, _) => Via::Field(root.label_of(b)),
        (_, kind) => via_of(kind, StringIndex::EMPTY),
    };
    Step {
        holder: Holder::Root(r, root.label_of(b)),
        via,
    }
}

/// How block `p` points at block `b`: its edge, else (`p` being a task's
/// storage) the typed value its task shares.
fn via(w: Wiring, p: u32, b: u32) -> Via {
    match w.edge(p, b) {
        Some(e) => via_of(e.kind, e.label),
        None => {
            let root = (w.owner(p)).and_then(|t| w.root_of(t));
            let label = root.map_or(StringIndex::EMPTY, |r| {
                w.snap.roots[r as usize].label_of(BlockIndex::new(b))
            });
            Via::Field(label)
        }
    }
}

fn via_of(kind: EdgeKind, label: StringIndex) -> Via {
    match kind {
        EdgeKind::Waker => Via::Waker,
        EdgeKind::Waiter => Via::Waiter,
        EdgeKind::JoinHandle => Via::JoinHandle,
        EdgeKind::Typed | EdgeKind::Shared => Via::Field(label),
        EdgeKind::Conservative => Via::Pointer,
    }
}
