//! The in-process view of the task registry: [`tasks`]. A row reads as the
//! snapshot's task table reads it (registry rule 3).

use crate::tasks::registry::{self, Slot};
use core::panic::Location;
use core::sync::atomic::Ordering;
use core::time::Duration;
use turbowish_format::TaskState;

/// A traced task, from [`tasks`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskInfo {
    /// Unique among the process's traced tasks and roots, from 1.
    pub serial: u64,
    /// The task's id (the tokio task id under tokio); 0 before the first
    /// poll. Its blocks carry it cut to 32 bits (see
    /// [`Block::task`](crate::Block::task)).
    pub id: u64,
    /// The name given with `named`, or empty.
    pub name: String,
    /// Where the task was made.
    pub location: &'static Location<'static>,
    /// Type of the future.
    pub future_type: &'static str,
    /// `size_of` the future.
    pub future_size: usize,
    /// Where it stands, read as snapshots read it
    /// (`turbowish_format::rules::tasks`): a future that returned `Ready`
    /// is completed even before it is dropped.
    pub state: TaskState,
    /// Times polled.
    pub polls: u64,
    /// Time since the last poll (coarse, about 4 ms), if ever polled.
    pub idle: Option<Duration>,
    /// Start of the live block that holds the future, if found.
    pub storage: Option<usize>,
}

/// Every traced task TurboWish knows of: live ones, and finished ones whose
/// storage is still alive (zombie futures), in no particular order.
pub fn tasks() -> Vec<TaskInfo> {
    let now = crate::clock::now_ns();
    let mut all: Vec<TaskInfo> = registry::all()
        .filter_map(|(_, s)| read_consistent(s, now))
        .collect();
    all.sort_by_key(|t| t.serial);
    all
}

/// Registry rule 6: retries while the row changes under the read.
fn read_consistent(s: &'static Slot, now: u64) -> Option<TaskInfo> {
    for _ in 0..8 {
        let generation = s.generation.load(Ordering::Acquire);
        let info = read(s, now);
        // Pairs with the writer's fence after its generation bump.
        core::sync::atomic::fence(Ordering::Acquire);
        if s.generation.load(Ordering::Relaxed) == generation {
            return info;
        }
    }
    None // reused eight times during the read: gone by now anyway
}

fn read(s: &'static Slot, now: u64) -> Option<TaskInfo> {
    let state = s.state.load(Ordering::Acquire);
    if s.kind.load(Ordering::Relaxed) != registry::KIND_TASK {
        return None;
    }
    let storage = s.storage();
    match state {
        registry::LIVE => {}
        // Registry rule 4: a finished task only while its storage lives.
        registry::FINISHED if storage.is_some() => {}
        _ => return None,
    }
    let (task_state, polls) = s.task_progress(state);
    let last = s.last_poll_ns.load(Ordering::Relaxed);
    Some(TaskInfo {
        serial: s.serial.load(Ordering::Relaxed),
        id: s.tag.load(Ordering::Relaxed),
        name: s.name(),
        location: s.location()?,
        future_type: s.type_name(),
        future_size: s.future_size.load(Ordering::Relaxed) as usize,
        state: task_state,
        polls,
        idle: (last != 0).then(|| Duration::from_nanos(now.saturating_sub(last))),
        storage,
    })
}
