//! Helpers shared by this crate's integration tests: snapshots of the test
//! process itself, blocks looked up in them, waiting for a condition, and
//! re-running the test binary as a child process.
//!
//! Each test file that needs them declares `mod common;`; every file gets
//! its own copy, so each keeps its own `#[global_allocator]`.

#![allow(dead_code)] // each test file uses part of the helpers

pub mod install_child;
pub mod triggers;

use std::fmt::Debug;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use turbowish_alloc::{Config, Error, SnapshotInfo};
use turbowish_format::{BlockIndex, Snapshot};

/// How long any one condition may take before a test gives up. Generous:
/// the machine may be shared and loaded; a condition that never comes
/// still fails the test, only later.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// Snapshots this process (with the default settings) into a temporary
/// file named after `name`, reads it back and removes the file.
pub fn snapshot(name: &str) -> Result<Snapshot, Error> {
    snapshot_with_info(name, &Config::default()).map(|(_, s)| s)
}

/// [`snapshot`] with `config`'s time-out, and what the capture reported.
pub fn snapshot_with_info(name: &str, config: &Config) -> Result<(SnapshotInfo, Snapshot), Error> {
    let path = std::env::temp_dir().join(format!("tw-{name}-{}.twsnap", std::process::id()));
    let taken = config.snapshot_to(&path).map(|info| {
        let snap = turbowish_format::read_file(&path).expect("a snapshot just written is readable");
        (info, snap)
    });
    let _ = std::fs::remove_file(&path);
    taken
}

/// The index of the block that starts at `addr` in `s` (whose blocks are
/// sorted by address); panics if no live block starts there.
pub fn block_index(s: &Snapshot, addr: usize) -> BlockIndex {
    let i = s
        .blocks
        .binary_search_by_key(&(addr as u64), |b| b.addr)
        .unwrap_or_else(|_| panic!("no live block starts at {addr:#x}"));
    BlockIndex::new(i as u32)
}

/// Calls `check` every few milliseconds until it gives `Ok`, and returns
/// that; panics, naming `what` and showing the last `Err`, if [`PATIENCE`]
/// runs out first.
pub fn wait_for<T, E: Debug>(what: &str, mut check: impl FnMut() -> Result<T, E>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match check() {
            Ok(v) => return v,
            Err(e) if Instant::now() >= deadline => {
                panic!("waited {PATIENCE:?} for {what}, in vain; last: {e:?}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Makes the tests of one file run one at a time (snapshots advance the
/// epoch, and task listings are process-wide).
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// Set, to the test's name, in a child made by [`rerun`].
pub const CHILD: &str = "TURBOWISH_TEST_CHILD";

/// Whether this process is the child [`rerun`] made for `test`.
pub fn is_child(test: &str) -> bool {
    std::env::var(CHILD).is_ok_and(|v| v == test)
}

/// This test binary again, to run only the test `test` (ignored or not),
/// on one thread, with [`CHILD`] set to its name and its output piped.
pub fn rerun(test: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        test,
        "--exact",
        "--include-ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD, test)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    cmd
}

/// How a child process ended.
#[derive(Debug)]
pub struct Ran {
    /// Its exit status, `None` if a signal ended it or it was killed for
    /// taking longer than allowed.
    pub code: Option<i32>,
    /// Whether it was killed for taking longer than allowed.
    pub timed_out: bool,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl Ran {
    /// Whether it exited with status 0 and ran exactly one test that passed.
    pub fn passed_one(&self) -> bool {
        self.code == Some(0) && self.stdout.contains("1 passed")
    }
}

impl std::fmt::Display for Ran {
    /// Both streams, for a failed assertion's message.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.stdout, self.stderr)
    }
}

/// Runs `cmd` (its output piped, as [`rerun`] makes it) until it exits,
/// killing it after `limit`.
pub fn run(mut cmd: Command, limit: Duration) -> Ran {
    let mut child = cmd.spawn().unwrap();
    // Read while it runs: a full pipe would stall the child.
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let _ = pipe.read_to_end(&mut out);
            String::from_utf8_lossy(&out).into_owned()
        })
    };
    let stdout = read(Box::new(child.stdout.take().unwrap()));
    let stderr = read(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + limit;
    let (status, timed_out) = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break (Some(status), false);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break (None, true);
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Ran {
        code: status.and_then(|s| s.code()),
        timed_out,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// A fresh, empty directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("turbowish-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The names in `dir`, sorted (bytes that are not UTF-8 show as U+FFFD).
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The lowest address of the calling thread's stack mapping.
pub fn stack_lo() -> usize {
    // SAFETY: `attr` is initialised by pthread_getattr_np before use and
    // destroyed once; the out-pointers are valid locals.
    unsafe {
        let mut attr: libc::pthread_attr_t = core::mem::zeroed();
        assert_eq!(libc::pthread_getattr_np(libc::pthread_self(), &mut attr), 0);
        let mut addr = core::ptr::null_mut();
        let mut size = 0;
        libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
        libc::pthread_attr_destroy(&mut attr);
        addr as usize
    }
}

/// Waits until the live figures are back to `base`'s: other threads (the
/// test harness, a capture finishing) may still hold a block for a moment.
pub fn settles_to(base: &turbowish_alloc::Stats) {
    wait_for("live figures back to where they were", || {
        let now = turbowish_alloc::stats();
        let (was, is) = (
            (base.live_bytes, base.live_blocks),
            (now.live_bytes, now.live_blocks),
        );
        if was == is { Ok(()) } else { Err((was, is)) }
    });
}

/// `n` block sizes of 8 to 507 bytes, the same sequence every time: a mix
/// like a service's small blocks, for memory-per-block measurements.
pub fn small_sizes(n: usize) -> impl Iterator<Item = usize> {
    let mut x = 88172645463325252u64;
    (0..n).map(move |_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        8 + (x % 500) as usize
    })
}
