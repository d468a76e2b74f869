//! `testing::Heap`: queries by spawn site, and assertions about stuck
//! tasks and unreachable blocks, whole-process and scoped, on plain
//! `tokio::spawn` tasks.
//!
//! Five holder tasks each keep a 10 000-byte buffer and wait on a oneshot
//! whose sender sits in a static (they can be woken); one task forgets a
//! buffer and awaits `pending()` (nothing can wake it). The tasks are
//! parked by a thread that then ends (see `common::waits`), so no stale
//! word on a running thread's stack can pose as a way to wake them.

mod common;

use common::panic_message;
use common::waits::park;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::oneshot;
use turbowish::TurboWish;
use turbowish::testing::Heap;

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

const HOLDERS: usize = 5;
const HELD: usize = 10_000;
const FORGOTTEN: usize = 4_321;

static SENDERS: Mutex<Vec<oneshot::Sender<()>>> = Mutex::new(Vec::new());
static STARTED: AtomicUsize = AtomicUsize::new(0);

/// Spawns the holders and the stuck task; their spawn lines.
fn setup() -> (u32, u32) {
    let holders = line!() + 4;
    for _ in 0..HOLDERS {
        let (tx, rx) = oneshot::channel::<()>();
        SENDERS.lock().unwrap().push(tx);
        drop(tokio::spawn(async move {
            let buffer = std::hint::black_box(vec![1u8; HELD]);
            STARTED.fetch_add(1, Ordering::SeqCst);
            let _ = rx.await;
            drop(buffer);
        }));
    }
    let stuck = line!() + 1;
    drop(tokio::spawn(async {
        std::mem::forget(std::hint::black_box(vec![2u8; FORGOTTEN]));
        STARTED.fetch_add(1, Ordering::SeqCst);
        std::future::pending::<()>().await;
    }));
    (holders, stuck)
}

#[test]
fn queries_and_assertions_by_spawn_site() {
    SENDERS.lock().unwrap().reserve(HOLDERS);
    let (_rt, (holders_line, stuck_line)) =
        park(setup, || STARTED.load(Ordering::SeqCst) == HOLDERS + 1);
    let holders_at = format!("testing_heap.rs:{holders_line}");
    let stuck_at = format!("testing_heap.rs:{stuck_line}");
    let heap = Heap::take();

    let holders = heap.tasks_at(&holders_at);
    assert_eq!(holders.len(), HOLDERS, "{holders:#?}");
    for t in &holders {
        assert!(t.retained >= HELD as u64, "{t:?}");
        assert_eq!(t.state, turbowish::TaskState::Pending, "{t:?}");
    }
    let sum: u64 = holders.iter().map(|t| t.retained).sum();
    assert_eq!(heap.retained_by_spawn_site(&holders_at), sum);
    assert_eq!(heap.retained_by_spawn_site("no/such/file.rs"), 0);

    let scoped = heap.spawned_at(&holders_at);
    scoped.assert_no_stuck_tasks();
    scoped.assert_no_zombies();
    scoped.assert_no_unreachable();

    let stuck = heap.spawned_at(&stuck_at);
    assert_eq!(stuck.unreachable(), (1, FORGOTTEN as u64));
    let message = panic_message(|| stuck.assert_no_stuck_tasks());
    assert!(
        message.contains("1 stuck task among tasks spawned at"),
        "{message}"
    );
    assert!(message.contains(&stuck_at), "{message}");
    assert!(message.contains("$ turbowish waits"), "{message}");
    let message = panic_message(|| stuck.assert_no_unreachable());
    assert!(message.contains("1 unreachable block"), "{message}");
    assert!(message.contains(&format!("{FORGOTTEN} bytes")), "{message}");
    assert!(message.contains("$ turbowish leaks"), "{message}");

    // Whole-process, the stuck task is found too.
    let whole = panic_message(|| heap.assert_no_stuck_tasks());
    assert!(whole.contains(&stuck_at), "{whole}");
    let kept = whole
        .lines()
        .next()
        .unwrap()
        .rsplit("snapshot kept at ")
        .next()
        .unwrap();
    assert!(std::path::Path::new(kept).exists(), "{whole}");
    std::fs::remove_file(kept).unwrap();
}
