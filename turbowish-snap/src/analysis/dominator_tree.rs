//! The dominator tree, read from the top: which blocks retain the most, and
//! what each retains, level by level (`summary`'s biggest blocks and the
//! `dominators` command).
//!
//! # Rules
//!
//! 1. **The top is the blocks no other block dominates**: those whose
//!    immediate dominator is a root or the super-root (held by one root,
//!    or by several). Roots are not listed themselves: a thread's stack or
//!    a library's static data is not something a user frees, the block it
//!    holds is; each top block says who holds it ([`HeldBy`]). This is
//!    Eclipse MAT's "biggest objects" (the super-root's children in the
//!    dominator tree) with the root level looked through. Listing every
//!    block by retained bytes instead would fill the list with one chain
//!    (a list's head, its second node, its third, each retaining nearly
//!    the same bytes); top blocks never contain one another, so their
//!    retained bytes add up, and what they contain is one `dominators
//!    --block` away. (Chrome DevTools' retainers view answers the other
//!    question, who holds a block: that is `retainers`.)
//! 2. **Siblings by retained bytes**: most retained bytes first, then most
//!    retained blocks, then the lowest address. A level is cut to a limit
//!    and a byte threshold; what is cut is still counted ([`Level::omitted`]).
//! 3. **Counts with the tree**: the blocks each node dominates (itself
//!    included) are counted once, when the tree is built, bottom-up like
//!    the retained bytes ([`Retained`]).
//! 4. **Task storage is the task**: a row for a block that is a task's
//!    storage names the task ([`Dominator::task`]); printing names it as
//!    `retainers` does.

use super::Analysis;
use super::graph::{HeapGraph, SUPER_ROOT};
use super::retained::Retained;
use super::retainers::Count;
use crate::model::{BlockIndex, Snapshot, StackIndex, StringIndex, TaskIndex};

/// The dominator tree of a heap graph as children lists, with the number
/// of blocks below every node.
#[derive(Debug, Clone)]
pub struct DominatorTree {
    /// Where each node's children start in `children`, plus the end.
    offsets: Vec<u32>,
    /// The children of every node, node by node.
    children: Vec<u32>,
    /// Blocks each node dominates, itself included (rule 3).
    blocks: Vec<u32>,
    /// The top blocks' nodes (rule 1).
    top: Vec<u32>,
    /// (storage block, task index) of every task with known storage, by
    /// block.
    storage: Vec<(BlockIndex, TaskIndex)>,
}

/// What holds a block that no other block dominates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldBy {
    /// The immediate dominator is this block.
    Block(BlockIndex),
    /// One root reaches it on every path (index into [`Snapshot::roots`]).
    Root(u32),
    /// More than one root reaches it: only the super-root dominates it.
    Roots,
}

/// A block, with what it retains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dominator {
    /// The block.
    pub block: BlockIndex,
    /// Its own size.
    pub size: u64,
    /// Bytes it retains, its own included.
    pub retained: u64,
    /// Blocks it retains, itself included.
    pub retained_blocks: u64,
    /// Its type, from a typed walk (the empty string when unknown).
    pub type_name: StringIndex,
    /// Its allocation stack: [`Analysis::site`](super::Analysis::site)
    /// names it.
    pub stack: StackIndex,
    /// The task whose storage it is.
    pub task: Option<TaskIndex>,
    /// Its immediate dominator.
    pub held_by: HeldBy,
}

/// Some children of one node, biggest first (rule 2), and what was left
/// out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Level {
    /// The children shown.
    pub shown: Vec<Dominator>,
    /// The children left out by the limit or the threshold: how many, and
    /// the bytes they retain (saturating).
    pub omitted: Count,
}

impl DominatorTree {
    /// The tree of `retained`, computed over `graph`, the graph of `snap`.
    pub fn new(snap: &Snapshot, graph: &HeapGraph, retained: &Retained) -> DominatorTree {
        let idom = &retained.idom;
        let (offsets, children) = children_of(idom);
        let mut tree = DominatorTree {
            offsets,
            children,
            blocks: Vec::new(),
            top: Vec::new(),
            storage: (snap.tasks.iter().zip(snap.task_indices()))
                .filter_map(|(t, i)| Some((t.storage?, i)))
                .collect(),
        };
        tree.storage.sort_unstable();
        tree.blocks = tree.count_blocks(graph);
        let roots = (0..graph.roots).map(|r| graph.root_node(r));
        tree.top = std::iter::once(SUPER_ROOT)
            .chain(roots)
            .flat_map(|n| tree.children(n).iter().copied())
            .filter(|&c| graph.node_block(c).is_some())
            .collect();
        tree
    }

    /// The children of `node` in the dominator tree, in node order.
    pub fn children(&self, node: u32) -> &[u32] {
        let n = node as usize;
        &self.children[self.offsets[n] as usize..self.offsets[n + 1] as usize]
    }

