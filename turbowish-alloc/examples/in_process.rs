//! TurboWish's in-process API: tasks on a tokio runtime allocate and hold
//! memory; `stats`, `stats_by_task`, `block` and `tasks` say, from inside
//! the process, which task made each block and where, and
//! `snapshot_to` writes a snapshot file without a signal.
//!
//! Run with `cargo run --release --example in_process` (the repository's
//! main demo is `cargo run --release --example demo`, a service found
//! leaking from two snapshots).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use turbowish_alloc::{TracedExt, TurboWish, block, stats, stats_by_task};

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

/// A long-lived task that builds an index and keeps it.
#[inline(never)]
fn build_index(entries: usize) -> HashMap<u64, String> {
    (0..entries as u64)
        .map(|i| (i, format!("value-{i:08}")))
        .collect()
}

/// A connection handler's read buffer.
#[inline(never)]
fn read_buffer(size: usize) -> Vec<u8> {
    let mut buf = vec![0u8; size];
    // Touching the buffer keeps this frame on the stack: a function that ends
    // in a tail call to the allocator has no frame left for any unwinder.
    buf[0] = 1;
    buf
}

/// Short-lived churn: builds and drops collections, holds nothing.
#[inline(never)]
fn churn(rounds: usize) -> usize {
    let mut total = 0;
    for r in 0..rounds {
        let v: Vec<u64> = (0..(r % 500) as u64).collect();
        let s = format!("{v:?}");
        total += s.len();
    }
    total
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("tokio runtime");
    let (held, names) = rt.block_on(run_tasks());
    // A task that stays alive across the snapshot, sharing typed state.
    let sessions: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(
        (0..100).map(|i| format!("session-{i}")).collect(),
    ));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shared = sessions.clone();
    let _enter = rt.enter();
    let listener = async move {
        let _ = stopped.await;
        drop(shared);
    }
    .named("listener")
    .root(sessions.clone())
    .spawn();
    rt.block_on(tokio::task::yield_now());
    // Snapshot first: printing stacks below loads the `backtrace` crate's
    // symbol cache, tens of MiB that the snapshot would otherwise show.
    let snapshot = take_snapshot();
    report(&names, &held);
    for t in turbowish_alloc::tasks() {
        println!(
            "traced task {:?} (spawned at {}:{}): {:?}, {} polls, its future is {} bytes",
            t.name,
            t.location.file(),
            t.location.line(),
            t.state,
            t.polls,
            t.future_size
        );
    }
    let _ = stop.send(());
    rt.block_on(listener).expect("listener");
    println!("{snapshot}");
}

/// Takes a heap snapshot of this process; returns what to tell the user.
fn take_snapshot() -> String {
    let path = std::path::Path::new("turbowish-in-process.twsnap");
    match turbowish_alloc::snapshot_to(path) {
        Ok(info) => format!(
            "snapshot: {} ({} blocks, {} pointers between them, {}; the process paused {:.1} ms)\n\
             read it:  cargo run --release -p turbowish-snap -- summary {}",
            path.display(),
            info.blocks,
            info.edges,
            human(info.bytes),
            info.pause.as_secs_f64() * 1e3,
            path.display()
        ),
        Err(e) => {
            eprintln!("demo: snapshot failed: {e}");
            std::process::exit(1);
        }
    }
}

/// What the demo's tasks leave behind, kept alive so the report sees it.
struct Held {
    index: HashMap<u64, String>,
    buffers: Vec<Vec<u8>>,
}

async fn run_tasks() -> (Held, Vec<(u64, String)>) {
    let mut names = Vec::new();
    let index = async { build_index(50_000) }.named("index").spawn();
    names.push((
        id_of(&index),
        "index: builds a 50,000-entry map and keeps it".to_string(),
    ));
    let mut conns = Vec::new();
    for c in 0..4 {
        let h = turbowish_alloc::spawn(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            read_buffer(64 * 1024 * (c + 1))
        });
        names.push((
            id_of(&h),
            format!("conn-{c}: holds a {} KiB read buffer", 64 * (c + 1)),
        ));
        conns.push(h);
    }
    let worker = async { churn(20_000) }.named("churn").spawn();
    names.push((
        id_of(&worker),
        "churn: allocates a lot, keeps nothing".to_string(),
    ));
    let index = index.await.expect("index task");
    let mut buffers = Vec::new();
    for h in conns {
        buffers.push(h.await.expect("conn task"));
    }
    std::hint::black_box(worker.await.expect("churn task"));
    (Held { index, buffers }, names)
}

