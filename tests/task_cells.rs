//! Every tokio task is a task row, found from its cell: a program that
//! spawns only with plain `tokio::spawn` and `spawn_blocking`, from a module
//! standing in for a library, with no TurboWish code but the allocator, one
//! traced task and a snapshot. Read with `turbowish_snap`'s analysis.

mod common;

use common::{scrub_stack, wait_for};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use turbowish::TurboWish;
use turbowish_snap::analysis::{Analysis, leaks};
use turbowish_snap::{Snapshot, Task, TaskIndex, TaskKind, TaskState};

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

/// The stand-in for a library: it spawns, the program only calls it.
mod library {
    use super::*;
    use tokio::task::JoinHandle;

    pub const BUFFER: usize = 64 * 1024;
    pub const BIG: usize = 20_000;

    /// Tasks that have allocated their buffer.
    pub static READY: AtomicUsize = AtomicUsize::new(0);
    /// A finished task's handle, kept for ever: a zombie.
    pub static ZOMBIE: Mutex<Option<JoinHandle<()>>> = Mutex::new(None);

    /// Spawns `n` tasks, each holding a 64 KiB buffer while pending for
    /// ever. Returns the spawn line.
    pub fn holders(n: usize) -> u32 {
        let line = line!() + 2;
        for _ in 0..n {
            drop(tokio::spawn(async move {
                let buffer = vec![7u8; BUFFER];
                scrub_stack();
                READY.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<()>().await;
                drop(buffer);
            }));
        }
        line
    }

    /// Spawns a task whose future is over 16 KiB (boxed by `spawn`).
    pub fn big() -> (u32, JoinHandle<()>) {
        let line = line!() + 1;
        let handle = tokio::spawn(async move {
            let array = std::hint::black_box([3u8; BIG]);
            READY.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<()>().await;
            std::hint::black_box(&array);
        });
        (line, handle)
    }

    /// Spawns a task that finishes at once, its handle kept in a static.
    pub fn finished() -> u32 {
        let line = line!() + 1;
        let handle = tokio::spawn(async {});
        *ZOMBIE.lock().unwrap() = Some(handle);
        line
    }

    /// Spawns a blocking task that waits until `stop` is dropped.
    pub fn blocking(stop: std::sync::mpsc::Receiver<()>) -> (u32, JoinHandle<()>) {
        let line = line!() + 1;
        let handle = tokio::task::spawn_blocking(move || {
            READY.fetch_add(1, Ordering::SeqCst);
            let _ = stop.recv();
        });
        (line, handle)
    }
}

const HOLDERS: usize = 50;

/// The rows spawned at `line` of this file.
fn rows_at(s: &Snapshot, line: u32) -> Vec<(TaskIndex, &Task)> {
    (s.task_indices())
        .zip(&s.tasks)
        .filter(|(_, t)| t.line == line && s.string(t.file).ends_with("tests/task_cells.rs"))
        .collect()
}

/// A snapshot once every task but the blocking one has reached its await
/// (pending, or finished for the zombie): tries again while any is still
/// running or queued.
fn snapshot_when_settled(lines: &[u32]) -> Snapshot {
    let path = std::env::temp_dir().join(format!("tw-task-cells-{}.twsnap", std::process::id()));
    let snap = wait_for("every task to settle", || {
        turbowish::snapshot_to(&path).unwrap();
        let s = turbowish_snap::read_file(&path).unwrap();
        // A blocking task runs until it returns.
        let busy = |t: &&Task| {
            let queued = matches!(t.state, TaskState::Running | TaskState::Notified);
            lines.contains(&t.line) && queued && t.kind != TaskKind::Blocking
        };
        match s.tasks.iter().filter(busy).count() {
            0 => Ok(s),
            n => Err(format!("{n} tasks still running or queued")),
        }
    });
    let _ = std::fs::remove_file(&path);
    snap
}

