//! Helpers shared by the end-to-end tests: the server binary as a child
//! process, and the `turbowish` CLI, built once per test binary.

#![allow(dead_code)] // each test binary uses its own subset

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;
use turbowish_demo::driver::{ServerProcess, fresh_dir};

/// How long a snapshot may take (debug builds symbolize slowly).
pub const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(60);

/// Starts `turbowish-kv` with `args`, writing snapshots into a fresh
/// directory named `name` under the target's temporary directory.
pub fn start_server(name: &str, args: &[&str]) -> ServerProcess {
    let dir = fresh_dir(Path::new(env!("CARGO_TARGET_TMPDIR")), name).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_turbowish-kv"));
    command.args(args);
    ServerProcess::start(command, &dir).unwrap()
}

/// The workspace's root directory.
fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// The `turbowish` binary, built (debug) by cargo the first time it is asked
/// for; its path comes from cargo's JSON messages, so it works with any
/// target directory.
pub fn turbowish_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let out = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "turbowish-snap", "--bin", "turbowish"])
            .arg("--message-format=json-render-diagnostics")
            .current_dir(workspace())
            .output()
            .expect("cargo runs");
        assert!(
            out.status.success(),
            "building the turbowish CLI failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "turbowish")
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .expect("cargo reported the turbowish executable")
    })
}

/// Runs `turbowish` with `args`.
pub fn turbowish(args: &[&str]) -> Output {
    Command::new(turbowish_bin()).args(args).output().unwrap()
}

/// Runs `turbowish` with `args` (which must succeed) and parses its JSON.
pub fn turbowish_json(args: &[&str]) -> Value {
    let out = turbowish(args);
    assert!(
        out.status.success(),
        "turbowish {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

/// `src/faults.rs:LINE` for a spawn site given as `/abs/src/faults.rs:LINE:COL`
/// (`tasks --json`): the form `diff`, `leaks` and `bloat` print.
pub fn short_site(spawned_at: &str) -> String {
    let from = spawned_at.rfind("/src/").map_or(0, |at| at + 1);
    let site = &spawned_at[from..];
    match site.rsplit_once(':') {
        Some((file_line, _column)) => file_line.to_owned(),
        None => site.to_owned(),
    }
}

/// The spawn site (short form) of the tasks named `name` in `tasks`.
pub fn site_of(tasks: &Value, name: &str) -> String {
    let task = tasks
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("a task named {name}: {tasks:#}"));
    short_site(task["spawned_at"].as_str().unwrap())
}

/// Connections held open across both snapshots: one control connection
/// (for `STATS`) and a small pool of idle clients, as a real service has.
pub const OPEN: usize = 4;
/// Connections (each `REQUESTS` requests) before the first snapshot.
pub const CONNS_A: usize = 20;
/// Connections between the two snapshots: with `--leak-tasks`, exactly this
/// many tasks leak in between.
pub const CONNS_B: usize = 30;
/// Requests per connection.
pub const REQUESTS: usize = 50;

/// Two snapshots of one server under a fixed load.
#[derive(Debug)]
pub struct Scenario {
    /// The snapshot taken after `CONNS_A` connections.
    pub a: PathBuf,
    /// The snapshot taken after `CONNS_B` more.
    pub b: PathBuf,
}

/// Runs the standard scenario on a server started with `args`: `OPEN`
/// connections stay open throughout; `CONNS_A` connections come and go;
/// snapshot A; `CONNS_B` more come and go; snapshot B. Every request must
/// be answered correctly, and the server must stop cleanly.
pub fn scenario(name: &str, args: &[&str]) -> Scenario {
    use turbowish_demo::load::{self, Client, Plan};
    let mut server = start_server(name, args);
    let addr = server.addr();
    let mut control = Client::connect(addr).unwrap();
    let _pool: Vec<Client> = (1..OPEN).map(|_| Client::connect(addr).unwrap()).collect();
    let settle = |control: &mut Client| {
        control
            .wait_for_active(OPEN as u64, Duration::from_secs(20))
            .unwrap();
    };
    let mut take = |tag: &str, conns: usize| {
        let report = load::run(addr, &Plan::new(tag, conns, REQUESTS));
        assert_eq!(report.failures, 0, "{report}");
        assert_eq!(report.ok, conns * REQUESTS, "{report}");
        settle(&mut control);
        server.snapshot(SNAPSHOT_TIMEOUT).unwrap()
    };
    let a = take("a", CONNS_A);
    let b = take("b", CONNS_B);
    let status = server.stop(Duration::from_secs(10)).unwrap();
    assert!(status.success(), "{status}");
    Scenario { a, b }
}

/// `p` as an argument (the test directories have UTF-8 paths).
pub fn arg(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}
