//! The TurboWish end-to-end demo: a key-value service with six faults, two
//! heap snapshots taken by signal while it serves, and what the `turbowish`
//! CLI finds in them.
//!
//! ```sh
//! cargo run --release --example demo            # about a second once built
//! cargo run --release --example demo -- --quick # less load, for CI
//! ```
//!
//! It re-runs itself as the server (`demo serve`: the `turbowish-kv`
//! server with every fault on, in a child process, as a service would run),
//! drives load at it over loopback from this process, asks for a snapshot
//! with SIGUSR1, drives more load, asks for a second, and runs
//! `turbowish diff`, `leaks`, `bloat`, `retainers` and `waits` on the two files
//! through cargo. Beside the snapshots it writes `report.html` (the HTML
//! report of the two) and `live.svg` (a flame graph of the second's live
//! bytes by task), and prints their paths. Nothing but cargo is needed.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};
use turbowish_alloc::TurboWish;
use turbowish_demo::driver::{ServerProcess, fresh_dir};
use turbowish_demo::load::{self, Client, Plan, Probe, Report};
use turbowish_demo::{Faults, Options};

#[global_allocator]
static A: TurboWish = TurboWish::system();

/// How much load each phase drives.
struct Size {
    /// Connections before the first snapshot, and between the two.
    conns: [usize; 2],
    /// Requests per connection.
    requests: usize,
}

const FULL: Size = Size {
    conns: [40, 60],
    requests: 200,
};
const QUICK: Size = Size {
    conns: [10, 20],
    requests: 50,
};

/// Connections that stay open throughout and ping every 2 ms: they measure
/// latency while the snapshots are taken.
const PROBES: usize = 3;

