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
//! `.twsnap` format of the `turbowish-snap` crate; read it with
//! `turbowish summary FILE`. It is captured in a forked child, so the process
//! pauses only for the `fork`. [`Config`] sets the signal, directory and
//! time-out in code; [`install`] reads them from `TURBOWISH_SIGNAL`,
//! `TURBOWISH_DIR` and `TURBOWISH_TIMEOUT`.
//!
//! # Configuration
//!
//! Read once from the environment at the first allocation (see
//! [`settings`]): `TURBOWISH_STACK=fp|dwarf|off` (default `fp`) and
//! `TURBOWISH_DEPTH=1..64` (default 32). A bad value prints one line on
//! stderr and the default is used.
//!
//! # Reading the figures
//!
//! - [`Stats`]: live and cumulative bytes and blocks, the peak, and the
//!   memory TurboWish itself uses ([`Stats::table_bytes`]).
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
//! taken before it was allocated): a block live in two snapshots has the same
//! name in both, and a block freed and replaced at the same address between
//! them does not. Frees of blocks TurboWish never saw (allocated before it was active,
//! or inside its own bookkeeping) are passed through and counted in
//! [`Stats::unknown_frees`].
//!
//! # Cost
//!
//! No global lock: the table is split into 256 shards by address, each behind
//! a lock that never allocates. Per live block the table costs a 16-byte slot
//! in a table kept 67-80% full while the heap grows (20-24 bytes per block),
//! and at least 40% full after it shrinks (at most 40 bytes); blocks of 4 KiB
//! or more use 32-byte slots. Each shard's first page is a floor of about
//! 1.3 MiB in all. See the README for measured overheads.
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

#![deny(unsafe_op_in_unsafe_fn, missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod clock;
mod error;
mod heap;
mod init;
mod snapshot;
mod stderr;
mod tasks;
mod trace;

pub use error::Error;
pub use heap::shim::TurboWish;
pub use heap::stack::settings::{DEFAULT_DEPTH, Settings};
pub use heap::stack::walk::{MAX_DEPTH, StackMode};
pub use heap::stats::FLUSH_BYTES;
pub use init::settings;
pub use snapshot::capture::SnapshotInfo;
pub use snapshot::install::{Config, install, snapshot_to};
pub use tasks::roots::{RootGuard, root};
#[cfg(feature = "tokio")]
pub use tasks::traced::spawn;
pub use tasks::traced::{Traced, TracedExt, traced};
pub use tasks::view::{TaskInfo, TaskState, tasks};
pub use trace::{EdgeKind, Heap, Opaque, Trace, TracedEdge, Tracer, Walk, walk};
/// `#[derive(Trace)]`: see the `turbowish-trace-derive` crate.
#[cfg(feature = "derive")]
pub use turbowish_trace_derive::Trace;

// The derive names `::turbowish_alloc`, which must resolve inside this crate too.
extern crate self as turbowish_alloc;

use core::fmt;

/// Process-wide allocation figures, from [`stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Bytes in live tracked blocks.
    pub live_bytes: u64,
    /// Number of live tracked blocks.
    pub live_blocks: u64,
    /// Bytes ever allocated (each `realloc` counts its new size).
    pub total_bytes: u64,
    /// Blocks ever allocated (each `realloc` counts as one).
    pub total_blocks: u64,
    /// The highest `live_bytes` reached, within [`FLUSH_BYTES`] per thread
    /// either way.
    pub peak_live_bytes: u64,
    /// Memory TurboWish uses for its block table.
    pub table_bytes: u64,
    /// Memory TurboWish uses for interned stacks.
    pub stack_bytes: u64,
    /// Distinct call stacks interned.
    pub stacks: u64,
    /// Blocks left untracked because the table could not grow.
    pub untracked_blocks: u64,
    /// Frees of blocks TurboWish never saw.
    pub unknown_frees: u64,
    /// Records dropped because their address was reused without a free being
    /// seen (a free made while TurboWish's bookkeeping was interrupted).
    pub stale_records: u64,
}

