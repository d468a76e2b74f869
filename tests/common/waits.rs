//! The `waits` scenario tests' shared steps: a snapshot of this process
//! once the scenario's tasks are parked, their ids, and `turbowish waits
//! --json` read into maps by task id.
//!
//! A scenario runs on a current-thread runtime driven by a thread of its
//! own ([`park`]) until its tasks have all reached their await; then that
//! thread ends, leaving the runtime (and its pending tasks) to the test.
//! A thread that polled tasks keeps stale words of those polls on its
//! stack (a `Waker` it made, a channel's address), which the conservative
//! scan reads as ways to reach and wake the tasks (the analysis's rule on
//! stale stack words, `analysis::waits`, rule 3): with that thread gone,
//! only what really holds a task's waker can wake it. (The demo's tests
//! run a service on a multi-threaded runtime, workers and all.)

use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use turbowish_snap::{Snapshot, TaskState};

/// Where a test keeps its snapshot: `<tmp>/tw-<name>-<pid>.twsnap`.
pub fn snapshot_path(name: &str) -> PathBuf {
    let file = format!("tw-{name}-{}.twsnap", std::process::id());
    std::env::temp_dir().join(file)
}

/// Runs `setup` inside a new current-thread runtime (with I/O and time),
/// on a thread of its own, then drives the runtime until `parked` holds,
/// and ends that thread. `setup` spawns the scenario's tasks and drops
/// their handles; `parked` says when they have all been polled to their
/// await (a counter each task bumps in its first poll, before its first
/// await: on one thread, once the driver sees the count, those polls have
/// returned). Returns the runtime, which nothing drives any more, and what
/// `setup` returned.
pub fn park<T: Send>(
    setup: impl FnOnce() -> T + Send,
    parked: impl Fn() -> bool + Send,
) -> (tokio::runtime::Runtime, T) {
    let driver = move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let out = {
            let _in = rt.enter();
            setup()
        };
        rt.block_on(async {
            let deadline = Instant::now() + Duration::from_secs(30);
            while !parked() {
                assert!(Instant::now() < deadline, "the tasks never parked");
                tokio::task::yield_now().await;
            }
        });
        (rt, out)
    };
    std::thread::scope(|s| s.spawn(driver).join().unwrap())
}

/// The ids of the tasks spawned at `line` of the test file `file` (such as
/// `tests/waits_cycle.rs`).
pub fn ids_at(s: &Snapshot, file: &str, line: u32) -> BTreeSet<u64> {
    (s.tasks.iter())
        .filter(|t| t.line == line && s.string(t.file).ends_with(file))
        .map(|t| t.id)
        .collect()
}

/// Snapshots this process into `path` until the tasks spawned at each of
/// `lines` of `file` number as many as `counts` says and are all pending
/// (polled to their await, not running or queued).
pub fn snapshot_parked(path: &Path, file: &str, lines: &[(u32, usize)]) -> Snapshot {
    super::wait_for("the scenario's tasks to park", || {
        turbowish::snapshot_to(path).unwrap();
        let s = turbowish_snap::read_file(path).unwrap();
        for &(line, count) in lines {
            let at = |t: &&turbowish_snap::Task| t.line == line && s.string(t.file).ends_with(file);
            let parked = (s.tasks.iter())
                .filter(at)
                .filter(|t| t.state == TaskState::Pending)
                .count();
            let all = s.tasks.iter().filter(at).count();
            if parked != count || all != count {
                return Err(format!(
                    "line {line}: {parked} of {all} parked, want {count}"
                ));
            }
        }
        Ok(s)
    })
}

/// `turbowish waits --json --top 0 FILE` (every task listed), plus `extra`
/// arguments.
pub fn waits(file: &Path, extra: &[&str]) -> Value {
    let mut args: Vec<&std::ffi::OsStr> = vec!["waits".as_ref(), file.as_os_str()];
    args.extend(["--top", "0"].map(std::ffi::OsStr::new));
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    args.push("--json".as_ref());
    super::turbowish_json(&args)
}

/// `turbowish waits FILE` as text, which must succeed.
pub fn waits_text(file: &Path) -> String {
    let out = super::turbowish(&["waits".as_ref(), file.as_os_str()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The stuck tasks of `waits --json`, by id.
pub fn stuck(v: &Value) -> HashMap<u64, &Value> {
    let list = v["stuck"]
        .as_array()
        .unwrap_or_else(|| panic!("no stuck list: {v:#}"));
    list.iter().map(|t| (id(t), t)).collect()
}

/// The cycles of `waits --json`, each as the set of its tasks' ids.
pub fn cycles(v: &Value) -> Vec<BTreeSet<u64>> {
    let list = v["cycles"]
        .as_array()
        .unwrap_or_else(|| panic!("no cycles: {v:#}"));
    let ids = |c: &Value| c.as_array().unwrap().iter().map(id).collect();
    list.iter().map(ids).collect()
}

/// A task object's id.
pub fn id(t: &Value) -> u64 {
    t["id"].as_u64().unwrap_or_else(|| panic!("no id: {t:#}"))
}

/// A list of ids in a stuck task's entry (`holders`, `join_handle_holders`).
pub fn ids(t: &Value, key: &str) -> Vec<u64> {
    let list = t[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key}: {t:#}"));
    list.iter().map(|v| v.as_u64().unwrap()).collect()
}

/// Checks the fields every task object has, for a task spawned at
/// `file:line` in state `state`.
pub fn assert_task_object(t: &Value, kind: &str, site: &str, state: &str) {
    assert_eq!(t["kind"], kind, "{t:#}");
    assert_eq!(t["state"], state, "{t:#}");
    let at = t["spawned_at"].as_str().unwrap_or_else(|| panic!("{t:#}"));
    assert!(
        at.ends_with(site) || at.contains(&format!("{site}:")),
        "{site}: {t:#}"
    );
    assert!(t["future_type"].is_string(), "{t:#}");
    assert!(t["retained"].as_u64().is_some(), "{t:#}");
}
