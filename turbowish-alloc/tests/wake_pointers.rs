//! Wake pointers: the capture child classifies the words that point into
//! task storage (wakers rules 1 to 4): a stored `Waker`, a `JoinHandle`, an
//! intrusive waiter inside a waiting future. Each test holds one such word
//! somewhere and finds its edge, or its root target, with that kind.

mod common;

use common::{block_index, serial, snapshot, wait_for};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;
use turbowish_format::{BlockIndex, EdgeKind, RootKind, Snapshot, Task, TaskState};

#[global_allocator]
static A: turbowish_alloc::TurboWish = turbowish_alloc::TurboWish::system();

/// A waker kept in a box, and one kept in the static itself.
static BOXED_WAKER: Mutex<Option<Box<Waker>>> = Mutex::new(None);
static WAKER: Mutex<Option<Waker>> = Mutex::new(None);
/// A task's `JoinHandle`, boxed.
static HANDLE: Mutex<Option<Box<JoinHandle<()>>>> = Mutex::new(None);
/// Two words laid out as a `Waker` is, the vtable a `dyn Debug`'s.
static NOT_A_WAKER: Mutex<Option<Box<[usize; 2]>>> = Mutex::new(None);
/// A traced task's waker, on `futures`' `LocalPool`.
static POOL_WAKER: Mutex<Option<Box<Waker>>> = Mutex::new(None);

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .unwrap()
}

/// The current task's waker.
async fn waker() -> Waker {
    std::future::poll_fn(|cx| Poll::Ready(cx.waker().clone())).await
}

/// The address of the current tokio task's cell: its wakers' data.
async fn own_cell() -> usize {
    waker().await.data() as usize
}

/// Spawns `f` on `rt`, which first stores its cell's address; returns it
/// once stored.
fn spawn_with_cell<F>(
    rt: &Runtime,
    f: impl FnOnce() -> F + Send + 'static,
) -> (usize, JoinHandle<()>)
where
    F: Future<Output = ()> + Send + 'static,
{
    let cell = Arc::new(AtomicUsize::new(0));
    let stored = cell.clone();
    let handle = rt.spawn(async move {
        stored.store(own_cell().await, Ordering::SeqCst);
        f().await;
    });
    let at = wait_for("the task to start", || match cell.load(Ordering::SeqCst) {
        0 => Err("not yet"),
        at => Ok(at),
    });
    (at, handle)
}

/// The task row whose cell starts at `cell`.
fn task_at(s: &Snapshot, cell: usize) -> Option<&Task> {
    let b = s
        .blocks
        .binary_search_by_key(&(cell as u64), |b| b.addr)
        .ok()?;
    let b = BlockIndex::new(b as u32);
    s.tasks.iter().find(|t| t.cell == Some(b))
}

/// A snapshot in which the tasks whose cells start at `cells` are pending
/// (parked at their await, their waiters registered).
fn snapshot_when_pending(name: &str, cells: &[usize]) -> Snapshot {
    wait_for("the tasks to park", || {
        let s = snapshot(name).expect("snapshot");
        let parked = |&c: &usize| task_at(&s, c).is_some_and(|t| t.state == TaskState::Pending);
        match cells.iter().all(parked) {
            true => Ok(s),
            false => Err("a task is not pending yet"),
        }
    })
}

/// The kind of the edge from `from` to `to`, if there is one.
fn edge_kind(s: &Snapshot, from: BlockIndex, to: BlockIndex) -> Option<EdgeKind> {
    let e = s.edges.iter().find(|e| e.from == from && e.to == to)?;
    Some(e.kind)
}

#[test]
fn stored_wakers_are_waker_edges_and_roots() {
    let _s = serial();
    let rt = runtime();
    let (cell, _h) = spawn_with_cell(&rt, || async {
        let w = waker().await;
        *BOXED_WAKER.lock().unwrap() = Some(Box::new(w.clone()));
        *WAKER.lock().unwrap() = Some(w);
        std::future::pending::<()>().await;
    });
    wait_for("the wakers to be stored", || {
        WAKER.lock().unwrap().as_ref().map(|_| ()).ok_or("not yet")
    });
    let s = snapshot_when_pending("wakers", &[cell]);
    let cell_block = block_index(&s, cell);
    let boxed = {
        let w = BOXED_WAKER.lock().unwrap();
        let w: &Waker = w.as_ref().unwrap();
        assert_eq!(w.data() as usize, cell);
        block_index(&s, w as *const Waker as usize)
    };
    assert_eq!(edge_kind(&s, boxed, cell_block), Some(EdgeKind::Waker));
    let held = |k: RootKind| {
        (s.roots.iter())
            .filter(|r| r.kind == k && r.targets.contains(&cell_block))
            .map(|r| r.kind_of(cell_block))
            .collect::<Vec<_>>()
    };
    assert!(
        held(RootKind::Static).contains(&EdgeKind::Waker),
        "the static holding a waker: {:?}",
        held(RootKind::Static)
    );
    rt.shutdown_background();
}

