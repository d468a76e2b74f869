//! The snapshot the child builds from its frozen image of the process: the
//! live blocks, the edges between them (typed walks first, then the
//! conservative scan: rule 9), the roots (module data, thread stacks and
//! TLS, of the registered threads and of those the parent found that the
//! registry lacks (see [`unregistered`](crate::snapshot::unregistered)), scanned above the capture's own frames: rule 6, and above parked
//! threads' stack pointers: rule 14), the kinds of the words pointing into
//! task storage (wakers, join handles, waiters: see
//! [`wakers`](crate::snapshot::wakers)), symbolized stacks and the process
//! and capture figures (with the memory figures of rule 16),
//! written to the file (rule 5).

use super::parked::Parked;
use super::plan::Plan;
use crate::heap::enumerate;
use crate::heap::figures::AllocatorFigures;
use crate::heap::record::Record;
use crate::heap::stack::intern;
use crate::heap::table;
use crate::snapshot::cells::Cells;
use crate::snapshot::scan::{self, AddressIndex};
use crate::snapshot::statics::Statics;
use crate::snapshot::threads::{self, ThreadInfo};
use crate::snapshot::wakers::{WakerVtables, Wakers, Wakes};
use crate::snapshot::{modules, symbolize, typed, unregistered};
use crate::stderr::Shown;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};
use turbowish_format::StringTable;
use turbowish_format::{
    Block, BlockIndex, Edge, EdgeKind, Root, RootKind, Snapshot, StackIndex, StringIndex,
};

/// Builds the snapshot from the frozen image and writes it to the plan's
/// path, with the pause `pause` gives (rule 12: asked for last, when the
/// parent has long sent it); returns its size in bytes, its blocks and its
/// edges, or why it failed (a line for the report).
pub(super) fn build_and_write(
    plan: &Plan,
    parked: &Parked,
    allocator: Option<AllocatorFigures>,
    pause: impl FnOnce() -> Duration,
) -> Result<(u64, u64, u64), String> {
    let enumerate_started = Instant::now();
    let records = born_before_the_snapshot(enumerate::live_blocks(enumerate::Reading::Frozen));
    let enumerate_ns = enumerate_started.elapsed().as_nanos() as u64;
    let mut snap = Snapshot::default();
    let readable = scan::readable_ranges().map_err(|e| format!("reading /proc/self/maps: {e}"))?;
    let index = AddressIndex::new(records.iter().map(|r| (r.addr as u64, r.size as u64)));
    let ranges = root_ranges(plan, parked, &all_threads(plan, &readable));
    // Typed walks first (rule 9): a block they walked completely has its
    // exact edges, so the conservative scan need not read it.
    let typed = typed::Typed::collect(&records, &index, &readable, ranges.len() as u32);
    // Stacks before the scan: task cells are found from them, and the scan
    // of cells and of the runtime's blocks follows cell rule 5.
    let symbolize_started = Instant::now();
    let (stack_index, cells) = add_stacks(&mut snap, plan, &records, &index, &readable);
    let symbolize_ns = (symbolize_started.elapsed().as_nanos() as u64).saturating_sub(cells.ns);
    let scan_started = Instant::now();
    let walked = typed.complete_mask(records.len());
    let storage = typed.storage_blocks();
    let mut scanner = Scanner {
        index: &index,
        readable: &readable,
        cells: &cells,
        wakers: Wakers::new(records.len(), &cells, storage, &plan.modules, &readable),
        scanned: 0,
    };
    snap.edges = scanner.block_edges(&records, &walked);
    let walked_wakes = scanner.walked_wakes(typed.scanned_edges());
    let scanned_roots: Vec<_> = ranges
        .into_iter()
        .map(|r| {
            let found = scanner.scan_root(r.start, r.end);
            (r, found)
        })
        .collect();
    let scanned = scanner.scanned;
    let scan_ns = scan_started.elapsed().as_nanos() as u64;
    let mut strings = StringTable::new(&snap);
    let mut roots = Vec::with_capacity(scanned_roots.len());
    let mut statics: Vec<Option<Statics>> = plan.modules.iter().map(|_| None).collect();
    for (r, (found, kinds)) in scanned_roots {
        let labels = match r.module {
            Some(m) => {
                let statics = statics[m].get_or_insert_with(|| Statics::load(&plan.modules[m]));
                static_labels(&mut snap, &mut strings, statics, &found)
            }
            None => Vec::new(),
        };
        roots.push(Root {
            kind: r.kind,
            label: strings.intern(&mut snap, &r.label),
            start: r.start,
            len: r.end - r.start,
            targets: found.iter().map(|f| BlockIndex::new(f.0)).collect(),
            labels,
            kinds,
            task: None,
        });
    }
    snap.roots = roots;
    let sampled = crate::init::settings().sample_bytes() != 0;
    snap.blocks = records
        .iter()
        .map(|r| Block {
            addr: r.addr as u64,
            size: r.size as u64,
            task: u64::from(r.task),
            stack: stack_index(r.stack),
            epoch: r.epoch,
            type_name: StringIndex::EMPTY,
            // Sampling rule 4, for the blocks that got their stack by it.
            stack_certain: sampled && r.stack != 0 && r.stack_certain(),
        })
        .collect();
    fill_process(&mut snap, &mut strings, plan);
    fill_capture(
        &mut snap,
        pause(),
        enumerate_ns + scan_ns,
        symbolize_ns,
        scanned,
    );
    plan.memory.fill(allocator, &mut snap.capture);
    typed.apply(&mut snap, &mut strings, plan.clocks, &walked_wakes);
    cells.apply(&mut snap, &mut strings);
    let bytes = turbowish_format::write_file(&snap, &plan.path)
        .map_err(|e| format!("cannot write {}: {e}", Shown::path(&plan.path)))?;
    Ok((bytes, snap.blocks.len() as u64, snap.edges.len() as u64))
}

