//! Which tasks nothing can ever wake, why, and how the others can be
//! woken: the wake analysis behind `turbowish waits`.
//!
//! A pending future waits for a `Waker` to be called. Whoever holds a
//! waker for a task (or a `JoinHandle`, or a link into the intrusive
//! waiter list inside its future) can wake it, but only if that holder can
//! itself still run. Go's `goroutineleak` profile answers this with a
//! garbage collector's mark: start from the roots and the runnable
//! goroutines only, and mark a blocked goroutine once its primitive is
//! marked. This module does the same over the heap graph, with the wake
//! pointers the capture classifies ([`EdgeKind::Waker`],
//! [`EdgeKind::JoinHandle`], [`EdgeKind::Waiter`]).
//!
//! [`EdgeKind::Waker`]: crate::EdgeKind::Waker
//! [`EdgeKind::JoinHandle`]: crate::EdgeKind::JoinHandle
//! [`EdgeKind::Waiter`]: crate::EdgeKind::Waiter
//!
//! # Rules
//!
//! 1. **Live starts.** Static data (except the C runtime's,
//!    [`is_c_runtime`]: glibc's arena words are stale pointers into free
//!    chunks), thread-locals, thread stacks, named roots, and the storage
//!    of every task that is running or notified. A blocking task that has
//!    not finished counts as running: blocking tasks are never pending,
//!    they run on a thread of their own. Finished tasks (completed or
//!    cancelled: zombies) are not starts, since a finished future wakes no
//!    one; their storage is a plain block.
//! 2. **Follow.** Every pointer from a live block or start is followed,
//!    whatever its kind, except into the storage (storage, cell or boxed
//!    future) of a pending task not yet live: that is entered only by a
//!    wake pointer, which makes the task live. A pending task becomes live
//!    when a marked block or root holds a waker or join handle for it, or
//!    points into its future; its storage blocks are then marked and
//!    followed too, with the typed value it shares. One worklist reaches
//!    the fixed point: each block is marked once and its pointers read
//!    once, one pass over the graph in total. Roots other than thread
//!    stacks are entered first, stacks last, so that a wake path (rule 10)
//!    names a stack only when nothing else reaches the holder.
//! 3. **Stale stack words.** From a thread stack, only a whole `Waker`
//!    (its two words) makes a task live. A bare pointer at a task cell's
//!    first byte on a stack (a `JoinHandle` word, or a conservative one)
//!    does not: that is what a worker's run loop leaves in its live
//!    frames' unused slots after polling a task (see the README's Limits),
//!    and a `JoinHandle` held by a `block_on` future cannot make the task
//!    progress anyway. Nor does a pointer into a task's future (a waiter
//!    link): a primitive that spawned tasks wait on is `'static`, so it
//!    lives on the heap or in a static, never on a stack, and such a word
//!    on a stack is a copy left by an earlier poll of that task (seen
//!    making one of a deadlocked pair look wakeable in 4 of 10 runs).
//!    Every other stack word is followed as usual, so a stale word on a
//!    stack can still make a stuck task look wakeable (through a block
//!    that holds its waker): a false "wakeable" is preferred to a false
//!    "stuck", since a user acts on stuck reports.
//! 4. **Runtime bookkeeping is never a wake path.** The owned-task list,
//!    the run queues and the scheduler's other lists point at every cell;
//!    the capture leaves those words out (cell rule 5 in
//!    `turbowish-alloc/src/snapshot/cells/mod.rs`), so a task is not live
//!    because the runtime keeps track of it.
//! 5. **Stuck** tasks are the pending tasks rule 2 leaves unmarked. A
//!    pending task with no known storage (never polled) is not judged.
//! 6. **Holders.** For a stuck task S, each wake pointer into S's storage
//!    from a block that is not live is held by the stuck task whose
//!    storage reaches that block without passing through another task's
//!    storage (or whose own storage that block is). Pointers from S's own
//!    storage, and from blocks only S's storage reaches, are its own
//!    waiter nodes and do not count. Found in linear time: every non-live
//!    block is labelled with the one stuck task that reaches it, or
//!    "several" (a label changes at most twice); for a block several
//!    reach, a search backwards over the non-live blocks finds the
//!    holders, stopping at tasks' storage, `SEARCH_LIMIT` (65,536) blocks after
//!    it found the first (then [`Stuck::holders_exact`] is false). Wakers
//!    and waiter links make holders; `JoinHandle`s are listed apart
//!    ([`Stuck::join_handle_holders`]) and count for nothing else.
//! 7. **Cycles.** The strongly connected components of two or more stuck
//!    tasks in the graph "H holds a waker or waiter link for S" are
//!    deadlocks. `JoinHandle`s do not count: a task awaiting a stuck
//!    task's `JoinHandle` is *behind* it (its waker is in the awaited
//!    task's cell).
//! 8. **Behind.** A stuck task in no cycle for which some stuck task holds
//!    a waker is behind that holder. The one named: a holder in a cycle,
//!    else the holder of the most stuck tasks' wakers, else the lowest id.
//! 9. **No waker.** A stuck task for which no stuck task holds a waker:
//!    nothing can wake it, as with `pending()` or a waker that was
//!    dropped. [`Stuck::held_by_unreachable`] says when one sits in a block
//!    nothing reaches (neither live nor reached from a stuck task's
//!    storage: a plain leak). A task whose only waker its own storage
//!    reaches (it owns the `Notify` it waits on) is here too: nothing else
//!    can wake it.
//! 10. **Wake paths.** The mark records, for each block, what marked it;
//!     a wakeable pending task's path is read back from the holder of the
//!     wake pointer that made it live up to a start, in time linear in its
//!     length. A step through another task's storage is that task, itself
//!     made live by the step before it ([`path`]).
//! 11. **Drivers.** Blocks tokio's drivers allocated are named by the
//!     driver: the I/O driver, the timer, the signal driver
//!     ([`drivers`]).

