//! Helpers shared by the end-to-end tests: the `turbowish` CLI
//! ([`bins`] builds it), tests that snapshot their own process, and the demo
//! service under load ([`service`]).

#![allow(dead_code)] // each test binary uses its own subset

pub mod bins;
pub mod list;
pub mod service;
pub mod waits;

use std::ffi::OsStr;
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use turbowish::{TaskInfo, TaskState};

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
pub fn turbowish<S: AsRef<OsStr>>(args: &[S]) -> Output {
    Command::new(bins::turbowish()).args(args).output().unwrap()
}

/// Runs `turbowish` with `args`, which must succeed, and parses its JSON.
pub fn turbowish_json<S: AsRef<OsStr>>(args: &[S]) -> serde_json::Value {
    let out = turbowish(args);
    assert!(
        out.status.success(),
        "turbowish {:?} failed: {}",
        args.iter().map(AsRef::as_ref).collect::<Vec<&OsStr>>(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

/// Waits until `count` of the traced tasks `mine` picks have reached their
/// first `.await`: polled at least once, and pending. Polls
/// [`turbowish::tasks`]; fails after 30 s.
///
/// The condition must hold in two readings in a row: a reading is not one
/// instant (a task's state and poll count are separate words), and one
/// taken as a first poll starts could see the count of the poll but not
/// yet its state.
pub fn wait_until_parked(count: usize, mine: impl Fn(&TaskInfo) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let parked = || {
        let tasks = turbowish::tasks();
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

/// Calls `check` every few milliseconds until it gives `Ok`; fails after
/// two minutes with the last `Err`.
pub fn wait_for<T, E: std::fmt::Debug>(what: &str, mut check: impl FnMut() -> Result<T, E>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        match check() {
            Ok(v) => return v,
            Err(e) if std::time::Instant::now() >= deadline => panic!("waited for {what}: {e:?}"),
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
        }
    }
}

/// Runs `turbowish COMMAND ARGS FILE` and checks that it is refused as a
/// user error: exit status 2 and one line on stderr containing `message`.
pub fn assert_refused(command: &str, args: &[&str], file: &std::path::Path, message: &str) {
    let mut all: Vec<&OsStr> = vec![command.as_ref()];
    all.extend(args.iter().map(OsStr::new));
    all.push(file.as_os_str());
    let out = turbowish(&all);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(message), "{args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// The message `f` panics with (a `String` or a `&str` payload).
pub fn panic_message(f: impl FnOnce()) -> String {
    let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_err();
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => p.downcast_ref::<&str>().unwrap().to_string(),
    }
}