/// The conservative scan of one capture, which classifies the words
/// pointing into task storage (wakers rules 2 to 5).
struct Scanner<'a> {
    index: &'a AddressIndex,
    readable: &'a [(u64, u64)],
    cells: &'a Cells,
    wakers: Wakers<'a>,
    /// Bytes scanned so far.
    scanned: u64,
}

impl Scanner<'_> {
    /// Pointers from every block to every block, one edge per pair with
    /// its kind (wakers rule 5), except from the blocks `walked` marks
    /// (their edges are the typed walk's) and the words cell rule 5 leaves
    /// out.
    fn block_edges(&mut self, records: &[Record], walked: &[bool]) -> Vec<Edge> {
        let mut edges = Vec::new();
        for (from, r) in records.iter().enumerate() {
            if walked[from] {
                continue;
            }
            // A stale record (a free TurboWish missed) may name unmapped
            // memory: `scan_range` reads only the mapped part.
            let (start, end) = (r.addr as u64, (r.addr + r.size) as u64);
            let from = from as u32;
            let (targets, kinds) = self.scan_block(from, start, end);
            let edge = |to| Edge::new(BlockIndex::new(from), BlockIndex::new(to));
            if kinds.is_empty() {
                edges.extend(targets.into_iter().map(edge));
                continue;
            }
            let kinds = targets.into_iter().zip(kinds);
            edges.extend(kinds.map(|(to, kind)| Edge { kind, ..edge(to) }));
        }
        edges
    }

    /// Wakers rule 6: the wake kinds of the (block, target) pairs a typed
    /// walk read conservatively, `scanned`, read again from the blocks
    /// holding those that point into task storage.
    fn walked_wakes(
        &mut self,
        scanned: impl Iterator<Item = (u32, u32)>,
    ) -> HashMap<(u32, u32), EdgeKind> {
        let mut from: Vec<u32> = (scanned.filter(|&(_, to)| self.wakers.is_storage(to)))
            .map(|(from, _)| from)
            .collect();
        from.sort_unstable();
        from.dedup();
        let mut wakes = HashMap::new();
        for from in from {
            let (start, end) = self.index.bounds(from);
            let (targets, kinds) = self.scan_block(from, start, end);
            let pairs = targets.into_iter().zip(kinds).filter(|(_, k)| k.is_wake());
            wakes.extend(pairs.map(|(to, kind)| ((from, to), kind)));
        }
        wakes
    }

    /// The blocks pointed into from the mapped parts of block `from`, at
    /// `[start, end)`, but for the words cell rule 5 leaves out, sorted,
    /// each once; and their kinds (wakers rule 5: empty when all are
    /// conservative).
    fn scan_block(&mut self, from: u32, start: u64, end: u64) -> (Vec<u32>, Vec<EdgeKind>) {
        let mut targets = Vec::new();
        let found = |_, to| targets.push(to);
        let wakes = match self.cells.filters(from) {
            false => self.scan_range(start, end, |_, _, _, _| true, found),
            true => {
                let (cells, index) = (self.cells, self.index);
                let keep = |vt: &mut WakerVtables<'_>, at, word, to| {
                    cells.keeps(index, (from, at, word, to), vt)
                };
                self.scan_range(start, end, keep, found)
            }
        };
        targets.sort_unstable();
        targets.dedup();
        let kinds = wakes.kinds(targets.iter().copied());
        (targets, kinds)
    }

    /// The blocks pointed into from the mapped parts of `[start, end)`,
    /// sorted, each once, with the address of the first word pointing at
    /// each; and their kinds (wakers rule 5: empty when all are
    /// conservative).
    fn scan_root(&mut self, start: u64, end: u64) -> (Vec<(u32, u64)>, Vec<EdgeKind>) {
        let mut found = Vec::new();
        let wakes = self.scan_range(start, end, |_, _, _, _| true, |at, b| found.push((b, at)));
        found.sort_unstable();
        found.dedup_by_key(|f| f.0);
        let kinds = wakes.kinds(found.iter().map(|f| f.0));
        (found, kinds)
    }

    /// Calls `found(address, block)` for every word in the mapped parts of
    /// `[start, end)` that points into a block and that `keep(vtables,
    /// address, word, block)` accepts; returns those of them that are wake
    /// words (wakers rule 4).
    fn scan_range(
        &mut self,
        start: u64,
        end: u64,
        mut keep: impl FnMut(&mut WakerVtables<'_>, u64, u64, u32) -> bool,
        mut found: impl FnMut(u64, u32),
    ) -> Wakes {
        let mut wakes = Wakes::default();
        let (index, wakers) = (self.index, &mut self.wakers);
        for (s, e) in scan::clip(self.readable, start, end) {
            self.scanned += e - s;
            let classify = |at, word, to| {
                if !keep(&mut wakers.vtables, at, word, to) {
                    return;
                }
                found(at, to);
                // Wakers rule 3: plain targets need no more reads.
                if wakers.is_storage(to) {
                    wakes.push(to, wakers.classify(index, at, word, to, (s, e)));
                }
            };
            // SAFETY: `clip` keeps only ranges inside readable mappings.
            // What is scanned stays mapped: the child never frees the
            // parent's blocks, and roots are module segments, thread stacks
            // and static TLS.
            unsafe { scan::scan_words(index, s, e - s, classify) };
        }
        wakes
    }
}

