//! What a heap snapshot costs: the parent's pause, the child's capture time,
//! the file's size and the child's memory, on a heap of about 1 GiB in over
//! a million live blocks.
//!
//! # The heap
//!
//! This process allocates through [`TurboWish`] (frame-pointer stacks, the
//! default). It builds 550,000 `Box<Node>`s (32 bytes each), each owning a
//! `Vec<u8>` payload of 16 to 3,824 bytes (uniformly distributed, mean
//! 1,920) and holding a raw pointer to another node chosen by a fixed
//! permutation-like formula: 1.1 million blocks averaging about 975 bytes,
//! about 1 GiB in all. The nodes are held by a `Vec<Box<Node>>` inside an
//! `Arc` (so that it can be registered as a typed root, see 5). Every payload byte is written (a non-zero fill that
//! never looks like a heap address), so the whole heap is resident before
//! anything is measured. The scan should find two edges per node (to its
//! payload and to its linked node), plus the pointers from the `Vec` that
//! holds the nodes; the summary counts how many of the expected edges the
//! snapshot really contains.
//!
//! # What is measured
//!
//! 1. **Parent pause**: [`SnapshotInfo::pause`], the time the calling thread
//!    spends from entering [`snapshot_to`] until `fork` returns in the parent
//!    (planning the capture, the pipe, the `fork`). Criterion's
//!    `capture/turbowish-pause` takes one snapshot per iteration (to a file
//!    under [`std::env::temp_dir`], deleted at once) and reports only the
//!    pause. Baseline, `capture/plain-fork-pause`: a bare `libc::fork()` of
//!    the same process whose child `_exit`s at once, timed from the call to
//!    its return in the parent; the reaping `waitpid` is not timed. That is
//!    mostly the kernel copying the page tables, which no fork-based capture
//!    can avoid (glibc still runs the `pthread_atfork` handlers, TurboWish's
//!    included, as it would for any fork in a process using TurboWish). Both
//!    are also given per GiB of the process's resident memory (`VmRSS` from
//!    `/proc/self/status`, read just before the first snapshot). Target: at
//!    most 10 ms per GiB for TurboWish's pause. Because criterion measures
//!    the two one after the other, and a busy machine drifts, the ratio of
//!    the two pauses is taken from interleaved rounds after criterion's runs
//!    (each round one plain fork and one snapshot, in alternating order): the
//!    median of the per-round ratios.
//! 2. **Capture time**: [`SnapshotInfo::elapsed`], from entering
//!    [`snapshot_to`] until the child has written the file, reported and been
//!    reaped; median over every snapshot taken in the run. The first
//!    snapshot's file also gives the child's own figures
//!    ([`turbowish_snap::Capture`]): scan time and scanned bytes (so the scan
//!    rate, in GB/s of 10^9 bytes, one core) and symbolization time. The rest
//!    of `elapsed` is copying and sorting the table, encoding, compressing,
//!    writing and `fsync`ing the file, and reaping. Targets: at most 2 s for
//!    1M live blocks; a scan of at least 1 GB/s.
//! 3. **File size per live block**: the first snapshot's file size divided by
//!    its block count; then the same snapshot read back, stripped of its
//!    stack and symbol tables (strings, modules, frames and stacks emptied,
//!    every block's stack set to 0) and re-encoded with
//!    [`turbowish_snap::write`]: the per-block cost of the blocks, edges and
//!    roots alone. Target: at most 8 B per block without the stack and
//!    symbol tables. For reference, also the size with the edges and roots
//!    removed as well (the block table alone). This heap is allocated from
//!    two call sites, so its stack and symbol tables are tiny (the summary
//!    gives their row counts) and the stripped size differs from the full one
//!    only by the compressor's noise (the file is one zstd frame, and
//!    removing a few KB of tables shifts how the big columns compress, by up
//!    to about 1% either way).
//! 4. **Child peak memory**: `getrusage(RUSAGE_CHILDREN).ru_maxrss` right
//!    after the first snapshot, which is the first `fork` of this process
//!    (it is a maximum over all reaped children, so it must be read before
//!    the plain-fork benchmark forks copies of the whole process).
//!    *Caveat*: a forked child starts with the parent's resident pages
//!    already counted in its RSS (shared copy-on-write), so this figure
//!    includes the whole heap. The summary therefore also gives
//!    `ru_maxrss - parent VmRSS`: the memory the child mapped on top of what
//!    it inherited (its own allocations, the file being written, the debug
//!    info it read). That difference is only an estimate: pages the child
//!    *wrote* to that it had inherited (copy-on-write copies, which do cost
//!    real memory) replace the shared page in its RSS and are not counted,
//!    while file pages resident in the parent but not yet touched by the
//!    child count against it; a parent that is not sitting idle (unlike
//!    this one) would also pay for copies of every page it writes during
//!    the capture.
//! 5. **Typed-walk cost**: the same heap's `Arc<Vec<Box<Node>>>` registered
//!    as a typed root ([`turbowish::root`]`("bench", ..)`), so that the
//!    capture child walks all of it with its [`Trace`] impls (std's for the
//!    `Arc`, `Vec` and `Box`, and this file's for `Node`), against the same
//!    heap unregistered. `Node::link` is a raw pointer to a node the `Vec`
//!    owns, which a walk must not follow as an owner; two typed kinds are
//!    taken: `skip` ([`Tracer::skip`], which is what `#[derive(Trace)]`
//!    generates for a `#[trace(skip)]` field: the node's conservative edges
//!    stay) and `scan` ([`Tracer::scan`] of the pointer under the label
//!    `link`: the node's walk is complete and the edge labelled). After the
//!    rounds of 1, [`TYPED_ROUNDS`] rounds each take one snapshot of each
//!    kind (unregistered, `skip`, `scan`) in rotating order; the root is
//!    registered only for its own snapshot. Reported per typed kind: the
//!    median (min-max) of the per-round ratio of its capture time
//!    ([`SnapshotInfo::elapsed`]) to the unregistered one, with the target
//!    of at most 1.20x; the walk's own time (`capture.typed_ns`, read back
//!    from each file with [`turbowish_snap::read_file`] after all snapshots
//!    are taken) and its share of that snapshot's capture time; the time
//!    added outside the walk (typed - untyped - typed_ns: merging typed
//!    edges into the graph, interning labels and type names, the larger
//!    file, and the noise between two captures); and the file size ratio.
//!    The first typed snapshot of each kind is checked: every node named,
//!    every node->payload edge typed and labelled, the root present, nothing
//!    rejected, no panic, and every edge of the heap still there.
//!
//! 6. **Task cells**: after all of the above, the same heap plus 10,000
//!    live tokio tasks (plain `tokio::spawn`, each pending for ever with a
//!    64-byte buffer): [`CELL_ROUNDS`] interleaved rounds of one snapshot
//!    finding task cells (the default) and one without
//!    (`turbowish::set_finding(false)`, the baseline); reported: the
//!    median (min-max) of the per-round ratio of capture times, with the
//!    target of at most 1.10x, the cells found and the child's own time
//!    finding and reading them (`capture.cells_ns`).
//!
//! # Running
//!
//! `cargo bench -p turbowish --bench capture` (about 75 seconds on 2
//! cores once built; needs about 1.1 GiB for the heap plus the child's
//! working memory, and ~80 MB free under the temp directory: the typed
//! snapshots' files are kept until all snapshots are taken).
//! `cargo bench -p turbowish --bench capture -- --test` (or
//! `cargo test -p turbowish --bench capture`) builds a tiny heap of
//! 10,000 blocks instead, takes the snapshots once (one round of each
//! interleaved comparison), checks the files parse and hold every node and
//! payload and the edges between them (and, for the typed ones, the typed
//! walk's names, edges and labels), and finishes in seconds.
//!
//! # Reading the output
//!
//! First criterion's two estimates, in its usual form (`time: [low mean
//! high]`, a 95% interval): `capture/turbowish-pause` and
//! `capture/plain-fork-pause`. A snapshot takes seconds of wall time but
//! pauses the parent for milliseconds, and criterion plans its samples from
//! the reported pause, so the TurboWish benchmark is set up for exactly one
//! snapshot per sample (10 samples) and criterion warns that it is "unable
//! to complete 10 samples" in the (deliberately tiny) target time: expected,
//! ignore it. Then a plain-text summary that the README can quote: every
//! figure above, the target where the issue set one, and `met` or `MISSED`.
//! Pauses and capture times are medians with the min-max range over every
//! sample the run took (`n=`: for TurboWish the first snapshot, criterion's
//! warm-up and samples, and the interleaved rounds); the pause ratio is the
//! median (min-max) of the interleaved rounds' ratios. Then the typed-walk
//! section (5), one block of rows per typed kind. The machine's load
//! matters: a fork's pause grows when other processes compete for the
//! cores, so quote figures from a quiet machine, or with the load average
//! the summary prints beside them.