#[test]
fn boxed_join_handles_are_join_handle_edges() {
    let _s = serial();
    let rt = runtime();
    let (cell, handle) = spawn_with_cell(&rt, std::future::pending::<()>);
    *HANDLE.lock().unwrap() = Some(Box::new(handle));
    let s = snapshot_when_pending("handles", &[cell]);
    let boxed = {
        let h = HANDLE.lock().unwrap();
        block_index(&s, &**h.as_ref().unwrap() as *const JoinHandle<()> as usize)
    };
    let to = block_index(&s, cell);
    assert_eq!(edge_kind(&s, boxed, to), Some(EdgeKind::JoinHandle));
    rt.shutdown_background();
}

/// The block of the task at `cell` a waiter link points into: its cell, or
/// its boxed future.
fn waiter_kinds(s: &Snapshot, from: BlockIndex, cell: usize) -> Vec<EdgeKind> {
    let t = task_at(s, cell).expect("the waiting task's row");
    let storage = [t.cell, t.future_block];
    (s.edges.iter())
        .filter(|e| e.from == from && storage.contains(&Some(e.to)))
        .map(|e| e.kind)
        .collect()
}

#[test]
fn tasks_waiting_on_notify_and_mutex_are_waiter_edges() {
    waiters_on_notify_and_mutex("waiters", false);
}

#[test]
fn a_sleeping_task_has_a_waiter_edge_from_the_timer() {
    let _s = serial();
    let rt = runtime();
    let sleep = || tokio::time::sleep(std::time::Duration::from_secs(3600));
    let (cell, _h) = spawn_with_cell(&rt, sleep);
    let s = snapshot_when_pending("sleep", &[cell]);
    let t = task_at(&s, cell).expect("the sleeping task's row");
    let own = [t.cell, t.future_block];
    let from_elsewhere = (s.edges.iter())
        .filter(|e| own.contains(&Some(e.to)) && !own.contains(&Some(e.from)))
        .map(|e| e.kind)
        .collect::<Vec<_>>();
    assert!(
        from_elsewhere.contains(&EdgeKind::Waiter),
        "edges into the sleeping task: {from_elsewhere:?}"
    );
    rt.shutdown_background();
}

/// Which word of a `Waker` holds its data pointer (0 or 1): the layout of
/// `RawWaker` is the compiler's choice.
fn data_word() -> usize {
    let w = Waker::noop();
    assert_eq!(size_of::<Waker>(), size_of::<[usize; 2]>());
    // SAFETY: a `Waker` is two pointer-sized words (checked above) with no
    // padding, read as plain integers.
    let words: [usize; 2] = unsafe { std::mem::transmute_copy(w) };
    usize::from(words[0] == w.vtable() as *const _ as usize)
}

#[test]
fn a_dyn_trait_pointer_pair_is_not_a_waker() {
    let _s = serial();
    let rt = runtime();
    let (cell, _h) = spawn_with_cell(&rt, std::future::pending::<()>);
    let value = String::from("not a waker");
    let fat: *const dyn std::fmt::Debug = &value;
    // SAFETY: a raw `dyn` pointer is two words, data then vtable, read as
    // plain integers.
    let [_, vtable]: [usize; 2] = unsafe { std::mem::transmute(fat) };
    let mut pair = [0usize; 2];
    pair[data_word()] = cell;
    pair[1 - data_word()] = vtable;
    let pair = Box::new(pair);
    let at = &*pair as *const [usize; 2] as usize;
    *NOT_A_WAKER.lock().unwrap() = Some(pair);
    let s = snapshot_when_pending("dyn", &[cell]);
    let kind = edge_kind(&s, block_index(&s, at), block_index(&s, cell));
    assert_eq!(
        kind,
        Some(EdgeKind::JoinHandle),
        "a bare pointer at the cell"
    );
    drop(value);
    rt.shutdown_background();
}

