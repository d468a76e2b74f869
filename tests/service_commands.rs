//! Every `turbowish` command on snapshots of the demo service, taken as a
//! user takes them: the first by SIGUSR1, the second with `turbowish snap`.
//! Each analysis command runs in text and in JSON; what each finds in
//! detail is checked by `faults_found.rs` and `faults_off.rs`, and here what
//! only these commands show: `snap`'s file, and `sites` of the leaking
//! spawn site.

mod common;

use common::service::*;
use common::{turbowish, turbowish_json};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;
use turbowish_demo::faults::LEAKED_BUFFER;
use turbowish_demo::load::{self, Plan};

/// Connections before each snapshot.
const CONNS: usize = 10;

/// Runs the service with every fault on; returns its pid and two snapshots.
fn snapshots() -> (u32, PathBuf, PathBuf) {
    let mut server = start_server("commands", &["--all-faults"]);
    let (addr, pid) = (server.addr(), server.pid());
    let drive = |tag: &str| {
        let report = load::run(addr, &Plan::new(tag, CONNS, REQUESTS));
        assert_eq!(report.failures, 0, "{report}");
    };
    drive("a");
    let a = server.snapshot(SNAPSHOT_TIMEOUT).unwrap();
    drive("b");
    let timeout = SNAPSHOT_TIMEOUT.as_secs().to_string();
    let pid_arg = pid.to_string();
    let snap = turbowish_json(&["snap", &pid_arg, "--timeout", &timeout, "--json"]);
    let b = PathBuf::from(snap["path"].as_str().expect("snap --json names the file"));
    assert_eq!(b.parent(), Some(server.dir()), "{snap:#}");
    assert_eq!(
        b.file_name().unwrap().to_str(),
        Some(format!("turbowish-{pid}-2.twsnap").as_str()),
        "the second snapshot of the process: {snap:#}"
    );
    let status = server.stop(Duration::from_secs(10)).unwrap();
    assert!(status.success(), "{status}");
    (pid, a, b)
}

#[test]
fn every_command_reads_the_services_snapshots() {
    let (pid, a, b) = snapshots();
    let (a, b) = (arg(&a), arg(&b));
    let commands: [&[&str]; 7] = [
        &["summary", b],
        &["tasks", b],
        &["diff", a, b],
        &["leaks", b, "--baseline", a],
        &["bloat", b],
        &["sites", b],
        &["retainers", "--type", "Vec<u8>", b],
    ];
    for command in commands {
        let text = turbowish(command);
        let stderr = String::from_utf8_lossy(&text.stderr);
        assert!(text.status.success(), "{command:?}: {stderr}");
        assert!(!text.stdout.is_empty(), "{command:?} printed nothing");
        let json = turbowish_json(&[command, &["--json"]].concat());
        assert!(json.is_object(), "{command:?} --json: {json}");
    }

    let summary = turbowish_json(&["summary", "--json", b]);
    assert_eq!(summary["process"]["pid"], pid, "{:#}", summary["process"]);
    let live = &summary["totals"]["live_bytes"];
    let sites = turbowish_json(&["sites", "--json", "--top", "0", b]);
    assert_eq!(
        &sites["selected"]["bytes"], live,
        "every live block has a site"
    );

    // The leaking tasks' blocks: one per connection so far, each with the
    // 64 KiB buffer it allocates in its first poll.
    let tasks = turbowish_json(&["tasks", "--json", "--top", "0", b])["tasks"].take();
    let waiters: Vec<&Value> = (tasks.as_array().unwrap().iter())
        .filter(|t| t["name"] == "push-waiter")
        .collect();
    assert_eq!(waiters.len(), 2 * CONNS, "{tasks:#}");
    let polled = waiters.iter().filter(|t| t["polls"] != 0).count();
    assert!(polled > 0, "{tasks:#}");
    let leaky = site_of(&tasks, "push-waiter");
    let theirs = turbowish_json(&["sites", "--json", "--spawn", &leaky, b]);
    let bytes = theirs["selected"]["bytes"].as_u64().unwrap();
    let leaked = (polled * LEAKED_BUFFER) as u64;
    assert!(bytes >= leaked, "{bytes} < {leaked}: {theirs:#}");
}
