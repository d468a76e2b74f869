//! The deliberate faults, each a memory pattern real async services hit,
//! each behind a command-line flag of `turbowish-kv`.
//!
//! | flag | what goes wrong | what TurboWish shows |
//! |------|-----------------|----------------------|
//! | `--leak-tasks` | every connection starts a `push-waiter` task holding a 64 KiB buffer, waiting for a push whose sender is parked in a global list and never used | `diff`: the spawn site's task count grows by one per connection, retained bytes by 64 KiB each |
//! | `--zombie-wakers` | every closed connection runs a `disconnect-hook` task that registers its `Waker` in a never-pruned registry and finishes | `leaks`: completed tasks whose storage is still held, by the registry's buffer |
//! | `--bloat` | every connection starts an `audit-log` task that keeps a 32 KiB array across `.await` | `bloat`: a future over 16 KiB, at its spawn site |
//! | `--grow-cache` | one long-lived `response-cache` task keeps every reply in a map that is never evicted | `retainers`: every cached reply, reached from that task through `Cache.entries` |
//! | `--stuck-queue` | every write queues a compaction job for a `compaction-scheduler` task that missed its start signal (a lost `Notify` wake-up) and holds the only senders of the `compactor` tasks' queues ([`stuck_queue`]) | `waits`: the scheduler stuck, the compactors stuck behind it |
//! | `--lock-order` | every `SWAP` runs as two tasks that take two locks in opposite orders and deadlock; a time-out hides it from clients ([`lock_order`]) | `waits`: a cycle of two stuck tasks per `SWAP` |
//!
//! The server calls [`FaultState::connect`] for each connection,
//! [`ConnFaults::request`] for each request, [`FaultState::swap`] for each
//! `SWAP` and [`ConnFaults::disconnect`] when it closes; with every flag off
//! they do nothing but the swap.

pub mod lock_order;
pub mod stuck_queue;

use crate::protocol::{Reply, Request};
use crate::store::Store;
use std::collections::HashMap;
use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use tokio::sync::mpsc;
use turbowish_alloc::{Trace, TracedExt};

/// Which faults are switched on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Trace)]
pub struct Faults {
    /// `--leak-tasks`: a task per connection that never ends.
    pub leak_tasks: bool,
    /// `--zombie-wakers`: finished tasks kept alive by stored wakers.
    pub zombie_wakers: bool,
    /// `--bloat`: a per-connection future with a 32 KiB array in it.
    pub bloat: bool,
    /// `--grow-cache`: a cache that only grows.
    pub grow_cache: bool,
    /// `--stuck-queue`: compaction workers nothing can wake.
    pub stuck_queue: bool,
    /// `--lock-order`: two tasks per `SWAP`, deadlocked.
    pub lock_order: bool,
}

impl Faults {
    /// Every fault on.
    pub const ALL: Faults = Faults {
        leak_tasks: true,
        zombie_wakers: true,
        bloat: true,
        grow_cache: true,
        stuck_queue: true,
        lock_order: true,
    };

    /// The flags that are on, as they are spelled on the command line.
    pub fn names(&self) -> Vec<&'static str> {
        [
            (self.leak_tasks, "--leak-tasks"),
            (self.zombie_wakers, "--zombie-wakers"),
            (self.bloat, "--bloat"),
            (self.grow_cache, "--grow-cache"),
            (self.stuck_queue, "--stuck-queue"),
            (self.lock_order, "--lock-order"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }
}

/// Size of the buffer each leaked `push-waiter` task holds.
pub const LEAKED_BUFFER: usize = 64 * 1024;

/// Size of the array each `audit-log` future carries across its awaits.
pub const AUDIT_RING: usize = 32 * 1024;

/// Capacity of each cached reply buffer: replies are short, so most of it
/// is never used (which `turbowish bloat` reports as unused capacity).
pub const CACHED_REPLY_CAPACITY: usize = 256;

/// The fault state a server shares between its connections.
#[derive(Debug, Trace)]
pub struct FaultState {
    faults: Faults,
    /// Where requests send replies to be cached (with `--grow-cache`).
    cache: Option<mpsc::Sender<(String, Vec<u8>)>>,
    /// Where writes queue compaction jobs (with `--stuck-queue`).
    compaction: Option<stuck_queue::Backlog>,
}

impl FaultState {
    /// Starts the long-lived fault tasks (the response cache, the
    /// compaction pipeline for `store`). Must be called inside a tokio
    /// runtime.
    pub fn start(faults: Faults, store: &Store) -> FaultState {
        // The backlog before the cache: its queue's padding keeps stale
        // words, which could point at the cache's `Arc` made just before,
        // and make the cache look shared (see `clear_stack_below`).
        let compaction = (faults.stuck_queue).then(|| stuck_queue::Backlog::start(store.clone()));
        FaultState {
            faults,
            cache: faults.grow_cache.then(start_cache),
            compaction,
        }
    }

