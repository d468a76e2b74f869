//! The client side: a blocking [`Client`], the load generator ([`run`]) and
//! a [`Probe`] that measures latency on a few open connections while
//! something else (a snapshot) happens.
//!
//! The load is bounded (N connections, M requests each) and checked: every
//! reply is compared with what a correct server must answer, and a wrong
//! reply counts as a failure, like an error or a time-out.

use crate::protocol::{Reply, Request, Stats};
use std::collections::HashMap;
use std::fmt;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a client waits for a reply before counting a failure.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// A blocking connection to the server, one request at a time.
#[derive(Debug)]
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    /// Connects to `addr`.
    pub fn connect(addr: SocketAddr) -> io::Result<Client> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
        Ok(Client {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        })
    }

    /// Sends `request` and reads one reply.
    pub fn call(&mut self, request: &Request) -> io::Result<Reply> {
        self.send_line(request.to_string().as_bytes())?;
        self.read_reply()
    }

    /// Sends `line` and a newline: any bytes, for testing malformed input.
    pub fn send_line(&mut self, line: &[u8]) -> io::Result<()> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line);
        bytes.push(b'\n');
        self.writer.write_all(&bytes)
    }

    /// Reads one reply line; an error at end of stream.
    pub fn read_reply(&mut self) -> io::Result<Reply> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.strip_suffix('\n').unwrap_or(&line);
        Reply::parse(line).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// The server's counters.
    pub fn stats(&mut self) -> io::Result<Stats> {
        match self.call(&Request::Stats)? {
            Reply::Stats(s) => Ok(s),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("STATS answered {other}"),
            )),
        }
    }

    /// Waits until the server counts exactly `active` open connections
    /// (this one included): every connection closed before has been fully
    /// handled, so a snapshot taken now sees a settled server.
    pub fn wait_for_active(&mut self, active: u64, timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let stats = self.stats()?;
            if stats.active == active {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{} connections still open, want {active}", stats.active),
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// What load to drive.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Connections to open, each for its own sequence of requests.
    pub connections: usize,
    /// Requests per connection.
    pub requests: usize,
    /// At most this many connections at once.
    pub concurrency: usize,
    /// A pause between a reply and the next request (zero: none).
    pub pause: Duration,
    /// Prefix of every key, so runs never see each other's keys.
    pub tag: String,
}

impl Plan {
    /// `connections` x `requests`, 8 connections at a time, no pause.
    pub fn new(tag: &str, connections: usize, requests: usize) -> Plan {
        Plan {
            connections,
            requests,
            concurrency: 8,
            pause: Duration::ZERO,
            tag: tag.to_owned(),
        }
    }
}

/// One answered request: when it was sent and how long the reply took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// When the request was sent.
    pub sent: Instant,
    /// Time to its reply.
    pub latency: Duration,
}

/// Latency percentiles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    /// Median.
    pub p50: Duration,
    /// 99th percentile (nearest rank).
    pub p99: Duration,
    /// Slowest.
    pub max: Duration,
}

impl Latency {
    /// The percentiles of `samples`; all zero when there are none.
    pub fn of<'a>(samples: impl IntoIterator<Item = &'a Sample>) -> Latency {
        let mut l: Vec<Duration> = samples.into_iter().map(|s| s.latency).collect();
        if l.is_empty() {
            return Latency::default();
        }
        l.sort_unstable();
        let rank = |q: f64| l[((q * l.len() as f64).ceil() as usize).clamp(1, l.len()) - 1];
        Latency {
            p50: rank(0.50),
            p99: rank(0.99),
            max: l[l.len() - 1],
        }
    }
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        write!(
            f,
            "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(self.p50),
            ms(self.p99),
            ms(self.max)
        )
    }
}

/// What a load run saw.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Connections opened.
    pub connections: usize,
    /// Requests answered correctly.
    pub ok: usize,
    /// Requests that failed: an I/O error, a time-out or a wrong reply
    /// (requests never sent because their connection failed count too).
    pub failures: usize,
    /// The first few failures, described.
    pub errors: Vec<String>,
    /// Every correctly answered request.
    pub samples: Vec<Sample>,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl Report {
    /// Latency over every correct reply.
    pub fn latency(&self) -> Latency {
        Latency::of(&self.samples)
    }

    /// Latency of the requests sent between `from` and `to`, and how many.
    pub fn latency_between(&self, from: Instant, to: Instant) -> (usize, Latency) {
        let during: Vec<&Sample> = self
            .samples
            .iter()
            .filter(|s| s.sent >= from && s.sent <= to)
            .collect();
        (during.len(), Latency::of(during))
    }

    fn merge(&mut self, other: Report) {
        self.connections += other.connections;
        self.ok += other.ok;
        self.failures += other.failures;
        let room = 5usize.saturating_sub(self.errors.len());
        self.errors.extend(other.errors.into_iter().take(room));
        self.samples.extend(other.samples);
    }

    fn fail(&mut self, requests: usize, why: String) {
        self.failures += requests;
        if self.errors.len() < 5 {
            self.errors.push(why);
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} requests on {} connections in {:.2} s, {} failed; latency {}",
            self.ok + self.failures,
            self.connections,
            self.elapsed.as_secs_f64(),
            self.failures,
            self.latency()
        )?;
        for e in &self.errors {
            write!(f, "\n  failure: {e}")?;
        }
        Ok(())
    }
}