use criterion::{Criterion, SamplingMode};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};
use turbowish::{SnapshotInfo, Trace, Tracer, TurboWish, snapshot_to};
use turbowish_snap::{BlockIndex, EdgeKind, RootKind, Snapshot, StackIndex, StringIndex};

#[global_allocator]
static A: TurboWish = TurboWish::system();

/// Nodes in the full heap: two blocks each.
const FULL_NODES: usize = 550_000;
/// Nodes in the `--test` heap.
const TEST_NODES: usize = 5_000;
/// Interleaved rounds of one plain fork and one snapshot (full run).
const ROUNDS: usize = 5;
/// Interleaved rounds of one snapshot without and one with the typed root
/// (full run).
const TYPED_ROUNDS: usize = 5;
/// The limit on what typed walks add to the capture time.
const TYPED_TARGET: f64 = 1.20;
/// Payload sizes are uniform in `MIN_PAYLOAD..=MAX_PAYLOAD`.
const MIN_PAYLOAD: u64 = 16;
const MAX_PAYLOAD: u64 = 3_824;

const GIB: f64 = (1u64 << 30) as f64;
const MIB: f64 = (1u64 << 20) as f64;

// ---------------------------------------------------------------------------
// The heap.

/// One node: a payload, and a pointer to another node for the scan to find.
struct Node {
    payload: Vec<u8>,
    link: *const Node,
}

// SAFETY: `link` is only ever compared and scanned, never dereferenced, so
// sharing or sending a `Node` shares nothing through it. (Needed because a
// typed root must be `Send + Sync`.)
unsafe impl Send for Node {}
// SAFETY: as for `Send`.
unsafe impl Sync for Node {}

/// How [`Node`]'s `Trace` impl treats `link`: a raw pointer to a node the
/// `Vec` owns, which a walk must not follow as an owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkMode {
    /// `Tracer::skip`, as `#[derive(Trace)]` does for a `#[trace(skip)]`
    /// field (a raw pointer has no `Trace` impl): the node's walk is
    /// incomplete, so the conservative scan's edges from it stay.
    Skip,
    /// `Tracer::scan` of the pointer's bytes under the label `link`: the
    /// node's walk is complete and the edge is labelled.
    Scan,
}

const LINK_MODES: [LinkMode; 2] = [LinkMode::Skip, LinkMode::Scan];

impl LinkMode {
    fn name(self) -> &'static str {
        match self {
            LinkMode::Skip => "skip",
            LinkMode::Scan => "scan",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            LinkMode::Skip => "skipped: Tracer::skip, as #[derive(Trace)] with #[trace(skip)]",
            LinkMode::Scan => "scanned: Tracer::scan under the label \"link\"",
        }
    }
}

/// `LinkMode::Scan` when set. Set before each typed snapshot; the capture
/// child reads the value frozen at the fork.
static SCAN_LINKS: AtomicBool = AtomicBool::new(false);

