//! A clean program passes every `testing::Heap` assertion, whole-process:
//! a multi-thread runtime (its named worker threads, whose names only
//! std's thread handles hold, from memory the scan cannot see), tasks that
//! ran and were joined, a task still waiting on a channel whose sender is
//! alive, and data held in a static. Every block of the harness, the
//! runtime and std's thread bookkeeping is reachable.

mod common;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::mpsc;
use turbowish::TurboWish;
use turbowish::testing::Heap;

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

static KEPT: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Set by the waiting task as it first polls, just before its receiver
/// stores its waker.
static POLLED: AtomicBool = AtomicBool::new(false);

#[test]
fn a_clean_program_passes_every_assertion() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("clean-worker")
        .enable_all()
        .build()
        .unwrap();
    let (tx, mut rx) = mpsc::channel::<String>(4);
    // Joined on one thread: a multi-thread worker may drop its reference
    // to a finished task just after the join returns (a zombie for an
    // instant, testing rule 4).
    let joining = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    joining.block_on(async {
        let joined: Vec<_> = (0..8)
            .map(|i| tokio::spawn(async move { format!("task {i}").repeat(10) }))
            .collect();
        for task in joined {
            let out = task.await.unwrap();
            KEPT.lock().unwrap().push(out);
        }
    });
    let waiting = rt.spawn(async move {
        POLLED.store(true, Ordering::SeqCst);
        rx.recv().await
    });
    common::wait_for("the waiting task's first poll", || {
        POLLED.load(Ordering::SeqCst).then_some(()).ok_or("not yet")
    });

    let heap = Heap::take();
    heap.assert_no_unreachable();
    heap.assert_no_zombies();
    heap.assert_no_stuck_tasks();

    drop(tx);
    assert_eq!(rt.block_on(waiting).unwrap(), None);
}
