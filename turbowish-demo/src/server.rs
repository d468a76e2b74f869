//! The TCP server: an accept loop, one traced task per connection, a
//! background expiry task, and broadcast channels for `SUBSCRIBE`/`PUBLISH`.
//!
//! Every task is spawned through TurboWish's task wrapper with a name, so
//! snapshots list them by name and spawn site, and the connection and expiry
//! tasks carry typed roots (the shared state, the store), so snapshots walk
//! what they hold by type.

use crate::faults::{ConnFaults, FaultState, Faults};
use crate::protocol::{MAX_LINE, Reply, Request, Stats};
use crate::store::Store;
use std::collections::HashMap;
use std::future::Future;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use turbowish_alloc::{Trace, TracedExt};

/// How often the expiry task removes expired entries.
pub const EXPIRY_PERIOD: Duration = Duration::from_millis(50);

/// Messages a channel buffers for a slow subscriber before it skips some.
const CHANNEL_CAPACITY: usize = 256;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where to listen (port 0: any free port).
    pub addr: SocketAddr,
    /// The deliberate faults to switch on.
    pub faults: Faults,
    /// Stop when standard input reaches end of file (so a parent that dies
    /// never leaves the server behind).
    pub stop_on_stdin_eof: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            faults: Faults::default(),
            stop_on_stdin_eof: true,
        }
    }
}

/// Runs the server until SIGTERM, SIGINT or (if asked) end of standard
/// input. Prints `listening on ADDR` as the first line on standard output
/// once it accepts connections.
pub fn run(options: &Options) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // Before the address is printed: a driver may signal at once.
        let stop = Shutdown::install(options.stop_on_stdin_eof)?;
        let listener = TcpListener::bind(options.addr).await?;
        let addr = listener.local_addr()?;
        let mut stdout = io::stdout().lock();
        writeln!(stdout, "listening on {addr}")?;
        stdout.flush()?;
        drop(stdout);
        log(&format!("faults on: {:?}", options.faults.names()));
        let why = serve(listener, options.faults, stop.wait()).await;
        log(&format!("stopping: {why}"));
        Ok::<(), io::Error>(())
    })?;
    // Tasks still running (connections, leaked tasks) are dropped with the
    // runtime; nothing waits for them.
    runtime.shutdown_timeout(Duration::from_millis(100));
    Ok(())
}

/// One line on standard error, ignoring errors (a closed stderr must not
/// take the server down).
fn log(line: &str) {
    let _ = writeln!(io::stderr(), "turbowish-kv: {line}");
}

/// State every connection shares; each connection task holds it as its
/// typed root.
#[derive(Debug, Trace)]
pub struct Shared {
    store: Store,
    channels: Mutex<HashMap<String, broadcast::Sender<String>>>,
    counters: Counters,
    faults: FaultState,
}

/// The figures `STATS` reports.
#[derive(Debug, Default, Trace)]
struct Counters {
    connections: AtomicU64,
    active: AtomicU64,
    requests: AtomicU64,
}

/// Counts a connection as active while it lives.
struct Active<'a>(&'a Counters);

