//! `testing::leak_check` scopes to one future: two tests run in parallel,
//! one whose future leaks three blocks (a `Box::leak`, a forgotten `Vec`, an
//! `Arc` cycle) and one whose future churns memory and leaks nothing; each
//! sees exactly its own, on every one of many runs.

mod common;

use common::panic_message;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use turbowish::TurboWish;
use turbowish::testing::{leak_check, leak_check_blocking};

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

const RUNS: usize = 20;
const BOXED: usize = 100;
const FORGOTTEN: usize = 200;

/// A node that points at itself: its `Arc` is never freed.
struct Node {
    me: Mutex<Option<Arc<Node>>>,
    _pad: [u8; 40],
}

/// The `Arc`'s block: two counts, then the node.
const ARC_BLOCK: usize = 2 * size_of::<usize>() + size_of::<Node>();

#[inline(never)]
fn leak_a_box() {
    let leaked: &'static mut [u8; BOXED] = Box::leak(Box::new([7u8; BOXED]));
    std::hint::black_box(leaked);
}

#[inline(never)]
fn forget_a_vec() {
    std::mem::forget(std::hint::black_box(Vec::<u8>::with_capacity(FORGOTTEN)));
}

#[inline(never)]
fn make_a_cycle() {
    let node = Arc::new(Node {
        me: Mutex::new(None),
        _pad: [0; 40],
    });
    *node.me.lock().unwrap() = Some(node.clone());
}

/// Tests that have started, so each can wait for the other: they must
/// overlap to show that neither disturbs the other.
static STARTED: AtomicUsize = AtomicUsize::new(0);

fn wait_for_the_other() {
    STARTED.fetch_add(1, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(30);
    // Alone (RUST_TEST_THREADS=1, or a filter) the test still runs.
    while STARTED.load(Ordering::SeqCst) < 2 && Instant::now() < deadline {
        std::thread::yield_now();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leaking_future_leaves_exactly_its_three_blocks() {
    wait_for_the_other();
    for run in 0..RUNS {
        let leaks = leak_check(async {
            leak_a_box();
            tokio::task::yield_now().await;
            forget_a_vec();
            make_a_cycle();
        })
        .await;
        assert_eq!(
            (leaks.blocks, leaks.bytes),
            (3, (BOXED + FORGOTTEN + ARC_BLOCK) as u64),
            "run {run}:\n{leaks}"
        );
        let mut sites: Vec<_> = leaks.sites.iter().map(|s| (s.blocks, s.bytes)).collect();
        sites.sort();
        let mut expected = [
            (1, BOXED as u64),
            (1, FORGOTTEN as u64),
            (1, ARC_BLOCK as u64),
        ];
        expected.sort();
        assert_eq!(sites, expected, "run {run}:\n{leaks}");
        for (site, function) in leaks.sites.iter().zip(site_functions(&leaks)) {
            assert!(
                site.site.contains(function),
                "run {run}: {}\n{leaks}",
                site.site
            );
            assert!(site.site.contains("testing_leak_check.rs"), "{leaks}");
        }
        // The failure message names the sites and keeps the file.
        let message = leaks.explain();
        assert!(message.contains("left 3 blocks"), "{message}");
        assert!(message.contains("make_a_cycle"), "{message}");
        let kept = message
            .lines()
            .find_map(|l| l.strip_prefix("snapshot kept at "))
            .unwrap();
        assert!(std::path::Path::new(kept).exists(), "{message}");
        if run == RUNS - 1 {
            // Last: a caught panic makes std load its own symbols, which
            // the other test's snapshots would then scan.
            assert_eq!(panic_message(|| leaks.assert_none()), message);
        }
        std::fs::remove_file(kept).unwrap();
    }
}

/// The function each site of `leaks` must name, in the sites' order
/// (most bytes first).
fn site_functions(leaks: &turbowish::testing::Leaks) -> Vec<&'static str> {
    let mut by_size = [
        (BOXED, "leak_a_box"),
        (FORGOTTEN, "forget_a_vec"),
        (ARC_BLOCK, "make_a_cycle"),
    ];
    by_size.sort_by_key(|&(bytes, _)| std::cmp::Reverse(bytes));
    assert_eq!(leaks.sites.len(), 3);
    by_size.iter().map(|&(_, f)| f).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clean_future_leaves_nothing_while_the_other_leaks() {
    wait_for_the_other();
    // Checked inside a task that holds memory of its own across the check:
    // the future's tag is its own, not the task's (testing rule 2).
    let task = tokio::spawn(async {
        let held = std::hint::black_box(vec![0u8; 5000]);
        for run in 0..RUNS {
            let leaks = leak_check(churn()).await;
            assert!(leaks.is_empty(), "run {run}:\n{leaks}");
            leaks.assert_none();
        }
        drop(held);
    });
    task.await.unwrap();
}

/// Allocates and frees maps, strings and buffers, across awaits.
async fn churn() {
    for round in 0..50 {
        let mut map = std::collections::HashMap::new();
        for i in 0..100 {
            map.insert(i, format!("value {i} of round {round}"));
        }
        tokio::task::yield_now().await;
        let boxed: Vec<Box<[u8]>> = (0..20).map(|i| vec![0u8; i * 64].into()).collect();
        std::hint::black_box((map, boxed));
    }
}

#[test]
fn the_blocking_twin_checks_plain_code() {
    let leaks = leak_check_blocking(async { forget_a_vec() });
    assert_eq!(
        (leaks.blocks, leaks.bytes),
        (1, FORGOTTEN as u64),
        "{leaks}"
    );
    let clean = leak_check_blocking(async { drop(vec![1u8; 4096]) });
    assert!(clean.is_empty(), "{clean}");
}
