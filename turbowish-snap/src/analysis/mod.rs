//! Analysis of snapshots: the heap as a graph, who dominates what, and what
//! each task retains.
//!
//! - [`graph::HeapGraph`]: the snapshot as a compact graph with one
//!   super-root above every root (static data, thread stacks, thread-locals,
//!   tasks, named roots).
//! - [`dominators`]: immediate dominators over a [`dominators::Csr`] graph.
//! - [`retained::Retained`]: the dominator tree and the retained size of
//!   every block: the bytes that would be freed if nothing but its dominator
//!   chain held it.
//! - [`retainers::ShortestPaths`]: the shortest retaining path of every
//!   block, as one tree; [`retainers::PathTree`] reads, groups and
//!   summarizes paths from it without copying them out.
//! - [`tasks::task_rows`]: per traced task, the bytes it allocated that are
//!   still live, the bytes its storage retains, and the bytes it shares with
//!   other tasks.
//!
//! Analysis reads a [`Snapshot`](crate::Snapshot) and needs memory linear in
//! its blocks and edges, never in the events that made them.

pub mod diff;
pub mod dominators;
pub mod graph;
pub mod leaks;
pub mod retained;
pub mod retainers;
pub mod tasks;
