//! The heap as a graph: node 0 is a super-root, then one node per root, then
//! one per block.

use super::dominators::Csr;
use super::outside::held_outside;
use crate::model::{EdgeKind, RootKind, Snapshot};

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
/// Blocks held from memory the snapshot cannot see (threads' names:
/// [`outside`](super::outside)) hang from the super-root.
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
    /// Some conservative pointers are *weak*: left out when their target is
    /// reachable without them, because a typed walk knows the target's
    /// owner and the word is a borrow or, more often, a stale copy.
    ///
    /// - A thread stack's pointer to a block a typed walk reaches (by a
    ///   typed edge, or as a typed root's target): a parked worker's dead
    ///   stack slots keep such copies (see the README's limits).
    /// - Any other pointer the scan found (conservative, or one it
    ///   classified as a waker, join handle or waiter: not a typed walk's),
    ///   from a block, static data or thread-locals, to a block a typed walk found owned by one holder
    ///   alone ([`EdgeKind::Typed`], not [`EdgeKind::Shared`]): a `Vec`'s
    ///   buffer or a map's table has exactly one owner, and other words
    ///   pointing there are stale bytes in reused memory (a task's unused
    ///   future state, an allocator's free-list pointer) or borrows.
    ///
    /// - Any pointer from the C library's or the dynamic loader's data:
    ///   glibc keeps its malloc arena there, whose bin and top pointers
    ///   point at free chunks' headers, and a header lies inside the live
    ///   block before it (the last 16 bytes of its chunk). Rust's heap
    ///   blocks are not owned from there ([`is_c_runtime`]).
    ///
    /// Kept, such a word would make the block's dominator the super-root,
    /// or a stranger, and hide what its owner retains. A weak pointer whose
    /// target nothing else reaches is kept, so reachability never changes.
    pub fn new(snap: &Snapshot) -> HeapGraph {
        let roots = snap.roots.len() as u32;
        let first_block = 1 + roots;
        let nodes = first_block as usize + snap.blocks.len();
        let owners = Owners::new(snap);
        let edges = all_edges(snap, first_block, &owners);
        let strong = edges.iter().filter(|e| !e.2).map(|&(f, t, _)| (f, t));
        let csr = Csr::from_edges(nodes, strong.clone());
        let reached = reachable(&csr);
        let restored: Vec<(u32, u32)> = (edges.iter())
            .filter(|&&(_, t, weak)| weak && !reached[t as usize])
            .map(|&(f, t, _)| (f, t))
            .collect();
        let csr = match restored.is_empty() {
            true => csr,
            false => Csr::from_edges(nodes, strong.chain(restored)),
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

/// What typed walks say about who owns each block.
struct Owners {
    /// A typed walk reaches the block: the target of a typed or shared
    /// edge, or a typed target of a task or named root other than a task's
    /// storage.
    typed: Vec<bool>,
    /// One holder owns the block alone: the target of an
    /// [`EdgeKind::Typed`] edge.
    alone: Vec<bool>,
}

impl Owners {
    fn new(snap: &Snapshot) -> Owners {
        let mut typed = vec![false; snap.blocks.len()];
        let mut alone = vec![false; snap.blocks.len()];
        for e in snap.edges.iter().filter(|e| e.kind.is_typed()) {
            typed[e.to.index()] = true;
            alone[e.to.index()] |= e.kind == EdgeKind::Typed;
        }
        let typed_roots = snap.roots.iter().filter(|r| is_typed_root(r.kind));
        for r in typed_roots {
            let storage = r.task.and_then(|t| snap.tasks.get(t.index())?.storage);
            for &t in r.targets.iter().filter(|&&t| Some(t) != storage) {
                typed[t.index()] = true;
            }
        }
        Owners { typed, alone }
    }

    /// Whether a conservative pointer to block `t` from a root of `kind`
    /// (or from a block, for `None`) is weak (see [`HeapGraph::new`]).
    /// `c_runtime`: the root is the C runtime's data ([`is_c_runtime`]).
    fn is_weak(&self, from: Option<RootKind>, c_runtime: bool, t: u32) -> bool {
        match from {
            Some(RootKind::Static) if c_runtime => true,
            Some(RootKind::ThreadStack) => self.typed[t as usize],
            Some(kind) if is_typed_root(kind) => false,
            _ => self.alone[t as usize],
        }
    }
}

/// Whether `module` (a static root's label: the module's path) is the C
/// library or the dynamic loader, whose data holds the malloc arena
/// (`libc.so.6`, `libc-2.31.so`, `ld-linux-x86-64.so.2`, `ld-2.31.so`).
pub fn is_c_runtime(module: &str) -> bool {
    let name = module.rsplit('/').next().unwrap_or(module);
    let versioned = |prefix: &str| {
        (name.strip_prefix(prefix)).is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit()))
    };
    name.starts_with("libc.so")
        || name.starts_with("ld-linux")
        || versioned("libc-")
        || versioned("ld-")
}

