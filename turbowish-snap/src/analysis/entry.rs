//! [`Analysis`]: the one entry to the analysis of a snapshot.
//!
//! # Rules
//!
//! 1. **Each part once.** The heap graph, the dominator tree with retained
//!    sizes (and its children lists and block counts), the task rows, the shortest retaining paths, the spawn-site
//!    grouping, the wake analysis and the names of sites are computed at most once per
//!    snapshot, and kept: every report asks the same [`Analysis`].
//! 2. **Only what is asked for.** Each part is computed on first use, with
//!    the parts it needs (task rows need the dominator tree, which needs the
//!    graph): a command that reads only allocation sites never builds the
//!    graph.
//! 3. **Names are computed once per thing named**: a stack's site name on
//!    first use of that stack, a task's spawn site on first use of that task.
//! 4. **Sites are listed merged**: stacks whose site names are the same
//!    text are one row ([`sites`](super::sites) rule 3).

use super::dominator_tree::{self, Dominator, DominatorTree, Level};
use super::graph::HeapGraph;
use super::leaks::{self, Unreachable};
use super::retained::Retained;
use super::retainers::{PathTree, ShortestPaths};
use super::sites::{self, Site, SiteName, name_stack, spawned_at};
use super::spawn::{self, SpawnSite};
use super::tasks::kind::{ShownKind, shown_kind};
use super::tasks::{TaskRow, by_tag, task_rows};
use super::waits::Waits;
use super::waits::drivers::{Driver, driver_of_stack};
use crate::model::{BlockIndex, Snapshot, StackIndex, TaskIndex};
use crate::rules::tag;
use std::cell::OnceCell;
use std::collections::HashMap;

/// A snapshot and what has been computed about it so far (see the module
/// docs for what is computed when).
///
/// ```
/// use turbowish_snap::{Block, BlockIndex, Root, Snapshot};
/// use turbowish_snap::analysis::Analysis;
///
/// let mut snap = Snapshot::default();
/// snap.blocks = vec![
///     Block { addr: 0x1000, size: 64, ..Block::default() },
///     Block { addr: 0x2000, size: 32, ..Block::default() },
/// ];
/// snap.roots.push(Root { targets: vec![BlockIndex::new(0)], ..Root::default() });
/// let a = Analysis::new(&snap);
/// assert_eq!(a.unreachable_total(), (1, 32)); // block 1: no root reaches it
/// ```
#[derive(Debug)]
pub struct Analysis<'a> {
    snap: &'a Snapshot,
    graph: OnceCell<HeapGraph>,
    retained: OnceCell<Retained>,
    tree: OnceCell<DominatorTree>,
    rows: OnceCell<Vec<TaskRow>>,
    by_tag: OnceCell<HashMap<u64, TaskIndex>>,
    unreachable: OnceCell<Vec<Unreachable>>,
    spawned_at: OnceCell<Vec<OnceCell<String>>>,
    spawn_sites: OnceCell<Vec<SpawnSite>>,
    sites: OnceCell<Vec<OnceCell<SiteName>>>,
    merged_sites: OnceCell<Vec<Site<()>>>,
    paths: OnceCell<ShortestPaths>,
    waits: OnceCell<Waits>,
    drivers: OnceCell<Vec<OnceCell<Option<Driver>>>>,
}

impl<'a> Analysis<'a> {
    /// The analysis of `snap`, nothing computed yet.
    pub fn new(snap: &'a Snapshot) -> Analysis<'a> {
        Analysis {
            snap,
            graph: OnceCell::new(),
            retained: OnceCell::new(),
            tree: OnceCell::new(),
            rows: OnceCell::new(),
            by_tag: OnceCell::new(),
            unreachable: OnceCell::new(),
            spawned_at: OnceCell::new(),
            spawn_sites: OnceCell::new(),
            sites: OnceCell::new(),
            merged_sites: OnceCell::new(),
            paths: OnceCell::new(),
            waits: OnceCell::new(),
            drivers: OnceCell::new(),
        }
    }

    /// The snapshot analysed.
    pub fn snapshot(&self) -> &'a Snapshot {
        self.snap
    }

    /// The heap graph.
    pub fn graph(&self) -> &HeapGraph {
        self.graph.get_or_init(|| HeapGraph::new(self.snap))
    }

    /// The dominator tree of the heap graph, and what each node retains.
    pub fn retained(&self) -> &Retained {
        (self.retained).get_or_init(|| Retained::new(self.snap, self.graph()))
    }

    /// The dominator tree as children lists, with block counts.
    pub fn dominator_tree(&self) -> &DominatorTree {
        (self.tree).get_or_init(|| DominatorTree::new(self.snap, self.graph(), self.retained()))
    }