impl<'a> Active<'a> {
    fn open(counters: &'a Counters) -> Active<'a> {
        counters.connections.fetch_add(1, Ordering::Relaxed);
        counters.active.fetch_add(1, Ordering::Relaxed);
        Active(counters)
    }
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves connections from `listener` until `shutdown` completes; returns
/// its reason.
pub async fn serve(
    listener: TcpListener,
    faults: Faults,
    shutdown: impl Future<Output = &'static str>,
) -> &'static str {
    let store = Store::new();
    let _named = turbowish_alloc::root("store", store.shared());
    let (stop, stopped) = watch::channel(false);
    expire(store.clone(), stopped)
        .named("expiry")
        .root(store.clone())
        .spawn();
    let shared = Arc::new(Shared {
        faults: FaultState::start(faults, &store),
        store,
        channels: Mutex::default(),
        counters: Counters::default(),
    });
    let why = tokio::select! {
        why = shutdown => why,
        () = accept_loop(&listener, &shared) => "the listener failed",
    };
    let _ = stop.send(true);
    why
}

async fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    let mut next_conn = 0u64;
    loop {
        match listener.accept().await {
            Ok((socket, _peer)) => {
                next_conn += 1;
                let _ = socket.set_nodelay(true);
                serve_conn(socket, shared.clone(), next_conn)
                    .named("conn")
                    .root(shared.clone())
                    .spawn();
            }
            // Out of file descriptors, say: keep serving the connections we
            // have and try again shortly.
            Err(e) => {
                log(&format!("accept failed: {e}"));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Removes expired entries every [`EXPIRY_PERIOD`] until told to stop.
async fn expire(store: Store, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(EXPIRY_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                store.remove_expired(Instant::now());
            }
            _ = stop.changed() => return,
        }
    }
}

/// What the next event on a connection is.
enum Event {
    /// A request line arrived.
    Line(Vec<u8>),
    /// A message for a channel this connection subscribed to.
    Push(Reply),
    /// The client closed the connection (or it failed).
    Closed,
    /// A line longer than [`MAX_LINE`] was skipped.
    TooLong,
}

/// One connection: reads requests, writes replies, forwards subscriptions.
async fn serve_conn(socket: TcpStream, shared: Arc<Shared>, conn: u64) {
    let _active = Active::open(&shared.counters);
    let mut faults = shared.faults.connect(conn);
    let (read, mut write) = socket.into_split();
    let mut reader = LineReader::new(read);
    // Subscription tasks push their messages here; the connection holds a
    // sender, so `recv` never ends while it runs.
    let (push_tx, mut pushes) = mpsc::channel::<Reply>(CHANNEL_CAPACITY);
    let mut subscriptions: Vec<JoinHandle<()>> = Vec::new();
    loop {
        let event = tokio::select! {
            line = reader.next_line() => line,
            Some(push) = pushes.recv() => Event::Push(push),
        };
        let (reply, done) = match event {
            Event::Closed => break,
            Event::TooLong => (
                Reply::Error(format!("request longer than {MAX_LINE} bytes")),
                false,
            ),
            Event::Push(reply) => (reply, false),
            Event::Line(line) => {
                let reply = answer(&line, &shared, &push_tx, &mut subscriptions, &mut faults).await;
                let done = reply == Reply::Bye;
                (reply, done)
            }
        };
        if send(&mut write, &reply).await.is_err() || done {
            break;
        }
    }
    for s in &subscriptions {
        s.abort();
    }
    faults.disconnect();
}

/// Answers one request line.
async fn answer(
    line: &[u8],
    shared: &Shared,
    push_tx: &mpsc::Sender<Reply>,
    subscriptions: &mut Vec<JoinHandle<()>>,
    faults: &mut ConnFaults,
) -> Reply {
    shared.counters.requests.fetch_add(1, Ordering::Relaxed);
    let Ok(line) = std::str::from_utf8(line) else {
        return Reply::Error("request is not UTF-8".into());
    };
    let request = match Request::parse(line) {
        Ok(r) => r,
        Err(e) => return Reply::Error(e.0),
    };
    let reply = match &request {
        Request::Subscribe { channel } => {
            subscriptions.push(subscribe(shared, channel, push_tx.clone()));
            Reply::Subscribed(channel.clone())
        }
        Request::Swap { a, b } => {
            shared.faults.swap(&shared.store, a, b).await;
            Reply::Ok
        }
        other => execute(shared, other),
    };
    faults.request(&request, &reply).await;
    reply
}

/// Executes a request that needs nothing from the connection or the faults.
fn execute(shared: &Shared, request: &Request) -> Reply {
    match request {
        Request::Ping => Reply::Pong,
        Request::Get { key } => shared.store.get(key).map_or(Reply::Nil, Reply::Value),
        Request::Set { key, value, ttl } => {
            shared.store.set(key.clone(), value.clone(), *ttl);
            Reply::Ok
        }
        Request::Del { key } => Reply::Int(u64::from(shared.store.del(key))),
        Request::Publish { channel, message } => Reply::Int(publish(shared, channel, message)),
        Request::Stats => Reply::Stats(Stats {
            keys: shared.store.len() as u64,
            active: shared.counters.active.load(Ordering::Relaxed),
            connections: shared.counters.connections.load(Ordering::Relaxed),
            requests: shared.counters.requests.load(Ordering::Relaxed),
        }),
        Request::Quit => Reply::Bye,
        // Need the connection or a fault: handled by `answer`.
        Request::Subscribe { .. } => Reply::Error("SUBSCRIBE is handled elsewhere".into()),
        Request::Swap { .. } => Reply::Error("SWAP is handled elsewhere".into()),
    }
}

/// Sends `message` to `channel`'s subscribers; how many it reached. A
/// channel nobody listens to any more is forgotten.
fn publish(shared: &Shared, channel: &str, message: &str) -> u64 {
    let mut channels = shared.channels.lock().unwrap_or_else(|e| e.into_inner());
    let Some(sender) = channels.get(channel) else {
        return 0;
    };
    match sender.send(message.to_owned()) {
        Ok(n) => n as u64,
        Err(_) => {
            channels.remove(channel);
            0
        }
    }
}

/// Subscribes to `channel`: a task forwards its messages to the connection
/// until the connection aborts it.
fn subscribe(shared: &Shared, channel: &str, out: mpsc::Sender<Reply>) -> JoinHandle<()> {
    let mut rx = {
        let mut channels = shared.channels.lock().unwrap_or_else(|e| e.into_inner());
        channels
            .entry(channel.to_owned())
            .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0)
            .subscribe()
    };
    let channel = channel.to_owned();
    async move {
        loop {
            let message = match rx.recv().await {
                Ok(message) => message,
                // A slow subscriber misses messages rather than stalling
                // the publishers.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let reply = Reply::Message {
                channel: channel.clone(),
                message,
            };
            if out.send(reply).await.is_err() {
                return;
            }
        }
    }
    .named("subscription")
    .spawn()
}

async fn send(write: &mut OwnedWriteHalf, reply: &Reply) -> io::Result<()> {
    let mut line = reply.to_string();
    line.push('\n');
    write.write_all(line.as_bytes()).await
}

/// Reads request lines of at most [`MAX_LINE`] bytes.
struct LineReader {
    reader: BufReader<OwnedReadHalf>,
    partial: Vec<u8>,
    /// Inside a line found too long: its bytes are dropped up to its end.
    skipping: bool,
}

impl LineReader {
    fn new(read: OwnedReadHalf) -> LineReader {
        LineReader {
            reader: BufReader::new(read),
            partial: Vec::new(),
            skipping: false,
        }
    }

