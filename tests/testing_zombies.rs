//! `testing::Heap::assert_no_zombies` on a zombie future: a plain
//! `tokio::spawn` task that stored its waker in a registry and finished.
//! The assertion fails naming the task and what holds it, and passes once
//! the registry is cleared.

mod common;

use common::panic_message;
use std::sync::Mutex;
use std::task::{Poll, Waker};
use turbowish::TurboWish;
use turbowish::testing::Heap;

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

/// The registry: wakers kept after their task is done.
static WAKERS: Mutex<Vec<Waker>> = Mutex::new(Vec::new());

#[test]
fn a_stored_waker_zombie_fails_until_the_registry_is_cleared() {
    WAKERS.lock().unwrap().reserve(8);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let line = line!() + 2;
    rt.block_on(async {
        let task = tokio::spawn(std::future::poll_fn(|cx| {
            WAKERS.lock().unwrap().push(cx.waker().clone());
            Poll::Ready(())
        }));
        task.await.unwrap();
    });
    let spawned_at = format!("testing_zombies.rs:{line}");

    let heap = Heap::take();
    let zombies = heap.spawned_at(&spawned_at).zombies();
    assert_eq!(zombies.len(), 1, "{zombies:#?}");
    let message = panic_message(|| heap.assert_no_zombies());
    assert!(message.contains("1 zombie future"), "{message}");
    assert!(message.contains(&spawned_at), "{message}");
    assert!(message.contains("completed"), "{message}");
    let retainers = format!("$ turbowish retainers {}", heap.keep().display());
    assert!(message.contains(&retainers), "{message}");
    // The path ends at the task's storage, held from the registry's buffer.
    assert!(message.contains("static"), "{message}");
    heap.spawned_at("elsewhere.rs").assert_no_zombies();
    std::fs::remove_file(heap.keep()).unwrap();
    drop(heap);

    WAKERS.lock().unwrap().clear();
    Heap::take().assert_no_zombies();
    drop(rt);
}
