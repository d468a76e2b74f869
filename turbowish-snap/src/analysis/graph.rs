//! The heap as a graph: node 0 is a super-root, then one node per root, then
//! one per block.

use super::dominators::Csr;
use crate::model::{EdgeKind, Root, RootKind, Snapshot};

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
    ///
    /// A thread stack's pointer to a block that a typed walk reaches (by a
    /// typed edge, or as a typed root's target) is left out when the block
    /// is reachable without it: the typed walk knows the block's owner, and
    /// the stack word is a borrow or, more often, a stale copy in a dead
    /// slot (a parked worker's stack keeps them; see the README's limits).
    /// Kept, it would make the block's dominator the super-root and hide
    /// what its owner retains.
    pub fn new(snap: &Snapshot) -> HeapGraph {
        let roots = snap.roots.len() as u32;
        let first_block = 1 + roots;
        let nodes = first_block as usize + snap.blocks.len();
        let typed = typed_targets(snap);
        let is_stale = |r: &Root, t: u32| r.kind == RootKind::ThreadStack && typed[t as usize];
        let edges = |restored: Vec<(u32, u32)>| {
            let to_roots = (1..=roots).map(|r| (SUPER_ROOT, r));
            let from_roots = snap.roots.iter().zip(1u32..).flat_map(move |(r, node)| {
                let storage = r
                    .task
                    .and_then(|t| snap.tasks.get(t as usize))
                    .and_then(|t| t.storage);
                (r.targets.iter())
                    .filter(move |&&t| !is_stale(r, t))
                    .map(move |&t| match storage {
                        Some(s) if s != t => (first_block + s, first_block + t),
                        _ => (node, first_block + t),
                    })
            });
            let between = snap
                .edges
                .iter()
                .map(|e| (first_block + e.from, first_block + e.to));
            (to_roots.chain(from_roots).chain(between)).chain(restored)
        };
        let csr = Csr::from_edges(nodes, edges(Vec::new()));
        let reached = reachable(&csr);
        let restored: Vec<(u32, u32)> = (snap.roots.iter().zip(1u32..))
            .flat_map(|(r, node)| r.targets.iter().map(move |&t| (r, node, t)))
            .filter(|&(r, _, t)| is_stale(r, t) && !reached[(first_block + t) as usize])
            .map(|(_, node, t)| (node, first_block + t))
            .collect();
        let csr = match restored.is_empty() {
            true => csr,
            false => Csr::from_edges(nodes, edges(restored)),
        };
        HeapGraph { csr, roots }
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

/// Per block, whether a typed walk reaches it: the target of a typed edge,
/// or a typed target of a task or named root other than a task's storage.
fn typed_targets(snap: &Snapshot) -> Vec<bool> {
    let mut typed = vec![false; snap.blocks.len()];
    for e in snap.edges.iter().filter(|e| e.kind == EdgeKind::Typed) {
        typed[e.to as usize] = true;
    }
    for r in (snap.roots.iter()).filter(|r| matches!(r.kind, RootKind::Task | RootKind::Named)) {
        let storage = r.task.and_then(|t| snap.tasks.get(t as usize)?.storage);
        for &t in r.targets.iter().filter(|&&t| Some(t) != storage) {
            typed[t as usize] = true;
        }
    }
    typed
}

/// Which nodes of `csr` the super-root reaches.
fn reachable(csr: &Csr) -> Vec<bool> {
    let mut seen = vec![false; csr.nodes()];
    let mut stack = vec![SUPER_ROOT];
    seen[SUPER_ROOT as usize] = true;
    while let Some(v) = stack.pop() {
        for &w in csr.successors(v) {
            if !seen[w as usize] {
                seen[w as usize] = true;
                stack.push(w);
            }
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::retained::Retained;
    use crate::model::{Block, Edge, Task};

    /// A task (storage 0) owns block 1 by a typed field; a thread stack
    /// also points at 1, and at 2, which only a leaked block 3 owns by a
    /// typed field.
    fn snapshot() -> Snapshot {
        let typed = |from, to| Edge {
            kind: EdgeKind::Typed,
            ..Edge::new(from, to)
        };
        Snapshot {
            blocks: (0..4)
                .map(|i| Block {
                    addr: 0x1000 * (i + 1),
                    size: 10,
                    ..Block::default()
                })
                .collect(),
            edges: vec![typed(0, 1), typed(3, 2)],
            roots: vec![
                Root {
                    kind: RootKind::Task,
                    targets: vec![0],
                    task: Some(0),
                    ..Root::default()
                },
                Root {
                    kind: RootKind::ThreadStack,
                    targets: vec![1, 2],
                    ..Root::default()
                },
            ],
            tasks: vec![Task {
                storage: Some(0),
                ..Task::default()
            }],
            ..Snapshot::default()
        }
    }

    #[test]
    fn a_stack_word_does_not_take_a_typed_block_from_its_owner() {
        let s = snapshot();
        let g = HeapGraph::new(&s);
        let r = Retained::new(&s, &g);
        assert_eq!(
            r.bytes[g.block_node(0) as usize],
            20,
            "the task retains block 1"
        );
        assert_eq!(r.idom[g.block_node(1) as usize], g.block_node(0));
    }

    #[test]
    fn a_stack_word_stays_when_nothing_else_reaches_the_block() {
        let s = snapshot();
        let g = HeapGraph::new(&s);
        let r = Retained::new(&s, &g);
        assert!(
            r.reachable(g.block_node(2)),
            "block 2's owner is unreachable"
        );
        assert_eq!(r.idom[g.block_node(2) as usize], g.root_node(1));
        assert!(!r.reachable(g.block_node(3)));
    }
}
