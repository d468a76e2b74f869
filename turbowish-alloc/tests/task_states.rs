//! A traced task reads the same in `tasks()` and in a snapshot (task rules
//! in `turbowish_format::rules::tasks`), and a reading of its state and poll
//! count is of one instant (registry rule 3).

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use turbowish_alloc::{TaskInfo, TaskState, TracedExt, TurboWish};

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

/// The task named `name` in `tasks()`, if listed.
fn find(name: &str) -> Option<TaskInfo> {
    let all = turbowish_alloc::tasks();
    let mut named = all.into_iter().filter(|t| t.name == name);
    let t = named.next();
    assert!(named.next().is_none(), "two tasks named {name}");
    t
}

/// The task named `name` in `tasks()`.
fn listed(name: &str) -> TaskInfo {
    find(name).unwrap_or_else(|| panic!("no task {name}"))
}

/// The state and polls of the task named `name` in a snapshot taken now.
fn snapshotted(name: &str) -> (TaskState, u64) {
    let s = common::snapshot(name).expect("snapshot");
    let t = (s.tasks.iter())
        .find(|t| s.string(t.name) == name)
        .unwrap_or_else(|| panic!("no task {name} in the snapshot"));
    (t.state, t.polls)
}

fn poll_once<F: Future + ?Sized>(f: Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

/// A future that returned `Ready` is done, dropped or not: completed in
/// both views.
#[test]
fn a_future_that_returned_ready_but_is_not_dropped_is_completed_in_both() {
    let _serial = common::serial();
    let mut task = Box::pin(async { 7 }.named("returned-ready"));
    assert_eq!(poll_once(task.as_mut()), Poll::Ready(7));
    let t = listed("returned-ready");
    assert_eq!((t.state, t.polls), (TaskState::Completed, 1));
    assert_eq!(snapshotted("returned-ready"), (TaskState::Completed, 1));
    drop(task);
}

#[test]
fn a_parked_future_is_pending_in_both() {
    let _serial = common::serial();
    let mut task = Box::pin(std::future::pending::<()>().named("parked"));
    assert!(poll_once(task.as_mut()).is_pending());
    let t = listed("parked");
    assert_eq!((t.state, t.polls), (TaskState::Pending, 1));
    assert_eq!(snapshotted("parked"), (TaskState::Pending, 1));
}

#[test]
fn a_future_inside_its_poll_is_running_in_both() {
    let _serial = common::serial();
    let looks = std::future::poll_fn(|_| {
        let t = listed("inside");
        Poll::Ready(((t.state, t.polls), snapshotted("inside")))
    });
    let mut task = Box::pin(looks.named("inside"));
    let Poll::Ready((listed, snapshotted)) = poll_once(task.as_mut()) else {
        panic!("the future is ready at once");
    };
    assert_eq!(listed, (TaskState::Running, 1));
    assert_eq!(snapshotted, (TaskState::Running, 1));
}

/// Polls the reader has let end: the gate's poll number N waits until this
/// reaches N.
static LET_END: AtomicU64 = AtomicU64::new(0);
static STOP: AtomicBool = AtomicBool::new(false);

/// A future whose polls end only when the reader lets them.
struct Gate(u64);

impl Future for Gate {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        self.0 += 1;
        while LET_END.load(Ordering::Acquire) < self.0 && !STOP.load(Ordering::Relaxed) {
            std::hint::spin_loop();
        }
        Poll::Pending
    }
}

/// While a task is polled over and over, no reading shows a poll counted
/// with the phase from before that poll: pending after poll N means poll N
/// returned. (`tasks()` read the two from separate words, so a reading taken
/// as a poll started could show its count but the idle phase before it.)
#[test]
fn a_reading_never_counts_a_poll_before_its_phase() {
    const POLLS: u64 = 10_000;
    let _serial = common::serial();
    let poller = std::thread::spawn(|| {
        let mut gate = Box::pin(Gate(0).named("gate"));
        while !STOP.load(Ordering::Relaxed) && poll_once(gate.as_mut()).is_pending() {
            std::hint::spin_loop();
        }
    });
    common::wait_for("the gate's first poll", || {
        find("gate").filter(|t| t.polls == 1).ok_or("not yet")
    });
    let mut bad = Vec::new();
    for n in 1..=POLLS {
        LET_END.store(n, Ordering::Release);
        // Read at different points of the poller's next poll start.
        for _ in 0..n % 32 {
            std::hint::spin_loop();
        }
        let t = listed("gate");
        if t.state == TaskState::Pending && t.polls > n {
            bad.push((n, t.polls));
        }
        if bad.len() >= 5 {
            break;
        }
    }
    STOP.store(true, Ordering::Relaxed);
    poller.join().unwrap();
    assert!(
        bad.is_empty(),
        "pending with polls that have not ended (polls let end, polls read): {bad:?}"
    );
}
