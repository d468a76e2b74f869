//! [`leak_check`]: what one future left behind (testing rules 2 and 3).

use super::heap::Heap;
use super::render::command;
use crate::tasks::traced::Traced;
use core::future::Future;
use core::panic::Location;
use std::collections::BTreeMap;
use std::fmt;
use turbowish_snap::BlockIndex;
use turbowish_snap::analysis::Analysis;
use turbowish_snap::analysis::sites::NO_STACK;
use turbowish_snap::analysis::tasks::runtime::is_runtime_stack;
use turbowish_snap::rules::tag;

/// Held blocks whose retaining path a failure message shows.
const PATHS_SHOWN: usize = 3;

/// Runs `future` as a traced task with a tag of its own, drops its output
/// and its storage, and returns what its polls allocated that is still
/// live (testing rules 2 and 3).
///
/// ```no_run
/// # #[global_allocator]
/// # static A: turbowish_alloc::TurboWish = turbowish_alloc::TurboWish::system();
/// # async fn run() {
/// use turbowish_alloc::testing::leak_check;
///
/// let leaks = leak_check(async {
///     std::mem::forget(vec![0u8; 100]);
/// })
/// .await;
/// assert_eq!((leaks.blocks, leaks.bytes), (1, 100));
/// # }
/// ```
///
/// # Panics
///
/// When the snapshot cannot be taken or read back (see [`Heap::take`]),
/// and when `future` panics.
#[track_caller]
pub fn leak_check<F: Future>(future: F) -> impl Future<Output = Leaks> {
    let location = Location::caller();
    async move {
        let mut task = Box::pin(Traced::with_own_tag(future, location).named("leak_check"));
        drop(task.as_mut().await);
        let tag = task.tag();
        drop(task);
        Leaks::find(tag)
    }
}

/// [`leak_check`] for code that is not async: blocks the thread until
/// `future` is done. Wrap plain code as `async { ... }`.
///
/// # Panics
///
/// As [`leak_check`]; also when called inside an async runtime's thread
/// that forbids blocking.
#[track_caller]
pub fn leak_check_blocking<F: Future>(future: F) -> Leaks {
    futures_executor::block_on(leak_check(future))
}

/// What a future left behind: the live blocks its polls allocated.
#[derive(Debug)]
#[non_exhaustive]
pub struct Leaks {
    /// How many blocks.
    pub blocks: u64,
    /// Their bytes.
    pub bytes: u64,
    /// By allocation site, most bytes first.
    pub sites: Vec<LeakSite>,
    /// Blocks the polls allocated for the async runtime's own bookkeeping
    /// (a scheduler queue that grew, a timer entry), by tokio's code in
    /// `src/runtime/` (testing rule 3): not counted above, which is about
    /// the program's memory, and kept by the runtime for reuse.
    pub runtime_blocks: u64,
    /// The allocation tag the future's blocks carry.
    pub tag: u64,
    /// The snapshot they were found in.
    pub heap: Heap,
}

/// Blocks a future left behind from one allocation site.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeakSite {
    /// The site, as `turbowish sites` names it.
    pub site: String,
    /// Blocks from it.
    pub blocks: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Of them, blocks no root reaches: lost, rather than held somewhere.
    pub unreachable: u64,
}

impl Leaks {
    fn find(tag_: u64) -> Leaks {
        let heap = Heap::take();
        let tag_ = tag(tag_);
        let a = Analysis::new(heap.snapshot());
        let (runtime_blocks, left) = left_behind(&a, tag_);
        let (blocks, bytes, sites) = by_site(&a, &left);
        Leaks {
            blocks,
            bytes,
            sites,
            runtime_blocks,
            tag: tag_,
            heap,
        }
    }

    /// Whether the future left nothing behind.
    pub fn is_empty(&self) -> bool {
        self.blocks == 0
    }

