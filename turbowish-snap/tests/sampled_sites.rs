//! A snapshot whose stacks were sampled (`TURBOWISH_STACK=sampled`):
//! every command that shows figures by allocation site weighs the sampled
//! blocks, leaves the unsampled ones out of the sites, and marks the
//! figures as estimates, in text (`~`, a note) and JSON (`estimated`);
//! totals and figures by task stay exact.

#![cfg(feature = "cli")]

use std::path::PathBuf;
use std::process::Command;
use turbowish_snap::*;

/// The sample's mean: one stack per 4 KiB.
const MEAN: u64 = 4096;
/// The cache's blocks: 3 sampled, 10 not, of 1 KiB each.
const CACHE_SAMPLED: u64 = 3;
const CACHE_UNSAMPLED: u64 = 10;
/// The connection's one buffer, sampled.
const BUFFER: u64 = 64 << 10;

/// What a block of `size` bytes stands for: `1 / (1 - exp(-size / MEAN))`.
fn weight(size: u64) -> f64 {
    1.0 / (1.0 - (-(size as f64) / MEAN as f64).exp())
}

/// A heap of two sites, `Cache::insert` (three sampled blocks, ten without
/// a stack) and `Conn::read` (one sampled buffer), sampled every `mean`
/// bytes; B adds a fourth sampled cache block.
fn snapshot(sequence: u32, mean: u64) -> Snapshot {
    let mut b = Builder::new();
    let mut stack = |function: &str, file: &str, addr| {
        let symbol = b.symbol(function, Some(file), 7);
        let frame = b.frame(Frame {
            addr,
            module: None,
            symbols: vec![symbol],
        });
        b.stack(&[frame])
    };
    let cache = stack("svc::Cache::insert", "/svc/src/cache.rs", 0x10);
    let conn = stack("svc::Conn::read", "/svc/src/conn.rs", 0x20);
    let s = b.snapshot_mut();
    s.process.pid = 7;
    s.process.sequence = sequence;
    s.capture.stack_sample_bytes = mean;
    let mut stacks = vec![cache; CACHE_SAMPLED as usize];
    stacks.extend([StackIndex::EMPTY; CACHE_UNSAMPLED as usize]);
    let block = |addr, size, task, stack| Block {
        addr,
        size,
        task,
        stack,
        ..Block::default()
    };
    s.blocks = (stacks.iter().zip(1u64..))
        .map(|(&stack, i)| block(0x1000 * i, 1024, 5, stack))
        .collect();
    s.blocks.push(block(0x10_0000, BUFFER, 6, conn));
    if sequence > 1 {
        s.blocks.push(block(0x20_0000, 1024, 5, cache));
    }
    b.build()
}

fn write(name: &str, snap: &Snapshot) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sampled-sites");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.twsnap"));
    write_file(snap, &path).unwrap();
    path
}

fn turbowish(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_turbowish"))
        .args(args)
        .env("COLUMNS", "100")
        .env_remove("CLICOLOR_FORCE")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "turbowish {args:?}: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

fn json(args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&turbowish(&[args, &["--json"]].concat())).unwrap()
}

const NOTE: &str = "stacks sampled every 4 KiB: site figures are estimates (~)";

/// The estimates of the two sites in A: (blocks, bytes).
fn estimates() -> [(u64, u64); 2] {
    let (cache, conn) = (weight(1024) * CACHE_SAMPLED as f64, weight(BUFFER));
    [
        (conn.round() as u64, (conn * BUFFER as f64).round() as u64),
        (cache.round() as u64, (cache * 1024.0).round() as u64),
    ]
}

