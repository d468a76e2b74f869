//! The rows of older format versions whose encoding has changed since, as
//! they were written, and how each reads into today's model. The reader
//! decodes a file's rows with the types of the file's version.
//!
//! Version 4 added to [`Capture`] the task cell figures and to [`Task`] its
//! kind, cell, boxed future and reference count. Version 2 and 3 files hold
//! traced tasks only, read as [`TaskKind::Traced`] with no cell. Version 5
//! added to [`Task`] whether a `JoinHandle` exists; version 4 files read
//! as if none did (they hold no join handle pointers either). Version 6
//! added to [`Capture`] the stack sampling mean; older files read as 0
//! (every block with stacks on has its stack: they had no sampling).
//! Version 8 added to [`Capture`] where the resident memory goes (RSS,
//! the allocator's figures, TurboWish's own); older files read with those
//! unknown (0 and `None`).

use crate::index::{BlockIndex, StringIndex};
use crate::model::{Capture, Task, TaskKind, TaskState};
use serde::{Deserialize, Serialize};

/// [`Capture`] as versions 2 and 3 encode it.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct CaptureV3 {
    pause_ns: u64,
    scan_ns: u64,
    symbolize_ns: u64,
    scanned_bytes: u64,
    live_bytes: u64,
    live_blocks: u64,
    untracked_blocks: u64,
    unknown_frees: u64,
    typed_ns: u64,
    typed_rejected: u64,
    typed_locked: u64,
    typed_truncated: u64,
    typed_panics: Vec<String>,
    tasks_dropped: u64,
}

impl From<CaptureV3> for Capture {
    fn from(c: CaptureV3) -> Capture {
        Capture {
            pause_ns: c.pause_ns,
            scan_ns: c.scan_ns,
            symbolize_ns: c.symbolize_ns,
            scanned_bytes: c.scanned_bytes,
            live_bytes: c.live_bytes,
            live_blocks: c.live_blocks,
            untracked_blocks: c.untracked_blocks,
            unknown_frees: c.unknown_frees,
            typed_ns: c.typed_ns,
            typed_rejected: c.typed_rejected,
            typed_locked: c.typed_locked,
            typed_truncated: c.typed_truncated,
            typed_panics: c.typed_panics,
            tasks_dropped: c.tasks_dropped,
            cells_found: 0,
            cells_not_understood: 0,
            cells_ns: 0,
            stack_sample_bytes: 0,
            resident_bytes: 0,
            resident_anon_bytes: 0,
            allocator: None,
            own_table_bytes: 0,
            own_header_bytes: 0,
        }
    }
}

/// [`Capture`] as versions 4 and 5 encode it: version 3's figures, then
/// the cells'. Postcard writes a struct as its fields one after another,
/// so the nested struct reads as the flat one was written.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct CaptureV5 {
    v3: CaptureV3,
    cells_found: u64,
    cells_not_understood: u64,
    cells_ns: u64,
}

impl From<CaptureV5> for Capture {
    fn from(c: CaptureV5) -> Capture {
        Capture {
            cells_found: c.cells_found,
            cells_not_understood: c.cells_not_understood,
            cells_ns: c.cells_ns,
            ..Capture::from(c.v3)
        }
    }
}

/// [`Capture`] as versions 6 and 7 encode it: version 5's figures, then
/// the stack sampling mean.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct CaptureV7 {
    v5: CaptureV5,
    stack_sample_bytes: u64,
}

impl From<CaptureV7> for Capture {
    fn from(c: CaptureV7) -> Capture {
        Capture {
            stack_sample_bytes: c.stack_sample_bytes,
            ..Capture::from(c.v5)
        }
    }
}

/// [`Task`] as versions 2 and 3 encode it.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct TaskV3 {
    serial: u64,
    id: u64,
    name: StringIndex,
    file: StringIndex,
    line: u32,
    column: u32,
    future_type: StringIndex,
    future_size: u64,
    state: TaskState,
    polls: u64,
    spawned_ns: u64,
    last_poll_ns: u64,
    finished_ns: u64,
    storage: Option<BlockIndex>,
    value_type: StringIndex,
}

/// [`Task`] as version 4 encodes it.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct TaskV4 {
    serial: u64,
    id: u64,
    name: StringIndex,
    file: StringIndex,
    line: u32,
    column: u32,
    future_type: StringIndex,
    future_size: u64,
    state: TaskState,
    polls: u64,
    spawned_ns: u64,
    last_poll_ns: u64,
    finished_ns: u64,
    storage: Option<BlockIndex>,
    value_type: StringIndex,
    kind: TaskKind,
    cell: Option<BlockIndex>,
    future_block: Option<BlockIndex>,
    refs: u64,
}

impl From<TaskV4> for Task {
    fn from(t: TaskV4) -> Task {
        Task {
            serial: t.serial,
            id: t.id,
            name: t.name,
            file: t.file,
            line: t.line,
            column: t.column,
            future_type: t.future_type,
            future_size: t.future_size,
            state: t.state,
            polls: t.polls,
            spawned_ns: t.spawned_ns,
            last_poll_ns: t.last_poll_ns,
            finished_ns: t.finished_ns,
            storage: t.storage,
            value_type: t.value_type,
            kind: t.kind,
            cell: t.cell,
            future_block: t.future_block,
            refs: t.refs,
            join_handle: false,
        }
    }
}

impl From<TaskV3> for Task {
    fn from(t: TaskV3) -> Task {
        Task {
            serial: t.serial,
            id: t.id,
            name: t.name,
            file: t.file,
            line: t.line,
            column: t.column,
            future_type: t.future_type,
            future_size: t.future_size,
            state: t.state,
            polls: t.polls,
            spawned_ns: t.spawned_ns,
            last_poll_ns: t.last_poll_ns,
            finished_ns: t.finished_ns,
            storage: t.storage,
            value_type: t.value_type,
            kind: TaskKind::Traced,
            cell: None,
            future_block: None,
            refs: 0,
            join_handle: false,
        }
    }
}