    /// The biggest blocks no other block dominates, at most `limit` of
    /// those retaining `min_bytes` or more, most retained bytes first (see
    /// [`dominator_tree`] for why these).
    pub fn biggest_blocks(&self, limit: usize, min_bytes: u64) -> Level {
        dominator_tree::level(self, self.dominator_tree().top(), limit, min_bytes)
    }

    /// Block `b` with what it retains, or `None` if no root reaches it.
    pub fn dominator(&self, b: BlockIndex) -> Option<Dominator> {
        let node = self.graph().block_node(b.get());
        (self.retained().reachable(node)).then(|| dominator_tree::row(self, node))
    }

    /// The biggest blocks block `b` immediately dominates, as
    /// [`Analysis::biggest_blocks`] chooses them (none if no root reaches
    /// `b`).
    ///
    /// # Panics
    ///
    /// If `b` is not a block of the snapshot.
    pub fn dominated_by(&self, b: BlockIndex, limit: usize, min_bytes: u64) -> Level {
        let children = self
            .dominator_tree()
            .children(self.graph().block_node(b.get()));
        dominator_tree::level(self, children, limit, min_bytes)
    }

    /// The figures of every task, in task order.
    pub fn task_rows(&self) -> &[TaskRow] {
        (self.rows).get_or_init(|| task_rows(self.snap, self.graph(), self.retained()))
    }

    /// The traced task (index into [`Snapshot::tasks`]) whose blocks carry
    /// allocation tag `tag`, if any.
    pub fn task_of_tag(&self, tag: u64) -> Option<TaskIndex> {
        let by_tag = self.by_tag.get_or_init(|| by_tag(self.snap));
        by_tag.get(&tag).copied()
    }

    /// Whether block `b` is reachable from a root.
    pub fn is_reachable(&self, b: BlockIndex) -> bool {
        self.retained().reachable(self.graph().block_node(b.get()))
    }

    /// Blocks no root reaches, by allocation stack and task, largest first.
    pub fn unreachable(&self) -> &[Unreachable] {
        (self.unreachable)
            .get_or_init(|| leaks::unreachable(self.snap, self.graph(), self.retained()))
    }

    /// Blocks no root reaches as allocation sites, keyed by allocating task
    /// (stacks named alike merged, largest first): estimates when stacks
    /// were sampled (see [`leaks::unreachable_by_site`]).
    pub fn unreachable_sites(&self) -> Vec<Site<u64>> {
        let rows = leaks::unreachable_by_site(self.snap, self.graph(), self.retained());
        sites::merge(self, rows)
    }

    /// How many blocks no root reaches, and their bytes (saturating).
    pub fn unreachable_total(&self) -> (u64, u64) {
        (self.unreachable().iter()).fold((0, 0), |(blocks, bytes), u| {
            (blocks + u.blocks, u64::saturating_add(bytes, u.bytes))
        })
    }

    /// Where task `task` (an index into [`Snapshot::tasks`]) was spawned, as
    /// `file:line` with the file shortened (and its crate when not the
    /// program's), or `(unknown)`; a runtime worker's as `file:line
    /// (runtime worker)` ([`kind`](super::tasks::kind) rule 1).
    pub fn spawned_at(&self, task: TaskIndex) -> &str {
        let names = (self.spawned_at).get_or_init(|| {
            (0..self.snap.tasks.len())
                .map(|_| OnceCell::new())
                .collect()
        });
        names[task.index()].get_or_init(|| {
            let t = self.snap.task(task);
            let at = spawned_at(self.snap, t);
            match shown_kind(self.snap, t) {
                ShownKind::Worker => format!("{at} (runtime worker)"),
                _ => at,
            }
        })
    }

    /// The tasks grouped by spawn site, most retained bytes first.
    pub fn spawn_sites(&self) -> &[SpawnSite] {
        self.spawn_sites.get_or_init(|| spawn::group(self))
    }

    /// The name of allocation stack `stack`: its first frame that is the
    /// program's own code (see [`name_stack`]).
    pub fn site(&self, stack: StackIndex) -> &SiteName {
        let names = (self.sites).get_or_init(|| {
            (0..self.snap.stacks.len())
                .map(|_| OnceCell::new())
                .collect()
        });
        match names.get(stack.index()) {
            Some(name) => name.get_or_init(|| name_stack(self.snap, stack)),
            None => &NO_SITE,
        }
    }

    /// The allocation sites of every live block, stacks named alike merged,
    /// largest first (see [`sites::merge`]).
    pub fn sites(&self) -> &[Site<()>] {
        self.merged_sites.get_or_init(|| {
            let totals = sites::by_stack(self.snap, |_| true);
            sites::merge(self, totals.into_iter().map(|t| ((), t)))
        })
    }

