//! The file format: round trips, and every kind of bad input gives a clear
//! error, never a panic.

#[path = "common/hostile.rs"]
mod hostile;

use hostile::{BOMB, container, rle_frame};
use proptest::prelude::*;
use std::path::Path;
use turbowish_format::*;

fn str_(i: u32) -> StringIndex {
    StringIndex::new(i)
}

fn block_(i: u32) -> BlockIndex {
    BlockIndex::new(i)
}

/// A snapshot with every table populated.
fn rich() -> Snapshot {
    let mut s = Snapshot::default();
    s.strings.extend(
        [
            "/usr/bin/svc",
            "main",
            "src/main.rs",
            "libc.so.6",
            "thread main",
            "conn",
            "svc::conn::{{closure}}",
            "alloc::vec::Vec<u8>",
            "state.buf",
        ]
        .map(String::from),
    );
    s.process = Process {
        pid: 4242,
        exe: str_(1),
        build_id: vec![0xde, 0xad, 0xbe, 0xef],
        start_token: 987_654,
        sequence: 2,
        epoch: 2,
        time_ns: 1_700_000_000_000_000_000,
    };
    s.capture = Capture {
        pause_ns: 1_500_000,
        scanned_bytes: 1 << 20,
        live_bytes: 4096 + 64 + 24,
        live_blocks: 3,
        ..Capture::default()
    };
    s.modules.push(Module {
        path: str_(4),
        build_id: vec![1, 2],
        bias: 0x7f00_0000_0000,
        start: 0x7f00_0000_1000,
        end: 0x7f00_0010_0000,
    });
    let symbol = |function, file, line| Symbol {
        function,
        file,
        line,
    };
    s.frames.push(Frame {
        addr: 0x5555_0000_1234,
        module: Some(ModuleIndex::new(0)),
        symbols: vec![symbol(str_(2), Some(str_(3)), 42), symbol(str_(2), None, 0)],
    });
    s.frames.push(Frame {
        addr: 0x5555_0000_2000,
        module: None,
        symbols: vec![],
    });
    s.stacks.push(vec![FrameIndex::new(0), FrameIndex::new(1)]);
    let block = |addr, size, task, stack, epoch| Block {
        addr,
        size,
        task,
        stack: StackIndex::new(stack),
        epoch,
        type_name: StringIndex::EMPTY,
        stack_certain: size >= 4096,
    };
    s.blocks = vec![
        block(0x5555_6000_0010, 24, 0, 1, 0),
        block(0x5555_6000_0040, 64, 17, 0, 1),
        block(0x7f11_0000_0000, 4096, u64::MAX, 1, 2),
    ];
    s.blocks[2].type_name = str_(8);
    s.edges = vec![
        Edge::new(block_(0), block_(2)),
        Edge {
            from: block_(2),
            to: block_(0),
            kind: EdgeKind::Typed,
            label: str_(9),
        },
        Edge {
            from: block_(2),
            to: block_(1),
            kind: EdgeKind::Shared,
            label: str_(9),
        },
    ];
    s.tasks = vec![Task {
        serial: 1,
        id: 17,
        name: str_(6),
        file: str_(3),
        line: 12,
        column: 5,
        future_type: str_(7),
        future_size: 20_000,
        state: TaskState::Completed,
        polls: 3,
        spawned_ns: 1,
        last_poll_ns: 2,
        finished_ns: 3,
        storage: Some(block_(1)),
        value_type: str_(8),
        kind: TaskKind::Tokio,
        cell: Some(block_(1)),
        future_block: Some(block_(2)),
        refs: 3,
        join_handle: true,
    }];
    s.containers = vec![Container {
        block: block_(2),
        len: 3,
        capacity: 512,
    }];
    s.roots = vec![
        Root {
            kind: RootKind::Static,
            label: str_(4),
            start: 0x5555_0010_0000,
            len: 4096,
            targets: vec![block_(0), block_(2)],
            ..Root::default()
        },
        Root {
            kind: RootKind::ThreadStack,
            label: str_(5),
            start: 0x7ffc_0000_0000,
            len: 8192,
            targets: vec![block_(1)],
            ..Root::default()
        },
        Root {
            kind: RootKind::Task,
            label: str_(6),
            start: 0x5555_6000_0040,
            len: 20_000,
            targets: vec![block_(1), block_(2)],
            labels: vec![StringIndex::EMPTY, str_(9)],
            task: Some(TaskIndex::new(0)),
            kinds: Vec::new(),
        },
    ];
    s
}

