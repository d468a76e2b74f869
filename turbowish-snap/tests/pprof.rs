//! `turbowish export --format pprof`: the profile, decoded with the
//! generated prost types, against what `summary`, `tasks`, `sites` and
//! `diff` print for the same files; and `go tool pprof` reading it.

#![cfg(feature = "cli")]

use prost::Message;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use turbowish_snap::export::pprof::profile::Profile;
use turbowish_snap::*;

fn turbowish(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_turbowish"))
        .args(args)
        .env_remove("TURBOWISH_DIR")
        .output()
        .expect("run turbowish")
}

/// `turbowish ARGS`, which must succeed quietly; its stdout.
fn ok(args: &[&str]) -> Vec<u8> {
    let out = turbowish(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    assert!(out.stderr.is_empty(), "{err}");
    out.stdout
}

/// `turbowish ARGS --json`, parsed.
fn json(args: &[&str]) -> serde_json::Value {
    let out = ok(&[args, &["--json"]].concat());
    serde_json::from_slice(&out).expect("--json prints JSON")
}

/// A fresh directory for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("pprof-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// `snap` written as snapshot `seq` into `dir`.
fn write(dir: &Path, snap: &Snapshot) -> String {
    let path = dir.join(format!("turbowish-4242-{}.twsnap", snap.process.sequence));
    write_file(snap, &path).expect("write snapshot");
    path.to_str().expect("utf-8 path").to_owned()
}

/// A gzipped profile, decoded.
fn decode(gz: &[u8]) -> Profile {
    let mut bytes = Vec::new();
    (flate2::read::GzDecoder::new(gz))
        .read_to_end(&mut bytes)
        .expect("gzipped");
    Profile::decode(&bytes[..]).expect("a profile.proto Profile")
}

/// `turbowish export FILES --format pprof -o OUT EXTRA`, decoded.
fn export(dir: &Path, files: &[&str], extra: &[&str]) -> Profile {
    let out = dir.join("heap.pb.gz");
    let out = out.to_str().unwrap();
    let printed = ok(&[files, &["--format", "pprof", "-o", out], extra].concat());
    let printed = String::from_utf8(printed).unwrap();
    let want = format!("wrote {out}: a pprof heap profile of ");
    assert!(printed.starts_with(&want), "one line: {printed}");
    decode(&std::fs::read(out).expect("the profile was written"))
}

fn string(p: &Profile, i: i64) -> &str {
    &p.string_table[i as usize]
}

/// The index of sample type `name`.
fn value_index(p: &Profile, name: &str) -> usize {
    (p.sample_type.iter())
        .position(|t| string(p, t.r#type) == name)
        .unwrap_or_else(|| panic!("no sample type {name}"))
}

/// Sample type `name` summed over every sample.
fn total(p: &Profile, name: &str) -> i64 {
    let i = value_index(p, name);
    p.sample.iter().map(|s| s.value[i]).sum()
}

/// Sample type `name` summed by the value of label `key` ("" for none).
fn by_label(p: &Profile, key: &str, name: &str) -> HashMap<String, i64> {
    let i = value_index(p, name);
    let mut sums = HashMap::new();
    for s in &p.sample {
        let value = (s.label.iter())
            .find(|l| string(p, l.key) == key)
            .map_or("", |l| string(p, l.str));
        *sums.entry(value.to_owned()).or_default() += s.value[i];
    }
    sums
}

/// The function names of sample `s`'s locations, leaf first, each
/// location's lines innermost first.
fn stack(p: &Profile, s: &turbowish_snap::export::pprof::profile::Sample) -> Vec<String> {
    let mut names = Vec::new();
    for id in &s.location_id {
        let loc = (p.location.iter()).find(|l| l.id == *id).expect("location");
        for line in &loc.line {
            let f = (p.function.iter()).find(|f| f.id == line.function_id);
            names.push(string(p, f.expect("function").name).to_owned());
        }
    }
    names
}

const TIME_NS: u64 = 1_700_000_000_000_000_000;
const RUSTC: &str = "/rustc/17067e9ac6d7e98f18d4d6a8d21ec4f8a7a08bbb/library";
const CONN_BUF: u64 = 4096;

/// A service: a cache task holding two typed `Vec` buffers and an untyped
/// block; two pending connection tasks spawned on one line, each with a
/// read buffer (allocated in an inlined `Vec::with_capacity`); a
/// completed one (a zombie future) with a small buffer; the tasks' storage
/// blocks, allocated outside tasks; a block without a stack; and one of a
/// task that ended.
fn service() -> Snapshot {
    let mut b = Builder::new();
    let exe = b.string("/opt/svc/bin/svc");
    b.snapshot_mut().process = Process {
        pid: 4242,
        exe,
        start_token: 77,
        sequence: 1,
        epoch: 1,
        time_ns: TIME_NS,
        ..Process::default()
    };
    let libc = b.string("/usr/lib/x86_64-linux-gnu/libc.so.6");
    b.snapshot_mut().modules = vec![
        Module {
            path: libc,
            bias: 0x7f00_0000_0000,
            start: 0x7f00_0002_8000,
            end: 0x7f00_001b_d000,
            ..Module::default()
        },
        Module {
            path: exe,
            build_id: vec![0xab; 20],
            bias: 0x5555_0000_0000,
            start: 0x5555_0000_1000,
            end: 0x5555_0100_0000,
        },
    ];
    let frame = |b: &mut Builder, addr, symbols: &[(&str, &str, u32)]| {
        let symbols = (symbols.iter())
            .map(|&(function, file, line)| b.symbol(function, Some(file), line))
            .collect();
        b.frame(Frame {
            addr,
            module: Some(ModuleIndex::new(1)),
            symbols,
        })
    };
    let rust_alloc = frame(&mut b, 0x5555_0000_1000, &[]);
    b.snapshot_mut().frames[rust_alloc.index()].symbols = vec![b.symbol("__rust_alloc", None, 0)];
    let shim = frame(
        &mut b,
        0x5555_0000_1100,
        &[(
            "<turbowish_alloc::TurboWish<A> as core::alloc::global::GlobalAlloc>::alloc",
            "/home/dev/turbowish/turbowish-alloc/src/shim.rs",
            88,
        )],
    );
    let read_buffer = frame(
        &mut b,
        0x5555_0000_2200,
        &[
            (
                "alloc::vec::Vec<T>::with_capacity",
                &format!("{RUSTC}/alloc/src/vec/mod.rs"),
                480,
            ),
            ("svc::conn::Conn::read_buffer", "/opt/svc/src/conn.rs", 117),
            ("svc::conn::Conn::handle", "/opt/svc/src/conn.rs", 60),
        ],
    );
    let insert = frame(
        &mut b,
        0x5555_0000_2000,
        &[("svc::cache::Cache::insert", "/opt/svc/src/cache.rs", 42)],
    );
    let main = frame(
        &mut b,
        0x5555_0000_2100,
        &[("svc::main::{{closure}}", "/opt/svc/src/main.rs", 17)],
    );
    let conn = b.stack(&[rust_alloc, shim, read_buffer, main]);
    let cache = b.stack(&[rust_alloc, shim, insert, main]);
    let spawn = b.stack(&[rust_alloc, shim, main]);
    let vec = b.string("alloc::vec::Vec<u8>");
    let none = StackIndex::EMPTY;
    let blocks = [
        (512, 0, spawn, StringIndex::EMPTY),
        (640, 0, spawn, StringIndex::EMPTY),
        (640, 0, spawn, StringIndex::EMPTY),
        (640, 0, spawn, StringIndex::EMPTY),
        (2048, 3, cache, vec),
        (1024, 3, cache, vec),
        (CONN_BUF, 7, conn, StringIndex::EMPTY),
        (CONN_BUF, 8, conn, StringIndex::EMPTY),
        (100, 9, conn, StringIndex::EMPTY),
        (24, 0, none, StringIndex::EMPTY),
        (48, 12, none, StringIndex::EMPTY),
        (300, 3, cache, StringIndex::EMPTY),
    ];
    b.snapshot_mut().blocks = (blocks.iter().zip(1u64..))
        .map(|(&(size, task, stack, type_name), i)| Block {
            addr: 0x5555_6000_0000 + 0x1000 * i,
            size,
            task,
            stack,
            epoch: 0,
            type_name,
            stack_certain: false,
        })
        .collect();
    b.snapshot_mut().edges = [(0, 4), (4, 5), (0, 11), (1, 6), (2, 7), (3, 8)]
        .map(|(from, to)| Edge::new(BlockIndex::new(from), BlockIndex::new(to)))
        .to_vec();
    b.snapshot_mut().edges.sort();
    let (cache_rs, conn_rs) = (
        b.string("/opt/svc/src/cache.rs"),
        b.string("/opt/svc/src/conn.rs"),
    );
    let (cache_fut, conn_fut) = (
        b.string("svc::cache::run::{{closure}}"),
        b.string("svc::conn::serve::{{closure}}"),
    );
    let task = |id: u64, file, line, future_type, state, storage: u32| Task {
        serial: id,
        id,
        file,
        line,
        future_type,
        state,
        storage: Some(BlockIndex::new(storage)),
        ..Task::default()
    };
    b.snapshot_mut().tasks = vec![
        task(3, cache_rs, 40, cache_fut, TaskState::Pending, 0),
        task(7, conn_rs, 77, conn_fut, TaskState::Pending, 1),
        task(8, conn_rs, 77, conn_fut, TaskState::Pending, 2),
        task(9, conn_rs, 77, conn_fut, TaskState::Completed, 3),
    ];
    let mut roots: Vec<Root> = (0..4)
        .map(|t| Root {
            kind: RootKind::Task,
            targets: vec![BlockIndex::new(t)],
            task: Some(TaskIndex::new(t)),
            ..Root::default()
        })
        .collect();
    roots.push(Root {
        kind: RootKind::Static,
        targets: vec![BlockIndex::new(9), BlockIndex::new(10)],
        ..Root::default()
    });
    b.snapshot_mut().roots = roots;
    b.build()
}

#[test]
fn totals_equal_summary() {
    let dir = temp_dir("totals");
    let file = write(&dir, &service());
    let p = export(&dir, &["export", &file], &[]);
    let summary = json(&["summary", &file]);
    let live = &summary["totals"];
    assert_eq!(
        total(&p, "inuse_objects"),
        live["live_blocks"].as_i64().unwrap()
    );
    assert_eq!(
        total(&p, "inuse_space"),
        live["live_bytes"].as_i64().unwrap()
    );
    assert_eq!(
        total(&p, "inuse_space"),
        (512 + 3 * 640) + 3372 + (2 * CONN_BUF as i64 + 100) + 72
    );
    let types: Vec<(&str, &str)> = (p.sample_type.iter())
        .map(|t| (string(&p, t.r#type), string(&p, t.unit)))
        .collect();
    assert_eq!(
        types,
        [
            ("inuse_objects", "count"),
            ("inuse_space", "bytes"),
            ("retained_space", "bytes")
        ]
    );
    assert_eq!(string(&p, p.default_sample_type), "inuse_space");
    let period = p.period_type.as_ref().unwrap();
    assert_eq!((string(&p, period.r#type), p.period), ("space", 1));
    assert_eq!(p.time_nanos, TIME_NS as i64);
}

#[test]
fn sums_by_spawn_site_and_task_equal_summary_and_tasks() {
    let dir = temp_dir("spawn-sites");
    let file = write(&dir, &service());
    let p = export(&dir, &["export", &file], &["--task-ids"]);
    let inuse = by_label(&p, "spawn_site", "inuse_space");
    let retained = by_label(&p, "spawn_site", "retained_space");
    let summary = json(&["summary", &file, "--top", "0"]);
    let sites = summary["top_spawn_sites"].as_array().unwrap();
    assert_eq!(sites.len(), 2);
    for site in sites {
        let name = site["spawned_at"].as_str().unwrap();
        assert_eq!(inuse[name], site["allocated"].as_i64().unwrap(), "{name}");
        assert_eq!(retained[name], site["retained"].as_i64().unwrap(), "{name}");
    }
    assert_eq!(
        retained["src/conn.rs:77"],
        2 * (640 + CONN_BUF as i64) + 740
    );
    assert_eq!(inuse["(outside tasks)"], 512 + 3 * 640 + 24);
    assert_eq!(inuse["(ended tasks)"], 48);
    let tasks = json(&["tasks", &file, "--top", "0"]);
    let inuse = by_label(&p, "task_id", "inuse_space");
    let retained = by_label(&p, "task_id", "retained_space");
    for t in tasks["tasks"].as_array().unwrap() {
        let id = t["id"].to_string();
        assert_eq!(inuse[&id], t["allocated"].as_i64().unwrap(), "task {id}");
        assert_eq!(retained[&id], t["retained"].as_i64().unwrap(), "task {id}");
    }
    assert_eq!(inuse["12"], 48, "the ended task's block keeps its tag");
}

#[test]
fn one_sample_per_stack_and_label_set() {
    let dir = temp_dir("aggregate");
    let file = write(&dir, &service());
    let p = export(&dir, &["export", &file], &[]);
    let keys: std::collections::HashSet<_> = (p.sample.iter())
        .map(|s| {
            let labels: Vec<(i64, i64)> = s.label.iter().map(|l| (l.key, l.str)).collect();
            (s.location_id.clone(), labels)
        })
        .collect();
    assert_eq!(keys.len(), p.sample.len(), "no two samples alike");
    // The two pending connections share one sample of two blocks.
    let state = by_label(&p, "task_state", "inuse_objects");
    assert_eq!(state["pending"], 5);
    let conn = (p.sample.iter())
        .find(|s| s.value[1] == 2 * CONN_BUF as i64)
        .expect("the pending connections' sample");
    assert_eq!(conn.value, [2, 2 * CONN_BUF as i64, 0]);
    let labels: Vec<(&str, &str)> = (conn.label.iter())
        .map(|l| (string(&p, l.key), string(&p, l.str)))
        .collect();
    assert_eq!(
        labels,
        [
            ("future_type", "svc::conn::serve::{{closure}}"),
            ("spawn_site", "src/conn.rs:77"),
            ("task_state", "pending")
        ]
    );
    assert!(
        !keys
            .iter()
            .any(|(_, l)| l.iter().any(|&(k, _)| string(&p, k) == "task_id"))
    );
    let types = by_label(&p, "type", "inuse_space");
    assert_eq!(types["alloc::vec::Vec<u8>"], 3072);
}

#[test]
fn inlined_frames_are_lines_of_one_location_from_the_allocation_site() {
    let dir = temp_dir("locations");
    let file = write(&dir, &service());
    let p = export(&dir, &["export", &file], &[]);
    let conn = (p.sample.iter())
        .find(|s| s.value[1] == 2 * CONN_BUF as i64)
        .unwrap();
    assert_eq!(
        stack(&p, conn),
        // Names shortened as `sites` shortens them; the leaf is the
        // site's line, `Vec::with_capacity` above it left out.
        [
            "Conn::read_buffer",
            "Conn::handle",
            "svc::main::{{closure}}"
        ]
    );
    let leaf = (p.location.iter())
        .find(|l| l.id == conn.location_id[0])
        .unwrap();
    // One location, the inlined line first.
    assert_eq!((leaf.address, leaf.line.len()), (0x5555_0000_2200, 2));
    assert_eq!((leaf.line[0].line, leaf.line[1].line), (117, 60));
    let mapping = &p.mapping[0];
    assert_eq!(
        mapping.id, leaf.mapping_id,
        "the executable's mapping is first"
    );
    assert_eq!(string(&p, mapping.filename), "/opt/svc/bin/svc");
    assert_eq!(string(&p, mapping.build_id), "ab".repeat(20));
    assert_eq!(mapping.memory_start - mapping.file_offset, 0x5555_0000_0000);
    let no_stack = (p.sample.iter())
        .filter(|s| stack(&p, s) == ["[no stack recorded]"])
        .map(|s| s.value[1])
        .sum::<i64>();
    assert_eq!(no_stack, 24 + 48, "blocks without a stack are kept");
}

/// `service()` a minute later: task 9 and its buffer gone, task 7 with a
/// second buffer, the cache's untyped block grown in place.
fn service_later() -> Snapshot {
    let mut s = service();
    s.process.sequence = 2;
    s.process.epoch = 2;
    s.process.time_ns += 60_000_000_000;
    let mut born = s.blocks[6];
    (born.addr, born.epoch) = (0x5555_7000_0000, 1);
    s.blocks[11].size = 400;
    s.blocks.remove(8); // task 9's buffer
    s.blocks.remove(3); // task 9's storage
    s.blocks.push(born);
    s.edges = [(0, 3), (3, 4), (0, 8), (1, 5), (2, 6), (1, 9)]
        .map(|(from, to)| Edge::new(BlockIndex::new(from), BlockIndex::new(to)))
        .to_vec();
    s.edges.sort();
    s.tasks.pop();
    s.roots.remove(3);
    s.roots[3].targets = vec![BlockIndex::new(7), BlockIndex::new(8)];
    s.roots[3].targets = vec![BlockIndex::new(7)];
    s
}

#[test]
fn the_diff_of_two_snapshots_equals_diff() {
    let dir = temp_dir("diff");
    let (a, b) = (write(&dir, &service()), write(&dir, &service_later()));
    let p = export(&dir, &["export", &a, &b], &[]);
    let d = json(&["diff", &a, &b]);
    let t = &d["totals"];
    let net = t["live_bytes_b"].as_i64().unwrap() - t["live_bytes_a"].as_i64().unwrap();
    assert_eq!(total(&p, "inuse_space"), net);
    assert_eq!(net, CONN_BUF as i64 + 100 - 640 - 100);
    let objects = t["born_blocks"].as_i64().unwrap() - t["freed_blocks"].as_i64().unwrap();
    assert_eq!(total(&p, "inuse_objects"), objects);
    let retained = by_label(&p, "spawn_site", "retained_space");
    for site in d["spawn_sites"].as_array().unwrap() {
        let name = site["spawned_at"].as_str().unwrap();
        let change = site["retained_b"].as_i64().unwrap() - site["retained_a"].as_i64().unwrap();
        assert_eq!(retained.get(name).copied().unwrap_or(0), change, "{name}");
    }
    assert!(
        p.sample.iter().any(|s| s.value[1] < 0),
        "what shrank is negative"
    );
    assert!(p.sample.iter().all(|s| s.value.iter().any(|&v| v != 0)));
    assert_eq!(p.duration_nanos, 60_000_000_000);
}

#[test]
fn snapshots_of_two_processes_need_force() {
    let dir = temp_dir("force");
    let a = write(&dir, &service());
    let mut other = service_later();
    other.process.pid = 4243;
    let b = write(&dir, &other);
    let out_path = dir.join("x.pb.gz");
    let out = out_path.to_str().unwrap();
    let args = ["export", &a, &b, "--format", "pprof", "-o", out];
    let err = turbowish(&args);
    assert_eq!(err.status.code(), Some(2));
    let text = String::from_utf8_lossy(&err.stderr);
    assert!(
        text.contains("different processes") && text.contains("--force"),
        "{text}"
    );
    assert!(!out_path.exists(), "nothing written");
    let p = decode(&{
        ok(&[&args[..], &["--force"]].concat());
        std::fs::read(out).unwrap()
    });
    assert_eq!(total(&p, "inuse_objects"), 11 - 12, "all freed, all born");
}

#[test]
fn sampled_stacks_keep_exact_totals_and_add_estimates() {
    let mut snap = service();
    snap.capture.stack_sample_bytes = 8192;
    snap.blocks[7].stack = StackIndex::EMPTY; // not sampled
    let dir = temp_dir("sampled");
    let file = write(&dir, &snap);
    let p = export(&dir, &["export", &file], &[]);
    let live = &json(&["summary", &file])["totals"];
    assert_eq!(
        total(&p, "inuse_space"),
        live["live_bytes"].as_i64().unwrap()
    );
    assert_eq!(p.period, 8192);
    let default = string(&p, p.default_sample_type);
    assert_eq!(default, "inuse_space_estimate", "by stack, what is known");
    let unsampled = (p.sample.iter())
        .filter(|s| stack(&p, s) == ["[stack not sampled]"])
        .map(|s| s.value[1])
        .sum::<i64>();
    assert_eq!(unsampled, CONN_BUF as i64 + 24 + 48);
    // By leaf line, the estimates are `sites`' (one site per leaf here).
    let est = value_index(&p, "inuse_space_estimate");
    let mut by_leaf: HashMap<String, i64> = HashMap::new();
    for s in &p.sample {
        *by_leaf.entry(stack(&p, s).remove(0)).or_default() += s.value[est];
    }
    let sites = json(&["sites", &file, "--top", "0"]);
    let mut checked = 0;
    for site in sites["sites"].as_array().unwrap() {
        assert_eq!(site["estimated"], true);
        let function = site["function"].as_str().unwrap_or("");
        let Some((_, &bytes)) = by_leaf.iter().find(|(f, _)| f.ends_with(function)) else {
            continue;
        };
        let want = site["bytes"].as_i64().unwrap();
        assert!((bytes - want).abs() <= 2, "{function}: {bytes} vs {want}");
        checked += 1;
    }
    assert!(checked >= 2, "{sites}");
}

#[test]
fn an_unwritable_output_is_one_line_and_exit_2() {
    let dir = temp_dir("unwritable");
    let file = write(&dir, &service());
    let out_path = dir.join("missing-dir").join("heap.pb.gz");
    let out = turbowish(&[
        "export",
        &file,
        "--format",
        "pprof",
        "-o",
        out_path.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("turbowish: cannot write {}: ", out_path.display())),
        "{err}"
    );
}

#[test]
fn dash_writes_the_profile_to_stdout_and_json_describes_a_file() {
    let dir = temp_dir("stdout");
    let file = write(&dir, &service());
    let p = decode(&ok(&["export", &file, "--format", "pprof", "-o", "-"]));
    assert_eq!(total(&p, "inuse_objects"), 12);
    let out = dir.join("heap.pb.gz");
    let report = json(&[
        "export",
        &file,
        "--format",
        "pprof",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(report["samples"].as_u64().unwrap() as usize, p.sample.len());
    assert_eq!(report["bytes"], std::fs::metadata(&out).unwrap().len());
}

/// `go tool pprof -top` on the profile: its top entry is the connections'
/// read buffers' innermost line. Fails without `go` unless
/// TURBOWISH_SKIP_GO=1 (CI installs Debian's golang-go).
#[test]
fn go_tool_pprof_reads_it() {
    if Command::new("go").arg("version").output().is_err() {
        assert!(
            std::env::var_os("TURBOWISH_SKIP_GO").is_some(),
            "`go` is not installed (Debian: golang-go); set TURBOWISH_SKIP_GO=1 to skip"
        );
        return;
    }
    let dir = temp_dir("go");
    let file = write(&dir, &service());
    export(&dir, &["export", &file], &[]);
    let pprof = |extra: &[&str]| {
        let out = Command::new("go")
            .args(["tool", "pprof", "-top"])
            .args(extra)
            .arg(dir.join("heap.pb.gz"))
            .env("HOME", &dir) // pprof keeps nothing in the user's home
            .output()
            .expect("run go tool pprof");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    let top = pprof(&[]);
    let rows: Vec<&str> = (top.lines())
        .skip_while(|l| !l.trim_start().starts_with("flat"))
        .skip(1)
        .collect();
    // Flat bytes land on the allocation site, as `sites` names it.
    assert!(rows[0].ends_with(" Conn::read_buffer (inline)"), "{top}");
    assert!(rows[0].trim_start().starts_with("8.10kB 58.53%"), "{top}");
    let tagged = pprof(&["-tagroot=spawn_site"]);
    assert!(tagged.contains("src/conn.rs:77"), "{tagged}");
}

/// One snapshot always makes the same file.
#[test]
fn exports_are_reproducible() {
    let dir = temp_dir("reproducible");
    let file = write(&dir, &service());
    let runs: Vec<Vec<u8>> = (0..4)
        .map(|_| {
            ok(&[
                "export",
                &file,
                "--format",
                "pprof",
                "-o",
                "-",
                "--task-ids",
            ])
        })
        .collect();
    assert!(runs.windows(2).all(|w| w[0] == w[1]), "the files differ");
}
