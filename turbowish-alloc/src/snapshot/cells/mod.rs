//! Every tokio task, found in the capture child from its task cell: no
//! `tokio_unstable`, no hooks, no wrapper. Each cell becomes a row of the
//! task table and a task root of the heap graph, like a traced task's
//! storage; a traced task and its cell are one row.
//!
//! Facts it relies on (tokio 1.23 to 1.54 with the default configuration):
//! a spawned task is one `#[repr(C)]` `Cell` block, aligned to 128 on
//! x86_64 and aarch64; its `Header` holds the state word at +0,
//! `queue_next` at +8, a pointer to a static `Vtable` at +16 and `owner_id`
//! at +24; the vtable holds seven functions and the offsets of the
//! scheduler, the task id and the trailer; the `Core` holds the scheduler,
//! the task id (what `task::try_id()` returns, so the tag of the blocks
//! the task allocates) and the `#[repr(C)]` stage; the trailer holds the
//! owned-task list's two links, the `JoinHandle`'s waker and hooks.
//!
//! # Rules
//!
//! The code cites these as "cell rule N".
//!
//! 1. A block is a task cell only when all of these agree, never by size
//!    alone: (a) its allocation stack passes through tokio's task
//!    constructor (`Cell::new`, `RawTask::new`, `new_task`; see
//!    [`origin`]); (b) its size is a non-zero multiple of 128; (c) the word
//!    at +16 points into a loaded module's image (a static vtable) whose ten
//!    words are mapped; (d) seven of those words point into code and three
//!    are small multiples of 8, the scheduler, id and trailer offsets, with
//!    32 <= scheduler < id < trailer < size; (e) the id read at the id
//!    offset is not 0.
//! 2. A block of rule 1a that fails 1b to 1e stays a plain block, as before
//!    cells were read, and is counted in the snapshot
//!    (`Capture::cells_not_understood`): another tokio version or layout.
//!    (Under `tokio_unstable`, whose vtable has a fourth offset after the
//!    ten words read, the stage follows the spawn location: see
//!    `Vtable::stage`; that configuration is not tested.)
//! 3. Per cell: the id at the id offset; the state and reference count
//!    from the state word (the format's task rule 7); the future's type
//!    `F` from the first name with generic arguments of the monomorphized
//!    constructor in the cell's allocation stack (`new<F, S>`, as DWARF
//!    names it under `debug = "line-tables-only"`) or of the vtable's
//!    `raw::poll<F, S>` (its DWARF `DW_AT_name` with full debug info, where
//!    symbols are linkage names without them), else `poll`'s symbol name;
//!    the future's size is the
//!    stage's (trailer offset minus the stage's start), or, when the spawn
//!    boxed the future (the type is `Pin<Box<F>>`, unwrapped to `F`), the
//!    box's block size: that block is recorded with the task, and the cell
//!    holds it.
//! 4. The spawn site is the first symbol above tokio's spawn machinery in
//!    the cell's allocation stack, innermost first: past the allocator and
//!    the standard library, past tokio's frames (and the standard
//!    library's among them), the first other one: the line that called
//!    `tokio::spawn` (or `spawn_blocking`), in a library or in the program.
//! 5. Runtime bookkeeping is not ownership. (a) A cell's `queue_next`
//!    (+8, the injection queue) is not scanned. (b) A word of a cell's
//!    trailer pointing at a cell's first byte is a list link of the
//!    owned-task list, and not scanned, unless it is a `Waker`'s data
//!    (wakers rule 2: a waker vtable beside it, on the side this build's
//!    `RawWaker` keeps it; the `JoinHandle`'s waker, for the task awaiting
//!    it), which holds its task. (c) In the runtime's own blocks
//!    (allocated by tokio's code through its runtime, not by the task
//!    constructor: run queues and LIFO slots, the
//!    owned-task list's shards, the blocking pool's queue, deferred
//!    wakers), words pointing at a cell's first byte are not scanned,
//!    (d) unless they are a `Waker`'s data (wakers rule 2): the I/O
//!    driver keeps the wakers of tasks reading and writing sockets in its
//!    own blocks (`ScheduledIo`'s reader and writer wakers), and those
//!    hold their tasks. Every other word is: a `JoinHandle` or a `Waker` anywhere else, a
//!    `JoinSet`'s entries, and interior pointers (a timer's link to the
//!    entry inside a future); the scan classifies those (see
//!    [`wakers`](crate::snapshot::wakers)).
//! 6. Every cell is a task root. A traced task whose id, or whose storage
//!    block, is the cell's is one row with it: the row stays traced and
//!    gains the cell, its reference count and its boxed future; its root
//!    gains the cell as a target.

mod layout;
mod origin;
mod rows;

