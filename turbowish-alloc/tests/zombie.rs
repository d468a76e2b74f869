//! Zombie futures: tasks that finished while something kept their storage
//! alive, and the graph edge from the holder to that storage.

mod common;

use common::block_index;
use std::sync::Mutex;
use std::task::{Poll, Waker};
use turbowish_format::{RootKind, TaskState};

#[global_allocator]
static A: turbowish_alloc::TurboWish = turbowish_alloc::TurboWish::system();

/// A registry of wakers that is never cleared: the leak under test.
static WAKERS: Mutex<Vec<Waker>> = Mutex::new(Vec::new());

const ZOMBIES: usize = 5;

#[test]
fn finished_tasks_held_by_wakers_and_handles_are_zombies() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    WAKERS.lock().unwrap().reserve(64);
    let (aborted, zombie_line, clean_line, aborted_line) = rt.block_on(async {
        let zombie_line = line!() + 3;
        for _ in 0..ZOMBIES {
            // Stores its waker, then completes at once.
            let h = turbowish_alloc::spawn(std::future::poll_fn(|cx| {
                WAKERS.lock().unwrap().push(cx.waker().clone());
                Poll::Ready(())
            }));
            h.await.unwrap(); // joined: only the stored waker keeps the cell
        }
        let clean_line = line!() + 2;
        for _ in 0..3 {
            let h = turbowish_alloc::spawn(async {});
            h.await.unwrap(); // nothing keeps these
        }
        let aborted_line = line!() + 1;
        let aborted = turbowish_alloc::spawn(std::future::pending::<()>());
        tokio::task::yield_now().await;
        aborted.abort();
        tokio::task::yield_now().await;
        (aborted, zombie_line, clean_line, aborted_line)
    });

    // In-process view first.
    let tasks = turbowish_alloc::tasks();
    let at = |line: u32| tasks.iter().filter(move |t| t.location.line() == line);
    assert_eq!(at(zombie_line).count(), ZOMBIES, "{tasks:#?}");
    assert!(at(zombie_line).all(|t| t.state == turbowish_alloc::TaskState::Completed));
    assert_eq!(at(clean_line).count(), 0, "freed tasks are forgotten");
    assert_eq!(at(aborted_line).count(), 1);
    assert!(at(aborted_line).all(|t| t.state == turbowish_alloc::TaskState::Cancelled));

    let s = common::snapshot("zombie").expect("snapshot");

    let zombies: Vec<_> = s.tasks.iter().filter(|t| t.line == zombie_line).collect();
    assert_eq!(zombies.len(), ZOMBIES);
    assert!(!s.tasks.iter().any(|t| t.line == clean_line));
    let wakers = block_index(&s, WAKERS.lock().unwrap().as_ptr() as usize);
    for t in &zombies {
        assert_eq!(t.state, TaskState::Completed);
        assert!(t.finished_ns >= t.spawned_ns && t.finished_ns > 0);
        let storage = t.storage.expect("a zombie's storage is alive");
        // Who holds it: the waker registry's buffer points at the task cell.
        assert!(
            s.edges.iter().any(|e| e.from == wakers && e.to == storage),
            "the waker buffer holds the zombie's storage"
        );
        let ti = s.tasks.iter().position(|x| std::ptr::eq(x, *t)).unwrap();
        let ti = turbowish_format::TaskIndex::new(ti as u32);
        assert!(
            s.roots
                .iter()
                .any(|r| r.kind == RootKind::Task && r.task == Some(ti) && r.targets == [storage])
        );
    }
    // The waker registry itself is reached from the static `WAKERS`.
    assert!(
        s.roots
            .iter()
            .any(|r| r.kind == RootKind::Static && r.targets.contains(&wakers))
    );
    let aborted_task = s.tasks.iter().find(|t| t.line == aborted_line).unwrap();
    assert_eq!(aborted_task.state, TaskState::Cancelled);
    assert!(aborted_task.storage.is_some(), "the JoinHandle keeps it");

    // Dropping the holders frees the storage; the zombies are then gone.
    drop(aborted);
    WAKERS.lock().unwrap().clear();
    rt.block_on(tokio::task::yield_now());
    let left = turbowish_alloc::tasks();
    assert!(
        !left
            .iter()
            .any(|t| t.location.line() == zombie_line || t.location.line() == aborted_line),
        "{left:#?}"
    );
}

/// A cell freed and its address reused before any snapshot (same epoch) must
/// not make a joined task look like a zombie: not when the next task from the
/// same spawn site takes the address (same size, same stack), nor when a
/// block of another size does.
#[test]
fn reused_storage_is_not_a_zombie() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (line, keep, reused) = rt.block_on(async {
        let mut seen = std::collections::HashSet::new();
        for i in 0..400 {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let line = line!() + 1;
            let h = turbowish_alloc::spawn(async move {
                let _ = rx.await;
            });
            tokio::task::yield_now().await;
            let storage = turbowish_alloc::tasks()
                .into_iter()
                .find(|t| {
                    t.location.line() == line && t.state == turbowish_alloc::TaskState::Pending
                })
                .and_then(|t| t.storage)
                .expect("the new task's storage");
            // Keep the first task whose cell another task from this site
            // had before it: the case the newest-row rule decides.
            if !seen.insert(storage) && i >= 100 {
                return (line, (h, tx), true);
            }
            drop(tx);
            h.await.unwrap();
            if i < 100 {
                // Blocks of other sizes land on freed cells too.
                std::hint::black_box(vec![0u8; 100 + i]);
            }
        }
        panic!("no cell was ever reused; the test cannot check what it is for");
    });
    assert!(reused);
    let at_line: Vec<_> = turbowish_alloc::tasks()
        .into_iter()
        .filter(|t| t.location.line() == line)
        .collect();
    assert_eq!(at_line.len(), 1, "{at_line:#?}");
    assert_eq!(at_line[0].state, turbowish_alloc::TaskState::Pending);

    let s = common::snapshot("reuse").expect("snapshot");
    let rows: Vec<_> = s.tasks.iter().filter(|t| t.line == line).collect();
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].state, TaskState::Pending);
    drop(keep);
}
