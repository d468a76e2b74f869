//! What TurboWish costs a real service: the demo key-value server
//! (`turbowish-demo`, no faults) under a fixed loopback load, measured as
//! **server CPU time per request**.
//!
//! | variant      | the server's allocator                                   |
//! |--------------|----------------------------------------------------------|
//! | `system`     | `std::alloc::System` (the baseline)                      |
//! | `tw-off`     | `TurboWish::system()`, `TURBOWISH_STACK=off`             |
//! | `tw-fp`      | `TurboWish::system()`, `TURBOWISH_STACK=fp`, depth 32    |
//! | `tw-sampled` | `TurboWish::system()`, `TURBOWISH_STACK=sampled` (optional) |
//!
//! # How
//!
//! The server runs in a child process, this executable re-run with the
//! variant's environment, whose global allocator is chosen from it
//! (`common/dispatch.rs`; the child first checks it runs what it was asked
//! for, dispatch rule 2). The child runs `turbowish_demo::server::run`, the
//! code `turbowish-kv` runs (2 tokio workers, one traced task per
//! connection), and answers one command of its own on standard input:
//! `cpu` prints the process's CPU time so far (user + system, all threads,
//! from `getrusage`) and, for the TurboWish variants, the number of blocks
//! TurboWish has tracked. Closing its standard input stops it.
//!
//! The load generator runs in this (parent) process, on plain threads, and
//! is not counted: [`FULL`] connections of [`Load::requests`] requests each,
//! [`Load::concurrency`] at a time, each request waiting for its reply. Each
//! connection works on 16 keys of its own: 40% `SET` with values of 200 to
//! 400 bytes, 50% `GET`, 10% `DEL`, in an order fixed by the connection's
//! number, so every variant serves the same requests; every reply is checked
//! against a model of the connection's keys. A warm-up load, not measured,
//! comes first (so malloc arenas, TurboWish's table and the store reach
//! their steady size). Then:
//!
//! 1. `cpu` (the start mark);
//! 2. the load;
//! 3. a control connection asks `STATS` until the server counts it as the
//!    only open connection (every connection of the load has been handled,
//!    its teardown included), and checks that the server counted exactly
//!    the requests sent;
//! 4. `cpu` again: the figure is the CPU time between the marks divided by
//!    the requests of the load.
//!
//! Every variant runs the same server code, so what the task wrapper
//! (`traced`, measured by the `poll` bench) costs is in every variant, the
//! baseline included: the ratios measure the allocator.
//!
//! # Output
//!
//! Several rounds each run every variant once (a fresh server each time),
//! back to back in rotating order; each variant's CPU per request is divided
//! by the `system` figure of the same round. The table gives the median of
//! those ratios with the min-max range, the median CPU time per request, and
//! the median throughput the load generator saw.
//!
//! # Running
//!
//! `cargo bench -p turbowish --bench service` (about 2 minutes on 2 cores
//! once built, with the three variants of today; `tw-sampled` adds 40 s). `cargo test -p turbowish --bench service` (or `cargo bench
//! ... -- --test`) runs each variant once on [`TINY`], in seconds, with
//! these checks: every reply right; the server counted exactly the requests
//! sent; the child runs the allocator and stack mode asked for and
//! TurboWish warned about nothing; and in the TurboWish variants TurboWish
//! tracked at least one block per request of the load (each request
//! allocates its line and its reply). A variant whose stack mode this build
//! of TurboWish does not know (`sampled`, until it exists) is skipped with a
//! message, never given a figure.

#[path = "common/dispatch.rs"]
mod dispatch;
#[path = "common/rounds.rs"]
mod rounds;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use turbowish_demo::load::Client;
use turbowish_demo::protocol::{Reply, Request, Stats};
use turbowish_demo::{Faults, Options};

// ---------------------------------------------------------------------------
// The load.

/// A fixed load: the same requests in every variant.
#[derive(Debug, Clone, Copy)]
struct Load {
    connections: usize,
    requests: usize,
    /// Connections open at once (one client thread each).
    concurrency: usize,
}

/// 160,000 requests; about 2.5 s under `System` on a 2-core machine.
const FULL: Load = Load {
    connections: 160,
    requests: 1000,
    concurrency: 8,
};
/// For test mode: every path, in a fraction of a second.
const TINY: Load = Load {
    connections: 4,
    requests: 40,
    concurrency: 2,
};

/// Keys per connection.
const KEYS: u64 = 16;

impl Load {
    fn total(&self) -> usize {
        self.connections * self.requests
    }

    /// The unmeasured load before the marks: a quarter of the requests.
    fn warm_up(&self) -> Load {
        Load {
            requests: self.requests / 4,
            ..*self
        }
    }
}

