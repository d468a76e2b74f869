//! The fork protocol: while other threads churn allocations, every forked
//! child can allocate and free at once. Without the protocol a child that
//! forked while another thread held a shard lock would spin for ever.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use turbowish_alloc::{TurboWish, stats};

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

const FORKS: usize = 200;
const CHILD_DEADLINE: Duration = Duration::from_secs(5);

fn churn(stop: &AtomicBool, seed: usize) {
    let mut held: Vec<Vec<u8>> = Vec::with_capacity(64);
    let mut i = seed;
    while !stop.load(Ordering::Relaxed) {
        i = i.wrapping_mul(6364136223846793005).wrapping_add(1);
        let size = 16 + (i >> 40) % 6000; // both small and large records
        if held.len() == held.capacity() {
            held.clear();
        }
        held.push(vec![1u8; size]);
    }
}

/// In the child: allocate, free, read the stats, leave. Returns an exit code.
fn child() -> i32 {
    let v: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    let ok = v.len() == 100 && stats().live_blocks > 100;
    drop(v);
    if ok { 0 } else { 3 }
}

/// Waits for `pid` up to the deadline; kills it if it is stuck.
fn reap(pid: libc::pid_t) -> Result<i32, &'static str> {
    let start = Instant::now();
    loop {
        let mut status = 0;
        // SAFETY: polls our own child; `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return if libc::WIFEXITED(status) {
                Ok(libc::WEXITSTATUS(status))
            } else {
                Err("child died by a signal")
            };
        }
        if start.elapsed() > CHILD_DEADLINE {
            // SAFETY: kills and reaps our own stuck child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return Err("child hung");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn forked_children_never_find_a_lock_held() {
    let stop = AtomicBool::new(false);
    let failures = std::thread::scope(|s| {
        for seed in 1..=4 {
            let stop = &stop;
            s.spawn(move || churn(stop, seed));
        }
        let mut failures = Vec::new();
        for _ in 0..FORKS {
            // SAFETY: the child only allocates through TurboWish (made
            // fork-safe by its atfork handlers) and glibc malloc (fork-safe),
            // then `_exit`s without running destructors.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork failed");
            if pid == 0 {
                let code = std::panic::catch_unwind(child).unwrap_or(4);
                // SAFETY: ends the child at once.
                unsafe { libc::_exit(code) };
            }
            match reap(pid) {
                Ok(0) => {}
                Ok(code) => failures.push(format!("child exited with {code}")),
                Err(e) => failures.push(e.to_string()),
            }
        }
        stop.store(true, Ordering::Relaxed);
        failures
    });
    assert!(
        failures.is_empty(),
        "{} of {FORKS} children failed: {failures:?}",
        failures.len()
    );
}
