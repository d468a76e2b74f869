//! The golden files: snapshots written by the writer of each format
//! version, checked in (`tests/golden/v<VERSION>.twsnap`), so that a change
//! to the model or its encoding without a version bump fails here.
//!
//! The file of the current version must read back as [`expected`], built
//! below field by field (no `..Default::default()`: a new field does not
//! compile until it is given a value here), and [`expected`] must write to
//! it byte for byte. Files of older versions must be read or refused as too
//! old, never misread.
//!
//! To write the current version's file (after bumping `VERSION`, or when
//! only the compressor's output changed):
//!
//! ```sh
//! TURBOWISH_WRITE_GOLDEN=1 cargo test -p turbowish-format --test golden
//! ```

use std::path::{Path, PathBuf};
use turbowish_format::format::OLDEST_READABLE;
use turbowish_format::*;

/// Set to write the current version's golden file instead of checking it.
const WRITE_ENV: &str = "TURBOWISH_WRITE_GOLDEN";

const WHAT_TO_DO: &str = "\
A change to the model (turbowish-format/src/model.rs) or to its encoding changes the file \
format. Then:
  1. bump VERSION (turbowish-format/src/format.rs);
  2. either keep reading the old version (keep its golden file; the reader must still read it) \
     or refuse it (raise OLDEST_READABLE, so that it is refused as too old);
  3. write the new version's golden file:
       TURBOWISH_WRITE_GOLDEN=1 cargo test -p turbowish-format --test golden
     and check it in.";

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn golden_file(version: u16) -> PathBuf {
    golden_dir().join(format!("v{version}.twsnap"))
}

/// With [`WRITE_ENV`] set, writes the current version's golden file from
/// [`expected`], once, before any test reads it.
fn write_if_asked() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os(WRITE_ENV).is_none() {
            return;
        }
        let path = golden_file(VERSION);
        std::fs::create_dir_all(golden_dir()).unwrap();
        let bytes = write_file(&expected(), &path).unwrap();
        println!("wrote {} ({bytes} bytes)", path.display());
    });
}

