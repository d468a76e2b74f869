//! The TurboWish snapshot format (`.twsnap`), and the rules the process that
//! writes snapshots and the tools that read them share.
//!
//! A snapshot is the live heap of one process at one instant, as a graph:
//! every live block (address, size, owning task, allocation stack, birth
//! epoch), the pointers between blocks, and the roots the pointers are found
//! from (static data, thread stacks, thread-local storage, traced tasks and
//! typed roots), the task table, type names and field labels from typed
//! walks, with the symbols needed to name allocation sites. It holds no heap
//! *contents*: a snapshot is safe to attach to a bug report.
//!
//! This crate is the bottom layer of TurboWish. The runtime
//! (`turbowish-alloc`, which writes snapshots from a forked child of the
//! profiled process) and the reader (`turbowish-snap`: the analysis and the
//! `turbowish` command line) both depend on it, and on nothing of each
//! other.
//!
//! # Overview
//!
//! - [`Snapshot`] and its rows ([`Block`], [`Edge`], [`Root`], [`Task`],
//!   [`Frame`], ...): the data, in [`model`]. Rows refer to each other by
//!   typed indices ([`BlockIndex`], [`StringIndex`], [`TaskIndex`], ...), in
//!   [`index`].
//! - [`write()`], [`write_file`], [`read`], [`read_file`]: the container
//!   format, in [`mod@format`], with a typed [`Error`]. [`read_with`] and
//!   [`read_file_with`] take [`ReadOptions`] (the largest decompressed size
//!   to accept). The reader trusts nothing: every length, index and order is
//!   checked before a [`Snapshot`] is handed out, so code that analyses one
//!   may index its tables freely.
//! - [`Builder`] and [`StringTable`]: building a snapshot with interned
//!   strings, in [`builder`].
//! - [`rules`]: what the writer and the reader must agree on, each defined
//!   once: snapshot file names and how files are written ([`files`]), which
//!   signals may take snapshots ([`signal`]), which blocks carry a stack
//!   when stacks are sampled ([`rules::sampling`]), the width of block tags
//!   ([`rules::tags`]), and how a task's progress reads as a [`TaskState`]
//!   ([`rules::tasks`]).
//!
//! # Example
//!
//! Build a snapshot of one block allocated by `main`, write it, read it back:
//!
//! ```
//! use turbowish_format::{Block, Builder, Frame, read, write};
//!
//! let mut b = Builder::new();
//! let main = b.symbol("svc::main", Some("src/main.rs"), 7);
//! let frame = b.frame(Frame { addr: 0x5555_0000_1000, module: None, symbols: vec![main] });
//! let stack = b.stack(&[frame]);
//! b.snapshot_mut().blocks.push(Block { addr: 0x1000, size: 64, stack, ..Block::default() });
//! let snap = b.build();
//!
//! let mut file = Vec::new();
//! write(&snap, &mut file)?;
//! assert_eq!(read(&file[..])?, snap);
//! assert!(read(&file[..file.len() - 1]).is_err()); // truncated
//! # Ok::<(), turbowish_format::Error>(())
//! ```

#![deny(missing_docs)]

pub mod builder;
mod columns;
pub mod format;
pub mod index;
mod legacy;
pub mod model;
pub mod rules;
mod stream;
mod validate;

pub use builder::{Builder, StringTable};
pub use format::{
    Error, MAGIC, ReadOptions, VERSION, read, read_file, read_file_with, read_with, write,
    write_file,
};
pub use index::{BlockIndex, FrameIndex, ModuleIndex, StackIndex, StringIndex, TaskIndex};
pub use model::{
    AllocatorFigures, Block, Capture, Container, Edge, EdgeKind, Frame, Module, Process, Root,
    RootKind, Snapshot, Symbol, Task, TaskKind, TaskState,
};
pub use rules::{files, signal};
