//! Running memlab (`check.js`, beside this file) on a V8 heap snapshot,
//! for the tests of the heap snapshot export. Included by path by the tests
//! that use it; `.ci/run` installs memlab here (`npm ci`).
//!
//! A missing Node.js or memlab fails the test with what to run, unless
//! `TURBOWISH_SKIP_MEMLAB=1` is set: then [`memlab`] returns `None`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// This folder (`check.js`, `package.json` and, once installed,
/// `node_modules`), from the package of the test that includes this file:
/// `turbowish-snap` or the workspace's root.
fn dir() -> PathBuf {
    let package = Path::new(env!("CARGO_MANIFEST_DIR"));
    match package.join("tests/js/check.js").is_file() {
        true => package.join("tests/js"),
        false => package.join("turbowish-snap/tests/js"),
    }
}

/// What memlab computed from a heap snapshot (see `check.js`).
#[derive(Debug)]
pub struct Memlab {
    /// Nodes memlab read.
    pub nodes: u64,
    /// Edges memlab read.
    pub edges: u64,
    /// The native nodes (blocks) of most retained size, largest first.
    pub top: Vec<Block>,
    /// Every native node (with `all`).
    pub all: Vec<Block>,
}

/// A native node as memlab sees it.
#[derive(Debug, Clone)]
pub struct Block {
    pub id: u64,
    pub name: String,
    pub retained: u64,
    /// The id of its immediate dominator.
    pub dominator: Option<u64>,
}

impl Block {
    fn from_json(v: &serde_json::Value) -> Block {
        Block {
            id: v["id"].as_u64().expect("an id"),
            name: v["name"].as_str().expect("a name").to_owned(),
            retained: v["retained"].as_u64().expect("a retained size"),
            dominator: v["dominator"].as_u64(),
        }
    }
}

fn blocks(v: &serde_json::Value) -> Vec<Block> {
    v.as_array()
        .expect("a list")
        .iter()
        .map(Block::from_json)
        .collect()
}

/// Loads `file` with memlab; `all`: list every block. `None` only when
/// `TURBOWISH_SKIP_MEMLAB=1` and memlab is not installed.
pub fn memlab(file: &Path, all: bool) -> Option<Memlab> {
    let dir = dir();
    let installed = dir.join("node_modules/@memlab/heap-analysis").is_dir();
    let node = Command::new("node").arg("--version").output().is_ok();
    if !(installed && node) {
        if std::env::var_os("TURBOWISH_SKIP_MEMLAB").is_some_and(|v| v == "1") {
            eprintln!("memlab is not installed: skipped (TURBOWISH_SKIP_MEMLAB=1)");
            return None;
        }
        panic!(
            "memlab is not installed: run `npm ci --ignore-scripts --prefix {}` \
             (Node.js and npm: `apt-get install nodejs npm`), or set TURBOWISH_SKIP_MEMLAB=1 \
             to skip this check",
            dir.display()
        );
    }
    let out = file.with_extension("memlab.json");
    let mut cmd = Command::new("node");
    cmd.arg(dir.join("check.js")).arg(file).arg(&out);
    if all {
        cmd.arg("--all");
    }
    let run = cmd.output().expect("running node");
    assert!(
        run.status.success(),
        "memlab failed on {}: {}{}",
        file.display(),
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let text = std::fs::read_to_string(&out).expect("memlab's result");
    let _ = std::fs::remove_file(&out);
    let v: serde_json::Value = serde_json::from_str(&text).expect("memlab's result is JSON");
    Some(Memlab {
        nodes: v["nodes"].as_u64().expect("a node count"),
        edges: v["edges"].as_u64().expect("an edge count"),
        top: blocks(&v["top"]),
        all: blocks(&v["all"]),
    })
}
