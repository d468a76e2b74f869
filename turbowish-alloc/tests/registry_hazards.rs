//! Hazards for the task registry, `Traced`, typed roots and typed walks,
//! each found by a review and fixed: signal-handler forks, registry growth,
//! locks and panics in the capture child, deep walks, nested wrappers,
//! hidden pointers, reused storage.
//!
//! Each test states the property it checks. Tests that could wedge the whole test
//! process (a deadlock, a registry filled to the brim, a different
//! `TURBOWISH_STACK`) run in a child process: the parent test re-executes
//! this binary with `REVIEW_CHILD=<name>` and judges its exit status.

#![allow(missing_docs, clippy::undocumented_unsafe_blocks)]

use std::cell::Cell;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use turbowish_alloc::{Trace, TracedExt, Tracer};
use turbowish_snap::Snapshot;

#[global_allocator]
static A: turbowish_alloc::TurboWish = turbowish_alloc::TurboWish::system();

/// The tests of this file run one at a time: snapshots advance the epoch,
/// and task listings are process-wide.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

fn snapshot(name: &str) -> Result<Snapshot, turbowish_alloc::Error> {
    let path = std::env::temp_dir().join(format!("tw-review-{name}-{}.twsnap", std::process::id()));
    let r = turbowish_alloc::Config::default()
        .signal(None)
        .timeout(Duration::from_secs(20))
        .snapshot_to(&path);
    let r = r.map(|_| turbowish_snap::read_file(&path).expect("readable"));
    let _ = std::fs::remove_file(&path);
    r
}

fn block_index(s: &Snapshot, addr: usize) -> u32 {
    s.blocks
        .binary_search_by_key(&(addr as u64), |b| b.addr)
        .expect("a live block starts there") as u32
}