#[test]
fn plain_tokio_tasks_are_rows() {
    use turbowish::TracedExt;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let (stop_blocking, stop) = std::sync::mpsc::channel();
    let (lines, _keep) = rt.block_on(async {
        let holders = library::holders(HOLDERS);
        let (big, big_handle) = library::big();
        let (blocking, blocking_handle) = library::blocking(stop);
        let finished = library::finished();
        let traced_line = line!() + 1;
        let traced = async { std::future::pending::<()>().await }.named("traced");
        let traced = traced.spawn();
        let lines = [holders, big, blocking, finished, traced_line];
        (lines, (big_handle, blocking_handle, traced))
    });
    let [holders, big, blocking, finished, traced] = lines;
    wait_for("the tasks to allocate", || {
        let ready = library::READY.load(Ordering::SeqCst);
        let done = library::ZOMBIE
            .lock()
            .unwrap()
            .as_ref()
            .is_some_and(|h| h.is_finished());
        if ready == HOLDERS + 2 && done {
            Ok(())
        } else {
            Err(ready)
        }
    });
    // The traced task gets its id and storage at its first poll: only then
    // is it one row with its cell.
    common::wait_until_parked(1, |t| t.name == "traced");
    let s = snapshot_when_settled(&lines);
    assert_eq!(s.capture.cells_not_understood, 0);
    let a = Analysis::new(&s);
    let rows = a.task_rows();

    // 50 pending tasks, each retaining its 64 KiB.
    let held = rows_at(&s, holders);
    assert_eq!(held.len(), HOLDERS, "one row per holder task");
    for &(i, t) in &held {
        assert_eq!((t.kind, t.state), (TaskKind::Tokio, TaskState::Pending));
        assert!(t.id != 0 && t.cell.is_some() && t.storage == t.cell);
        let ty = s.string(t.future_type);
        assert!(ty.starts_with("task_cells::library::holders"), "{ty}");
        let retained = rows[i.index()].retained as f64;
        let want = library::BUFFER as f64;
        assert!((retained - want).abs() <= want * 0.1, "retains {retained}");
    }

    // The big future: boxed, its size the box's.
    let [(_, t)] = rows_at(&s, big)[..] else {
        panic!("one big task")
    };
    assert!(
        s.string(t.future_type)
            .starts_with("task_cells::library::big")
    );
    assert!(t.future_size >= library::BIG as u64, "{}", t.future_size);
    let boxed = t.future_block.expect("the boxed future's block");
    assert_eq!(s.blocks[boxed].size, t.future_size);

    // The blocking task.
    let [(_, t)] = rows_at(&s, blocking)[..] else {
        panic!("one blocking task")
    };
    assert_eq!((t.kind, t.state), (TaskKind::Blocking, TaskState::Running));
    assert!(
        s.string(t.future_type)
            .contains("task_cells::library::blocking")
    );

    // The zombie, held by the static's JoinHandle.
    let [(zi, t)] = rows_at(&s, finished)[..] else {
        panic!("one finished task")
    };
    assert_eq!(t.state, TaskState::Completed);
    let zombie = leaks::zombies(&s);
    let z = zombie.iter().find(|z| z.task == zi).expect("a zombie");
    let by_static = |h: &leaks::Holder| match *h {
        leaks::Holder::Root(r) => {
            let root = &s.roots[r as usize];
            root.kind == turbowish_snap::RootKind::Static
                && s.string(root.label_of(z.storage)).contains("ZOMBIE")
        }
        _ => false,
    };
    assert!(z.holders.iter().any(by_static), "{:?}", z.holders);
    // No block holds it: not the runtime's queues, whose slots keep stale
    // pointers to tasks they once held (cell rule 5c). (Thread stacks may
    // keep stale copies too: roots, a documented limit.)
    let blocks = |h: &&leaks::Holder| matches!(h, leaks::Holder::Block(..));
    assert_eq!(
        z.holders.iter().filter(blocks).count(),
        0,
        "{:?}",
        z.holders
    );

    // The traced task: one row, traced, with its cell.
    let named = |t: &&Task| s.string(t.name) == "traced";
    let t = s.tasks.iter().find(named).expect("the traced task");
    assert_eq!((t.kind, t.line), (TaskKind::Traced, traced));
    assert!(t.cell.is_some() && t.refs > 0, "{t:?}");
    let same = |u: &&Task| u.id == t.id || u.cell == t.cell;
    assert_eq!(s.tasks.iter().filter(same).count(), 1, "one row, not two");

    drop(stop_blocking);
    rt.shutdown_background();
}