/// Reads the current figures.
///
/// Live and total figures are exact: they are summed while every table shard
/// is locked, so they describe one instant. This briefly blocks allocations on
/// all threads (a few microseconds); do not call it in a tight loop.
///
/// Like `malloc`, this is not async-signal-safe. Called from a signal handler
/// that interrupted TurboWish on the same thread, it returns
/// `Stats::default()` instead of waiting for a lock that thread holds.
pub fn stats() -> Stats {
    use core::sync::atomic::Ordering::Relaxed;
    let Some(_busy) = heap::guard::enter() else {
        return Stats::default();
    };
    let totals = heap::table::lock_all().totals();
    let (stacks, stack_bytes) = heap::stack::intern::usage();
    Stats {
        live_bytes: totals.live_bytes,
        live_blocks: totals.live_blocks,
        total_bytes: totals.total_bytes,
        total_blocks: totals.total_blocks,
        peak_live_bytes: heap::stats::peak(totals.live_bytes),
        table_bytes: totals.table_bytes,
        stack_bytes,
        stacks,
        untracked_blocks: heap::table::UNTRACKED.load(Relaxed),
        unknown_frees: heap::table::UNKNOWN_FREES.load(Relaxed),
        stale_records: heap::table::STALE.load(Relaxed),
    }
}

/// Live bytes owned by one task, from [`stats_by_task`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskStats {
    /// The task tag: a tokio task id, or 0 for allocations outside tasks.
    pub task: u64,
    /// Bytes in live blocks the task allocated.
    pub live_bytes: u64,
    /// Number of those blocks.
    pub live_blocks: u64,
}

/// Live bytes and blocks per owning task, largest first (ties by task).
///
/// This walks the whole table shard by shard, so while other threads allocate
/// the result mixes nearby instants; use it for reports, not exact
/// accounting of a busy process. Empty when called from a signal handler that
/// interrupted TurboWish (see [`stats`]).
pub fn stats_by_task() -> Vec<TaskStats> {
    if heap::guard::is_busy() {
        return Vec::new();
    }
    let mut by_task = std::collections::HashMap::<u64, TaskStats>::new();
    for r in heap::table::records() {
        let e = by_task.entry(u64::from(r.task)).or_insert(TaskStats {
            task: u64::from(r.task),
            live_bytes: 0,
            live_blocks: 0,
        });
        e.live_bytes += r.size as u64;
        e.live_blocks += 1;
    }
    let mut out: Vec<_> = by_task.into_values().collect();
    out.sort_by(|a, b| b.live_bytes.cmp(&a.live_bytes).then(a.task.cmp(&b.task)));
    out
}

/// What TurboWish recorded about one live block, from [`block`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Block {
    /// Start address.
    pub addr: usize,
    /// Size requested by the allocation.
    pub size: usize,
    /// Owning task tag (a tokio task id modulo 2^32, or 0 outside tasks).
    pub task: u64,
    /// Call stack of the allocation.
    pub stack: StackId,
    /// Snapshot epoch at birth (modulo 2^19).
    pub epoch: u32,
}

/// Looks up the live block that starts at `ptr`.
///
/// Returns `None` for pointers that are not the start of a tracked block
/// (including interior pointers).
pub fn block<T: ?Sized>(ptr: *const T) -> Option<Block> {
    let _busy = heap::guard::enter()?;
    let r = heap::table::get(ptr.cast::<u8>() as usize)?;
    Some(Block {
        addr: r.addr,
        size: r.size,
        task: u64::from(r.task),
        stack: StackId(r.stack),
        epoch: r.epoch,
    })
}

/// An interned call stack.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StackId(u32);

impl StackId {
    /// The stack of allocations made with stacks off.
    pub const NONE: StackId = StackId(0);
    /// The stack given once the interner is full (about a million distinct
    /// stacks): the allocation's real stack was not kept.
    pub const OVERFLOW: StackId = StackId(heap::stack::intern::OVERFLOW);

    /// The raw id.
    pub const fn as_u32(self) -> u32 {
        self.0
    }

    /// The code addresses, innermost first. Empty for [`StackId::NONE`] and
    /// [`StackId::OVERFLOW`].
    ///
    /// With frame-pointer stacks the first address is the instruction where
    /// the allocator was entered: inside the allocating function when the
    /// allocator was inlined into it (usual in release builds), or inside the
    /// allocator's entry point otherwise. The rest are return addresses.
    /// Symbolizers should skip frames in `turbowish_alloc`, `__rust_alloc*`
    /// and `__rg_*`, as they skip std's allocation frames.
    pub fn frames(self) -> &'static [usize] {
        heap::stack::intern::frames_of(self.0)
    }
}

impl fmt::Debug for StackId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StackId({})", self.0)
    }
}

/// The task tag an allocation made here and now would get.
pub fn current_task() -> u64 {
    tasks::tag::current() & u64::from(u32::MAX)
}
