//! Helpers shared by the end-to-end tests that snapshot their own process.

use std::ffi::OsStr;
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use turbowish_alloc::{TaskInfo, TaskState};

/// Overwrites the stack below the caller's frame.
///
/// Fresh allocations leave copies of their pointers in dead stack slots (the
/// allocator's frames, spills), which a worker's later frames can keep
/// unchanged; the conservative scan of that worker's stack then counts the
/// blocks as held by the thread (a documented limit). These tests measure
/// the graph arithmetic, so they clear those copies.
#[inline(never)]
pub fn scrub_stack() {
    let zeros = [0u8; 64 * 1024];
    std::hint::black_box(&zeros);
}

/// Runs the `turbowish` binary.
pub fn turbowish(args: &[&OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_turbowish"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs `turbowish` with `args`, which must succeed, and parses its JSON.
pub fn turbowish_json(args: &[&OsStr]) -> serde_json::Value {
    let out = turbowish(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

/// Waits until `count` of the traced tasks `mine` picks have reached their
/// first `.await`: polled at least once, and pending. Polls
/// [`turbowish_alloc::tasks`]; fails after 30 s.
///
/// The condition must hold in two readings in a row: a reading is not one
/// instant (a task's state and poll count are separate words), and one
/// taken as a first poll starts could see the count of the poll but not
/// yet its state.
#[allow(dead_code)] // not every test file spawns tasks
pub fn wait_until_parked(count: usize, mine: impl Fn(&TaskInfo) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let parked = || {
        let tasks = turbowish_alloc::tasks();
        let waiting = |t: &&TaskInfo| mine(t) && t.state == TaskState::Pending && t.polls > 0;
        tasks.iter().filter(waiting).count()
    };
    let mut before = 0;
    loop {
        let now = parked();
        if now >= count && before >= count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "after 30 s, {now} of {count} tasks have reached their first await"
        );
        before = now;
        std::thread::sleep(Duration::from_millis(1));
    }
}
