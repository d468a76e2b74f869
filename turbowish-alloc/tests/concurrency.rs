//! Concurrency: 8 threads churn alloc/free/realloc across every size class
//! while another thread reads the figures; at the end every block is freed and
//! the totals are exact. A watchdog turns a deadlock into a failure.

use std::alloc::Layout;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use turbowish_alloc::{TurboWish, block, stats};

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

const THREADS: usize = 8;
const RUN_FOR: Duration = Duration::from_secs(3);
const SLOTS: usize = 512;

/// One thread's churn: returns (allocations made, bytes allocated), counting
/// each realloc as one allocation of its new size.
fn churn(seed: u64, stop: &AtomicBool) -> (u64, u64) {
    let mut x = seed | 1;
    let mut rand = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    // Fixed-size bookkeeping, allocated before counting starts.
    let mut live: Vec<(usize, usize)> = vec![(0, 0); SLOTS];
    let (mut count, mut bytes) = (0u64, 0u64);
    let size_of_class = |r: u64| match r % 10 {
        0 => 4096 + (r >> 8) as usize % 60_000, // large table
        1 => 1 + (r >> 8) as usize % 7,         // odd sizes
        _ => 8 + (r >> 8) as usize % 1000,      // small table
    };
    while !stop.load(Ordering::Relaxed) {
        let r = rand();
        let slot = &mut live[(r >> 32) as usize % SLOTS];
        // SAFETY: every block is allocated with align 8 and freed or
        // reallocated with the size it currently has.
        unsafe {
            match (slot.0, r % 3) {
                (0, _) => {
                    let size = size_of_class(rand());
                    let p = std::alloc::alloc(Layout::from_size_align(size, 8).unwrap());
                    assert!(!p.is_null());
                    p.write(1);
                    *slot = (p as usize, size);
                    count += 1;
                    bytes += size as u64;
                }
                (p, 0) => {
                    let size = size_of_class(rand());
                    let old = Layout::from_size_align(slot.1, 8).unwrap();
                    let q = std::alloc::realloc(p as *mut u8, old, size);
                    assert!(!q.is_null());
                    *slot = (q as usize, size);
                    count += 1;
                    bytes += size as u64;
                }
                (p, _) => {
                    std::alloc::dealloc(p as *mut u8, Layout::from_size_align(slot.1, 8).unwrap());
                    *slot = (0, 0);
                }
            }
        }
    }
    for &(p, size) in &live {
        if p != 0 {
            assert_eq!(block(p as *const u8).map(|b| b.size), Some(size));
            // SAFETY: as above.
            unsafe { std::alloc::dealloc(p as *mut u8, Layout::from_size_align(size, 8).unwrap()) };
        }
    }
    (count, bytes)
}

#[test]
fn eight_threads_churning_end_with_exact_totals() {
    // The watchdog only sleeps and reads a flag, and never exits: anything
    // else (a channel, a thread exit) would allocate or free concurrently
    // with the final measurement.
    static DONE: AtomicBool = AtomicBool::new(false);
    static STARTED: AtomicBool = AtomicBool::new(false);
    std::thread::spawn(|| {
        let start = Instant::now();
        STARTED.store(true, Ordering::Release);
        loop {
            std::thread::sleep(Duration::from_millis(100));
            if !DONE.load(Ordering::Relaxed) && start.elapsed() > RUN_FOR * 20 {
                eprintln!("deadlock: churn did not finish");
                std::process::abort();
            }
        }
    });

    // The new thread frees its boxed closure as it starts: wait for that
    // before measuring.
    while !STARTED.load(Ordering::Acquire) {
        std::thread::yield_now();
    }
    let stop = AtomicBool::new(false);
    let before = stats();
    let (count, bytes, reads) = std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS as u64)
            .map(|i| {
                let stop = &stop;
                s.spawn(move || churn(0x9E37_79B9 * (i + 1), stop))
            })
            .collect();
        let reader = s.spawn(|| {
            let mut reads = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let st = stats();
                assert!(st.live_bytes <= st.total_bytes);
                reads += 1;
            }
            reads
        });
        let start = Instant::now();
        while start.elapsed() < RUN_FOR {
            std::thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, Ordering::Relaxed);
        let (mut count, mut bytes) = (0, 0);
        for w in workers {
            let (c, b) = w.join().unwrap();
            count += c;
            bytes += b;
        }
        (count, bytes, reader.join().unwrap())
    });
    DONE.store(true, Ordering::Relaxed);
    let after = settled(before.live_bytes);
    assert!(count > 100_000, "only {count} allocations in {RUN_FOR:?}");
    assert!(reads > 10, "stats() starved: {reads} reads");
    // Everything churned was freed; thread bookkeeping went with the threads.
    assert_eq!(after.live_bytes, before.live_bytes, "live bytes");
    assert_eq!(after.live_blocks, before.live_blocks, "live blocks");
    // Totals also count the threads' own bookkeeping (spawn, the slot
    // vectors), a few hundred blocks at most.
    let extra_blocks = after.total_blocks - before.total_blocks - count;
    let extra_bytes = after.total_bytes - before.total_bytes - bytes;
    assert!(extra_blocks < 500, "{extra_blocks} unexplained allocations");
    assert!(extra_bytes < 1 << 20, "{extra_bytes} unexplained bytes");
    assert_eq!(after.untracked_blocks, 0);
    assert_eq!(after.stale_records, 0);
}

/// `stats()` once live bytes are back to `live_bytes`, or after 10 s. A
/// scoped thread's join returns when its closure has, and the thread's
/// own exit (its thread-locals' destructors, its handle) frees a few
/// hundred bytes a moment later.
fn settled(live_bytes: u64) -> turbowish_alloc::Stats {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let st = stats();
        if st.live_bytes == live_bytes || Instant::now() > deadline {
            return st;
        }
        std::thread::yield_now();
    }
}
