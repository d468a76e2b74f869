//! The TurboWish snapshot format.
//!
//! A snapshot (`.twsnap`) is the live heap of one process at one instant, as a
//! graph: every live block (address, size, owning task, allocation stack,
//! birth epoch), the pointers between blocks, and the roots the pointers are
//! found from (static data, thread stacks, thread-local storage, traced tasks and typed
//! roots), the task table, type names and field labels from typed walks, with the
//! symbols needed to name allocation sites. It holds no heap *contents*:
//! a snapshot is safe to attach to a bug report.
//!
//! This crate is shared by the writer (the capture code in `turbowish-alloc`,
//! running in a forked child of the profiled process) and the reader (the
//! `turbowish` command-line tool and its analysis, which come next).
//!
//! - [`Snapshot`] and its rows ([`Block`], [`Edge`], [`Root`], [`Frame`], ...):
//!   the data, in [`model`].
//! - [`write()`], [`write_file`], [`read`], [`read_file`]: the file format,
//!   in [`mod@format`], with a typed [`Error`]; [`read_with`] and
//!   [`read_file_with`] take [`ReadOptions`] (the largest decompressed size
//!   to accept).
//! - [`files`]: snapshot file names, and writing files no other user can
//!   read or redirect; [`signal`]: which signals may take snapshots. Both
//!   are rules the runtime and the CLI share.
//!
//! ```
//! use turbowish_snap::{Block, Snapshot, read, write};
//!
//! let mut snap = Snapshot::default();
//! snap.blocks.push(Block { addr: 0x1000, size: 64, task: 7, ..Block::default() });
//! let mut file = Vec::new();
//! write(&snap, &mut file)?;
//! assert_eq!(read(&file[..])?, snap);
//! assert!(read(&file[..file.len() - 1]).is_err()); // truncated
//! # Ok::<(), turbowish_snap::Error>(())
//! ```

#![deny(missing_docs)]

pub mod analysis;
mod columns;
pub mod files;
pub mod format;
pub mod model;
pub mod signal;
mod stream;
mod validate;

pub use format::{
    Error, MAGIC, ReadOptions, VERSION, read, read_file, read_file_with, read_with, write,
    write_file,
};
pub use model::{
    Block, Capture, Container, Edge, EdgeKind, Frame, Module, Process, Root, RootKind, Snapshot,
    Symbol, Task, TaskState,
};