#[test]
fn sites_weigh_sampled_blocks_and_mark_the_estimates() {
    let a = write("sites", &snapshot(1, MEAN));
    let a = a.to_str().unwrap();
    let v = json(&["sites", a]);
    assert_eq!(v["stack_sample_bytes"], MEAN, "{v:#}");
    let total_blocks = CACHE_SAMPLED + CACHE_UNSAMPLED + 1;
    let total_bytes = (CACHE_SAMPLED + CACHE_UNSAMPLED) * 1024 + BUFFER;
    assert_eq!(v["selected"]["blocks"], total_blocks, "exact: {v:#}");
    assert_eq!(v["selected"]["bytes"], total_bytes, "exact: {v:#}");
    assert_eq!(
        v["selected"]["sites"], 2,
        "no row for unsampled blocks: {v:#}"
    );
    let rows: Vec<(&str, u64, u64, bool, u64)> = (v["sites"].as_array().unwrap().iter())
        .map(|s| {
            let n = |k: &str| s[k].as_u64().unwrap();
            let function = s["function"].as_str().unwrap();
            let estimated = s["estimated"] == true;
            (function, n("blocks"), n("bytes"), estimated, n("samples"))
        })
        .collect();
    let [(conn_blocks, conn_bytes), (cache_blocks, cache_bytes)] = estimates();
    assert_eq!(
        rows,
        [
            ("Conn::read", conn_blocks, conn_bytes, true, 1),
            (
                "Cache::insert",
                cache_blocks,
                cache_bytes,
                true,
                CACHE_SAMPLED
            ),
        ]
    );
    // The cache's three sampled blocks stand for about its thirteen.
    assert_eq!(cache_blocks, 14);

    let text = turbowish(&["sites", a]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[1], NOTE, "{text}");
    let cache_row = lines.iter().find(|l| l.contains("Cache::insert")).unwrap();
    assert!(
        cache_row.contains("~13.6 KiB") && cache_row.contains("~14 (3 sampled) "),
        "{text}"
    );
    assert!(!text.contains("no stack recorded"), "{text}");
    let stacks = turbowish(&["sites", a, "--stack"]);
    assert!(stacks.contains("~13.6 KiB"), "{stacks}");
}

#[test]
fn summary_and_leaks_mark_site_estimates_and_keep_totals_exact() {
    let a = write("summary", &snapshot(1, MEAN));
    let a = a.to_str().unwrap();
    let v = json(&["summary", a]);
    assert_eq!(v["capture"]["stack_sample_bytes"], MEAN);
    assert_eq!(v["totals"]["live_blocks"], 14, "exact");
    assert_eq!(v["top_sites"][1]["estimated"], true, "{v:#}");
    assert_eq!(v["top_sites"][1]["samples"], CACHE_SAMPLED, "{v:#}");
    assert_eq!(v["top_sites"][1]["bytes"], estimates()[1].1, "{v:#}");
    let text = turbowish(&["summary", a]);
    assert!(text.contains(NOTE), "{text}");
    assert!(text.contains("~13.6 KiB"), "{text}");
    assert!(text.contains("~14 (3 sampled)"), "{text}");

    // No roots: every block is unreachable.
    let v = json(&["leaks", a]);
    let u = &v["unreachable"];
    assert_eq!(
        (&u["blocks"], &u["bytes"]),
        (&14.into(), &(13 * 1024 + BUFFER).into())
    );
    assert_eq!(u["sites"][1]["estimated"], true, "{v:#}");
    assert_eq!(u["sites"][1]["samples"], CACHE_SAMPLED, "{v:#}");
    assert_eq!(u["sites"][1]["bytes"], estimates()[1].1, "{v:#}");
    let text = turbowish(&["leaks", a]);
    assert!(text.contains(NOTE) && text.contains("~13.6 KiB"), "{text}");
    assert!(text.contains("~14 (3 sampled)"), "{text}");
    assert!(
        text.contains("unreachable: 14 blocks, 77.0 KiB"),
        "exact: {text}"
    );
}