    /// How many blocks `node` dominates, itself included.
    pub fn blocks(&self, node: u32) -> u64 {
        self.blocks.get(node as usize).map_or(0, |&b| u64::from(b))
    }

    /// The nodes of the blocks no other block dominates (rule 1).
    pub fn top(&self) -> &[u32] {
        &self.top
    }

    /// The task whose storage block `b` is.
    pub fn task_of_storage(&self, b: BlockIndex) -> Option<TaskIndex> {
        let i = (self.storage).binary_search_by_key(&b, |&(s, _)| s).ok()?;
        Some(self.storage[i].1)
    }

    /// Block counts, summed bottom-up over a breadth-first order (rule 3).
    fn count_blocks(&self, graph: &HeapGraph) -> Vec<u32> {
        let n = self.offsets.len() - 1;
        let mut order = Vec::with_capacity(n);
        order.push(SUPER_ROOT);
        let mut at = 0;
        while at < order.len() {
            order.extend_from_slice(self.children(order[at]));
            at += 1;
        }
        let mut blocks = vec![0u32; n];
        for &v in order.iter().rev() {
            let own = u32::from(graph.node_block(v).is_some());
            let below: u32 = self.children(v).iter().map(|&c| blocks[c as usize]).sum();
            blocks[v as usize] = own + below;
        }
        blocks
    }
}

/// Block node `node` of `a`'s heap graph as a row.
///
/// # Panics
///
/// If `node` is not a block's.
pub fn row(a: &Analysis, node: u32) -> Dominator {
    let (snap, graph, r, tree) = (a.snapshot(), a.graph(), a.retained(), a.dominator_tree());
    let block = BlockIndex::new(graph.node_block(node).expect("a block's node"));
    let b = snap.block(block);
    let up = r.idom[node as usize];
    let held_by = match (graph.node_block(up), graph.node_root(up)) {
        (Some(p), _) => HeldBy::Block(BlockIndex::new(p)),
        (None, Some(root)) => HeldBy::Root(root),
        (None, None) => HeldBy::Roots,
    };
    Dominator {
        block,
        size: b.size,
        retained: r.bytes[node as usize],
        retained_blocks: tree.blocks(node),
        type_name: b.type_name,
        stack: b.stack,
        task: tree.task_of_storage(block),
        held_by,
    }
}

/// The biggest of `nodes` (block nodes of `a`'s heap graph, siblings): at
/// most `limit` of those retaining `min_bytes` or more, in the order of
/// rule 2.
pub fn level(a: &Analysis, nodes: &[u32], limit: usize, min_bytes: u64) -> Level {
    let (r, tree) = (a.retained(), a.dominator_tree());
    let bigger = |x: &u32, y: &u32| {
        let key = |n: u32| (r.bytes[n as usize], tree.blocks(n));
        key(*y).cmp(&key(*x)).then_with(|| x.cmp(y))
    };
    let mut kept: Vec<u32> = (nodes.iter().copied())
        .filter(|&n| r.bytes[n as usize] >= min_bytes)
        .collect();
    if kept.len() > limit && limit > 0 {
        kept.select_nth_unstable_by(limit - 1, bigger);
    }
    kept.truncate(limit);
    kept.sort_unstable_by(bigger);
    let mut shown = kept.clone();
    shown.sort_unstable();
    let mut omitted = Count::default();
    for &n in nodes.iter().filter(|n| shown.binary_search(n).is_err()) {
        omitted.blocks += 1;
        omitted.bytes = omitted.bytes.saturating_add(r.bytes[n as usize]);
    }
    Level {
        shown: kept.iter().map(|&n| row(a, n)).collect(),
        omitted,
    }
}