/// A traced task in a `futures` `FuturesUnordered`, which keeps each
/// future inline in an `Arc` (the traced task's storage, found through its
/// waker), driven by `futures`' `block_on`: its waker, stored elsewhere, is
/// a waker edge to that storage.
#[test]
fn a_traced_futures_task_has_a_waker_edge_to_its_storage() {
    use futures::StreamExt;
    use futures::stream::FuturesUnordered;
    use turbowish_alloc::TracedExt;
    let _s = serial();
    let mut set = FuturesUnordered::new();
    set.push(
        async {
            *POOL_WAKER.lock().unwrap() = Some(Box::new(waker().await));
            std::future::pending::<()>().await;
        }
        .named("futures-waker"),
    );
    futures::executor::block_on(std::future::poll_fn(|cx| {
        assert!(set.poll_next_unpin(cx).is_pending());
        Poll::Ready(())
    }));
    let (boxed, data) = {
        let w = POOL_WAKER.lock().unwrap();
        let w: &Waker = w.as_ref().expect("the waker was stored");
        (w as *const Waker as usize, w.data() as u64)
    };
    let s = snapshot("futures").expect("snapshot");
    let t = (s.tasks.iter())
        .find(|t| s.string(t.name) == "futures-waker")
        .expect("the traced task's row");
    let storage = t.storage.expect("its storage block");
    let b = s.blocks[storage];
    assert!(
        (b.addr..b.addr + b.size).contains(&data),
        "the waker's data"
    );
    let kind = edge_kind(&s, block_index(&s, boxed), storage);
    assert_eq!(kind, Some(EdgeKind::Waker));
    drop(set);
}

/// A task awaiting another's `JoinHandle`: the awaited cell's trailer
/// holds the awaiting task's waker (cell rule 5b keeps it), and the
/// awaiting future holds the handle.
#[test]
fn awaiting_a_join_handle_is_a_waker_in_the_awaited_cell() {
    let _s = serial();
    let rt = runtime();
    let (awaited, handle) = spawn_with_cell(&rt, std::future::pending::<()>);
    let (awaiting, _h) = spawn_with_cell(&rt, move || async move {
        let _ = handle.await;
    });
    let s = snapshot_when_pending("join", &[awaited, awaiting]);
    let (awaited, awaiting) = (block_index(&s, awaited), block_index(&s, awaiting));
    assert_eq!(edge_kind(&s, awaited, awaiting), Some(EdgeKind::Waker));
    assert_eq!(edge_kind(&s, awaiting, awaited), Some(EdgeKind::JoinHandle));
    rt.shutdown_background();
}

/// A `Notify` and a held tokio `Mutex` under a typed root: the walk scans
/// their bytes (`Tracer::scan`, `Tracer::locked`), and the waiter links it
/// finds keep their kind.
#[test]
fn waiters_in_typed_roots_keep_their_kind() {
    waiters_on_notify_and_mutex("typed-waiters", true);
}

/// A task waiting on a `Notify` and one on a held tokio `Mutex`, both in an
/// `Arc` (under typed roots when `typed`): each primitive's block has a
/// waiter edge into its waiter's cell.
fn waiters_on_notify_and_mutex(name: &str, typed: bool) {
    let _s = serial();
    let rt = runtime();
    let notify = Arc::new(tokio::sync::Notify::new());
    let lock = Arc::new(tokio::sync::Mutex::new(0u64));
    let _roots = typed.then(|| {
        (
            turbowish_alloc::root("notify", &notify),
            turbowish_alloc::root("lock", &lock),
        )
    });
    let guard = rt.block_on(lock.clone().lock_owned());
    let n = notify.clone();
    let (notified, _a) = spawn_with_cell(&rt, move || async move { n.notified().await });
    let l = lock.clone();
    let (locking, _b) = spawn_with_cell(&rt, move || async move { drop(l.lock().await) });
    let s = snapshot_when_pending(name, &[notified, locking]);
    let notify_block = block_index(&s, Arc::as_ptr(&notify) as usize - 16);
    let lock_block = block_index(&s, Arc::as_ptr(&lock) as usize - 16);
    let kinds = waiter_kinds(&s, notify_block, notified);
    assert!(kinds.contains(&EdgeKind::Waiter), "Notify: {kinds:?}");
    let kinds = waiter_kinds(&s, lock_block, locking);
    assert!(kinds.contains(&EdgeKind::Waiter), "Mutex: {kinds:?}");
    drop(guard);
    rt.shutdown_background();
}
