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
//!
//! # Paths stored once
//!
//! 1. **The tree is the store.** The search's parents form a shortest-path
//!    tree; a path is never copied out of it but read by walking up from
//!    its block. A link's kind ([`Via`]) is looked up when a walk needs it:
//!    a binary search in the snapshot's sorted edges.
//! 2. **Signatures.** Chosen blocks are grouped by the *signature* of their
//!    path: per node, an interned id of (its parent's signature, its link's
//!    kind, its holder's shape). Shapes come from the caller ([`Shapes`]):
//!    equal exactly when two holders print the same, so equal signatures
//!    print the same path. A signature is computed once per node, on
//!    demand, climbing only to the nearest node that has one: signing every
//!    chosen block costs one step per node on their paths, never depth ×
//!    blocks.
//! 3. **Elision.** A path is printed from a [`PathSummary`]: its first and
//!    last few links, and for the middle only a count and the holder shape
//!    most of it shares. Two walks up the tree make it, in memory
//!    independent of the path's depth.
//! 4. **Order.** Groups come most bytes first, then most blocks, then the
//!    deepest path (it shows the most of the structure: a list's deepest
//!    node, not its first), then the lowest example address.

use super::dominators::UNREACHABLE;
use super::graph::{HeapGraph, SUPER_ROOT};
use crate::model::{BlockIndex, RootKind, Snapshot, StringIndex};
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
    /// A field reported by a `Trace` impl, with its label (the empty
    /// string for none).
    Field(StringIndex),
    /// The typed value a task root shares, at this field path (the empty
    /// string for none), hanging from the task's storage.
    TaskValue(StringIndex),
    /// A task root's own storage block: the task's future.
    Future,
}

/// A retaining path, whole: a root, then blocks down to the one asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetainingPath {
    /// The root (index into [`Snapshot::roots`]).
    pub root: u32,
    /// The root's label for its first block: for statics, the symbol of the
    /// static holding the pointer; for typed roots, the field path (0 for
    /// none).
    pub root_label: StringIndex,
    /// Each block from the root's target to the block asked about, with how
    /// the previous one (or the root) points at it.
    pub links: Vec<(Via, BlockIndex)>,
}

/// Whether root `r` is a completed or cancelled task's: such a task holds
/// nothing, and what keeps its storage alive (a `JoinHandle`, a stored
/// `Waker`) is the answer wanted, so the search does not start from it.
fn is_finished_task(snap: &Snapshot, r: u32) -> bool {
    let task = (snap.roots[r as usize].task).and_then(|t| snap.tasks.get(t.index()));
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

    /// The node before `node` on its shortest path (the super-root for a
    /// root's node), or `None` if no root reaches it.
    pub fn parent(&self, node: u32) -> Option<u32> {
        (self.parent.get(node as usize).copied()).filter(|&p| p != UNREACHABLE)
    }
}

/// How the holders on paths print, as ids: two holders get the same id
/// exactly when they print the same. Paths are grouped by these.
pub trait Shapes {
    /// The id of root `root` holding a block it labels `label` (for a
    /// static, the symbol of the static holding the pointer).
    fn root(&mut self, root: u32, label: StringIndex) -> u32;
    /// The id of block `block` as a holder.
    fn block(&mut self, block: BlockIndex) -> u32;
}

/// Blocks, and their bytes (saturating).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count {
    /// Blocks counted.
    pub blocks: u64,
    /// Their bytes.
    pub bytes: u64,
}

impl Count {
    fn add(&mut self, size: u64) {
        self.blocks += 1;
        self.bytes = self.bytes.saturating_add(size);
    }
}

/// Chosen blocks whose paths have one signature: they print the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathGroup {
    /// The blocks, and their bytes.
    pub count: Count,
    /// The first of them chosen.
    pub example: BlockIndex,
    /// Links on the path.
    pub depth: u32,
}

/// Chosen blocks, grouped by retaining path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grouping {
    /// Every chosen block.
    pub selected: Count,
    /// Chosen blocks no root reaches.
    pub unreachable: Count,
    /// The others by path, in the order of rule 4.
    pub groups: Vec<PathGroup>,
}