const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["serve"] => serve(),
        [] => demo(&FULL),
        ["--quick"] => demo(&QUICK),
        _ => {
            eprintln!("usage: demo [--quick]");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The server side: `turbowish-kv --all-faults`, in this binary.
fn serve() -> io::Result<()> {
    turbowish_alloc::install();
    turbowish_demo::server::run(&Options {
        faults: Faults::ALL,
        ..Options::default()
    })
}

/// The driver side.
fn demo(size: &Size) -> io::Result<()> {
    let started = Instant::now();
    println!("== building the turbowish CLI (cargo build --release -p turbowish-snap)");
    cargo(&["build", "--release", "-q", "-p", "turbowish-snap"])?;

    let dir = fresh_dir(&std::env::temp_dir(), "turbowish-kv-demo")?;
    let mut command = Command::new(std::env::current_exe()?);
    command.arg("serve");
    let mut server = ServerProcess::start(command, &dir)?;
    let addr = server.addr();
    println!(
        "\n== the service: pid {} listening on {addr}, faults on: {}",
        server.pid(),
        Faults::ALL.names().join(" ")
    );
    println!("   snapshots go to {}", dir.display());

    let mut control = Client::connect(addr)?;
    let probe = Probe::start(addr, PROBES, Duration::from_millis(2))?;
    let open = 1 + PROBES as u64;

    let mut windows = Vec::new();
    let mut snapshots = Vec::new();
    for (phase, &conns) in size.conns.iter().enumerate() {
        let tag = ["a", "b"][phase];
        let report = load::run(addr, &Plan::new(tag, conns, size.requests));
        println!("\n== load {}: {report}", phase + 1);
        check(&report)?;
        // Every connection of the phase fully handled before the snapshot.
        control.wait_for_active(open, Duration::from_secs(30))?;
        let from = Instant::now();
        let path = server.snapshot(SNAPSHOT_TIMEOUT)?;
        windows.push((from, Instant::now()));
        println!("== snapshot {}: {}", phase + 1, path.display());
        snapshots.push(path);
    }
    let pings = probe.stop();
    let status = server.stop(Duration::from_secs(10))?;
    print_server_lines(&server);
    check(&pings)?;
    print_latency(&pings, &windows);
    if !status.success() {
        return Err(io::Error::other(format!("the server exited with {status}")));
    }

    let (a, b) = (&snapshots[0], &snapshots[1]);
    analyze(a, b, size)?;
    write_pictures(a, b, &dir)?;
    print_your_turn(a, b);
    println!("\n(the demo took {:.1} s)", started.elapsed().as_secs_f64());
    Ok(())
}

/// A load run with failures is an error: the service must stay correct.
fn check(report: &Report) -> io::Result<()> {
    match report.failures {
        0 => Ok(()),
        n => Err(io::Error::other(format!("{n} requests failed: {report}"))),
    }
}

/// The lines the server's TurboWish runtime printed about its snapshots.
fn print_server_lines(server: &ServerProcess) {
    for line in server.stderr() {
        if line.starts_with("turbowish:") {
            println!("   server: {line}");
        }
    }
}

fn print_latency(pings: &Report, windows: &[(Instant, Instant)]) {
    println!(
        "\n== {PROBES} connections pinged every 2 ms throughout: {} pings, {} failed",
        pings.ok + pings.failures,
        pings.failures
    );
    for (i, (from, to)) in windows.iter().enumerate() {
        let (n, latency) = pings.latency_between(*from, *to);
        println!(
            "   while snapshot {} was taken ({:.0} ms): {n} pings, latency {latency}",
            i + 1,
            (*to - *from).as_secs_f64() * 1e3,
        );
    }
    println!("   at other times: latency {}", pings.latency());
}

/// Runs the analyses, each preceded by what to look for.
fn analyze(a: &Path, b: &Path, size: &Size) -> io::Result<()> {
    let (a, b) = (
        a.to_str().unwrap_or_default(),
        b.to_str().unwrap_or_default(),
    );
    let between = size.conns[1];
    let closed: usize = size.conns.iter().sum();
    let steps: [(&str, Vec<&str>); 5] = [
        (
            &format!(
                "what grew: the response-cache task's retained bytes (a cache that only \
                 grows), and a spawn site whose task count grew by {between}, one task per \
                 connection made between the snapshots, each retaining 64 KiB (push-waiter)"
            ),
            vec!["diff", a, b, "--top", "6"],
        ),
        (
            &format!(
                "zombie futures: {closed} finished disconnect-hook tasks (one per closed \
                 connection; the first 3 shown) whose storage the waker registry's buffer \
                 still holds, and the spawn sites that grew"
            ),
            vec!["leaks", b, "--baseline", a, "--top", "3"],
        ),
        (
            "the bloated future: audit-log, over 16 KiB (a 32 KiB array held across \
             .await), and containers with capacity they do not use",
            vec!["bloat", b, "--top", "6"],
        ),
        (
            "the growing cache: every cached reply, reached from the response-cache \
             task through typed fields",
            vec!["retainers", "--type", "Vec<u8>", b, "--top", "1"],
        ),
        (
            &format!(
                "tasks nothing can ever wake: the compaction-scheduler, which missed its \
                 start signal, with the {} compactors stuck behind it (it holds the only \
                 senders of their queues); and a deadlock per SWAP ({}, one per load run): \
                 two tasks, each waiting for the lock the other holds",
                turbowish_demo::faults::stuck_queue::SHARDS,
                size.conns.len(),
            ),
            vec!["waits", b],
        ),
    ];
    for (what, args) in steps {
        let shown: Vec<String> = args.iter().map(|a| shell_quote(a)).collect();
        println!("\n== {what}\n$ turbowish {}", shown.join(" "));
        let mut full = vec!["run", "--release", "-q", "-p", "turbowish-snap", "--"];
        full.extend(args);
        print!("{}", cargo(&full)?);
    }
    Ok(())
}

/// The HTML report of the two snapshots and a flame graph of the second,
/// written beside them with the CLI.
fn write_pictures(a: &Path, b: &Path, dir: &Path) -> io::Result<()> {
    let (report, flame) = (dir.join("report.html"), dir.join("live.svg"));
    let path = |p: &Path| p.to_str().unwrap_or_default().to_owned();
    let (a, b) = (path(a), path(b));
    let run = ["run", "--release", "-q", "-p", "turbowish-snap", "--"];
    let report_args = ["report", &a, &b, "-o", &path(&report)];
    cargo(&[&run[..], &report_args].concat())?;
    let flame_args = ["flamegraph", &b, "--by", "task", "-o", &path(&flame)];
    cargo(&[&run[..], &flame_args].concat())?;
    println!("\n== pictures, beside the snapshots (open them in a browser)");
    println!(
        "   report (summary, findings, tables, what grew): {}",
        report.display()
    );
    println!(
        "   flame graph of live bytes by task:            {}",
        flame.display()
    );
    Ok(())
}

fn print_your_turn(a: &Path, b: &Path) {
    let (a, b) = (a.display(), b.display());
    println!(
        "\n== your turn: the snapshots stay in place; from this repository run\n\
         \x20 cargo run --release -p turbowish-snap -- diff {a} {b}\n\
         \x20 cargo run --release -p turbowish-snap -- leaks {b} --baseline {a}\n\
         \x20 cargo run --release -p turbowish-snap -- bloat {b}\n\
         \x20 cargo run --release -p turbowish-snap -- tasks {b} --sort retained\n\
         \x20 cargo run --release -p turbowish-snap -- retainers --type 'Vec<u8>' {b}\n\
         \x20 cargo run --release -p turbowish-snap -- waits {b} --all\n\
         \x20 cargo run --release -p turbowish-snap -- flamegraph {a} {b} -o growth.svg\n\
         (or `cargo install --path turbowish-snap` once, then `turbowish diff ...`)"
    );
}

/// `arg` as a shell word: quoted when it holds anything but plain
/// characters (`Vec<u8>` would be a redirection).
fn shell_quote(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:=,".contains(c);
    if !arg.is_empty() && arg.chars().all(plain) {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// Runs cargo in the workspace; its standard output, or an error with its
/// standard error.
fn cargo(args: &[&str]) -> io::Result<String> {
    let out = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(workspace())
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "cargo {} failed:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn workspace() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir.parent().unwrap_or(crate_dir).to_owned()
}
