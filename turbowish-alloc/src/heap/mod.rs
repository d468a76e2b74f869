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
//! Nothing here allocates through the global allocator while it holds a lock,
//! and nothing here depends on snapshots: the snapshot side reads these
//! tables, and the fork protocol takes their locks (see
//! `snapshot::atfork`).

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
