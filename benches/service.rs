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
//! Each variant's server runs in a child process, this executable re-run
//! with the variant's environment, whose global allocator is chosen from it
//! (`common/dispatch.rs`; the child first checks it runs what it was asked
//! for, dispatch rule 2). The child runs `turbowish_demo::server::run`, the
//! code `turbowish-kv` runs (2 tokio workers, one traced task per
//! connection), and answers one command of its own on standard input:
//! `cpu` prints the process's CPU time so far (user + system, all threads,
//! from `getrusage`) and, for the TurboWish variants, the number of blocks
//! TurboWish has tracked. Closing its standard input stops it.
//!
//! The load generator runs in this (parent) process, on plain threads, and
//! is not counted. The load is cut into slices ([`SLICE`]): a slice is
//! [`Load::connections`] connections of [`Load::requests`] requests each, all
//! at once, each request waiting for its reply. Each connection works on 16
//! keys of its own: 40% `SET` with values of 200 to 400 bytes, 50% `GET`,
//! 10% `DEL`, in an order fixed by the connection's number, so every
//! variant serves the same requests; every reply is checked against a model
//! of the connection's keys.
//!
//! All the servers run side by side for the whole bench. Each first gets
//! one slice, not measured (so malloc arenas, TurboWish's table and the
//! store reach their steady size). Then [`ROUNDS`] rounds each give every
//! server one slice, in an order that rotates between rounds, so that the
//! machine's drift (other processes) falls on every variant alike. A slice
//! on one server is measured so:
//!
//! 1. `cpu` (the start mark);
//! 2. the slice;
//! 3. a control connection asks `STATS` until the server counts it as the
//!    only open connection (every connection of the slice has been handled,
//!    its teardown included), and checks that the server counted exactly
//!    the requests sent to it so far;
//! 4. `cpu` again: the figure is the CPU time between the marks divided by
//!    the requests of the slice.
//!
//! A server waiting for its next slice only runs its expiry task (a timer
//! every 50 ms), which the marks leave out. Every variant runs the same
//! server code, so what the task wrapper (`traced`, measured by the `poll`
//! bench) costs is in every variant, the baseline included: the ratios
//! measure the allocator.
//!
//! # Output
//!
//! Each variant's CPU per request is divided by the `system` figure of the
//! same round. The table gives the median of those ratios with the min-max
//! range and the range of the middle half; the pooled ratio (the variant's
//! CPU time over all rounds divided by the baseline's, less sensitive to
//! single slices); the median CPU time per request; and the median
//! throughput the load generator saw. On a shared 2-core machine single
//! slices vary by tens of percent either way (how requests batch depends on
//! what else runs), so only the median and pooled figures resolve a few
//! percent.
//!
//! # Running
//!
//! `cargo bench -p turbowish --bench service` (about 1.5 minutes on 2
//! cores once built, with three variants). `cargo test -p turbowish --bench service` (or `cargo bench
//! ... -- --test`) runs two rounds of [`TINY`] slices, in a second, with
//! these checks: every reply right; each server counted exactly the
//! requests sent to it; each child runs the allocator and stack mode asked
//! for and TurboWish warned about nothing; and in the TurboWish variants
//! TurboWish tracked at least one block per request of each slice (each
//! request allocates its line and its reply). A variant whose stack mode
//! this build of TurboWish does not know (`sampled`, until it exists) is
//! skipped with a message, never given a figure.

#[path = "common/dispatch.rs"]
mod dispatch;
#[path = "common/rng.rs"]
mod rng;
use rng::Rng;
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

