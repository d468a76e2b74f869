//! Which block is a traced task's storage, and when a finished task is a
//! zombie: a traced future awaited inside another task neither is listed as
//! a zombie nor takes the task's storage, and a freed task box reused by an
//! unrelated block (with stacks off, so every block looks alike but for its
//! address) does not make its task a zombie (registry rule 4).
//!
//! The stacks-off case runs in a child process, since `TURBOWISH_STACK` is
//! read once per process: the parent test re-executes this binary.

mod common;

use common::{PATIENCE, is_child, rerun, run, serial};
use std::time::{Duration, Instant};
use turbowish_alloc::{TaskState, TracedExt};

#[global_allocator]
static A: turbowish_alloc::TurboWish = turbowish_alloc::TurboWish::system();

/// Spawns `outer`, which awaits a traced `inner` that completes at once, then
/// waits. Calls `check` once `outer` is parked, and returns what it gives.
fn with_nested_tasks<T>(check: impl FnOnce() -> T) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let outer = async move {
            async {}.named("review-inner").await;
            let _ = rx.await;
        }
        .named("review-outer")
        .spawn();
        // Yield until outer has run and parked at `rx`: inner has completed.
        let parked = || {
            turbowish_alloc::tasks()
                .iter()
                .any(|t| t.name == "review-outer" && t.polls >= 1 && t.state == TaskState::Pending)
        };
        let deadline = Instant::now() + PATIENCE;
        while !parked() {
            assert!(Instant::now() < deadline, "the outer task never parked");
            tokio::task::yield_now().await;
        }
        let out = check();
        tx.send(()).unwrap();
        outer.await.unwrap();
        out
    })
}

#[test]
fn nested_traced_future_is_not_listed_as_a_zombie_by_tasks() {
    let _s = serial();
    let tasks = with_nested_tasks(turbowish_alloc::tasks);
    let outer: Vec<_> = tasks.iter().filter(|t| t.name == "review-outer").collect();
    assert_eq!(outer.len(), 1, "{tasks:#?}");
    let inner: Vec<_> = tasks.iter().filter(|t| t.name == "review-inner").collect();
    assert!(
        inner.is_empty(),
        "an inner future that completed inside a still-running task is listed as a \
         finished task whose storage is alive (a zombie): {inner:#?}"
    );
}

#[test]
fn nested_traced_future_does_not_steal_the_tasks_storage_in_a_snapshot() {
    let _s = serial();
    let s = with_nested_tasks(|| common::snapshot("nested").expect("snapshot"));
    let name = |t: &turbowish_format::Task| s.string(t.name).to_owned();
    let outer: Vec<_> = s
        .tasks
        .iter()
        .filter(|t| name(t) == "review-outer")
        .collect();
    let inner: Vec<_> = s
        .tasks
        .iter()
        .filter(|t| name(t) == "review-inner")
        .collect();
    assert_eq!(outer.len(), 1);
    assert!(
        outer[0].storage.is_some(),
        "the running outer task lost its storage (task cell) to the completed inner \
         future (newest_owns_storage): outer={:?} inner={:?}",
        outer[0],
        inner
    );
    assert!(
        inner.is_empty(),
        "the completed inner future is a zombie row: {inner:?}"
    );
}

/// Registry rule 4 with `TURBOWISH_STACK=off`: every block's stack is
/// `StackId::NONE`, so a freed task box reused by any block of the same size
/// has the same size, stack and epoch: only the free of the watched record
/// (table rule 8) tells them apart.
#[test]
#[ignore = "child process of reused_cell_with_stacks_off_is_not_a_zombie"]
fn child_stacks_off() {
    if !is_child("child_stacks_off") {
        return;
    }
    assert_eq!(
        turbowish_alloc::settings().stack,
        turbowish_alloc::StackMode::Off
    );
    // A boxed traced future, polled once: its storage is its own box.
    let mut fut = Box::pin(std::future::pending::<()>().named("review-stacks-off"));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    let storage = turbowish_alloc::tasks()
        .into_iter()
        .find(|t| t.name == "review-stacks-off")
        .and_then(|t| t.storage)
        .expect("storage found at the first poll");
    let size = turbowish_alloc::block(storage as *const u8).unwrap().size;
    drop(fut); // cancelled, and its box freed: nothing holds it
    // The next allocation of that size takes the freed box's address: an
    // unrelated block, in no way the task's storage.
    let bytes: Vec<u8> = Vec::with_capacity(size);
    if bytes.as_ptr() as usize != storage {
        println!("REVIEW: setup: the freed box was not reused ({storage:#x})");
        std::process::exit(4);
    }
    let zombies: Vec<_> = turbowish_alloc::tasks()
        .into_iter()
        .filter(|t| t.name == "review-stacks-off")
        .collect();
    if !zombies.is_empty() {
        println!(
            "REVIEW: a dropped task whose freed box now holds a Vec<u8> is listed as a \
             zombie: {zombies:?}"
        );
        std::process::exit(3);
    }
    drop(bytes);
}

#[test]
fn reused_cell_with_stacks_off_is_not_a_zombie() {
    let mut cmd = rerun("child_stacks_off");
    cmd.env("TURBOWISH_STACK", "off");
    let ran = run(cmd, Duration::from_secs(60));
    assert_eq!(ran.code, Some(0), "{ran}");
}
