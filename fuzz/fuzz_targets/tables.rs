//! Fuzzes the snapshot reader past its checksum and decompression: the input
//! is the decompressed tables of a `.twsnap` file.
//!
//! Every input goes through the reader's decoding and validation
//! (`format::read_tables`). A snapshot the reader accepts then goes through
//! every analysis in `turbowish_snap::analysis` (none may panic: the reader
//! promises analysis code in-range indices), and through a write and read
//! round trip that must give back the same snapshot.
//!
//! Seeds (`fuzz/seeds/tables/`): `kv-idle`, a real snapshot of an idle
//! `turbowish-kv` server, and `cli-summary` and `cli-empty`, snapshots the
//! CLI tests write, each decompressed by `fuzz/seed.sh`; `huge-sizes`, two
//! blocks of 2^63 bytes (crafted: size sums must not overflow).

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
    let mut tree = retainers::PathTree::new(snap, &graph, &paths);
    let mut shapes = ByType(snap);
    let all: Vec<u32> = (0..snap.blocks.len() as u32).collect();
    let grouping = tree.group(&all, &mut shapes);
    for g in &grouping.groups {
        tree.path(g.example);
        tree.summary(g.example, 5, 5, &mut shapes);
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

/// Holders told apart by root and label, blocks by type name.
struct ByType<'a>(&'a Snapshot);

impl retainers::Shapes for ByType<'_> {
    fn root(&mut self, root: u32, label: u32) -> u32 {
        root.wrapping_mul(31).wrapping_add(label)
    }

    fn block(&mut self, block: u32) -> u32 {
        self.0.blocks[block as usize].type_name
    }
}
