//! Analysis of snapshots: the heap as a graph, who dominates what, what
//! each task retains, and what is leaked, bloated or grew.
//!
//! [`Analysis`] is the one entry: it owns every part below for one
//! snapshot, computes each on first use, once, and hands it to every report
//! that asks. [`diff::Comparison`] does the same for a pair of snapshots.
//!
//! - [`graph::HeapGraph`]: the snapshot as a compact graph with one
//!   super-root above every root (static data, thread stacks, thread-locals,
//!   tasks, named roots), and above the blocks held from memory the
//!   snapshot cannot see ([`outside`]).
//! - [`dominators`]: immediate dominators over a [`dominators::Csr`] graph.
//! - [`retained::Retained`]: the dominator tree and the retained size of
//!   every block: the bytes that would be freed if nothing but its dominator
//!   chain held it; [`dominator_tree`]: that tree read from the top, the
//!   biggest blocks and what each retains.
//! - [`retainers::ShortestPaths`]: the shortest retaining path of every
//!   block, as one tree; [`retainers::PathTree`] reads, groups and
//!   summarizes paths from it without copying them out.
//! - [`tasks::task_rows`]: per task, the bytes it allocated that are
//!   still live, the bytes its storage retains, and the bytes it shares with
//!   other tasks; [`spawn`]: tasks grouped by spawn site.
//! - [`sites`]: allocation sites, and which frame of a stack names one.
//! - [`leaks`]: blocks nothing reaches, zombie futures and idle tasks;
//!   [`bloat`]: large futures and unused container capacity; [`census`]:
//!   counts by kind, state and type.
//! - [`diff`]: what changed between two snapshots of one process.
//! - [`resident`]: where the process's resident memory went (live heap,
//!   allocator retention, TurboWish's own, the rest), and how each part
//!   changed.
//! - [`waits`]: which tasks nothing can ever wake (stuck), why, and how
//!   the others can be woken.
//!
//! Analysis reads a [`Snapshot`](crate::Snapshot) and needs memory linear in
//! its blocks and edges, never in the events that made them. Its errors are
//! typed ([`diff::Mismatch`]).

pub mod bloat;
pub mod census;
pub mod diff;
pub mod dominator_tree;
pub mod dominators;
mod entry;
#[cfg(test)]
mod fixtures;
pub mod graph;
pub mod leaks;
pub mod outside;
pub mod resident;
pub mod retained;
pub mod retainers;
pub mod sites;
pub mod spawn;
pub mod tasks;
pub mod waits;

pub use entry::Analysis;
