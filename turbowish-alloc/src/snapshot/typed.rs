//! The typed part of a capture, run in the fork child: the task table, task
//! and named roots, typed walks, and the merge of typed edges into the
//! conservative graph.
//!
//! Everything here reads the frozen image: the task registry's rows
//! (registry rule 2), and values through [`Tracer`], which checks each block
//! before reading it (trace rule 1).

use crate::heap::record::Record;
use crate::snapshot::scan::AddressIndex;
use crate::tasks::registry::{self, Slot};
use crate::trace::{EdgeKind, Holder, Tracer, WalkOutput};
use core::sync::atomic::Ordering;
use std::collections::HashMap;
use std::time::Instant;
use turbowish_format::StringTable;
use turbowish_format::{
    BlockIndex, Container, Edge, Root, RootKind, Snapshot, StringIndex, Task, TaskIndex, TaskKind,
};

/// The clocks at the fork, to turn the registry's coarse monotonic times
/// into wall-clock times.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clocks {
    pub(crate) mono_ns: u64,
    pub(crate) wall_ns: u64,
}

impl Clocks {
    pub(crate) fn now() -> Clocks {
        Clocks {
            mono_ns: crate::clock::now_ns(),
            wall_ns: crate::clock::wall_ns(),
        }
    }

    fn wall(&self, mono: u64) -> u64 {
        if mono == 0 {
            return 0;
        }
        self.wall_ns
            .saturating_sub(self.mono_ns.saturating_sub(mono))
    }
}

/// A registry row that goes into the snapshot.
struct Row {
    slot: &'static Slot,
    task: bool,
    storage: Option<BlockIndex>,
}

/// What the typed part adds: call [`Typed::collect`], then
/// [`Typed::apply`] once the snapshot's conservative edges and roots exist.
pub(crate) struct Typed {
    rows: Vec<Row>,
    walk: WalkOutput,
    pub(crate) walk_ns: u64,
}

impl Typed {
    /// Reads the registry and runs every typed walk. `first_root` is the
    /// number of roots that come before the typed ones.
    pub(crate) fn collect(
        records: &[Record],
        index: &AddressIndex,
        readable: &[(u64, u64)],
        first_root: u32,
    ) -> Typed {
        let rows = rows(records, index);
        let started = Instant::now();
        let mut tracer = Tracer::new(index, readable).frozen();
        for (n, row) in (first_root..).zip(&rows) {
            if let Some((addr, trace)) = row.slot.value() {
                // SAFETY: a published value's address and walker were set
                // together by its owner (registry rule 2), and the walker
                // checks the bytes before reading them.
                tracer.walk_root(n, |t| unsafe { trace(addr, t) });
            }
        }
        Typed {
            rows,
            walk: tracer.finish(),
            walk_ns: started.elapsed().as_nanos() as u64,
        }
    }

    /// The traced tasks' storage blocks, known before the scan (wakers
    /// rule 3).
    pub(crate) fn storage_blocks(&self) -> impl Iterator<Item = u32> + '_ {
        self.rows.iter().filter_map(|r| r.storage).map(|b| b.get())
    }

    /// The (block, target) pairs a walk found by reading words
    /// conservatively (`Tracer::scan`, a held lock): the wake
    /// classification reads those words again (wakers rule 6).
    pub(crate) fn scanned_edges(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        let scanned = self.walk.edges.iter();
        scanned.filter_map(|e| match e.from {
            Holder::Block(from) if e.kind == EdgeKind::Conservative => Some((from, e.to)),
            _ => None,
        })
    }

    /// Which of `n` blocks the walks covered completely (trace rule 4).
    pub(crate) fn complete_mask(&self, n: usize) -> Vec<bool> {
        let mut mask = vec![false; n];
        for &b in &self.walk.complete {
            mask[b as usize] = true;
        }
        mask
    }

    /// Adds tasks, typed roots, type names, containers and typed edges to
    /// `snap`, whose `edges` hold the conservative edges (trace rule 4);
    /// `wakes` gives the kinds of the pairs of [`Typed::scanned_edges`]
    /// that are wake pointers.
    pub(crate) fn apply(
        self,
        snap: &mut Snapshot,
        strings: &mut StringTable,
        clocks: Clocks,
        wakes: &HashMap<(u32, u32), turbowish_format::EdgeKind>,
    ) {
        let Typed {
            rows,
            walk,
            walk_ns,
        } = self;
        let first_root = snap.roots.len() as u32;
        for row in &rows {
            let task = row.task.then(|| {
                let task = task_row(snap, strings, row, clocks);
                snap.tasks.push(task);
                TaskIndex::new(snap.tasks.len() as u32 - 1)
            });
            let root = typed_root(snap, strings, row, task);
            snap.roots.push(root);
        }
        let labels: Vec<StringIndex> = walk
            .labels
            .all
            .iter()
            .map(|l| strings.intern(snap, l))
            .collect();
        label_root_targets(snap, &labels, &walk, first_root);
        name_blocks(snap, strings, &walk);
        merge_edges(snap, &labels, &walk, wakes);
        snap.containers = containers(&walk);
        let c = &mut snap.capture;
        c.typed_ns = walk_ns;
        c.typed_rejected = walk.rejected;
        c.typed_locked = walk.locked;
        c.typed_truncated = walk.truncated;
        c.typed_panics = walk.panics;
        c.tasks_dropped = registry::DROPPED.load(Ordering::Relaxed);
    }
}

