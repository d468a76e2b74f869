//! The edges of every node, in node order (rules 1, 5 and 6): the heap
//! graph's edges, typed and named, and the weak pointers it leaves out.

use super::layout::{Category, Layout, Node};
use super::names::Names;
use crate::analysis::Analysis;
use crate::model::{BlockIndex, Root, RootKind};

/// An edge's `type`: its index in the meta's `edge_types`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum EdgeType {
    /// Numbered: a grouping node's or root's child.
    Element = 1,
    /// A typed pointer, named by its field.
    Property = 2,
    /// Any other pointer, named by its kind.
    Internal = 3,
    /// A pointer that retains nothing.
    Weak = 6,
}

/// One edge: its type, its name (a string index, or for an element its
/// number) and the ordinal of the node it points to.
#[derive(Debug, Clone, Copy)]
pub struct Edge {
    pub kind: EdgeType,
    pub name: u32,
    pub to: u32,
}

/// Every edge, node by node.
#[derive(Debug)]
pub struct Edges {
    /// Edges of each node.
    pub counts: Vec<u32>,
    /// The edges of node 0, then node 1, ...
    pub all: Vec<Edge>,
    /// How many are weak.
    pub weak: u64,
}

impl Edges {
    /// The edges of every node of `layout`, named in `names`.
    pub fn new<'a>(a: &Analysis<'a>, layout: &Layout, names: &mut Names<'_, 'a>) -> Edges {
        let snap = a.snapshot();
        let mut order: Vec<u32> = (0..snap.edges.len() as u32).collect();
        order.sort_by_key(|&e| snap.edges[e as usize].from); // sorted already: linear
        let mut from_storage: Vec<(u32, u32)> = (snap.roots.iter().zip(0u32..))
            .filter_map(|(root, r)| Some((storage(a, root)?.get(), r)))
            .collect();
        from_storage.sort_unstable();
        let mut b = Build {
            a,
            layout,
            names,
            out: Vec::with_capacity(snap.edges.len() + snap.blocks.len()),
            successors: Vec::new(),
            reachable: true,
            order,
            next_edge: 0,
            from_storage,
            next_storage: 0,
        };
        let mut counts = Vec::with_capacity(layout.nodes as usize);
        for n in 0..layout.nodes {
            let before = b.out.len();
            b.node(n);
            counts.push((b.out.len() - before) as u32);
        }
        let weak = b.out.iter().filter(|e| e.kind == EdgeType::Weak).count();
        Edges {
            counts,
            all: b.out,
            weak: weak as u64,
        }
    }
}

/// The storage block of a task root, from which the heap graph hangs the
/// root's other targets.
fn storage(a: &Analysis, root: &Root) -> Option<BlockIndex> {
    a.snapshot().tasks.get(root.task?.index())?.storage
}

/// The state of [`Edges::new`]: nodes are visited in order, so the
/// snapshot's edges (by source) and the task roots (by storage) are read
/// with cursors.
struct Build<'x, 'a, 'n, 'm> {
    a: &'x Analysis<'a>,
    layout: &'x Layout,
    names: &'n mut Names<'m, 'a>,
    out: Vec<Edge>,
    /// The heap graph's successors of the node being visited, sorted.
    successors: Vec<u32>,
    /// Whether a root reaches the node being visited.
    reachable: bool,
    /// The snapshot's edges by source block.
    order: Vec<u32>,
    next_edge: usize,
    /// (storage block, task root), by block.
    from_storage: Vec<(u32, u32)>,
    next_storage: usize,
}

impl Build<'_, '_, '_, '_> {
    fn node(&mut self, n: u32) {
        let layout = self.layout;
        match layout.node(n) {
            Node::Root => {
                let children: Vec<u32> = (layout.categories.iter())
                    .map(|&c| layout.category_node(c))
                    .collect();
                self.elements(children);
            }
            Node::Category(Category::Unreachable) => {
                let blocks = layout.unreachable.iter();
                self.elements(blocks.map(|&b| layout.block_node(b)).collect());
            }
            Node::Category(c) => {
                let roots = (self.a.snapshot().roots.iter().zip(0u32..))
                    .filter(|(r, _)| Category::of(r.kind) == c);
                self.elements(roots.map(|(_, r)| layout.root_node(r)).collect());
            }
            Node::SnapRoot(r) => self.root(r),
            Node::Block(b) => self.block(b),
        }
    }

