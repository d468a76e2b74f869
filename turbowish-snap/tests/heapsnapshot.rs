//! The V8 heap snapshot export on a hand-built heap: its layout is the one
//! its meta declares, every block is a node and every pointer an edge,
//! named and typed as the module docs say, ids are stable, memlab computes
//! TurboWish's dominators and retained sizes, and `turbowish export`
//! writes it.

#![cfg(feature = "cli")]

#[path = "js/memlab.rs"]
mod memlab;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use turbowish_snap::analysis::Analysis;
use turbowish_snap::analysis::graph::SUPER_ROOT;
use turbowish_snap::export::heapsnapshot;
use turbowish_snap::*;

fn b(i: u32) -> BlockIndex {
    BlockIndex::new(i)
}

const FUTURE: &str = "app::worker::{{closure}}";
const SITE_FN: &str = "app::load_items";

/// A heap of 11 blocks (sizes in [`size`]):
///
/// - task 1 (storage 0, future `FUTURE`) shares a typed value whose field
///   `value.buf` is block 1; its future holds block 2 (`app::State`) by the
///   typed field `state`;
/// - block 2 holds block 3 (`items`, untyped, allocated in `SITE_FN`),
///   block 5 (`cache`, shared) and block 6 (`seen`);
/// - static data (symbol `app::CACHE`) points at block 4, which points at
///   block 5: block 5 is held by two roots;
/// - the main thread's stack points at block 6 (a stale copy: block 2 owns
///   it alone) and at block 10 (no type, no stack);
/// - blocks 7 and 8 are unreachable, 7 points at 8 and at block 9;
/// - the named root `registry` holds block 9 (`app::Registry`).
fn heap() -> Snapshot {
    let mut bld = Builder::new();
    let exe = bld.string("/opt/app/bin/app");
    let sym = bld.symbol(SITE_FN, Some("src/items.rs"), 12);
    let frame = bld.frame(Frame {
        addr: 0x5555_0000_1000,
        module: Some(ModuleIndex::new(0)),
        symbols: vec![sym],
    });
    let stack = bld.stack(&[frame]);
    let [
        state,
        registry,
        future,
        value_buf,
        state_field,
        items,
        cache,
        seen,
        app_cache,
        main,
        reg,
    ] = [
        "app::State",
        "app::Registry",
        FUTURE,
        "value.buf",
        "state",
        "items",
        "cache",
        "seen",
        "app::CACHE",
        "main",
        "registry",
    ]
    .map(|s| bld.string(s));
    let mut s = bld.build();
    s.modules.push(Module {
        path: exe,
        ..Module::default()
    });
    s.blocks = (0..11u32)
        .map(|i| Block {
            addr: 0x1000 * (u64::from(i) + 1),
            size: size(i),
            epoch: 1,
            stack: if i == 3 { stack } else { StackIndex::EMPTY },
            type_name: match i {
                2 => state,
                9 => registry,
                _ => StringIndex::EMPTY,
            },
            ..Block::default()
        })
        .collect();
    let typed = |from, to, label, kind| Edge {
        kind,
        label,
        ..Edge::new(b(from), b(to))
    };
    s.edges = vec![
        typed(0, 2, state_field, EdgeKind::Typed),
        typed(2, 3, items, EdgeKind::Typed),
        typed(2, 5, cache, EdgeKind::Shared),
        typed(2, 6, seen, EdgeKind::Typed),
        Edge::new(b(4), b(5)),
        Edge::new(b(7), b(8)),
        Edge::new(b(7), b(9)),
    ];
    s.roots = vec![
        Root {
            kind: RootKind::Task,
            targets: vec![b(0), b(1)],
            labels: vec![StringIndex::EMPTY, value_buf],
            task: Some(TaskIndex::new(0)),
            ..Root::default()
        },
        Root {
            kind: RootKind::Static,
            label: exe,
            targets: vec![b(4)],
            labels: vec![app_cache],
            ..Root::default()
        },
        Root {
            kind: RootKind::ThreadStack,
            label: main,
            targets: vec![b(6), b(10)],
            ..Root::default()
        },
        Root {
            kind: RootKind::Named,
            label: reg,
            targets: vec![b(9)],
            labels: vec![reg],
            ..Root::default()
        },
    ];
    s.tasks = vec![Task {
        serial: 1,
        id: 1,
        future_type: future,
        storage: Some(b(0)),
        ..Task::default()
    }];
    s
}