    /// Panics with [`Leaks::explain`] unless the future left nothing
    /// behind.
    #[track_caller]
    pub fn assert_none(&self) {
        if !self.is_empty() {
            panic!("{}", self.explain());
        }
    }

    /// What [`Leaks::assert_none`] says: each site, and for held blocks the
    /// path that keeps one alive, as `turbowish retainers --block`. Keeps
    /// the snapshot file and names it.
    pub fn explain(&self) -> String {
        let mut msg = format!("{self}snapshot kept at {}\n", self.heap.keep().display());
        for addr in self.held_examples() {
            msg += &command(
                "retainers",
                self.heap.keep(),
                &["--block", &format!("{addr:#x}")],
            );
        }
        msg
    }

    /// One held block of each of the first sites, by address.
    fn held_examples(&self) -> Vec<u64> {
        let snap = self.heap.snapshot();
        let a = Analysis::new(snap);
        let mut seen = std::collections::HashSet::new();
        (left_behind(&a, self.tag).1.into_iter())
            .filter(|&b| a.is_reachable(b))
            .filter(|&b| seen.insert(a.site(snap.block(b).stack).label()))
            .map(|b| snap.block(b).addr)
            .take(PATHS_SHOWN)
            .collect()
    }
}

/// The blocks tagged `tag`: how many are the runtime's, and the others.
fn left_behind(a: &Analysis<'_>, tag: u64) -> (u64, Vec<BlockIndex>) {
    let snap = a.snapshot();
    let (runtime, left): (Vec<BlockIndex>, Vec<BlockIndex>) = (snap.block_indices())
        .filter(|&b| snap.block(b).task == tag)
        .partition(|&b| is_runtime_stack(snap, snap.block(b).stack));
    (runtime.len() as u64, left)
}

/// The count, bytes and sites of `blocks` (exact: every block counts
/// once, whether or not its stack was sampled).
fn by_site(a: &Analysis<'_>, blocks: &[BlockIndex]) -> (u64, u64, Vec<LeakSite>) {
    let snap = a.snapshot();
    let mut sites: BTreeMap<String, LeakSite> = BTreeMap::new();
    for &b in blocks {
        let block = snap.block(b);
        let name = a
            .site(block.stack)
            .label()
            .unwrap_or_else(|| NO_STACK.into());
        let site = sites.entry(name.clone()).or_insert_with(|| LeakSite {
            site: name,
            blocks: 0,
            bytes: 0,
            unreachable: 0,
        });
        site.blocks += 1;
        site.bytes += block.size;
        site.unreachable += u64::from(!a.is_reachable(b));
    }
    let mut sites: Vec<LeakSite> = sites.into_values().collect();
    sites.sort_by_key(|s| std::cmp::Reverse((s.bytes, s.blocks)));
    let blocks = sites.iter().map(|s| s.blocks).sum();
    let bytes = sites.iter().map(|s| s.bytes).sum();
    (blocks, bytes, sites)
}

impl fmt::Display for Leaks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let runtime = match self.runtime_blocks {
            0 => String::new(),
            n => format!(" ({n} blocks of the async runtime's own bookkeeping not counted)"),
        };
        if self.is_empty() {
            return writeln!(f, "turbowish: the future left nothing behind{runtime}");
        }
        let plural = if self.blocks == 1 { "" } else { "s" };
        writeln!(
            f,
            "turbowish: the future left {} block{plural} ({} bytes) behind (task tag {}){runtime}:",
            self.blocks, self.bytes, self.tag
        )?;
        for s in &self.sites {
            let held = match (s.unreachable, s.blocks) {
                (0, _) => "held".to_owned(),
                (u, n) if u == n => "unreachable".to_owned(),
                (u, _) => format!("{u} unreachable"),
            };
            writeln!(
                f,
                "  {:>4} blocks {:>9} bytes  {held:<13} {}",
                s.blocks, s.bytes, s.site
            )?;
        }
        Ok(())
    }
}