    /// The next line, without its newline. A line over [`MAX_LINE`] bytes
    /// is read to its end without being kept (a client cannot make the
    /// server buffer more) and reported as [`Event::TooLong`].
    ///
    /// Cancel-safe: the only await is `fill_buf`, and the state of a line
    /// half read stays in `self`, so it can race a subscription message in
    /// `select!`.
    async fn next_line(&mut self) -> Event {
        loop {
            let available = match self.reader.fill_buf().await {
                Ok([]) | Err(_) => return Event::Closed,
                Ok(bytes) => bytes,
            };
            let (take, line_end) = match available.iter().position(|&b| b == b'\n') {
                Some(at) => (at, true),
                None => (available.len(), false),
            };
            if !self.skipping {
                self.partial.extend_from_slice(&available[..take]);
            }
            self.reader.consume(take + usize::from(line_end));
            if self.partial.len() > MAX_LINE {
                self.partial = Vec::new();
                self.skipping = true;
            }
            if line_end {
                if std::mem::take(&mut self.skipping) {
                    return Event::TooLong;
                }
                return Event::Line(std::mem::take(&mut self.partial));
            }
        }
    }
}

/// What stops the server: SIGTERM, SIGINT, or (if watched) the end of
/// standard input. Installed before the server announces its address, so a
/// signal sent right after is never missed.
struct Shutdown {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    stdin_closed: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl Shutdown {
    fn install(watch_stdin: bool) -> io::Result<Shutdown> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Shutdown {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            stdin_closed: if watch_stdin {
                Some(watch_stdin_eof()?)
            } else {
                None
            },
        })
    }

    /// Completes with the reason to stop.
    async fn wait(mut self) -> &'static str {
        let stdin_closed = async {
            match self.stdin_closed {
                // An error means the watcher is gone: end of input too.
                Some(rx) => drop(rx.await),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
            () = stdin_closed => "end of standard input",
        }
    }
}

/// A receiver that completes when standard input reaches end of file (or
/// fails). A plain thread reads it: a tokio blocking task would hold up
/// runtime shutdown.
fn watch_stdin_eof() -> io::Result<tokio::sync::oneshot::Receiver<()>> {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("stdin-watch".into())
        .spawn(move || {
            use std::io::Read;
            let mut buf = [0u8; 512];
            let mut stdin = io::stdin();
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            let _ = tx.send(());
        })?;
    Ok(rx)
}