fn size(block: u32) -> u64 {
    [512, 1000, 64, 4096, 200, 300, 32, 50, 20, 128, 16][block as usize]
}

/// The export of `snap`, parsed.
fn export(snap: &Snapshot) -> (heapsnapshot::Written, Value) {
    let mut json = Vec::new();
    let written = heapsnapshot::write(&Analysis::new(snap), &mut json).unwrap();
    assert_eq!(written.bytes, json.len() as u64);
    (written, serde_json::from_slice(&json).expect("valid JSON"))
}

/// The export, read back as nodes and edges.
struct Heap {
    /// (type, name, id, self_size, edge_count) of each node.
    nodes: Vec<[u64; 5]>,
    /// (from node, type, name or index, to node) of each edge.
    edges: Vec<(usize, u64, u64, usize)>,
    strings: Vec<String>,
    node_types: Vec<String>,
    edge_types: Vec<String>,
}

impl Heap {
    fn read(v: &Value) -> Heap {
        let numbers = |key: &str| -> Vec<u64> {
            (v[key].as_array().unwrap().iter())
                .map(|n| n.as_u64().unwrap())
                .collect()
        };
        let (nodes, edges) = (numbers("nodes"), numbers("edges"));
        let mut read = Heap {
            nodes: nodes
                .chunks(7)
                .map(|n| [n[0], n[1], n[2], n[3], n[4]])
                .collect(),
            edges: Vec::new(),
            strings: serde_json::from_value(v["strings"].clone()).unwrap(),
            node_types: serde_json::from_value(v["snapshot"]["meta"]["node_types"][0].clone())
                .unwrap(),
            edge_types: serde_json::from_value(v["snapshot"]["meta"]["edge_types"][0].clone())
                .unwrap(),
        };
        let mut at = 0;
        for (from, node) in read.nodes.iter().enumerate() {
            for e in edges[at..at + 3 * node[4] as usize].chunks(3) {
                read.edges.push((from, e[0], e[1], e[2] as usize / 7));
            }
            at += 3 * node[4] as usize;
        }
        read
    }

    fn node_type(&self, n: usize) -> &str {
        &self.node_types[self.nodes[n][0] as usize]
    }

    fn name(&self, n: usize) -> &str {
        &self.strings[self.nodes[n][1] as usize]
    }

    /// The nodes of blocks, in block order.
    fn blocks(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&n| self.node_type(n) == "native")
            .collect()
    }

    /// The node named `name`.
    fn named(&self, name: &str) -> usize {
        (0..self.nodes.len())
            .find(|&n| self.name(n) == name)
            .unwrap_or_else(|| panic!("no node named {name:?}"))
    }

    /// The one edge from `from` to `to`: its type and name.
    fn edge(&self, from: usize, to: usize) -> (&str, String) {
        let found: Vec<_> = (self.edges.iter())
            .filter(|e| e.0 == from && e.3 == to)
            .collect();
        assert_eq!(found.len(), 1, "edges {from} -> {to}: {found:?}");
        let (_, kind, name, _) = *found[0];
        let kind = self.edge_types[kind as usize].as_str();
        let name = match kind {
            "element" => name.to_string(),
            _ => self.strings[name as usize].clone(),
        };
        (kind, name)
    }
}