fn current_thread_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// Runs this test binary again with `REVIEW_CHILD=name` (and `env`), running
/// only the ignored test `child`; returns its exit status, or `None` if it
/// had not finished after `limit` (it is then killed).
fn run_child(child: &str, env: &[(&str, &str)], limit: Duration) -> (Option<i32>, String) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        child,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("REVIEW_CHILD", child)
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut proc = cmd.spawn().unwrap();
    let started = Instant::now();
    loop {
        if let Some(status) = proc.try_wait().unwrap() {
            let out = proc.wait_with_output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            return (status.code(), text);
        }
        if started.elapsed() > limit {
            let _ = proc.kill();
            let out = proc.wait_with_output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            return (None, text);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn is_child(name: &str) -> bool {
    std::env::var("REVIEW_CHILD").is_ok_and(|v| v == name)
}

// ---------------------------------------------------------------------------
// 1. A traced future awaited inside another task is not a zombie, and does
//    not take the task's storage away from it.
// ---------------------------------------------------------------------------

/// Spawns `outer`, which awaits a traced `inner` that completes at once, then
/// waits. Returns with `outer` parked, and calls `check` then.
fn with_nested_tasks<T>(check: impl FnOnce() -> T) -> T {
    let rt = current_thread_rt();
    rt.block_on(async {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let outer = async move {
            async {}.named("review-inner").await;
            let _ = rx.await;
        }
        .named("review-outer")
        .spawn();
        tokio::task::yield_now().await; // outer runs: inner completes, outer parks
        tokio::task::yield_now().await;
        let out = check();
        tx.send(()).unwrap();
        outer.await.unwrap();
        out
    })
}

#[test]
fn nested_traced_future_is_not_listed_as_a_zombie_by_tasks() {
    let _s = serial();
    let tasks = with_nested_tasks(turbowish_alloc::tasks);
    let outer: Vec<_> = tasks.iter().filter(|t| t.name == "review-outer").collect();
    assert_eq!(outer.len(), 1, "{tasks:#?}");
    let inner: Vec<_> = tasks.iter().filter(|t| t.name == "review-inner").collect();
    assert!(
        inner.is_empty(),
        "an inner future that completed inside a still-running task is listed as a \
         finished task whose storage is alive (a zombie): {inner:#?}"
    );
}

#[test]
fn nested_traced_future_does_not_steal_the_tasks_storage_in_a_snapshot() {
    let _s = serial();
    let s = with_nested_tasks(|| snapshot("nested").expect("snapshot"));
    let name = |t: &turbowish_snap::Task| s.strings[t.name as usize].clone();
    let outer: Vec<_> = s
        .tasks
        .iter()
        .filter(|t| name(t) == "review-outer")
        .collect();
    let inner: Vec<_> = s
        .tasks
        .iter()
        .filter(|t| name(t) == "review-inner")
        .collect();
    assert_eq!(outer.len(), 1);
    assert!(
        outer[0].storage.is_some(),
        "the running outer task lost its storage (task cell) to the completed inner \
         future (newest_owns_storage): outer={:?} inner={:?}",
        outer[0],
        inner
    );
    assert!(
        inner.is_empty(),
        "the completed inner future is a zombie row: {inner:?}"
    );
}

// ---------------------------------------------------------------------------
// 2. A deep (but ordinary) linked structure must not lose the snapshot.
// ---------------------------------------------------------------------------

#[derive(Trace)]
struct Node {
    value: u64,
    next: Option<Box<Node>>,
}

#[test]
fn a_long_linked_list_root_does_not_lose_the_snapshot() {
    let _s = serial();
    let depth: u64 = std::env::var("REVIEW_DEPTH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let mut head: Option<Box<Node>> = None;
    for value in 0..depth {
        head = Some(Box::new(Node { value, next: head }));
    }
    let list = Arc::new(Mutex::new(head));
    let guard = turbowish_alloc::root("review deep list", &list);
    let result = snapshot("deep");
    drop(guard);
    // Dropped iteratively: the derived drop would recurse as deep.
    let mut cur = list.lock().unwrap().take();
    while let Some(mut n) = cur {
        cur = n.next.take();
    }
    let s = result.unwrap_or_else(|e| {
        panic!(
            "a typed walk of a {depth}-node list recursed the capture child off its stack \
             and the whole snapshot was lost: {e}"
        )
    });
    assert!(s.capture.typed_panics.is_empty());
}

// ---------------------------------------------------------------------------
// 3. Trace rule 4: a "complete" walk must not drop real pointer edges.
// ---------------------------------------------------------------------------

/// Owns a block through a raw pointer in a `Cell`, as intrusive structures do.
#[derive(Trace)]
struct Intrusive {
    next: Cell<*mut [u64; 8]>,
}
// SAFETY (test only): the pointer is never dereferenced across threads.
unsafe impl Send for Intrusive {}
unsafe impl Sync for Intrusive {}

#[test]
fn a_cell_holding_a_pointer_does_not_hide_its_edge() {
    let _s = serial();
    let owned = Box::into_raw(Box::new([7u64; 8]));
    let holder = Arc::new(Intrusive {
        next: Cell::new(owned),
    });
    let _g = turbowish_alloc::root("review intrusive", &holder);
    let s = snapshot("cell").expect("snapshot");
    let arc = block_index(&s, Arc::as_ptr(&holder) as usize - 16);
    let target = block_index(&s, owned as usize);
    let found = s.edges.iter().any(|e| e.from == arc && e.to == target);
    // SAFETY: made by `Box::into_raw` above.
    drop(unsafe { Box::from_raw(owned) });
    assert!(
        found,
        "the Arc block points at the owned block, but `Cell<T: Copy>` claims to be a leaf, \
         the Arc block's walk is 'complete', and rule 4 dropped the conservative edge"
    );
}

#[test]
fn a_vec_of_static_references_does_not_hide_its_edges() {
    let _s = serial();
    let leaked: &'static [u64; 8] = Box::leak(Box::new([3u64; 8]));
    let refs: Arc<Vec<&'static [u64; 8]>> = Arc::new(vec![leaked]);
    let _g = turbowish_alloc::root("review static refs", &refs);
    let s = snapshot("refs").expect("snapshot");
    let buffer = block_index(&s, refs.as_ptr() as usize);
    let target = block_index(&s, leaked as *const _ as usize);
    assert!(
        s.edges.iter().any(|e| e.from == buffer && e.to == target),
        "the Vec buffer holds the address of a live (leaked) block, but `&T` is a leaf, \
         the buffer's walk is 'complete', and rule 4 dropped the only edge to it"
    );
}

// ---------------------------------------------------------------------------
// 4. Trace rule 3: a walk never blocks -- also for tokio's locks, whose guard
//    drop takes the semaphore's internal waiter-list mutex.
// ---------------------------------------------------------------------------

#[test]
fn a_tokio_rwlock_root_never_blocks_the_capture_child() {
    let _s = serial();
    let lock = Arc::new(tokio::sync::RwLock::new(vec![1u64, 2, 3]));
    let _g = turbowish_alloc::root("review tokio rwlock", &lock);
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (lock, stop) = (lock.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    // Each guard drop locks the semaphore's waiter list.
                    drop(lock.try_read());
                }
            })
        })
        .collect();
    let config = turbowish_alloc::Config::default()
        .signal(None)
        .timeout(Duration::from_secs(4));
    let mut failure = None;
    for i in 0..15 {
        let path = std::env::temp_dir().join(format!(
            "tw-review-rwlock-{}-{i}.twsnap",
            std::process::id()
        ));
        let r = config.snapshot_to(&path);
        let _ = std::fs::remove_file(&path);
        if let Err(e) = r {
            failure = Some(format!("snapshot {i}: {e}"));
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    assert!(
        failure.is_none(),
        "the capture child blocked in a tokio lock's guard drop (waiter-list mutex held by \
         a parent thread at the fork): {failure:?}"
    );
}

// ---------------------------------------------------------------------------
// 5. The in-process `walk` must not change the walked value.
// ---------------------------------------------------------------------------

struct PanicsInTrace;

impl Trace for PanicsInTrace {
    fn trace(&self, _: &mut Tracer<'_>) {
        panic!("review: broken Trace impl");
    }
}

#[test]
fn in_process_walk_does_not_poison_the_users_mutex() {
    let _s = serial();
    let m = Mutex::new(PanicsInTrace);
    let w = turbowish_alloc::walk(&m);
    assert_eq!(w.panics.len(), 1);
    assert!(
        !m.is_poisoned(),
        "walk() caught the impl's panic, but the try_lock guard it held was dropped while \
         panicking: the service's own Mutex is now poisoned"
    );
}

// ---------------------------------------------------------------------------
// 6. `Traced::root` must not leak its registry row if the old root's drop
//    panics.
// ---------------------------------------------------------------------------

struct PanicOnDrop;

impl Trace for PanicOnDrop {
    fn trace(&self, _: &mut Tracer<'_>) {}
}

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("review: drop of the replaced root");
    }
}

