//! Stuck behind a stuck task: 100 plain `tokio::spawn` tasks await oneshot
//! receivers whose senders only a task awaiting `pending()` holds. Nothing
//! can wake that holder, so nothing can ever send: `turbowish waits` finds
//! all 101 stuck, the 100 behind the holder, the holder with no waker.

mod common;

use common::waits::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::oneshot;
use turbowish::TurboWish;

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

const FILE: &str = "tests/waits_behind.rs";
const WAITERS: usize = 100;

/// Tasks that have started.
static STARTED: AtomicUsize = AtomicUsize::new(0);

/// Spawns the holder and the waiters; their spawn lines.
fn setup() -> (u32, u32) {
    let (senders, receivers): (Vec<_>, Vec<_>) =
        (0..WAITERS).map(|_| oneshot::channel::<()>()).unzip();
    let holder = line!() + 1;
    drop(tokio::spawn(async move {
        let _senders = senders;
        STARTED.fetch_add(1, Ordering::SeqCst);
        std::future::pending::<()>().await;
    }));
    let waiter = line!() + 2;
    for rx in receivers {
        drop(tokio::spawn(async move {
            STARTED.fetch_add(1, Ordering::SeqCst);
            let _ = rx.await;
        }));
    }
    (holder, waiter)
}

#[test]
fn tasks_waiting_on_senders_a_stuck_task_holds_are_stuck_behind_it() {
    let (rt, (holder_line, waiter_line)) =
        park(setup, || STARTED.load(Ordering::SeqCst) == WAITERS + 1);
    let path = snapshot_path("waits-behind");
    let s = snapshot_parked(&path, FILE, &[(holder_line, 1), (waiter_line, WAITERS)]);
    let holder = *ids_at(&s, FILE, holder_line).first().unwrap();
    let waiters = ids_at(&s, FILE, waiter_line);

    let v = waits(&path, &[]);
    let stuck = stuck(&v);
    let mut want = waiters.clone();
    want.insert(holder);
    let got: std::collections::BTreeSet<u64> = stuck.keys().copied().collect();
    assert_eq!(got, want, "all 101 stuck, nothing else: {v:#}");
    assert!(cycles(&v).is_empty(), "{v:#}");

    let h = stuck[&holder];
    assert_task_object(h, "tokio", &format!("{FILE}:{holder_line}"), "pending");
    assert_eq!(h["reason"], "no-waker", "{h:#}");
    assert_eq!(ids(h, "holders"), Vec::<u64>::new(), "{h:#}");
    for w in &waiters {
        let t = stuck[w];
        assert_task_object(t, "tokio", &format!("{FILE}:{waiter_line}"), "pending");
        assert_eq!(t["reason"], "behind", "{t:#}");
        assert_eq!(t["behind"].as_u64(), Some(holder), "{t:#}");
        assert_eq!(ids(t, "holders"), [holder], "{t:#}");
        assert_eq!(t["held_by_unreachable"], false, "{t:#}");
    }

    // The text names the holder's spawn site and counts the tasks behind it.
    let text = waits_text(&path);
    assert!(text.contains(&format!("{FILE}:{holder_line}")), "{text}");
    assert!(text.contains(&WAITERS.to_string()), "{text}");

    rt.shutdown_background();
    let _ = std::fs::remove_file(&path);
}