    /// The faults that are on.
    pub fn faults(&self) -> Faults {
        self.faults
    }

    /// A connection `conn` was accepted: starts its per-connection fault
    /// tasks.
    pub fn connect(&self, conn: u64) -> ConnFaults {
        if self.faults.leak_tasks {
            spawn_push_waiter();
        }
        ConnFaults {
            conn,
            requests: 0,
            zombie_wakers: self.faults.zombie_wakers,
            audit: self.faults.bloat.then(spawn_audit_log),
            cache: self.cache.clone(),
            compaction: self.compaction.clone(),
        }
    }

    /// `SWAP a b` on `store`: with `--lock-order` through two tasks that
    /// deadlock (then by itself after a time-out), else at once.
    pub async fn swap(&self, store: &Store, a: &str, b: &str) {
        if self.faults.lock_order {
            lock_order::swap(store, a, b).await;
        } else {
            store.swap(a, b);
        }
    }
}

/// The faults of one connection.
#[derive(Debug)]
pub struct ConnFaults {
    conn: u64,
    requests: u64,
    zombie_wakers: bool,
    audit: Option<mpsc::Sender<String>>,
    cache: Option<mpsc::Sender<(String, Vec<u8>)>>,
    compaction: Option<stuck_queue::Backlog>,
}

impl ConnFaults {
    /// `request` was answered with `reply`.
    pub async fn request(&mut self, request: &Request, reply: &Reply) {
        self.requests += 1;
        if let Some(audit) = &self.audit {
            // Never slows a request down: a full audit queue drops the line.
            let _ = audit.try_send(request.to_string());
        }
        if let Some(cache) = &self.cache {
            let key = format!("c{}#{}", self.conn, self.requests);
            let _ = cache.send((key, render(reply))).await;
        }
        if let Some(backlog) = &self.compaction {
            for key in written_keys(request) {
                backlog.enqueue(key);
            }
        }
    }