#[test]
fn a_panicking_root_replacement_does_not_leave_a_ghost_task() {
    let _s = serial();
    let r = std::panic::catch_unwind(|| {
        let t = turbowish_alloc::traced(async {})
            .named("review-ghost")
            .root(PanicOnDrop)
            .root(1u8);
        drop(t);
    });
    assert!(r.is_err());
    let ghosts: Vec<_> = turbowish_alloc::tasks()
        .into_iter()
        .filter(|t| t.name == "review-ghost")
        .collect();
    assert!(
        ghosts.is_empty(),
        "the row of a Traced that no longer exists stays live for ever: {ghosts:#?}"
    );
}

// ---------------------------------------------------------------------------
// 7. Fork rule 5 and the registry lock: a `fork` from a signal handler that
//    interrupted a thread inside `claim`/`finish` must not deadlock.
// ---------------------------------------------------------------------------

static HANDLED: AtomicU64 = AtomicU64::new(0);

extern "C" fn fork_in_handler(_: libc::c_int) {
    // SAFETY: fork, _exit and waitpid are plain system calls here.
    unsafe {
        let pid = libc::fork();
        if pid == 0 {
            libc::_exit(0);
        }
        if pid > 0 {
            let mut status = 0;
            libc::waitpid(pid, &mut status, 0);
        }
    }
    HANDLED.fetch_add(1, Ordering::SeqCst);
}