/// The children lists of the tree `idom` ([`Retained::idom`]) in CSR form:
/// offsets (one per node, plus the end) and children.
fn children_of(idom: &[u32]) -> (Vec<u32>, Vec<u32>) {
    let n = idom.len();
    let is_child = |v: usize, d: u32| d != super::dominators::UNREACHABLE && d as usize != v;
    let mut offsets = vec![0u32; n + 1];
    for (v, &d) in idom.iter().enumerate() {
        if is_child(v, d) {
            offsets[d as usize + 1] += 1;
        }
    }
    for i in 0..n {
        offsets[i + 1] += offsets[i];
    }
    let mut fill = offsets.clone();
    let mut children = vec![0u32; offsets[n] as usize];
    for (v, &d) in idom.iter().enumerate() {
        if is_child(v, d) {
            children[fill[d as usize] as usize] = v as u32;
            fill[d as usize] += 1;
        }
    }
    (offsets, children)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RootKind, Task};

    fn b(i: u32) -> BlockIndex {
        BlockIndex::new(i)
    }

    use crate::analysis::fixtures::heap as snapshot;

    /// A static holds the chain 0 -> 1 -> 2; a stack holds 3 -> 4; both
    /// hold 5; nothing holds 6.
    fn two_roots() -> Snapshot {
        let edges = [(0, 1), (1, 2), (3, 4)];
        let roots: [(RootKind, &[u32]); 2] = [
            (RootKind::Static, &[0, 5]),
            (RootKind::ThreadStack, &[3, 5]),
        ];
        snapshot(7, &edges, &roots)
    }

    /// (block, retained bytes, retained blocks, held by) of each row.
    fn rows(level: &Level) -> Vec<(u32, u64, u64, HeldBy)> {
        (level.shown.iter())
            .map(|d| (d.block.get(), d.retained, d.retained_blocks, d.held_by))
            .collect()
    }

    #[test]
    fn the_top_is_the_blocks_no_block_dominates_biggest_first() {
        let s = two_roots();
        let a = Analysis::new(&s);
        let top = a.biggest_blocks(10, 0);
        assert_eq!(
            rows(&top),
            [
                (5, 100_000, 1, HeldBy::Roots),
                (3, 11_000, 2, HeldBy::Root(1)),
                (0, 111, 3, HeldBy::Root(0)),
            ],
            "the chain's tail (1, 2) is inside its head"
        );
        assert_eq!(top.omitted, Count::default());
    }

    #[test]
    fn what_a_level_leaves_out_is_counted() {
        let s = two_roots();
        let a = Analysis::new(&s);
        let top = a.biggest_blocks(1, 0);
        assert_eq!(rows(&top).len(), 1);
        let omitted = Count {
            blocks: 2,
            bytes: 11_111,
        };
        assert_eq!(top.omitted, omitted);
        let big = a.biggest_blocks(10, 200);
        assert_eq!(
            big.shown.iter().map(|d| d.block.get()).collect::<Vec<_>>(),
            [5, 3]
        );
        assert_eq!(
            big.omitted,
            Count {
                blocks: 1,
                bytes: 111
            }
        );
        assert_eq!(a.biggest_blocks(0, 0).omitted.blocks, 3);
    }

    #[test]
    fn below_a_block_are_the_blocks_it_dominates_level_by_level() {
        let s = two_roots();
        let a = Analysis::new(&s);
        let below = a.dominated_by(b(0), 10, 0);
        assert_eq!(rows(&below), [(1, 110, 2, HeldBy::Block(b(0)))]);
        assert_eq!(
            rows(&a.dominated_by(b(1), 10, 0)),
            [(2, 100, 1, HeldBy::Block(b(1)))]
        );
        assert!(a.dominated_by(b(2), 10, 0).shown.is_empty());
        let d = a.dominator(b(0)).unwrap();
        assert_eq!((d.size, d.retained, d.retained_blocks), (1, 111, 3));
        assert_eq!(a.dominator(b(6)), None, "unreachable");
        assert_eq!(a.dominated_by(b(6), 10, 0), Level::default());
    }

    #[test]
    fn a_diamonds_join_hangs_from_its_top_and_siblings_come_biggest_first() {
        // 0 -> 1 -> 3, 0 -> 2 -> 3, 0 -> 4; 4 is as big as 1, above it.
        let edges = [(0, 1), (0, 2), (1, 3), (2, 3), (0, 4)];
        let mut s = snapshot(5, &edges, &[(RootKind::Static, &[0])]);
        s.blocks[4].size = 10;
        let a = Analysis::new(&s);
        let below: Vec<(u32, u64)> = (a.dominated_by(b(0), 10, 0).shown.iter())
            .map(|d| (d.block.get(), d.retained))
            .collect();
        assert_eq!(below, [(3, 1000), (2, 100), (1, 10), (4, 10)]);
        assert_eq!(a.dominator(b(0)).unwrap().retained_blocks, 5);
    }

    #[test]
    fn a_tasks_storage_is_the_task() {
        let mut s = snapshot(2, &[(0, 1)], &[(RootKind::Task, &[0])]);
        s.roots[0].task = Some(TaskIndex::new(0));
        s.tasks.push(Task {
            storage: Some(b(0)),
            ..Task::default()
        });
        let a = Analysis::new(&s);
        let top = a.biggest_blocks(10, 0);
        assert_eq!(rows(&top), [(0, 11, 2, HeldBy::Root(0))]);
        assert_eq!(top.shown[0].task, Some(TaskIndex::new(0)));
        assert_eq!(a.dominator(b(1)).unwrap().task, None);
    }

    #[test]
    fn counts_follow_the_tree_in_a_cycle() {
        // A static enters the cycle 0 -> 1 -> 2 -> 0 at 0.
        let s = snapshot(3, &[(0, 1), (1, 2), (2, 0)], &[(RootKind::Static, &[0])]);
        let a = Analysis::new(&s);
        let tree = a.dominator_tree();
        let counts: Vec<u64> = (0..3)
            .map(|b| tree.blocks(a.graph().block_node(b)))
            .collect();
        assert_eq!(counts, [3, 2, 1]);
        assert_eq!(tree.blocks(SUPER_ROOT), 3);
        assert_eq!(tree.top(), [a.graph().block_node(0)]);
    }
}