/// Drives `plan` against the server at `addr`, on plain threads (one per
/// concurrent connection), and reports. Never panics on a bad server: every
/// problem is a counted failure.
pub fn run(addr: SocketAddr, plan: &Plan) -> Report {
    let start = Instant::now();
    let next = AtomicUsize::new(0);
    let workers = plan.concurrency.clamp(1, plan.connections.max(1));
    let mut report = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Report::default();
                    loop {
                        let conn = next.fetch_add(1, Ordering::Relaxed);
                        if conn >= plan.connections {
                            return mine;
                        }
                        mine.merge(one_connection(addr, plan, conn));
                    }
                })
            })
            .collect();
        let mut all = Report::default();
        for h in handles {
            match h.join() {
                Ok(r) => all.merge(r),
                Err(_) => all.fail(0, "a load thread panicked".into()),
            }
        }
        all
    });
    report.elapsed = start.elapsed();
    report
}

/// The requests of connection `conn`, checked against a model of its keys
/// (each connection has keys of its own, so the model is exact).
fn one_connection(addr: SocketAddr, plan: &Plan, conn: usize) -> Report {
    let mut report = Report {
        connections: 1,
        ..Report::default()
    };
    let mut client = match Client::connect(addr) {
        Ok(c) => c,
        Err(e) => {
            report.fail(plan.requests, format!("connection {conn}: connect: {e}"));
            return report;
        }
    };
    let mut model: HashMap<String, String> = HashMap::new();
    for i in 0..plan.requests {
        if i > 0 && !plan.pause.is_zero() {
            std::thread::sleep(plan.pause);
        }
        let (request, check) = script(&plan.tag, conn, i, &mut model);
        let sent = Instant::now();
        let reply = client.call(&request);
        let latency = sent.elapsed();
        match reply {
            Ok(reply) if check.accepts(&reply) => {
                report.ok += 1;
                report.samples.push(Sample { sent, latency });
            }
            Ok(reply) => report.fail(1, format!("{request} answered {reply}, want {check}")),
            Err(e) => {
                let left = plan.requests - i;
                report.fail(left, format!("{request}: {e}"));
                return report;
            }
        }
    }
    let _ = client.call(&Request::Quit);
    report
}

/// What a correct reply is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Check {
    Exactly(Reply),
    AnyInt,
    AnyStats,
}

impl Check {
    fn accepts(&self, reply: &Reply) -> bool {
        match self {
            Check::Exactly(want) => reply == want,
            Check::AnyInt => matches!(reply, Reply::Int(_)),
            Check::AnyStats => matches!(reply, Reply::Stats(s) if s.active >= 1),
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::Exactly(r) => write!(f, "{r}"),
            Check::AnyInt => f.write_str("INT n"),
            Check::AnyStats => f.write_str("STATS with active >= 1"),
        }
    }
}

/// Request `i` of connection `conn`, and what it must be answered with,
/// updating `model` (this connection's keys and values) as the server must.
fn script(
    tag: &str,
    conn: usize,
    i: usize,
    model: &mut HashMap<String, String>,
) -> (Request, Check) {
    let key = format!("{tag}-c{conn}-k{}", i % 8);
    match i % 10 {
        0..=3 => {
            let value = format!("{tag}.{conn}.{i}.{}", "x".repeat(40));
            model.insert(key.clone(), value.clone());
            let request = Request::Set {
                key,
                value,
                ttl: None,
            };
            (request, Check::Exactly(Reply::Ok))
        }
        4..=6 => {
            let want = model
                .get(&key)
                .map_or(Reply::Nil, |v| Reply::Value(v.clone()));
            (Request::Get { key }, Check::Exactly(want))
        }
        7 => {
            let want = Reply::Int(u64::from(model.remove(&key).is_some()));
            (Request::Del { key }, Check::Exactly(want))
        }
        // Short-lived keys that nobody reads again: work for the expiry task.
        8 => {
            let request = Request::Set {
                key: format!("{tag}-c{conn}-session{i}"),
                value: "s".into(),
                ttl: Some(Duration::from_millis(100)),
            };
            (request, Check::Exactly(Reply::Ok))
        }
        // Once per run (connection 0's tenth request, i = 9): a SWAP of two
        // of its keys, rare as in real traffic.
        9 if conn == 0 && i == 9 => {
            let other = format!("{tag}-c{conn}-k{}", (i + 1) % 8);
            let (x, y) = (model.remove(&key), model.remove(&other));
            for (k, v) in [(&key, y), (&other, x)] {
                if let Some(v) = v {
                    model.insert(k.clone(), v);
                }
            }
            let request = Request::Swap { a: key, b: other };
            (request, Check::Exactly(Reply::Ok))
        }
        _ => match (i / 10) % 3 {
            0 => (Request::Ping, Check::Exactly(Reply::Pong)),
            1 => (Request::Stats, Check::AnyStats),
            _ => {
                let request = Request::Publish {
                    channel: format!("{tag}-news"),
                    message: format!("update {conn}.{i}"),
                };
                (request, Check::AnyInt)
            }
        },
    }
}