fn bytes_of(s: &Snapshot) -> Vec<u8> {
    let mut v = Vec::new();
    let n = write(s, &mut v).unwrap();
    assert_eq!(n as usize, v.len());
    v
}

#[test]
fn a_rich_snapshot_round_trips() {
    let s = rich();
    assert_eq!(read(&bytes_of(&s)[..]).unwrap(), s);
    assert_eq!(
        read(&bytes_of(&Snapshot::default())[..]).unwrap(),
        Snapshot::default()
    );
}

#[test]
fn every_truncation_is_an_error() {
    let file = bytes_of(&rich());
    for len in 0..file.len() {
        match read(&file[..len]) {
            Err(Error::NotASnapshot) => assert!(len < MAGIC.len(), "len {len}"),
            Err(Error::Truncated { .. }) => assert!(len >= MAGIC.len(), "len {len}"),
            other => panic!("truncated to {len} of {}: {other:?}", file.len()),
        }
    }
}

#[test]
fn every_single_bit_flip_is_an_error() {
    let file = bytes_of(&rich());
    for byte in 0..file.len() {
        for bit in 0..8 {
            let mut bad = file.clone();
            bad[byte] ^= 1 << bit;
            assert!(
                read(&bad[..]).is_err(),
                "flip of bit {bit} in byte {byte} went unnoticed"
            );
        }
    }
}

#[test]
fn other_files_are_not_snapshots() {
    for junk in [
        &b""[..],
        b"TWSNAP",
        b"hello, world\n",
        b"TWSNAP\n\n\x01\x00",
        &[0u8; 64],
    ] {
        assert!(matches!(read(junk), Err(Error::NotASnapshot)), "{junk:?}");
    }
    // A text-mode transfer that turned \r\n into \n.
    let mut mangled = bytes_of(&rich());
    mangled.remove(6);
    assert!(matches!(read(&mangled[..]), Err(Error::NotASnapshot)));
}

#[test]
fn versions_outside_the_readable_range_are_named() {
    let mut file = bytes_of(&rich());
    file[8..10].copy_from_slice(&(VERSION + 1).to_le_bytes());
    let err = read(&file[..]).unwrap_err();
    assert!(
        matches!(err, Error::TooNew { found, supported } if found == VERSION + 1 && supported == VERSION)
    );
    assert!(err.to_string().contains("upgrade turbowish"), "{err}");
    file[8..10].copy_from_slice(&0u16.to_le_bytes());
    assert!(matches!(
        read(&file[..]),
        Err(Error::TooOld { found: 0, .. })
    ));
    // Version 1 (before tasks and typed edges) is refused by name.
    file[8..10].copy_from_slice(&1u16.to_le_bytes());
    let err = read(&file[..]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooOld {
                found: 1,
                oldest: 2
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("version 1 is older"), "{err}");
}

#[test]
fn bad_task_and_label_indices_are_refused() {
    let mut s = rich();
    s.tasks[0].storage = Some(block_(99));
    assert!(matches!(write(&s, Vec::new()), Err(Error::Invalid(_))));
    let mut s = rich();
    s.edges[1].label = str_(999);
    assert!(matches!(write(&s, Vec::new()), Err(Error::Invalid(_))));
    let mut s = rich();
    s.roots[2].task = Some(TaskIndex::new(5));
    assert!(matches!(write(&s, Vec::new()), Err(Error::Invalid(_))));
    let mut s = rich();
    s.roots[2].labels.pop();
    assert!(matches!(write(&s, Vec::new()), Err(Error::Invalid(_))));
    let mut s = rich();
    s.containers.push(s.containers[0]);
    assert!(matches!(write(&s, Vec::new()), Err(Error::Invalid(_))));
}

#[test]
fn hostile_header_lengths_are_refused_cheaply() {
    let file = bytes_of(&rich());
    // A payload length far beyond the file: truncated, without allocating it.
    let mut bad = file.clone();
    bad[12..20].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(
        read(&bad[..]),
        Err(Error::Truncated {
            expected: u64::MAX,
            ..
        })
    ));
    // A decompressed size beyond the absolute limit: refused before
    // decompressing.
    let mut bad = file.clone();
    bad[20..28].copy_from_slice(&(format::MAX_PAYLOAD + 1).to_le_bytes());
    assert!(matches!(read(&bad[..]), Err(Error::TooLarge { .. })));
    // A large size in a small file: refused by the ratio, before
    // decompressing; allowed by a raised limit, it is still not backed by data.
    let mut bad = file;
    bad[20..28].copy_from_slice(&(60u64 << 30).to_le_bytes());
    assert!(matches!(
        read(&bad[..]),
        Err(Error::TooLarge { size, .. }) if size == 60 << 30
    ));
    let trusting = ReadOptions {
        max_size: Some(64 << 30),
    };
    assert!(matches!(
        read_with(&bad[..], &trusting),
        Err(Error::Corrupt(why)) if why.contains("decompress to")
    ));
}