#[test]
fn the_layout_is_what_the_meta_declares() {
    let (written, v) = export(&heap());
    let meta = &v["snapshot"]["meta"];
    let fields = meta["node_fields"].as_array().unwrap().len();
    assert_eq!(fields, 7);
    assert_eq!(meta["edge_fields"].as_array().unwrap().len(), 3);
    let nodes = v["nodes"].as_array().unwrap();
    let edges = v["edges"].as_array().unwrap();
    assert_eq!(nodes.len() % fields, 0);
    assert_eq!(edges.len() % 3, 0);
    assert_eq!(v["snapshot"]["node_count"], nodes.len() / fields);
    assert_eq!(v["snapshot"]["edge_count"], edges.len() / 3);
    assert_eq!((written.nodes, written.edges), (21, 24));
    let heap = Heap::read(&v);
    let edge_counts: u64 = heap.nodes.iter().map(|n| n[4]).sum();
    assert_eq!(edge_counts, written.edges, "edge counts sum to the edges");
    for e in edges.chunks(3) {
        let to = e[2].as_u64().unwrap() as usize;
        assert!(
            to.is_multiple_of(fields) && to < nodes.len(),
            "to_node {to}"
        );
    }
    assert!(
        heap.nodes
            .iter()
            .all(|n| (n[1] as usize) < heap.strings.len())
    );
    let mut distinct = heap.strings.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), heap.strings.len(), "each name once");
    assert_eq!(written.strings, heap.strings.len() as u64);
    for key in ["trace_function_infos", "trace_tree", "samples", "locations"] {
        assert_eq!(v[key], Value::Array(vec![]), "{key}");
    }
    assert_eq!((heap.name(0), heap.node_type(0)), ("(root)", "synthetic"));
    assert_eq!(heap.nodes[0][2], 1, "the root's id");
}

#[test]
fn every_block_is_a_node_and_every_pointer_an_edge() {
    let snap = heap();
    let (written, v) = export(&snap);
    let heap = Heap::read(&v);
    let blocks = heap.blocks();
    assert_eq!(blocks.len(), snap.blocks.len());
    for (i, &n) in blocks.iter().enumerate() {
        assert_eq!(heap.nodes[n][3], size(i as u32), "block {i}'s self size");
    }
    let synthetic = (0..heap.nodes.len()).filter(|&n| heap.node_type(n) == "synthetic");
    let names: Vec<&str> = synthetic.map(|n| heap.name(n)).collect();
    let task = "task 1 spawned at (unknown)";
    let want = [
        "(root)",
        "(tasks)",
        "(named roots)",
        "(static data)",
        "(thread stacks)",
        "(unreachable)",
        task,
        "static data of app",
        "stack of main",
        "root \"registry\"",
    ];
    assert_eq!(names, want);
    let pointers = (heap.edges.iter()).filter(|e| heap.edge_types[e.1 as usize] != "element");
    let targets: usize = snap.roots.iter().map(|r| r.targets.len()).sum();
    assert_eq!(pointers.count(), snap.edges.len() + targets);
    // 5 kinds, 4 roots, 2 unreachable blocks.
    assert_eq!(
        written.edges as usize,
        snap.edges.len() + targets + 5 + 4 + 2
    );
    assert_eq!(written.weak_edges, 2, "the stale stack word, and 7 -> 9");
}