/// A few open connections that each send `PING` in a loop, measuring every
/// reply, until stopped: how the service answers while a snapshot is taken.
/// Its connections stay open from [`Probe::start`] to [`Probe::stop`].
#[derive(Debug)]
pub struct Probe {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<Report>>,
}

impl Probe {
    /// Opens `connections` connections (all before returning) and starts
    /// pinging on each, pausing `pause` between a reply and the next ping.
    pub fn start(addr: SocketAddr, connections: usize, pause: Duration) -> io::Result<Probe> {
        // Every connection first, so a failure leaves no thread behind.
        let clients = (0..connections)
            .map(|_| {
                let mut client = Client::connect(addr)?;
                client.call(&Request::Ping)?; // connected and served
                Ok(client)
            })
            .collect::<io::Result<Vec<Client>>>()?;
        let stop = Arc::new(AtomicBool::new(false));
        let threads = clients
            .into_iter()
            .map(|client| {
                let stop = stop.clone();
                std::thread::spawn(move || ping_loop(client, &stop, pause))
            })
            .collect();
        Ok(Probe { stop, threads })
    }

    /// Stops pinging, closes the connections and reports.
    pub fn stop(self) -> Report {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Report::default();
        for t in self.threads {
            match t.join() {
                Ok(r) => all.merge(r),
                Err(_) => all.fail(0, "a probe thread panicked".into()),
            }
        }
        all
    }
}

fn ping_loop(mut client: Client, stop: &AtomicBool, pause: Duration) -> Report {
    let start = Instant::now();
    let mut report = Report {
        connections: 1,
        ..Report::default()
    };
    while !stop.load(Ordering::Relaxed) {
        let sent = Instant::now();
        match client.call(&Request::Ping) {
            Ok(Reply::Pong) => {
                report.ok += 1;
                report.samples.push(Sample {
                    sent,
                    latency: sent.elapsed(),
                });
            }
            Ok(other) => report.fail(1, format!("PING answered {other}")),
            Err(e) => {
                report.fail(1, format!("PING: {e}"));
                break;
            }
        }
        std::thread::sleep(pause);
    }
    let _ = client.call(&Request::Quit);
    report.elapsed = start.elapsed();
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(ms: u64) -> Sample {
        Sample {
            sent: Instant::now(),
            latency: Duration::from_millis(ms),
        }
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let samples: Vec<Sample> = (1..=100).map(sample).collect();
        let l = Latency::of(&samples);
        assert_eq!(l.p50, Duration::from_millis(50));
        assert_eq!(l.p99, Duration::from_millis(99));
        assert_eq!(l.max, Duration::from_millis(100));
        assert_eq!(Latency::of(&[]), Latency::default());
        let one = Latency::of(&[sample(7)]);
        assert_eq!(
            (one.p50, one.p99),
            (Duration::from_millis(7), Duration::from_millis(7))
        );
    }

    #[test]
    fn the_script_keeps_its_model_exact() {
        let mut model = HashMap::new();
        let mut sets = 0;
        for i in 0..100 {
            let (request, check) = script("t", 3, i, &mut model);
            if let Request::Set { ttl: None, .. } = request {
                sets += 1;
                assert_eq!(check, Check::Exactly(Reply::Ok));
            }
            if let Request::Get { key } = &request {
                assert!(key.starts_with("t-c3-k"));
            }
        }
        assert_eq!(sets, 40);
        assert!(model.len() <= 8);
    }

    #[test]
    fn connection_0_swaps_once_and_its_model_follows() {
        let mut model = HashMap::new();
        let requests: Vec<Request> = (0..11).map(|i| script("t", 0, i, &mut model).0).collect();
        let swaps: Vec<&Request> = (requests.iter())
            .filter(|r| matches!(r, Request::Swap { .. }))
            .collect();
        assert_eq!(
            swaps,
            [&Request::Swap {
                a: "t-c0-k1".into(),
                b: "t-c0-k2".into()
            }]
        );
        // k1 and k2 were set by requests 1 and 2, swapped by request 9, and
        // request 10 set k2 again.
        assert_eq!(model["t-c0-k1"], format!("t.0.2.{}", "x".repeat(40)));
        assert_eq!(model["t-c0-k2"], format!("t.0.10.{}", "x".repeat(40)));
        let later = (11..200).map(|i| script("t", 0, i, &mut model).0);
        let others = (0..200).map(|i| script("t", 1, i, &mut HashMap::new()).0);
        assert!(
            later
                .chain(others)
                .all(|r| !matches!(r, Request::Swap { .. }))
        );
    }
}