/// xorshift64: cheap and deterministic.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Drives `load` against `addr`; fails on the first wrong reply or error.
fn drive(addr: SocketAddr, load: &Load, tag: &str) -> Result<(), String> {
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..load.concurrency)
            .map(|_| {
                scope.spawn(|| {
                    loop {
                        let conn = next.fetch_add(1, Ordering::Relaxed);
                        if conn >= load.connections {
                            return Ok(());
                        }
                        one_connection(addr, tag, conn, load.requests)?;
                    }
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .unwrap_or_else(|_| Err("a load thread panicked".into()))
        })
    })
}

/// `requests` requests on one connection, each reply checked against the
/// model of its keys (the connection's own, so the model is exact).
fn one_connection(addr: SocketAddr, tag: &str, conn: usize, requests: usize) -> Result<(), String> {
    let mut client = Client::connect(addr).map_err(|e| format!("connect: {e}"))?;
    let mut model: Vec<Option<String>> = vec![None; KEYS as usize];
    let mut rng = Rng::new(conn as u64 + 1);
    for i in 0..requests {
        let k = rng.next() % KEYS;
        let key = format!("{tag}-c{conn}-k{k}");
        let slot = &mut model[k as usize];
        let (request, want) = match i % 10 {
            0..=3 => {
                let value = value(&mut rng, conn, i);
                *slot = Some(value.clone());
                let set = Request::Set {
                    key,
                    value,
                    ttl: None,
                };
                (set, Reply::Ok)
            }
            4..=8 => {
                let want = slot.clone().map_or(Reply::Nil, Reply::Value);
                (Request::Get { key }, want)
            }
            _ => (
                Request::Del { key },
                Reply::Int(u64::from(slot.take().is_some())),
            ),
        };
        match client.call(&request) {
            Ok(reply) if reply == want => {}
            Ok(reply) => return Err(format!("{request} answered {reply}, want {want}")),
            Err(e) => return Err(format!("{request}: {e}")),
        }
    }
    Ok(())
}

/// 200 to 400 letters, different for every request.
fn value(rng: &mut Rng, conn: usize, i: usize) -> String {
    let len = 200 + (rng.next() % 201) as usize;
    let seed = conn * 7 + i;
    (0..len)
        .map(|j| char::from(b'a' + ((seed + j) % 26) as u8))
        .collect()
}

