//! Fuzzes the snapshot reader past its checksum and decompression: the input
//! is the decompressed tables of a `.twsnap` file.
//!
//! Every input goes through the reader's decoding and validation
//! (`format::read_tables`). A snapshot the reader accepts then goes through
//! every analysis in `turbowish_snap::analysis`, through one `Analysis`
//! (none may panic: the reader promises analysis code in-range indices),
//! and through a write and read round trip that must give back the same
//! snapshot.
//!
//! Seeds (`fuzz/seeds/tables/`): `kv-idle`, a real snapshot of an idle
//! `turbowish-kv` server, and `cli-summary` and `cli-empty`, snapshots the
//! CLI tests write, each decompressed by `fuzz/seed.sh`; `huge-sizes`, two
//! blocks of 2^63 bytes (crafted: size sums must not overflow).

#![no_main]

use libfuzzer_sys::fuzz_target;
use turbowish_snap::analysis::diff::{Comparison, GroupBy};
use turbowish_snap::analysis::{Analysis, bloat, census, diff, leaks, retainers, sites};
use turbowish_snap::{BlockIndex, ReadOptions, Snapshot, StringIndex, format, read_with, write};

fuzz_target!(|data: &[u8]| {
    let Ok(snap) = format::read_tables(data) else {
        return;
    };
    analyze(&snap);
    round_trip(&snap);
});

/// Runs every analysis over `snap`, through its [`Analysis`], and diffs it
/// with itself.
fn analyze(snap: &Snapshot) {
    let a = Analysis::new(snap);
    a.task_rows();
    a.unreachable_total();
    a.spawn_sites();
    leaks::zombies(snap);
    leaks::idle(snap, a.task_rows(), 0, 0);
    bloat::futures(&a);
    bloat::containers(snap);
    census::roots(snap);
    census::tasks(snap);
    census::types(snap);
    for t in sites::by_stack(snap, |_| true) {
        a.site(t.stack);
        sites::view::view(snap, t.stack, false);
        sites::view::view(snap, t.stack, true);
        sites::view::stack_contains(snap, t.stack, "main");
    }
    let mut tree = a.path_tree();
    let mut shapes = ByType(snap);
    let all: Vec<BlockIndex> = snap.block_indices().collect();
    let grouping = tree.group(&all, &mut shapes);
    for g in &grouping.groups {
        tree.path(g.example);
        tree.summary(g.example, 5, 5, &mut shapes);
    }
    // Not a later snapshot of itself: refused, as `turbowish diff` refuses
    // it without --force, and diffed anyway, as with --force.
    assert!(diff::check_pair(snap, snap).is_err());
    let same = Analysis::new(snap);
    let pair = Comparison::new(&a, &same);
    let m = pair.blocks();
    assert!(m.born.is_empty() && m.freed.is_empty());
    assert_eq!(pair.tasks(), (&[][..], &[][..]));
    pair.spawn_sites();
    for by in [GroupBy::Spawn, GroupBy::Task, GroupBy::Site, GroupBy::Type] {
        for (_, group) in pair.groups(by) {
            assert_eq!(group.net(), 0);
        }
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
    fn root(&mut self, root: u32, label: StringIndex) -> u32 {
        root.wrapping_mul(31).wrapping_add(label.get())
    }

    fn block(&mut self, block: BlockIndex) -> u32 {
        self.0.block(block).type_name.get()
    }
}
