//! Fuzzes the snapshot reader past its checksum and decompression: the input
//! is the decompressed tables of a `.twsnap` file.
//!
//! Every input goes through the reader's decoding and validation
//! (`format::read_tables`). A snapshot the reader accepts then goes through
//! every analysis in `turbowish_snap::analysis` (none may panic: the reader
//! promises analysis code in-range indices), and through a write and read
//! round trip that must give back the same snapshot.

#![no_main]

use libfuzzer_sys::fuzz_target;
use turbowish_snap::analysis::{diff, graph, leaks, retained, retainers, tasks};
use turbowish_snap::{ReadOptions, Snapshot, format, read_with, write};

fuzz_target!(|data: &[u8]| {
    let Ok(snap) = format::read_tables(data) else {
        return;
    };
    analyze(&snap);
    round_trip(&snap);
});

/// Runs every analysis over `snap`, and diffs it with itself.
fn analyze(snap: &Snapshot) {
    let graph = graph::HeapGraph::new(snap);
    let retained = retained::Retained::new(snap, &graph);
    let paths = retainers::ShortestPaths::new(snap, &graph);
    let chosen: Vec<Vec<u32>> = (0..snap.blocks.len() as u32)
        .filter_map(|b| paths.nodes_to(graph.block_node(b)))
        .collect();
    let linker = retainers::Linker::new(snap, &graph, chosen.iter().map(Vec::as_slice));
    for nodes in &chosen {
        linker.path(snap, &graph, nodes);
    }
    tasks::task_rows(snap, &graph, &retained);
    leaks::unreachable(snap, &graph, &retained);
    leaks::zombies(snap);
    // Not a later snapshot of itself: refused, as `turbowish diff` refuses
    // it without --force, and diffed anyway, as with --force.
    assert!(diff::check_pair(snap, snap).is_err());
    let m = diff::match_blocks(snap, snap);
    assert!(m.born.is_empty() && m.freed.is_empty());
    assert_eq!(diff::match_tasks(snap, snap), (Vec::new(), Vec::new()));
    let stack = |b: u32| snap.blocks[b as usize].stack;
    for (_, group) in diff::group_changes(snap, snap, &m, stack, stack) {
        assert_eq!(group.net(), 0);
    }
}

/// Writes `snap` and reads it back: the same snapshot must come out.
fn round_trip(snap: &Snapshot) {
    let mut file = Vec::new();
    write(snap, &mut file).expect("a snapshot the reader accepts can be written");
    let trusted = ReadOptions {
        max_size: Some(u64::MAX),
    };
    let back = read_with(&file[..], &trusted).expect("a written snapshot can be read");
    assert!(back == *snap, "the round trip changed the snapshot");
}
