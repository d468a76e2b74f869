//! Which node is which: the order of the nodes (rule 2) and the blocks no
//! root reaches.

use super::Error;
use crate::analysis::Analysis;
use crate::model::RootKind;

/// Fields of one node in the nodes array.
pub const NODE_FIELDS: u32 = 7;

/// The most nodes whose offsets (`ordinal * NODE_FIELDS`) fit in a `u32`.
pub const MAX_NODES: u64 = u32::MAX as u64 / NODE_FIELDS as u64;

/// A synthetic node grouping the roots of one kind, or the unreachable
/// blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    Tasks,
    Named,
    Statics,
    ThreadStacks,
    ThreadLocals,
    Unreachable,
}

impl Category {
    /// Every category, in node order.
    pub const ALL: [Category; 6] = [
        Category::Tasks,
        Category::Named,
        Category::Statics,
        Category::ThreadStacks,
        Category::ThreadLocals,
        Category::Unreachable,
    ];

    /// The node's name.
    pub fn name(self) -> &'static str {
        match self {
            Category::Tasks => "(tasks)",
            Category::Named => "(named roots)",
            Category::Statics => "(static data)",
            Category::ThreadStacks => "(thread stacks)",
            Category::ThreadLocals => "(thread-locals)",
            Category::Unreachable => "(unreachable)",
        }
    }

    /// The category of roots of `kind`.
    pub fn of(kind: RootKind) -> Category {
        match kind {
            RootKind::Task => Category::Tasks,
            RootKind::Named => Category::Named,
            RootKind::Static => Category::Statics,
            RootKind::ThreadStack => Category::ThreadStacks,
            RootKind::ThreadLocal => Category::ThreadLocals,
        }
    }

    /// Its index in [`Category::ALL`].
    pub fn index(self) -> usize {
        Category::ALL.iter().position(|&c| c == self).unwrap_or(0)
    }
}

/// What a node stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    /// The root, node 0.
    Root,
    /// A grouping node.
    Category(Category),
    /// Root `r` of the snapshot.
    SnapRoot(u32),
    /// Block `b`.
    Block(u32),
}

/// The order of the nodes.
#[derive(Debug)]
pub struct Layout {
    /// The categories present, in node order from node 1.
    pub categories: Vec<Category>,
    /// The node of root 0.
    pub first_root: u32,
    /// The node of block 0.
    pub first_block: u32,
    /// Number of nodes.
    pub nodes: u32,
    /// The blocks no root reaches, in block order.
    pub unreachable: Vec<u32>,
}

impl Layout {
    /// The layout of `a`'s snapshot, or an error if it has too many nodes.
    pub fn new(a: &Analysis) -> Result<Layout, Error> {
        let snap = a.snapshot();
        let (graph, retained) = (a.graph(), a.retained());
        let unreachable: Vec<u32> = (0..snap.blocks.len() as u32)
            .filter(|&b| !retained.reachable(graph.block_node(b)))
            .collect();
        let categories: Vec<Category> = (Category::ALL.into_iter())
            .filter(|&c| match c {
                Category::Unreachable => !unreachable.is_empty(),
                c => snap.roots.iter().any(|r| Category::of(r.kind) == c),
            })
            .collect();
        let total =
            1 + categories.len() as u64 + snap.roots.len() as u64 + snap.blocks.len() as u64;
        if total > MAX_NODES {
            return Err(Error::TooManyNodes { nodes: total });
        }
        let first_root = 1 + categories.len() as u32;
        let first_block = first_root + snap.roots.len() as u32;
        Ok(Layout {
            categories,
            first_root,
            first_block,
            nodes: total as u32,
            unreachable,
        })
    }

    /// What node `n` stands for.
    pub fn node(&self, n: u32) -> Node {
        match n {
            0 => Node::Root,
            n if n < self.first_root => Node::Category(self.categories[n as usize - 1]),
            n if n < self.first_block => Node::SnapRoot(n - self.first_root),
            n => Node::Block(n - self.first_block),
        }
    }

    /// The node of category `c` (which must be present).
    pub fn category_node(&self, c: Category) -> u32 {
        let i = self.categories.iter().position(|&x| x == c);
        1 + i.unwrap_or(0) as u32
    }

    /// The node of root `r`.
    pub fn root_node(&self, r: u32) -> u32 {
        self.first_root + r
    }

    /// The node of block `b`.
    pub fn block_node(&self, b: u32) -> u32 {
        self.first_block + b
    }
}