fn is_typed_root(kind: RootKind) -> bool {
    matches!(kind, RootKind::Task | RootKind::Named)
}

/// Every edge of the graph of `snap` as (from node, to node, weak).
///
/// A task root's other targets hang from its storage block (see
/// [`HeapGraph`]).
fn all_edges(snap: &Snapshot, first_block: u32, owners: &Owners) -> Vec<(u32, u32, bool)> {
    let roots = snap.roots.len() as u32;
    let to_roots = (1..=roots).map(|r| (SUPER_ROOT, r, false));
    let from_roots = snap.roots.iter().zip(1u32..).flat_map(|(r, node)| {
        let storage = (r.task)
            .and_then(|t| snap.tasks.get(t.index()))
            .and_then(|t| t.storage.map(|s| s.get()));
        let c_runtime = r.kind == RootKind::Static && is_c_runtime(snap.string(r.label));
        r.targets.iter().map(move |t| {
            let t = t.get();
            let weak = owners.is_weak(Some(r.kind), c_runtime, t);
            match storage {
                Some(s) if s != t => (first_block + s, first_block + t, weak),
                _ => (node, first_block + t, weak),
            }
        })
    });
    let between = snap.edges.iter().map(|e| {
        let (from, to) = (e.from.get(), e.to.get());
        let weak = !e.kind.is_typed() && owners.is_weak(None, false, to);
        (first_block + from, first_block + to, weak)
    });
    let outside = (held_outside(snap).into_iter().zip(first_block..))
        .filter(|&(held, _)| held)
        .map(|(_, node)| (SUPER_ROOT, node, false));
    let mut edges = Vec::with_capacity(roots as usize + snap.edges.len());
    edges.extend(to_roots.chain(from_roots).chain(between).chain(outside));
    edges
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
    use crate::model::{Block, BlockIndex, Edge, Root, StringIndex, Task, TaskIndex};

    fn b(i: u32) -> BlockIndex {
        BlockIndex::new(i)
    }

    /// A task (storage 0) owns block 1 by a typed field; a thread stack
    /// also points at 1, and at 2, which only a leaked block 3 owns by a
    /// typed field.
    fn snapshot() -> Snapshot {
        let typed = |from, to| Edge {
            kind: EdgeKind::Typed,
            ..Edge::new(b(from), b(to))
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
                    targets: vec![b(0)],
                    task: Some(TaskIndex::new(0)),
                    ..Root::default()
                },
                Root {
                    kind: RootKind::ThreadStack,
                    targets: vec![b(1), b(2)],
                    ..Root::default()
                },
            ],
            tasks: vec![Task {
                storage: Some(b(0)),
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

    /// A static (root 1) and a second task's future (storage 4, root 2)
    /// hold conservative words pointing at block 1, which the first task's
    /// storage owns alone by a typed field, and at block 5, which it shares
    /// (an `Arc`) with the second task.
    fn stale_words() -> Snapshot {
        let mut s = snapshot();
        s.blocks.extend((4..6).map(|i| Block {
            addr: 0x1000 * (i + 1),
            size: 10,
            ..Block::default()
        }));
        let shared = Edge {
            kind: EdgeKind::Shared,
            ..Edge::new(b(0), b(5))
        };
        s.edges = vec![
            s.edges[0],
            shared,
            s.edges[1],
            Edge::new(b(4), b(1)),
            Edge::new(b(4), b(5)),
        ];
        s.roots[1] = Root {
            kind: RootKind::Static,
            targets: vec![b(1)],
            ..Root::default()
        };
        s.roots.push(Root {
            kind: RootKind::Task,
            targets: vec![b(4)],
            task: Some(TaskIndex::new(1)),
            ..Root::default()
        });
        s.tasks.push(Task {
            storage: Some(b(4)),
            ..Task::default()
        });
        s
    }

    #[test]
    fn a_stale_word_does_not_take_a_block_its_typed_owner_holds_alone() {
        let s = stale_words();
        let g = HeapGraph::new(&s);
        let r = Retained::new(&s, &g);
        assert_eq!(r.idom[g.block_node(1) as usize], g.block_node(0));
        assert_eq!(r.bytes[g.block_node(0) as usize], 20, "blocks 0 and 1");
    }

    #[test]
    fn a_co_owner_of_a_shared_block_keeps_its_pointer() {
        let s = stale_words();
        let g = HeapGraph::new(&s);
        let r = Retained::new(&s, &g);
        assert_eq!(r.idom[g.block_node(5) as usize], SUPER_ROOT);
    }

    #[test]
    fn a_stale_word_stays_when_nothing_else_reaches_the_block() {
        let mut s = stale_words();
        s.roots.remove(0); // the owner, task 0's storage, is unreachable
        let g = HeapGraph::new(&s);
        let r = Retained::new(&s, &g);
        assert!(!r.reachable(g.block_node(0)));
        assert!(
            r.reachable(g.block_node(1)),
            "held by the static and task 1"
        );
        assert_eq!(r.idom[g.block_node(1) as usize], SUPER_ROOT);
    }

    /// The C library's data (root 1) points into block 5, which task 0
    /// shares by an `Arc` (a shared edge), and at block 2, which only a
    /// leaked block owns.
    fn c_runtime_words(module: &str) -> Snapshot {
        let mut s = stale_words();
        s.strings.push(module.to_owned());
        s.roots[1].label = StringIndex::new(s.strings.len() as u32 - 1);
        s.roots[1].targets = vec![b(2), b(5)];
        s.roots.pop(); // no second task
        s.edges.retain(|e| e.from != b(4));
        s
    }

    #[test]
    fn the_c_runtimes_data_does_not_take_a_block_from_its_owner() {
        let s = c_runtime_words("/usr/lib/x86_64-linux-gnu/libc.so.6");
        let g = HeapGraph::new(&s);
        let r = Retained::new(&s, &g);
        assert_eq!(r.idom[g.block_node(5) as usize], g.block_node(0));
        assert_eq!(r.idom[g.block_node(2) as usize], g.root_node(1), "kept");
        let s = c_runtime_words("/usr/lib/libssl.so.3");
        let g = HeapGraph::new(&s);
        let r = Retained::new(&s, &g);
        assert_eq!(r.idom[g.block_node(5) as usize], SUPER_ROOT);
    }

    #[test]
    fn the_c_runtime_is_named_by_its_file_name() {
        for m in [
            "/lib/libc.so.6",
            "libc-2.31.so",
            "/lib64/ld-linux-x86-64.so.2",
            "ld-2.31.so",
        ] {
            assert!(is_c_runtime(m), "{m}");
        }
        for m in [
            "/usr/lib/libcrypto.so.3",
            "/opt/ld-tools/app",
            "/usr/bin/libc-demo.bin/x",
        ] {
            assert!(!is_c_runtime(m), "{m}");
        }
    }
}
