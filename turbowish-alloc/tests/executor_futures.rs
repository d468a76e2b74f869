//! The task wrapper on an executor that is not tokio: `futures`'
//! `block_on` and `LocalPool`.

use futures::executor::{LocalPool, block_on};
use futures::task::LocalSpawnExt;
use std::cell::RefCell;
use std::rc::Rc;
use turbowish_alloc::{TaskState, TracedExt};

#[global_allocator]
static A: turbowish_alloc::TurboWish = turbowish_alloc::TurboWish::system();

/// An allocation made inside the future, and the tag it got.
async fn allocate() -> (Box<[u8; 256]>, u64) {
    let b = Box::new([0u8; 256]);
    let tag = turbowish_alloc::block(&*b as *const [u8; 256])
        .unwrap()
        .task;
    (b, tag)
}

#[test]
fn block_on_tags_allocations_with_the_task() {
    let (b, tag) = block_on(allocate().named("on block_on"));
    assert!(tag >= 1 << 31, "an own tag, not tokio's: {tag}");
    assert_eq!(turbowish_alloc::block(&*b as *const _).unwrap().task, tag);
    // Outside the task, the context is restored.
    assert_eq!(turbowish_alloc::current_task(), 0);
    // A future on `block_on`'s stack has no heap storage; finished, it is gone.
    assert!(
        !turbowish_alloc::tasks()
            .iter()
            .any(|t| t.name == "on block_on")
    );
}

#[test]
fn local_pool_tasks_have_their_own_tags_and_storage() {
    let mut pool = LocalPool::new();
    let tags = Rc::new(RefCell::new(Vec::new()));
    let (gate_tx, gate_rx) = futures::channel::oneshot::channel::<()>();
    let gate = futures::future::FutureExt::shared(gate_rx);
    for i in 0..3 {
        let (tags, gate) = (tags.clone(), gate.clone());
        let task = async move {
            let (b, tag) = allocate().await;
            tags.borrow_mut()
                .push((tag, turbowish_alloc::current_task()));
            let _ = gate.await; // stay alive until the check below
            drop(b);
        };
        pool.spawner()
            .spawn_local(task.named(["p0", "p1", "p2"][i]))
            .unwrap();
    }
    pool.run_until_stalled();
    let seen = tags.borrow().clone();
    assert_eq!(seen.len(), 3);
    for &(tag, current) in &seen {
        assert_eq!(tag, current);
        assert!(tag >= 1 << 31);
    }
    let distinct: std::collections::HashSet<_> = seen.iter().map(|t| t.0).collect();
    assert_eq!(distinct.len(), 3, "each task has its own tag");

    let tasks = turbowish_alloc::tasks();
    for name in ["p0", "p1", "p2"] {
        let t = tasks.iter().find(|t| t.name == name).expect(name);
        assert_eq!(t.state, TaskState::Pending);
        assert_eq!(t.polls, 1);
        assert!(distinct.contains(&t.id));
        // `futures` keeps each task in an `Arc`: found through the waker.
        let storage = t.storage.expect("storage found through the waker");
        let block = turbowish_alloc::block(storage as *const u8).unwrap();
        assert!(block.size as usize >= t.future_size);
    }
    gate_tx.send(()).unwrap();
    pool.run();
    assert!(
        !turbowish_alloc::tasks()
            .iter()
            .any(|t| t.name.starts_with('p'))
    );
}