/// Bytes of static TLS beside the thread pointer: every module's TLS block
/// (`PT_TLS`, each rounded to its alignment), plus the surplus glibc reserves
/// for libraries loaded later (1664 bytes by default, and 512 more for
/// optional static TLS). Clipped to mapped memory before it is read.
fn static_tls_size(modules: &[modules::LoadedModule]) -> u64 {
    const SURPLUS: u64 = 1664 + 512;
    let blocks: u64 = modules
        .iter()
        .filter_map(|m| m.tls)
        .map(|(size, align)| size.next_multiple_of(align.next_power_of_two()))
        .sum();
    (blocks + SURPLUS).next_multiple_of(64)
}

/// A region scanned as a root.
struct RootRange {
    kind: RootKind,
    label: String,
    start: u64,
    end: u64,
    /// For module data, the module (whose symbols name the statics).
    module: Option<usize>,
}

impl RootRange {
    fn new(kind: RootKind, label: String, start: u64, end: u64) -> RootRange {
        RootRange {
            kind,
            label,
            start,
            end,
            module: None,
        }
    }
}

/// Every thread whose stack is a root: the registered ones, then those the
/// parent found that the registry lacks (unregistered rule 4).
fn all_threads(plan: &Plan, readable: &[(u64, u64)]) -> Vec<ThreadInfo> {
    let mut all = threads::registered();
    let found = plan.unregistered.iter();
    all.extend(found.filter_map(|&t| unregistered::thread_of(readable, t)));
    all
}

/// The root regions: module data, then each thread's stack (from where
/// rules 6 and 14 say) and TLS.
fn root_ranges(plan: &Plan, parked: &Parked, threads: &[ThreadInfo]) -> Vec<RootRange> {
    let mut roots = Vec::new();
    let tls_size = static_tls_size(&plan.modules);
    for (i, m) in plan.modules.iter().enumerate() {
        for &(start, end) in &m.data {
            roots.push(RootRange {
                module: Some(i),
                ..RootRange::new(RootKind::Static, m.path.clone(), start, end)
            });
        }
    }
    for t in threads {
        let tp = t.thread_pointer as u64;
        // Rules 6 and 14.
        let lo = if t.tid == plan.tid {
            t.stack_lo.max(plan.capture_sp)
        } else {
            parked.scan_from(t).unwrap_or(t.stack_lo)
        };
        if lo < t.stack_hi {
            roots.push(RootRange::new(
                RootKind::ThreadStack,
                format!("thread {}", t.tid),
                lo as u64,
                t.stack_hi as u64,
            ));
        }
        // Threads other than the main one keep their TLS at the top of their
        // stack mapping, already scanned above.
        if (t.stack_lo..t.stack_hi).contains(&t.thread_pointer) {
            continue;
        }
        // x86_64 keeps static TLS below the thread pointer, aarch64 above
        // its 16-byte thread control block.
        let (tls_lo, tls_hi) = if cfg!(target_arch = "aarch64") {
            (tp, tp.saturating_add(16 + tls_size))
        } else {
            (tp.saturating_sub(tls_size), tp)
        };
        if tp != 0 {
            roots.push(RootRange::new(
                RootKind::ThreadLocal,
                format!("thread {}", t.tid),
                tls_lo,
                tls_hi,
            ));
        }
    }
    roots
}

