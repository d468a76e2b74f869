//! TurboWish runtime: know, for every live heap block, which task allocated
//! it and from where.
//!
//! This crate is the part of TurboWish that a service links. Its main type is
//! [`TurboWish`], a [`GlobalAlloc`](core::alloc::GlobalAlloc) wrapper that keeps
//! a table of every live block with its size, the task that allocated it (a
//! tokio task id, or 0 outside tasks) and an interned call stack. The table is
//! what snapshots are taken from; [`stats`], [`stats_by_task`] and [`block`]
//! read it directly.
//!
//! # Setup
//!
//! ```
//! #[global_allocator]
//! static ALLOC: turbowish_alloc::TurboWish = turbowish_alloc::TurboWish::system();
//!
//! fn main() {
//!     let v: Vec<u64> = Vec::with_capacity(1000);
//!     let info = turbowish_alloc::block(v.as_ptr()).expect("tracked");
//!     assert_eq!(info.size, 8000);
//!     assert_eq!(info.task, 0); // not inside a task
//!
//!     let stats = turbowish_alloc::stats();
//!     assert!(stats.live_bytes >= 8000);
//! }
//! ```
//!
//! Build with frame pointers (`RUSTFLAGS="-C force-frame-pointers=yes"`, or
//! `[build] rustflags` in `.cargo/config.toml`) so that stacks reach your own
//! functions; without them the walk stops at the first frame that lacks one
//! and stacks are truncated (std itself keeps frame pointers).
//!
//! # Snapshots
//!
//! ```no_run
//! turbowish_alloc::install(); // then `kill -USR1 <pid>` writes turbowish-<pid>-<n>.twsnap
//! let info = turbowish_alloc::snapshot_to("now.twsnap").expect("snapshot");
//! println!("{} blocks, paused {:?}", info.blocks, info.pause);
//! ```
//!
//! A snapshot is the live heap as a graph (every block, the pointers between
//! blocks found by a conservative scan, and the roots: static data, thread
//! stacks, thread-local storage), with symbolized allocation stacks, in the
//! `.twsnap` format of the `turbowish-format` crate (the only part of the
//! reader this crate links); read it with `turbowish summary FILE`. It is
//! captured in a forked child, so the process pauses only for the `fork`
//! ([`SnapshotInfo::pause`]). TurboWish's own memory (the snapshot thread,
//! what a capture prepares) is never in a snapshot. [`Config`] sets the
//! signal, directory and time-out in code; [`install`] reads them from
//! `TURBOWISH_SIGNAL`, `TURBOWISH_DIR` and `TURBOWISH_TIMEOUT`. Signals that
//! arrive while a capture runs make one more snapshot after it, whose line
//! on stderr says how many it answers.
//!
//! Triggers take snapshots by themselves: when live bytes have grown by a
//! threshold since the previous snapshot, at each new high (one file,
//! replaced), at exit and on `SIGTERM`, with a rate limit and a number of
//! files to keep ([`Config::on_growth`], [`Config::at_peak`],
//! [`Config::at_exit`], [`Config::min_interval`], [`Config::keep`], or
//! `TURBOWISH_ON_GROWTH`, `TURBOWISH_AT_PEAK`, `TURBOWISH_AT_EXIT`,
//! `TURBOWISH_MIN_INTERVAL`, `TURBOWISH_KEEP`). Their check costs no work
//! per allocation: it rides on the batches that publish live bytes.
//!
//! # Configuration
//!
//! Read once from the environment at the first allocation (see
//! [`settings`]): `TURBOWISH_STACK=fp|dwarf|off|sampled[:BYTES]` (default
//! `fp`) and `TURBOWISH_DEPTH=1..64` (default 32). A bad value prints one
//! line on stderr and the default is used.
//!
//! `sampled` ([`StackMode::Sampled`]) is the production mode: every block
//! is still recorded with its size and task, but only a Poisson sample of
//! the allocated bytes gets a stack, one every BYTES on average (default
//! [`DEFAULT_SAMPLE_BYTES`], 512 KiB; `sampled:64KiB` for another): a block
//! of `size` bytes has its stack with probability `1 - exp(-size / BYTES)`,
//! the others [`StackId::NONE`]. Each thread counts its bytes down to its
//! next sample point, so an unsampled allocation costs a compare. Snapshots
//! record the mean, and the CLI shows figures by allocation site as
//! estimates, each sampled block weighed by the inverse of its
//! probability. Blocks without a header (4 KiB or more, or over-aligned)
//! and blocks allocated outside any task always get their stack, and count
//! once: tokio task cells, aligned to 128 on x86_64, are among them, and
//! are found from their allocation stack, as the runtime's start-up queues
//! are known as the runtime's by theirs. A program that allocates much
//! outside tasks pays for full stacks there.
//!
//! # Reading the figures
//!
//! - [`Stats`]: live and cumulative bytes and blocks, the peak, and the
//!   memory TurboWish itself uses ([`Stats::table_bytes`]).
//! - Every snapshot also records where the process's resident memory goes:
//!   the resident set, the inner allocator's [`AllocatorFigures`] (glibc's
//!   under [`TurboWish::system`]; another allocator's from a
//!   [`FiguresHook`] given to [`TurboWish::with_figures`], read by the
//!   fork child, so a slow walk of the allocator's free lists holds no lock
//!   the program waits for), TurboWish's own tables and headers, read in
//!   the process just before the fork.
//! - [`stats_by_task`]: live bytes per owning task, largest first.
//! - [`block`]: everything recorded about one block, including its
//!   [`StackId`], whose [`frames`](StackId::frames) are raw return addresses
//!   (symbolize them with `backtrace::resolve` or `addr2line`).
//!
//! # What is tracked, and identity
//!
//! Every block allocated through the shim, except TurboWish's own (see the
//! reentrancy guard in the source). A `realloc` counts as freeing the old
//! block and allocating a new one, whether or not it moved: the new block
//! carries the task and stack of the `realloc` call. Across snapshots a block
//! is named by its address and its *birth epoch* (the number of snapshots
//! taken before it was allocated, modulo 2^19): a block live in two snapshots has the same
//! name in both, and a block freed and replaced at the same address between
//! them does not. Frees of blocks TurboWish never saw (a block of the inner
//! allocator's that other code hands to the global allocator) are passed
//! through and counted in [`Stats::unknown_frees`]; the 16 bytes in front of
//! such a block must be readable, as they are for `malloc`'s blocks.
//!
//! # Cost
//!
//! No lock and no shared cache line on the common path: a block under 4 KiB
//! (nearly every block) carries its record in a 16-byte header in front of
//! it, and each thread counts its own events. Under glibc that header is 16
//! bytes per block; under a size-class allocator such as jemalloc a block
//! whose size is a power of two moves up one class (64 B to 80 B, 1 KiB to
//! 1.25 KiB), about 18 bytes per block on a mix of sizes. Blocks of 4 KiB or
//! more, or aligned to more than 16, go to a side table of 32-byte records
//! behind sharded locks. The capture child finds the blocks with headers by
//! walking the process's writable memory; [`stats_by_task`] and [`walk`] do
//! the same in the running process. See the README for measured overheads.
//!
//! # Tasks
//!
//! With the `tokio` feature (default), an allocation inside a tokio task poll
//! is tagged with that task's id. See `src/tasks/tag.rs` for the
//! multi-thread worker caveat: allocations a tokio worker makes *between*
//! polls carry the worker's own blocking-task id.
//!
//! Wrap futures to make them *traced tasks* ([`traced`], [`TracedExt`],
//! [`spawn`]): each becomes a row of the task registry (spawn location, name,
//! future type and size, state, polls, times; see [`tasks`](fn@tasks)) and a
//! root of every snapshot, whose target is the live block the future lives
//! in. A task that finished while its storage stays alive (a `JoinHandle`, a
//! stored `Waker`) stays listed as completed or cancelled: a zombie future.
//! The wrapper tags allocations on any executor.
//!
//! ```
//! # #[global_allocator]
//! # static A: turbowish_alloc::TurboWish = turbowish_alloc::TurboWish::system();
//! use turbowish_alloc::TracedExt;
//!
//! let task = async { vec![0u8; 4096].len() }.named("worker");
//! assert_eq!(futures::executor::block_on(task), 4096);
//! ```
//!
//! # Typed walks
//!
//! Implement or derive [`Trace`] for your state types and register shared
//! values with [`root`], or give a task a typed value with
//! [`Traced::root`]. Snapshots then walk those values by type: blocks get
//! type names, edges get field paths, containers their length and capacity,
//! and a completely walked block's edges are exact. See the [`Trace`] docs
//! for the rules a walk obeys and [`walk`] for testing an impl.
//!
//! ```
//! # #[global_allocator]
//! # static A: turbowish_alloc::TurboWish = turbowish_alloc::TurboWish::system();
//! use std::sync::Arc;
//! use turbowish_alloc::Trace;
//!
//! #[derive(Trace)]
//! struct Cache {
//!     entries: Vec<String>,
//! }
//!
//! let cache = Arc::new(Cache { entries: vec!["a".into(), "b".into()] });
//! let _root = turbowish_alloc::root("cache", &cache);
//! let walk = turbowish_alloc::walk(&*cache);
//! assert_eq!(walk.edges[0].label, "entries");
//! assert_eq!(walk.edges[0].counts, Some((2, 2)));
//! ```