    /// The shortest retaining path of every block, as one tree.
    pub fn shortest_paths(&self) -> &ShortestPaths {
        (self.paths).get_or_init(|| ShortestPaths::new(self.snap, self.graph()))
    }

    /// The retaining paths, to read, group and summarize.
    pub fn path_tree(&self) -> PathTree<'_> {
        PathTree::new(self.snap, self.graph(), self.shortest_paths())
    }

    /// Which tasks nothing can wake, why, and how the others can be woken.
    pub fn waits(&self) -> &Waits {
        self.waits.get_or_init(|| Waits::new(self.snap))
    }

    /// The tokio driver that allocated block `b`, if one did (named once
    /// per allocation stack).
    pub fn driver(&self, b: BlockIndex) -> Option<Driver> {
        let stack = self.snap.block(b).stack;
        let drivers = (self.drivers).get_or_init(|| {
            (0..self.snap.stacks.len())
                .map(|_| OnceCell::new())
                .collect()
        });
        let cell = drivers.get(stack.index())?;
        *cell.get_or_init(|| driver_of_stack(self.snap, stack))
    }

    /// The allocation tag of traced task `task`'s blocks.
    pub fn tag_of(&self, task: TaskIndex) -> u64 {
        tag(self.snap.task(task).id)
    }
}

/// The name of a stack that does not exist.
static NO_SITE: SiteName = SiteName {
    dependency: None,
    function: None,
    location: None,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Block, Edge, Root, RootKind, Task};

    fn b(i: u32) -> BlockIndex {
        BlockIndex::new(i)
    }

    fn t(i: u32) -> TaskIndex {
        TaskIndex::new(i)
    }

    /// Two tasks, one retaining a block; a block allocated by the first.
    fn snapshot() -> Snapshot {
        Snapshot {
            blocks: [100, 100, 10]
                .iter()
                .zip(0u64..)
                .map(|(&size, i)| Block {
                    addr: 0x1000 * (i + 1),
                    size,
                    task: [0, 0, 5][i as usize],
                    ..Block::default()
                })
                .collect(),
            edges: vec![Edge::new(b(0), b(2))],
            tasks: (0..2)
                .map(|i| Task {
                    id: [(1 << 32) + 5, 6][i as usize],
                    storage: Some(b(i)),
                    ..Task::default()
                })
                .collect(),
            roots: (0..2)
                .map(|i| Root {
                    kind: RootKind::Task,
                    targets: vec![b(i)],
                    task: Some(t(i)),
                    ..Root::default()
                })
                .collect(),
            ..Snapshot::default()
        }
    }

    #[test]
    fn parts_are_computed_on_first_use_and_kept() {
        let s = snapshot();
        let a = Analysis::new(&s);
        assert!(a.graph.get().is_none() && a.retained.get().is_none());
        assert_eq!(a.site(StackIndex::EMPTY).function, None);
        assert!(a.graph.get().is_none(), "naming a site builds no graph");
        let rows = a.task_rows();
        assert_eq!((rows[0].retained, rows[1].retained), (110, 100));
        let graph: *const HeapGraph = a.graph();
        assert!(std::ptr::eq(graph, a.graph()), "the graph is built once");
        assert!(a.retained.get().is_some());
        assert!(a.paths.get().is_none(), "no retaining paths were asked for");
    }

    #[test]
    fn the_dominator_tree_is_built_once_and_only_when_asked() {
        let s = snapshot();
        let a = Analysis::new(&s);
        a.task_rows();
        assert!(a.tree.get().is_none(), "task rows need no children lists");
        let top = a.biggest_blocks(10, 0);
        let blocks: Vec<BlockIndex> = top.shown.iter().map(|d| d.block).collect();
        assert_eq!(blocks, [b(0), b(1)], "task 0's storage retains block 2");
        let tree: *const DominatorTree = a.dominator_tree();
        assert!(std::ptr::eq(tree, a.dominator_tree()), "built once");
        assert_eq!(a.dominated_by(b(0), 10, 0).shown[0].block, b(2));
    }

    #[test]
    fn tasks_are_found_by_the_tag_of_their_id() {
        let s = snapshot();
        let a = Analysis::new(&s);
        assert_eq!(a.task_of_tag(5), Some(t(0)));
        assert_eq!(a.task_of_tag(6), Some(t(1)));
        assert_eq!(a.task_of_tag(7), None);
        assert_eq!(a.tag_of(t(0)), 5);
        assert_eq!(a.spawned_at(t(1)), "(unknown)");
        assert_eq!(a.site(StackIndex::new(99)).function, None);
    }
}
