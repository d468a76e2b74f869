//! The demo service, `turbowish-kv`, as a child process under load, with
//! snapshots by signal.

use super::bins;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use turbowish_demo::driver::{ServerProcess, fresh_dir};

/// How long a snapshot may take (debug builds symbolize slowly).
pub const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(60);

/// Starts `turbowish-kv` with `args`, writing snapshots into a fresh
/// directory named `name` under the target's temporary directory.
pub fn start_server(name: &str, args: &[&str]) -> ServerProcess {
    let dir = fresh_dir(Path::new(env!("CARGO_TARGET_TMPDIR")), name).unwrap();
    let mut command = Command::new(bins::turbowish_kv());
    command.args(args);
    ServerProcess::start(command, &dir).unwrap()
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
