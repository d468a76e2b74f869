//! TurboWish's own bookkeeping never appears in a snapshot: on a quiet
//! process, a snapshot holds exactly the blocks `stats()` counted just
//! before it, and none of them was allocated by TurboWish's own code (the
//! snapshot thread, its settings, the module list and file name a capture
//! prepares). The signal registry's tables are the exception (install rule
//! 5): they are the process's, shared with the program's own registrations.
//!
//! This binary has its own harness, run on the main thread, so the process
//! is quiet: no harness thread allocates between `stats()` and the
//! snapshot.

mod common;

use turbowish_alloc::{Config, TurboWish};
use turbowish_format::Snapshot;

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

/// Whether `function` is TurboWish's own code, other than the allocation
/// path every allocation passes through (the shim and its stack walk).
fn is_turbowish(function: &str) -> bool {
    function.contains("turbowish_alloc::") && !function.contains("turbowish_alloc::heap::")
}

/// The blocks allocated by TurboWish's own code: size and the functions of
/// their stacks.
fn own_blocks(s: &Snapshot) -> Vec<(u64, Vec<&str>)> {
    s.blocks
        .iter()
        .filter_map(|b| {
            let functions: Vec<&str> = (s.stack(b.stack).iter())
                .flat_map(|&f| &s.frames[f].symbols)
                .map(|sym| s.string(sym.function))
                .collect();
            let registry = functions
                .iter()
                .any(|f| f.contains("signal_hook_registry::"));
            (!registry && functions.iter().any(|f| is_turbowish(f))).then_some((b.size, functions))
        })
        .collect()
}

fn main() {
    let mut args = libtest_mimic::Arguments::from_args();
    args.test_threads = Some(1); // on the main thread
    let name = "a_snapshot_holds_what_stats_counted_and_nothing_of_turbowish";
    let trial = libtest_mimic::Trial::test(name, || {
        a_snapshot_holds_what_stats_counted_and_nothing_of_turbowish();
        Ok(())
    });
    libtest_mimic::run(&args, vec![trial]).exit();
}

fn a_snapshot_holds_what_stats_counted_and_nothing_of_turbowish() {
    let dir = common::temp_dir("own-bookkeeping");
    Config::default()
        .dir(&dir)
        .signal(Some(libc::SIGUSR2))
        .install()
        .expect("install");
    let path = dir.join("quiet.twsnap");
    let before = turbowish_alloc::stats();
    let taken = turbowish_alloc::snapshot_to(&path);
    let info = taken.expect("snapshot");
    let s = turbowish_format::read_file(&info.path).expect("readable");
    drop(info);
    std::fs::remove_dir_all(&dir).unwrap();

    let own = own_blocks(&s);
    assert!(own.is_empty(), "blocks of TurboWish's own: {own:#?}");
    let bytes: u64 = s.blocks.iter().map(|b| b.size).sum();
    assert_eq!(
        (s.blocks.len() as u64, bytes),
        (before.live_blocks, before.live_bytes),
        "blocks and bytes in the snapshot, against stats() just before"
    );
    assert_eq!(s.capture.live_bytes, before.live_bytes);
}
