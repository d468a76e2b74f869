//! A crowded heap, built in memory: 10,000 traced tasks whose storages all
//! point at one shared block (an `Arc<State>`), each with a private block,
//! and a 100,000-block chain held by a static. The per-task figures must be
//! exact and come out in time linear in the heap.

use std::time::{Duration, Instant};
use turbowish_snap::analysis::graph::HeapGraph;
use turbowish_snap::analysis::retained::Retained;
use turbowish_snap::analysis::tasks::{SHARED_WITH_CAP, task_rows};
use turbowish_snap::{Block, BlockIndex, Edge, Root, RootKind, Snapshot, Task, TaskIndex};

fn b(i: u32) -> BlockIndex {
    BlockIndex::new(i)
}

const TASKS: u32 = 10_000;
const CHAIN: u32 = 100_000;
const STORAGE: u64 = 256;
const PRIVATE: u64 = 48;
const SHARED: u64 = 4096;
const NODE: u64 = 24;

/// Blocks: storages `0..TASKS`, the shared block `TASKS`, private blocks
/// `TASKS + 1 ..= 2 * TASKS`, then the chain.
fn crowded() -> Snapshot {
    let shared = TASKS;
    let private = |t: u32| TASKS + 1 + t;
    let chain = 2 * TASKS + 1;
    let size = |b: u32| match b {
        b if b < TASKS => STORAGE,
        b if b == shared => SHARED,
        b if b < chain => PRIVATE,
        _ => NODE,
    };
    let blocks = (0..chain + CHAIN)
        .map(|b| Block {
            addr: 0x1000_0000 + 0x1000 * u64::from(b),
            size: size(b),
            task: if (shared + 1..chain).contains(&b) {
                u64::from(b - shared)
            } else {
                0
            },
            ..Block::default()
        })
        .collect();
    let mut edges = Vec::new();
    for t in 0..TASKS {
        edges.push(Edge::new(b(t), b(shared)));
        edges.push(Edge::new(b(t), b(private(t))));
    }
    edges.extend((chain..chain + CHAIN - 1).map(|i| Edge::new(b(i), b(i + 1))));
    let mut roots: Vec<Root> = (0..TASKS)
        .map(|t| Root {
            kind: RootKind::Task,
            targets: vec![b(t)],
            task: Some(TaskIndex::new(t)),
            ..Root::default()
        })
        .collect();
    roots.push(Root {
        kind: RootKind::Static,
        targets: vec![b(chain)],
        ..Root::default()
    });
    Snapshot {
        blocks,
        edges,
        roots,
        tasks: (0..TASKS)
            .map(|t| Task {
                serial: u64::from(t) + 1,
                id: u64::from(t) + 1,
                storage: Some(b(t)),
                ..Task::default()
            })
            .collect(),
        ..Snapshot::default()
    }
}

#[test]
fn ten_thousand_tasks_sharing_one_block_are_counted_exactly_and_fast() {
    let snap = crowded();
    let started = Instant::now();
    let graph = HeapGraph::new(&snap);
    let retained = Retained::new(&snap, &graph);
    let rows = task_rows(&snap, &graph, &retained);
    let took = started.elapsed();
    println!("graph, dominators and task rows: {took:?}");
    let chain_head = graph.block_node(2 * TASKS + 1);
    assert_eq!(retained.bytes[chain_head as usize], u64::from(CHAIN) * NODE);
    for (t, row) in (0u32..).zip(&rows) {
        assert_eq!(row.retained, STORAGE + PRIVATE, "task {t}");
        assert_eq!(
            (row.allocated, row.allocated_blocks),
            (PRIVATE, 1),
            "task {t}"
        );
        assert_eq!((row.shared, row.shared_blocks), (SHARED, 1), "task {t}");
        assert_eq!(row.shared_with_tasks, u64::from(TASKS) - 1, "task {t}");
        assert!(row.shared_with_exact, "task {t}");
        let first: Vec<TaskIndex> = (0..TASKS)
            .filter(|&o| o != t)
            .take(SHARED_WITH_CAP)
            .map(TaskIndex::new)
            .collect();
        assert_eq!(row.shared_with, first, "task {t}");
    }
    assert!(
        took < Duration::from_secs(2),
        "task_rows over 10,000 sharing tasks and a 100,000 chain took {took:?}"
    );
}

/// Runs `turbowish` on `file` with `args`, which must succeed.
fn turbowish(file: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_turbowish"))
        .args(args)
        .arg(file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_commands_name_sixteen_sharers_and_elide_the_chain() {
    let file = std::env::temp_dir().join(format!("tw-crowded-{}.twsnap", std::process::id()));
    turbowish_snap::write_file(&crowded(), &file).unwrap();
    let tasks: serde_json::Value =
        serde_json::from_str(&turbowish(&file, &["tasks", "--json", "--top", "2"])).unwrap();
    assert_eq!(tasks["matching"], TASKS, "{tasks:#}");
    let row = &tasks["tasks"][0];
    assert_eq!(row["shared_with_tasks"], TASKS - 1, "{row:#}");
    assert_eq!(row["shared_blocks"], 1, "{row:#}");
    assert_eq!(row["shared_with_exact"], true, "{row:#}");
    let ids = row["shared_with"].as_array().unwrap();
    assert_eq!(ids.len(), SHARED_WITH_CAP, "{row:#}");
    let text = turbowish(&file, &["tasks", "--top", "1"]);
    assert!(text.contains(" 4.0 KiB  9999  "), "{text}");
    let last = 0x1000_0000 + 0x1000 * u64::from(2 * TASKS + CHAIN);
    let text = turbowish(&file, &["retainers", "--block", &format!("{last:#x}")]);
    assert!(
        text.contains("\u{2026} 99,990 more links, all through a block \u{2026}"),
        "{text}"
    );
    assert!(text.len() < 4096, "{text}");
    std::fs::remove_file(&file).unwrap();
}
