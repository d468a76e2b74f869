//! 200 leaked plain `tokio::spawn` tasks, each waiting for ever on a channel
//! whose sender a global list keeps, each holding a 32 KiB buffer: every
//! task retains its own buffer, and tokio's bookkeeping (the owned-task
//! list, the run queues) links no task to another (cell rule 5).

mod common;

use common::{scrub_stack, wait_for};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use turbowish::TurboWish;
use turbowish_snap::analysis::Analysis;
use turbowish_snap::rules::tag;
use turbowish_snap::{BlockIndex, TaskIndex, TaskKind, TaskState};

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

const TASKS: usize = 200;
const BUFFER: u64 = 32 * 1024;

/// The senders nobody will use: the leak.
static SENDERS: Mutex<Vec<tokio::sync::oneshot::Sender<()>>> = Mutex::new(Vec::new());
static READY: AtomicUsize = AtomicUsize::new(0);

/// The stand-in for a library that leaks.
fn leak_one() {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    SENDERS.lock().unwrap().push(tx);
    drop(tokio::spawn(async move {
        let buffer = vec![5u8; BUFFER as usize];
        scrub_stack();
        READY.fetch_add(1, Ordering::SeqCst);
        let _ = rx.await;
        drop(buffer);
    }));
}

#[test]
fn leaked_tasks_retain_their_own_buffers_and_not_each_other() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        for _ in 0..TASKS {
            leak_one();
        }
    });
    wait_for("the tasks to allocate", || {
        match READY.load(Ordering::SeqCst) {
            TASKS => Ok(()),
            n => Err(n),
        }
    });
    let path = std::env::temp_dir().join(format!("tw-leaked-{}.twsnap", std::process::id()));
    let s = wait_for("every task to be parked", || {
        turbowish::snapshot_to(&path).unwrap();
        let s = turbowish_snap::read_file(&path).unwrap();
        let parked = (s.tasks.iter())
            .filter(|t| t.kind == TaskKind::Tokio && t.state == TaskState::Pending)
            .count();
        if parked == TASKS { Ok(s) } else { Err(parked) }
    });
    let _ = std::fs::remove_file(&path);
    let a = Analysis::new(&s);
    let cell_task: std::collections::HashMap<BlockIndex, TaskIndex> = (s.task_indices())
        .zip(&s.tasks)
        .filter_map(|(i, t)| Some((t.cell?, i)))
        .collect();

    // Pointers from one cell to another: the owned-task list links every
    // cell to its neighbours, and none of them may count. A stray stale word
    // in a cell's unused stage (the conservative scan's limit) may remain.
    let cross = (s.edges.iter())
        .filter(|e| e.from != e.to && cell_task.contains_key(&e.from))
        .filter(|e| cell_task.contains_key(&e.to))
        .count();
    assert!(cross < TASKS / 20, "{cross} edges from a cell to another");
    // What points at a cell: its channel (the receiver's waker), which the
    // global list's senders hold. Not the runtime's own blocks: the owned
    // list's heads, the run queues' stale slots (cell rule 5c).
    let list = SENDERS.lock().unwrap().as_ptr() as u64;
    let list = s
        .blocks
        .binary_search_by_key(&list, |b| b.addr)
        .expect("the list's buffer");
    let list = BlockIndex::from_usize(list).unwrap();
    let channels: std::collections::HashSet<BlockIndex> = (s.edges.iter())
        .filter(|e| e.from == list)
        .map(|e| e.to)
        .collect();
    assert_eq!(channels.len(), TASKS, "one channel per task");
    let strangers = (s.edges.iter())
        .filter(|e| e.from != e.to && s.tasks.iter().any(|t| t.cell == Some(e.to)))
        .filter(|e| !channels.contains(&e.from) && !cell_task.contains_key(&e.from))
        .count();
    assert_eq!(
        strangers, 0,
        "pointers to cells from other blocks than their channels"
    );
    let mut checked = 0;
    for (i, t) in (s.task_indices())
        .zip(&s.tasks)
        .filter(|(_, t)| t.kind == TaskKind::Tokio)
    {
        assert!(a.task_rows()[i.index()].retained >= BUFFER, "{t:?}");
        let buffers = (s.block_indices())
            .zip(&s.blocks)
            .filter(|(_, b)| b.size == BUFFER && b.task == tag(t.id));
        for (b, _) in buffers {
            // The retaining path from the root: no other task's cell on it.
            let mut node = a.graph().block_node(b.get());
            while let Some(parent) = a.shortest_paths().parent(node).filter(|&p| p != node) {
                if let Some(c) = a.graph().node_block(parent).map(BlockIndex::new) {
                    let other = cell_task.get(&c).is_some_and(|&owner| owner != i);
                    assert!(!other, "task {}'s buffer is held through cell {c}", t.id);
                }
                node = parent;
            }
            checked += 1;
        }
    }
    assert_eq!(checked, TASKS, "one buffer per task");
    rt.shutdown_background();
}
