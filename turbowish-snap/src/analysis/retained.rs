//! Retained sizes: what each node keeps alive on its own.
//!
//! Node `d` dominates node `v` when every path from the super-root to `v`
//! passes through `d`. The bytes *retained* by `d` are the sizes of all
//! the blocks it dominates, itself included: what would become unreachable
//! if `d` were gone. Roots have size 0; the super-root retains every
//! reachable byte.

use super::dominators::{UNREACHABLE, dominators};
use super::graph::{HeapGraph, SUPER_ROOT};
use crate::model::Snapshot;

/// The dominator tree of a [`HeapGraph`] and every node's retained size.
#[derive(Debug, Clone)]
pub struct Retained {
    /// Immediate dominator of each node; [`UNREACHABLE`] for nodes no root
    /// reaches; the super-root's is itself.
    pub idom: Vec<u32>,
    /// Bytes each node retains (0 for unreachable nodes).
    pub bytes: Vec<u64>,
}

impl Retained {
    /// Computes the dominator tree of `graph` (built from `snap`) and sums
    /// sizes up it.
    pub fn new(snap: &Snapshot, graph: &HeapGraph) -> Retained {
        let idom = dominators(&graph.csr, SUPER_ROOT);
        let mut bytes: Vec<u64> = (0..idom.len() as u32)
            .map(|n| {
                graph
                    .node_block(n)
                    .filter(|_| idom[n as usize] != UNREACHABLE)
                    .map_or(0, |b| snap.blocks[b as usize].size)
            })
            .collect();
        for n in bottom_up(&idom) {
            let d = idom[n as usize];
            if d != n {
                bytes[d as usize] = bytes[d as usize].saturating_add(bytes[n as usize]);
            }
        }
        Retained { idom, bytes }
    }

    /// Whether node `n` is reachable from a root.
    pub fn reachable(&self, n: u32) -> bool {
        self.idom[n as usize] != UNREACHABLE
    }

    /// Whether `d` dominates `n` (every node dominates itself).
    pub fn dominates(&self, d: u32, mut n: u32) -> bool {
        loop {
            if n == d {
                return true;
            }
            let up = self.idom[n as usize];
            if up == n || up == UNREACHABLE {
                return false;
            }
            n = up;
        }
    }
}

/// Reachable nodes ordered so that every node comes before its immediate
/// dominator: a reverse breadth-first order of the dominator tree.
fn bottom_up(idom: &[u32]) -> Vec<u32> {
    let mut order = top_down(idom);
    order.reverse();
    order
}

/// Reachable nodes ordered so that every node comes after its immediate
/// dominator: a breadth-first order of the dominator tree.
pub(crate) fn top_down(idom: &[u32]) -> Vec<u32> {
    let n = idom.len();
    // Children lists of the dominator tree, in CSR form.
    let mut count = vec![0u32; n + 1];
    for (v, &d) in idom.iter().enumerate() {
        if d != UNREACHABLE && d as usize != v {
            count[d as usize + 1] += 1;
        }
    }
    for i in 0..n {
        count[i + 1] += count[i];
    }
    let mut fill = count.clone();
    let mut children = vec![0u32; count[n] as usize];
    for (v, &d) in idom.iter().enumerate() {
        if d != UNREACHABLE && d as usize != v {
            children[fill[d as usize] as usize] = v as u32;
            fill[d as usize] += 1;
        }
    }
    let mut order = Vec::with_capacity(n);
    order.extend((0..n as u32).filter(|&v| idom[v as usize] == v));
    let mut at = 0;
    while at < order.len() {
        let v = order[at] as usize;
        order.extend_from_slice(&children[count[v] as usize..count[v + 1] as usize]);
        at += 1;
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::fixtures::heap;
    use crate::model::RootKind;

    /// [`heap`] with roots of the default kind.
    fn snapshot(blocks: usize, edges: &[(u32, u32)], roots: &[&[u32]]) -> Snapshot {
        let roots: Vec<(RootKind, &[u32])> =
            roots.iter().map(|&t| (RootKind::default(), t)).collect();
        heap(blocks, edges, &roots)
    }

    fn retained_of(s: &Snapshot) -> Vec<u64> {
        let g = HeapGraph::new(s);
        let r = Retained::new(s, &g);
        (0..s.blocks.len() as u32)
            .map(|b| r.bytes[g.block_node(b) as usize])
            .collect()
    }

    #[test]
    fn a_chain_retains_its_tail() {
        let s = snapshot(3, &[(0, 1), (1, 2)], &[&[0]]);
        assert_eq!(retained_of(&s), [111, 110, 100]);
    }

    #[test]
    fn a_diamond_retains_its_join_only_at_the_top() {
        // 0 -> 1 -> 3, 0 -> 2 -> 3: 3 is dominated by 0 only.
        let s = snapshot(4, &[(0, 1), (0, 2), (1, 3), (2, 3)], &[&[0]]);
        assert_eq!(retained_of(&s), [1111, 10, 100, 1000]);
    }

    #[test]
    fn a_block_held_by_two_roots_is_retained_by_neither() {
        let s = snapshot(3, &[(0, 2), (1, 2)], &[&[0], &[1]]);
        assert_eq!(retained_of(&s), [1, 10, 100]);
        let g = HeapGraph::new(&s);
        let r = Retained::new(&s, &g);
        assert_eq!(r.bytes[SUPER_ROOT as usize], 111);
        assert_eq!(r.idom[g.block_node(2) as usize], SUPER_ROOT);
    }

    #[test]
    fn a_cycle_is_retained_by_where_it_is_entered() {
        let s = snapshot(3, &[(0, 1), (1, 2), (2, 1)], &[&[0]]);
        assert_eq!(retained_of(&s), [111, 110, 100]);
    }

    #[test]
    fn unreachable_blocks_retain_nothing_and_count_nowhere() {
        let s = snapshot(3, &[(1, 2)], &[&[0]]);
        let g = HeapGraph::new(&s);
        let r = Retained::new(&s, &g);
        assert_eq!(retained_of(&s), [1, 0, 0]);
        assert!(!r.reachable(g.block_node(1)));
        assert_eq!(r.bytes[SUPER_ROOT as usize], 1);
        assert!(r.dominates(g.block_node(0), g.block_node(0)));
        assert!(!r.dominates(g.block_node(0), g.block_node(2)));
    }
}