impl Trace for Node {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        tracer.field("payload", &self.payload);
        if SCAN_LINKS.load(Ordering::Relaxed) {
            tracer.labeled("link", |t| t.scan(&self.link));
        } else {
            tracer.skip();
        }
    }
}

/// Boxed on purpose: each node is a heap block of its own.
#[allow(clippy::vec_box)]
type Nodes = Vec<Box<Node>>;

struct Heap {
    /// In an `Arc` so that the typed-walk rounds can register it as a typed
    /// root (`turbowish::root`); the other snapshots see it unregistered.
    nodes: Arc<Nodes>,
    live_bytes: u64,
}

/// The node that node `i` of `n` points to.
fn link_target(i: usize, n: usize) -> usize {
    (i * 7_919 + 13) % n
}

impl Heap {
    fn build(n: usize) -> Heap {
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let mut nodes: Nodes = Vec::with_capacity(n);
        // The `Vec`'s buffer, and the `Arc`'s block (two counters, the `Vec`).
        let mut live_bytes =
            (n * size_of::<Box<Node>>() + 2 * size_of::<usize>() + size_of::<Nodes>()) as u64;
        for i in 0..n {
            // xorshift64: deterministic, so every run builds the same heap.
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let len = (MIN_PAYLOAD + rng % (MAX_PAYLOAD - MIN_PAYLOAD + 1)) as usize;
            // Non-zero, so the allocation is written (not a lazily zeroed
            // calloc); 0x01..=0xFF repeated never looks like a heap address.
            let fill = (i % 255) as u8 + 1;
            nodes.push(Box::new(Node {
                payload: vec![fill; len],
                link: std::ptr::null(),
            }));
            live_bytes += (size_of::<Node>() + len) as u64;
        }
        for i in 0..n {
            let target: *const Node = &*nodes[link_target(i, n)];
            nodes[i].link = target;
        }
        Heap {
            nodes: Arc::new(nodes),
            live_bytes,
        }
    }

    /// Whether every link points where `build` meant it to.
    fn links_ok(&self) -> bool {
        let n = self.nodes.len();
        self.nodes
            .iter()
            .enumerate()
            .all(|(i, node)| std::ptr::eq(node.link, &*self.nodes[link_target(i, n)]))
    }

    fn blocks(&self) -> usize {
        2 * self.nodes.len()
    }
}

/// How many of the heap's expected edges a snapshot holds.
struct EdgeCheck {
    nodes_found: usize,
    payloads_found: usize,
    to_payload: usize,
    to_link: usize,
}

impl EdgeCheck {
    fn new(snap: &Snapshot, heap: &Heap) -> EdgeCheck {
        let index = |addr: usize| {
            snap.blocks
                .binary_search_by_key(&(addr as u64), |b| b.addr)
                .ok()
                .map(|i| BlockIndex::new(i as u32))
        };
        let has_edge = |from: BlockIndex, to: BlockIndex| {
            // Sorted by (from, to), each pair once (typed or conservative).
            snap.edges
                .binary_search_by_key(&(from, to), |e| (e.from, e.to))
                .is_ok()
        };
        let n = heap.nodes.len();
        let node_index: Vec<Option<BlockIndex>> = heap
            .nodes
            .iter()
            .map(|node| index(&**node as *const Node as usize))
            .collect();
        let mut check = EdgeCheck {
            nodes_found: node_index.iter().flatten().count(),
            payloads_found: 0,
            to_payload: 0,
            to_link: 0,
        };
        for (i, node) in heap.nodes.iter().enumerate() {
            let payload = index(node.payload.as_ptr() as usize);
            check.payloads_found += usize::from(payload.is_some());
            if let (Some(from), Some(to)) = (node_index[i], payload) {
                check.to_payload += usize::from(has_edge(from, to));
            }
            if let (Some(from), Some(to)) = (node_index[i], node_index[link_target(i, n)]) {
                check.to_link += usize::from(has_edge(from, to));
            }
        }
        check
    }

    fn complete(&self, n: usize) -> bool {
        self.nodes_found == n
            && self.payloads_found == n
            && self.to_payload == n
            && self.to_link == n
    }
}

// ---------------------------------------------------------------------------
// Measurements.

/// Snapshot file names, unique within the run.
static SNAPSHOT_NUMBER: AtomicU32 = AtomicU32::new(0);

fn snapshot_path() -> PathBuf {
    let n = SNAPSHOT_NUMBER.fetch_add(1, Ordering::Relaxed) + 1;
    std::env::temp_dir().join(format!(
        "turbowish-capture-bench-{}-{n}.twsnap",
        std::process::id()
    ))
}

/// Takes one snapshot; the caller deletes the file.
fn snapshot() -> SnapshotInfo {
    let path = snapshot_path();
    snapshot_to(&path).unwrap_or_else(|e| {
        let _ = std::fs::remove_file(&path);
        panic!("snapshot to {} failed: {e}", path.display())
    })
}

fn remove(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        eprintln!("cannot delete {}: {e}", path.display());
    }
}

/// Forks a child that exits at once; returns how long the parent waited for
/// `fork` to return.
fn plain_fork_pause() -> Duration {
    let started = Instant::now();
    // SAFETY: the child only calls `_exit`, which is async-signal-safe and
    // touches no lock, allocator or stdio buffer it shares with the parent.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: ends the child without running destructors or atexit
        // handlers (which would act on state copied from the parent).
        unsafe { libc::_exit(0) }
    }
    let pause = started.elapsed();
    assert!(pid > 0, "fork: {}", std::io::Error::last_os_error());
    let mut status = 0;
    loop {
        // SAFETY: waits for our own child; `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        assert!(e.kind() == std::io::ErrorKind::Interrupted, "waitpid: {e}");
    }
    pause
}

/// `VmRSS` of this process, in bytes.
fn vm_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("reading /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS in /proc/self/status")
        * 1024
}

