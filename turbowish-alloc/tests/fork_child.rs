//! A forked child keeps allocating and freeing through TurboWish (including
//! blocks the table never saw) without panicking or deadlocking.

use std::alloc::{GlobalAlloc, Layout, System};
use turbowish_alloc::{TurboWish, block, stats};

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

/// Runs in the child; returns the exit status to report.
fn child_work(inherited: &[u8]) -> i32 {
    // A block the parent allocated is still tracked in the child's copy.
    if block(inherited.as_ptr()).map(|b| b.size) != Some(inherited.len()) {
        return 10;
    }
    let before = stats();
    let v: Vec<u64> = (0..1000).collect();
    if stats().live_bytes != before.live_bytes + 8000 {
        return 11;
    }
    drop(v);
    let layout = Layout::from_size_align(48, 8).unwrap();
    // SAFETY: the global allocator wraps System, so System blocks may be
    // freed through it.
    unsafe { std::alloc::dealloc(System.alloc(layout), layout) };
    let after = stats();
    if after.unknown_frees != before.unknown_frees + 1 || after.live_bytes != before.live_bytes {
        return 12;
    }
    0
}

#[test]
fn a_forked_child_allocates_and_frees_unknown_blocks() {
    let inherited = vec![9u8; 5000];
    // SAFETY: the child only runs `child_work` (which allocates through
    // TurboWish and glibc malloc, both usable after fork: no other thread
    // holds a TurboWish lock here, as none is allocating) and then `_exit`s
    // without running destructors or atexit handlers.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = std::panic::catch_unwind(|| child_work(&inherited)).unwrap_or(20);
        // SAFETY: ends the child at once.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for our own child; `status` is a valid out-pointer.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    assert!(libc::WIFEXITED(status), "child died: status {status:#x}");
    assert_eq!(libc::WEXITSTATUS(status), 0, "child check failed");
}