/// The child side: a thread makes and drops traced futures (registry lock,
/// no allocation), or does plain work (`control`); the main thread signals it
/// and its handler forks. Exits 0, or 3 on a handler that never returned.
fn fork_in_handler_child(control: bool) {
    // Warm up: the registry's first chunk, the guard, the clock.
    drop(turbowish_alloc::traced(async {}));
    let stop = Arc::new(AtomicBool::new(false));
    let worker = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if control {
                    n = std::hint::black_box(n.wrapping_mul(31).wrapping_add(7));
                } else {
                    drop(std::hint::black_box(turbowish_alloc::traced(async {})));
                }
            }
        })
    };
    use std::os::unix::thread::JoinHandleExt;
    let pt = worker.as_pthread_t();
    // SAFETY: installs a plain handler for SIGUSR2.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = fork_in_handler as *const () as usize;
        libc::sigaction(libc::SIGUSR2, &action, std::ptr::null_mut());
    }
    std::thread::sleep(Duration::from_millis(20));
    for i in 0..1000u64 {
        // SAFETY: the worker thread is alive until `stop`.
        unsafe { libc::pthread_kill(pt, libc::SIGUSR2) };
        let started = Instant::now();
        while HANDLED.load(Ordering::SeqCst) <= i {
            if started.elapsed() > Duration::from_secs(5) {
                println!("REVIEW: the signal handler's fork never returned (signal {i})");
                std::process::exit(3);
            }
            std::hint::spin_loop();
        }
    }
    stop.store(true, Ordering::Relaxed);
    worker.join().unwrap();
    println!("REVIEW: 1000 forks from the handler returned");
}

#[test]
#[ignore = "child process of fork_from_a_signal_handler_does_not_deadlock"]
fn child_fork_in_handler() {
    if is_child("child_fork_in_handler") {
        fork_in_handler_child(false);
    }
}

#[test]
#[ignore = "child process of fork_from_a_signal_handler_does_not_deadlock"]
fn child_fork_in_handler_control() {
    if is_child("child_fork_in_handler_control") {
        fork_in_handler_child(true);
    }
}

#[test]
fn fork_from_a_signal_handler_does_not_deadlock() {
    let (code, out) = run_child(
        "child_fork_in_handler_control",
        &[],
        Duration::from_secs(60),
    );
    assert_eq!(
        code,
        Some(0),
        "control run (no registry use) failed:\n{out}"
    );
    let (code, out) = run_child("child_fork_in_handler", &[], Duration::from_secs(60));
    assert_eq!(
        code,
        Some(0),
        "a fork from a signal handler that interrupted a thread holding the registry's \
         list lock (taken without the reentrancy guard) spins for ever in the prepare \
         handler:\n{out}"
    );
}

// ---------------------------------------------------------------------------
// 8. Registry rule 4 with `TURBOWISH_STACK=off`: every block's stack is
//    `StackId::NONE`, so a freed task cell reused by any block of the same
//    size has the same `Identity`.
// ---------------------------------------------------------------------------

#[test]
#[ignore = "child process of reused_cell_with_stacks_off_is_not_a_zombie"]
fn child_stacks_off() {
    if !is_child("child_stacks_off") {
        return;
    }
    assert_eq!(
        turbowish_alloc::settings().stack,
        turbowish_alloc::StackMode::Off
    );
    // A boxed traced future, polled once: its storage is its own box.
    let mut fut = Box::pin(std::future::pending::<()>().named("review-stacks-off"));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    let storage = turbowish_alloc::tasks()
        .into_iter()
        .find(|t| t.name == "review-stacks-off")
        .and_then(|t| t.storage)
        .expect("storage found at the first poll");
    let size = turbowish_alloc::block(storage as *const u8).unwrap().size;
    drop(fut); // cancelled, and its box freed: nothing holds it
    // The next allocation of that size takes the freed box's address: an
    // unrelated block, in no way the task's storage.
    let bytes: Vec<u8> = Vec::with_capacity(size);
    if bytes.as_ptr() as usize != storage {
        println!("REVIEW: setup: the freed box was not reused ({storage:#x})");
        std::process::exit(4);
    }
    let zombies: Vec<_> = turbowish_alloc::tasks()
        .into_iter()
        .filter(|t| t.name == "review-stacks-off")
        .collect();
    if !zombies.is_empty() {
        println!(
            "REVIEW: a dropped task whose freed box now holds a Vec<u8> is listed as a \
             zombie: {zombies:?}"
        );
        std::process::exit(3);
    }
    drop(bytes);
}

