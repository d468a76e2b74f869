//! Counts over a snapshot's tables: live totals, roots by kind, tasks by
//! state and kind, blocks by type. Sizes come from the file and may be anything up to
//! `u64::MAX`: every sum saturates.

use super::tasks::kind::{ShownKind, shown_kind};
use crate::model::{RootKind, Snapshot, StringIndex, TaskState};
use std::collections::HashMap;

/// The sum of `sizes`, saturating.
pub fn total(sizes: impl IntoIterator<Item = u64>) -> u64 {
    sizes.into_iter().fold(0, u64::saturating_add)
}

/// Bytes of every live block of `snap`, saturating.
pub fn live_bytes(snap: &Snapshot) -> u64 {
    total(snap.blocks.iter().map(|b| b.size))
}

/// Roots by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RootCounts {
    /// Every root.
    pub total: u64,
    /// [`RootKind::Static`].
    pub statics: u64,
    /// [`RootKind::ThreadStack`].
    pub thread_stack: u64,
    /// [`RootKind::ThreadLocal`].
    pub thread_local: u64,
    /// [`RootKind::Task`].
    pub task: u64,
    /// [`RootKind::Named`].
    pub named: u64,
}

/// The roots of `snap` by kind.
pub fn roots(snap: &Snapshot) -> RootCounts {
    let mut c = RootCounts::default();
    for r in &snap.roots {
        c.total += 1;
        match r.kind {
            RootKind::Static => c.statics += 1,
            RootKind::ThreadStack => c.thread_stack += 1,
            RootKind::ThreadLocal => c.thread_local += 1,
            RootKind::Task => c.task += 1,
            RootKind::Named => c.named += 1,
        }
    }
    c
}

/// Tasks (traced, and found from tokio's cells) by state and kind. Runtime
/// workers are counted apart, in no other count
/// ([`kind`](super::tasks::kind) rule 1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskCounts {
    /// Every task but the runtime's workers.
    pub total: u64,
    /// [`TaskState::Pending`].
    pub pending: u64,
    /// [`TaskState::Running`].
    pub running: u64,
    /// [`TaskState::Completed`]: finished, storage still alive.
    pub completed: u64,
    /// [`TaskState::Cancelled`]: dropped, storage still alive.
    pub cancelled: u64,
    /// [`TaskState::Notified`]: woken, waiting in a run queue.
    pub notified: u64,
    /// Finished tasks whose storage block is known: zombie futures.
    pub zombies: u64,
    /// Spawned through TurboWish ([`ShownKind::Traced`]).
    pub traced: u64,
    /// Plain tokio tasks found from their cells ([`ShownKind::Tokio`]).
    pub tokio: u64,
    /// `spawn_blocking` tasks, not workers ([`ShownKind::Blocking`]).
    pub blocking: u64,
    /// The runtime's worker threads ([`ShownKind::Worker`]).
    pub workers: u64,
}

/// The tasks of `snap` by state and kind.
pub fn tasks(snap: &Snapshot) -> TaskCounts {
    let mut c = TaskCounts::default();
    for t in &snap.tasks {
        match shown_kind(snap, t) {
            ShownKind::Worker => {
                c.workers += 1;
                continue;
            }
            ShownKind::Traced => c.traced += 1,
            ShownKind::Tokio => c.tokio += 1,
            ShownKind::Blocking => c.blocking += 1,
        }
        c.total += 1;
        match t.state {
            TaskState::Pending => c.pending += 1,
            TaskState::Running => c.running += 1,
            TaskState::Completed => c.completed += 1,
            TaskState::Cancelled => c.cancelled += 1,
            TaskState::Notified => c.notified += 1,
        }
        c.zombies += u64::from(t.state.is_finished() && t.storage.is_some());
    }
    c
}

/// The live blocks of one type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeTotal {
    /// The type (index into [`Snapshot::strings`]).
    pub type_name: StringIndex,
    /// Live blocks of the type, and their bytes (saturating).
    pub blocks: u64,
    /// See `blocks`.
    pub bytes: u64,
}

/// The live blocks of every type a typed walk named, most bytes first
/// (ties: more blocks, then by type name).
pub fn types(snap: &Snapshot) -> Vec<TypeTotal> {
    let mut per_type: HashMap<StringIndex, (u64, u64)> = HashMap::new();
    for b in snap.blocks.iter().filter(|b| !b.type_name.is_empty()) {
        let t = per_type.entry(b.type_name).or_default();
        t.0 += 1;
        t.1 = t.1.saturating_add(b.size);
    }
    let mut types: Vec<TypeTotal> = (per_type.into_iter())
        .map(|(type_name, (blocks, bytes))| TypeTotal {
            type_name,
            blocks,
            bytes,
        })
        .collect();
    types.sort_by(|x, y| {
        (y.bytes, y.blocks)
            .cmp(&(x.bytes, x.blocks))
            .then_with(|| snap.string(x.type_name).cmp(snap.string(y.type_name)))
    });
    types
}