/// Waits until the server counts `client`'s connection as its only one
/// (every other one handled and closed). Returns its counters and how many
/// `STATS` requests that took.
fn settle(client: &mut Client) -> Result<(Stats, usize), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut calls = 0;
    loop {
        calls += 1;
        let stats = client.stats().map_err(|e| format!("STATS: {e}"))?;
        if stats.active == 1 {
            return Ok((stats, calls));
        }
        if Instant::now() > deadline {
            return Err(format!("{} connections still open", stats.active - 1));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

// ---------------------------------------------------------------------------
// The child: the server, and its `cpu` command.

fn child_main() {
    if let Err(e) = dispatch::check_child() {
        e.exit("service child");
    }
    std::thread::spawn(control);
    let options = Options {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        faults: Faults::default(),
        // Standard input is ours (`control`), which stops the server.
        stop_on_stdin_eof: false,
    };
    if let Err(e) = turbowish_demo::server::run(&options) {
        eprintln!("service child: {e}");
        std::process::exit(1);
    }
}

/// Answers `cpu` lines on standard input; at its end, stops the server
/// (SIGTERM, which the server handles).
fn control() {
    for line in std::io::stdin().lock().lines() {
        match line.as_deref().map(str::trim) {
            Ok("cpu") => println!("cpu {} {}", cpu_nanos(), tracked()),
            Ok(other) => eprintln!("service child: unknown command {other:?}"),
            Err(_) => break,
        }
    }
    let _ = turbowish_demo::driver::send_signal(std::process::id(), libc::SIGTERM);
}

/// User + system CPU time of the whole process so far, in nanoseconds.
fn cpu_nanos() -> u128 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` is a valid, writable `rusage`; getrusage fills it.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let nanos = |t: libc::timeval| t.tv_sec as u128 * 1_000_000_000 + t.tv_usec as u128 * 1_000;
    nanos(usage.ru_utime) + nanos(usage.ru_stime)
}

/// Blocks TurboWish has tracked so far, or `-` when it is not the allocator.
fn tracked() -> String {
    if dispatch::mode().tracks() {
        turbowish::stats().total_blocks.to_string()
    } else {
        "-".into()
    }
}

// ---------------------------------------------------------------------------
// The parent: one server per variant and round.

struct Variant {
    name: &'static str,
    /// `TW_BENCH_ALLOC` (see `common/dispatch.rs`).
    alloc: &'static str,
    /// `TURBOWISH_STACK`.
    stack: &'static str,
    /// Skipped, with a message, when this build of TurboWish does not know
    /// its stack mode.
    optional: bool,
}

/// The first is the baseline.
const VARIANTS: [Variant; 4] = [
    Variant {
        name: "system",
        alloc: "system",
        stack: "off",
        optional: false,
    },
    Variant {
        name: "tw-off",
        alloc: "turbowish",
        stack: "off",
        optional: false,
    },
    Variant {
        name: "tw-fp",
        alloc: "turbowish",
        stack: "fp",
        optional: false,
    },
    Variant {
        name: "tw-sampled",
        alloc: "turbowish",
        stack: "sampled",
        optional: true,
    },
];

/// Interleaved rounds.
const ROUNDS: usize = 9;
/// How long a server may take to start or to answer `cpu`.
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

/// A server child. Dropping it kills the process.
struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    stderr: Option<JoinHandle<String>>,
    addr: SocketAddr,
}

/// What `cpu` answered.
struct Mark {
    cpu: Duration,
    tracked: Option<u64>,
}

impl Server {
    /// Starts `v`'s server and reads its address. `Err` (with the reason)
    /// when it does not support `v`'s stack mode; panics on anything else.
    fn start(v: &Variant) -> Result<Server, String> {
        let exe = std::env::current_exe()
            .unwrap_or_else(|e| panic!("cannot find this executable to re-run it: {e}"));
        let mut cmd = Command::new(exe);
        dispatch::configure(&mut cmd, v.alloc, v.stack);
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the {} server: {e}", v.name));
        let stdin = child.stdin.take();
        let lines = forward_lines(child.stdout.take().expect("piped stdout"));
        let mut err = child.stderr.take().expect("piped stderr");
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        let mut server = Server {
            child,
            stdin,
            lines,
            stderr: Some(stderr),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        match server.line() {
            Some(l) => server.addr = parse_addr(&l),
            None => return Err(server.failed(v)),
        }
        Ok(server)
    }

    /// The next line of the server's output; `None` once it has closed it.
    fn line(&self) -> Option<String> {
        match self.lines.recv_timeout(CHILD_TIMEOUT) {
            Ok(line) => Some(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("the server said nothing in 60 s"),
        }
    }

    /// The reason the server stopped before its address, if it is an
    /// unsupported stack mode; panics otherwise.
    fn failed(mut self, v: &Variant) -> String {
        let status = self.child.wait().expect("waiting for the server");
        let stderr = self.stderr.take().map(|h| h.join().unwrap_or_default());
        let stderr = stderr.unwrap_or_default();
        if status.code() == Some(dispatch::UNSUPPORTED_EXIT) {
            return stderr.trim().to_owned();
        }
        panic!("the {} server exited ({status}):\n{stderr}", v.name)
    }

    /// The server's CPU time and tracked blocks now.
    fn mark(&mut self) -> Mark {
        let stdin = self.stdin.as_mut().expect("the server's stdin is open");
        stdin
            .write_all(b"cpu\n")
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|e| panic!("writing to the server: {e}"));
        let line = self.line().expect("the server answered `cpu`");
        parse_mark(&line).unwrap_or_else(|| panic!("the server answered {line:?} to `cpu`"))
    }

    /// Stops the server (end of its input) and returns its stderr; panics
    /// unless it exits cleanly within [`CHILD_TIMEOUT`].
    fn stop(mut self) -> String {
        drop(self.stdin.take());
        let deadline = Instant::now() + CHILD_TIMEOUT;
        let status = loop {
            match self.child.try_wait().expect("waiting for the server") {
                Some(status) => break status,
                None if Instant::now() > deadline => panic!("the server did not stop"),
                None => std::thread::sleep(Duration::from_millis(5)),
            }
        };
        let stderr = self.stderr.take().map(|h| h.join().unwrap_or_default());
        let stderr = stderr.unwrap_or_default();
        assert!(status.success(), "the server exited ({status}):\n{stderr}");
        stderr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Forwards the lines of `out` to a channel, on a thread of its own.
fn forward_lines(out: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

fn parse_addr(line: &str) -> SocketAddr {
    let addr = line.trim().strip_prefix("listening on ");
    addr.and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("expected `listening on ADDR`, got {line:?}"))
}

fn parse_mark(line: &str) -> Option<Mark> {
    let mut words = line.strip_prefix("cpu ")?.split_whitespace();
    let nanos: u64 = words.next()?.parse().ok()?;
    let tracked = match words.next()? {
        "-" => None,
        n => Some(n.parse().ok()?),
    };
    Some(Mark {
        cpu: Duration::from_nanos(nanos),
        tracked,
    })
}

/// One measured run of a variant.
struct Run {
    /// Server CPU time per request of the load.
    cpu_per_request: Duration,
    /// Requests per second the load generator saw.
    throughput: f64,
}

/// Runs `v` on a fresh server under `load`, with every check. `Err` when the
/// variant's stack mode is unsupported.
fn run_variant(v: &Variant, load: &Load) -> Result<Run, String> {
    let mut server = Server::start(v)?;
    let fail = |what: &str, e: String| -> ! { panic!("{}: {what}: {e}", v.name) };
    let warm = load.warm_up();
    drive(server.addr, &warm, "warm").unwrap_or_else(|e| fail("warm-up", e));
    let mut control =
        Client::connect(server.addr).unwrap_or_else(|e| fail("connect", e.to_string()));
    let start = server.mark();
    let started = Instant::now();
    drive(server.addr, load, "load").unwrap_or_else(|e| fail("load", e));
    let wall = started.elapsed();
    let (stats, calls) = settle(&mut control).unwrap_or_else(|e| fail("settling", e));
    let end = server.mark();
    let sent = warm.total() + load.total() + calls;
    assert_eq!(
        stats.requests, sent as u64,
        "{}: requests the server counted",
        v.name
    );
    check_tracked(v, &start, &end, load.total());
    drop(control);
    let stderr = server.stop();
    if let Some(line) = dispatch::rejected_setting(&stderr) {
        panic!("{}: TurboWish rejected a setting: {line}", v.name);
    }
    Ok(Run {
        cpu_per_request: (end.cpu - start.cpu) / load.total() as u32,
        throughput: load.total() as f64 / wall.as_secs_f64(),
    })
}

/// TurboWish variants tracked at least a block per request; the others
/// report no tracking at all.
fn check_tracked(v: &Variant, start: &Mark, end: &Mark, requests: usize) {
    let tracks = v.alloc.starts_with("turbowish");
    match (start.tracked, end.tracked) {
        (Some(a), Some(b)) if tracks => assert!(
            b - a >= requests as u64,
            "{}: TurboWish tracked {} blocks for {requests} requests",
            v.name,
            b - a
        ),
        (None, None) if !tracks => {}
        other => panic!("{}: tracked blocks {other:?}", v.name),
    }
}

/// The variants this build supports: an optional one whose stack mode is
/// unknown is left out, with a message (never a figure).
fn usable_variants() -> Vec<&'static Variant> {
    VARIANTS
        .iter()
        .filter(|v| {
            if !v.optional {
                return true;
            }
            let probe = run_variant(v, &TINY);
            if let Err(why) = &probe {
                println!("service: skipping {}: {why}", v.name);
            }
            probe.is_ok()
        })
        .collect()
}

fn print_table(variants: &[&Variant], cpu_us: &[Vec<f64>], rps: &[Vec<f64>], load: &Load) {
    let rounds = cpu_us[0].len();
    println!(
        "\nserver CPU time per request, ratio to {} of the same round (median and min-max of \
         {rounds} interleaved rounds; {} connections x {} requests, {} at a time)",
        variants[0].name, load.connections, load.requests, load.concurrency
    );
    println!(
        "  {:<11} {:<18} {:>12} {:>12}",
        "variant", "ratio", "CPU/request", "requests/s"
    );
    for (i, v) in variants.iter().enumerate() {
        let cell = if i == 0 {
            String::new()
        } else {
            rounds::ratio_cell(&rounds::ratios(&cpu_us[i], &cpu_us[0]))
        };
        let (us, _, _) = rounds::summary(&cpu_us[i]);
        let (r, _, _) = rounds::summary(&rps[i]);
        println!("  {:<11} {cell:<18} {:>9.2} us {r:>12.0}", v.name, us);
    }
}

fn main() {
    if std::env::var_os(dispatch::CHILD_VAR).is_some() {
        return child_main();
    }
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let tiny = rounds::test_mode(&args);
    let (load, rounds) = if tiny { (TINY, 1) } else { (FULL, ROUNDS) };
    let variants = usable_variants();
    let mut rps = vec![Vec::new(); variants.len()];
    let cpu_us = rounds::interleave(rounds, variants.len(), |i| {
        let v = variants[i];
        let run = run_variant(v, &load).unwrap_or_else(|why| panic!("{}: {why}", v.name));
        rps[i].push(run.throughput);
        run.cpu_per_request.as_secs_f64() * 1e6
    });
    print_table(&variants, &cpu_us, &rps, &load);
    if tiny {
        println!(
            "service: {} variants checked (test mode: the figures mean nothing)",
            variants.len()
        );
    }
}