    /// The connection closed.
    pub fn disconnect(self) {
        if self.zombie_wakers {
            spawn_disconnect_hook();
        }
        // Dropping `audit` ends the connection's audit-log task.
    }
}

/// Overwrites the stack below the caller's frame with zeros.
///
/// Not what a service does: it is here for the demo's snapshots. A worker
/// parked when a snapshot is taken keeps, in slots of its stack that its
/// frames do not write, copies of pointers computed by the polls it ran
/// before (README, Limits), and the conservative scan reads them. A copy
/// of a stuck task's lock, queue or `Waker` there makes the task look
/// wakeable, which `turbowish waits` prefers to a false "stuck". And a
/// task is built on the stack and copied to the heap with its padding, so
/// its storage can carry stale words of earlier polls: a stuck task's
/// storage is a root, and one pointing at the cache's `Arc` (seen in a
/// release run) makes the cache shared, no longer retained by its task.
/// The two faults that only `waits` explains call this before and after
/// making their tasks and locks: without it, in 10 test runs `waits`
/// missed a `SWAP`'s cycle in 4, and in a release run of the demo it
/// missed the stuck compaction pipeline and one of two cycles.
#[inline(never)]
fn clear_stack_below() {
    let zeros = [0u8; 64 * 1024];
    std::hint::black_box(&zeros);
}

/// The keys `request` writes.
fn written_keys(request: &Request) -> Vec<&str> {
    match request {
        Request::Set { key, .. } | Request::Del { key } => vec![key],
        Request::Swap { a, b } => vec![a, b],
        _ => Vec::new(),
    }
}

// --- --leak-tasks -----------------------------------------------------------

/// Senders of pushes nobody will ever send. Parking them here keeps every
/// `push-waiter` task waiting forever: the leak.
static PARKED_SENDERS: Mutex<Vec<mpsc::Sender<Vec<u8>>>> = Mutex::new(Vec::new());

/// Starts a task that waits for a server push into a 64 KiB buffer it
/// allocated up front. The push never comes, so the task and its buffer live
/// for as long as the process.
fn spawn_push_waiter() {
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(1);
    lock(&PARKED_SENDERS).push(tx);
    async move {
        let mut buffer = vec![0u8; LEAKED_BUFFER];
        if let Some(push) = rx.recv().await {
            let n = push.len().min(buffer.len());
            buffer[..n].copy_from_slice(&push[..n]);
        }
        std::hint::black_box(&buffer);
    }
    .named("push-waiter")
    .spawn();
}

// --- --zombie-wakers ----------------------------------------------------------

/// Tasks to wake when the store changes. Nothing ever removes a waker, so a
/// task that registered and then finished stays allocated: a zombie future.
static CHANGE_WATCHERS: Mutex<Vec<Waker>> = Mutex::new(Vec::new());

/// Starts a task that registers interest in store changes and finishes at
/// once (its caller does not care about the change after all). Its `Waker`,
/// left in the registry, keeps the task's storage alive.
fn spawn_disconnect_hook() {
    poll_fn(|cx| {
        lock(&CHANGE_WATCHERS).push(cx.waker().clone());
        Poll::Ready(())
    })
    .named("disconnect-hook")
    .spawn();
}

// --- --bloat --------------------------------------------------------------------

/// Starts a connection's audit log: a task that copies each request into a
/// ring buffer. The ring is a local array, so it lives inside the future's
/// state machine across every `.await`: a future over 32 KiB (tokio even
/// boxes it separately). It ends when the connection drops the sender.
fn spawn_audit_log() -> mpsc::Sender<String> {
    let (tx, rx) = mpsc::channel(64);
    audit_log(rx).named("audit-log").spawn();
    tx
}

async fn audit_log(mut lines: mpsc::Receiver<String>) {
    let mut ring = [0u8; AUDIT_RING];
    let mut at = 0;
    while let Some(line) = lines.recv().await {
        for &b in line.as_bytes().iter().chain(b"\n") {
            ring[at] = b;
            at = (at + 1) % ring.len();
        }
    }
    std::hint::black_box(&ring);
}

// --- --grow-cache ---------------------------------------------------------------

/// The response cache: every reply, by connection and request number. It
/// has no eviction, so it grows with every request.
#[derive(Debug, Default, Trace)]
pub struct Cache {
    /// Rendered replies by `c<connection>#<request>`.
    pub entries: HashMap<String, Vec<u8>>,
}

/// A reply rendered into a buffer of [`CACHED_REPLY_CAPACITY`] bytes.
fn render(reply: &Reply) -> Vec<u8> {
    let mut buffer = Vec::with_capacity(CACHED_REPLY_CAPACITY);
    buffer.extend_from_slice(reply.to_string().as_bytes());
    buffer
}

/// Starts the task that owns the cache. The cache is shared only between
/// the task's future and its typed root, so this one task is the only owner
/// of everything in it, and a snapshot reaches it through typed fields:
/// `Arc<Mutex<Cache>>`, then `entries`, then each value.
fn start_cache() -> mpsc::Sender<(String, Vec<u8>)> {
    let (tx, rx) = mpsc::channel(1024);
    let cache = Arc::new(Mutex::new(Cache::default()));
    run_cache(cache.clone(), rx)
        .named("response-cache")
        .root(cache)
        .spawn();
    tx
}

async fn run_cache(cache: Arc<Mutex<Cache>>, mut inserts: mpsc::Receiver<(String, Vec<u8>)>) {
    while let Some((key, reply)) = inserts.recv().await {
        lock(&cache).entries.insert(key, reply);
    }
}

/// Locks `m`, ignoring poisoning: every holder leaves the value consistent.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_names_follow_the_command_line() {
        assert_eq!(Faults::default().names(), Vec::<&str>::new());
        assert_eq!(
            Faults::ALL.names(),
            [
                "--leak-tasks",
                "--zombie-wakers",
                "--bloat",
                "--grow-cache",
                "--stuck-queue",
                "--lock-order"
            ]
        );
    }

    #[test]
    fn the_audit_future_is_bloated() {
        let (_tx, rx) = mpsc::channel(1);
        let size = size_of_val(&audit_log(rx));
        assert!(size > 16 * 1024, "{size}");
    }

    #[test]
    fn cached_replies_keep_their_capacity() {
        let b = render(&Reply::Pong);
        assert_eq!(b, b"PONG");
        assert_eq!(b.capacity(), CACHED_REPLY_CAPACITY);
    }
}