/// The largest peak RSS of any reaped child, in bytes.
fn children_max_rss() -> u64 {
    // SAFETY: `rusage` is plain integers, for which all zeroes is valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid out-pointer for the call.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    assert_eq!(rc, 0, "getrusage: {}", std::io::Error::last_os_error());
    usage.ru_maxrss as u64 * 1024 // KiB on Linux
}

/// The transparent huge page mode (the bracketed word), which changes the
/// page-table copy's cost.
fn thp_mode() -> String {
    std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
        .ok()
        .and_then(|s| {
            let (_, rest) = s.split_once('[')?;
            Some(rest.split_once(']')?.0.to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// `/proc/loadavg`'s 1, 5 and 15 minute figures.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Encoded size of `snap` without its stack and symbol tables, and without
/// those and the edges and roots.
fn stripped_sizes(mut snap: Snapshot) -> (u64, u64) {
    snap.strings = vec![String::new()];
    snap.modules.clear();
    snap.frames.clear();
    snap.stacks = vec![Vec::new()];
    let none = StringIndex::EMPTY;
    snap.process.exe = none;
    // Every reference into the string table goes with it.
    for b in &mut snap.blocks {
        (b.stack, b.type_name) = (StackIndex::EMPTY, none);
    }
    for e in &mut snap.edges {
        e.label = none;
    }
    for r in &mut snap.roots {
        r.label = none;
        r.labels.clear();
    }
    for t in &mut snap.tasks {
        (t.name, t.file, t.future_type) = (none, none, none);
    }
    let encode = |s: &Snapshot| turbowish_snap::write(s, std::io::sink()).expect("re-encoding");
    let without_symbols = encode(&snap);
    snap.edges.clear();
    snap.roots.clear();
    (without_symbols, encode(&snap))
}

// ---------------------------------------------------------------------------
// The summary.

/// Median, min and max, in the samples' unit (sorts in place).
fn summary(xs: &mut [f64]) -> (f64, f64, f64) {
    xs.sort_by(f64::total_cmp);
    match xs {
        [] => (f64::NAN, f64::NAN, f64::NAN),
        _ => (xs[xs.len() / 2], xs[0], xs[xs.len() - 1]),
    }
}

fn ms(d: &[Duration]) -> Vec<f64> {
    d.iter().map(|d| d.as_secs_f64() * 1e3).collect()
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

/// What the first snapshot told us, beyond its `SnapshotInfo`.
struct FirstSnapshot {
    info: SnapshotInfo,
    rss_at_fork: u64,
    child_max_rss: u64,
    earlier_children_max_rss: u64,
}

struct Report<'a> {
    heap: &'a Heap,
    build_time: Duration,
    first: FirstSnapshot,
    snap: Snapshot,
    tw_pause: Vec<Duration>,
    tw_elapsed: Vec<Duration>,
    fork_pause: Vec<Duration>,
    /// TurboWish pause / plain fork pause, per interleaved round.
    ratios: Vec<f64>,
    typed: TypedFigures,
    tiny: bool,
}

impl Report<'_> {
    fn print(self) {
        let Report {
            heap,
            build_time,
            first,
            snap,
            tw_pause,
            tw_elapsed,
            fork_pause,
            mut ratios,
            typed,
            tiny,
        } = self;
        let FirstSnapshot {
            info,
            rss_at_fork,
            child_max_rss,
            earlier_children_max_rss,
        } = first;
        let cap = snap.capture.clone();
        let rss_gib = rss_at_fork as f64 / GIB;
        let blocks = info.blocks as f64;
        let edges = EdgeCheck::new(&snap, heap);
        let tables = format!(
            "{} strings, {} modules, {} frames, {} stacks",
            snap.strings.len(),
            snap.modules.len(),
            snap.frames.len(),
            snap.stacks.len()
        );
        let n = heap.nodes.len();
        let (bytes_no_symbols, bytes_blocks_only) = stripped_sizes(snap);

        let (tw_med, tw_lo, tw_hi) = summary(&mut ms(&tw_pause));
        let (fk_med, fk_lo, fk_hi) = summary(&mut ms(&fork_pause));
        let (el_med, el_lo, el_hi) = summary(&mut ms(&tw_elapsed));
        let (ratio_med, ratio_lo, ratio_hi) = summary(&mut ratios);
        let tw_per_gib = tw_med / rss_gib;
        let fk_per_gib = fk_med / rss_gib;
        let el_s = el_med / 1e3;
        let el_per_million = el_s * 1e6 / blocks;
        let scan_s = cap.scan_ns as f64 / 1e9;
        let symbolize_s = cap.symbolize_ns as f64 / 1e9;
        let rest_s = info.elapsed.as_secs_f64() - info.pause.as_secs_f64() - scan_s - symbolize_s;
        let scan_gbps = cap.scanned_bytes as f64 / cap.scan_ns.max(1) as f64;
        let per_block = info.bytes as f64 / blocks;
        let per_block_no_symbols = bytes_no_symbols as f64 / blocks;
        let per_block_blocks_only = bytes_blocks_only as f64 / blocks;
        let extra = child_max_rss as i64 - rss_at_fork as i64;

        println!();
        println!(
            "turbowish-alloc capture benchmark{}",
            if tiny {
                " (TEST MODE: tiny heap, figures not meaningful)"
            } else {
                ""
            }
        );
        println!(
            "heap: {} blocks in the snapshot ({} nodes + {} payloads + others), {:.2} GiB live \
             (TurboWish counts {:.2} GiB), built in {:.1} s; VmRSS {:.2} GiB; THP {}",
            info.blocks,
            n,
            n,
            heap.live_bytes as f64 / GIB,
            cap.live_bytes as f64 / GIB,
            build_time.as_secs_f64(),
            rss_gib,
            thp_mode(),
        );
        println!("load average at the end: {}", load_average());
        println!(
            "scan found {}/{n} nodes, {}/{n} payloads, {}/{n} node->payload and {}/{n} \
             node->node edges; {} edges in all, {} untracked blocks",
            edges.nodes_found,
            edges.payloads_found,
            edges.to_payload,
            edges.to_link,
            info.edges,
            cap.untracked_blocks,
        );
        println!();
        println!(
            "{:<44} {:>26}  {:<22} verdict",
            "figure", "measured", "target"
        );
        let row = |name: &str, value: String, target: &str, ok: Option<bool>| {
            println!(
                "{name:<44} {value:>26}  {target:<22} {}",
                ok.map_or("", verdict)
            );
        };
        row(
            &format!("parent pause, TurboWish (n={})", tw_pause.len()),
            format!("{tw_med:.2} ms ({tw_lo:.2}-{tw_hi:.2})"),
            "",
            None,
        );
        row(
            "  per GiB resident",
            format!("{tw_per_gib:.2} ms/GiB"),
            "<= 10 ms/GiB",
            Some(tw_per_gib <= 10.0),
        );
        row(
            &format!("parent pause, plain fork (n={})", fork_pause.len()),
            format!("{fk_med:.2} ms ({fk_lo:.2}-{fk_hi:.2})"),
            "",
            None,
        );
        row(
            "  per GiB resident",
            format!("{fk_per_gib:.2} ms/GiB"),
            "",
            None,
        );
        row(
            &format!("  TurboWish / plain fork, interleaved (n={})", ratios.len()),
            format!("{ratio_med:.2}x ({ratio_lo:.2}-{ratio_hi:.2})"),
            "",
            None,
        );
        row(
            "  ratio of the medians above",
            format!("{:.2}x", tw_med / fk_med),
            "",
            None,
        );
        row(
            &format!("capture elapsed (n={})", tw_elapsed.len()),
            format!("{el_s:.2} s ({:.2}-{:.2})", el_lo / 1e3, el_hi / 1e3),
            &format!("<= 2 s ({:.2}M blocks)", blocks / 1e6),
            Some(el_s <= 2.0),
        );
        row(
            "  per 1M live blocks",
            format!("{el_per_million:.2} s"),
            "<= 2 s",
            Some(el_per_million <= 2.0),
        );
        row(
            "  first snapshot: elapsed",
            format!("{:.2} s", info.elapsed.as_secs_f64()),
            "",
            None,
        );
        row(
            "    scan (child, one core)",
            format!("{scan_s:.3} s"),
            "",
            None,
        );
        row(
            "    scanned",
            format!("{:.3} GB", cap.scanned_bytes as f64 / 1e9),
            "",
            None,
        );
        row(
            "    scan rate",
            format!("{scan_gbps:.2} GB/s"),
            ">= 1 GB/s",
            Some(scan_gbps >= 1.0),
        );
        row("    symbolize", format!("{symbolize_s:.3} s"), "", None);
        row(
            "    rest (table, sort, encode, zstd, write,",
            format!("{rest_s:.3} s"),
            "",
            None,
        );
        println!("     fsync, reap; elapsed - pause - scan - symbolize)");
        row(
            "    pause in the file (the parent's, sent to the child)",
            format!("{:.2} ms", cap.pause_ns as f64 / 1e6),
            "",
            None,
        );
        row(
            "file size (first snapshot)",
            format!("{:.2} MB", info.bytes as f64 / 1e6),
            "",
            None,
        );
        row("  per live block", format!("{per_block:.2} B"), "", None);
        row(
            "  per block without stack/symbol tables",
            format!("{per_block_no_symbols:.2} B"),
            "<= 8 B/block",
            Some(per_block_no_symbols <= 8.0),
        );
        row(
            "  per block, block table alone",
            format!("{per_block_blocks_only:.2} B"),
            "",
            None,
        );
        println!("     (stack and symbol tables, tiny here: {tables}; see the doc comment)");
        row(
            "child peak RSS (RUSAGE_CHILDREN maxrss)",
            format!("{:.2} GiB", child_max_rss as f64 / GIB),
            "",
            None,
        );
        row(
            "  parent VmRSS at the fork",
            format!("{rss_gib:.2} GiB"),
            "",
            None,
        );
        row(
            "  extra memory the child touched",
            format!("{:+.1} MiB", extra as f64 / MIB),
            "",
            None,
        );
        println!("     (maxrss - VmRSS; copy-on-write copies not included, see the doc comment)");
        if earlier_children_max_rss > 0 {
            println!(
                "     (children reaped before the first snapshot peaked at {:.1} MiB)",
                earlier_children_max_rss as f64 / MIB
            );
        }
        typed.print(&row);
    }
}

// ---------------------------------------------------------------------------
// Typed walks.

/// What a snapshot taken with the typed root `bench` holds of the typed walk.
struct TypedCheck {
    /// Typed edges in all.
    typed_edges: usize,
    /// Blocks a walk named.
    named_blocks: usize,
    containers: usize,
    /// Node blocks named as `Node`.
    nodes_named: usize,
    /// node -> payload edges that are typed and labelled `payload`.
    payload_typed: usize,
    /// node -> node edges labelled `link` (found by `Tracer::scan`).
    link_labelled: usize,
    /// Targets of the named root `bench`, if it is there.
    root_targets: Option<usize>,
}

impl TypedCheck {
    fn new(snap: &Snapshot, heap: &Heap) -> TypedCheck {
        let index = |addr: usize| {
            snap.blocks
                .binary_search_by_key(&(addr as u64), |b| b.addr)
                .ok()
        };
        let edge = |from: usize, to: usize| {
            let (from, to) = (BlockIndex::new(from as u32), BlockIndex::new(to as u32));
            snap.edges
                .binary_search_by_key(&(from, to), |e| (e.from, e.to))
                .ok()
                .map(|i| snap.edges[i])
        };
        let string = |i: StringIndex| snap.string(i);
        let node_type = std::any::type_name::<Node>();
        let n = heap.nodes.len();
        let node_index: Vec<Option<usize>> = heap
            .nodes
            .iter()
            .map(|node| index(&**node as *const Node as usize))
            .collect();
        let mut check = TypedCheck {
            typed_edges: snap
                .edges
                .iter()
                .filter(|e| e.kind == EdgeKind::Typed)
                .count(),
            named_blocks: (snap.blocks.iter())
                .filter(|b| !b.type_name.is_empty())
                .count(),
            containers: snap.containers.len(),
            nodes_named: 0,
            payload_typed: 0,
            link_labelled: 0,
            root_targets: snap
                .roots
                .iter()
                .find(|r| r.kind == RootKind::Named && string(r.label) == "bench")
                .map(|r| r.targets.len()),
        };
        for (i, node) in heap.nodes.iter().enumerate() {
            let Some(from) = node_index[i] else { continue };
            check.nodes_named += usize::from(string(snap.blocks[from].type_name) == node_type);
            if let Some(e) = index(node.payload.as_ptr() as usize).and_then(|to| edge(from, to)) {
                check.payload_typed +=
                    usize::from(e.kind == EdgeKind::Typed && string(e.label) == "payload");
            }
            if let Some(e) = node_index[link_target(i, n)].and_then(|to| edge(from, to)) {
                check.link_labelled += usize::from(string(e.label) == "link");
            }
        }
        check
    }

    /// Whether the walk reached the whole heap, as `mode` reports it.
    fn complete(&self, n: usize, mode: LinkMode) -> bool {
        let links = match mode {
            LinkMode::Skip => 0, // the scan's unlabelled edge stays
            LinkMode::Scan => n,
        };
        self.nodes_named == n
            && self.payload_typed == n
            && self.link_labelled == links
            && self.root_targets.is_some_and(|t| t > 0)
    }
}

/// Prints one summary row: name, measured value, target, verdict.
type RowFn = dyn Fn(&str, String, &str, Option<bool>);

/// One kind of typed snapshot over the rounds.
struct TypedSeries {
    mode: LinkMode,
    elapsed: Vec<Duration>,
    bytes: Vec<u64>,
    /// `capture.typed_ns` of each snapshot.
    typed_ns: Vec<u64>,
    /// Of the first snapshot.
    check: Option<TypedCheck>,
    /// Largest over the snapshots.
    rejected: u64,
    locked: u64,
}

/// The interleaved rounds of snapshots without and with the typed root.
struct TypedFigures {
    untyped_elapsed: Vec<Duration>,
    untyped_bytes: Vec<u64>,
    series: Vec<TypedSeries>,
}

impl TypedFigures {
    /// Reads (and deletes) each round's typed snapshots; fails unless the
    /// walks covered the whole heap.
    fn read(rounds: Vec<[SnapshotInfo; 3]>, heap: &Heap) -> TypedFigures {
        let mut f = TypedFigures {
            untyped_elapsed: Vec::new(),
            untyped_bytes: Vec::new(),
            series: LINK_MODES
                .iter()
                .map(|&mode| TypedSeries {
                    mode,
                    elapsed: Vec::new(),
                    bytes: Vec::new(),
                    typed_ns: Vec::new(),
                    check: None,
                    rejected: 0,
                    locked: 0,
                })
                .collect(),
        };
        let n = heap.nodes.len();
        for [untyped, typed @ ..] in rounds {
            f.untyped_elapsed.push(untyped.elapsed);
            f.untyped_bytes.push(untyped.bytes);
            for (s, info) in f.series.iter_mut().zip(typed) {
                let snap = turbowish_snap::read_file(&info.path)
                    .unwrap_or_else(|e| panic!("reading {}: {e}", info.path.display()));
                remove(&info.path);
                let cap = &snap.capture;
                s.elapsed.push(info.elapsed);
                s.bytes.push(info.bytes);
                s.typed_ns.push(cap.typed_ns);
                s.rejected = s.rejected.max(cap.typed_rejected);
                s.locked = s.locked.max(cap.typed_locked);
                assert!(
                    cap.typed_panics.is_empty(),
                    "typed walk panicked: {:?}",
                    cap.typed_panics
                );
                assert!(cap.typed_ns > 0, "no typed walk ran");
                if s.check.is_none() {
                    let check = TypedCheck::new(&snap, heap);
                    assert!(
                        check.complete(n, s.mode),
                        "the typed walk ({}) missed part of the heap: {}/{n} nodes named, \
                         {}/{n} typed node->payload edges, {} node->node edges labelled \
                         link, root targets {:?}",
                        s.mode.name(),
                        check.nodes_named,
                        check.payload_typed,
                        check.link_labelled,
                        check.root_targets
                    );
                    assert!(
                        EdgeCheck::new(&snap, heap).complete(n),
                        "the typed snapshot lost nodes, payloads or edges"
                    );
                    s.check = Some(check);
                }
            }
        }
        f
    }

    fn print(self, row: &RowFn) {
        let secs = |d: &[Duration]| d.iter().map(Duration::as_secs_f64).collect::<Vec<_>>();
        let n = self.untyped_elapsed.len();
        let (u, u_lo, u_hi) = summary(&mut secs(&self.untyped_elapsed));
        println!();
        println!(
            "typed walks: the same heap, also registered as a typed root \
             (root(\"bench\", &Arc<Vec<Box<Node>>>)), against it unregistered;"
        );
        println!(
            "  {n} interleaved rounds of one snapshot of each kind; each kind's ratio to the \
             unregistered snapshot of its round"
        );
        row(
            &format!("capture elapsed, no typed root (n={n})"),
            format!("{u:.2} s ({u_lo:.2}-{u_hi:.2})"),
            "",
            None,
        );
        for s in &self.series {
            let per_round =
                |f: &dyn Fn(usize) -> f64| (0..s.typed_ns.len()).map(f).collect::<Vec<_>>();
            let typed_s = |i: usize| s.typed_ns[i] as f64 / 1e9;
            let (t, t_lo, t_hi) = summary(&mut secs(&s.elapsed));
            let (r, r_lo, r_hi) = summary(&mut per_round(&|i| {
                s.elapsed[i].as_secs_f64() / self.untyped_elapsed[i].as_secs_f64()
            }));
            let (w, w_lo, w_hi) = summary(&mut per_round(&typed_s));
            let (sh, sh_lo, sh_hi) = summary(&mut per_round(&|i| {
                100.0 * typed_s(i) / s.elapsed[i].as_secs_f64()
            }));
            let (x, x_lo, x_hi) = summary(&mut per_round(&|i| {
                s.elapsed[i].as_secs_f64() - self.untyped_elapsed[i].as_secs_f64() - typed_s(i)
            }));
            let (b, _, _) = summary(&mut per_round(&|i| {
                s.bytes[i] as f64 / self.untyped_bytes[i] as f64
            }));
            row(
                &format!(
                    "capture elapsed, typed root, link {} (n={n})",
                    s.mode.name()
                ),
                format!("{t:.2} s ({t_lo:.2}-{t_hi:.2})"),
                "",
                None,
            );
            println!("     (Node::link {})", s.mode.describe());
            row(
                "  typed / untyped, interleaved",
                format!("{r:.2}x ({r_lo:.2}-{r_hi:.2})"),
                &format!("<= {TYPED_TARGET:.2}x"),
                Some(r <= TYPED_TARGET),
            );
            row(
                "  typed walk (capture.typed_ns)",
                format!("{w:.3} s ({w_lo:.3}-{w_hi:.3})"),
                "",
                None,
            );
            row(
                "  typed_ns share of typed capture time",
                format!("{sh:.1}% ({sh_lo:.1}-{sh_hi:.1})"),
                "",
                None,
            );
            row(
                "  time added outside typed_ns",
                format!("{x:+.3} s ({x_lo:+.3}..{x_hi:+.3})"),
                "",
                None,
            );
            row("  file size, typed / untyped", format!("{b:.2}x"), "", None);
            if let Some(c) = &s.check {
                println!(
                    "     (first: {} typed edges, {} blocks named, {} containers, root \
                     targets {}; rejected {}, locked {})",
                    c.typed_edges,
                    c.named_blocks,
                    c.containers,
                    c.root_targets.unwrap_or(0),
                    s.rejected,
                    s.locked,
                );
            }
        }
        println!(
            "     (time added outside typed_ns = typed - untyped - typed_ns, per round: \
             merging the typed"
        );
        println!("      edges, interning labels and type names, the larger file; and the noise)");
    }
}

// ---------------------------------------------------------------------------

/// Criterion's own rule: `--test`, or no `--bench` (as `cargo test` runs us).
fn test_mode(args: &[String]) -> bool {
    let has = |flag: &str| args.iter().any(|a| a == flag);
    has("--test") || !has("--bench")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let tiny = test_mode(&args);
    let listing = args.iter().any(|a| a == "--list");
    let mut c = Criterion::default().sample_size(10).configure_from_args();

    let mut tw_pause = Vec::new();
    let mut tw_elapsed = Vec::new();
    let mut fork_pause = Vec::new();
    let mut first = None;
    let mut heap = None;
    let mut build_time = Duration::ZERO;
    if !listing {
        let started = Instant::now();
        let h = Heap::build(if tiny { TEST_NODES } else { FULL_NODES });
        build_time = started.elapsed();
        assert!(h.links_ok(), "the heap's links are wrong");

        // The first fork of this process (see `children_max_rss`).
        let earlier_children_max_rss = children_max_rss();
        let rss_at_fork = vm_rss();
        let info = snapshot();
        let child_max_rss = children_max_rss();
        tw_pause.push(info.pause);
        tw_elapsed.push(info.elapsed);
        // The file is read only after the benchmarks: its decoded tables
        // would add to the heap later snapshots scan (and their block table
        // holds the address of every block, which the scan would take for
        // a million more pointers).
        first = Some(FirstSnapshot {
            info,
            rss_at_fork,
            child_max_rss,
            earlier_children_max_rss,
        });
        heap = Some(h);
    }

    {
        let mut group = c.benchmark_group("capture");
        group.sampling_mode(SamplingMode::Flat);
        // One snapshot for warm-up, then one per sample (see "Reading the
        // output").
        group.warm_up_time(Duration::from_nanos(1));
        group.measurement_time(Duration::from_millis(1));
        group.bench_function("turbowish-pause", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let info = snapshot();
                    remove(&info.path);
                    total += info.pause;
                    tw_pause.push(info.pause);
                    tw_elapsed.push(info.elapsed);
                }
                total
            })
        });
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(3));
        group.bench_function("plain-fork-pause", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let pause = plain_fork_pause();
                    total += pause;
                    fork_pause.push(pause);
                }
                total
            })
        });
        group.finish();
    }
    c.final_summary();

    let mut ratios = Vec::new();
    if heap.is_some() {
        for round in 0..if tiny { 1 } else { ROUNDS } {
            let mut fork = || {
                let pause = plain_fork_pause();
                fork_pause.push(pause);
                pause
            };
            let mut tw = || {
                let info = snapshot();
                remove(&info.path);
                tw_pause.push(info.pause);
                tw_elapsed.push(info.elapsed);
                info.pause
            };
            let (f, t) = if round % 2 == 0 {
                let f = fork();
                (f, tw())
            } else {
                let t = tw();
                (fork(), t)
            };
            ratios.push(t.as_secs_f64() / f.as_secs_f64());
        }
    }

    // Typed walks: the same heap unregistered, and registered as a typed
    // root in each link mode, in rotating order.
    let mut typed_rounds = Vec::new();
    if let Some(h) = &heap {
        for round in 0..if tiny { 1 } else { TYPED_ROUNDS } {
            let mut infos: [Option<SnapshotInfo>; 3] = Default::default();
            for k in 0..3 {
                let v = (round + k) % 3;
                infos[v] = Some(match v {
                    0 => {
                        let info = snapshot();
                        remove(&info.path);
                        info
                    }
                    _ => {
                        SCAN_LINKS.store(LINK_MODES[v - 1] == LinkMode::Scan, Ordering::Relaxed);
                        let _root = turbowish::root("bench", &h.nodes);
                        // The file is read after the benchmarks (as the
                        // first one).
                        snapshot()
                    }
                });
            }
            typed_rounds.push(infos.map(|i| i.expect("every kind was taken")));
        }
    }

    if let (Some(heap), Some(first)) = (&heap, first) {
        let path = &first.info.path;
        let snap = turbowish_snap::read_file(path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        remove(path);
        check_snapshot(&snap, &first.info, heap);
        let typed = TypedFigures::read(typed_rounds, heap);
        Report {
            heap,
            build_time,
            first,
            snap,
            tw_pause,
            tw_elapsed,
            fork_pause,
            ratios,
            typed,
            tiny,
        }
        .print();
        CellFigures::measure(tiny).print();
    }
    black_box(heap);
}