/// A retaining path as printed: its first and last links, and its middle
/// elided when long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathSummary {
    /// The root (index into [`Snapshot::roots`]).
    pub root: u32,
    /// The root's label for its first block, as in [`RetainingPath`].
    pub root_label: StringIndex,
    /// The first links, from the root's target down.
    pub head: Vec<(Via, BlockIndex)>,
    /// The links between `head` and `tail`, if any were left out.
    pub elided: Option<Elided>,
    /// The last links, down to the block asked about.
    pub tail: Vec<(Via, BlockIndex)>,
}

/// The middle of a long path, left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elided {
    /// How many links.
    pub links: u64,
    /// A block of the holder shape most of them share.
    pub example: BlockIndex,
    /// How many of them have that shape.
    pub same: u64,
}

/// What is above a block on its path.
#[derive(Debug, Clone, Copy)]
enum Up {
    Root(u32),
    Block(BlockIndex),
}

const NONE: u32 = u32::MAX;
/// The parent signature of a root's pseudo-step.
const ROOT_STEP: u32 = u32::MAX;

/// Retaining paths read from a [`ShortestPaths`] tree, with memoized
/// signatures and holder shapes (rules 1 and 2).
#[derive(Debug)]
pub struct PathTree<'a> {
    snap: &'a Snapshot,
    graph: &'a HeapGraph,
    paths: &'a ShortestPaths,
    /// Task storage block -> its task root.
    storage_roots: HashMap<BlockIndex, u32>,
    /// Per node: its signature, or `NONE` until computed.
    sig: Vec<u32>,
    /// Per node: its block's shape, or `NONE` until computed.
    shape: Vec<u32>,
    /// Signature keys and ids, and each signature's depth.
    ids: HashMap<(u32, Via, u32), u32>,
    depth: Vec<u32>,
}

impl<'a> PathTree<'a> {
    /// The paths of `paths`, searched over `graph`, the graph of `snap`.
    pub fn new(snap: &'a Snapshot, graph: &'a HeapGraph, paths: &'a ShortestPaths) -> Self {
        let storage_roots = (snap.roots.iter().zip(0u32..))
            .filter_map(|(r, i)| Some((snap.tasks.get(r.task?.index())?.storage?, i)))
            .collect();
        let nodes = graph.csr.nodes();
        PathTree {
            snap,
            graph,
            paths,
            storage_roots,
            sig: vec![NONE; nodes],
            shape: vec![NONE; nodes],
            ids: HashMap::new(),
            depth: Vec::new(),
        }
    }

    /// What is above block `b` on its path, or `None` if no root reaches it.
    fn up(&self, b: BlockIndex) -> Option<Up> {
        let p = self.paths.parent(self.graph.block_node(b.get()))?;
        match (self.graph.node_root(p), self.graph.node_block(p)) {
            (Some(r), _) => Some(Up::Root(r)),
            (None, Some(pb)) => Some(Up::Block(BlockIndex::new(pb))),
            (None, None) => None,
        }
    }

    /// How `up` points at block `b`: a typed field, else the task value
    /// hanging from a storage block, else a conservative word.
    fn via(&self, up: Up, b: BlockIndex) -> Via {
        let snap = self.snap;
        let from = match up {
            Up::Root(r) => return first_via(snap, r, b),
            Up::Block(from) => from,
        };
        let edge = (snap
            .edges
            .binary_search_by_key(&(from, b), |e| (e.from, e.to)))
        .map(|i| &snap.edges[i]);
        if let Ok(e) = edge
            && e.kind.is_typed()
        {
            return Via::Field(e.label);
        }
        let task_value = self.storage_roots.get(&from).and_then(|&r| {
            let root = &snap.roots[r as usize];
            root.targets.binary_search(&b).ok()?;
            Some(Via::TaskValue(root.label_of(b)))
        });
        task_value.unwrap_or(Via::Conservative)
    }

    /// The node of block `b`, to index the per-node tables.
    fn node(&self, b: BlockIndex) -> usize {
        self.graph.block_node(b.get()) as usize
    }

