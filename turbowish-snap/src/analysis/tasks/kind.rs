//! What kind of task a row is, as reports show it: traced, tokio,
//! blocking, or one of the runtime's worker threads.
//!
//! # Rules
//!
//! 1. **A runtime worker is not the program's task.** tokio's
//!    multi-threaded runtime starts each worker thread as a
//!    `spawn_blocking` task whose closure is tokio's own
//!    (`runtime::scheduler::multi_thread::worker::Launch::launch`), so its
//!    cell is a [`TaskKind::Blocking`] row, running for the runtime's whole
//!    life, spawned where the program built the runtime (its
//!    `#[tokio::main]` line). Such a row is shown as kind `worker` and left
//!    out of the counts of tasks by state and kind (`summary` counts it on
//!    its own), so "running" means the program's own work.
//! 2. **It is recognised by its closure's type**, never by its spawn site
//!    or state: a blocking task whose future type is a closure defined in
//!    tokio's `runtime::scheduler` module. Blocking tasks tokio spawns for
//!    the program (`tokio::fs`, `spawn_blocking` itself) have closures of
//!    other modules and stay `blocking`.

use crate::model::{Snapshot, Task, TaskKind};

/// A task's kind as shown: [`TaskKind`], with runtime workers apart
/// (rule 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ShownKind {
    /// [`TaskKind::Traced`].
    Traced,
    /// [`TaskKind::Tokio`].
    Tokio,
    /// [`TaskKind::Blocking`], not a worker.
    Blocking,
    /// A runtime worker thread (rule 1).
    Worker,
}

impl ShownKind {
    /// `traced`, `tokio`, `blocking` or `worker`.
    pub fn name(self) -> &'static str {
        match self {
            ShownKind::Traced => "traced",
            ShownKind::Tokio => "tokio",
            ShownKind::Blocking => "blocking",
            ShownKind::Worker => "worker",
        }
    }
}

/// The shown kind of task `t` of `snap` (rule 2).
pub fn shown_kind(snap: &Snapshot, t: &Task) -> ShownKind {
    match t.kind {
        TaskKind::Traced => ShownKind::Traced,
        TaskKind::Tokio => ShownKind::Tokio,
        TaskKind::Blocking if is_worker_closure(snap.string(t.future_type)) => ShownKind::Worker,
        TaskKind::Blocking => ShownKind::Blocking,
    }
}

/// Whether `future_type` names a closure of tokio's scheduler.
fn is_worker_closure(future_type: &str) -> bool {
    future_type.contains("tokio::runtime::scheduler::")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::StringIndex;

    #[test]
    fn blocking_tasks_of_the_scheduler_are_workers() {
        let mut s = Snapshot::default();
        s.strings.extend(
            [
                "tokio::runtime::blocking::task::BlockingTask<tokio::runtime::scheduler::multi_thread::worker::{impl#0}::launch::{closure_env#0}>",
                "tokio::runtime::blocking::task::BlockingTask<svc::load::{closure_env#0}>",
            ]
            .map(String::from),
        );
        let task = |kind, ty| Task {
            kind,
            future_type: StringIndex::new(ty),
            ..Task::default()
        };
        let kind = |kind, ty| shown_kind(&s, &task(kind, ty));
        assert_eq!(kind(TaskKind::Blocking, 1), ShownKind::Worker);
        assert_eq!(kind(TaskKind::Blocking, 2), ShownKind::Blocking);
        assert_eq!(kind(TaskKind::Tokio, 1), ShownKind::Tokio);
        assert_eq!(kind(TaskKind::Traced, 0), ShownKind::Traced);
    }
}
