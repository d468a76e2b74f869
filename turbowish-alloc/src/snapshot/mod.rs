//! Snapshots: the live heap as a graph, captured in a forked child.
//!
//! [`install`] sets up snapshots on a signal (a dedicated thread takes them)
//! and holds the settings ([`install::Config`]). A [`capture`] forks: the
//! parent pauses only for the `fork`, which the fork protocol ([`atfork`])
//! makes safe for TurboWish's own locks, and the child builds the snapshot
//! from its frozen copy of the process. The child finds pointers with the
//! conservative [`scan`] and the [`typed`] walks, takes as roots the module
//! data (from the [`modules`] list the parent took, named by [`statics`]),
//! and every thread's stack and TLS: the registered threads' ([`threads`])
//! and those of threads not yet registered ([`unregistered`]); it symbolizes
//! stacks ([`symbolize`], over [`mapped`] files, with strings interned once
//! by the format's `StringTable`, and frames a process that reads its own
//! snapshots back already has taken from the [`symbol_memo`]). Every tokio task is found from its task
//! cell ([`cells`]) and becomes a task row and root, traced or not. The
//! words pointing into task storage are classified as wakers, join handles
//! or waiters ([`wakers`]). The [`triggers`] take snapshots by themselves:
//! on growth, at a new high, at exit.

pub(crate) mod atfork;
pub(crate) mod capture;
pub(crate) mod cells;
pub(crate) mod install;
pub(crate) mod mapped;
pub(crate) mod modules;
pub(crate) mod scan;
pub(crate) mod statics;
pub(crate) mod symbol_memo;
pub(crate) mod symbolize;
pub(crate) mod threads;
pub(crate) mod triggers;
pub(crate) mod typed;
pub(crate) mod unregistered;
pub(crate) mod wakers;