#[test]
fn blocks_are_named_by_type_future_or_site_and_edges_by_field_or_kind() {
    let (_, v) = export(&heap());
    let heap = Heap::read(&v);
    let blk = heap.blocks();
    assert_eq!(heap.name(blk[0]), FUTURE, "a task's storage, by its future");
    assert_eq!(heap.name(blk[2]), "app::State");
    assert_eq!(heap.name(blk[3]), format!("{SITE_FN} (src/items.rs:12)"));
    assert_eq!(heap.name(blk[10]), "(no stack)");
    let (task, stat) = (
        heap.named("task 1 spawned at (unknown)"),
        heap.named("static data of app"),
    );
    let (stack, named) = (heap.named("stack of main"), heap.named("root \"registry\""));
    let unreachable = heap.named("(unreachable)");
    let edge = |from, to| heap.edge(from, to);
    let e = |kind: &str, name: &str| (kind.to_owned(), name.to_owned());
    let got = |(kind, name): (&str, String)| (kind.to_owned(), name);
    assert_eq!(got(edge(task, blk[0])), e("property", "future"));
    assert_eq!(
        got(edge(blk[0], blk[1])),
        e("property", "value.buf"),
        "the task's value hangs from its storage"
    );
    assert!(heap.edges.iter().all(|x| !(x.0 == task && x.3 == blk[1])));
    assert_eq!(got(edge(blk[0], blk[2])), e("property", "state"));
    assert_eq!(got(edge(blk[2], blk[5])), e("property", "cache"));
    assert_eq!(got(edge(stat, blk[4])), e("internal", "app::CACHE"));
    assert_eq!(got(edge(blk[4], blk[5])), e("internal", "conservative"));
    assert_eq!(got(edge(stack, blk[6])), e("weak", "conservative"), "stale");
    assert_eq!(got(edge(stack, blk[10])), e("internal", "conservative"));
    assert_eq!(got(edge(named, blk[9])), e("property", "registry"));
    assert_eq!(
        got(edge(blk[7], blk[9])),
        e("weak", "conservative"),
        "garbage"
    );
    assert_eq!(got(edge(blk[7], blk[8])), e("internal", "conservative"));
    assert_eq!(got(edge(unreachable, blk[8])), e("element", "1"));
}

#[test]
fn block_ids_are_stable_across_snapshots() {
    let snap = heap();
    let ids = |s: &Snapshot| -> Vec<u64> {
        let heap = Heap::read(&export(s).1);
        heap.blocks().iter().map(|&n| heap.nodes[n][2]).collect()
    };
    let before = ids(&snap);
    assert!(before.iter().all(|id| id % 2 == 1 && *id > 1), "{before:?}");
    let mut later = snap.clone();
    later.blocks.remove(10); // freed: nothing pointed at it but the stack
    later.roots[2].targets.pop();
    assert_eq!(ids(&later), before[..10]);
    let mut distinct = before.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), before.len());
}

/// memlab (its loader and dominator computation) gives every block the
/// retained size TurboWish gives it, and the same immediate dominator: the
/// same block or root, or for a block several roots hold, a grouping node.
#[test]
fn memlab_computes_turbowish_dominators_and_retained_sizes() {
    let snap = heap();
    let (_, v) = export(&snap);
    let dir = temp_dir("memlab");
    let file = dir.join("heap.heapsnapshot");
    std::fs::write(&file, serde_json::to_vec(&v).unwrap()).unwrap();
    let Some(m) = memlab::memlab(&file, true) else {
        return;
    };
    let heap = Heap::read(&v);
    assert_eq!((m.nodes, m.edges), (21, 24));
    let a = Analysis::new(&snap);
    let (graph, retained) = (a.graph(), a.retained());
    let blk = heap.blocks();
    let id = |n: usize| heap.nodes[n][2];
    let roots = [
        "task 1 spawned at (unknown)",
        "static data of app",
        "stack of main",
        "root \"registry\"",
    ];
    let root_node = |r: usize| heap.named(roots[r]);
    for (i, &n) in blk.iter().enumerate() {
        let mine = (m.all.iter())
            .find(|x| x.id == id(n))
            .expect("memlab has every block");
        let node = graph.block_node(i as u32);
        if !retained.reachable(node) {
            assert_eq!(mine.dominator, Some(id(heap.named("(unreachable)"))));
            continue;
        }
        assert_eq!(mine.retained, retained.bytes[node as usize], "block {i}");
        let up = retained.idom[node as usize];
        let want = match (graph.node_block(up), graph.node_root(up)) {
            (Some(d), _) => id(blk[d as usize]),
            (None, Some(r)) => id(root_node(r as usize)),
            (None, None) => {
                assert_eq!(up, SUPER_ROOT);
                let d = mine.dominator.unwrap();
                assert!(d % 2 == 0 || d == 1, "block {i}: a grouping node, not {d}");
                continue;
            }
        };
        assert_eq!(mine.dominator, Some(want), "block {i}'s dominator");
    }
    // summary's top dominator is memlab's top retained block.
    let top = &a.biggest_blocks(1, 0).shown[0];
    assert_eq!(m.top[0].id, id(blk[top.block.index()]));
    assert_eq!(m.top[0].retained, top.retained);
    assert_eq!(m.top[0].name, FUTURE);
}