#[test]
fn diff_by_site_is_estimated_and_by_task_exact() {
    let (a, b) = (
        write("diff-a", &snapshot(1, MEAN)),
        write("diff-b", &snapshot(2, MEAN)),
    );
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let v = json(&["diff", a, b, "--by", "site"]);
    assert_eq!(v["groups"]["estimated"], true, "{v:#}");
    let cache = (v["groups"]["rows"].as_array().unwrap().iter())
        .find(|r| r["key"].as_str().unwrap().contains("Cache::insert"))
        .unwrap();
    let one = weight(1024);
    let bytes = |blocks: u64| (one * blocks as f64 * 1024.0).round() as u64;
    assert_eq!(cache["bytes_b"], bytes(CACHE_SAMPLED + 1), "{v:#}");
    assert_eq!(cache["born_bytes"], bytes(1), "{v:#}");
    let text = turbowish(&["diff", a, b, "--by", "site"]);
    assert!(text.lines().any(|l| l == NOTE), "{text}");
    assert!(
        text.contains(&format!("~+{:.1} KiB", bytes(1) as f64 / 1024.0)),
        "{text}"
    );

    let v = json(&["diff", a, b, "--by", "task"]);
    assert_eq!(v["groups"]["estimated"], false, "{v:#}");
    let task5 = (v["groups"]["rows"].as_array().unwrap().iter())
        .find(|r| r["key"].as_str().unwrap().contains("task 5"))
        .unwrap();
    assert_eq!(task5["bytes_b"], 14 * 1024, "exact: {v:#}");
    assert!(!turbowish(&["diff", a, b, "--by", "task"]).contains('~'));
}

/// The same heap not sampled: blocks count once, the stackless ones as
/// their own row, and nothing is marked.
#[test]
fn unsampled_snapshots_are_exact_and_unmarked() {
    let a = write("exact", &snapshot(1, 0));
    let a = a.to_str().unwrap();
    let v = json(&["sites", a]);
    assert_eq!(v["stack_sample_bytes"], 0);
    assert!(
        (v["sites"].as_array().unwrap().iter()).all(|s| s["estimated"] == false),
        "{v:#}"
    );
    assert_eq!(v["selected"]["sites"], 3, "{v:#}");
    let text = turbowish(&["sites", a]);
    assert!(!text.contains('~') && !text.contains("sampled"), "{text}");
    assert!(text.contains("(no stack recorded)"), "{text}");
}

/// In a sampled snapshot, a site whose blocks all kept their stack whatever
/// the sample (`stack_certain`: large or over-aligned blocks) counts
/// exactly, and says so; a site of sampled blocks says how many.
#[test]
fn sites_of_blocks_kept_whatever_the_sample_are_exact() {
    let mut b = Builder::new();
    let mut stack = |function: &str, addr| {
        let symbol = b.symbol(function, Some("/svc/src/table.rs"), 7);
        let frame = b.frame(Frame {
            addr,
            module: None,
            symbols: vec![symbol],
        });
        b.stack(&[frame])
    };
    let (grow, insert) = (
        stack("svc::Table::grow", 0x10),
        stack("svc::Table::insert", 0x20),
    );
    let s = b.snapshot_mut();
    s.capture.stack_sample_bytes = MEAN;
    let block = |addr, size, stack, stack_certain| Block {
        addr,
        size,
        stack,
        stack_certain,
        ..Block::default()
    };
    s.blocks = vec![
        block(0x1000, 1024, insert, false),
        block(0x2000, 1024, insert, false),
        block(0x10_0000, 1 << 20, grow, true),
    ];
    let path = write("certain", &b.build());
    let path = path.to_str().unwrap();

    let v = json(&["sites", path]);
    let rows = v["sites"].as_array().unwrap();
    assert_eq!(rows[0]["function"], "Table::grow", "{v:#}");
    assert_eq!(rows[0]["estimated"], false, "{v:#}");
    assert!(rows[0].get("samples").is_none(), "{v:#}");
    assert_eq!(rows[0]["bytes"], 1 << 20, "{v:#}");
    assert_eq!(rows[1]["estimated"], true, "{v:#}");
    assert_eq!(rows[1]["samples"], 2, "{v:#}");

    let text = turbowish(&["sites", path]);
    let row = |f: &str| text.lines().find(|l| l.contains(f)).unwrap();
    assert!(!row("Table::grow").contains('~'), "{text}");
    assert!(row("Table::grow").contains("1.0 MiB"), "{text}");
    assert!(row("Table::insert").contains("(2 sampled)"), "{text}");
}