// ---------------------------------------------------------------------------
// 6. Task cells.

/// Live tokio tasks for the task-cell rounds (full run, and `--test`).
const CELL_TASKS: usize = 10_000;
const TEST_CELL_TASKS: usize = 500;
/// Interleaved rounds of one snapshot with and one without finding cells.
const CELL_ROUNDS: usize = 5;
/// The limit on what finding task cells adds to the capture time.
const CELL_TARGET: f64 = 1.10;

/// Capture times with and without finding task cells, on the heap plus
/// [`CELL_TASKS`] live tokio tasks.
struct CellFigures {
    tasks: usize,
    /// Capture time with cells / without, per round.
    ratios: Vec<f64>,
    with: Vec<Duration>,
    without: Vec<Duration>,
    /// From one snapshot with cells: cells found, and the child's time
    /// finding and reading them.
    found: u64,
    cells_ns: u64,
    _runtime: tokio::runtime::Runtime,
}

impl CellFigures {
    /// Spawns the tasks (each pending for ever, holding a 64-byte buffer),
    /// then takes the interleaved rounds, in alternating order.
    fn measure(tiny: bool) -> CellFigures {
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let tasks = if tiny { TEST_CELL_TASKS } else { CELL_TASKS };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        runtime.block_on(async {
            for _ in 0..tasks {
                drop(tokio::spawn(async {
                    let buffer = black_box(vec![1u8; 64]);
                    STARTED.fetch_add(1, Ordering::Relaxed);
                    std::future::pending::<()>().await;
                    drop(buffer);
                }));
            }
        });
        while STARTED.load(Ordering::Relaxed) < tasks {
            std::thread::yield_now();
        }
        let mut f = CellFigures {
            tasks,
            ratios: Vec::new(),
            with: Vec::new(),
            without: Vec::new(),
            found: 0,
            cells_ns: 0,
            _runtime: runtime,
        };
        for round in 0..if tiny { 1 } else { CELL_ROUNDS } {
            let mut take = |cells: bool| {
                turbowish::set_finding(cells);
                let info = snapshot();
                turbowish::set_finding(true);
                if cells && f.found == 0 {
                    let snap = turbowish_snap::read_file(&info.path).expect("readable");
                    (f.found, f.cells_ns) = (snap.capture.cells_found, snap.capture.cells_ns);
                }
                remove(&info.path);
                info.elapsed
            };
            let (with, without) = if round % 2 == 0 {
                let w = take(true);
                (w, take(false))
            } else {
                let wo = take(false);
                (take(true), wo)
            };
            f.ratios.push(with.as_secs_f64() / without.as_secs_f64());
            f.with.push(with);
            f.without.push(without);
        }
        assert!(
            f.found >= tasks as u64,
            "{} cells found for {tasks} tasks",
            f.found
        );
        f
    }

