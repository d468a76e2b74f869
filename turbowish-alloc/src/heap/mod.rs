//! The allocation path: everything the global allocator runs, and what it
//! keeps.
//!
//! [`shim`] is the `GlobalAlloc` wrapper. Nearly every block carries its own
//! record in a 16-byte in-band [`header`] in front of it; the rare large or
//! over-aligned block is kept in the side [`table`] (its [`record`]s packed
//! in [`hashtable`]s, each shard behind a [`spin`] lock, all memory from
//! [`region`]s mapped straight from the kernel). Around each call to the
//! inner allocator the shim enters the reentrancy [`guard`] and hands the
//! event to [`track`], which captures and interns the call [`stack`], reads
//! the task tag, writes the header or the side record, and updates this
//! thread's [`counters`]. [`stats`] sums the counters; [`enumerate`] finds
//! every live block by walking memory for headers. The shim also carries
//! the inner allocator's [`figures`] hook, published off the hot path.
//!
//! The common path takes no lock and writes no shared cache line: only the
//! block's header and this thread's counters. Nothing here allocates through
//! the global allocator while it holds a lock. The snapshot side reads these
//! structures, and the fork protocol takes their locks (see
//! `snapshot::atfork`). The path itself reaches out of this folder only from
//! [`track`] and [`counters`], to what an allocation event must update: the
//! first-use initialisation (`crate::init`), the task tag (`tasks::tag`),
//! the thread registry (`snapshot::threads`: a thread registers at its first
//! allocation) and the task registry (told when a watched block is freed:
//! table rule 4). None of them imports `shim` or `track`: the imports run
//! one way.

pub(crate) mod counters;
pub(crate) mod enumerate;
pub(crate) mod figures;
pub(crate) mod guard;
pub(crate) mod hashtable;
pub(crate) mod header;
pub(crate) mod record;
pub(crate) mod region;
pub(crate) mod shim;
pub(crate) mod spin;
pub(crate) mod stack;
pub(crate) mod stats;
pub(crate) mod table;
pub(crate) mod track;