#[test]
fn the_writer_refuses_invalid_snapshots() {
    let mut unsorted = rich();
    unsorted.blocks.swap(0, 1);
    let mut dangling = rich();
    dangling.edges.push(Edge::new(block_(2), block_(9)));
    let mut no_empty_string = rich();
    no_empty_string.strings[0] = "x".into();
    for (s, what) in [
        (unsorted, "sorted"),
        (dangling, "does not exist"),
        (no_empty_string, "string 0"),
    ] {
        match write(&s, Vec::new()) {
            Err(Error::Invalid(why)) => assert!(why.contains(what), "{why}"),
            other => panic!("expected Invalid({what}), got {other:?}"),
        }
    }
}

#[test]
fn write_file_replaces_whole_files_and_leaves_nothing_on_failure() {
    let dir = tempdir("write_file");
    let path = dir.join("a.twsnap");
    write_file(&rich(), &path).unwrap();
    assert_eq!(read_file(&path).unwrap(), rich());
    // A failed write (an invalid snapshot) leaves the old file as it was.
    let mut bad = rich();
    bad.blocks.swap(0, 1);
    assert!(write_file(&bad, &path).is_err());
    assert_eq!(read_file(&path).unwrap(), rich());
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "a temporary file was left behind"
    );
    // A directory that does not exist: an I/O error naming the cause.
    let err = write_file(&rich(), &dir.join("missing/a.twsnap")).unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unreadable_files_are_io_errors() {
    let err = read_file(Path::new("/nonexistent/turbowish/a.twsnap")).unwrap_err();
    assert!(
        matches!(&err, Error::Io(e) if e.kind() == std::io::ErrorKind::NotFound),
        "{err}"
    );
}

