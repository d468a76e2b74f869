//! `turbowish-kv` as a process: the protocol over TCP, malformed input,
//! expiry, and a clean exit on end of input or SIGTERM. (The tests that
//! also take snapshots and run the `turbowish` CLI span crates: they live in
//! the workspace's top-level `tests/`.)

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use turbowish_demo::driver::{ServerProcess, fresh_dir};
use turbowish_demo::load::Client;
use turbowish_demo::protocol::{MAX_LINE, Reply, Request};

/// Starts `turbowish-kv` with `args`, writing snapshots into a fresh
/// directory named `name` under the target's temporary directory.
fn start_server(name: &str, args: &[&str]) -> ServerProcess {
    let dir = fresh_dir(Path::new(env!("CARGO_TARGET_TMPDIR")), name).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_turbowish-kv"));
    command.args(args);
    ServerProcess::start(command, &dir).unwrap()
}

fn call(client: &mut Client, line: &str) -> String {
    client.send_line(line.as_bytes()).unwrap();
    client.read_reply().unwrap().to_string()
}

#[test]
fn answers_the_protocol_over_tcp() {
    let server = start_server("protocol", &[]);
    let mut c = Client::connect(server.addr()).unwrap();
    assert_eq!(call(&mut c, "PING"), "PONG");
    assert_eq!(call(&mut c, "SET greeting hello"), "OK");
    assert_eq!(call(&mut c, "get greeting"), "VALUE hello");
    assert_eq!(call(&mut c, "GET nothing"), "NIL");
    assert_eq!(call(&mut c, "DEL greeting"), "INT 1");
    assert_eq!(call(&mut c, "DEL greeting"), "INT 0");
    assert_eq!(call(&mut c, "PUBLISH news nobody listens"), "INT 0");

    // Pub/sub across two connections.
    let mut sub = Client::connect(server.addr()).unwrap();
    assert_eq!(call(&mut sub, "SUBSCRIBE news"), "SUBSCRIBED news");
    assert_eq!(call(&mut c, "PUBLISH news hello there"), "INT 1");
    assert_eq!(
        sub.read_reply().unwrap().to_string(),
        "MESSAGE news hello there"
    );
    // The subscriber still answers requests.
    assert_eq!(call(&mut sub, "PING"), "PONG");
    match c.call(&Request::Stats).unwrap() {
        Reply::Stats(s) => {
            assert_eq!(s.active, 2);
            assert_eq!(s.connections, 2);
            assert_eq!(s.keys, 0);
        }
        other => panic!("{other}"),
    }
    assert_eq!(call(&mut sub, "QUIT"), "BYE");
    drop(sub);
    c.wait_for_active(1, Duration::from_secs(10)).unwrap();
    // A channel whose subscribers left reaches nobody.
    assert_eq!(call(&mut c, "PUBLISH news anyone"), "INT 0");
}

#[test]
fn malformed_requests_get_errors_and_the_connection_survives() {
    let server = start_server("malformed", &[]);
    let mut c = Client::connect(server.addr()).unwrap();
    assert_eq!(call(&mut c, ""), "ERR empty request");
    assert_eq!(call(&mut c, "FLY me"), "ERR unknown command \"FLY\"");
    assert!(call(&mut c, "SET k").starts_with("ERR wrong number of arguments"));
    assert!(call(&mut c, "SET k v never").starts_with("ERR ttl_ms"));
    c.send_line(b"GET \xff\xfe").unwrap();
    assert_eq!(
        c.read_reply().unwrap().to_string(),
        "ERR request is not UTF-8"
    );
    assert_eq!(call(&mut c, "PING"), "PONG");

    // A line too long to be a request (four times the limit, so it arrives
    // in many reads): skipped to its end, answered with one error.
    c.send_line("x".repeat(4 * MAX_LINE).as_bytes()).unwrap();
    let reply = c.read_reply().unwrap().to_string();
    assert_eq!(reply, format!("ERR request longer than {MAX_LINE} bytes"));
    assert_eq!(call(&mut c, "PING"), "PONG");
    // One byte under the limit is a request like any other.
    let key = "k".repeat(MAX_LINE - 4);
    assert_eq!(call(&mut c, &format!("GET {key}")), "NIL");
}

#[test]
fn expired_keys_vanish_and_the_expiry_task_removes_them() {
    let server = start_server("expiry", &[]);
    let mut c = Client::connect(server.addr()).unwrap();
    assert_eq!(call(&mut c, "SET short lived 30"), "OK");
    assert_eq!(call(&mut c, "SET long lived"), "OK");
    assert_eq!(call(&mut c, "GET short"), "VALUE lived");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let keys = match c.call(&Request::Stats).unwrap() {
            Reply::Stats(s) => s.keys,
            other => panic!("{other}"),
        };
        if keys == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the expiry task never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(call(&mut c, "GET short"), "NIL");
    assert_eq!(call(&mut c, "GET long"), "VALUE lived");
}

#[test]
fn stops_cleanly_at_end_of_input() {
    let mut server = start_server("stdin-eof", &["--all-faults"]);
    let _open = Client::connect(server.addr()).unwrap();
    let pid = server.pid();
    let status = server.stop(Duration::from_secs(10)).unwrap();
    assert!(status.success(), "{status}");
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

#[test]
fn stops_cleanly_on_sigterm() {
    let mut server = start_server("sigterm", &["--all-faults"]);
    let _open = Client::connect(server.addr()).unwrap();
    server.terminate().unwrap();
    let status = server.wait(Duration::from_secs(10)).unwrap();
    assert!(status.success(), "{status}");
    assert!(
        server
            .stderr()
            .iter()
            .any(|l| l.contains("stopping: SIGTERM")),
        "{:?}",
        server.stderr()
    );
}

#[test]
fn bad_arguments_are_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_turbowish-kv"))
        .arg("--leak-everything")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--leak-everything"));
}