/// One slice: 20,000 requests, about 0.3 s on a 2-core machine.
const SLICE: Load = Load {
    connections: 8,
    requests: 2500,
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
// The parent: one server per variant, for the whole bench.

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

/// Interleaved rounds: one measured slice per server in each.
const ROUNDS: usize = 80;
/// How long a server may take to start or to answer `cpu`.
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

/// A server child. Dropping it kills the process.
struct Server {
    variant: &'static Variant,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    stderr: Option<JoinHandle<String>>,
    addr: SocketAddr,
    /// Slices driven so far (each has keys of its own).
    slices: usize,
    /// Requests sent so far, control requests included.
    sent: u64,
}

/// What `cpu` answered.
struct Mark {
    cpu: Duration,
    tracked: Option<u64>,
}

impl Server {
    /// Starts `v`'s server and reads its address. `Err` (with the reason)
    /// when it does not support `v`'s stack mode; panics on anything else.
    fn start(v: &'static Variant) -> Result<Server, String> {
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
            variant: v,
            child,
            stdin,
            lines,
            stderr: Some(stderr),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            slices: 0,
            sent: 0,
        };
        match server.line() {
            Some(l) => server.addr = parse_addr(&l),
            None => return Err(server.failed()),
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
    fn failed(mut self) -> String {
        let status = self.child.wait().expect("waiting for the server");
        let stderr = self.stderr.take().map(|h| h.join().unwrap_or_default());
        let stderr = stderr.unwrap_or_default();
        if status.code() == Some(dispatch::UNSUPPORTED_EXIT) {
            return stderr.trim().to_owned();
        }
        panic!(
            "the {} server exited ({status}):\n{stderr}",
            self.variant.name
        )
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

    /// Drives one slice of `load` and checks that the server served it all:
    /// every reply right, and the server's request count exact once every
    /// connection of the slice is closed.
    fn slice(&mut self, load: &Load, control: &mut Client) {
        let name = self.variant.name;
        self.slices += 1;
        let tag = format!("s{}", self.slices);
        drive(self.addr, load, &tag).unwrap_or_else(|e| panic!("{name}: slice {tag}: {e}"));
        let (stats, calls) = settle(control).unwrap_or_else(|e| panic!("{name}: {e}"));
        self.sent += (load.total() + calls) as u64;
        assert_eq!(stats.requests, self.sent, "{name}: requests counted");
    }

    /// Stops the server (end of its input) and checks it exited cleanly,
    /// with no warning from TurboWish, within [`CHILD_TIMEOUT`].
    fn stop(mut self) {
        let name = self.variant.name;
        drop(self.stdin.take());
        let deadline = Instant::now() + CHILD_TIMEOUT;
        let status = loop {
            match self.child.try_wait().expect("waiting for the server") {
                Some(status) => break status,
                None if Instant::now() > deadline => panic!("{name}: the server did not stop"),
                None => std::thread::sleep(Duration::from_millis(5)),
            }
        };
        let stderr = self.stderr.take().map(|h| h.join().unwrap_or_default());
        let stderr = stderr.unwrap_or_default();
        assert!(status.success(), "{name}: exited ({status}):\n{stderr}");
        if let Some(line) = dispatch::rejected_setting(&stderr) {
            panic!("{name}: TurboWish rejected a setting: {line}");
        }
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

/// A server with its control connection, ready for measured slices.
struct Measured {
    server: Server,
    control: Client,
    /// CPU microseconds per request, and requests per second, per slice.
    cpu_us: Vec<f64>,
    rps: Vec<f64>,
}

impl Measured {
    /// Starts `v`'s server and gives it its warm-up slice; `None` (with a
    /// message) when its stack mode is unsupported.
    fn start(v: &'static Variant, load: &Load) -> Option<Measured> {
        let mut server = match Server::start(v) {
            Ok(server) => server,
            Err(why) => {
                println!("service: skipping {}: {why}", v.name);
                return None;
            }
        };
        let mut control = Client::connect(server.addr)
            .unwrap_or_else(|e| panic!("{}: control connection: {e}", v.name));
        server.slice(load, &mut control);
        Some(Measured {
            server,
            control,
            cpu_us: Vec::new(),
            rps: Vec::new(),
        })
    }

    /// One measured slice; returns its CPU microseconds per request.
    fn measure(&mut self, load: &Load) -> f64 {
        let start = self.server.mark();
        let started = Instant::now();
        self.server.slice(load, &mut self.control);
        let wall = started.elapsed();
        let end = self.server.mark();
        check_tracked(self.server.variant, &start, &end, load.total());
        let us = (end.cpu - start.cpu).as_secs_f64() * 1e6 / load.total() as f64;
        self.cpu_us.push(us);
        self.rps.push(load.total() as f64 / wall.as_secs_f64());
        us
    }
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

fn print_table(servers: &[Measured], load: &Load) {
    let base = &servers[0].cpu_us;
    println!(
        "\nserver CPU time per request, ratio to {} of the same round (median, min-max and \
         middle half of {} interleaved rounds; pooled: all rounds' CPU time over the \
         baseline's; slices of {} connections x {} requests)",
        servers[0].server.variant.name,
        base.len(),
        load.connections,
        load.requests
    );
    println!(
        "  {:<11} {:<18} {:>11} {:>6} {:>12} {:>11}",
        "variant", "ratio (min-max)", "middle half", "pooled", "CPU/request", "requests/s"
    );
    for (i, m) in servers.iter().enumerate() {
        let (us, _, _) = rounds::summary(&m.cpu_us);
        let (rps, _, _) = rounds::summary(&m.rps);
        let ratios = rounds::ratios(&m.cpu_us, base);
        let (q1, q3) = (
            rounds::quantile(&ratios, 0.25),
            rounds::quantile(&ratios, 0.75),
        );
        let [ratio, half, pooled] = if i == 0 {
            [String::new(), String::new(), String::new()]
        } else {
            let r = rounds::ratio;
            let pooled = mean(&m.cpu_us) / mean(base);
            [
                rounds::ratio_cell(&ratios),
                format!("{}-{}", r(q1), r(q3)),
                r(pooled),
            ]
        };
        let name = m.server.variant.name;
        println!("  {name:<11} {ratio:<18} {half:>11} {pooled:>6} {us:>9.2} us {rps:>11.0}");
    }
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
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
    let (load, rounds) = if tiny { (TINY, 2) } else { (SLICE, ROUNDS) };
    let mut servers: Vec<Measured> = VARIANTS
        .iter()
        .filter_map(|v| match Measured::start(v, &load) {
            None if !v.optional => panic!("{} is not optional", v.name),
            started => started,
        })
        .collect();
    rounds::interleave(rounds, servers.len(), |i| servers[i].measure(&load));
    print_table(&servers, &load);
    let n = servers.len();
    for m in servers {
        m.server.stop();
    }
    if tiny {
        println!("service: {n} variants checked (test mode: the figures mean nothing)");
    }
}
