//! Registry rule 4's sweeps keep the registry from filling: finished rows
//! whose task box was freed are reclaimed, also when later tasks from the
//! same spawn site reuse the address (same size and stack, and the same
//! epoch while no snapshot is taken). A service that keeps a steady pool of
//! tasks from one site must still get new tasks traced.
//!
//! The pool fills the registry if the sweeps fail, which would spoil every
//! other test of the process, so it runs in a child process.

mod common;

use common::{is_child, rerun, run};
use std::time::{Duration, Instant};

#[global_allocator]
static A: turbowish_alloc::TurboWish = turbowish_alloc::TurboWish::system();

type PoolFuture = std::pin::Pin<Box<turbowish_alloc::Traced<std::future::Pending<()>>>>;

/// One spawn site: every box it makes has the same size and stack.
#[inline(never)]
fn pool_future() -> PoolFuture {
    Box::pin(turbowish_alloc::traced(std::future::pending::<()>()))
}

/// This process's resident memory, in kB, as `/proc` says.
fn rss_kb() -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS"))
        .unwrap_or("")
        .split_whitespace()
        .nth(1)
        .unwrap_or("0")
        .to_owned()
}

#[test]
#[ignore = "child process of a_steady_pool_of_tasks_does_not_fill_the_registry"]
fn child_pool() {
    if !is_child("child_pool") {
        return;
    }
    let total: usize = std::env::var("REVIEW_TOTAL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_500_000);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let started = Instant::now();
    // A steady pool of 32 live tasks from one site; the oldest is dropped
    // (cancelled, its box freed) as each new one starts. Nothing ever holds
    // a finished task's storage.
    let mut pool = std::collections::VecDeque::with_capacity(64);
    for _ in 0..total {
        let mut f = pool_future();
        let _ = f.as_mut().poll(&mut cx); // first poll: storage = its box
        pool.push_back(f);
        if pool.len() > 32 {
            drop(pool.pop_front());
        }
    }
    // The service goes on: a new task must still be traced.
    use turbowish_alloc::TracedExt;
    let mut probe = Box::pin(std::future::pending::<()>().named("review-after-pool"));
    let _ = probe.as_mut().poll(&mut cx);
    let listed = turbowish_alloc::tasks()
        .iter()
        .any(|t| t.name == "review-after-pool");
    println!(
        "REVIEW: {total} pool tasks (32 alive at a time) in {:?}; RSS {} kB; \
         a new task is listed: {listed}",
        started.elapsed(),
        rss_kb()
    );
    drop(probe);
    drop(pool);
    if !listed {
        std::process::exit(3);
    }
}

#[test]
fn a_steady_pool_of_tasks_does_not_fill_the_registry() {
    let ran = run(rerun("child_pool"), Duration::from_secs(400));
    assert_eq!(ran.code, Some(0), "{ran}");
}
