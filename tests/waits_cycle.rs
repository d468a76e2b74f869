//! A deadlock: two plain `tokio::spawn` tasks lock two tokio `Mutex`es,
//! that nothing else owns, in opposite orders (a barrier between their
//! first and second lock makes the deadlock certain). `turbowish waits`
//! finds both stuck and one cycle naming both.

mod common;

use common::waits::*;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{Barrier, Mutex};
use turbowish::TurboWish;

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

const FILE: &str = "tests/waits_cycle.rs";

/// Tasks that hold their first lock and have passed the barrier.
static PASSED: AtomicUsize = AtomicUsize::new(0);

/// Spawns the two tasks; their spawn line.
fn setup() -> u32 {
    let (a, b) = (Arc::new(Mutex::new(1u64)), Arc::new(Mutex::new(2u64)));
    let both_locked = Arc::new(Barrier::new(2));
    let line = line!() + 3;
    for (first, second) in [(a.clone(), b.clone()), (b, a)] {
        let both_locked = both_locked.clone();
        drop(tokio::spawn(async move {
            let mut mine = first.lock().await;
            both_locked.wait().await;
            PASSED.fetch_add(1, Ordering::SeqCst);
            let theirs = second.lock().await;
            *mine += *theirs;
        }));
    }
    line
}

#[test]
fn two_tasks_locking_in_opposite_orders_are_one_cycle() {
    let (rt, line) = park(setup, || PASSED.load(Ordering::SeqCst) == 2);
    let path = snapshot_path("waits-cycle");
    let s = snapshot_parked(&path, FILE, &[(line, 2)]);
    let pair = ids_at(&s, FILE, line);

    let v = waits(&path, &[]);
    let stuck = stuck(&v);
    let got: BTreeSet<u64> = stuck.keys().copied().collect();
    assert_eq!(got, pair, "both stuck, nothing else: {v:#}");
    assert_eq!(
        cycles(&v),
        std::slice::from_ref(&pair),
        "one cycle of the two: {v:#}"
    );
    for (&id, other) in pair.iter().zip(pair.iter().rev()) {
        let t = stuck[&id];
        assert_task_object(t, "tokio", &format!("{FILE}:{line}"), "pending");
        assert_eq!(t["reason"], "cycle", "{t:#}");
        assert_eq!(t["cycle"].as_u64(), Some(0), "{t:#}");
        assert!(ids(t, "holders").contains(other), "{t:#}");
    }
    let cycle = &v["cycles"][0];
    for t in cycle.as_array().unwrap() {
        assert_task_object(t, "tokio", &format!("{FILE}:{line}"), "pending");
    }

    let text = waits_text(&path);
    for id in &pair {
        assert!(text.contains(&id.to_string()), "task {id}: {text}");
    }

    rt.shutdown_background();
    let _ = std::fs::remove_file(&path);
}
