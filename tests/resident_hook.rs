//! An allocator's figures hook runs in the snapshot's fork child, never in
//! the running program (figures rule 3): a slow walk of the allocator's
//! free lists (glibc's `mallinfo2` holds each arena's lock while it walks)
//! must not make the program's threads wait.
//!
//! The hook counts its calls in a static, which a fork child's writes never
//! reach, and reports the pid it ran in as its "held" figure.

mod common;

use common::turbowish_json;
use std::alloc::System;
use std::sync::atomic::{AtomicU32, Ordering};
use turbowish::{AllocatorFigures, TurboWish};

/// Calls of [`hook`] seen by this process.
static CALLS: AtomicU32 = AtomicU32::new(0);

fn hook() -> Option<AllocatorFigures> {
    CALLS.fetch_add(1, Ordering::Relaxed);
    let pid = u64::from(std::process::id());
    Some(AllocatorFigures::new("test-hook", pid, 0, 0))
}

#[global_allocator]
static ALLOC: TurboWish = TurboWish::new(System).with_figures(hook);

#[test]
fn the_figures_hook_runs_in_the_child_only() {
    let dir = std::env::temp_dir().join(format!("tw-resident-hook-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let parent = u64::from(std::process::id());
    for n in 0..3 {
        let file = dir.join(format!("{n}.twsnap"));
        turbowish::snapshot_to(&file).unwrap();
        let v = turbowish_json(&["summary".as_ref(), "--json".as_ref(), file.as_os_str()]);
        let a = &v["memory"]["allocator"];
        assert_eq!(a["name"], "test-hook", "the hook gave the figures: {a:#}");
        let ran_in = a["held"].as_u64().unwrap();
        assert_ne!(ran_in, parent, "the hook ran in the program itself");
        assert_ne!(ran_in, 0, "{a:#}");
    }
    assert_eq!(
        CALLS.load(Ordering::Relaxed),
        0,
        "the hook ran in the program"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
