//! Block sizes near `u64::MAX` are legal in a file. Every total over them
//! saturates, in the analysis library and in every command, instead of
//! wrapping (release) or panicking (debug, as these tests run).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use turbowish_snap::analysis::diff::{delta, group_changes, match_blocks};
use turbowish_snap::analysis::sites::estimate::SiteWeights;
use turbowish_snap::{
    Block, BlockIndex, Container, Edge, Root, RootKind, Snapshot, StackIndex, StringIndex, Task,
    TaskIndex, write_file,
};

const HUGE: u64 = u64::MAX - 10;

/// Snapshot `sequence` of one process: blocks 0 and 1 are the storages
/// of two tasks spawned at one site, both pointing at block 2; block 3 is
/// small in the first snapshot and replaced by a huge one in the second;
/// block 4 is unreachable. All but block 3 (in the first) are huge, and
/// all have one type, over two allocation stacks; two are containers.
fn snapshot(sequence: u32) -> Snapshot {
    let mut s = Snapshot {
        strings: vec!["".into(), "src/main.rs".into(), "Vec<u8>".into()],
        stacks: vec![vec![], vec![]],
        ..Snapshot::default()
    };
    s.process.pid = 77;
    s.process.start_token = 5;
    s.process.sequence = sequence;
    let third = if sequence == 1 { (8, 1) } else { (HUGE, 2) };
    s.blocks = [(HUGE, 1), (HUGE, 1), (1 << 63, 1), third, (HUGE, 1)]
        .iter()
        .zip(0u64..)
        .map(|(&(size, epoch), i)| Block {
            addr: (i + 1) << 40,
            size,
            epoch,
            task: [1, 2, 0, 0, 9][i as usize],
            stack: StackIndex::new((i % 2) as u32),
            type_name: StringIndex::new(2),
            stack_certain: false,
        })
        .collect();
    let b = BlockIndex::new;
    s.edges = vec![Edge::new(b(0), b(2)), Edge::new(b(1), b(2))];
    s.tasks = (0..2)
        .map(|t| Task {
            serial: u64::from(t) + 1,
            id: u64::from(t) + 1,
            file: StringIndex::new(1),
            line: 3,
            storage: Some(b(t)),
            ..Task::default()
        })
        .collect();
    s.roots = (0..2)
        .map(|t| Root {
            kind: RootKind::Task,
            targets: vec![b(t)],
            task: Some(TaskIndex::new(t)),
            ..Root::default()
        })
        .collect();
    s.containers = [0, 2]
        .map(|block| Container {
            block: b(block),
            len: 1,
            capacity: 4,
        })
        .to_vec();
    s
}

fn write(name: &str, snap: &Snapshot) -> PathBuf {
    let path = std::env::temp_dir().join(format!("tw-huge-{}-{name}.twsnap", std::process::id()));
    write_file(snap, &path).unwrap();
    path
}

fn turbowish(args: &[&str], files: &[&Path]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_turbowish"))
        .args(args)
        .args(files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "turbowish {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json(args: &[&str], files: &[&Path]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    serde_json::from_slice(&turbowish(&all, files).stdout).unwrap()
}

#[test]
fn library_totals_saturate() {
    let (a, b) = (snapshot(1), snapshot(2));
    let m = match_blocks(&a, &b);
    let exact = (SiteWeights::EXACT, SiteWeights::EXACT);
    let groups = group_changes((&a, &b), &m, |_| (), |_| (), exact);
    let g = groups[0].1;
    assert_eq!(
        (g.bytes_a, g.bytes_b, g.born_bytes),
        (u64::MAX, u64::MAX, HUGE)
    );
    assert_eq!(g.net(), 0);
    assert_eq!(delta(0, u64::MAX), i64::MAX);
    assert_eq!(delta(u64::MAX, 0), i64::MIN);
    assert_eq!(delta(5, 3), -2);
}

#[test]
fn every_command_saturates_its_totals() {
    let (a, b) = (write("a", &snapshot(1)), write("b", &snapshot(2)));
    let diff = json(&["diff"], &[&a, &b]);
    let t = &diff["totals"];
    assert_eq!(t["live_bytes_a"], u64::MAX, "{diff:#}");
    assert_eq!(
        (&t["live_bytes_b"], &t["born_bytes"]),
        (&u64::MAX.into(), &HUGE.into())
    );
    assert_eq!(diff["spawn_sites"][0]["retained_b"], u64::MAX, "{diff:#}");
    for by in ["spawn", "task", "site", "type"] {
        turbowish(&["diff", "--by", by], &[&a, &b]);
        json(&["diff", "--by", by], &[&a, &b]);
    }
    let leaks = json(&["leaks", "--baseline", a.to_str().unwrap()], &[&b]);
    assert_eq!(leaks["unreachable"]["bytes"], u64::MAX, "{leaks:#}");
    assert_eq!(leaks["unreachable"]["blocks"], 2, "{leaks:#}");
    let summary = json(&["summary"], &[&b]);
    assert_eq!(summary["top_spawn_sites"][0]["retained"], u64::MAX);
    assert_eq!(summary["top_types"][0]["bytes"], u64::MAX);
    let retainers = json(&["retainers", "--type", "Vec"], &[&b]);
    assert_eq!(retainers["selected"]["bytes"], u64::MAX, "{retainers:#}");
    assert_eq!(retainers["unreachable"]["bytes"], u64::MAX, "{retainers:#}");
    assert_eq!(json(&["sites"], &[&b])["selected"]["bytes"], u64::MAX);
    let bloat = json(&["bloat"], &[&b]);
    assert_eq!(
        bloat["containers"][0]["unused_bytes"],
        u64::MAX,
        "{bloat:#}"
    );
    let block = format!("{:#x}", (4u64 << 40) + 100);
    json(&["retainers", "--block", &block], &[&b]);
    for cmd in [
        &["summary"][..],
        &["tasks"],
        &["leaks"],
        &["bloat"],
        &["sites"],
        &["retainers", "--type", "Vec"],
    ] {
        turbowish(cmd, &[&b]);
    }
    turbowish(&["diff"], &[&a, &b]);
    std::fs::remove_file(a).unwrap();
    std::fs::remove_file(b).unwrap();
}
