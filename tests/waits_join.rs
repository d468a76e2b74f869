//! Stuck behind a `JoinHandle`, with traced tasks: a `joiner` task awaits
//! the `JoinHandle` of a `stuck` task that awaits `pending()`. The joiner's
//! waker sits in the stuck task's cell, which nothing can wake, so
//! `turbowish waits` finds both stuck: `stuck` with no waker (the joiner
//! holds its handle, which only counts as information), `joiner` behind it.

mod common;

use common::waits::*;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use turbowish::{TracedExt, TurboWish};

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

const FILE: &str = "tests/waits_join.rs";

/// Tasks that have started.
static STARTED: AtomicUsize = AtomicUsize::new(0);

/// Spawns the two tasks; their spawn lines.
fn setup() -> (u32, u32) {
    let stuck_line = line!() + 1;
    let stuck = never().named("stuck").spawn();
    let joiner_line = line!() + 1;
    drop(join(stuck).named("joiner").spawn());
    (stuck_line, joiner_line)
}

async fn never() {
    STARTED.fetch_add(1, Ordering::SeqCst);
    std::future::pending::<()>().await;
}

async fn join(task: tokio::task::JoinHandle<()>) {
    STARTED.fetch_add(1, Ordering::SeqCst);
    let _ = task.await;
}

#[test]
fn a_task_awaiting_a_stuck_tasks_join_handle_is_stuck_behind_it() {
    let (rt, (stuck_line, joiner_line)) = park(setup, || STARTED.load(Ordering::SeqCst) == 2);
    let path = snapshot_path("waits-join");
    let s = snapshot_parked(&path, FILE, &[(stuck_line, 1), (joiner_line, 1)]);
    let one = |line| *ids_at(&s, FILE, line).first().unwrap();
    let (stuck_id, joiner_id) = (one(stuck_line), one(joiner_line));

    let v = waits(&path, &[]);
    let stuck = stuck(&v);
    let got: BTreeSet<u64> = stuck.keys().copied().collect();
    assert_eq!(got, BTreeSet::from([stuck_id, joiner_id]), "{v:#}");
    assert!(cycles(&v).is_empty(), "a handle is no way to wake: {v:#}");

    let t = stuck[&stuck_id];
    assert_task_object(t, "traced", &format!("{FILE}:{stuck_line}"), "pending");
    assert_eq!(t["reason"], "no-waker", "{t:#}");
    assert_eq!(ids(t, "join_handle_holders"), [joiner_id], "{t:#}");

    let j = stuck[&joiner_id];
    assert_task_object(j, "traced", &format!("{FILE}:{joiner_line}"), "pending");
    assert_eq!(j["reason"], "behind", "{j:#}");
    assert_eq!(j["behind"].as_u64(), Some(stuck_id), "{j:#}");
    assert_eq!(ids(j, "holders"), [stuck_id], "{j:#}");

    rt.shutdown_background();
    let _ = std::fs::remove_file(&path);
}