use crate::heap::record::Record;
use crate::snapshot::modules::LoadedModule;
use crate::snapshot::scan::{self, AddressIndex};
use crate::snapshot::symbolize::Names;
use crate::snapshot::wakers::WakerVtables;
use core::sync::atomic::{AtomicBool, Ordering};
use layout::{CELL_ALIGN, CellWords, FutureType, QUEUE_NEXT_AT, VTABLE_AT, Vtable};
use origin::{Origin, Site};
use std::collections::HashMap;
use std::time::Instant;
use turbowish_format::{BlockIndex, Snapshot, StackIndex, StringIndex, TaskKind};

/// Whether captures look for cells (on unless [`set_finding`] turned it
/// off). The child reads its copy, made at the fork.
static FINDING: AtomicBool = AtomicBool::new(true);

/// Turns finding task cells on or off for later captures: for the capture
/// benchmark's baseline, not a setting (every tokio task is a root).
pub fn set_finding(on: bool) {
    FINDING.store(on, Ordering::Relaxed);
}

/// What [`Cells::find`] has worked out once: vtables by address (index
/// into [`Cells::vtables`], or `None` if one does not verify), and future
/// types by vtable and constructor name (index into [`Cells::types`]).
#[derive(Default)]
struct Seen {
    vtables: HashMap<u64, Option<u32>>,
    types: HashMap<(u32, StringIndex), u32>,
}

/// [`Cells::cell_of`] of a block that is no cell.
const NOT_A_CELL: u32 = u32::MAX;

/// One cell found (rule 1).
#[derive(Debug, Clone)]
pub(crate) struct Cell {
    /// Its block (the same position in the records).
    pub(crate) block: BlockIndex,
    pub(crate) words: CellWords,
    /// Its vtable (index into [`Cells::vtables`]).
    pub(crate) vtable: u32,
    /// Its future's type (index into [`Cells::types`]).
    pub(crate) future_type: u32,
    pub(crate) kind: TaskKind,
    pub(crate) site: Option<Site>,
    /// The boxed future's block, rule 3.
    pub(crate) future_block: Option<BlockIndex>,
}

/// The cells of one capture, and how the scan treats blocks (rule 5).
#[derive(Debug, Default)]
pub(crate) struct Cells {
    pub(crate) cells: Vec<Cell>,
    pub(crate) vtables: Vec<Vtable>,
    /// The futures' types, each once.
    pub(crate) types: Vec<FutureType>,
    /// Rule 2.
    pub(crate) not_understood: u64,
    /// Per block: its cell (index into `cells`), or [`NOT_A_CELL`].
    cell_of: Vec<u32>,
    /// Per block: allocated by the runtime's own code (rule 5c).
    runtime: Vec<bool>,
    /// Module images, sorted, to tell static addresses (rule 1c).
    images: Vec<(u64, u64)>,
    /// Time spent, in ns.
    pub(crate) ns: u64,
}

impl Cells {
    /// Finds the cells among `records` (sorted by address, as `index`),
    /// whose allocation stacks are `snap`'s stack `stack_of(record.stack)`.
    pub(crate) fn find(
        records: &[Record],
        index: &AddressIndex,
        readable: &[(u64, u64)],
        modules: &[LoadedModule],
        snap: &Snapshot,
        stack_of: impl Fn(u32) -> StackIndex,
        names: &Names<'_, '_>,
    ) -> Cells {
        let started = Instant::now();
        let mut cells = Cells {
            runtime: vec![false; records.len()],
            cell_of: vec![NOT_A_CELL; records.len()],
            images: images(modules),
            ..Cells::default()
        };
        if !FINDING.load(Ordering::Relaxed) {
            return cells;
        }
        // Per snapshot stack, its facts, worked out once.
        let mut origins: Vec<Option<Origin>> = vec![None; snap.stacks.len()];
        let mut seen = Seen::default();
        for (b, r) in records.iter().enumerate() {
            let stack = stack_of(r.stack);
            if stack == StackIndex::EMPTY {
                continue;
            }
            let Some(o) = origins.get_mut(stack.index()) else {
                continue;
            };
            let o = *o.get_or_insert_with(|| origin::origin(snap, stack));
            cells.runtime[b] = o.runtime;
            if !o.constructor {
                continue;
            }
            match cells.read(b as u32, r, o, index, readable, names, snap, &mut seen) {
                Some(cell) => {
                    cells.cell_of[b] = cells.cells.len() as u32;
                    cells.cells.push(cell);
                }
                None => cells.not_understood += 1,
            }
        }
        cells.ns = started.elapsed().as_nanos() as u64;
        cells
    }