/// A snapshot with every table, every root kind, every edge kind, every
/// task state and every capture figure filled in.
fn expected() -> Snapshot {
    let mut b = Builder::new();
    let exe = b.string("/opt/svc/bin/svc");
    let libc = b.string("/usr/lib/x86_64-linux-gnu/libc.so.6");
    let alloc = b.symbol(
        "alloc::alloc::alloc",
        Some("/rustc/abc/library/alloc/src/alloc.rs"),
        98,
    );
    let insert = b.symbol(
        "svc::cache::Cache::insert",
        Some("/opt/svc/src/cache.rs"),
        42,
    );
    let inlined = b.symbol("svc::cache::Entry::new", None, 0);
    let main = b.symbol("svc::main", Some("/opt/svc/src/main.rs"), 17);
    let f0 = b.frame(Frame {
        addr: 0x5555_0000_1200,
        module: Some(ModuleIndex::new(0)),
        symbols: vec![alloc],
    });
    let f1 = b.frame(Frame {
        addr: 0x5555_0000_2000,
        module: Some(ModuleIndex::new(0)),
        symbols: vec![inlined, insert],
    });
    let f2 = b.frame(Frame {
        addr: 0x5555_0000_2100,
        module: Some(ModuleIndex::new(0)),
        symbols: vec![main],
    });
    let f3 = b.frame(Frame {
        addr: 0x7f00_0002_9abc,
        module: Some(ModuleIndex::new(1)),
        symbols: vec![],
    });
    let cache_stack = b.stack(&[f0, f1, f2]);
    let libc_stack = b.stack(&[f0, f3, f2]);
    let names = [
        "thread main",
        "thread tokio-runtime-worker",
        "config",
        "conn",
        "flush",
        "gc",
        "svc::conn::{{closure}}",
        "alloc::sync::Arc<svc::State>",
        "alloc::vec::Vec<u8>",
        "state.buf",
        "svc::CONFIG",
        "/opt/svc/src/conn.rs",
    ]
    .map(|n| b.string(n));
    let [
        main_thread,
        worker,
        config,
        conn,
        flush,
        gc,
        future,
        arc,
        vec,
        field,
        symbol,
        file,
    ] = names;
    let none = StringIndex::EMPTY;
    let s = b.snapshot_mut();
    s.process = Process {
        pid: 4242,
        exe,
        build_id: vec![0xde, 0xad, 0xbe, 0xef],
        start_token: 0x5eed_0f7a,
        sequence: 3,
        epoch: 3,
        time_ns: 1_700_000_000_123_456_789,
    };
    s.capture = Capture {
        pause_ns: 1_480_000,
        scan_ns: 12_340_000,
        symbolize_ns: 30_250_000,
        scanned_bytes: 3 << 20,
        live_bytes: 9_000,
        live_blocks: 7,
        untracked_blocks: 2,
        unknown_frees: 1,
        typed_ns: 2_000_000,
        typed_rejected: 3,
        typed_locked: 1,
        typed_truncated: 4,
        typed_panics: vec!["Trace impl of svc::Broken panicked: index out of bounds".to_owned()],
        tasks_dropped: 5,
        cells_found: 2,
        cells_not_understood: 1,
        cells_ns: 410_000,
        stack_sample_bytes: 512 << 10,
        resident_bytes: 54 << 20,
        resident_anon_bytes: 47 << 20,
        allocator: Some(AllocatorFigures {
            name: "glibc".to_owned(),
            held_bytes: 40 << 20,
            in_use_bytes: 2 << 20,
            free_bytes: 38 << 20,
        }),
        own_table_bytes: 3 << 20,
        own_header_bytes: 112,
    };
    s.modules = vec![
        Module {
            path: exe,
            build_id: vec![0xab; 20],
            bias: 0x5555_0000_0000,
            start: 0x5555_0000_1000,
            end: 0x5555_0100_0000,
        },
        Module {
            path: libc,
            build_id: vec![],
            bias: 0x7f00_0000_0000,
            start: 0x7f00_0002_8000,
            end: 0x7f00_001b_d000,
        },
    ];
    let no_stack = StackIndex::EMPTY;
    let block = |addr, size, task, stack, epoch, type_name| Block {
        addr,
        size,
        task,
        stack,
        epoch,
        type_name,
        // Sampling rule 4: a block of 4 KiB or more has its stack whatever
        // the sample.
        stack_certain: size >= 4096,
    };
    s.blocks = vec![
        block(0x5555_6000_0010, 256, 0, no_stack, 0, none),
        block(0x5555_6000_0200, 512, 7, cache_stack, 1, arc),
        block(0x5555_6000_0500, 640, 7, cache_stack, 2, none),
        block(0x5555_6000_0800, 640, 8, libc_stack, 2, none),
        block(0x5555_6000_0b00, 640, 9, libc_stack, 3, none),
        block(0x5555_6000_1000, 4096, 7, cache_stack, 3, vec),
        block(0x7f11_0000_0000, 2256, u64::MAX, no_stack, 0, none),
    ];
    let edge = |from, to, kind, label| Edge {
        from: BlockIndex::new(from),
        to: BlockIndex::new(to),
        kind,
        label,
    };
    s.edges = vec![
        edge(0, 1, EdgeKind::Conservative, none),
        edge(1, 5, EdgeKind::Typed, field),
        edge(1, 6, EdgeKind::Waker, none),
        edge(2, 1, EdgeKind::Typed, none),
        edge(2, 6, EdgeKind::JoinHandle, none),
        edge(3, 2, EdgeKind::Conservative, none),
        edge(3, 6, EdgeKind::Waiter, none),
        edge(4, 1, EdgeKind::Shared, field),
        edge(6, 6, EdgeKind::Conservative, none),
    ];
    let root = |kind, label, start, len, targets: &[u32], labels: &[StringIndex], task| Root {
        kind,
        label,
        start,
        len,
        targets: targets.iter().copied().map(BlockIndex::new).collect(),
        labels: labels.to_vec(),
        task,
        kinds: Vec::new(),
    };
    s.roots = vec![
        root(
            RootKind::Static,
            exe,
            0x5555_0200_0000,
            4096,
            &[0],
            &[symbol],
            None,
        ),
        root(
            RootKind::ThreadStack,
            main_thread,
            0x7ffc_0000_0000,
            8192,
            &[4],
            &[],
            None,
        ),
        root(
            RootKind::ThreadLocal,
            worker,
            0x7f22_0000_0000,
            2304,
            &[3],
            &[],
            None,
        ),
        root(
            RootKind::Task,
            conn,
            0x5555_6000_0500,
            640,
            &[1, 2],
            &[field, none],
            Some(TaskIndex::new(0)),
        ),
        root(RootKind::Named, config, 0, 0, &[1], &[none], None),
    ];
    // The main thread's stack holds a waker (of task cell block 4's task).
    s.roots[1].kinds = vec![EdgeKind::Waker];
    let task = |serial, id, name, state, polls, storage: Option<u32>| Task {
        serial,
        id,
        name,
        file,
        line: 40 + serial as u32,
        column: 9,
        future_type: future,
        future_size: 640,
        state,
        polls,
        spawned_ns: 1_699_999_990_000_000_000,
        last_poll_ns: 1_700_000_000_000_000_000,
        finished_ns: match state {
            TaskState::Completed | TaskState::Cancelled => 1_700_000_000_100_000_000,
            _ => 0,
        },
        storage: storage.map(BlockIndex::new),
        value_type: if serial == 1 { arc } else { none },
        kind: TaskKind::Traced,
        cell: storage.filter(|_| serial == 2).map(BlockIndex::new),
        future_block: None,
        refs: if serial == 2 { 2 } else { 0 },
        join_handle: serial == 2,
    };
    // Tasks found from their tokio cells: no serial, name, polls or times.
    let cell_task = |id, kind, state, cell: u32, future_block: Option<u32>, refs| Task {
        serial: 0,
        id,
        name: none,
        file,
        line: 70,
        column: 0,
        future_type: future,
        future_size: 20_480,
        state,
        polls: 0,
        spawned_ns: 0,
        last_poll_ns: 0,
        finished_ns: 0,
        storage: Some(BlockIndex::new(cell)),
        value_type: none,
        kind,
        cell: Some(BlockIndex::new(cell)),
        future_block: future_block.map(BlockIndex::new),
        refs,
        join_handle: kind == TaskKind::Tokio,
    };
    s.tasks = vec![
        task(1, 7, conn, TaskState::Pending, 12, Some(2)),
        task(2, 8, flush, TaskState::Running, 3, Some(3)),
        task(3, 9, gc, TaskState::Completed, 1, Some(4)),
        task(4, 1 << 40, none, TaskState::Cancelled, 0, None),
        cell_task(21, TaskKind::Tokio, TaskState::Notified, 6, Some(5), 3),
        cell_task(22, TaskKind::Blocking, TaskState::Pending, 0, None, 1),
    ];
    s.containers = vec![Container {
        block: BlockIndex::new(5),
        len: 1000,
        capacity: 4096,
    }];
    b.build()
}

