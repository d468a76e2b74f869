//! What the export tests share: running `turbowish`, and a small service's
//! heap, hand-built, in two snapshots.

#![allow(dead_code)] // each test file uses its own part

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use turbowish_snap::*;

pub fn turbowish(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_turbowish"))
        .args(args)
        .env_remove("CLICOLOR_FORCE")
        .output()
        .expect("run turbowish")
}

/// `turbowish ARGS`, which must succeed quietly; its stdout.
pub fn ok(args: &[&str]) -> String {
    let out = turbowish(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    assert!(out.stderr.is_empty(), "{err}");
    String::from_utf8(out.stdout).expect("utf-8")
}

pub fn json(args: &[&str]) -> Value {
    serde_json::from_str(&ok(args)).expect("json")
}

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("flame-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

pub fn blk(i: u32) -> BlockIndex {
    BlockIndex::new(i)
}

pub const RUSTC: &str = "/rustc/17067e9ac6d7e98f18d4d6a8d21ec4f8a7a08bbb/library";
/// A future type a hostile file could hold: XML and a frame separator.
pub const EVIL: &str = "svc::Evil<&[u8; 8]>&<script>alert(1)</script>";

/// Two traced connection tasks, each retaining a read buffer (allocated in
/// an inlined `Vec::with_capacity` of its poll), a block both point to,
/// static data, a block nothing reaches and one without a stack.
pub fn service() -> Snapshot {
    let mut b = Builder::new();
    let exe = b.string("/opt/svc/bin/svc");
    b.snapshot_mut().process = Process {
        pid: 4242,
        exe,
        start_token: 7,
        sequence: 1,
        ..Process::default()
    };
    let frame = |b: &mut Builder, addr, symbols: &[(&str, &str, u32)]| {
        let symbols = (symbols.iter())
            .map(|&(f, file, line)| b.symbol(f, Some(file), line))
            .collect();
        b.frame(Frame {
            addr,
            module: None,
            symbols,
        })
    };
    let shim = "/home/dev/turbowish/turbowish-alloc/src/shim.rs";
    let conn = "/home/dev/svc/src/conn.rs";
    let main_rs = "/home/dev/svc/src/main.rs";
    let rust_alloc = frame(&mut b, 0x10, &[("__rust_alloc", shim, 1)]);
    let alloc = frame(
        &mut b,
        0x20,
        &[(
            "<turbowish_alloc::TurboWish<A> as core::alloc::global::GlobalAlloc>::alloc",
            shim,
            88,
        )],
    );
    let read = frame(
        &mut b,
        0x30,
        &[
            (
                "alloc::vec::Vec<T>::with_capacity",
                &format!("{RUSTC}/alloc/src/vec/mod.rs"),
                480,
            ),
            ("svc::conn::Conn::read_buffer", conn, 117),
        ],
    );
    let poll = frame(
        &mut b,
        0x40,
        &[("<svc::conn::Conn as core::future::Future>::poll", conn, 60)],
    );
    let evil = frame(
        &mut b,
        0x50,
        &[("svc::evil", "/home/dev/svc/src/evil.rs", 3)],
    );
    let spawn = frame(&mut b, 0x60, &[("svc::spawn_conn", main_rs, 30)]);
    let main = frame(&mut b, 0x70, &[("svc::main", main_rs, 9)]);
    let conn_stack = b.stack(&[rust_alloc, alloc, read, poll, main]);
    let evil_stack = b.stack(&[rust_alloc, alloc, evil, main]);
    let cell_stack = b.stack(&[rust_alloc, alloc, spawn, main]);
    let block = |addr, size, task, stack| Block {
        addr,
        size,
        task,
        stack,
        ..Block::default()
    };
    b.snapshot_mut().blocks = vec![
        block(0x1000, 512, 0, cell_stack),
        block(0x2000, 256, 0, cell_stack),
        block(0x3000, 4096, 1, conn_stack),
        block(0x4000, 1024, 2, conn_stack),
        block(0x5000, 100, 1, evil_stack),
        block(0x6000, 64, 0, evil_stack),
        block(0x7000, 32, 2, conn_stack),
        block(0x8000, 24, 0, StackIndex::EMPTY),
    ];
    b.snapshot_mut().edges = [(0, 2), (1, 3), (2, 4), (3, 4)]
        .map(|(from, to)| Edge::new(blk(from), blk(to)))
        .to_vec();
    let file = b.string(main_rs);
    let futures = [b.string("svc::conn::Conn"), b.string(EVIL)];
    b.snapshot_mut().tasks = (0..2)
        .map(|i| Task {
            serial: i + 1,
            id: i + 1,
            file,
            line: 10 * (i as u32 + 1),
            future_type: futures[i as usize],
            storage: Some(blk(i as u32)),
            ..Task::default()
        })
        .collect();
    let mut roots: Vec<Root> = (0..2)
        .map(|i| Root {
            kind: RootKind::Task,
            targets: vec![blk(i)],
            task: Some(TaskIndex::new(i)),
            ..Root::default()
        })
        .collect();
    roots.push(Root {
        kind: RootKind::Static,
        targets: vec![blk(5), blk(7)],
        ..Root::default()
    });
    b.snapshot_mut().roots = roots;
    b.build()
}

/// `service()` later: task 2's buffer grew to 8 KiB (a new block), a new
/// static block, the unreachable block freed.
pub fn service_later() -> Snapshot {
    let mut s = service();
    s.process.sequence = 2;
    s.blocks[3] = Block {
        addr: 0x4800,
        size: 8192,
        epoch: 1,
        ..s.blocks[3]
    };
    s.blocks[6] = Block {
        addr: 0x7800,
        size: 48,
        epoch: 1,
        task: 0,
        ..s.blocks[5]
    };
    s.roots[2].targets = vec![blk(5), blk(6), blk(7)];
    s
}

/// `text` parsed as XML, its DOCTYPE (inferno writes SVG 1.1's) allowed.
pub fn parse_xml(text: &str) -> roxmltree::Document<'_> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..roxmltree::ParsingOptions::default()
    };
    roxmltree::Document::parse_with_options(text, options).expect("the SVG is XML")
}

pub fn write_snap(dir: &Path, name: &str, snap: &Snapshot) -> String {
    let path = dir.join(name);
    write_file(snap, &path).expect("write snapshot");
    path.to_str().unwrap().to_owned()
}