#[test]
fn a_failing_writer_is_an_error() {
    /// Accepts `room` bytes, then fails.
    struct Full(usize);
    impl std::io::Write for Full {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            match self.0.checked_sub(buf.len()) {
                Some(left) => {
                    self.0 = left;
                    Ok(buf.len())
                }
                None => Err(std::io::ErrorKind::StorageFull.into()),
            }
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let snap = heap();
    let err = heapsnapshot::write(&Analysis::new(&snap), &mut Full(100)).unwrap_err();
    assert!(matches!(err, heapsnapshot::Error::Io(_)), "{err}");
}

// The command.

fn turbowish(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_turbowish"))
        .args(args)
        .env("COLUMNS", "100")
        .output()
        .expect("run turbowish")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("heapsnapshot-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The hand-built heap, written to a `.twsnap` in `dir`.
fn heap_file(dir: &Path) -> PathBuf {
    let path = dir.join("heap.twsnap");
    write_file(&heap(), &path).unwrap();
    path
}

fn one_line_error(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("turbowish: ") && !err.contains("panicked"),
        "{err}"
    );
    err
}

#[test]
fn export_writes_the_file_and_says_what_it_wrote() {
    let dir = temp_dir("cli");
    let twsnap = heap_file(&dir);
    let file = dir.join("heap.heapsnapshot");
    let args = [
        "export",
        twsnap.to_str().unwrap(),
        "--format",
        "heapsnapshot",
    ];
    let out = turbowish(&[&args[..], &["-o", file.to_str().unwrap()]].concat());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let size = std::fs::metadata(&file).unwrap().len();
    assert!(
        text.starts_with(&format!(
            "wrote {}: a V8 heap snapshot of 21 nodes, 24 edges (2 weak)",
            file.display()
        )),
        "{text}"
    );
    let written = std::fs::read(&file).unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&written).unwrap(),
        export(&heap()).1
    );
    let out = turbowish(&[&args[..], &["-o", file.to_str().unwrap(), "--json"]].concat());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["nodes"].as_u64(), v["bytes"].as_u64()),
        (Some(21), Some(size))
    );
    // `-o -`: the snapshot itself on stdout, nothing else.
    let out = turbowish(&[&args[..], &["-o", "-"]].concat());
    assert!(out.status.success());
    assert_eq!(out.stdout, written);
}

#[test]
fn export_errors_are_one_line() {
    let dir = temp_dir("cli-errors");
    let twsnap = heap_file(&dir);
    let snap = twsnap.to_str().unwrap();
    let unwritable = dir.join("no/such/dir/heap.heapsnapshot");
    let out = turbowish(&[
        "export",
        snap,
        "--format",
        "heapsnapshot",
        "-o",
        unwritable.to_str().unwrap(),
    ]);
    let err = one_line_error(&out);
    assert!(
        err.contains(&format!("cannot write {}: ", unwritable.display())),
        "{err}"
    );
    let out = turbowish(&["export", snap, snap, "--format", "heapsnapshot", "-o", "-"]);
    assert!(one_line_error(&out).contains("takes one snapshot"));
    let out = turbowish(&[
        "export",
        "/nonexistent.twsnap",
        "--format",
        "heapsnapshot",
        "-o",
        "-",
    ]);
    assert!(one_line_error(&out).contains("cannot read /nonexistent.twsnap"));
}