/// Fails unless `s` has every kind of row the format stores.
fn assert_covers_everything(s: &Snapshot) {
    let kinds = |k| s.roots.iter().any(|r| r.kind == k);
    let states = |st| s.tasks.iter().any(|t| t.state == st);
    let edges = |k| s.edges.iter().any(|e| e.kind == k);
    let tables = [
        s.strings.len() > 1,
        !s.modules.is_empty(),
        !s.frames.is_empty(),
        s.stacks.len() > 1,
        !s.blocks.is_empty(),
        !s.containers.is_empty(),
        !s.capture.typed_panics.is_empty(),
        s.capture.allocator.is_some(),
    ];
    assert!(tables.iter().all(|&t| t), "a table is empty");
    use RootKind::*;
    for k in [Static, ThreadStack, ThreadLocal, Task, Named] {
        assert!(kinds(k), "no {k:?} root");
    }
    use TaskState::*;
    for st in [Pending, Running, Completed, Cancelled, Notified] {
        assert!(states(st), "no {st:?} task");
    }
    assert!(
        s.tasks.iter().any(|t| t.join_handle),
        "no task with a JoinHandle"
    );
    let task_kinds = |k| s.tasks.iter().any(|t| t.kind == k);
    for k in [TaskKind::Traced, TaskKind::Tokio, TaskKind::Blocking] {
        assert!(task_kinds(k), "no {k:?} task");
    }
    use EdgeKind::*;
    for k in [Conservative, Typed, Shared, Waker, JoinHandle, Waiter] {
        assert!(edges(k), "no {k:?} edge");
    }
    assert!(
        s.roots.iter().any(|r| r.kinds.iter().any(|k| k.is_wake())),
        "no root with pointer kinds"
    );
}