fn id_of<T>(h: &tokio::task::JoinHandle<T>) -> u64 {
    h.id()
        .to_string()
        .parse()
        .expect("tokio ids print as numbers")
}

fn report(names: &[(u64, String)], held: &Held) {
    let s = stats();
    println!("TurboWish demo: 6 tasks on a 2-worker tokio runtime\n");
    println!(
        "live now:  {} in {} blocks (peak {})",
        human(s.live_bytes),
        s.live_blocks,
        human(s.peak_live_bytes)
    );
    println!(
        "allocated: {} in {} blocks since start",
        human(s.total_bytes),
        s.total_blocks
    );
    println!(
        "TurboWish's own table: {} ({:.1} bytes per live block); {} distinct stacks in {}\n",
        human(s.table_bytes),
        s.table_bytes as f64 / s.live_blocks.max(1) as f64,
        s.stacks,
        human(s.stack_bytes)
    );
    println!("live bytes by owning task (0 = outside any task):");
    println!("  {:>6}  {:>10}  {:>7}  what", "task", "live", "blocks");
    let by_task = stats_by_task();
    for t in by_task.iter().take(10) {
        let what = names.iter().find(|(id, _)| *id == t.task).map_or(
            if t.task == 0 {
                "main thread and runtime setup"
            } else {
                "runtime internals"
            },
            |(_, n)| n,
        );
        println!(
            "  {:>6}  {:>10}  {:>7}  {what}",
            t.task,
            human(t.live_bytes),
            t.live_blocks,
        );
    }
    for (id, _) in names {
        if !by_task.iter().any(|t| t.task == *id) {
            println!(
                "  {id:>6}  {:>10}  {:>7}  (freed everything it allocated)",
                "0 B", 0
            );
        }
    }
    let biggest_buffer = held
        .buffers
        .iter()
        .max_by_key(|b| b.len())
        .expect("buffers");
    let index_block = held
        .index
        .iter()
        .next()
        .map(|(_, v)| v.as_ptr())
        .expect("entries");
    println!();
    show_stack("the largest read buffer", biggest_buffer.as_ptr());
    show_stack("one index string", index_block);
}

/// Prints where the block at `ptr` was allocated: its first frames in this
/// workspace's own source (not std, not other crates, not TurboWish itself).
fn show_stack(what: &str, ptr: *const u8) {
    let Some(b) = block(ptr) else {
        println!("{what}: not tracked");
        return;
    };
    println!(
        "{what}: {} allocated by task {} at",
        human(b.size as u64),
        b.task
    );
    let mut shown = 0;
    for &ip in b.stack.frames() {
        backtrace::resolve(ip as *mut _, |sym| {
            let Some(path) = sym.filename().map(|f| f.to_string_lossy().into_owned()) else {
                return;
            };
            let workspace = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
            let workspace = std::fs::canonicalize(workspace).unwrap_or_default();
            let ours = std::path::Path::new(&path).starts_with(&workspace)
                && !path.contains("/turbowish-alloc/src/");
            let name = sym.name().map(|n| format!("{n:#}")).unwrap_or_default();
            // `__rust_alloc` and friends are generated at `#[global_allocator]`.
            let shim = name.starts_with("__rust_") || name.starts_with("__rg_");
            if ours && !shim && shown < 3 {
                let file = path.rsplit('/').next().unwrap_or(&path);
                println!("    {name} ({file}:{})", sym.lineno().unwrap_or(0));
                shown += 1;
            }
        });
    }
    println!();
}

/// Bytes in binary units.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