/// Bytes per block on a heap shaped like a malloc heap: small blocks packed
/// in a few arenas, a few hundred tasks and stacks, one or two pointers per
/// block, mostly to nearby blocks. Synthetic: the figure for real heaps comes
/// from real captures.
#[test]
fn a_synthetic_heap_costs_under_8_bytes_per_block() {
    let n = 200_000u32;
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut s = Snapshot::default();
    s.stacks.extend((1..300).map(|_| Vec::new()));
    let mut addr = 0x5555_0000_0000u64;
    for i in 0..n {
        if i % 50_000 == 0 {
            addr += 64 << 20; // a new arena
        }
        let size = [16, 24, 32, 48, 64, 128, 256, 1024][(next() % 8) as usize];
        addr += (size + 16 + 15) & !15;
        s.blocks.push(Block {
            addr,
            size,
            task: 1 + next() % 200,
            stack: StackIndex::new((next() % 300) as u32),
            epoch: i / 70_000,
            type_name: StringIndex::EMPTY,
            stack_certain: size >= 1024,
        });
    }
    for from in 0..n {
        for _ in 0..(next() % 4) / 2 + 1 {
            let near = (next() % 64) as i64 - 32;
            let to = (i64::from(from) + near).clamp(0, i64::from(n) - 1) as u32;
            s.edges.push(Edge::new(block_(from), block_(to)));
        }
    }
    s.edges.sort();
    s.edges.dedup();
    let per_block = bytes_of(&s).len() as f64 / f64::from(n);
    println!("{per_block:.2} bytes per block ({} edges)", s.edges.len());
    assert!(per_block <= 8.0, "{per_block:.2} bytes per block");
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("turbowish-format-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Valid snapshots of any shape.
fn snapshots() -> impl Strategy<Value = Snapshot> {
    (
        prop::collection::btree_set(1u64..u64::MAX, 0..40),
        prop::collection::vec((any::<u64>(), any::<u64>(), 0u32..3, any::<u32>()), 40),
        prop::collection::btree_set((0u32..40, 0u32..40), 0..80),
        prop::collection::btree_set(0u32..40, 0..10),
    )
        .prop_map(|(addrs, attrs, edges, targets)| {
            let mut s = Snapshot::default();
            s.stacks.extend([vec![], vec![]]);
            s.blocks = addrs
                .into_iter()
                .zip(attrs)
                .map(|(addr, (size, task, stack, epoch))| Block {
                    addr,
                    size,
                    task,
                    stack: StackIndex::new(stack),
                    epoch,
                    type_name: StringIndex::EMPTY,
                    stack_certain: task % 2 == 0,
                })
                .collect();
            let n = s.blocks.len() as u32;
            s.edges = edges
                .into_iter()
                .filter(|&(f, t)| f < n && t < n)
                .map(|(from, to)| Edge::new(block_(from), block_(to)))
                .collect();
            s.roots.push(Root {
                targets: targets.into_iter().filter(|&t| t < n).map(block_).collect(),
                ..Root::default()
            });
            s
        })
}

proptest! {
    #[test]
    fn any_valid_snapshot_round_trips(s in snapshots()) {
        prop_assert_eq!(read(&bytes_of(&s)[..]).unwrap(), s);
    }
}

/// The decompressed tables of `rich()` up to its block table.
fn valid_early_tables() -> Vec<u8> {
    hostile::early_tables(&rich())
}

/// Bombs whose early tables are `rich()`'s.
fn bombs(raw_len: u64) -> [(&'static str, Vec<u8>); 2] {
    hostile::bombs(&rich(), raw_len)
}

#[test]
fn the_test_frames_are_valid_zstd() {
    let frame = rle_frame(b"abc", 7, 300_000);
    let out = zstd::decode_all(&frame[..]).unwrap();
    assert_eq!(out.len(), 300_000);
    assert_eq!(&out[..4], b"abc\x07");
    assert!(out[3..].iter().all(|&b| b == 7));
    let s = rich();
    let raw = format::encode_tables(&s).unwrap();
    let file = container(&rle_frame(&raw, 0, raw.len() as u64), raw.len() as u64);
    assert_eq!(read(&file[..]).unwrap(), s);
    assert_eq!(format::read_tables(&raw).unwrap(), s);
}

#[test]
fn bombs_are_refused_before_decompressing() {
    for (name, file) in bombs(BOMB) {
        match read(&file[..]) {
            Err(Error::TooLarge { size, limit, .. }) => {
                assert_eq!(size, BOMB, "{name}");
                assert!(limit <= 64 * file.len() as u64, "{name}: {limit}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

/// With a limit that admits the bomb, or a header that understates it, the
/// reader stops at the first table that is wrong, or at the announced size.
#[test]
fn bombs_fail_at_their_first_bad_table() {
    let trusted = ReadOptions {
        max_size: Some(2 * BOMB),
    };
    for (raw_len, options) in [(BOMB, trusted), (format::MIN_LIMIT, ReadOptions::default())] {
        let [(_, zeros), (_, early)] = bombs(raw_len);
        let err = read_with(&zeros[..], &options).unwrap_err().to_string();
        assert!(err.contains("string 0 must be the empty string"), "{err}");
        let err = read_with(&early[..], &options).unwrap_err().to_string();
        assert!(
            err.contains("the blocks declare 4294967296 entries"),
            "{err}"
        );
    }
}

/// A bomb whose block table is plausible, with a header that understates
/// its size: the reader stops at the announced size.
#[test]
fn tables_that_run_past_the_announced_size_are_cut_there() {
    let mut early = valid_early_tables();
    early.extend_from_slice(&[0xc0, 0x84, 0x3d]); // a million blocks
    let file = container(&rle_frame(&early, 1, BOMB), 2 << 20);
    let err = read(&file[..]).unwrap_err().to_string();
    assert!(err.contains("the blocks declare 1000000 entries"), "{err}");
    // Declaring fewer: the next column is the same run of ones.
    let mut early = valid_early_tables();
    early.extend_from_slice(&[0xa0, 0x8d, 0x06]); // 100,000 blocks
    let file = container(&rle_frame(&early, 1, BOMB), 2 << 20);
    let err = read(&file[..]).unwrap_err().to_string();
    assert!(err.contains("1 block sizes for 100000 rows"), "{err}");
    // Valid tables, one byte longer than the header says.
    let raw = format::encode_tables(&rich()).unwrap();
    let file = container(&rle_frame(&raw, 0, raw.len() as u64), raw.len() as u64 - 1);
    let err = read(&file[..]).unwrap_err().to_string();
    assert!(err.contains("run past the"), "{err}");
}

/// Address deltas, sizes, tasks, stacks, epochs, type names, stack
/// certainty.
type BlockColumns = (
    Vec<u64>,
    Vec<u64>,
    Vec<u64>,
    Vec<u32>,
    Vec<u32>,
    Vec<u32>,
    Vec<u8>,
);
/// Source deltas, target offsets, kinds, labels.
type EdgeColumns = (Vec<u32>, Vec<i64>, Vec<EdgeKind>, Vec<u32>);
/// Kind, label, start, length, target deltas, labels, task.
type RawRoot = (RootKind, u32, u64, u64, Vec<u32>, Vec<u32>, Option<u32>);

/// The decompressed tables laid out field by field as the writer lays them
/// out, for crafting tables the writer would refuse to write.
#[derive(serde::Serialize)]
struct RawTables {
    process: Process,
    capture: Capture,
    strings: Vec<String>,
    modules: Vec<Module>,
    frames: Vec<Frame>,
    stacks: Vec<Vec<u32>>,
    blocks: BlockColumns,
    edges: EdgeColumns,
    roots: Vec<RawRoot>,
    tasks: Vec<Task>,
    containers: Vec<Container>,
}

impl RawTables {
    /// Two blocks (at 0x1000 and 0x2000), nothing else.
    fn two_blocks() -> RawTables {
        RawTables {
            process: Process::default(),
            capture: Capture::default(),
            strings: vec![String::new()],
            modules: vec![],
            frames: vec![],
            stacks: vec![vec![]],
            blocks: (
                vec![0x1000, 0x1000],
                vec![16, 16],
                vec![0, 0],
                vec![0, 0],
                vec![0, 0],
                vec![0, 0],
                vec![0, 0],
            ),
            edges: (vec![], vec![], vec![], vec![]),
            roots: vec![],
            tasks: vec![],
            containers: vec![],
        }
    }

    fn bytes(&self) -> Vec<u8> {
        postcard::to_stdvec(self).unwrap()
    }

    /// Reads these tables as a whole file would be read.
    fn read(&self) -> Result<Snapshot, Error> {
        let raw = self.bytes();
        read(&container(&rle_frame(&raw, 0, raw.len() as u64), raw.len() as u64)[..])
    }
}

#[test]
fn raw_tables_are_laid_out_as_the_writer_lays_them_out() {
    let t = RawTables::two_blocks();
    let s = t.read().unwrap();
    assert_eq!(s.blocks[1].addr, 0x2000);
    assert_eq!(format::encode_tables(&s).unwrap(), t.bytes());
    assert_eq!(format::read_tables(&t.bytes()).unwrap(), s);
}

/// An edge whose target offset takes its index past `i64::MAX` (it
/// overflowed: a panic in debug builds).
#[test]
fn edge_offsets_past_the_integer_range_are_refused() {
    for (from, offset) in [(1, i64::MAX), (0, i64::MIN), (1, -2), (0, 2)] {
        let mut t = RawTables::two_blocks();
        t.edges = (
            vec![from],
            vec![offset],
            vec![EdgeKind::Conservative],
            vec![0],
        );
        let err = t.read().unwrap_err().to_string();
        assert!(
            err.contains("an edge points outside"),
            "{from} {offset}: {err}"
        );
    }
}

/// Every kind of bad index or order, caught while reading, not by a panic
/// afterwards.
#[test]
fn bad_crafted_tables_are_refused_with_their_reason() {
    type Edit = fn(&mut RawTables);
    let cases: [(&str, Edit); 10] = [
        ("string 0", |t| t.strings[0] = "x".into()),
        ("string 5", |t| t.process.exe = str_(5)),
        ("stack 0", |t| t.stacks.clear()),
        ("not sorted by address", |t| t.blocks.0[1] = 0),
        ("columns differ", |t| t.blocks.4.push(0)),
        ("block addresses overflow", |t| t.blocks.0[1] = u64::MAX),
        ("block stack certainty", |t| t.blocks.6[1] = 2),
        ("a root points outside", |t| {
            t.roots = vec![(RootKind::Static, 0, 0, 0, vec![1, u32::MAX], vec![], None)]
        }),
        ("task 0 does not exist", |t| {
            t.roots = vec![(RootKind::Task, 0, 0, 0, vec![0], vec![], Some(0))]
        }),
        ("edges are not sorted", |t| {
            t.edges = (vec![0, 0], vec![1, 0], vec![EdgeKind::Typed; 2], vec![0; 2])
        }),
    ];
    for (what, edit) in cases {
        let mut t = RawTables::two_blocks();
        edit(&mut t);
        let err = t.read().unwrap_err().to_string();
        assert!(err.contains(what), "{what}: {err}");
    }
}

/// A tiny file of a million and a half empty strings (each one byte in the
/// tables, 24 once read) asks for more than the floor of the default limit.
#[test]
fn a_tiny_file_gets_no_more_than_the_floor() {
    let s = Snapshot {
        strings: vec![String::new(); 1_500_000],
        ..Snapshot::default()
    };
    let file = bytes_of(&s);
    assert!(file.len() < 1000, "{} bytes", file.len());
    match read(&file[..]) {
        Err(Error::TooLarge { limit, .. }) => assert_eq!(limit, format::MIN_LIMIT),
        other => panic!("{other:?}"),
    }
    let trusted = ReadOptions {
        max_size: Some(2 << 20),
    };
    assert_eq!(read_with(&file[..], &trusted).unwrap(), s);
}

/// Version 2 files, which have no shared edges, still read; one that holds
/// a shared edge is refused, not half-believed. (The golden files: the
/// writer writes only the current version's encoding.)
#[test]
fn version_2_files_read_unless_they_hold_version_3_edges() {
    let golden = |v: u16| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
        std::fs::read(dir.join(format!("v{v}.twsnap"))).unwrap()
    };
    let v2 = read(&golden(2)[..]).unwrap();
    assert!(v2.edges.iter().all(|e| e.kind != EdgeKind::Shared));
    let v3 = golden(3);
    assert!(
        read(&v3[..])
            .unwrap()
            .edges
            .iter()
            .any(|e| e.kind == EdgeKind::Shared)
    );
    // The header's version is outside the checksum.
    let mut as_v2 = v3;
    as_v2[8..10].copy_from_slice(&2u16.to_le_bytes());
    match read(&as_v2[..]) {
        Err(Error::Corrupt(why)) => assert!(why.contains("shared edges"), "{why}"),
        other => panic!("a v2 file with a shared edge was not refused: {other:?}"),
    }
}

/// Version 3 files read with what version 4 added empty: traced tasks, no
/// cells.
#[test]
fn version_3_files_read_as_traced_tasks_without_cells() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let v3 = read(&std::fs::read(dir.join("v3.twsnap")).unwrap()[..]).unwrap();
    assert!(!v3.tasks.is_empty());
    for t in &v3.tasks {
        assert_eq!(
            (t.kind, t.cell, t.future_block, t.refs),
            (TaskKind::Traced, None, None, 0)
        );
    }
    assert_eq!(v3.capture.cells_found + v3.capture.cells_not_understood, 0);
    assert_ne!(
        v3.capture.tasks_dropped, 0,
        "the older capture figures read"
    );
}

/// Version 4 files read with every pointer conservative and no root kinds;
/// a version 5 file relabelled 4 is refused, not half-believed.
#[test]
fn version_4_files_read_with_no_wake_pointers() {
    let golden = |v: u16| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
        std::fs::read(dir.join(format!("v{v}.twsnap"))).unwrap()
    };
    let v4 = read(&golden(4)[..]).unwrap();
    assert!(v4.edges.iter().all(|e| !e.kind.is_wake()));
    assert!(v4.roots.iter().all(|r| r.kinds.is_empty()));
    assert!(v4.tasks.iter().all(|t| !t.join_handle) && v4.tasks.iter().any(|t| t.refs > 0));
    let mut as_v4 = golden(5);
    as_v4[8..10].copy_from_slice(&4u16.to_le_bytes());
    assert!(
        matches!(read(&as_v4[..]), Err(Error::Corrupt(_))),
        "a v5 file read as v4"
    );
}

/// Version 5 files read as unsampled (every block with stacks on has its
/// stack); a version 6 file relabelled 5 is refused, not half-believed.
#[test]
fn version_5_files_read_as_unsampled() {
    let golden = |v: u16| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
        std::fs::read(dir.join(format!("v{v}.twsnap"))).unwrap()
    };
    let v5 = read(&golden(5)[..]).unwrap();
    assert_eq!(v5.capture.stack_sample_bytes, 0);
    assert_ne!(v5.capture.cells_ns, 0, "the version 5 capture figures read");
    let v6 = read(&golden(6)[..]).unwrap();
    assert_ne!(v6.capture.stack_sample_bytes, 0);
    let mut as_v5 = golden(6);
    as_v5[8..10].copy_from_slice(&5u16.to_le_bytes());
    assert!(
        matches!(read(&as_v5[..]), Err(Error::Corrupt(_))),
        "a v6 file read as v5"
    );
}