    fn shape_of(&mut self, b: BlockIndex, shapes: &mut impl Shapes) -> u32 {
        let n = self.node(b);
        if self.shape[n] == NONE {
            self.shape[n] = shapes.block(b);
        }
        self.shape[n]
    }

    fn intern(&mut self, key: (u32, Via, u32), depth: u32) -> u32 {
        let depths = &mut self.depth;
        *self.ids.entry(key).or_insert_with(|| {
            depths.push(depth);
            depths.len() as u32 - 1
        })
    }

    /// The signature of block `b`'s path (rule 2), or `None` if no root
    /// reaches it.
    fn signature(&mut self, b: BlockIndex, shapes: &mut impl Shapes) -> Option<u32> {
        let mut climb = Vec::new();
        let mut at = b;
        while self.sig[self.node(at)] == NONE {
            let up = self.up(at)?;
            climb.push((at, up));
            match up {
                Up::Root(_) => break,
                Up::Block(p) => at = p,
            }
        }
        for &(b, up) in climb.iter().rev() {
            let (above, depth) = match up {
                Up::Root(r) => {
                    let label = self.snap.roots[r as usize].label_of(b);
                    let root = shapes.root(r, label);
                    (self.intern((ROOT_STEP, Via::Conservative, root), 0), 0)
                }
                Up::Block(p) => {
                    let sig = self.sig[self.node(p)];
                    (sig, self.depth[sig as usize])
                }
            };
            let key = (above, self.via(up, b), self.shape_of(b, shapes));
            let n = self.node(b);
            self.sig[n] = self.intern(key, depth + 1);
        }
        Some(self.sig[self.node(b)])
    }

    /// Groups `chosen` blocks by the signature of their paths (rules 2
    /// and 4).
    pub fn group(&mut self, chosen: &[BlockIndex], shapes: &mut impl Shapes) -> Grouping {
        let mut out = Grouping::default();
        let mut by_sig: HashMap<u32, usize> = HashMap::new();
        for &b in chosen {
            let size = self.snap.block(b).size;
            out.selected.add(size);
            let Some(sig) = self.signature(b, shapes) else {
                out.unreachable.add(size);
                continue;
            };
            let groups = &mut out.groups;
            let depth = self.depth[sig as usize];
            let g = *by_sig.entry(sig).or_insert_with(|| {
                groups.push(PathGroup {
                    count: Count::default(),
                    example: b,
                    depth,
                });
                groups.len() - 1
            });
            groups[g].count.add(size);
        }
        out.groups.sort_by(|x, y| {
            let key = |g: &PathGroup| (g.count.bytes, g.count.blocks, g.depth);
            key(y).cmp(&key(x)).then(x.example.cmp(&y.example))
        });
        out
    }

    /// Block `b`'s whole path, or `None` if no root reaches it. Memory
    /// follows the path's depth: for one block, not for many.
    pub fn path(&self, b: BlockIndex) -> Option<RetainingPath> {
        let mut links = Vec::new();
        let mut at = b;
        let root = loop {
            let up = self.up(at)?;
            links.push((self.via(up, at), at));
            match up {
                Up::Root(r) => break r,
                Up::Block(p) => at = p,
            }
        };
        links.reverse();
        Some(RetainingPath {
            root,
            root_label: self.snap.roots[root as usize].label_of(at),
            links,
        })
    }

