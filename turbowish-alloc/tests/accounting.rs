//! Exact accounting: known allocations change the live and total figures by
//! exactly their sizes, on the main thread, other threads and tasks, through
//! realloc, odd layouts, unknown frees and failed reallocs.
//!
//! This binary uses a custom harness forced to one thread: the figures are
//! process-wide, so no other test may allocate while one measures.

use std::alloc::{GlobalAlloc, Layout, System};
use turbowish_alloc::{Stats, TurboWish, block, current_task, stats, stats_by_task};

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

fn main() {
    let mut args = libtest_mimic::Arguments::from_args();
    args.test_threads = Some(1);
    let tests = [
        (
            "known_allocations_change_live_figures_exactly",
            known_allocations as fn(),
        ),
        ("allocations_on_other_threads_are_counted", other_threads),
        ("per_task_figures_are_exact", per_task_figures),
        ("realloc_growth_and_shrink", realloc_growth_and_shrink),
        ("large_alignments_and_odd_sizes", large_alignments),
        ("zero_sized_values_allocate_nothing", zero_sized_values),
        ("peak_covers_a_transient_spike", peak_covers_spike),
        ("frees_of_unknown_blocks_pass_through", unknown_frees),
        ("failed_realloc_keeps_the_old_block", failed_realloc),
        ("main_thread_allocations_are_tagged_zero", main_thread_tag),
    ];
    let trials = tests
        .into_iter()
        .map(|(name, f)| {
            libtest_mimic::Trial::test(name, move || {
                f();
                Ok(())
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

/// `after - before` for the live and total figures.
#[derive(Debug, PartialEq, Eq)]
struct Delta {
    live_bytes: i64,
    live_blocks: i64,
    total_bytes: i64,
    total_blocks: i64,
}

fn delta(before: &Stats, after: &Stats) -> Delta {
    let d = |a: u64, b: u64| a as i64 - b as i64;
    Delta {
        live_bytes: d(after.live_bytes, before.live_bytes),
        live_blocks: d(after.live_blocks, before.live_blocks),
        total_bytes: d(after.total_bytes, before.total_bytes),
        total_blocks: d(after.total_blocks, before.total_blocks),
    }
}

fn d(live_bytes: i64, live_blocks: i64, total_bytes: i64, total_blocks: i64) -> Delta {
    Delta {
        live_bytes,
        live_blocks,
        total_bytes,
        total_blocks,
    }
}

fn known_allocations() {
    let before = stats();
    let a = Box::new([7u8; 100]);
    let b: Vec<u32> = Vec::with_capacity(1000);
    let c = String::with_capacity(33);
    let during = stats();
    assert_eq!(delta(&before, &during), d(4133, 3, 4133, 3));
    drop((a, b, c));
    assert_eq!(delta(&before, &stats()), d(0, 0, 4133, 3));
}

fn other_threads() {
    let before = stats();
    let handles: Vec<_> = (1..=4usize)
        .map(|i| std::thread::spawn(move || vec![0u8; i * 1000].into_boxed_slice()))
        .collect();
    let boxes: Vec<Box<[u8]>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let during = stats();
    // The boxes (10_000 bytes) and the Vec holding them are live (`collect`
    // reuses the JoinHandle Vec's block, so use its real capacity); the
    // threads' own bookkeeping was freed when they were joined.
    let holder = (boxes.capacity() * size_of::<Box<[u8]>>()) as i64;
    let live = delta(&before, &during);
    assert_eq!(
        (live.live_bytes, live.live_blocks),
        (10_000 + holder, 5),
        "{live:?}"
    );
    drop(boxes);
    let after = delta(&before, &stats());
    assert_eq!((after.live_bytes, after.live_blocks), (0, 0), "{after:?}");
}

fn per_task_figures() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (held, tags) = rt.block_on(async {
        let a = tokio::spawn(async { (vec![1u64; 300], current_task()) });
        let b = tokio::spawn(async {
            (
                vec![String::with_capacity(50), String::with_capacity(70)],
                current_task(),
            )
        });
        let (a, ta) = a.await.unwrap();
        let (b, tb) = b.await.unwrap();
        ((a, b), [ta, tb])
    });
    assert!(
        tags[0] != 0 && tags[1] != 0 && tags[0] != tags[1],
        "{tags:?}"
    );
    let by_task = stats_by_task();
    let of = |t: u64| {
        by_task
            .iter()
            .find(|s| s.task == t)
            .map(|s| (s.live_bytes, s.live_blocks))
    };
    // Task a: one 2400-byte Vec. Task b: the outer Vec of two Strings plus
    // the two string buffers.
    assert_eq!(of(tags[0]), Some((2400, 1)));
    let outer = 2 * size_of::<String>() as u64;
    assert_eq!(of(tags[1]), Some((outer + 120, 3)));
    drop(held);
    let by_task = stats_by_task();
    assert!(
        by_task
            .iter()
            .all(|s| s.task != tags[0] && s.task != tags[1])
    );
}

fn realloc_growth_and_shrink() {
    let layout = Layout::from_size_align(100, 8).unwrap();
    let before = stats();
    // SAFETY: non-zero layouts; each pointer is passed back with the layout
    // (and size) it currently has.
    unsafe {
        let p = std::alloc::alloc(layout);
        assert!(!p.is_null());
        assert_eq!(delta(&before, &stats()), d(100, 1, 100, 1));
        let q = std::alloc::realloc(p, layout, 5000);
        assert!(!q.is_null());
        assert_eq!(block(q).map(|b| b.size), Some(5000));
        // A realloc is a free plus a new block.
        assert_eq!(delta(&before, &stats()), d(5000, 1, 5100, 2));
        let grown = Layout::from_size_align(5000, 8).unwrap();
        let r = std::alloc::realloc(q, grown, 10);
        assert!(!r.is_null());
        assert_eq!(block(r).map(|b| b.size), Some(10));
        assert_eq!(delta(&before, &stats()), d(10, 1, 5110, 3));
        std::alloc::dealloc(r, Layout::from_size_align(10, 8).unwrap());
    }
    assert_eq!(delta(&before, &stats()), d(0, 0, 5110, 3));
}

fn large_alignments() {
    let shapes = [
        (1, 4096),
        (100, 4096),
        (5000, 64),
        (64, 128),
        (8192, 8192),
        (3, 1),
        (4095, 16),
        (4096, 16),
    ];
    for (size, align) in shapes {
        let layout = Layout::from_size_align(size, align).unwrap();
        let before = stats();
        // SAFETY: non-zero layout, freed with the same layout.
        unsafe {
            let p = std::alloc::alloc(layout);
            assert!(!p.is_null());
            assert_eq!(p as usize % align, 0);
            let b = block(p).expect("tracked");
            assert_eq!((b.addr, b.size), (p as usize, size));
            assert_eq!(
                delta(&before, &stats()),
                d(size as i64, 1, size as i64, 1),
                "{size}/{align}"
            );
            std::alloc::dealloc(p, layout);
        }
        let after = delta(&before, &stats());
        assert_eq!(
            (after.live_bytes, after.live_blocks),
            (0, 0),
            "{size}/{align}"
        );
    }
}

fn zero_sized_values() {
    let before = stats();
    let v: Vec<()> = Vec::with_capacity(1000);
    let b = Box::new(());
    let e: Vec<u8> = Vec::new();
    let s = String::new();
    let z: Box<[u64]> = Vec::new().into_boxed_slice();
    std::hint::black_box((&v, &b, &e, &s, &z));
    assert_eq!(delta(&before, &stats()), d(0, 0, 0, 0));
}

fn peak_covers_spike() {
    let before = stats();
    let spike = vec![1u8; 8 << 20];
    std::hint::black_box(&spike);
    drop(spike);
    let after = stats();
    assert!(
        after.peak_live_bytes >= before.live_bytes + (8 << 20),
        "peak {} < {} + 8 MiB",
        after.peak_live_bytes,
        before.live_bytes
    );
}

fn unknown_frees() {
    let layout = Layout::from_size_align(64, 8).unwrap();
    let before = stats();
    // SAFETY: the global allocator wraps `System`, so a block from `System`
    // may be freed or reallocated through it.
    unsafe {
        let p = System.alloc(layout);
        std::alloc::dealloc(p, layout);
        let after = stats();
        assert_eq!(after.unknown_frees, before.unknown_frees + 1);
        assert_eq!(delta(&before, &after), d(0, 0, 0, 0));

        let p = System.alloc(layout);
        let q = std::alloc::realloc(p, layout, 128);
        assert!(!q.is_null());
        let after = stats();
        assert_eq!(after.unknown_frees, before.unknown_frees + 2);
        assert_eq!(delta(&before, &after), d(128, 1, 128, 1));
        std::alloc::dealloc(q, Layout::from_size_align(128, 8).unwrap());
    }
    assert_eq!(delta(&before, &stats()), d(0, 0, 128, 1));
}

fn failed_realloc() {
    let layout = Layout::from_size_align(64, 8).unwrap();
    let before = stats();
    // SAFETY: non-zero layout; 2^46 bytes does not overflow isize, and malloc
    // refuses it on a machine with less memory than that.
    unsafe {
        let p = std::alloc::alloc(layout);
        let q = std::alloc::realloc(p, layout, 1 << 46);
        assert!(q.is_null(), "the machine granted 64 TiB");
        assert_eq!(block(p).map(|b| b.size), Some(64));
        assert_eq!(delta(&before, &stats()), d(64, 1, 64, 1));
        std::alloc::dealloc(p, layout);
    }
    assert_eq!(delta(&before, &stats()), d(0, 0, 64, 1));
}

fn main_thread_tag() {
    assert_eq!(current_task(), 0);
    let v = vec![0u8; 12345];
    let b = block(v.as_ptr()).expect("tracked");
    assert_eq!((b.size, b.task), (12345, 0));
    let zero = stats_by_task()
        .into_iter()
        .find(|s| s.task == 0)
        .expect("task 0");
    assert!(zero.live_bytes >= 12345);
}
