//! The heap as a graph: node 0 is a super-root, then one node per root, then
//! one per block.

use super::dominators::Csr;
use crate::model::Snapshot;

/// The snapshot's heap graph, in compressed sparse row form.
///
/// Node 0 is the super-root, with an edge to every root; nodes
/// `1..=roots` are the snapshot's roots in order, each with an edge to its
/// targets; the remaining nodes are the blocks in order, with the
/// snapshot's edges between them.
///
/// A task root's other targets (those of the typed value the task shares)
/// hang from the task's storage block when it is known, since that is where
/// the value lives: the storage then dominates what only the task holds.
#[derive(Debug, Clone)]
pub struct HeapGraph {
    /// The edges.
    pub csr: Csr,
    /// Number of roots.
    pub roots: u32,
}

/// The super-root's node.
pub const SUPER_ROOT: u32 = 0;

impl HeapGraph {
    /// Builds the graph of `snap`.
    pub fn new(snap: &Snapshot) -> HeapGraph {
        let roots = snap.roots.len() as u32;
        let first_block = 1 + roots;
        let nodes = first_block as usize + snap.blocks.len();
        let to_roots = (1..=roots).map(|r| (SUPER_ROOT, r));
        let from_roots = snap.roots.iter().zip(1u32..).flat_map(|(r, node)| {
            let storage = r
                .task
                .and_then(|t| snap.tasks.get(t as usize))
                .and_then(|t| t.storage);
            r.targets.iter().map(move |&t| match storage {
                Some(s) if s != t => (first_block + s, first_block + t),
                _ => (node, first_block + t),
            })
        });
        let between = snap
            .edges
            .iter()
            .map(|e| (first_block + e.from, first_block + e.to));
        HeapGraph {
            csr: Csr::from_edges(nodes, to_roots.chain(from_roots).chain(between)),
            roots,
        }
    }

    /// The node of block `b`.
    pub fn block_node(&self, b: u32) -> u32 {
        1 + self.roots + b
    }

    /// The node of root `r`.
    pub fn root_node(&self, r: u32) -> u32 {
        1 + r
    }

    /// The block at node `n`, if it is a block's.
    pub fn node_block(&self, n: u32) -> Option<u32> {
        n.checked_sub(1 + self.roots)
    }

    /// The root at node `n`, if it is a root's.
    pub fn node_root(&self, n: u32) -> Option<u32> {
        (n >= 1 && n <= self.roots).then(|| n - 1)
    }
}