    fn print(mut self) {
        let (ratio, lo, hi) = summary(&mut self.ratios);
        let (with, _, _) = summary(&mut ms(&self.with));
        let (without, _, _) = summary(&mut ms(&self.without));
        println!();
        println!(
            "task cells: the same heap plus {} live tokio tasks, {} cells found; capture with \
             cells found / without, interleaved (n={})",
            self.tasks,
            self.found,
            self.ratios.len()
        );
        println!(
            "  {ratio:.3}x ({lo:.3}-{hi:.3}); medians {with:.0} ms / {without:.0} ms; target \
             <= {CELL_TARGET:.2}x: {}",
            verdict(ratio <= CELL_TARGET)
        );
        println!(
            "  finding and reading the cells in the child (capture.cells_ns): {:.1} ms",
            self.cells_ns as f64 / 1e6
        );
    }
}

/// Fails unless the first snapshot holds the heap as built.
fn check_snapshot(snap: &Snapshot, info: &SnapshotInfo, heap: &Heap) {
    assert_eq!(snap.blocks.len() as u64, info.blocks, "block count");
    assert_eq!(snap.edges.len() as u64, info.edges, "edge count");
    assert!(
        snap.blocks.len() >= heap.blocks(),
        "{} blocks in the snapshot, {} in the heap",
        snap.blocks.len(),
        heap.blocks()
    );
    assert!(
        snap.capture.scanned_bytes >= heap.live_bytes,
        "scanned too little"
    );
    assert!(
        snap.edges.iter().all(|e| e.kind == EdgeKind::Conservative),
        "typed edges in a snapshot without typed roots"
    );
    let edges = EdgeCheck::new(snap, heap);
    assert!(
        edges.complete(heap.nodes.len()),
        "the snapshot misses nodes, payloads or edges: {}/{} nodes, {}/{} payloads, \
         {} node->payload, {} node->node",
        edges.nodes_found,
        heap.nodes.len(),
        edges.payloads_found,
        heap.nodes.len(),
        edges.to_payload,
        edges.to_link
    );
}
