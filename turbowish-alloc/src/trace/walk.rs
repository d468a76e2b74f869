//! Running typed walks, and what they produce.

use super::{Trace, Tracer};
use crate::heap::record::Record;
use crate::snapshot::scan::AddressIndex;

/// Where a typed edge starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Holder {
    /// The root value itself (a typed root, a task's root value), by the
    /// caller's number for it.
    Root(u32),
    /// A heap block, by index.
    Block(u32),
}

/// How an edge was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    /// Reported by a [`Trace`] impl, and checked.
    Typed,
    /// A word that looks like a pointer, found by scanning bytes.
    Conservative,
}

#[derive(Debug)]
pub(crate) struct RawEdge {
    pub(crate) from: Holder,
    pub(crate) to: u32,
    pub(crate) kind: EdgeKind,
    /// Index into [`WalkOutput::labels`].
    pub(crate) label: u32,
    pub(crate) type_name: &'static str,
    /// The impl marked the target shared with other owners
    /// ([`Heap::shared`](super::Heap::shared)).
    pub(crate) shared: bool,
}

/// Field paths, each stored once: a walk of a million elements has a
/// handful of distinct paths.
#[derive(Debug, Default)]
pub(crate) struct Labels {
    pub(crate) all: Vec<String>,
    index: std::collections::HashMap<String, u32>,
}

impl Labels {
    pub(crate) fn intern(&mut self, path: &str) -> u32 {
        if let Some(&i) = self.index.get(path) {
            return i;
        }
        let i = self.all.len() as u32;
        self.all.push(path.to_owned());
        self.index.insert(path.to_owned(), i);
        i
    }
}

/// Everything the walks of one snapshot found.
#[derive(Debug, Default)]
pub(crate) struct WalkOutput {
    pub(crate) edges: Vec<RawEdge>,
    pub(crate) labels: Labels,
    /// Blocks whose walk was complete (rule 4).
    pub(crate) complete: Vec<u32>,
    /// (block, length, capacity) of containers.
    pub(crate) containers: Vec<(u32, u64, u64)>,
    /// Pointers that failed the check (rule 1).
    pub(crate) rejected: u64,
    /// Locks found held (rule 3).
    pub(crate) locked: u64,
    /// Blocks not walked for being too deep (rule 6).
    pub(crate) truncated: u64,
    /// Panic messages, one per walk that panicked (rule 5).
    pub(crate) panics: Vec<String>,
}

impl<'a> Tracer<'a> {
    /// A tracer over the blocks in `index`, of which only the `readable`
    /// ranges may be read.
    pub(crate) fn new(index: &'a AddressIndex, readable: &'a [(u64, u64)]) -> Self {
        Tracer {
            index,
            readable,
            visited: Vec::new(),
            holder: Holder::Root(0),
            path: String::new(),
            path_id: None,
            incomplete: false,
            depth: 0,
            frozen: false,
            out: WalkOutput::default(),
        }
    }

    /// A tracer for the capture child's frozen image (rule 3).
    pub(crate) fn frozen(mut self) -> Self {
        self.frozen = true;
        self
    }

    /// Walks one root value, catching a panic in its impls (rule 5).
    ///
    /// `trace` is called with this tracer; its edges start at
    /// `Holder::Root(root)`.
    pub(crate) fn walk_root(&mut self, root: u32, trace: impl FnOnce(&mut Tracer<'_>)) {
        self.holder = Holder::Root(root);
        self.path.clear();
        self.path_id = None;
        self.depth = 0;
        self.incomplete = false;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| trace(self)));
        if let Err(payload) = result {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned());
            // The blocks the walk was inside are not marked complete: their
            // `heap` calls never returned.
            self.out.panics.push(message);
        }
    }

    /// What the walks found.
    pub(crate) fn finish(self) -> WalkOutput {
        self.out
    }
}

/// One edge found by [`walk`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TracedEdge {
    /// Start address of the block holding the pointer, or `None` for the
    /// walked value itself.
    pub from: Option<usize>,
    /// Start address of the block pointed to.
    pub to: usize,
    /// Size of that block.
    pub size: usize,
    /// The field path from the holder, such as `cache.entries[]`.
    pub label: String,
    /// The block's type as the impl named it (empty for conservative edges).
    pub type_name: &'static str,
    /// Typed, or found by [`Tracer::scan`].
    pub kind: EdgeKind,
    /// Element count and capacity, for containers.
    pub counts: Option<(u64, u64)>,
}

/// The result of [`walk`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Walk {
    /// Every edge, in the order found.
    pub edges: Vec<TracedEdge>,
    /// Start addresses of the blocks walked completely (see rule 4).
    pub complete: Vec<usize>,
    /// Pointers rejected by the check (rule 1).
    pub rejected: u64,
    /// Locks found held.
    pub locked: u64,
    /// Messages of panics caught.
    pub panics: Vec<String>,
}

/// Walks `value` in this process, as a snapshot would, and returns what it
/// reports: for testing [`Trace`] impls.
///
/// Pointers are checked against TurboWish's live blocks (found by walking
/// memory for their headers, a few hundred milliseconds per GiB), so the global
/// allocator must be [`TurboWish`](crate::TurboWish); without it every heap
/// block is rejected.
///
/// ```
/// #[global_allocator]
/// static A: turbowish_alloc::TurboWish = turbowish_alloc::TurboWish::system();
///
/// let v: Vec<String> = vec!["hello".to_owned()];
/// let walk = turbowish_alloc::walk(&v);
/// assert_eq!(walk.edges.len(), 2); // the Vec's buffer, and the String's
/// assert_eq!(walk.edges[0].counts, Some((1, 1)));
/// assert_eq!(walk.edges[1].label, "[]");
/// ```
pub fn walk<T: Trace + ?Sized>(value: &T) -> Walk {
    use crate::heap::enumerate::{Reading, live_blocks};
    crate::heap::guard::with_untracked(|| live_blocks(Reading::Live), |r| walk_among(r, value))
}

/// [`walk`] over the live blocks `records`.
fn walk_among<T: Trace + ?Sized>(records: &[Record], value: &T) -> Walk {
    let index = AddressIndex::new(records.iter().map(|r| (r.addr as u64, r.size as u64)));
    let readable = crate::snapshot::scan::readable_ranges().unwrap_or_default();
    let mut tracer = Tracer::new(&index, &readable);
    tracer.walk_root(0, |t| value.trace(t));
    let out = tracer.finish();
    let addr = |b: u32| records[b as usize].addr;
    let counts = |b: u32| {
        out.containers
            .iter()
            .find(|c| c.0 == b)
            .map(|&(_, len, cap)| (len, cap))
    };
    Walk {
        edges: out
            .edges
            .iter()
            .map(|e| TracedEdge {
                from: match e.from {
                    Holder::Root(_) => None,
                    Holder::Block(b) => Some(addr(b)),
                },
                to: addr(e.to),
                size: records[e.to as usize].size,
                label: out.labels.all[e.label as usize].clone(),
                type_name: e.type_name,
                kind: e.kind,
                counts: if e.kind == EdgeKind::Typed {
                    counts(e.to)
                } else {
                    None
                },
            })
            .collect(),
        complete: out.complete.iter().map(|&b| addr(b)).collect(),
        rejected: out.rejected,
        locked: out.locked,
        panics: out.panics,
    }
}