/// Per target of a module-data root, the static holding the first word
/// that points at it (the empty string where no symbol covers the word); empty when no
/// word is named, as the format allows.
fn static_labels(
    snap: &mut Snapshot,
    strings: &mut StringTable,
    statics: &Statics,
    found: &[(u32, u64)],
) -> Vec<StringIndex> {
    let labels: Vec<StringIndex> = found
        .iter()
        .map(|&(_, at)| {
            (statics.name_of(at)).map_or(StringIndex::EMPTY, |n| strings.intern(snap, n))
        })
        .collect();
    if labels.iter().all(|l| l.is_empty()) {
        return Vec::new();
    }
    labels
}

/// Symbolizes the stacks the blocks use, and finds the task cells among
/// the blocks (cell rule 1); returns the map from interned stack id to the
/// snapshot's stack index, and the cells.
fn add_stacks(
    snap: &mut Snapshot,
    plan: &Plan,
    records: &[Record],
    index: &AddressIndex,
    readable: &[(u64, u64)],
) -> (impl Fn(u32) -> StackIndex + use<>, Cells) {
    let mut ids: Vec<u32> = records
        .iter()
        .map(|r| r.stack)
        .filter(|&s| s != 0)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let frames: Vec<&[usize]> = ids.iter().map(|&id| intern::frames_of(id)).collect();
    let first = snap.stacks.len() as u32;
    let stack_index = move |id: u32| {
        if id == 0 {
            return StackIndex::EMPTY;
        }
        let i = ids.binary_search(&id);
        i.map_or(StackIndex::EMPTY, |i| StackIndex::new(first + i as u32))
    };
    let cells = symbolize::add_stacks_then(snap, &plan.modules, &frames, |snap, names| {
        Cells::find(
            records,
            index,
            readable,
            &plan.modules,
            snap,
            &stack_index,
            names,
        )
    });
    (stack_index, cells)
}

/// Fork rule 6: the epoch advanced before the fork, and blocks allocated in
/// between carry the new one. They belong to the next snapshot: listing them
/// here too would give one name to two blocks should one be freed and
/// another take its address before that snapshot.
fn born_before_the_snapshot(mut records: Vec<Record>) -> Vec<Record> {
    let next = table::EPOCH.load(Ordering::Relaxed) & crate::heap::record::EPOCH_MASK;
    records.retain(|r| r.epoch != next);
    records
}

fn fill_process(snap: &mut Snapshot, strings: &mut StringTable, plan: &Plan) {
    let exe = std::fs::read_link("/proc/self/exe")
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let build_id = plan
        .modules
        .iter()
        .find(|m| m.path == exe)
        .map(|m| m.build_id.clone())
        .unwrap_or_default();
    snap.process = turbowish_format::Process {
        pid: plan.pid,
        exe: strings.intern(snap, &exe),
        build_id,
        start_token: plan.start_token,
        sequence: plan.sequence,
        epoch: table::EPOCH.load(Ordering::Relaxed),
        time_ns: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    };
}

fn fill_capture(
    snap: &mut Snapshot,
    pause: Duration,
    scan_ns: u64,
    symbolize_ns: u64,
    scanned: u64,
) {
    // The blocks found are the live blocks at the fork (enumeration rules):
    // the totals are theirs, so they agree with the file by construction.
    let live_bytes = snap.blocks.iter().map(|b| b.size).sum();
    snap.capture = turbowish_format::Capture {
        pause_ns: pause.as_nanos() as u64,
        scan_ns,
        symbolize_ns,
        scanned_bytes: scanned,
        live_bytes,
        live_blocks: snap.blocks.len() as u64,
        untracked_blocks: table::UNTRACKED.load(Ordering::Relaxed),
        unknown_frees: table::UNKNOWN_FREES.load(Ordering::Relaxed),
        stack_sample_bytes: crate::init::settings().sample_bytes(),
        ..Default::default() // the typed part's figures come after
    };
}