    fn elements(&mut self, children: Vec<u32>) {
        let edges = (children.into_iter().zip(0u32..)).map(|(to, i)| Edge {
            kind: EdgeType::Element,
            name: i,
            to,
        });
        self.out.extend(edges);
    }

    /// Loads the heap graph's successors of its node `node`.
    fn load(&mut self, node: u32) {
        self.successors.clear();
        (self.successors).extend_from_slice(self.a.graph().csr.successors(node));
        self.successors.sort_unstable();
        self.reachable = self.a.retained().reachable(node);
    }

    /// Whether the loaded node's pointer to graph node `to` may retain it:
    /// the heap graph keeps it, and it does not go from a block no root
    /// reaches to one a root reaches (rule 5).
    fn holds(&self, to: u32) -> bool {
        let kept = self.successors.binary_search(&to).is_ok();
        kept && (self.reachable || !self.a.retained().reachable(to))
    }

    /// Root `r`'s targets, but those hung from its task's storage.
    fn root(&mut self, r: u32) {
        let (snap, graph) = (self.a.snapshot(), self.a.graph());
        let root = &snap.roots[r as usize];
        let storage = storage(self.a, root);
        self.load(graph.root_node(r));
        for (i, &t) in root.targets.iter().enumerate() {
            if storage.is_some_and(|s| s != t) {
                continue;
            }
            let strong = self.holds(graph.block_node(t.get()));
            let (typed, name) = match root.kind {
                RootKind::Task => (true, self.names.text("future")),
                RootKind::Named => (true, self.label(root, i, "(value)")),
                _ => (false, self.label(root, i, root.kind_of(t).name())),
            };
            self.push(strong, typed, name, self.layout.block_node(t.get()));
        }
    }

    /// Root `root`'s label for its target `i`, or `otherwise`.
    fn label(&mut self, root: &Root, i: usize, otherwise: &str) -> u32 {
        match root.labels.get(i) {
            Some(&l) if !self.a.snapshot().string(l).is_empty() => self.names.string(l),
            _ => self.names.text(otherwise),
        }
    }

    /// Block `b`'s pointers, and the task roots' targets hung from it.
    fn block(&mut self, b: u32) {
        let (snap, graph) = (self.a.snapshot(), self.a.graph());
        self.load(graph.block_node(b));
        while let Some(&e) = self.order.get(self.next_edge) {
            let e = &snap.edges[e as usize];
            if e.from.get() != b {
                break;
            }
            self.next_edge += 1;
            let strong = self.holds(graph.block_node(e.to.get()));
            let typed = e.kind.is_typed();
            let name = match snap.string(e.label) {
                label if typed && !label.is_empty() => self.names.string(e.label),
                _ => self.names.text(e.kind.name()),
            };
            self.push(strong, typed, name, self.layout.block_node(e.to.get()));
        }
        while let Some(&(s, r)) = self.from_storage.get(self.next_storage) {
            if s != b {
                break;
            }
            self.next_storage += 1;
            self.hung_from_storage(b, &snap.roots[r as usize]);
        }
    }

    /// Task root `root`'s targets other than its storage `b`.
    fn hung_from_storage(&mut self, b: u32, root: &Root) {
        let graph = self.a.graph();
        for (i, &t) in root.targets.iter().enumerate() {
            if t.get() == b {
                continue;
            }
            let strong = self.holds(graph.block_node(t.get()));
            let name = self.label(root, i, "(value)");
            self.push(strong, true, name, self.layout.block_node(t.get()));
        }
    }

    fn push(&mut self, strong: bool, typed: bool, name: u32, to: u32) {
        let kind = match (strong, typed) {
            (false, _) => EdgeType::Weak,
            (true, true) => EdgeType::Property,
            (true, false) => EdgeType::Internal,
        };
        self.out.push(Edge { kind, name, to });
    }
}
