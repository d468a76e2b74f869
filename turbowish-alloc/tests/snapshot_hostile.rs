//! Captures under hostile conditions: signals interrupting the wait for the
//! child, absurd time-outs, and a user's own `fork` without `exec`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use turbowish_alloc::{Config, Error, TurboWish, snapshot_to};

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

extern "C" fn ignore(_: libc::c_int) {}

/// A signal storm at the capturing thread must not stretch the time-out:
/// each signal interrupts `poll`, which must not fall into a blocking read.
#[test]
fn signals_do_not_defeat_the_time_out() {
    let held: Vec<Box<[u8]>> = (0..50_000)
        .map(|i| vec![i as u8; 48].into_boxed_slice())
        .collect();
    // SAFETY: installs a handler that does nothing, with SA_RESTART.
    unsafe {
        let mut sa: libc::sigaction = core::mem::zeroed();
        sa.sa_sigaction = ignore as *const () as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigaction(libc::SIGUSR2, &sa, core::ptr::null_mut());
    }
    // SAFETY: pthread_self has no preconditions.
    let me = unsafe { libc::pthread_self() };
    let stop = AtomicBool::new(false);
    let dir = std::env::temp_dir();
    let path = dir.join(format!("turbowish-eintr-{}.twsnap", std::process::id()));
    // What a capture that waits for the child takes on this machine now.
    let start = Instant::now();
    Config::default()
        .snapshot_to(&path)
        .expect("a snapshot without time-out");
    let whole = start.elapsed();
    let (result, took) = std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                // SAFETY: `me` is alive until `stop` is set.
                unsafe { libc::pthread_kill(me, libc::SIGUSR2) };
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        let start = Instant::now();
        let r = Config::default()
            .timeout(Duration::from_millis(50))
            .snapshot_to(&path);
        let took = start.elapsed();
        stop.store(true, Ordering::Relaxed);
        (r, took)
    });
    let _ = std::fs::remove_file(&path);
    // The capture of this debug binary takes far longer than 50 ms, so it
    // must time out, promptly: well before a capture that waited for the
    // child would end (a loaded machine slows both alike).
    assert!(matches!(result, Err(Error::TimedOut(_))), "{result:?}");
    assert!(
        took < Duration::from_millis(700).max(whole / 2),
        "took {took:?} for a 50 ms time-out; a whole capture took {whole:?}"
    );
    std::hint::black_box(held);
}

#[test]
fn an_absurd_time_out_is_no_time_out() {
    let path = std::env::temp_dir().join(format!("turbowish-maxto-{}.twsnap", std::process::id()));
    let info = Config::default()
        .timeout(Duration::MAX)
        .snapshot_to(&path)
        .expect("snapshot");
    assert!(info.blocks > 0);
    std::fs::remove_file(&path).unwrap();
}

/// In the child of a user's `fork`, the parent's other threads are gone: a
/// snapshot there has only this thread's stack as a root.
#[test]
fn snapshots_work_in_a_users_forked_child() {
    let path =
        std::env::temp_dir().join(format!("turbowish-userfork-{}.twsnap", std::process::id()));
    // Another thread, so the parent's registry holds more than this one: it
    // registers at its first allocation, then says so.
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (registered_tx, registered_rx) = std::sync::mpsc::channel::<()>();
    let other = std::thread::spawn(move || {
        let _ = std::hint::black_box(vec![0u8; 10]);
        registered_tx.send(()).unwrap();
        rx.recv().ok();
    });
    registered_rx.recv().unwrap();
    // SAFETY: the child only takes a snapshot (TurboWish is fork-safe),
    // reads it, and `_exit`s.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let code = std::panic::catch_unwind(|| child_checks(&path)).unwrap_or(9);
        // SAFETY: ends the child at once.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    tx.send(()).unwrap();
    other.join().unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(libc::WIFEXITED(status), "child died: {status:#x}");
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "a check in the forked child failed"
    );
}

/// Exit code 0 when the forked child's snapshot is right.
fn child_checks(path: &std::path::Path) -> i32 {
    if snapshot_to(path).is_err() {
        return 1;
    }
    let Ok(s) = turbowish_format::read_file(path) else {
        return 2;
    };
    // SAFETY: gettid has no preconditions.
    let me = format!("thread {}", unsafe { libc::gettid() });
    let stacks: Vec<&str> = s
        .roots
        .iter()
        .filter(|r| r.kind == turbowish_format::RootKind::ThreadStack)
        .map(|r| s.string(r.label))
        .collect();
    if stacks != [me.as_str()] {
        return 3;
    }
    0
}