/// The registry rows to report: every live row, and finished tasks whose
/// storage block is still live (zombies, registry rule 4).
fn rows(records: &[Record], index: &AddressIndex) -> Vec<Row> {
    registry::all()
        .filter_map(|(i, slot)| {
            let state = slot.state.load(Ordering::Acquire);
            let task = slot.kind.load(Ordering::Relaxed) == registry::KIND_TASK;
            let storage = match slot.storage() {
                // The watched record (table rule 8), if it is in this image.
                Some(addr) => index.find(addr as u64).filter(|&b| {
                    let r = &records[b as usize];
                    r.addr == addr && r.watcher == i + 1
                }),
                // Not found in-process (an executor whose waker does not
                // lead to it): the block that contains the future now.
                None if state == registry::LIVE => match slot.wrapper.load(Ordering::Relaxed) {
                    0 => None,
                    w => index.find(w as u64),
                },
                None => None,
            };
            let row = Row {
                slot,
                task,
                storage: storage.filter(|_| task).map(BlockIndex::new),
            };
            let keep =
                state == registry::LIVE || (state == registry::FINISHED && row.storage.is_some());
            keep.then_some(row)
        })
        .collect()
}

fn task_row(snap: &mut Snapshot, strings: &mut StringTable, row: &Row, clocks: Clocks) -> Task {
    let s = row.slot;
    let (state, polls) = s.task_progress(s.state.load(Ordering::Acquire));
    let (file, line, column) = s
        .location()
        .map_or(("", 0, 0), |l| (l.file(), l.line(), l.column()));
    Task {
        serial: s.serial.load(Ordering::Relaxed),
        id: s.tag.load(Ordering::Relaxed),
        name: strings.intern(snap, &s.name()),
        file: strings.intern(snap, file),
        line,
        column,
        future_type: strings.intern(snap, s.type_name()),
        future_size: s.future_size.load(Ordering::Relaxed),
        state,
        polls,
        spawned_ns: clocks.wall(s.spawned_ns.load(Ordering::Relaxed)),
        last_poll_ns: clocks.wall(s.last_poll_ns.load(Ordering::Relaxed)),
        finished_ns: clocks.wall(s.finished_ns.load(Ordering::Relaxed)),
        storage: row.storage,
        value_type: strings.intern(snap, s.value_type()),
        kind: TaskKind::Traced,
        cell: None,
        future_block: None,
        refs: 0,
        join_handle: false, // known from a cell (cell rule 6)
    }
}

/// The root for a row: a task's storage block (its typed value's targets are
/// added by [`label_root_targets`]), or a named root.
fn typed_root(
    snap: &mut Snapshot,
    strings: &mut StringTable,
    row: &Row,
    task: Option<TaskIndex>,
) -> Root {
    let s = row.slot;
    let name = s.name();
    let label = if name.is_empty() {
        s.type_name().to_owned()
    } else {
        name
    };
    let start = match task {
        Some(_) => s.wrapper.load(Ordering::Relaxed),
        None => s.value.load(Ordering::Relaxed),
    } as u64;
    Root {
        kind: if task.is_some() {
            RootKind::Task
        } else {
            RootKind::Named
        },
        label: strings.intern(snap, &label),
        start,
        len: s.future_size.load(Ordering::Relaxed),
        targets: row.storage.into_iter().collect(),
        labels: Vec::new(),
        kinds: Vec::new(),
        task,
    }
}

