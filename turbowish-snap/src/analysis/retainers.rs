//! Retaining paths: for a block, the shortest chain of pointers from a root
//! that keeps it alive, each link saying how it points (a conservative
//! word, a typed field, a task's typed value).
//!
//! A breadth-first search from the roots gives every reachable block a
//! parent on a shortest path, in memory linear in the graph's nodes. It runs
//! in two phases: first from every root but thread stacks, entered in order
//! of how much they tell a user (tasks, named typed roots, statics,
//! thread-locals), so that among equally short paths the most meaningful is
//! kept; then from thread stacks, for the blocks nothing else reaches. A
//! stack's dead slots hold stale copies of pointers (see the README's
//! limits), so a stack is the holder named only when it is the only one.
//! Finished tasks are not searched from: their storage is kept by others.

use super::dominators::UNREACHABLE;
use super::graph::{HeapGraph, SUPER_ROOT};
use crate::model::{EdgeKind, RootKind, Snapshot};
use std::collections::{HashMap, VecDeque};

/// A parent on a shortest path from the super-root, for every node.
#[derive(Debug, Clone)]
pub struct ShortestPaths {
    parent: Vec<u32>,
}

/// How one link of a path points at the block it reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Via {
    /// A word that looks like a pointer, found by the conservative scan.
    Conservative,
    /// A field reported by a `Trace` impl, with its label (index into
    /// [`Snapshot::strings`], 0 for none).
    Field(u32),
    /// The typed value a task root shares, at this field path (string
    /// index, 0 for none), hanging from the task's storage.
    TaskValue(u32),
    /// A task root's own storage block: the task's future.
    Future,
}

/// A retaining path: a root, then blocks down to the one asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetainingPath {
    /// The root (index into [`Snapshot::roots`]).
    pub root: u32,
    /// The root's label for its first block: for statics, the symbol of the
    /// static holding the pointer; for typed roots, the field path (0 for
    /// none).
    pub root_label: u32,
    /// Each block from the root's target to the block asked about, with how
    /// the previous one (or the root) points at it.
    pub links: Vec<(Via, u32)>,
}

/// Whether root `r` is a completed or cancelled task's: such a task holds
/// nothing, and what keeps its storage alive (a `JoinHandle`, a stored
/// `Waker`) is the answer wanted, so the search does not start from it.
fn is_finished_task(snap: &Snapshot, r: u32) -> bool {
    let task = (snap.roots[r as usize].task).and_then(|t| snap.tasks.get(t as usize));
    task.is_some_and(|t| t.state.is_finished())
}

/// The order roots are entered in: the lower, the earlier.
fn priority(kind: RootKind) -> u8 {
    match kind {
        RootKind::Task => 0,
        RootKind::Named => 1,
        RootKind::Static => 2,
        RootKind::ThreadLocal => 3,
        RootKind::ThreadStack => 4,
    }
}

impl ShortestPaths {
    /// Searches `graph`, the graph of `snap`.
    pub fn new(snap: &Snapshot, graph: &HeapGraph) -> ShortestPaths {
        let mut parent = vec![UNREACHABLE; graph.csr.nodes()];
        parent[SUPER_ROOT as usize] = SUPER_ROOT;
        let mut roots: Vec<u32> = (0..graph.roots)
            .filter(|&r| !is_finished_task(snap, r))
            .collect();
        roots.sort_by_key(|&r| (priority(snap.roots[r as usize].kind), r));
        let stacks_from = roots
            .iter()
            .position(|&r| snap.roots[r as usize].kind == RootKind::ThreadStack)
            .unwrap_or(roots.len());
        let mut paths = ShortestPaths { parent };
        paths.search(graph, &roots[..stacks_from]);
        paths.search(graph, &roots[stacks_from..]);
        paths
    }

    /// Extends the search from `roots`, in order, to every node they reach
    /// that has no parent yet.
    fn search(&mut self, graph: &HeapGraph, roots: &[u32]) {
        let parent = &mut self.parent;
        let mut queue: VecDeque<u32> = VecDeque::new();
        for &r in roots {
            let n = graph.root_node(r);
            parent[n as usize] = SUPER_ROOT;
            queue.push_back(n);
        }
        while let Some(v) = queue.pop_front() {
            for &w in graph.csr.successors(v) {
                if parent[w as usize] == UNREACHABLE {
                    parent[w as usize] = v;
                    queue.push_back(w);
                }
            }
        }
    }