#[test]
fn reused_cell_with_stacks_off_is_not_a_zombie() {
    let (code, out) = run_child(
        "child_stacks_off",
        &[("TURBOWISH_STACK", "off")],
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(0), "{out}");
}

// ---------------------------------------------------------------------------
// 9. Registry rule 4 sweeps: finished rows whose cell address is reused by a
//    later task from the same spawn site (same size and stack, and the same
//    epoch when no snapshot is taken) are never reclaimed, so a service that
//    keeps a pool of tasks from one site fills the registry; new tasks are
//    then untraced.
// ---------------------------------------------------------------------------

type PoolFuture = std::pin::Pin<Box<turbowish_alloc::Traced<std::future::Pending<()>>>>;

/// One spawn site: every box it makes has the same size and stack.
#[inline(never)]
fn pool_future() -> PoolFuture {
    Box::pin(turbowish_alloc::traced(std::future::pending::<()>()))
}

#[test]
#[ignore = "child process of a_steady_pool_of_tasks_does_not_fill_the_registry"]
fn child_pool() {
    if !is_child("child_pool") {
        return;
    }
    let total: usize = std::env::var("REVIEW_TOTAL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_500_000);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let started = Instant::now();
    // A steady pool of 32 live tasks from one site; the oldest is dropped
    // (cancelled, its box freed) as each new one starts. Nothing ever holds
    // a finished task's storage.
    let mut pool = std::collections::VecDeque::with_capacity(64);
    for _ in 0..total {
        let mut f = pool_future();
        let _ = f.as_mut().poll(&mut cx); // first poll: storage = its box
        pool.push_back(f);
        if pool.len() > 32 {
            drop(pool.pop_front());
        }
    }
    // The service goes on: a new task must still be traced.
    let mut probe = Box::pin(std::future::pending::<()>().named("review-after-pool"));
    let _ = probe.as_mut().poll(&mut cx);
    let listed = turbowish_alloc::tasks()
        .iter()
        .any(|t| t.name == "review-after-pool");
    let rss = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS"))
        .unwrap_or("")
        .split_whitespace()
        .nth(1)
        .unwrap_or("0")
        .to_owned();
    println!(
        "REVIEW: {total} pool tasks (32 alive at a time) in {:?}; RSS {rss} kB; \
         a new task is listed: {listed}",
        started.elapsed()
    );
    drop(probe);
    drop(pool);
    if !listed {
        std::process::exit(3);
    }
}

#[test]
fn a_steady_pool_of_tasks_does_not_fill_the_registry() {
    let (code, out) = run_child("child_pool", &[], Duration::from_secs(400));
    assert_eq!(code, Some(0), "{out}");
}

// ---------------------------------------------------------------------------
// 10. Capture rule 3: the child takes no lock another thread could have held
//     at the fork -- but `isolate` calls `std::panic::set_hook`, which takes
//     the panic-hook `RwLock` for writing; a thread of the service that was
//     running a panic hook at the fork holds it for reading.
// ---------------------------------------------------------------------------

#[test]
#[ignore = "child process of a_panic_elsewhere_does_not_block_the_capture_child"]
fn child_panic_hook() {
    if !is_child("child_panic_hook") {
        return;
    }
    // A hook that takes a while (a backtrace, a log line, an error report).
    std::panic::set_hook(Box::new(|_| std::thread::sleep(Duration::from_millis(20))));
    let stop = Arc::new(AtomicBool::new(false));
    let panicker = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let _ = std::panic::catch_unwind(|| panic!("a request handler failed"));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(5));
    let r = snapshot("panic-hook");
    stop.store(true, Ordering::Relaxed);
    panicker.join().unwrap();
    let _ = std::panic::take_hook();
    match r {
        Ok(_) => println!("REVIEW: snapshot ok"),
        Err(e) => {
            println!("REVIEW: the snapshot failed while another thread was in a panic hook: {e}");
            std::process::exit(3);
        }
    }
}

#[test]
fn a_panic_elsewhere_does_not_block_the_capture_child() {
    let (code, out) = run_child("child_panic_hook", &[], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{out}");
}