#[test]
fn the_expected_snapshot_covers_every_table_and_kind() {
    assert_covers_everything(&expected());
}

/// The current version's file: read back as [`expected`], and written
/// from it byte for byte.
#[test]
fn the_golden_file_of_this_version_reads_and_writes_back() {
    write_if_asked();
    let path = golden_file(VERSION);
    let mut written = Vec::new();
    write(&expected(), &mut written).expect("the expected snapshot is valid");
    let Ok(golden) = std::fs::read(&path) else {
        panic!(
            "no golden file for format version {VERSION} at {}.\n{WHAT_TO_DO}",
            path.display()
        );
    };
    let read_back = read(&golden[..])
        .unwrap_or_else(|e| panic!("the reader refuses {}: {e}\n{WHAT_TO_DO}", path.display()));
    assert!(
        read_back == expected(),
        "{} reads as another snapshot than the expected one: the model changed.\n{WHAT_TO_DO}",
        path.display()
    );
    if written != golden {
        let tables = |file: &[u8]| zstd::decode_all(&file[32..]).expect("a zstd frame");
        let why = match tables(&written) == tables(&golden) {
            true => {
                "the tables are the same but compress to other bytes (a new zstd?): the \
                     format did not change; write the golden file again (step 3 below)"
            }
            false => "the writer encodes the snapshot differently: the file format changed",
        };
        panic!(
            "the writer no longer writes {} byte for byte: {why}.\n{WHAT_TO_DO}",
            path.display()
        );
    }
}

/// Files of older versions are read, or refused as too old; a file of a
/// newer version than the reader's means VERSION went backwards.
#[test]
fn golden_files_of_other_versions_are_read_or_refused_as_too_old() {
    write_if_asked();
    let mut versions = Vec::new();
    for entry in std::fs::read_dir(golden_dir()).expect("tests/golden exists") {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let version = (name.strip_prefix('v'))
            .and_then(|n| n.strip_suffix(".twsnap"))
            .and_then(|n| n.parse::<u16>().ok())
            .unwrap_or_else(|| panic!("tests/golden/{name} is not named v<VERSION>.twsnap"));
        versions.push(version);
    }
    assert!(versions.contains(&VERSION), "{WHAT_TO_DO}");
    for version in versions.into_iter().filter(|&v| v != VERSION) {
        assert!(
            version < VERSION,
            "a golden file of version {version} > {VERSION}"
        );
        let file = std::fs::read(golden_file(version)).unwrap();
        match read(&file[..]) {
            Ok(_) => assert!(version >= OLDEST_READABLE),
            Err(Error::TooOld { found, .. }) => assert_eq!(found, version),
            Err(e) => panic!("version {version}'s golden file is misread: {e}\n{WHAT_TO_DO}"),
        }
    }
}

/// Version 6 files lack the blocks' `stack_certain` column: they read as
/// this version's `expected` with every block's mark false.
#[test]
fn version_6_reads_without_stack_certainty() {
    let file = std::fs::read(golden_file(6)).unwrap();
    let mut want = before_version_8(expected());
    for b in &mut want.blocks {
        b.stack_certain = false;
    }
    assert_eq!(read(&file[..]).expect("version 6 reads"), want);
}

/// Version 7 files lack the memory figures: they read as unknown (0 and
/// `None`), the rest as version 7 wrote it.
#[test]
fn version_7_reads_with_the_memory_figures_unknown() {
    let file = std::fs::read(golden_file(7)).unwrap();
    let want = before_version_8(expected());
    assert_eq!(read(&file[..]).expect("version 7 reads"), want);
}

/// `s` as a file older than version 8 reads: no memory figures.
fn before_version_8(mut s: Snapshot) -> Snapshot {
    s.capture.resident_bytes = 0;
    s.capture.resident_anon_bytes = 0;
    s.capture.allocator = None;
    s.capture.own_table_bytes = 0;
    s.capture.own_header_bytes = 0;
    s
}
