//! The `turbowish` binary, run as a user runs it: output, exit codes and
//! one-line errors.

#![cfg(feature = "cli")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use turbowish_snap::*;

/// Runs `turbowish` with `args`, at a fixed terminal width and without
/// forced colors, so help text is the same everywhere.
/// Block `i`.
fn blk(i: u32) -> BlockIndex {
    BlockIndex::new(i)
}

/// Blocks `of`.
fn blks(of: &[u32]) -> Vec<BlockIndex> {
    of.iter().copied().map(blk).collect()
}

fn turbowish(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_turbowish"))
        .args(args)
        .env("COLUMNS", "100")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("TURBOWISH_DIR")
        .output()
        .expect("run turbowish")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf-8 stdout")
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("utf-8 stderr")
}

/// Asserts that `out` is a failure with exit code 2 and a single line on
/// stderr starting with `turbowish: `; returns that line.
fn single_line_error(out: &Output) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(out.stdout.is_empty(), "stdout: {}", stdout(out));
    assert_eq!(err.lines().count(), 1, "not one line: {err:?}");
    assert!(err.starts_with("turbowish: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err.trim_end().to_owned()
}

/// A fresh directory for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Adds a frame of the executable whose symbols are `(function, file,
/// line)`, innermost first.
fn frame(b: &mut Builder, addr: u64, symbols: &[(&str, Option<&str>, u32)]) -> FrameIndex {
    let symbols = (symbols.iter())
        .map(|&(function, file, line)| b.symbol(function, file, line))
        .collect();
    b.frame(Frame {
        addr,
        module: Some(ModuleIndex::new(0)),
        symbols,
    })
}

const TIME_NS: u64 = 1_700_000_000_123_456_789;
const RUSTC: &str = "/rustc/17067e9ac6d7e98f18d4d6a8d21ec4f8a7a08bbb/library";
const CACHE_BYTES: u64 = 2048 + 1024;
const CONN_BYTES: u64 = 256 << 10;
const PROTO_BYTES: u64 = 3 * 100;
const RUNTIME_BYTES: u64 = 48;
const UNKNOWN_BYTES: u64 = 2 * 24;
const LIVE_BYTES: u64 = CACHE_BYTES + CONN_BYTES + PROTO_BYTES + RUNTIME_BYTES + UNKNOWN_BYTES;
const LIVE_BLOCKS: u64 = 2 + 1 + 3 + 1 + 2;

/// A service's heap: a cache filled through a `HashMap`, a connection's
/// read buffer (allocated in an inlined `Vec::with_capacity`), decoded
/// messages, a runtime allocation with only std frames, and blocks without
/// a stack.
fn service() -> Snapshot {
    let mut b = Builder::new();
    let exe = b.string("/opt/svc/bin/svc");
    b.snapshot_mut().process = Process {
        pid: 4242,
        exe,
        build_id: vec![0xab; 20],
        start_token: 77,
        sequence: 3,
        epoch: 3,
        time_ns: TIME_NS,
    };
    b.snapshot_mut().modules.push(Module {
        path: exe,
        build_id: vec![0xab; 20],
        bias: 0x5555_0000_0000,
        start: 0x5555_0000_1000,
        end: 0x5555_0100_0000,
    });
    let libc = b.string("/usr/lib/x86_64-linux-gnu/libc.so.6");
    b.snapshot_mut().modules.push(Module {
        path: libc,
        bias: 0x7f00_0000_0000,
        start: 0x7f00_0002_8000,
        end: 0x7f00_001b_d000,
        ..Module::default()
    });
    let alloc_src = format!("{RUSTC}/alloc/src/alloc.rs");
    let raw_vec = format!("{RUSTC}/alloc/src/raw_vec.rs");
    let hash_map = format!("{RUSTC}/std/src/collections/hash/map.rs");
    let rust_alloc = frame(&mut b, 0x5555_0000_1000, &[("__rust_alloc", None, 0)]);
    let shim = frame(
        &mut b,
        0x5555_0000_1100,
        &[(
            "<turbowish_alloc::TurboWish<A> as core::alloc::global::GlobalAlloc>::alloc",
            Some("/home/dev/turbowish/turbowish-alloc/src/shim.rs"),
            88,
        )],
    );
    let alloc = frame(
        &mut b,
        0x5555_0000_1200,
        &[("alloc::alloc::alloc", Some(&alloc_src), 98)],
    );
    let grow = frame(
        &mut b,
        0x5555_0000_1300,
        &[("alloc::raw_vec::finish_grow", Some(&raw_vec), 481)],
    );
    let rehash = frame(
        &mut b,
        0x5555_0000_1400,
        &[(
            "hashbrown::raw::RawTable<T,A>::reserve_rehash",
            Some("/home/dev/.cargo/registry/src/index/hashbrown-0.15.2/src/raw/mod.rs"),
            1102,
        )],
    );
    let insert = frame(
        &mut b,
        0x5555_0000_1500,
        &[(
            "std::collections::hash::map::HashMap<K,V,S>::insert",
            Some(&hash_map),
            1203,
        )],
    );
    let cache = frame(
        &mut b,
        0x5555_0000_2000,
        &[(
            "svc::cache::Cache::insert",
            Some("/home/dev/svc/src/cache.rs"),
            42,
        )],
    );
    let main = frame(
        &mut b,
        0x5555_0000_2100,
        &[(
            "svc::main::{{closure}}",
            Some("/home/dev/svc/src/main.rs"),
            17,
        )],
    );
    // `Vec::with_capacity` inlined into `read_buffer`, in one frame.
    let read_buffer = frame(
        &mut b,
        0x5555_0000_2200,
        &[
            (
                "alloc::vec::Vec<T>::with_capacity",
                Some(&format!("{RUSTC}/alloc/src/vec/mod.rs")),
                480,
            ),
            (
                "svc::conn::Conn::read_buffer",
                Some("/home/dev/svc/src/conn/mod.rs"),
                117,
            ),
        ],
    );
    let poll = frame(
        &mut b,
        0x5555_0000_2300,
        &[(
            "<svc::conn::Conn as core::future::Future>::poll",
            Some("/home/dev/svc/src/conn/mod.rs"),
            60,
        )],
    );
    let decode = frame(
        &mut b,
        0x5555_0000_2400,
        &[(
            "svc_proto::Message::decode",
            Some("/build/generated/proto.rs"),
            903,
        )],
    );
    let unsymbolized = frame(&mut b, 0x7f00_0002_9abc, &[]);
    let spawn = frame(
        &mut b,
        0x5555_0000_2500,
        &[(
            "std::thread::Builder::spawn_unchecked_",
            Some(&format!("{RUSTC}/std/src/thread/mod.rs")),
            502,
        )],
    );
    let lang_start = frame(
        &mut b,
        0x5555_0000_2600,
        &[(
            "std::rt::lang_start_internal",
            Some(&format!("{RUSTC}/std/src/rt.rs")),
            174,
        )],
    );
    let cache_stack = b.stack(&[rust_alloc, shim, alloc, grow, rehash, insert, cache, main]);
    let conn_stack = b.stack(&[rust_alloc, shim, read_buffer, poll, main]);
    let proto_stack = b.stack(&[rust_alloc, shim, alloc, decode, unsymbolized, main]);
    let runtime_stack = b.stack(&[rust_alloc, shim, alloc, spawn, lang_start]);
    let block = |addr, size, task, stack, epoch| Block {
        addr,
        size,
        task,
        stack,
        epoch,
        type_name: StringIndex::EMPTY,
        stack_certain: false,
    };
    let none = StackIndex::EMPTY;
    b.snapshot_mut().blocks = vec![
        block(0x5555_6000_0010, 24, 0, none, 0),
        block(0x5555_6000_0030, 48, 0, runtime_stack, 0),
        block(0x5555_6000_0070, 24, 0, none, 1),
        block(0x5555_6000_1000, 2048, 3, cache_stack, 1),
        block(0x5555_6000_2000, 1024, 3, cache_stack, 2),
        block(0x5555_6000_3000, 100, 7, proto_stack, 2),
        block(0x5555_6000_3080, 100, 7, proto_stack, 2),
        block(0x5555_6000_3100, 100, 7, proto_stack, 3),
        block(0x7f11_0000_0000, CONN_BYTES, 7, conn_stack, 2),
    ];
    b.snapshot_mut().edges = [(3, 4), (4, 3), (5, 6), (8, 5), (8, 7)]
        .map(|(from, to)| Edge::new(blk(from), blk(to)))
        .to_vec();
    let label = b.string("/opt/svc/bin/svc");
    let thread = b.string("thread tokio-runtime-worker");
    let root = |kind, label, start, targets: &[u32]| Root {
        kind,
        label,
        start,
        len: 4096,
        targets: blks(targets),
        ..Root::default()
    };
    b.snapshot_mut().roots = vec![
        root(RootKind::Static, label, 0x5555_0200_0000, &[0, 3]),
        root(RootKind::Static, label, 0x5555_0201_0000, &[1]),
        root(RootKind::ThreadStack, thread, 0x7ffc_0000_0000, &[8]),
        root(RootKind::ThreadLocal, thread, 0x7f22_0000_0000, &[2]),
    ];
    b.snapshot_mut().capture = Capture {
        pause_ns: 1_480_000,
        scan_ns: 12_340_000,
        symbolize_ns: 30_250_000,
        scanned_bytes: 3 << 20,
        live_bytes: LIVE_BYTES + 64,
        live_blocks: LIVE_BLOCKS + 1,
        untracked_blocks: 2,
        unknown_frees: 1,
        ..Capture::default()
    };
    let task = |id, state| Task {
        serial: id,
        id,
        state,
        ..Task::default()
    };
    let (name, file) = (b.string("cache"), b.string("/opt/svc/src/cache.rs"));
    let conn_name = b.string("conn");
    b.snapshot_mut().tasks = vec![
        Task {
            name,
            file,
            line: 40,
            column: 5,
            future_size: 2048,
            polls: 12,
            last_poll_ns: TIME_NS - 3_000_000_000,
            storage: Some(blk(3)),
            ..task(3, TaskState::Pending)
        },
        Task {
            name: conn_name,
            file,
            line: 77,
            column: 9,
            future_size: 640,
            polls: 3,
            last_poll_ns: TIME_NS - 250_000_000,
            storage: Some(blk(8)),
            ..task(7, TaskState::Pending)
        },
        task(9, TaskState::Completed),
    ];
    b.snapshot_mut().blocks[4].type_name = b.string("alloc::vec::Vec<u8>");
    b.snapshot_mut().containers = vec![Container {
        block: blk(4),
        len: 1,
        capacity: 4,
    }];
    b.build()
}

/// The service of [`service`] a minute later (snapshot 4): a protocol
/// block freed and another born at its address, one more freed; a new
/// `conn` task (spawned where task 7 was) with an 8 KiB message; the
/// completed task 9's storage now known and held by the cache's `Vec` (a
/// zombie future); a block nothing points to; the cache task idle for 65 s.
fn service_later() -> Snapshot {
    let mut b = Builder::from_snapshot(service());
    let s = b.snapshot_mut();
    s.process.sequence = 4;
    s.process.epoch = 4;
    s.process.time_ns += 60_000_000_000;
    let block = |addr, size, task, like: &Block| Block {
        addr,
        size,
        task,
        epoch: 3,
        ..*like
    };
    let proto = s.blocks[5];
    let conn = s.blocks[8];
    let cache = s.blocks[4];
    s.blocks = vec![
        s.blocks[0],
        s.blocks[1],
        s.blocks[2],
        s.blocks[3],
        s.blocks[4],
        s.blocks[5],
        block(0x5555_6000_3080, 100, 7, &proto),
        block(0x5555_6000_4000, 4096, 7, &conn),
        block(0x5555_6000_5000, 8192, 11, &proto),
        block(0x5555_6000_6000, 256, 7, &cache),
        block(0x5555_6000_7000, 512, 7, &proto),
        s.blocks[8],
    ];
    s.blocks[9].type_name = StringIndex::EMPTY;
    s.edges = [(3, 4), (4, 3), (4, 9), (5, 6), (7, 8), (11, 5)]
        .map(|(from, to)| Edge::new(blk(from), blk(to)))
        .to_vec();
    s.roots[2].targets = blks(&[7, 11]);
    s.containers[0].block = blk(4);
    s.tasks[0].last_poll_ns = s.process.time_ns - 65_000_000_000;
    s.tasks[1].storage = Some(blk(11));
    s.tasks[2].storage = Some(blk(9));
    s.tasks.push(Task {
        serial: 11,
        id: 11,
        storage: Some(blk(7)),
        polls: 2,
        ..s.tasks[1].clone()
    });
    b.build()
}

/// `service()` and `service_later()`, written as snapshots 3 and 4 into a
/// fresh directory for test `name`.
fn write_pair(name: &str) -> (PathBuf, PathBuf) {
    let dir = temp_dir(name);
    let (a, b) = (
        dir.join("turbowish-4242-3.twsnap"),
        dir.join("turbowish-4242-4.twsnap"),
    );
    write_file(&service(), &a).expect("write snapshot A");
    write_file(&service_later(), &b).expect("write snapshot B");
    (a, b)
}

/// `turbowish ARGS`, which must succeed without a word on stderr; its
/// stdout.
fn ok_stdout(args: &[&str]) -> String {
    let out = turbowish(args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn diff_text() {
    let (a, b) = write_pair("diff-text");
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    insta::assert_snapshot!("diff_text", ok_stdout(&["diff", a, b]));
    let by_site = ok_stdout(&["diff", a, b, "--by", "site"]);
    insta::assert_snapshot!("diff_text_by_site", by_site);
}

#[test]
fn leaks_text() {
    let (a, b) = write_pair("leaks-text");
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let args = ["leaks", b, "--baseline", a, "--min-bytes", "1024"];
    insta::assert_snapshot!("leaks_text", ok_stdout(&args));
}

/// More of everything than `--top`'s default shows: `WIDE` traced tasks,
/// each spawned on its own line with its own future type, its storage
/// pointing at a private block of its own type and allocation site (a
/// `Vec` with room to spare), and `WIDE` unreachable blocks from as many
/// sites.
fn wide() -> Snapshot {
    let mut b = Builder::new();
    let main = b.string("/svc/src/main.rs");
    let mut blocks = Vec::new();
    for i in 0..WIDE {
        let sym = b.symbol(&format!("svc::f{i}"), Some(&format!("/svc/src/f{i}.rs")), 7);
        let f = b.frame(Frame {
            addr: 0x5555_0000_1000 + u64::from(i),
            module: None,
            symbols: vec![sym],
        });
        let stack = b.stack(&[f]);
        let type_name = b.string(&format!("alloc::vec::Vec<svc::T{i}>"));
        for (k, size) in [(0, 640), (1, 1000 + u64::from(i)), (2, 24)] {
            let task = [0, u64::from(i) + 1, 0][k];
            let type_name = [StringIndex::EMPTY, type_name, StringIndex::EMPTY][k];
            let addr = 0x5555_6000_0000 + 0x1_0000 * u64::from(i) + 0x1000 * k as u64;
            blocks.push(Block {
                addr,
                size,
                task,
                stack,
                epoch: 0,
                type_name,
                stack_certain: false,
            });
        }
    }
    let s = b.snapshot_mut();
    s.process.pid = 4242;
    s.process.sequence = 1;
    s.process.epoch = 1;
    s.blocks = blocks;
    s.edges = (0..WIDE)
        .map(|i| Edge::new(blk(3 * i), blk(3 * i + 1)))
        .collect();
    s.containers = (0..WIDE)
        .map(|i| Container {
            block: blk(3 * i + 1),
            len: 1,
            capacity: 4,
        })
        .collect();
    for i in 0..WIDE {
        let future_type = b.string(&format!("svc::conn{i}::{{{{closure}}}}"));
        let s = b.snapshot_mut();
        s.roots.push(Root {
            kind: RootKind::Task,
            targets: vec![blk(3 * i)],
            task: Some(TaskIndex::new(i)),
            ..Root::default()
        });
        s.tasks.push(Task {
            serial: u64::from(i) + 1,
            id: u64::from(i) + 1,
            file: main,
            line: 10 + i,
            future_type,
            future_size: 600 + u64::from(i),
            storage: Some(blk(3 * i)),
            ..Task::default()
        });
    }
    b.build()
}

/// How many of each thing [`wide`] has.
const WIDE: u32 = 15;

/// Every list of every command, by its JSON path: at most `--top` rows,
/// ten by default, all with `--top 0`; the counts beside a list are never
/// cut.
#[test]
fn every_list_shows_ten_rows_by_default_and_all_with_top_0() {
    let dir = temp_dir("wide");
    let (a, b) = (dir.join("a.twsnap"), dir.join("b.twsnap"));
    let mut later = wide();
    later.process.sequence = 2;
    write_file(&wide(), &a).unwrap();
    write_file(&later, &b).unwrap();
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let idle = ["--idle", "0", "--min-bytes", "0"];
    let commands: [(Vec<&str>, &[&str]); 10] = [
        (
            vec!["summary", a],
            &[
                "/top_tasks",
                "/top_spawn_sites",
                "/top_dominators",
                "/top_types",
                "/top_sites",
            ],
        ),
        (vec!["dominators", a], &["/children"]),
        (vec!["tasks", a], &["/tasks"]),
        (vec!["diff", a, b], &["/spawn_sites", "/groups/rows"]),
        (
            [&["leaks", a][..], &idle].concat(),
            &["/unreachable/sites", "/idle"],
        ),
        (vec!["bloat", a], &["/futures", "/containers"]),
        (vec!["sites", a], &["/sites"]),
        (vec!["retainers", a, "--type", "svc::T"], &["/paths"]),
        (vec!["retainers", a, "--site", "svc::f"], &["/paths"]),
        (vec!["waits", a], &["/stuck"]),
    ];
    for (args, lists) in commands {
        let json = |top: &[&str]| -> serde_json::Value {
            let out = ok_stdout(&[&args[..], &["--json"], top].concat());
            serde_json::from_str(&out).expect("JSON")
        };
        let (default, zero, all) = (json(&[]), json(&["--top", "0"]), json(&["--top", "1000"]));
        for list in lists {
            let len =
                |v: &serde_json::Value| v.pointer(list).and_then(|l| l.as_array()).map(Vec::len);
            assert_eq!(len(&default), Some(10), "{args:?} {list} by default");
            assert_eq!(len(&zero), len(&all), "{args:?} {list} with --top 0");
            assert!(len(&all) > Some(10), "{args:?} {list}: {all:#}");
        }
        assert_eq!(
            json(&["--top", "1"])
                .pointer(lists[0])
                .unwrap()
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }
}

/// `--json` prints one pretty JSON object, whatever the command.
#[test]
fn every_json_output_is_one_pretty_object() {
    let (a, b) = write_pair("json-objects");
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let commands: [&[&str]; 11] = [
        &["summary", a],
        &["dominators", a],
        &["dominators", a, "--task", "7"],
        &["tasks", a],
        &["diff", a, b],
        &["leaks", b],
        &["bloat", a],
        &["sites", a],
        &["retainers", a, "--site", "decode"],
        &["tasks", a, "--top", "0"],
        &["waits", a, "--all"],
    ];
    for args in commands {
        let out = ok_stdout(&[args, &["--json"]].concat());
        let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
        assert!(v.is_object(), "{args:?}: {out}");
        let pretty = out.starts_with("{\n  \"") && out.ends_with("\n}\n");
        assert!(pretty, "{args:?}: not pretty-printed: {out}");
    }
}

/// Writes `snap` into a fresh directory for test `name`; returns its path.
fn write_snapshot(name: &str, snap: &Snapshot) -> PathBuf {
    let path = temp_dir(name).join("turbowish-4242-3.twsnap");
    write_file(snap, &path).expect("write snapshot");
    path
}

/// `turbowish COMMAND FILE EXTRA...` on `snap` written for test `name`,
/// which must succeed without a word on stderr; its stdout.
fn run_on(name: &str, snap: &Snapshot, command: &str, extra: &[&str]) -> String {
    let path = write_snapshot(name, snap);
    let mut args = vec![command, path.to_str().expect("utf-8 path")];
    args.extend(extra);
    let out = turbowish(&args);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    stdout(&out)
}

fn summary(name: &str, snap: &Snapshot, extra: &[&str]) -> String {
    run_on(name, snap, "summary", extra)
}

fn json_summary(name: &str, snap: &Snapshot, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["--json"];
    args.extend(extra);
    serde_json::from_str(&summary(name, snap, &args)).expect("--json prints JSON")
}

#[test]
fn summary_text() {
    insta::assert_snapshot!(summary("summary-text", &service(), &[]));
}

/// `turbowish tasks` with `extra` arguments, as text.
fn tasks(name: &str, snap: &Snapshot, extra: &[&str]) -> String {
    run_on(name, snap, "tasks", extra)
}

#[test]
fn tasks_text() {
    insta::assert_snapshot!(tasks("tasks-text", &service(), &[]));
}

#[test]
fn tasks_json_has_retained_and_allocated_bytes() {
    let v: serde_json::Value =
        serde_json::from_str(&tasks("tasks-json", &service(), &["--json"])).unwrap();
    assert_eq!(
        v["counts"],
        serde_json::json!({"total": 3, "traced": 3, "tokio": 0, "blocking": 0, "worker": 0})
    );
    assert_eq!(v["matching"], 3);
    let rows = v["tasks"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    // By retained, largest first: the connection's storage holds its buffer
    // block and the three protocol blocks only it reaches.
    assert_eq!(rows[0]["id"], 7);
    assert_eq!(rows[0]["retained"], CONN_BYTES + 300);
    assert_eq!(rows[0]["allocated"], CONN_BYTES + 300);
    assert_eq!(rows[0]["idle_ns"], 250_000_000u64);
    assert_eq!(rows[0]["spawned_at"], "/opt/svc/src/cache.rs:77:9");
    assert_eq!(
        (rows[0]["kind"].as_str(), &rows[0]["spawned_in"]),
        (Some("traced"), &serde_json::Value::Null)
    );
    // The cache's storage and the block only it reaches (the static root
    // reaches the storage itself, so nothing else dominates it).
    assert_eq!(rows[1]["id"], 3);
    assert_eq!(rows[1]["retained"], 2048 + 1024);
    assert_eq!(rows[2]["state"], "completed");
    assert_eq!(rows[2]["retained"], 0);
    let sorted: serde_json::Value = serde_json::from_str(&tasks(
        "tasks-sorted",
        &service(),
        &["--json", "--sort", "idle", "--top", "1"],
    ))
    .unwrap();
    assert_eq!(sorted["matching"], 3, "the count is not cut");
    assert_eq!(sorted["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(sorted["tasks"][0]["id"], 3);
}

#[test]
fn diff_of_a_missing_file_is_one_line_and_exit_2() {
    let out = turbowish(&["diff", "/nonexistent/a.twsnap", "/nonexistent/b.twsnap"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("/nonexistent/a.twsnap"), "{err}");
}

#[test]
fn bloat_lists_big_futures_and_unused_capacity() {
    let path = write_snapshot("bloat", &service());
    let out = turbowish(&["bloat", path.to_str().unwrap(), "--min-bytes", "1024"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    insta::assert_snapshot!(stdout(&out));
    let json = turbowish(&["bloat", "--json", path.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["futures"][0]["future_size"], 2048);
    assert_eq!(
        v["futures"][0]["bloated"], false,
        "below the 16 KiB default"
    );
    assert_eq!(v["containers"][0]["type"], "alloc::vec::Vec<u8>");
    assert_eq!(v["containers"][0]["unused_bytes"], 768);
}

#[test]
fn sites_text() {
    insta::assert_snapshot!(run_on("sites-text", &service(), "sites", &[]));
}

#[test]
fn sites_of_one_task_with_stacks() {
    insta::assert_snapshot!(run_on(
        "sites-task",
        &service(),
        "sites",
        &["--task", "7", "--stack"]
    ));
}

#[test]
fn sites_of_a_spawn_site_json() {
    let out = run_on(
        "sites-spawn",
        &service(),
        "sites",
        &["--spawn", "cache.rs:40", "--json"],
    );
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["selected"]["blocks"], 2, "{v:#}");
    assert_eq!(v["selected"]["bytes"], 3072, "{v:#}");
    assert_eq!(v["sites"][0]["function"], "Cache::insert", "{v:#}");
    assert!(
        v["sites"][0].get("frames_by_stack").is_none(),
        "frames only with --stack"
    );
}

#[test]
fn sites_and_retainers_refuse_what_matches_nothing() {
    let path = write_snapshot("sites-errors", &service());
    let file = path.to_str().expect("utf-8 path");
    for (args, message) in [
        (
            vec!["sites", file, "--task", "12345"],
            "no task with id 12345",
        ),
        (
            vec!["sites", file, "--spawn", "nowhere.rs"],
            "no task was spawned",
        ),
        (
            vec!["retainers", file, "--task", "12345"],
            "no task with id 12345",
        ),
        (
            vec!["retainers", file, "--task", "9"],
            "task 9 has no known storage",
        ),
        (
            vec!["retainers", file, "--type", "HashMap"],
            "no live block with a type name",
        ),
        (
            vec!["retainers", file, "--block", "0x1"],
            "no live block at or containing address 0x1",
        ),
    ] {
        let err = single_line_error(&turbowish(&args));
        assert!(err.contains(message), "{args:?}: {err}");
    }
    // Usage errors are clap's: exit 2, with the usage.
    let out = turbowish(&["retainers", file, "--block", "zz"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("\"zz\" is not an address"),
        "{}",
        stderr(&out)
    );
    let out = turbowish(&["retainers", file]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "one way of choosing blocks is required"
    );
    assert!(stderr(&out).contains("--block"), "{}", stderr(&out));
}

#[test]
fn retainers_text_groups_blocks_by_path() {
    insta::assert_snapshot!(run_on(
        "retainers-site",
        &service(),
        "retainers",
        &["--site", "decode"]
    ));
}

#[test]
fn retainers_of_one_block_name_sizes_and_tasks() {
    insta::assert_snapshot!(run_on(
        "retainers-block",
        &service(),
        "retainers",
        &["--block", "0x555560001010"]
    ));
}

#[test]
fn dominators_text() {
    let snap = service();
    insta::assert_snapshot!(
        "dominators_text",
        run_on("dominators-text", &snap, "dominators", &[])
    );
    let below = run_on("dominators-task", &snap, "dominators", &["--task", "7"]);
    insta::assert_snapshot!("dominators_text_of_a_task", below);
}

/// `dominators --json`: the tree below a task's future, level by level,
/// cut by `--depth`, `--top` and `--min-bytes`, what is cut counted.
#[test]
fn dominators_json_cuts_levels_and_counts_what_it_cuts() {
    let path = write_snapshot("dominators-json", &service());
    let file = path.to_str().unwrap();
    let json = |extra: &[&str]| -> serde_json::Value {
        let out = ok_stdout(&[&["dominators", file, "--json", "--task", "7"], extra].concat());
        serde_json::from_str(&out).expect("JSON")
    };
    // Task 7's future (block 8) holds blocks 5 and 7; 5 holds 6.
    let v = json(&[]);
    assert_eq!(v["block"]["task"]["id"], 7, "{v:#}");
    assert_eq!(
        v["block"]["held_by"],
        "stack of thread tokio-runtime-worker"
    );
    assert_eq!(v["retained"], CONN_BYTES + 300, "{v:#}");
    assert_eq!(v["retained_blocks"], 4);
    let children = v["children"].as_array().unwrap();
    let retained: Vec<&serde_json::Value> = children.iter().map(|c| &c["retained"]).collect();
    assert_eq!(retained, [200, 100], "biggest first: {v:#}");
    assert_eq!(children[0]["retained_blocks"], 2);
    assert_eq!(children[0]["children"][0]["address"], "0x555560003080");
    assert!(
        children[0].get("held_by").is_none(),
        "held by the node above"
    );
    let shallow = json(&["--depth", "1"]);
    assert_eq!(shallow["children"][0]["children"], serde_json::json!([]));
    assert_eq!(shallow["children"][0]["omitted"]["children"], 1);
    let top = json(&["--top", "1"]);
    assert_eq!(top["children"].as_array().unwrap().len(), 1);
    assert_eq!(
        top["omitted"],
        serde_json::json!({"children": 1, "retained": 100})
    );
    let big = json(&["--min-bytes", "150"]);
    assert_eq!(big["children"].as_array().unwrap().len(), 1);
    assert_eq!(big["omitted"]["retained"], 100);
}

#[test]
fn dominators_refuses_what_it_cannot_find() {
    let mut snap = service();
    snap.roots[2].targets.clear(); // nothing holds task 7's future any more
    let path = write_snapshot("dominators-errors", &snap);
    let file = path.to_str().unwrap();
    for (args, message) in [
        (
            vec!["dominators", file, "--block", "0x1"],
            "no live block at or containing address 0x1",
        ),
        (
            vec!["dominators", file, "--task", "12345"],
            "no task with id 12345",
        ),
        (
            vec!["dominators", file, "--task", "9"],
            "task 9 has no known storage",
        ),
        (
            vec!["dominators", file, "--block", "0x7f1100000010"],
            "no root reaches the block at 0x7f1100000000",
        ),
    ] {
        let err = single_line_error(&turbowish(&args));
        assert!(err.contains(message), "{args:?}: {err}");
    }
    for usage in [
        &["dominators", file, "--block", "0x1", "--task", "7"][..],
        &["dominators", file, "--depth", "0"],
        &["dominators", file, "--block", "zz"],
    ] {
        assert_eq!(turbowish(usage).status.code(), Some(2), "{usage:?}");
    }
}

#[test]
fn colors_only_when_forced_or_on_a_terminal_and_never_with_no_color() {
    let path = write_snapshot("colors", &service());
    let file = path.to_str().expect("utf-8 path");
    let run = |force: bool, extra: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_turbowish"));
        cmd.args(["summary", file])
            .args(extra)
            .env_remove("NO_COLOR");
        if force {
            cmd.env("CLICOLOR_FORCE", "1");
        } else {
            cmd.env_remove("CLICOLOR_FORCE");
        }
        stdout(&cmd.output().expect("run turbowish"))
    };
    assert!(!run(false, &[]).contains('\x1b'), "piped output is plain");
    assert!(run(true, &[]).contains("\x1b[1mfindings"), "forced colors");
    assert!(
        !run(true, &["--no-color"]).contains('\x1b'),
        "--no-color wins"
    );
    assert!(
        !run(true, &["--json"]).contains('\x1b'),
        "JSON is never colored"
    );
}

#[test]
fn leaks_counts_every_zombie_when_the_list_is_cut() {
    let mut snap = service();
    snap.tasks[2].storage = Some(blk(2));
    snap.tasks[0].state = TaskState::Cancelled;
    let out = run_on("leaks-top", &snap, "leaks", &["--top", "1", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["zombie_tasks"], 2, "{v:#}");
    assert_eq!(v["zombies"].as_array().unwrap().len(), 1, "{v:#}");
    let text = run_on("leaks-top-text", &snap, "leaks", &["--top", "1"]);
    assert!(
        text.contains("zombie futures: 2 (finished, storage still held); the first 1 shown"),
        "{text}"
    );
}

#[test]
fn summary_of_an_empty_snapshot() {
    insta::assert_snapshot!(summary("summary-empty", &Snapshot::default(), &[]));
}

#[test]
fn summary_json_has_the_totals_put_in() {
    let v = json_summary("summary-json", &service(), &[]);
    let p = &v["process"];
    assert_eq!(p["pid"], 4242);
    assert_eq!(p["exe"], "/opt/svc/bin/svc");
    assert_eq!(p["sequence"], 3);
    assert_eq!(p["time"], "2023-11-14T22:13:20.123Z");
    assert_eq!(p["time_ns"], 1_700_000_000_123_456_789u64);
    let t = &v["totals"];
    assert_eq!(t["live_blocks"], LIVE_BLOCKS);
    assert_eq!(t["live_bytes"], LIVE_BYTES);
    assert_eq!(t["allocator_live_blocks"], LIVE_BLOCKS + 1);
    assert_eq!(t["allocator_live_bytes"], LIVE_BYTES + 64);
    assert_eq!(t["sites"], 5);
    assert_eq!(t["edges"], 5);
    assert_eq!(
        t["roots"],
        serde_json::json!({"total": 4, "static": 2, "thread_stack": 1, "thread_local": 1, "task": 0, "named": 0})
    );
    assert_eq!(
        t["tasks"],
        serde_json::json!({"total": 3, "pending": 2, "running": 0, "notified": 0, "completed": 1,
            "cancelled": 0, "traced": 3, "tokio": 0, "blocking": 0, "runtime_workers": 0,
            "cells_not_understood": 0})
    );
    let c = &v["capture"];
    assert_eq!(c["pause_ns"], 1_480_000);
    assert_eq!(c["scanned_bytes"], 3 << 20);
    assert_eq!(c["untracked_blocks"], 2);
    assert_eq!(c["unknown_frees"], 1);
}

#[test]
fn summary_json_names_sites_by_their_own_frames() {
    let v = json_summary("summary-sites", &service(), &[]);
    let sites = v["top_sites"].as_array().expect("top_sites is an array");
    let names: Vec<_> = sites
        .iter()
        .map(|s| {
            (
                s["function"].as_str(),
                s["location"].as_str(),
                s["blocks"].as_u64(),
                s["bytes"].as_u64(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            (
                Some("Conn::read_buffer"),
                Some("src/conn/mod.rs:117"),
                Some(1),
                Some(CONN_BYTES)
            ),
            (
                Some("Cache::insert"),
                Some("src/cache.rs:42"),
                Some(2),
                Some(CACHE_BYTES)
            ),
            (
                Some("Message::decode"),
                Some("generated/proto.rs:903"),
                Some(3),
                Some(PROTO_BYTES)
            ),
            // A tie in bytes: more blocks first.
            (None, None, Some(2), Some(UNKNOWN_BYTES)),
            (
                Some("rt::lang_start_internal"),
                Some("src/rt.rs:174"),
                Some(1),
                Some(RUNTIME_BYTES)
            ),
        ]
    );
    let sum: u64 = sites.iter().filter_map(|s| s["bytes"].as_u64()).sum();
    assert_eq!(sum, LIVE_BYTES);
    assert!(sites[0]["dependency"].is_null(), "the program's own");
    assert_eq!(
        sites[4]["dependency"],
        serde_json::json!({"name": "std", "version": null})
    );
    assert_eq!(
        sites[4]["site"],
        "std: rt::lang_start_internal (src/rt.rs:174)"
    );
}

#[test]
fn top_limits_the_sites() {
    let v = json_summary("summary-top-json", &service(), &["--top", "1"]);
    let sites = v["top_sites"].as_array().expect("top_sites is an array");
    assert_eq!(sites.len(), 1);
    assert_eq!(sites[0]["function"], "Conn::read_buffer");
    assert_eq!(v["totals"]["sites"], 5);

    let text = summary("summary-top-text", &service(), &["--top", "1"]);
    assert!(text.contains("top 1 of 5 allocation sites"), "{text}");
    assert!(text.contains("Conn::read_buffer"), "{text}");
    assert!(!text.contains("Cache::insert"), "{text}");
}

#[test]
fn matching_allocator_counters_are_not_repeated() {
    let mut snap = service();
    snap.capture.live_bytes = LIVE_BYTES;
    snap.capture.live_blocks = LIVE_BLOCKS;
    let text = summary("summary-counters", &snap, &[]);
    assert!(!text.contains("allocator counted"), "{text}");
    snap.capture.live_bytes += 1;
    let text = summary("summary-counters", &snap, &[]);
    assert!(
        text.contains("(265612 B; the allocator counted 265613 B)"),
        "{text}"
    );
    assert!(!text.contains("(the allocator counted"), "{text}");
}

#[test]
fn a_truncated_file_is_refused_in_one_line() {
    let path = write_snapshot("truncated", &service());
    let bytes = std::fs::read(&path).expect("read back");
    std::fs::write(&path, &bytes[..bytes.len() - 10]).expect("truncate");
    let err = single_line_error(&turbowish(&["summary", path.to_str().expect("utf-8")]));
    assert!(
        err.starts_with(&format!(
            "turbowish: cannot read {}: snapshot is truncated",
            path.display()
        )),
        "{err}"
    );
}

#[test]
fn a_file_with_the_wrong_magic_is_refused_in_one_line() {
    let path = temp_dir("magic").join("notes.twsnap");
    std::fs::write(&path, "these are not the bytes you are looking for\n").expect("write");
    let err = single_line_error(&turbowish(&["summary", path.to_str().expect("utf-8")]));
    assert_eq!(
        err,
        format!(
            "turbowish: cannot read {}: not a TurboWish snapshot (wrong magic bytes)",
            path.display()
        )
    );
}

#[test]
fn a_missing_file_is_refused_in_one_line() {
    let path = temp_dir("missing").join("nope.twsnap");
    let err = single_line_error(&turbowish(&[
        "summary",
        path.to_str().expect("utf-8"),
        "--json",
    ]));
    assert!(
        err.starts_with(&format!("turbowish: cannot read {}: ", path.display())),
        "{err}"
    );
    assert!(err.contains("No such file"), "{err}");
}

#[test]
fn a_directory_is_refused_in_one_line() {
    let dir = temp_dir("directory");
    let err = single_line_error(&turbowish(&["summary", dir.to_str().expect("utf-8")]));
    assert!(
        err.starts_with(&format!(
            "turbowish: cannot read {}: it is a directory",
            dir.display()
        )),
        "{err}"
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &[][..],
        &["summary"],
        &["summary", "x", "--top", "lots"],
        &["frobnicate"],
        &["snap", "0"],
    ] {
        let out = turbowish(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn help_top_level() {
    let out = turbowish(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    insta::assert_snapshot!(stdout(&out));
}

/// `cli::run`, called in this process, prints what the binary prints.
#[test]
fn the_library_runs_commands_as_the_binary_does() {
    use clap::Parser;
    let path = write_snapshot("library", &service());
    let file = path.to_str().unwrap();
    // No colors either way, though this test's stdout may be a terminal.
    for args in [
        &["summary", file, "--no-color"][..],
        &["leaks", file, "--json"],
        &["tasks", file, "--no-color"],
    ] {
        let cli = turbowish_snap::cli::Cli::parse_from([&["turbowish"], args].concat());
        let mut out = Vec::new();
        turbowish_snap::cli::run(&cli, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), ok_stdout(args), "{args:?}");
    }
    let cli = turbowish_snap::cli::Cli::parse_from(["turbowish", "summary", "/nonexistent"]);
    let err = turbowish_snap::cli::run(&cli, &mut Vec::new()).unwrap_err();
    assert!(turbowish_snap::cli::one_line(&err).starts_with("cannot read /nonexistent: "));
}

/// Every subcommand's `--help`, each an insta snapshot `help_<name>`: a
/// new subcommand gets one without a new test.
#[test]
fn help_of_every_subcommand() {
    use clap::CommandFactory;
    let cli = turbowish_snap::cli::Cli::command();
    let names: Vec<&str> = cli.get_subcommands().map(|c| c.get_name()).collect();
    assert!(names.len() >= 8, "{names:?}");
    for name in names {
        let out = turbowish(&[name, "--help"]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
        insta::assert_snapshot!(format!("help_{name}"), stdout(&out));
    }
}

/// A pid no process has, searching down from 4,000,000.
fn unused_pid() -> u32 {
    (1..=4_000_000u32)
        .rev()
        .find(|pid| !Path::new(&format!("/proc/{pid}")).exists())
        .expect("a free pid")
}

#[test]
fn snap_of_a_missing_process_fails_clearly() {
    let pid = unused_pid().to_string();
    let err = single_line_error(&turbowish(&["snap", &pid, "--timeout", "1"]));
    assert_eq!(
        err,
        format!("turbowish: no process has pid {pid}; is it still running?")
    );
}

/// A child process that lives for 30 s, killed when dropped.
struct Child(std::process::Child);

impl Child {
    /// Runs `script` in `sh`, and waits until it prints a line (its signal
    /// dispositions are then set).
    fn spawn(script: &str, env: &[(&str, &str)]) -> Child {
        use std::io::BufRead;
        let mut child = Command::new("sh")
            .args(["-c", script])
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn sh");
        let out = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        std::io::BufReader::new(out)
            .read_line(&mut line)
            .expect("read the child's line");
        // Every script ends in `exec sleep`: until the exec is done,
        // `/proc/PID/environ` may read empty, and `snap` would see no
        // TURBOWISH_SIGNAL.
        let comm = format!("/proc/{}/comm", child.id());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::fs::read_to_string(&comm).unwrap_or_default() != "sleep\n" {
            assert!(
                std::time::Instant::now() < deadline,
                "the child never ran sleep"
            );
            std::thread::yield_now();
        }
        Child(child)
    }

    fn pid(&self) -> String {
        self.0.id().to_string()
    }

    /// Whether it still runs.
    fn alive(&mut self) -> bool {
        self.0.try_wait().expect("try_wait").is_none()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn snap_times_out_on_a_process_that_ignores_the_signal() {
    let mut child = Child::spawn("trap '' USR1; echo ready; exec sleep 30", &[]);
    let dir = temp_dir("snap-timeout");
    let dir_arg = dir.to_str().expect("utf-8");
    let start = std::time::Instant::now();
    let err = single_line_error(&turbowish(&[
        "snap",
        &child.pid(),
        "--timeout",
        "1",
        "--dir",
        dir_arg,
    ]));
    assert!(start.elapsed() >= std::time::Duration::from_secs(1));
    assert!(err.contains("timed out after 1 s"), "{err}");
    assert!(err.contains("turbowish_alloc::install()"), "{err}");
    assert!(err.contains(dir_arg), "{err}");
    assert!(child.alive());
}

#[test]
fn snap_does_not_send_a_signal_the_process_does_not_handle() {
    // SIGUSR1's default action would terminate the child.
    let mut child = Child::spawn("echo ready; exec sleep 30", &[]);
    let err = single_line_error(&turbowish(&["snap", &child.pid(), "--timeout", "1"]));
    assert!(err.contains("has no handler for SIGUSR1"), "{err}");
    assert!(err.contains("nothing was sent"), "{err}");
    assert!(err.contains("turbowish_alloc::install()"), "{err}");
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(child.alive(), "the child was terminated");
}

#[test]
fn snap_sends_the_signal_the_process_asks_for() {
    // USR1 would terminate the child; its TURBOWISH_SIGNAL says USR2.
    let mut child = Child::spawn(
        "trap '' USR2; echo ready; exec sleep 30",
        &[("TURBOWISH_SIGNAL", "usr2")],
    );
    let dir = temp_dir("snap-usr2");
    let args = [
        "snap",
        &child.pid(),
        "--timeout",
        "0.3",
        "--dir",
        dir.to_str().expect("utf-8"),
    ];
    let err = single_line_error(&turbowish(&args));
    assert!(err.contains("timed out after 0.3 s"), "{err}");
    assert!(child.alive());
}

#[test]
fn snap_refuses_a_process_with_snapshot_signals_off() {
    let mut child = Child::spawn("echo ready; exec sleep 30", &[("TURBOWISH_SIGNAL", "off")]);
    let err = single_line_error(&turbowish(&["snap", &child.pid()]));
    assert!(err.contains("TURBOWISH_SIGNAL is off"), "{err}");
    assert!(child.alive());
}

/// The service's snapshot with every name hostile: terminal escapes (clear
/// screen, OSC 52 clipboard write, BEL, CR) in every string, and task
/// names and a future type of 70,000 bytes.
fn hostile() -> (Snapshot, String) {
    let mut snap = service();
    for s in snap.strings.iter_mut().skip(1) {
        s.push_str("\x1b]52;c;SGk=\x07\r\x1b[2J\u{202e}");
    }
    let long = format!("evil{}", "x".repeat(70_000));
    let long_name = StringIndex::new(snap.strings.len() as u32);
    snap.strings.push(long.clone());
    for t in &mut snap.tasks {
        (t.name, t.future_type) = (long_name, long_name);
    }
    snap.capture.typed_panics.push("panicked\x1b[2J".into());
    (snap, long)
}

#[test]
fn hostile_names_are_escaped_in_text_and_kept_whole_in_json() {
    let (snap, long) = hostile();
    let path = write_snapshot("hostile", &snap);
    let file = path.to_str().unwrap();
    let commands: [&[&str]; 8] = [
        &["summary", file],
        &["tasks", file],
        &["leaks", file],
        &["bloat", file, "--min-bytes", "1"],
        &["sites", file, "--stack"],
        &["retainers", file, "--site", "svc"],
        &["retainers", file, "--task", "3"],
        &["diff", file, file, "--force"],
    ];
    for args in commands {
        let out = turbowish(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        let text = stdout(&out);
        let raw = text
            .chars()
            .find(|&c| c != '\n' && c.is_control() || c == '\u{202e}');
        assert_eq!(
            raw, None,
            "{args:?} printed a raw control character:\n{text}"
        );
        let names_shown = args[0] != "leaks"; // it finds nothing to name here
        assert!(
            !names_shown || text.contains("\\x1b"),
            "{args:?}: no escape:\n{text}"
        );
        let widest = text.lines().map(|l| l.chars().count()).max().unwrap_or(0);
        assert!(
            widest < 2_000,
            "{args:?} printed a line of {widest} characters"
        );
        let mut json_args = args.to_vec();
        json_args.push("--json");
        let out = turbowish(&json_args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{json_args:?}: {}",
            stderr(&out)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let text = json.to_string();
        if ["tasks", "bloat"].contains(&args[0]) {
            assert!(text.contains(&long), "{json_args:?} cut a name");
        }
        assert!(
            !names_shown || text.contains("\\u001b]52"),
            "{json_args:?}: escaped"
        );
    }
}

const REGISTRY: &str = "/home/dev/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f";

/// Adds a frame in module `module` (0: the executable, 1: libc) whose
/// symbols are `(function, file, line)`, innermost first.
fn frame_in(
    b: &mut Builder,
    module: u32,
    addr: u64,
    symbols: &[(&str, Option<&str>, u32)],
) -> FrameIndex {
    let frame = frame(b, addr, symbols);
    b.snapshot_mut().frames[frame].module = Some(ModuleIndex::new(module));
    frame
}

/// A service whose allocations are made in its dependencies, named as a
/// release build (`debug = "line-tables-only"`) names them: inlined
/// functions by their name alone. `Bytes::copy_from_slice` (bytes 1.12.2)
/// is reached by four stacks (two calls in mini-redis's `parse`, each
/// through two copies of the function), on a tokio worker thread that std
/// and libc started; the program's own `Cache::insert`, under `main`. The
/// blocks of three of the four `copy_from_slice` stacks are unreachable.
fn dependencies() -> Snapshot {
    let mut b = Builder::new();
    let exe = b.string("/opt/svc/bin/svc");
    let libc = b.string("/usr/lib/x86_64-linux-gnu/libc.so.6");
    let s = b.snapshot_mut();
    s.process = Process {
        pid: 4242,
        exe,
        sequence: 1,
        epoch: 1,
        time_ns: TIME_NS,
        ..Process::default()
    };
    s.modules = vec![
        Module {
            path: exe,
            ..Module::default()
        },
        Module {
            path: libc,
            bias: 0x7f00_0000_0000,
            ..Module::default()
        },
    ];
    let src = |krate: &str, file: &str| format!("{REGISTRY}/{krate}/src/{file}");
    let tw = src("turbowish-alloc-0.1.0", "heap/shim.rs");
    let glue = format!("{RUSTC}/alloc/src/alloc.rs");
    let slice = format!("{RUSTC}/alloc/src/slice.rs");
    let shim = frame(
        &mut b,
        0x1000,
        &[
            ("alloc<std::alloc::System>", Some(&tw), 52),
            ("__rust_alloc", Some("/home/dev/svc/src/main.rs"), 2),
        ],
    );
    let alloc = frame(
        &mut b,
        0x1100,
        &[("alloc", Some(&glue), 95), ("allocate", Some(&glue), 429)],
    );
    let bytes_rs = src("bytes-1.12.2", "bytes.rs");
    let copy = |b: &mut Builder, addr| {
        frame(
            b,
            addr,
            &[
                ("to_vec<u8>", Some(&slice), 376),
                ("copy_from_slice", Some(&bytes_rs), 348),
            ],
        )
    };
    let (copy_a, copy_b) = (copy(&mut b, 0x1200), copy(&mut b, 0x1300));
    let frame_rs = src("mini-redis-0.4.1", "frame.rs");
    let parse_148 = frame(&mut b, 0x1400, &[("parse", Some(&frame_rs), 148)]);
    let parse_161 = frame(&mut b, 0x1500, &[("parse", Some(&frame_rs), 161)]);
    let tokio = src("tokio-1.54.1", "runtime/task/core.rs");
    let poll = frame(&mut b, 0x1600, &[("{closure#0}", Some(&tokio), 380)]);
    let backtrace = format!("{RUSTC}/std/src/sys/backtrace.rs");
    let unix = format!("{RUSTC}/std/src/sys/thread/unix.rs");
    let thread = frame(
        &mut b,
        0x1700,
        &[
            ("__rust_begin_short_backtrace<F, ()>", Some(&backtrace), 166),
            (
                "<std::sys::thread::unix::Thread>::new::thread_start",
                Some(&unix),
                118,
            ),
        ],
    );
    let start = frame_in(
        &mut b,
        1,
        0x7f00_0009_4ac3,
        &[("start_thread", Some("./nptl/pthread_create.c"), 442)],
    );
    let clone3 = frame_in(&mut b, 1, 0x7f00_0012_6850, &[]);
    let insert = frame(
        &mut b,
        0x2000,
        &[(
            "svc::cache::Cache::insert",
            Some("/home/dev/svc/src/cache.rs"),
            42,
        )],
    );
    let main = frame(
        &mut b,
        0x2100,
        &[("main", Some("/home/dev/svc/src/main.rs"), 9)],
    );
    let rt = format!("{RUSTC}/std/src/rt.rs");
    let lang_start = frame(
        &mut b,
        0x2200,
        &[("std::rt::lang_start_internal", Some(&rt), 171)],
    );
    let trampoline = frame(&mut b, 0x2300, &[("main", None, 0)]);
    let libc_start = frame_in(
        &mut b,
        1,
        0x7f00_0002_a24a,
        &[(
            "__libc_start_call_main",
            Some("./csu/../sysdeps/nptl/libc_start_call_main.h"),
            58,
        )],
    );
    let worker = [poll, thread, start, clone3];
    let on_worker = |b: &mut Builder, copy, parse| {
        b.stack(&[&[shim, alloc, copy, parse][..], &worker].concat())
    };
    let stacks = [
        on_worker(&mut b, copy_a, parse_148),
        on_worker(&mut b, copy_b, parse_148),
        on_worker(&mut b, copy_a, parse_161),
        on_worker(&mut b, copy_b, parse_161),
        b.stack(&[
            shim, alloc, insert, main, lang_start, trampoline, libc_start,
        ]),
    ];
    let block = |i: u64, stack, size| Block {
        addr: 0x5555_6000_0000 + 0x1000 * i,
        size,
        task: 7,
        stack,
        epoch: 0,
        type_name: StringIndex::EMPTY,
        stack_certain: false,
    };
    let s = b.snapshot_mut();
    s.blocks = vec![
        block(0, stacks[0], 100),
        block(1, stacks[0], 100),
        block(2, stacks[1], 100),
        block(3, stacks[2], 50),
        block(4, stacks[3], 50),
        block(5, stacks[4], 4096),
    ];
    s.roots.push(Root {
        kind: RootKind::Static,
        label: exe,
        start: 0x5555_0200_0000,
        len: 4096,
        targets: blks(&[0, 1, 5]),
        ..Root::default()
    });
    b.build()
}

/// How `summary`, `sites`, `leaks` and `diff --by site` name the site
/// of `Bytes::copy_from_slice`: with its crate, on one row.
const COPY: &str = "bytes 1.12.2: copy_from_slice (src/bytes.rs:348)";

#[test]
fn sites_name_their_crate_and_rows_named_alike_are_merged() {
    let snap = dependencies();
    let v = json_summary("dependencies", &snap, &[]);
    assert_eq!(
        (&v["totals"]["sites"], &v["totals"]["stacks"]),
        (&2.into(), &5.into())
    );
    let top = &v["top_sites"];
    assert_eq!(top.as_array().map(Vec::len), Some(2), "{top:#}");
    assert_eq!(top[0]["site"], "Cache::insert (src/cache.rs:42)", "{top:#}");
    assert!(top[0]["dependency"].is_null(), "the program's own: {top:#}");
    assert_eq!(top[1]["site"], COPY, "{top:#}");
    assert_eq!(
        top[1]["dependency"],
        serde_json::json!({"name": "bytes", "version": "1.12.2"})
    );
    assert_eq!(
        (&top[1]["stacks"], &top[1]["blocks"], &top[1]["bytes"]),
        (&4.into(), &5.into(), &400.into())
    );
    let text = summary("dependencies-text", &snap, &[]);
    let sites_list = text
        .split("allocation sites, by live bytes")
        .nth(1)
        .unwrap();
    assert_eq!(sites_list.matches(COPY).count(), 1, "{text}");

    let sites = run_on("dependencies-sites", &snap, "sites", &["--json"]);
    let sites: serde_json::Value = serde_json::from_str(&sites).unwrap();
    assert_eq!(sites["selected"]["sites"], 2, "{sites:#}");
    assert_eq!(sites["sites"][1]["stacks"], 4, "{sites:#}");

    // Three stacks' blocks are unreachable, all allocated by task 7.
    let leaks = run_on("dependencies-leaks", &snap, "leaks", &["--json"]);
    let leaks: serde_json::Value = serde_json::from_str(&leaks).unwrap();
    let rows = &leaks["unreachable"]["sites"];
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{rows:#}");
    assert_eq!(rows[0]["site"], COPY, "{rows:#}");
    assert_eq!(
        (
            &rows[0]["task"],
            &rows[0]["stacks"],
            &rows[0]["blocks"],
            &rows[0]["bytes"]
        ),
        (&7.into(), &3.into(), &3.into(), &200.into())
    );
}

#[test]
fn diff_by_site_names_crates_and_counts_the_stacks_of_each_row() {
    let dir = temp_dir("dependencies-diff");
    let (a, b) = (dir.join("a.twsnap"), dir.join("b.twsnap"));
    let mut later = dependencies();
    later.process.sequence = 2;
    later.blocks.push(Block {
        addr: 0x5555_7000_0000,
        epoch: 1,
        ..later.blocks[4]
    });
    write_file(&dependencies(), &a).unwrap();
    write_file(&later, &b).unwrap();
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let out = ok_stdout(&["diff", a, b, "--by", "site", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = v["groups"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{v:#}");
    assert_eq!(rows[0]["key"], COPY, "{v:#}");
    assert_eq!(
        (&rows[0]["net"], &rows[0]["born_blocks"]),
        (&50.into(), &1.into())
    );
    assert_eq!(
        (&rows[0]["stacks_a"], &rows[0]["stacks_b"]),
        (&4.into(), &4.into())
    );
    let by_spawn = ok_stdout(&["diff", a, b, "--json"]);
    assert!(
        !by_spawn.contains("stacks_a"),
        "only --by site counts stacks"
    );
    let text = ok_stdout(&["diff", a, b, "--by", "site"]);
    assert_eq!(text.matches(COPY).count(), 1, "{text}");
}

#[test]
fn retainers_site_matches_any_frame_of_the_stack() {
    let path = write_snapshot("dependencies-retainers", &dependencies());
    let file = path.to_str().unwrap();
    for (pattern, blocks) in [
        ("frame.rs:148", 3),
        ("mini-redis-0.4.1/src/frame.rs:161", 2),
        ("bytes 1.12.2", 5),
        ("Cache::insert", 1),
        ("svc::cache::Cache::insert", 1),
        ("lang_start", 1),
    ] {
        let out = ok_stdout(&["retainers", file, "--site", pattern, "--json"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["selected"]["blocks"], blocks, "{pattern}: {v:#}");
    }
    let err = single_line_error(&turbowish(&["retainers", file, "--site", "frame.rs:149"]));
    assert!(
        err.contains("no live block with a frame containing"),
        "{err}"
    );
}

#[test]
fn sites_stack_hides_allocator_and_start_up_frames() {
    let snap = dependencies();
    let trimmed = run_on("dependencies-stack", &snap, "sites", &["--stack"]);
    insta::assert_snapshot!("sites_stack_trimmed", trimmed);
    let full = run_on("dependencies-full", &snap, "sites", &["--stack=full"]);
    insta::assert_snapshot!("sites_stack_full", full);
    let json = run_on("dependencies-json", &snap, "sites", &["--stack", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let stacks = &v["sites"][1]["frames_by_stack"];
    assert_eq!(
        stacks.as_array().map(Vec::len),
        Some(2),
        "two callers: {v:#}"
    );
    for stack in stacks.as_array().unwrap() {
        assert_eq!(stack["stacks"], 2, "two copies each, shown alike: {v:#}");
        assert_eq!(stack["hidden_allocator_frames"], 4, "{v:#}");
        assert_eq!(stack["hidden_startup_frames"], 4, "{v:#}");
        assert_eq!(stack["frames"].as_array().unwrap().len(), 4, "{v:#}");
    }
    let cache = &v["sites"][0]["frames_by_stack"][0];
    assert_eq!(
        cache["frames"],
        serde_json::json!(["Cache::insert (src/cache.rs:42)", "main (src/main.rs:9)"])
    );
    assert_eq!(cache["hidden_startup_frames"], 3, "{v:#}");
    // `--stack FILE` is not `--stack=FILE`.
    let out = turbowish(&[
        "sites",
        "--stack",
        write_snapshot("x", &snap).to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// A snapshot of `n` blocks from as many allocation sites, each with a
/// long name: a large output for every command.
fn many_sites(n: u32) -> Snapshot {
    let mut b = Builder::new();
    let exe = b.string("/svc/bin/svc");
    b.snapshot_mut().modules.push(Module {
        path: exe,
        ..Module::default()
    });
    let blocks = (0..n)
        .map(|i| {
            let name = format!("svc::module_{i}::Type{i}::a_long_function_name_{i}");
            let f = frame(
                &mut b,
                0x10_0000 + u64::from(i),
                &[(&name, Some("/svc/src/lib.rs"), i)],
            );
            Block {
                addr: 0x5555_6000_0000 + 0x100 * u64::from(i),
                size: 64,
                stack: b.stack(&[f]),
                ..Block::default()
            }
        })
        .collect();
    b.snapshot_mut().blocks = blocks;
    b.build()
}

/// `turbowish summary FILE | head`: the reader goes away at once, before
/// the CLI wrote anything; text and JSON end with status 0 and nothing
/// on stderr, as a closed pipe is no error of the CLI's.
#[test]
fn a_closed_pipe_ends_the_cli_quietly() {
    let path = write_snapshot("closed-pipe", &many_sites(20_000));
    let file = path.to_str().unwrap();
    for args in [
        &["sites", file, "--top", "0", "--stack=full"][..],
        &["sites", file, "--top", "0", "--json"],
        &["summary", file, "--top", "0"],
        &["summary", file, "--top", "0", "--json"],
        &["leaks", file, "--top", "0", "--json"],
        &["dominators", file, "--top", "0"],
        &["dominators", file, "--top", "0", "--json"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_turbowish"))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run turbowish");
        drop(child.stdout.take()); // the reader closes at once
        let out = child.wait_with_output().expect("wait for turbowish");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(out.stderr.is_empty(), "{args:?}: {}", stderr(&out));
    }
    let out = ok_stdout(&["sites", file, "--top", "0", "--json"]);
    assert!(
        out.len() > 1 << 20,
        "the output ({} bytes) is larger than a pipe's buffer",
        out.len()
    );
}

/// Where [`with_library_tasks`] has axum spawn its tasks.
const AXUM_SERVE: &str =
    "/home/dev/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/axum-0.8.9/src/serve/mod.rs";

/// `snap` with tasks found from tokio's cells: `pending` pending tasks and
/// one completed task spawned inside axum (the zombie held by a static),
/// a `spawn_blocking` task of the program, two runtime workers (blocking
/// tasks whose closure is tokio's scheduler's) and two cells that did not
/// verify.
fn with_library_tasks(snap: Snapshot, pending: u64) -> Snapshot {
    let mut b = Builder::from_snapshot(snap);
    let serve = b.string(AXUM_SERVE);
    let main = b.string("/home/dev/svc/src/main.rs");
    let conn = b.string("axum::serve::{impl#3}::{async_block_env#0}");
    let load = b.string("tokio::runtime::blocking::task::BlockingTask<svc::load::{closure_env#0}>");
    let worker = b.string(
        "tokio::runtime::blocking::task::BlockingTask<tokio::runtime::scheduler::multi_thread::worker::{impl#0}::launch::{closure_env#0}>",
    );
    let s = b.snapshot_mut();
    s.capture.cells_found = pending + 4;
    s.capture.cells_not_understood = 2;
    s.capture.cells_ns = 1_000;
    let cell = |kind, state, file, line, future_type, size| Task {
        id: 100 + s.tasks.len() as u64,
        kind,
        state,
        file,
        line,
        future_type,
        future_size: size,
        refs: 1,
        ..Task::default()
    };
    let mut cells = vec![
        cell(
            TaskKind::Tokio,
            TaskState::Completed,
            serve,
            389,
            conn,
            20_000,
        ),
        cell(TaskKind::Blocking, TaskState::Running, main, 30, load, 64),
        cell(TaskKind::Blocking, TaskState::Running, main, 10, worker, 64),
        cell(TaskKind::Blocking, TaskState::Running, main, 10, worker, 64),
    ];
    for _ in 0..pending {
        cells.push(cell(
            TaskKind::Tokio,
            TaskState::Pending,
            serve,
            389,
            conn,
            20_000,
        ));
    }
    for (i, mut t) in cells.into_iter().enumerate() {
        let at = s.blocks.len() as u32;
        t.id = 100 + i as u64;
        s.blocks.push(Block {
            addr: 0x7f40_0000_0000 + 0x1_0000 * i as u64,
            size: t.future_size + 128,
            ..Block::default()
        });
        (t.storage, t.cell) = (Some(blk(at)), Some(blk(at)));
        s.roots.push(Root {
            kind: RootKind::Task,
            targets: vec![blk(at)],
            task: Some(TaskIndex::new(s.tasks.len() as u32)),
            ..Root::default()
        });
        s.tasks.push(t);
    }
    let zombie = s.tasks.iter().position(|t| t.id == 100).unwrap();
    let zombie_cell = s.tasks[zombie].cell.unwrap();
    s.roots[0].targets.push(zombie_cell);
    s.roots[0].labels.clear();
    b.build()
}

#[test]
fn library_tasks_are_named_by_their_crate_and_workers_apart() {
    let snap = with_library_tasks(service(), 2);
    insta::assert_snapshot!(summary("library-summary", &snap, &[]));
    insta::assert_snapshot!(tasks("library-tasks", &snap, &[]));
    let axum = "axum 0.8.9: src/serve/mod.rs:389";
    let leaks = run_on("library-leaks", &snap, "leaks", &[]);
    assert!(leaks.contains(axum), "{leaks}");
    let bloat = run_on("library-bloat", &snap, "bloat", &[]);
    assert!(bloat.contains(axum), "{bloat}");
    let workers = tasks("library-workers", &snap, &["--kind", "worker"]);
    assert!(workers.starts_with("2 of 2 worker tasks"), "{workers}");
    assert!(
        workers.contains("  102  -     worker  running"),
        "{workers}"
    );
    let summary = summary("library-summary-workers", &snap, &[]);
    assert!(
        summary.contains("src/main.rs:10 (runtime worker)"),
        "{summary}"
    );

    let dir = temp_dir("library-diff");
    let (a, b) = (dir.join("a.twsnap"), dir.join("b.twsnap"));
    write_file(&snap, &a).unwrap();
    write_file(&with_library_tasks(service_later(), 5), &b).unwrap();
    let diff = ok_stdout(&["diff", a.to_str().unwrap(), b.to_str().unwrap()]);
    let row = format!("3 -> 6      +3  117.9 KiB  +59.0 KiB  {axum}");
    assert!(diff.contains(&row), "{diff}");
    assert!(diff.contains("tasks: 4 new, 0 ended"), "{diff}");
}

/// Builds [`waits_service`]: blocks, tokio tasks (each its cell and a
/// task root), edges and roots with kinds.
struct WaitsBuilder {
    b: Builder,
    main: StringIndex,
}

impl WaitsBuilder {
    /// A block of `size` bytes allocated with `stack`; its index.
    fn block(&mut self, size: u64, stack: StackIndex) -> u32 {
        let s = self.b.snapshot_mut();
        let i = s.blocks.len() as u32;
        s.blocks.push(Block {
            addr: 0x5555_7000_0000 + 0x1000 * u64::from(i),
            size,
            stack,
            ..Block::default()
        });
        i
    }

    /// A tokio task with id `id`, in `state`, spawned at line `line` of
    /// the program's `file` with future type `future`; its cell's index.
    fn task(&mut self, id: u64, state: TaskState, file: &str, line: u32, future: &str) -> u32 {
        let cell = self.block(256, StackIndex::EMPTY);
        let (file, future_type) = (self.b.string(file), self.b.string(future));
        let s = self.b.snapshot_mut();
        s.roots.push(Root {
            kind: RootKind::Task,
            targets: vec![blk(cell)],
            task: Some(TaskIndex::new(s.tasks.len() as u32)),
            ..Root::default()
        });
        s.tasks.push(Task {
            id,
            kind: TaskKind::Tokio,
            state,
            file,
            line,
            future_type,
            future_size: 200,
            storage: Some(blk(cell)),
            cell: Some(blk(cell)),
            refs: 2,
            ..Task::default()
        });
        cell
    }

    fn edge(&mut self, from: u32, to: u32, kind: EdgeKind) {
        let e = Edge {
            kind,
            ..Edge::new(blk(from), blk(to))
        };
        self.b.snapshot_mut().edges.push(e);
    }

    /// Static data of the program holding `targets`, by the symbols and
    /// kinds given.
    fn statics(&mut self, targets: &[(u32, &str, EdgeKind)]) {
        let mut targets = targets.to_vec();
        targets.sort_by_key(|t| t.0);
        let labels = targets.iter().map(|t| self.b.string(t.1)).collect();
        let label = self.main;
        self.b.snapshot_mut().roots.push(Root {
            kind: RootKind::Static,
            label,
            start: 0x5555_0200_0000,
            len: 4096,
            targets: targets.iter().map(|t| blk(t.0)).collect(),
            labels,
            kinds: targets.iter().map(|t| t.2).collect(),
            task: None,
        });
    }

    /// A stack whose frames are tokio's `function`s (innermost first),
    /// then the program's `main`.
    fn tokio_stack(&mut self, functions: &[&str]) -> StackIndex {
        let tokio = "/home/dev/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tokio-1.54.1/src/lib.rs";
        let mut frames = Vec::new();
        for (i, f) in functions.iter().chain(&["svc::main"]).enumerate() {
            let file = if f.starts_with("tokio") {
                tokio
            } else {
                "/home/dev/svc/src/main.rs"
            };
            let addr = 0x5555_0000_9000 + 0x100 * (self.b.snapshot().frames.len() + i) as u64;
            frames.push(frame(&mut self.b, addr, &[(f, Some(file), 10)]));
        }
        self.b.stack(&frames)
    }
}

/// A service with every way to be stuck and to be woken:
/// - a deadlock: tasks 21 and 22 each hold a lock whose waiter list links
///   into the other's future;
/// - task 30 (a worker awaiting `pending()`) holds the oneshot senders of
///   tasks 31-33 (spawned at one line) and 34, and task 40's `JoinHandle`;
///   task 40 awaits `pending()`, task 41's waker sits only in a leaked block;
/// - task 50's waker is in static `svc::PARKED`; its future holds a
///   `Notify` linking into task 52's; the timer's wheel links into task
///   51's future and an I/O registration holds task 53's waker, both
///   reached from the runtime's handle in static `svc::RUNTIME`; task 60
///   is running.
fn waits_service() -> Snapshot {
    let mut w = WaitsBuilder {
        b: Builder::new(),
        main: StringIndex::EMPTY,
    };
    w.main = w.b.string("/opt/svc/bin/svc");
    let s = w.b.snapshot_mut();
    (s.process.pid, s.process.sequence) = (4242, 3);
    s.modules.push(Module {
        path: w.main,
        start: 0x5555_0000_1000,
        end: 0x5555_0100_0000,
        ..Module::default()
    });
    use EdgeKind::{Conservative as Ptr, JoinHandle, Waiter, Waker};
    use TaskState::{Pending, Running};
    let locks = "/home/dev/svc/src/locks.rs";
    let (a, b) = (
        w.task(21, Pending, locks, 20, "svc::locks::a::{async_fn_env#0}"),
        w.task(22, Pending, locks, 30, "svc::locks::b::{async_fn_env#0}"),
    );
    let (lock_a, lock_b) = (
        w.block(64, StackIndex::EMPTY),
        w.block(64, StackIndex::EMPTY),
    );
    for (owner, lock, other) in [(a, lock_a, b), (b, lock_b, a)] {
        w.edge(owner, lock, Ptr);
        w.edge(lock, other, Waiter);
    }
    let jobs = "/home/dev/svc/src/jobs.rs";
    let worker = w.task(
        30,
        Pending,
        "/home/dev/svc/src/pool.rs",
        80,
        "svc::pool::worker::{async_fn_env#0}",
    );
    for (id, line, future) in [
        (31, 12, "run"),
        (32, 12, "run"),
        (33, 12, "run"),
        (34, 40, "flush"),
    ] {
        let job = w.task(
            id,
            Pending,
            jobs,
            line,
            &format!("svc::jobs::{future}::{{async_fn_env#0}}"),
        );
        let channel = w.block(96, StackIndex::EMPTY);
        w.edge(worker, channel, Ptr);
        w.edge(channel, job, Waker);
    }
    let main = "/home/dev/svc/src/main.rs";
    let forever = w.task(40, Pending, main, 50, "svc::forever::{async_fn_env#0}");
    w.edge(worker, forever, JoinHandle);
    // Its handle exists (the state word's JOIN_INTEREST), and holds its
    // second reference.
    let t = w.b.snapshot_mut().tasks.last_mut().unwrap();
    t.join_handle = true;
    let lost = w.task(41, Pending, main, 60, "svc::lost::{async_fn_env#0}");
    let leaked = w.block(48, StackIndex::EMPTY);
    w.edge(leaked, lost, Waker);
    let serve = "/home/dev/svc/src/serve.rs";
    let server = w.task(50, Pending, serve, 10, "svc::serve::{async_fn_env#0}");
    let listener = w.task(52, Pending, serve, 30, "svc::listen::{async_fn_env#0}");
    let notify = w.block(32, StackIndex::EMPTY);
    w.edge(server, notify, Ptr);
    w.edge(notify, listener, Waiter);
    let tick = w.task(
        51,
        Pending,
        "/home/dev/svc/src/tick.rs",
        5,
        "svc::tick::{async_fn_env#0}",
    );
    let reader = w.task(53, Pending, serve, 44, "svc::read::{async_fn_env#0}");
    w.task(60, Running, serve, 60, "svc::accept::{async_fn_env#0}");
    let handle = w.tokio_stack(&["tokio::runtime::builder::Builder::build"]);
    let wheel = w.tokio_stack(&["tokio::runtime::time::wheel::level::Level::new"]);
    let registration = w.tokio_stack(&[
        "tokio::util::linked_list::LinkedList<L,T>::push_front",
        "tokio::runtime::io::registration_set::RegistrationSet::allocate",
    ]);
    let (handle, wheel, registration) = (
        w.block(512, handle),
        w.block(4096, wheel),
        w.block(128, registration),
    );
    for (from, to, kind) in [
        (handle, wheel, Ptr),
        (handle, registration, Ptr),
        (wheel, tick, Waiter),
        (registration, reader, Waker),
    ] {
        w.edge(from, to, kind);
    }
    w.statics(&[
        (server, "svc::PARKED", Waker),
        (handle, "svc::RUNTIME", Ptr),
    ]);
    let mut snap = w.b.build();
    snap.edges.sort();
    snap
}

/// `turbowish waits` on [`waits_service`] with `extra` arguments.
fn waits(name: &str, extra: &[&str]) -> String {
    run_on(name, &waits_service(), "waits", extra)
}

#[test]
fn waits_text() {
    insta::assert_snapshot!(waits("waits-text", &[]));
}

#[test]
fn waits_text_with_every_wake_path() {
    insta::assert_snapshot!(waits("waits-all", &["--all"]));
}

#[test]
fn waits_json() {
    let json = waits("waits-json", &["--all", "--json"]);
    insta::assert_snapshot!(json);
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let ids = |list: &serde_json::Value| -> Vec<u64> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(ids(&v["stuck"]), [21, 22, 31, 32, 33, 34, 30, 40, 41]);
    assert_eq!(
        (&v["pending_tasks"], &v["stuck_tasks"], &v["wakeable_tasks"]),
        (&13.into(), &9.into(), &4.into())
    );
    assert_eq!(ids(&v["cycles"][0]), [21, 22]);
    assert_eq!(ids(&v["wakeable"]), [50, 51, 52, 53]);
    let stuck = |id: u64| {
        v["stuck"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(stuck(31)["behind"], 30);
    assert_eq!(stuck(40)["join_handle_holders"], serde_json::json!([30]));
    assert_eq!(stuck(41)["held_by_unreachable"], true);
}

#[test]
fn waits_for_one_task_shows_its_path_or_why_it_has_none() {
    let one = waits("waits-task", &["--task", "52"]);
    let path = "\ntask 52 spawned at src/serve.rs:30 (svc::listen::{async_fn_env#0}):\n";
    assert!(one.contains(path) && !one.contains("wake paths:"), "{one}");
    assert!(!one.contains("task 51 spawned"), "{one}");
    for (id, why) in [
        ("30", "task 30 is stuck (above): nothing can wake it"),
        ("60", "task 60 is running: it is not waiting to be woken"),
    ] {
        let text = waits("waits-task-none", &["--task", id]);
        assert!(text.ends_with(&format!("\n\n{why}\n")), "{text}");
        let json = waits("waits-task-none-json", &["--task", id, "--json"]);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["wakeable"], serde_json::json!([]), "{json}");
    }
    let path = write_snapshot("waits-unknown", &waits_service());
    let err = single_line_error(&turbowish(&[
        "waits",
        path.to_str().unwrap(),
        "--task",
        "99",
    ]));
    assert_eq!(err, "turbowish: no task with id 99 (see `turbowish tasks`)");
}

#[test]
fn waits_on_a_clean_snapshot_says_so_in_one_line() {
    let none = run_on("waits-empty", &Snapshot::default(), "waits", &[]);
    assert_eq!(none, "nothing is stuck: no task is pending\n");
    let mut snap = waits_service();
    for t in snap.tasks.iter_mut().filter(|t| t.id < 50) {
        t.state = TaskState::Running;
    }
    let clean = run_on("waits-clean", &snap, "waits", &[]);
    assert_eq!(
        clean,
        "nothing is stuck: something can wake each of the 4 pending tasks\n"
    );
}

#[test]
fn waits_says_when_a_snapshot_records_no_wake_pointers() {
    let text = run_on("waits-v4", &service(), "waits", &[]);
    assert!(text.starts_with("stuck: 2 of 2 pending tasks"), "{text}");
    assert!(
        text.contains("\nnote: this snapshot records no wakers"),
        "{text}"
    );
    let text = waits("waits-v5", &[]);
    assert!(!text.contains("note:"), "{text}");
}

#[test]
fn summary_and_leaks_count_stuck_tasks() {
    let path = write_snapshot("waits-counts", &waits_service());
    let file = path.to_str().unwrap();
    let summary: serde_json::Value =
        serde_json::from_str(&ok_stdout(&["summary", file, "--json"])).unwrap();
    assert_eq!(summary["findings"]["stuck_tasks"], 9);
    let leaks: serde_json::Value =
        serde_json::from_str(&ok_stdout(&["leaks", file, "--json"])).unwrap();
    assert_eq!(leaks["stuck_tasks"], 9);
    let text = ok_stdout(&["leaks", file]);
    assert!(
        text.contains("\nstuck tasks: 9 (pending, and nothing"),
        "{text}"
    );
}

/// A static holds a chain of 20 blocks whose last holds task 7's waker:
/// the path keeps its ends and counts its middle.
#[test]
fn waits_elides_the_middle_of_a_long_path() {
    let mut w = WaitsBuilder {
        b: Builder::new(),
        main: StringIndex::EMPTY,
    };
    w.main = w.b.string("/opt/svc/bin/svc");
    let task = w.task(
        7,
        TaskState::Pending,
        "/home/dev/svc/src/main.rs",
        3,
        "svc::wait",
    );
    let chain: Vec<u32> = (0..20).map(|_| w.block(16, StackIndex::EMPTY)).collect();
    for pair in chain.windows(2) {
        w.edge(pair[0], pair[1], EdgeKind::Conservative);
    }
    w.edge(chain[19], task, EdgeKind::Waker);
    w.statics(&[(chain[0], "svc::HEAD", EdgeKind::Conservative)]);
    let mut snap = w.b.build();
    snap.edges.sort();
    let json = run_on("waits-long", &snap, "waits", &["--task", "7", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let path = v["wakeable"][0]["wake_path"].as_array().unwrap();
    assert_eq!(path.len(), 11, "{json}");
    assert_eq!(path[5], serde_json::json!({"elided": 11}));
    assert_eq!(
        (&path[0]["holder"], &path[10]["via"]),
        (&"static svc::HEAD".into(), &"waker".into())
    );
    let text = run_on("waits-long-text", &snap, "waits", &["--task", "7"]);
    assert!(text.contains("\u{2026} 11 more steps \u{2026}\n"), "{text}");
    assert!(
        text.contains("\u{2026}\n              [pointer] a block"),
        "{text}"
    );
    assert!(text.ends_with("[waker] task 7\n"), "{text}");
}

/// `snap` with where its resident memory went: `resident` MiB (4 MiB of
/// them file-backed), glibc holding `held` MiB of which `free` MiB free,
/// 2 MiB of TurboWish tables and 64 KiB of headers.
fn with_memory(mut snap: Snapshot, resident: u64, held: u64, free: u64) -> Snapshot {
    const MIB: u64 = 1 << 20;
    let c = &mut snap.capture;
    c.resident_bytes = resident * MIB;
    c.resident_anon_bytes = (resident - 4) * MIB;
    c.own_table_bytes = 2 * MIB;
    c.own_header_bytes = 64 << 10;
    c.allocator = Some(AllocatorFigures {
        name: "glibc".to_owned(),
        held_bytes: held * MIB,
        in_use_bytes: (held - free) * MIB,
        free_bytes: free * MIB,
    });
    snap
}

/// The `resident memory` section of a summary's text.
fn resident_section(text: &str) -> String {
    let start = text
        .find("resident memory")
        .expect("a resident memory section");
    let end = text[start..].find("\n\n").map_or(text.len(), |e| start + e);
    text[start..end].to_owned()
}

#[test]
fn summary_splits_the_resident_memory_and_names_a_large_gap() {
    let snap = with_memory(service(), 54, 48, 38);
    let text = summary("summary-resident", &snap, &[]);
    insta::assert_snapshot!(resident_section(&text));
    let v = json_summary("summary-resident-json", &snap, &[]);
    let m = &v["memory"];
    assert_eq!(m["resident"], 54 << 20);
    assert_eq!(m["live"], snap.capture.live_bytes);
    assert_eq!(m["allocator"]["free"], 38 << 20);
    assert_eq!(m["turbowish"]["tables"], 2 << 20);
    assert_eq!(m["gap"]["cause"], "allocator");
    let parts = ["live", "rest"].map(|p| m[p].as_u64().unwrap());
    let retained = ["free", "overhead"].map(|p| m["allocator"][p].as_u64().unwrap());
    let own = ["tables", "headers"].map(|p| m["turbowish"][p].as_u64().unwrap());
    let sum: u64 = parts.iter().chain(&retained).chain(&own).sum();
    assert_eq!(sum, 54 << 20, "the parts add up to the resident set");
}

#[test]
fn summary_says_when_the_allocator_gave_no_figures_and_when_nothing_was_recorded() {
    let mut snap = with_memory(service(), 54, 48, 38);
    snap.capture.allocator = None;
    let text = resident_section(&summary("summary-resident-unknown", &snap, &[]));
    assert!(
        text.contains("not recorded (the allocator gave no figures)"),
        "{text}"
    );
    assert!(
        text.contains("the allocator gave no figures, so its retention"),
        "{text}"
    );
    let v = json_summary("summary-resident-unknown-json", &snap, &[]);
    assert!(v["memory"]["allocator"].is_null());
    assert_eq!(v["memory"]["gap"]["cause"], "unknown");
    let old = json_summary("summary-resident-old-json", &service(), &[]);
    assert!(old["memory"].is_null());
}

#[test]
fn diff_shows_how_each_part_of_the_resident_memory_changed() {
    let dir = temp_dir("diff-resident");
    let (a, b) = (dir.join("a.twsnap"), dir.join("b.twsnap"));
    write_file(&with_memory(service(), 120, 110, 10), &a).unwrap();
    write_file(&with_memory(service_later(), 54, 48, 38), &b).unwrap();
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let text = ok_stdout(&["diff", a, b]);
    insta::assert_snapshot!(resident_section(&text));
    let v: serde_json::Value = serde_json::from_str(&ok_stdout(&["diff", a, b, "--json"])).unwrap();
    let parts = v["resident"].as_array().unwrap();
    let part = |name: &str| parts.iter().find(|p| p["part"] == name).unwrap();
    assert_eq!(part("resident")["change"], -(66i64 << 20));
    assert_eq!(part("allocator_free")["change"], 28i64 << 20);
    let (old_a, _) = write_pair("diff-resident-old");
    let old = ok_stdout(&["diff", old_a.to_str().unwrap(), b, "--json"]);
    let old: serde_json::Value = serde_json::from_str(&old).unwrap();
    let resident = &old["resident"][0];
    assert!(resident["a"].is_null() && resident["change"].is_null());
    assert_eq!(resident["b"], 54 << 20);
}
