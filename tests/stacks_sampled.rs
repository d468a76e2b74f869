//! `TURBOWISH_STACK=sampled`: every block is still recorded with its exact
//! task tag, about the expected fraction carries a stack, and the analysis
//! estimates a site that allocated a known amount (64 MiB in 1 KiB blocks)
//! within a few percent. Blocks that get their stack whatever the sample
//! (sampling rule 4: 4 KiB or more, or allocated outside any task) all
//! have it, are marked, and their sites count exactly.
//!
//! The mode is read once, at the first allocation, so the test runs in a
//! child of this binary started with `TURBOWISH_STACK=sampled:2KiB`. The
//! mean is small so that the sample is large (about 26 000 stacks) and the
//! estimate's standard error about 0.5%.

use std::hint::black_box;
use std::process::Command;
use turbowish::{StackMode, TurboWish};
use turbowish_snap::analysis::Analysis;
use turbowish_snap::{Snapshot, StackIndex};

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

const MEAN: u64 = 2048;
const BLOCK: usize = 1024;
const BLOCKS: usize = 64 << 10;
const CHILD: &str = "TURBOWISH_TEST_SAMPLED_CHILD";

/// Room for the blocks, allocated apart from them (another site).
#[inline(never)]
fn holder() -> Vec<Vec<u8>> {
    Vec::with_capacity(BLOCKS)
}

/// The site that allocates the known amount.
#[inline(never)]
fn turbowish_sampled_site(into: &mut Vec<Vec<u8>>) {
    for _ in 0..BLOCKS {
        into.push(black_box(vec![1u8; BLOCK]));
    }
}

/// Blocks of 8 KiB a task allocates: each has its stack (rule 4).
const LARGE: usize = 8 << 10;
const LARGES: usize = 200;
/// Small blocks allocated outside any task: each has its stack (rule 4).
const UNTASKED: usize = 3000;

/// The site of the large blocks.
#[inline(never)]
fn turbowish_large_site() -> Vec<Vec<u8>> {
    (0..LARGES).map(|_| black_box(vec![2u8; LARGE])).collect()
}

/// The site of the small blocks allocated outside any task.
#[inline(never)]
fn turbowish_untasked_site() -> Vec<Vec<u8>> {
    (0..UNTASKED).map(|_| black_box(vec![3u8; BLOCK])).collect()
}

/// What the child allocated, and the snapshot taken while it held it.
struct Taken {
    snap: Snapshot,
    /// The 1 KiB blocks of the site.
    blocks: Vec<u64>,
    /// The blocks that have their stack for certain: 8 KiB ones of the
    /// task, 1 KiB ones of no task.
    certain: [Vec<u64>; 2],
    /// Their task's tag.
    tag: u64,
}

/// In the child: allocates the site's blocks inside a traced task, and
/// snapshots there.
fn allocate_and_snapshot() -> Taken {
    let path = std::env::temp_dir().join(format!("tw-sampled-{}.twsnap", std::process::id()));
    let addrs = |v: &[Vec<u8>]| v.iter().map(|b| b.as_ptr() as u64).collect::<Vec<_>>();
    let untasked = turbowish_untasked_site();
    let task = turbowish::traced(async {
        let mut blocks = holder();
        turbowish_sampled_site(&mut blocks);
        let large = turbowish_large_site();
        turbowish::snapshot_to(&path).expect("snapshot");
        (addrs(&blocks), addrs(&large), turbowish::current_task())
    });
    let (blocks, large, tag) = futures::executor::block_on(task);
    let snap = turbowish_snap::read_file(&path).expect("a snapshot just written");
    std::fs::remove_file(&path).unwrap();
    let certain = [large, addrs(&untasked)];
    Taken {
        snap,
        blocks,
        certain,
        tag,
    }
}