pub mod drivers;
mod explain;
mod mark;
pub mod path;
mod wiring;

#[cfg(test)]
mod tests;

#[cfg(doc)]
use crate::analysis::graph::is_c_runtime;
use crate::model::{Snapshot, TaskIndex};
use explain::explain;
use mark::Marking;
use path::Step;
use wiring::{Standing, Tables, Wiring, standing};

/// Why a stuck task is stuck (rules 7 to 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// In a deadlock cycle: index into [`Waits::cycles`].
    Cycle(usize),
    /// Behind this stuck task, which holds a waker for it.
    Behind(TaskIndex),
    /// Nothing that can run holds a way to wake it.
    NoWaker,
}

/// A stuck task, explained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stuck {
    /// The task (index into [`Snapshot::tasks`]).
    pub task: TaskIndex,
    /// Why.
    pub reason: Reason,
    /// Every stuck task holding a waker or waiter link for it, by id.
    pub holders: Vec<TaskIndex>,
    /// Whether `holders` is all of them (rule 6's search may stop early).
    pub holders_exact: bool,
    /// Every stuck task holding its `JoinHandle`, by id.
    pub join_handle_holders: Vec<TaskIndex>,
    /// Whether a waker for it sits only in blocks nothing reaches.
    pub held_by_unreachable: bool,
}

/// The wake analysis of one snapshot.
#[derive(Debug)]
pub struct Waits {
    tables: Tables,
    marking: Marking,
    stuck: Vec<Stuck>,
    cycles: Vec<Vec<TaskIndex>>,
    pending: Vec<TaskIndex>,
    wake_pointers: u64,
}

impl Waits {
    /// Marks `snap` and explains its stuck tasks.
    pub fn new(snap: &Snapshot) -> Waits {
        let tables = Tables::new(snap);
        let w = Wiring::new(snap, &tables);
        let marking = Marking::new(w);
        let (stuck, cycles) = explain(w, &marking);
        let pending = (snap.task_indices().zip(&snap.tasks))
            .filter(|(_, t)| standing(t.state, t.kind) == Standing::Pending)
            .map(|(i, _)| i)
            .collect();
        let edges = snap.edges.iter().map(|e| e.kind);
        let wake_pointers = (edges.chain(snap.roots.iter().flat_map(|r| r.kinds.iter().copied())))
            .filter(|k| k.is_wake())
            .count() as u64;
        Waits {
            tables,
            marking,
            stuck,
            cycles,
            pending,
            wake_pointers,
        }
    }

    /// The stuck tasks, in task order.
    pub fn stuck(&self) -> &[Stuck] {
        &self.stuck
    }

    /// The deadlock cycles, each its tasks by id, in the order of their
    /// first task's id.
    pub fn cycles(&self) -> &[Vec<TaskIndex>] {
        &self.cycles
    }

    /// The pending tasks, stuck or not, in task order.
    pub fn pending(&self) -> &[TaskIndex] {
        &self.pending
    }

    /// The pending tasks something can wake (a wake pointer made them
    /// live), in task order.
    pub fn wakeable(&self) -> impl Iterator<Item = TaskIndex> + '_ {
        (self.pending.iter().copied()).filter(|&t| self.marking.entered(t).is_some())
    }

    /// Whether task `t` is live (rules 1 and 2).
    pub fn is_live(&self, t: TaskIndex) -> bool {
        self.marking.is_live(t)
    }

    /// How many pointers in the snapshot are wake pointers (wakers, join
    /// handles, waiter links): none in a snapshot taken before they were
    /// recorded (format version 5), where every pending task looks stuck.
    pub fn wake_pointers(&self) -> u64 {
        self.wake_pointers
    }

    /// The wake path of pending task `t` of `snap` (the snapshot analysed),
    /// the live start first (rule 10); `None` if nothing can wake it or it
    /// is not pending.
    pub fn wake_path(&self, snap: &Snapshot, t: TaskIndex) -> Option<Vec<Step>> {
        path::wake_path(Wiring::new(snap, &self.tables), &self.marking, t)
    }
}
