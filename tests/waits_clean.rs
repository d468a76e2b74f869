//! Waiting is not being stuck: plain `tokio::spawn` tasks that wait on
//! something a live root can still wake. Tasks awaiting oneshot receivers
//! whose senders a static holds, a task sleeping for an hour (the timer
//! wheel), a task awaiting a socket's `accept` and one awaiting data on a
//! connection (the I/O driver: an intrusive waiter, a stored `Waker`):
//! `turbowish waits` finds none of them stuck, and with `--all` gives each a
//! wake path from a live root.

mod common;

use common::waits::*;
use serde_json::Value;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::oneshot;
use turbowish::TurboWish;

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

const FILE: &str = "tests/waits_clean.rs";
const WAITERS: usize = 10;

/// The senders the waiters await: a static keeps them, so someone may yet
/// send.
static PARKED: Mutex<Vec<oneshot::Sender<()>>> = Mutex::new(Vec::new());
/// Tasks that have started.
static STARTED: AtomicUsize = AtomicUsize::new(0);

/// The spawn lines of the four kinds of tasks, and the client end of the
/// reader's connection (kept open: the reader may yet get data).
struct Lines {
    waiter: u32,
    sleeper: u32,
    acceptor: u32,
    reader: u32,
    client: std::net::TcpStream,
}

/// Spawns the tasks. (On a thread that then ends, see `common::waits`: no
/// stale word makes a task look wakeable, each must be found through its
/// real waker.)
fn setup() -> Lines {
    let waiter = line!() + 4;
    for _ in 0..WAITERS {
        let (tx, rx) = oneshot::channel::<()>();
        PARKED.lock().unwrap().push(tx);
        drop(tokio::spawn(started(async move { drop(rx.await) })));
    }
    let sleeper = line!() + 1;
    drop(tokio::spawn(started(tokio::time::sleep(HOUR))));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    let acceptor = line!() + 1;
    drop(tokio::spawn(started(async move {
        drop(listener.accept().await)
    })));
    let (client, server) = connected_pair();
    let reader = line!() + 1;
    drop(tokio::spawn(started(std::future::poll_fn(move |cx| {
        server.poll_read_ready(cx).map(drop)
    }))));
    Lines {
        waiter,
        sleeper,
        acceptor,
        reader,
        client,
    }
}

/// Both ends of a loopback TCP connection; the server's as tokio's.
fn connected_pair() -> (std::net::TcpStream, tokio::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    server.set_nonblocking(true).unwrap();
    (client, tokio::net::TcpStream::from_std(server).unwrap())
}

const HOUR: Duration = Duration::from_secs(3600);

/// `f`, counted in [`STARTED`] when first polled.
async fn started<F: Future<Output = ()>>(f: F) {
    STARTED.fetch_add(1, Ordering::SeqCst);
    f.await;
}

#[test]
fn tasks_a_live_root_can_wake_are_not_stuck() {
    let (rt, lines) = park(setup, || STARTED.load(Ordering::SeqCst) == WAITERS + 3);
    let path = snapshot_path("waits-clean");
    let counts = [
        (lines.waiter, WAITERS),
        (lines.sleeper, 1),
        (lines.acceptor, 1),
        (lines.reader, 1),
    ];
    let s = snapshot_parked(&path, FILE, &counts);

    let v = waits(&path, &[]);
    assert!(stuck(&v).is_empty(), "nothing stuck: {v:#}");
    assert!(cycles(&v).is_empty(), "{v:#}");

    // With --all, every one of them has a wake path from a live root.
    let all = waits(&path, &["--all"]);
    let wakeable: std::collections::HashMap<u64, &Value> = (all["wakeable"].as_array())
        .unwrap_or_else(|| panic!("no wakeable list: {all:#}"))
        .iter()
        .map(|t| (id(t), t))
        .collect();
    for (line, _) in counts {
        for task in ids_at(&s, FILE, line) {
            let t = wakeable
                .get(&task)
                .unwrap_or_else(|| panic!("task {task} (line {line}) wakeable: {all:#}"));
            assert_task_object(t, "tokio", &format!("{FILE}:{line}"), "pending");
            let path = t["wake_path"].as_array().unwrap();
            assert!(!path.is_empty(), "{t:#}");
        }
    }
    // The waiters' path starts at the static that keeps their senders.
    for task in ids_at(&s, FILE, lines.waiter) {
        let first = &wakeable[&task]["wake_path"][0];
        assert_eq!(first["kind"], "static", "{:#}", wakeable[&task]);
        let holder = first["holder"].as_str().unwrap();
        assert!(holder.contains("PARKED"), "{:#}", wakeable[&task]);
    }

    drop(lines.client);
    rt.shutdown_background();
    let _ = std::fs::remove_file(&path);
}
