//! A snapshot as a V8 heap snapshot (`.heapsnapshot`): the JSON file
//! Chrome DevTools' Memory panel loads, and memlab analyses.
//!
//! # The format
//!
//! One JSON object: `snapshot` (a `meta` that names the fields of a node
//! and of an edge and the values of their `type` field, then `node_count`
//! and `edge_count`), then `nodes` and `edges` as flat arrays of unsigned
//! integers, the empty allocation-trace and location arrays, and last
//! `strings`, which every name indexes. A node is seven numbers (`type`,
//! `name`, `id`, `self_size`, `edge_count`, `trace_node_id`,
//! `detachedness`); an edge three (`type`, `name_or_index`, `to_node`),
//! where `to_node` is the index of the target's first number in `nodes`
//! (its ordinal times seven). A node's edges are the `edge_count` edges
//! that follow the previous nodes' edges. Readers keep every number in a
//! 32-bit unsigned integer, and the first node is the root.
//!
//! # Rules
//!
//! 1. **The graph is TurboWish's heap graph**
//!    ([`HeapGraph`](crate::analysis::graph::HeapGraph)), so that DevTools
//!    and memlab compute TurboWish's dominators and retained sizes
//!    ([`analysis::retained`](crate::analysis::retained)): a block's
//!    retained size and immediate dominator are the same in all three. A
//!    task's typed value hangs from its storage block, as in the graph.
//! 2. **Node layout**: the root (synthetic, `(root)`, id 1); one synthetic
//!    node per kind of root present (`(tasks)`, `(named roots)`, `(static
//!    data)`, `(thread stacks)`, `(thread-locals)`), as V8's `(GC roots)`,
//!    and `(unreachable)` when some block no root reaches; one synthetic
//!    node per root of the snapshot, in its order, each under its kind's
//!    node (`task 7 "name" spawned at src/main.rs:10`, `stack of
//!    worker-1`...); then one `native` node per block, in block order. The
//!    kinds' nodes only group the roots: a block that TurboWish says
//!    several roots hold is dominated there by a kind's node or the root.
//! 3. **A block is named by its type** (from a typed walk), else a task's
//!    storage by its future's type, else by its allocation site
//!    (`crate: function (file:line)`, `(no stack)` without one): DevTools'
//!    Summary groups nodes by name. Its `self_size` is its size (at most
//!    `u32::MAX`: larger blocks are cut to it, and counted).
//! 4. **Stable ids**: a block's id is an odd number hashed from its
//!    identity (address and birth epoch), so that two exports of one
//!    process compare in DevTools (Comparison view); a colliding id takes
//!    the next free odd number, in block order. Synthetic nodes have even
//!    ids, the root 1.
//! 5. **Edges by how they were found**: a typed pointer (a `Trace` impl's,
//!    or a typed root's) is a `property` named by its field path; any
//!    other (a conservative word, a waker, join handle or waiter link) is
//!    `internal`, named by its kind (or a static's symbol). A pointer the
//!    heap graph leaves out as weak, and any pointer from a block no root
//!    reaches to one a root reaches, is `weak`: DevTools and memlab skip
//!    weak edges for retention, as TurboWish does. Roots and the grouping
//!    nodes hold their children by `element` edges, numbered.
//! 6. **Unreachable blocks** hang from `(unreachable)`, so that they are
//!    listed rather than flagged as a broken snapshot; what they point at
//!    among reachable blocks they hold weakly (rule 5), so they change no
//!    reachable block's figures.
//! 7. **Streaming**: nodes, edges and strings are written as produced; in
//!    memory only the edges (12 bytes each), one count per node, the ids
//!    and the distinct names.
//!
//! memlab ignores edges named `feedback_cell` (and nodes named `system /
//! PropertyCell`) when it computes dominators: a typed field of that name
//! would make its figures differ from TurboWish's.

mod edges;
mod ids;
mod json;
mod layout;
mod names;

use crate::analysis::Analysis;
use std::io::Write;

/// What [`write`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// Nodes: the synthetic ones and one per block.
    pub nodes: u64,
    /// Edges, weak ones included.
    pub edges: u64,
    /// Edges of type `weak` (rule 5).
    pub weak_edges: u64,
    /// Distinct strings.
    pub strings: u64,
    /// Bytes of JSON written.
    pub bytes: u64,
    /// Blocks of 4 GiB or more, whose `self_size` was cut to `u32::MAX`.
    pub clamped_blocks: u64,
}

/// Why a heap snapshot could not be written.
#[derive(Debug)]
pub enum Error {
    /// Writing failed.
    Io(std::io::Error),
    /// The snapshot has more blocks than a V8 heap snapshot can index
    /// (`to_node` is a 32-bit offset into the nodes array).
    TooManyNodes {
        /// Nodes the export would have.
        nodes: u64,
    },
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Io(e) => write!(f, "{e}"),
            Error::TooManyNodes { nodes } => write!(
                f,
                "{nodes} nodes are more than a V8 heap snapshot can index ({} at most)",
                layout::MAX_NODES
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::TooManyNodes { .. } => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::Io(e)
    }
}

/// Writes `a`'s snapshot to `out` as a V8 heap snapshot (see the module
/// docs). `out` is written in many small pieces: give a buffered writer.
///
/// ```
/// use turbowish_snap::{Block, BlockIndex, Root, Snapshot};
/// use turbowish_snap::analysis::Analysis;
/// use turbowish_snap::export::heapsnapshot;
///
/// let mut snap = Snapshot::default();
/// snap.blocks.push(Block { addr: 0x1000, size: 64, ..Block::default() });
/// snap.roots.push(Root { targets: vec![BlockIndex::new(0)], ..Root::default() });
/// let mut json = Vec::new();
/// let written = heapsnapshot::write(&Analysis::new(&snap), &mut json)?;
/// // (root), (static data), the static's node, the block.
/// assert_eq!((written.nodes, written.edges), (4, 3));
/// assert!(json.starts_with(br#"{"snapshot":{"meta":"#));
/// # Ok::<(), heapsnapshot::Error>(())
/// ```
pub fn write(a: &Analysis, out: &mut dyn Write) -> Result<Written, Error> {
    let layout = layout::Layout::new(a)?;
    let mut names = names::Names::new(a);
    let edges = edges::Edges::new(a, &layout, &mut names);
    let ids = ids::Ids::new(a.snapshot());
    json::write(a, &layout, &edges, &ids, names, out)
}