/// The block of `snap` at `addr`.
fn block_at(snap: &Snapshot, addr: u64) -> &turbowish_snap::Block {
    let i = (snap.blocks.binary_search_by_key(&addr, |b| b.addr))
        .unwrap_or_else(|_| panic!("block {addr:#x} missing from the snapshot"));
    &snap.blocks[i]
}

fn check_in_child() {
    assert_eq!(
        turbowish::settings().stack,
        StackMode::Sampled { mean_bytes: MEAN }
    );
    let Taken {
        snap,
        blocks,
        certain,
        tag,
    } = allocate_and_snapshot();
    assert_eq!(snap.capture.stack_sample_bytes, MEAN);
    assert_ne!(tag, 0, "the traced task tags its blocks");

    // Every block is there, with its task.
    let mut sampled = 0;
    for &addr in &blocks {
        let b = block_at(&snap, addr);
        assert_eq!((b.size, b.task), (BLOCK as u64, tag), "block {addr:#x}");
        sampled += usize::from(b.stack != StackIndex::EMPTY);
    }

    // About 1 - exp(-size / mean) of them have a stack: within five
    // standard deviations.
    let p = -(-(BLOCK as f64) / MEAN as f64).exp_m1();
    let fraction = sampled as f64 / BLOCKS as f64;
    let sd = (p * (1.0 - p) / BLOCKS as f64).sqrt();
    assert!(
        (fraction - p).abs() < 5.0 * sd,
        "{sampled} of {BLOCKS} blocks have a stack ({fraction:.4}); expected {p:.4}"
    );

    // The site's estimate is within 3% of what it allocated (over six
    // standard errors).
    let a = Analysis::new(&snap);
    let site = (a.sites().iter())
        .find(|s| (s.label.as_deref()).is_some_and(|l| l.contains("turbowish_sampled_site")))
        .expect("the site has sampled blocks");
    let (truth_bytes, truth_blocks) = ((BLOCKS * BLOCK) as f64, BLOCKS as f64);
    let error = |estimate: u64, truth: f64| (estimate as f64 - truth).abs() / truth;
    assert!(
        error(site.bytes, truth_bytes) < 0.03 && error(site.blocks, truth_blocks) < 0.03,
        "estimated {} bytes in {} blocks; allocated {truth_bytes} in {truth_blocks}",
        site.bytes,
        site.blocks
    );
    // Rule 4: the blocks that get their stack whatever the sample have it,
    // are marked, and their sites count exactly.
    for (addrs, size, name) in [
        (&certain[0], LARGE, "turbowish_large_site"),
        (&certain[1], BLOCK, "turbowish_untasked_site"),
    ] {
        for &addr in addrs {
            let b = block_at(&snap, addr);
            assert!(b.stack != StackIndex::EMPTY && b.stack_certain, "{name}");
        }
        let site = (a.sites().iter())
            .find(|s| (s.label.as_deref()).is_some_and(|l| l.contains(name)))
            .expect("the site");
        let truth = (addrs.len() as u64, (addrs.len() * size) as u64);
        assert_eq!((site.blocks, site.bytes), truth, "{name}");
    }
    // Figures by task stay exact: the task's live blocks are all there.
    let by_tag = snap.blocks.iter().filter(|b| b.task == tag);
    assert!(by_tag.map(|b| b.size).sum::<u64>() >= (BLOCKS * BLOCK) as u64);
    println!(
        "{sampled} of {BLOCKS} blocks sampled; site estimated at {} bytes ({:+.2}%)",
        site.bytes,
        (site.bytes as f64 / truth_bytes - 1.0) * 100.0
    );
}

#[test]
fn sampled_stacks_keep_every_block_and_estimate_sites() {
    const TEST: &str = "sampled_stacks_keep_every_block_and_estimate_sites";
    if std::env::var_os(CHILD).is_some() {
        check_in_child();
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("TURBOWISH_STACK", "sampled:2KiB")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.contains("1 passed"),
        "child failed:\n{text}"
    );
}