    /// The nodes from a root's node down to `node`, or `None` if no root
    /// reaches it.
    pub fn nodes_to(&self, node: u32) -> Option<Vec<u32>> {
        let mut path = vec![node];
        let mut at = node;
        loop {
            let p = *self.parent.get(at as usize)?;
            if p == UNREACHABLE {
                return None;
            }
            if p == SUPER_ROOT {
                break;
            }
            path.push(p);
            at = p;
        }
        path.reverse();
        Some(path)
    }
}

/// Names the links of retaining paths: the snapshot's edges between the
/// consecutive blocks of each path, and task values hanging from storage.
#[derive(Debug)]
pub struct Linker {
    /// `(from, to)` block pairs wanted, and the best link found.
    edges: HashMap<(u32, u32), Via>,
    /// Task storage block -> its task root.
    storage_roots: HashMap<u32, u32>,
}

impl Linker {
    /// A linker for the block paths `paths` (node lists from
    /// [`ShortestPaths::nodes_to`]), reading the snapshot's edges once.
    pub fn new<'a>(
        snap: &Snapshot,
        graph: &HeapGraph,
        paths: impl IntoIterator<Item = &'a [u32]>,
    ) -> Linker {
        let mut edges: HashMap<(u32, u32), Option<Via>> = HashMap::new();
        for path in paths {
            let blocks: Vec<u32> = path.iter().filter_map(|&n| graph.node_block(n)).collect();
            for pair in blocks.windows(2) {
                edges.insert((pair[0], pair[1]), None);
            }
        }
        for e in &snap.edges {
            if let Some(link) = edges.get_mut(&(e.from, e.to)) {
                let via = match e.kind {
                    EdgeKind::Typed => Via::Field(e.label),
                    EdgeKind::Conservative => Via::Conservative,
                };
                // A typed edge says more than a conservative one.
                if !matches!(link, Some(Via::Field(_))) {
                    *link = Some(via);
                }
            }
        }
        let storage_roots = (snap.roots.iter().zip(0u32..))
            .filter_map(|(r, i)| {
                let task = snap.tasks.get(r.task? as usize)?;
                Some((task.storage?, i))
            })
            .collect();
        Linker {
            edges: edges
                .into_iter()
                .filter_map(|(k, v)| Some((k, v?)))
                .collect(),
            storage_roots,
        }
    }

    /// The retaining path along `nodes` (from [`ShortestPaths::nodes_to`]).
    pub fn path(&self, snap: &Snapshot, graph: &HeapGraph, nodes: &[u32]) -> RetainingPath {
        let root = graph.node_root(nodes[0]).expect("a path starts at a root");
        let mut links = Vec::with_capacity(nodes.len());
        let mut previous: Option<u32> = None;
        let mut root_label = 0;
        for &n in &nodes[1..] {
            let b = graph.node_block(n).expect("roots only start paths");
            let via = match previous {
                None => {
                    root_label = snap.roots[root as usize].label_of(b);
                    Via::Conservative
                }
                Some(p) => self.link(snap, p, b),
            };
            links.push((via, b));
            previous = Some(b);
        }
        let kind = snap.roots[root as usize].kind;
        if let Some(first) = links.first_mut()
            && matches!(kind, RootKind::Task | RootKind::Named)
        {
            let storage =
                (snap.roots[root as usize].task).and_then(|t| snap.tasks.get(t as usize)?.storage);
            first.0 = match storage {
                Some(s) if s == first.1 => Via::Future,
                _ => Via::Field(root_label),
            };
        }
        RetainingPath {
            root,
            root_label,
            links,
        }
    }

    /// How block `from` points at block `to`: a typed field, else the
    /// task value hanging from a storage block, else a conservative word.
    fn link(&self, snap: &Snapshot, from: u32, to: u32) -> Via {
        let edge = self.edges.get(&(from, to)).copied();
        if let Some(Via::Field(_)) = edge {
            return edge.expect("matched");
        }
        let task_value = self.storage_roots.get(&from).and_then(|&r| {
            let root = &snap.roots[r as usize];
            root.targets.binary_search(&to).ok()?;
            Some(Via::TaskValue(root.label_of(to)))
        });
        task_value.or(edge).unwrap_or(Via::Conservative)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Block, Edge, Root, Task, TaskState};

    fn block(i: u64) -> Block {
        Block {
            addr: 0x1000 * (i + 1),
            size: 8,
            ..Block::default()
        }
    }

    /// Blocks 0..6. A static reaches 0 -> 1 -> 2 -> 3; a thread stack
    /// reaches 0 and 3 directly; a task (storage 4) has typed value 5, which
    /// points at 1 by a field; block 6 is unreachable.
    fn snapshot() -> Snapshot {
        let mut typed = Edge::new(5, 1);
        typed.kind = EdgeKind::Typed;
        typed.label = 2;
        Snapshot {
            strings: vec![
                "".into(),
                "app::CACHE".into(),
                "entries".into(),
                "state".into(),
            ],
            blocks: (0..7).map(block).collect(),
            edges: vec![Edge::new(0, 1), Edge::new(1, 2), Edge::new(2, 3), typed],
            roots: vec![
                Root {
                    kind: RootKind::ThreadStack,
                    targets: vec![0, 3],
                    ..Root::default()
                },
                Root {
                    kind: RootKind::Static,
                    targets: vec![0],
                    labels: vec![1],
                    ..Root::default()
                },
                Root {
                    kind: RootKind::Task,
                    targets: vec![4, 5],
                    labels: vec![0, 3],
                    task: Some(0),
                    ..Root::default()
                },
            ],
            tasks: vec![Task {
                storage: Some(4),
                ..Task::default()
            }],
            ..Snapshot::default()
        }
    }

    fn path_to(snap: &Snapshot, b: u32) -> Option<RetainingPath> {
        let g = HeapGraph::new(snap);
        let sp = ShortestPaths::new(snap, &g);
        let nodes = sp.nodes_to(g.block_node(b))?;
        let linker = Linker::new(snap, &g, [nodes.as_slice()]);
        Some(linker.path(snap, &g, &nodes))
    }

    #[test]
    fn a_static_wins_a_tie_with_a_stack_and_is_named() {
        let s = snapshot();
        let p = path_to(&s, 0).unwrap();
        assert_eq!((p.root, p.root_label), (1, 1));
        assert_eq!(p.links, [(Via::Conservative, 0)]);
    }

    #[test]
    fn task_values_hang_from_storage_with_their_field_paths() {
        let s = snapshot();
        let p = path_to(&s, 5).unwrap();
        assert_eq!(p.root, 2);
        assert_eq!(p.links, [(Via::Future, 4), (Via::TaskValue(3), 5)]);
        // Block 1: two links from the static, three through the task.
        let p = path_to(&s, 1).unwrap();
        assert_eq!(p.root, 1);
        assert_eq!(p.links, [(Via::Conservative, 0), (Via::Conservative, 1)]);
    }

    #[test]
    fn a_thread_stack_holds_only_what_nothing_else_reaches() {
        let mut s = snapshot();
        // Block 3: one link from the stack, four from the static.
        let p = path_to(&s, 3).unwrap();
        assert_eq!(p.root, 1);
        assert_eq!(p.links.len(), 4);
        s.edges.retain(|e| e.to != 3);
        let p = path_to(&s, 3).unwrap();
        assert_eq!(p.root, 0);
        assert_eq!(p.links, [(Via::Conservative, 3)]);
    }

    #[test]
    fn a_finished_task_does_not_hold_its_own_future() {
        let mut s = snapshot();
        s.edges.push(Edge::new(2, 4));
        s.tasks[0].state = TaskState::Completed;
        let p = path_to(&s, 4).unwrap();
        assert_eq!(p.root, 1, "held through the static's chain");
        assert_eq!(p.links.last(), Some(&(Via::Conservative, 4)));
    }

    #[test]
    fn unreachable_blocks_have_no_path() {
        assert!(path_to(&snapshot(), 6).is_none());
    }
}
