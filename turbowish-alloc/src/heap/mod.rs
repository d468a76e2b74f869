//! The allocation path: everything the global allocator runs, and the tables
//! it keeps.
//!
//! [`shim`] is the `GlobalAlloc` wrapper. Around each call to the inner
//! allocator it enters the reentrancy [`guard`] and hands the event to
//! [`track`], which captures and interns the call [`stack`], reads the task
//! tag, and records the block in the live-block [`table`] (its [`record`]s
//! packed in [`hashtable`]s, each shard behind a [`spin`] lock, all memory
//! from [`region`]s mapped straight from the kernel). [`stats`] holds the
//! counters read back from the table.
//!
//! Nothing here allocates through the global allocator while it holds a
//! lock. The snapshot side reads these tables, and the fork protocol takes
//! their locks (see `snapshot::atfork`). The path itself reaches out of this
//! folder only from [`track`], to what an allocation event must update: the
//! first-use initialisation (`crate::init`), the task tag
//! (`tasks::tag`), the thread registry (`snapshot::threads`: a thread
//! registers at its first allocation) and the task registry (told when a
//! watched block is freed: table rule 8). None of them imports `shim` or
//! `track`: the imports run one way.

pub(crate) mod guard;
pub(crate) mod hashtable;
pub(crate) mod record;
pub(crate) mod region;
pub(crate) mod shim;
pub(crate) mod spin;
pub(crate) mod stack;
pub(crate) mod stats;
pub(crate) mod table;
pub(crate) mod track;
