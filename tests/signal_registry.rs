//! The signal registry is the process's: when the program registers its own
//! handler after `install()` registered TurboWish's, the registry's tables
//! (shared by both) are reachable in a snapshot, not a false plain leak
//! (install rule 5: the registration is tracked, so the table that holds
//! every registrant's entries is a block the scan reads).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use turbowish::TurboWish;
use turbowish_snap::analysis::Analysis;

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

#[test]
fn the_programs_signal_handlers_are_reachable_after_install() {
    let dir = std::env::temp_dir().join(format!("tw-signal-registry-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    turbowish::Config::default()
        .dir(&dir)
        .signal(Some(libc::SIGUSR2))
        .install()
        .expect("install");
    let flag = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(libc::SIGWINCH, flag).expect("register");
    let path = dir.join("registry.twsnap");
    turbowish::snapshot_to(&path).expect("snapshot");
    let snap = turbowish_snap::read_file(&path).expect("readable");
    std::fs::remove_dir_all(&dir).unwrap();

    let a = Analysis::new(&snap);
    let (graph, retained) = (a.graph(), a.retained());
    let registry_blocks: Vec<_> = (snap.block_indices())
        .filter(|&b| {
            let stack = snap.stack(snap.block(b).stack);
            (stack.iter().flat_map(|&f| &snap.frames[f].symbols))
                .any(|s| snap.string(s.function).contains("signal_hook_registry::"))
        })
        .collect();
    assert!(
        !registry_blocks.is_empty(),
        "the registry's blocks are tracked"
    );
    let lost: Vec<_> = (registry_blocks.iter())
        .filter(|&&b| !retained.reachable(graph.block_node(b.get())))
        .map(|&b| snap.block(b))
        .collect();
    assert!(
        lost.is_empty(),
        "registry blocks no root reaches: {lost:#?}"
    );
}