    /// Block `b`'s path as printed (rule 3): the first `head` and last
    /// `tail` links, and the middle elided when that leaves out two or
    /// more; `None` if no root reaches it.
    pub fn summary(
        &mut self,
        b: BlockIndex,
        head: usize,
        tail: usize,
        shapes: &mut impl Shapes,
    ) -> Option<PathSummary> {
        let (root, top, len) = self.top(b)?;
        let (head, tail) = match len > head + tail + 1 {
            true => (head, tail),
            false => (len, 0),
        };
        let mut out = PathSummary {
            root,
            root_label: self.snap.roots[root as usize].label_of(top),
            head: Vec::with_capacity(head),
            elided: None,
            tail: Vec::with_capacity(tail),
        };
        let mut middle = Mode::default();
        let (mut at, mut i) = (b, 0);
        while let Some(up) = self.up(at) {
            if i < tail {
                out.tail.push((self.via(up, at), at));
            } else if i >= len - head {
                out.head.push((self.via(up, at), at));
            } else {
                middle.add(self.shape_of(at, shapes), at);
            }
            let Up::Block(p) = up else { break };
            (at, i) = (p, i + 1);
        }
        out.head.reverse();
        out.tail.reverse();
        out.elided = middle.most().map(|(example, same)| Elided {
            links: (len - head - tail) as u64,
            example,
            same,
        });
        Some(out)
    }

    /// Block `b`'s root, the first block below it, and the path's length.
    fn top(&self, b: BlockIndex) -> Option<(u32, BlockIndex, usize)> {
        let (mut at, mut len) = (b, 1);
        loop {
            match self.up(at)? {
                Up::Root(r) => return Some((r, at, len)),
                Up::Block(p) => (at, len) = (p, len + 1),
            }
        }
    }
}

/// How root `r` points at its target `b`: a task's future, a typed root's
/// field, or a word of static data, a stack or thread-locals.
fn first_via(snap: &Snapshot, r: u32, b: BlockIndex) -> Via {
    let root = &snap.roots[r as usize];
    if !matches!(root.kind, RootKind::Task | RootKind::Named) {
        return Via::Conservative;
    }
    let storage = root.task.and_then(|t| snap.tasks.get(t.index())?.storage);
    match storage {
        Some(s) if s == b => Via::Future,
        _ => Via::Field(root.label_of(b)),
    }
}

/// The most common holder shape among the links of a path's middle,
/// counted in runs (a list's nodes are one run: one map update).
#[derive(Debug, Default)]
struct Mode {
    /// Shape -> (links, first block seen).
    counts: HashMap<u32, (u64, BlockIndex)>,
    /// The current run: shape, links, first block.
    run: Option<(u32, u64, BlockIndex)>,
}

impl Mode {
    fn add(&mut self, shape: u32, block: BlockIndex) {
        match &mut self.run {
            Some((s, links, _)) if *s == shape => *links += 1,
            _ => {
                self.flush();
                self.run = Some((shape, 1, block));
            }
        }
    }

    fn flush(&mut self) {
        if let Some((shape, links, block)) = self.run.take() {
            self.counts.entry(shape).or_insert((0, block)).0 += links;
        }
    }