    /// Reads block `b` as a cell (rules 1b to 1e, 3).
    #[allow(clippy::too_many_arguments)]
    fn read(
        &mut self,
        b: u32,
        r: &Record,
        o: Origin,
        index: &AddressIndex,
        readable: &[(u64, u64)],
        names: &Names<'_, '_>,
        snap: &Snapshot,
        seen: &mut Seen,
    ) -> Option<Cell> {
        let (start, size) = (r.addr as u64, r.size as u64);
        if size == 0 || !size.is_multiple_of(CELL_ALIGN) {
            return None;
        }
        let at = scan::read_word(readable, start + VTABLE_AT)?;
        let images = &self.images;
        let vt = *seen.vtables.entry(at).or_insert_with(|| {
            let vt = Vtable::read(at, readable, names, |a| in_ranges(images, a))?;
            self.vtables.push(vt);
            Some(self.vtables.len() as u32 - 1)
        });
        let vt_index = vt?;
        let vt = &self.vtables[vt_index as usize];
        let words = CellWords::read(start, size, vt, readable)?;
        let future_type = self.future_type(vt_index, o.constructor_name, snap, names, seen);
        let boxed = self.types[future_type as usize].boxed;
        let future_block = (boxed && words.stage_tag == 0)
            .then(|| index.find(words.first_payload))
            .flatten()
            .filter(|&f| index.bounds(f).0 == words.first_payload)
            .map(BlockIndex::new);
        Some(Cell {
            block: BlockIndex::new(b),
            words,
            vtable: vt_index,
            future_type,
            kind: if o.blocking {
                TaskKind::Blocking
            } else {
                TaskKind::Tokio
            },
            site: o.site,
            future_block,
        })
    }

    /// The future type of a cell of vtable `vt` allocated by the
    /// constructor named `constructor` (rule 3), from the first name with
    /// generic arguments: the constructor's (DWARF's, with
    /// `line-tables-only`), `poll`'s symbol, DWARF's own name of `poll`
    /// (with full debug info the others are linkage names without them; a
    /// walk of `poll`'s unit, so the last resort); else `poll`'s symbol.
    fn future_type(
        &mut self,
        vt: u32,
        constructor: StringIndex,
        snap: &Snapshot,
        names: &Names<'_, '_>,
        seen: &mut Seen,
    ) -> u32 {
        *seen.types.entry((vt, constructor)).or_insert_with(|| {
            let v = &self.vtables[vt as usize];
            let ty = (FutureType::of(snap.string(constructor)))
                .or_else(|| FutureType::of(&v.poll_symbol))
                .or_else(|| FutureType::of(&names.dwarf_name_at(v.poll)?))
                .unwrap_or_else(|| FutureType {
                    name: v.poll_symbol.clone(),
                    boxed: false,
                });
            self.types.push(ty);
            self.types.len() as u32 - 1
        })
    }

    /// Whether the scan keeps the word at `at`, holding `word`, in block
    /// `from`, pointing into block `to` whose bounds `index` has (rule 5);
    /// `vtables` tells wakers (rule 5b).
    pub(crate) fn keeps(
        &self,
        index: &AddressIndex,
        (from, at, word, to): (u32, u64, u64, u32),
        vtables: &mut WakerVtables<'_>,
    ) -> bool {
        let to_header = self.cell_of[to as usize] != NOT_A_CELL && index.bounds(to).0 == word;
        let (start, end) = index.bounds(from);
        if self.runtime[from as usize] {
            // Rule 5c, and the wakers the I/O driver keeps (5d).
            return !to_header || vtables.is_waker_data(at, start, end);
        }
        let c = self.cell_of[from as usize];
        if c == NOT_A_CELL {
            return true;
        }
        let offset = at - start;
        if offset == QUEUE_NEXT_AT {
            return false;
        }
        let trailer = self.vtables[self.cells[c as usize].vtable as usize].trailer;
        if offset < trailer || !to_header {
            return true;
        }
        // Rule 5b.
        vtables.is_waker_data(at, start, end)
    }

    /// Block `b`'s stage, as offsets from its start, if it is a cell (rule
    /// 3).
    pub(crate) fn stage_of(&self, b: u32) -> Option<(u64, u64)> {
        let c = self.cells.get(*self.cell_of.get(b as usize)? as usize)?;
        let vt = &self.vtables[c.vtable as usize];
        Some((vt.stage, vt.trailer))
    }

    /// Whether the scan must look at each word of block `b` (rule 5).
    pub(crate) fn filters(&self, b: u32) -> bool {
        self.runtime[b as usize] || self.cell_of[b as usize] != NOT_A_CELL
    }
}

/// The address ranges of the modules' images, sorted and merged per module.
pub(crate) fn images(modules: &[LoadedModule]) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = modules
        .iter()
        .filter_map(|m| {
            let all = m.code.iter().chain(&m.data);
            Some((all.clone().map(|r| r.0).min()?, all.map(|r| r.1).max()?))
        })
        .collect();
    out.sort_unstable();
    out
}

/// Whether `addr` lies in one of `ranges` (sorted, not overlapping).
pub(crate) fn in_ranges(ranges: &[(u64, u64)], addr: u64) -> bool {
    let i = ranges.partition_point(|&(s, _)| s <= addr);
    i > 0 && addr < ranges[i - 1].1
}
