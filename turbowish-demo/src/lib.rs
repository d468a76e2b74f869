//! The TurboWish demo service: a small key-value server on tokio with six
//! deliberate faults, for TurboWish to find.
//!
//! This crate is TurboWish's end-to-end exercise: a service shaped like the
//! ones users run (a TCP server, a task per connection, shared state behind
//! a mutex, a background task, pub/sub channels) with TurboWish linked in,
//! a load generator that drives it over loopback, and a driver that takes
//! heap snapshots of it by signal. The `demo` example and the workspace's
//! end-to-end tests (the top-level `tests/`) use all three.
//!
//! # Running the demo
//!
//! ```sh
//! cargo run --release --example demo            # the whole story, in about a second once built
//! cargo run --release --example demo -- --quick # less load (CI)
//! ```
//!
//! The example starts the server with every fault on (in a child process:
//! it re-runs itself as `demo serve`), drives load, sends SIGUSR1 and
//! waits for `turbowish-<pid>-1.twsnap`, drives more load, takes a second
//! snapshot, then runs `turbowish diff`, `leaks`, `bloat`, `retainers` and
//! `waits` on the two files and prints the commands to run them yourself.
//!
//! # Running the server by hand
//!
//! ```sh
//! cargo run --release -p turbowish-demo --bin turbowish-kv -- --all-faults --addr 127.0.0.1:7878
//! # listening on 127.0.0.1:7878
//! printf 'SET a 1\nGET a\nSTATS\n' | nc -q1 127.0.0.1 7878
//! kill -USR1 $(pidof turbowish-kv)    # or: turbowish snap $(pidof turbowish-kv)
//! ```
//!
//! `turbowish-kv` prints `listening on ADDR` as its first line (port 0, the
//! default, picks a free port), writes snapshots into `TURBOWISH_DIR`, and
//! stops on SIGTERM, SIGINT or the end of its standard input, so a parent
//! that dies never leaves it behind (`--ignore-stdin` to run it in the
//! background).
//!
//! # The protocol
//!
//! One request per line, one reply per line ([`protocol`]): `PING`,
//! `GET key`, `SET key value [ttl_ms]`, `DEL key`, `SWAP a b`, `SUBSCRIBE channel`,
//! `PUBLISH channel text`, `STATS`, `QUIT`. Malformed requests get
//! `ERR reason` and the connection stays usable.
//!
//! # The faults
//!
//! Each is a pattern production services hit, behind a flag
//! (`--all-faults` for all six); see [`faults`]:
//!
//! | flag | the fault | where TurboWish shows it |
//! |------|-----------|--------------------------|
//! | `--leak-tasks` | every connection starts a `push-waiter` task that waits forever on a channel whose sender is parked in a global list, holding a 64 KiB buffer | `turbowish diff`: its spawn site gains one task and 64 KiB of retained bytes per connection |
//! | `--zombie-wakers` | every closed connection runs a `disconnect-hook` task that stores its `Waker` in a registry nobody prunes, then finishes | `turbowish leaks`: completed tasks whose storage the registry's buffer holds |
//! | `--bloat` | every connection starts an `audit-log` task whose future keeps a 32 KiB array across `.await` | `turbowish bloat`: a future over 16 KiB at its spawn site |
//! | `--grow-cache` | a long-lived `response-cache` task caches every reply and never evicts | `turbowish retainers`: the cached replies, reached from that task through `Cache.entries` |
//! | `--stuck-queue` | every write queues a compaction job; the `compaction-scheduler` task missed its start signal (a lost `Notify` wake-up) and holds the only senders of the `compactor` tasks' queues | `turbowish waits`: the scheduler stuck, the compactors stuck behind it |
//! | `--lock-order` | every `SWAP` runs as two tasks that lock two mutexes in opposite orders and deadlock (a time-out answers the client) | `turbowish waits`: a cycle of two stuck tasks per `SWAP` |
//!
//! With no flag the server is healthy, and TurboWish says so: no spawn site
//! keeps gaining tasks, no zombie, no bloated future, no stuck task, and
//! almost nothing unreachable.
//!
//! # How TurboWish is wired in
//!
//! The three lines a service needs, all in `src/bin/turbowish-kv.rs` and
//! [`server`]:
//!
//! - `#[global_allocator] static A: TurboWish = TurboWish::system();`
//! - `turbowish_alloc::install();` at the start of `main` (snapshots on SIGUSR1);
//! - traced spawns with names: `serve_conn(..).named("conn").root(shared).spawn()`.
//!
//! The tasks it spawns, by name: `conn` (one per connection, its typed root
//! the shared state), `expiry` (removes expired keys every 50 ms, its typed
//! root the store), `subscription` (one per `SUBSCRIBE`), and the faults'
//! `push-waiter`, `disconnect-hook`, `audit-log`, `response-cache` and
//! `compaction-scheduler` (the `compactor` tasks and a `SWAP`'s two halves
//! are plain `tokio::spawn` tasks, found from their task cells). The
//! state types ([`store::Entry`], [`store::Entries`], [`faults::Cache`], the
//! server's shared state) derive [`Trace`](turbowish_alloc::Trace), so
//! snapshots name their blocks by type and field.
//!
//! # Modules
//!
//! - [`protocol`]: requests and replies, parsed and formatted.
//! - [`store`]: the shared `Arc<Mutex<..>>` map with expiry.
//! - [`server`]: the accept loop, connections, expiry, pub/sub.
//! - [`faults`]: the six faults.
//! - [`load`]: a blocking client, the checked load generator, a latency probe.
//! - [`driver`]: the server as a child process: address, snapshots, stop.

pub mod driver;
pub mod faults;
pub mod load;
pub mod protocol;
pub mod server;
pub mod store;

pub use faults::Faults;
pub use server::Options;