    /// A block of the most common shape, and how many links have it (ties:
    /// the lowest shape id).
    fn most(mut self) -> Option<(BlockIndex, u64)> {
        self.flush();
        (self.counts.into_iter())
            .max_by_key(|&(shape, (links, _))| (links, std::cmp::Reverse(shape)))
            .map(|(_, (links, block))| (block, links))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EdgeKind;
    use crate::model::{Block, Edge, Root, Task, TaskIndex, TaskState};

    fn b(i: u32) -> BlockIndex {
        BlockIndex::new(i)
    }

    fn label(i: u32) -> StringIndex {
        StringIndex::new(i)
    }

    /// Each link's block, as a number.
    fn blocks(links: &[(Via, BlockIndex)]) -> Vec<u32> {
        links.iter().map(|&(_, b)| b.get()).collect()
    }

    fn block(i: u64) -> Block {
        Block {
            addr: 0x1000 * (i + 1),
            size: 8,
            ..Block::default()
        }
    }

    /// Blocks 0..6. A static reaches 0 -> 1 -> 2 -> 3; a thread stack
    /// reaches 0 and 3 directly; a task (storage 4) has typed value 5, which
    /// shares 1 (an `Arc`) by a field; block 6 is unreachable.
    fn snapshot() -> Snapshot {
        let mut typed = Edge::new(b(5), b(1));
        typed.kind = EdgeKind::Shared;
        typed.label = label(2);
        Snapshot {
            strings: vec![
                "".into(),
                "app::CACHE".into(),
                "entries".into(),
                "state".into(),
            ],
            blocks: (0..7).map(block).collect(),
            edges: vec![
                Edge::new(b(0), b(1)),
                Edge::new(b(1), b(2)),
                Edge::new(b(2), b(3)),
                typed,
            ],
            roots: vec![
                Root {
                    kind: RootKind::ThreadStack,
                    targets: vec![b(0), b(3)],
                    ..Root::default()
                },
                Root {
                    kind: RootKind::Static,
                    targets: vec![b(0)],
                    labels: vec![label(1)],
                    ..Root::default()
                },
                Root {
                    kind: RootKind::Task,
                    targets: vec![b(4), b(5)],
                    labels: vec![label(0), label(3)],
                    task: Some(TaskIndex::new(0)),
                    ..Root::default()
                },
            ],
            tasks: vec![Task {
                storage: Some(b(4)),
                ..Task::default()
            }],
            ..Snapshot::default()
        }
    }

    fn path_to(snap: &Snapshot, i: u32) -> Option<RetainingPath> {
        let g = HeapGraph::new(snap);
        let sp = ShortestPaths::new(snap, &g);
        PathTree::new(snap, &g, &sp).path(b(i))
    }

    #[test]
    fn a_static_wins_a_tie_with_a_stack_and_is_named() {
        let s = snapshot();
        let p = path_to(&s, 0).unwrap();
        assert_eq!((p.root, p.root_label), (1, label(1)));
        assert_eq!(p.links, [(Via::Conservative, b(0))]);
    }

    #[test]
    fn task_values_hang_from_storage_with_their_field_paths() {
        let s = snapshot();
        let p = path_to(&s, 5).unwrap();
        assert_eq!(p.root, 2);
        assert_eq!(
            p.links,
            [(Via::Future, b(4)), (Via::TaskValue(label(3)), b(5))]
        );
        // Block 1: two links from the static, three through the task.
        let p = path_to(&s, 1).unwrap();
        assert_eq!(p.root, 1);
        assert_eq!(blocks(&p.links), [0, 1]);
        assert!(p.links.iter().all(|&(via, _)| via == Via::Conservative));
    }

    #[test]
    fn a_block_owned_alone_is_held_by_its_typed_owner_not_a_shorter_word() {
        let mut s = snapshot();
        s.edges[3].kind = EdgeKind::Typed;
        // Block 1: the static's word (two links) is weak against the owner.
        let p = path_to(&s, 1).unwrap();
        assert_eq!(p.root, 2);
        assert_eq!(
            p.links,
            [
                (Via::Future, b(4)),
                (Via::TaskValue(label(3)), b(5)),
                (Via::Field(label(2)), b(1))
            ]
        );
    }

    #[test]
    fn a_thread_stack_holds_only_what_nothing_else_reaches() {
        let mut s = snapshot();
        // Block 3: one link from the stack, four from the static.
        let p = path_to(&s, 3).unwrap();
        assert_eq!(p.root, 1);
        assert_eq!(p.links.len(), 4);
        s.edges.retain(|e| e.to != b(3));
        let p = path_to(&s, 3).unwrap();
        assert_eq!(p.root, 0);
        assert_eq!(p.links, [(Via::Conservative, b(3))]);
    }

    #[test]
    fn a_finished_task_does_not_hold_its_own_future() {
        let mut s = snapshot();
        s.edges.push(Edge::new(b(2), b(4)));
        s.tasks[0].state = TaskState::Completed;
        let p = path_to(&s, 4).unwrap();
        assert_eq!(p.root, 1, "held through the static's chain");
        assert_eq!(p.links.last(), Some(&(Via::Conservative, b(4))));
    }

    #[test]
    fn unreachable_blocks_have_no_path() {
        assert!(path_to(&snapshot(), 6).is_none());
    }

    /// Shapes by type name (blocks) and index (roots), counting the calls.
    #[derive(Default)]
    struct ByType(Vec<u32>, usize);

    impl Shapes for ByType {
        fn root(&mut self, root: u32, _: StringIndex) -> u32 {
            1000 + root
        }

        fn block(&mut self, block: BlockIndex) -> u32 {
            self.1 += 1;
            self.0[block.index()]
        }
    }

    /// A static holding a chain of `n` blocks of 8 bytes, with types from
    /// `kind`; and one more block nothing reaches.
    fn chain(n: u32, kind: impl Fn(u32) -> u32) -> (Snapshot, ByType) {
        let s = Snapshot {
            blocks: (0..=u64::from(n)).map(block).collect(),
            edges: (1..n).map(|i| Edge::new(b(i - 1), b(i))).collect(),
            roots: vec![Root {
                kind: RootKind::Static,
                targets: vec![b(0)],
                ..Root::default()
            }],
            ..Snapshot::default()
        };
        (s, ByType((0..=n).map(kind).collect(), 0))
    }

    #[test]
    fn a_long_path_keeps_its_ends_and_counts_its_middle() {
        // Blocks 0..100: kind 7, except 40..50 of kind 8.
        let (s, mut shapes) = chain(100, |b| if (40..50).contains(&b) { 8 } else { 7 });
        let g = HeapGraph::new(&s);
        let sp = ShortestPaths::new(&s, &g);
        let mut tree = PathTree::new(&s, &g, &sp);
        let p = tree.summary(b(99), 3, 2, &mut shapes).unwrap();
        assert_eq!(
            (p.root, blocks(&p.head), blocks(&p.tail)),
            (0, vec![0, 1, 2], vec![98, 99])
        );
        let e = p.elided.unwrap();
        assert_eq!((e.links, e.same, shapes.0[e.example.index()]), (95, 85, 7));
        // Short enough: whole, nothing elided.
        let p = tree.summary(b(5), 3, 2, &mut shapes).unwrap();
        assert_eq!(
            (blocks(&p.head), p.elided, p.tail.len()),
            (vec![0, 1, 2, 3, 4, 5], None, 0)
        );
        assert_eq!(tree.summary(b(100), 3, 2, &mut shapes), None, "unreachable");
    }

    #[test]
    fn paths_group_by_signature_deepest_first_signing_each_node_once() {
        let (s, mut shapes) = chain(1000, |_| 7);
        let g = HeapGraph::new(&s);
        let sp = ShortestPaths::new(&s, &g);
        let mut tree = PathTree::new(&s, &g, &sp);
        let all: Vec<BlockIndex> = (0..=1000).map(b).collect();
        let grouping = tree.group(&all, &mut shapes);
        assert_eq!(shapes.1, 1000, "one shape per node on the paths");
        assert_eq!(
            grouping.selected,
            Count {
                blocks: 1001,
                bytes: 8008
            }
        );
        assert_eq!(
            grouping.unreachable,
            Count {
                blocks: 1,
                bytes: 8
            }
        );
        assert_eq!(grouping.groups.len(), 1000, "each depth its own path");
        let first = grouping.groups[0];
        assert_eq!(
            (first.example, first.depth, first.count.blocks),
            (b(999), 1000, 1)
        );
        assert_eq!(
            tree.group(&[b(3), b(4)], &mut shapes).groups[0].example,
            b(4)
        );
    }

    #[test]
    fn blocks_held_alike_share_one_group() {
        // The static holds 0; 0 holds 1, 2 and 3 (3 of another kind).
        let mut s = chain(1, |_| 0).0;
        s.blocks = (0..4).map(block).collect();
        s.edges = vec![
            Edge::new(b(0), b(1)),
            Edge::new(b(0), b(2)),
            Edge::new(b(0), b(3)),
        ];
        let mut shapes = ByType(vec![5, 6, 6, 7], 0);
        let g = HeapGraph::new(&s);
        let sp = ShortestPaths::new(&s, &g);
        let grouping = PathTree::new(&s, &g, &sp).group(&[b(1), b(2), b(3)], &mut shapes);
        let groups: Vec<(u32, u64)> = (grouping.groups.iter())
            .map(|g| (g.example.get(), g.count.blocks))
            .collect();
        assert_eq!(groups, [(1, 2), (3, 1)]);
    }
}
