//! Attribution: blocks allocated inside tokio tasks on a multi-thread runtime
//! carry those tasks' ids; blocks allocated outside tasks carry 0.

use turbowish_alloc::{TurboWish, block, current_task};

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

/// The tokio id of the current task, as tokio prints it.
fn tokio_id() -> u64 {
    tokio::task::id().to_string().parse().unwrap()
}

#[test]
fn blocks_made_in_two_tasks_carry_those_task_ids() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let outside = vec![0u8; 777];
    let results = rt.block_on(async {
        let spawn = |n: usize| {
            tokio::spawn(async move {
                // Yield first so the task may move between workers.
                tokio::task::yield_now().await;
                let v = vec![n as u8; n];
                let s = format!("task {n}");
                (tokio_id(), v, s)
            })
        };
        let (a, b) = (spawn(1001), spawn(2002));
        (a.await.unwrap(), b.await.unwrap())
    });
    let ((ida, va, sa), (idb, vb, sb)) = results;
    assert_ne!(ida, idb);
    for (id, v, s) in [(ida, &va, &sa), (idb, &vb, &sb)] {
        let vblock = block(v.as_ptr()).expect("vec tracked");
        assert_eq!((vblock.size, vblock.task), (v.len(), id));
        assert_eq!(block(s.as_ptr()).map(|b| b.task), Some(id));
    }
    assert_eq!(block(outside.as_ptr()).map(|b| b.task), Some(0));
}

#[test]
fn spawn_blocking_closures_are_their_own_task() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (id, v) = rt.block_on(async {
        tokio::task::spawn_blocking(|| (tokio_id(), vec![3u8; 4321]))
            .await
            .unwrap()
    });
    assert_eq!(block(v.as_ptr()).map(|b| b.task), Some(id));
}

#[test]
fn block_on_is_outside_any_task() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let v = rt.block_on(async {
        assert_eq!(current_task(), 0);
        vec![1u8; 999]
    });
    assert_eq!(block(v.as_ptr()).map(|b| b.task), Some(0));
}

/// Documents the worker trap (see the `task` module): between polls, a
/// multi-thread worker reports its own blocking-task id, which is never the id
/// of a task user code spawned.
#[test]
fn worker_allocations_between_polls_carry_the_workers_id() {
    use std::sync::{Arc, Mutex};
    let seen = Arc::new(Mutex::new(Vec::new()));
    let hook_seen = seen.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .on_thread_park(move || {
            if let Ok(mut s) = hook_seen.try_lock() {
                s.push(current_task());
            }
        })
        .build()
        .unwrap();
    let user_ids: Vec<u64> = rt.block_on(async {
        let mut ids = Vec::new();
        for _ in 0..5 {
            ids.push(tokio::spawn(async { tokio_id() }).await.unwrap());
        }
        ids
    });
    drop(rt);
    let seen = seen.lock().unwrap();
    assert!(!seen.is_empty(), "the worker never parked");
    for tag in seen.iter() {
        assert_ne!(
            *tag, 0,
            "tokio reports no id between polls: the trap is gone"
        );
        assert!(!user_ids.contains(tag));
    }
}