//!
//! # Tests
//!
//! With the `testing` feature, the `testing` module checks what one
//! future left behind (`leak_check`) and asserts that the heap has no
//! zombie futures, stuck tasks or unreachable blocks (`Heap::take`), from
//! `#[test]` and `#[tokio::test]` alike.

#![deny(unsafe_op_in_unsafe_fn, missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod clock;
mod error;
mod heap;
mod init;
mod snapshot;
mod stderr;
mod tasks;
#[cfg(feature = "testing")]
pub mod testing;
mod trace;

pub use error::Error;
pub use heap::figures::{AllocatorFigures, FiguresHook};
pub use heap::shim::TurboWish;
pub use heap::stack::intern::StackId;
pub use heap::stack::settings::{DEFAULT_DEPTH, DEFAULT_SAMPLE_BYTES, Settings};
pub use heap::stack::walk::{MAX_DEPTH, StackMode};
pub use heap::stats::{FLUSH_BYTES, Stats, TaskStats, stats, stats_by_task};
pub use heap::table::{Block, block};
pub use init::settings;
pub use snapshot::capture::SnapshotInfo;
#[doc(hidden)]
pub use snapshot::cells::set_finding;
pub use snapshot::install::{Config, install, snapshot_to};
pub use tasks::roots::{RootGuard, root};
pub use tasks::tag::current_task;
#[cfg(feature = "tokio")]
pub use tasks::traced::spawn;
pub use tasks::traced::{Traced, TracedExt, traced};
pub use tasks::view::{TaskInfo, tasks};
pub use trace::{EdgeKind, Heap, Opaque, Trace, TracedEdge, Tracer, Walk, walk};
/// Where a traced task stands: the snapshot format's own type, so a task
/// reads the same in [`tasks`](fn@tasks) and in snapshots.
pub use turbowish_format::TaskState;
/// `#[derive(Trace)]`: see the `turbowish-trace-derive` crate.
#[cfg(feature = "derive")]
pub use turbowish_trace_derive::Trace;

// The derive names `::turbowish_alloc`, which must resolve inside this crate too.
extern crate self as turbowish_alloc;