/// Adds each typed root's walked targets, with their field paths.
fn label_root_targets(snap: &mut Snapshot, labels: &[StringIndex], walk: &WalkOutput, first: u32) {
    let mut per_root: Vec<Vec<(BlockIndex, StringIndex)>> = vec![Vec::new(); snap.roots.len()];
    for e in &walk.edges {
        if let Holder::Root(n) = e.from
            && n >= first
            && let Some(list) = per_root.get_mut(n as usize)
        {
            list.push((BlockIndex::new(e.to), labels[e.label as usize]));
        }
    }
    for (root, mut typed) in snap.roots.iter_mut().zip(per_root) {
        if typed.is_empty() {
            continue;
        }
        // The storage target (a task's) keeps an empty label.
        typed.extend(root.targets.iter().map(|&t| (t, StringIndex::EMPTY)));
        typed.sort_by_key(|&(t, label)| (t, label.is_empty()));
        typed.dedup_by_key(|&mut (t, _)| t);
        (root.targets, root.labels) = typed.into_iter().unzip();
    }
}

fn name_blocks(snap: &mut Snapshot, strings: &mut StringTable, walk: &WalkOutput) {
    // Type names are `&'static str`s, a few distinct ones repeated per
    // block: intern each once, keyed by where it lives.
    let mut interned: std::collections::HashMap<(usize, usize), StringIndex> = Default::default();
    for e in &walk.edges {
        if e.kind != EdgeKind::Typed || e.type_name.is_empty() {
            continue;
        }
        let Some(b) = snap.blocks.get(e.to as usize) else {
            continue;
        };
        if !b.type_name.is_empty() {
            continue;
        }
        let key = (e.type_name.as_ptr() as usize, e.type_name.len());
        let name = match interned.get(&key) {
            Some(&n) => n,
            None => {
                let n = strings.intern(snap, e.type_name);
                interned.insert(key, n);
                n
            }
        };
        snap.blocks[e.to as usize].type_name = name;
    }
}

/// Trace rule 4: a completely walked block has only its walked edges (the
/// scan never read it); elsewhere a walked edge replaces the conservative
/// edge to the same target, and the others stay. A conservatively read
/// walked edge takes its kind from `wakes` (wakers rule 6).
fn merge_edges(
    snap: &mut Snapshot,
    labels: &[StringIndex],
    walk: &WalkOutput,
    wakes: &HashMap<(u32, u32), turbowish_format::EdgeKind>,
) {
    let mut walked: Vec<Edge> = walk
        .edges
        .iter()
        .filter_map(|e| match e.from {
            Holder::Block(from) => Some(Edge {
                from: BlockIndex::new(from),
                to: BlockIndex::new(e.to),
                kind: match e.kind {
                    EdgeKind::Typed if e.shared => turbowish_format::EdgeKind::Shared,
                    EdgeKind::Typed => turbowish_format::EdgeKind::Typed,
                    EdgeKind::Conservative => (wakes.get(&(from, e.to)).copied())
                        .unwrap_or(turbowish_format::EdgeKind::Conservative),
                },
                label: labels[e.label as usize],
            }),
            Holder::Root(_) => None,
        })
        .collect();
    // Per (from, to): typed first, then labelled, then the rest.
    let rank = |e: &Edge| (e.from, e.to, !e.kind.is_typed(), e.label.is_empty());
    walked.sort_unstable_by_key(rank);
    walked.dedup_by_key(|e| (e.from, e.to));
    // The conservative edges are sorted already: merge the two lists.
    let scanned = core::mem::take(&mut snap.edges);
    let mut out = Vec::with_capacity(scanned.len() + walked.len());
    let mut walked = walked.into_iter().peekable();
    // Completely walked blocks have no scanned edges: the scan skipped them
    // (capture rule 9).
    for e in scanned {
        while let Some(w) = walked.next_if(|w| (w.from, w.to) < (e.from, e.to)) {
            out.push(w);
        }
        match walked.next_if(|w| (w.from, w.to) == (e.from, e.to)) {
            Some(w) => out.push(w),
            None => out.push(e),
        }
    }
    out.extend(walked);
    snap.edges = out;
}

fn containers(walk: &WalkOutput) -> Vec<Container> {
    let mut out: Vec<Container> = walk
        .containers
        .iter()
        .map(|&(block, len, capacity)| Container {
            block: BlockIndex::new(block),
            len,
            capacity,
        })
        .collect();
    out.sort_by_key(|c| c.block);
    out.dedup_by_key(|c| c.block);
    out
}
