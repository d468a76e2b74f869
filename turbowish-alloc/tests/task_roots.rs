//! Task roots on tokio: three spawn sites, and what the snapshot says about
//! each: spawn location, state, future size, the blocks each task reaches.

mod common;

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use turbowish_format::{
    BlockIndex, EdgeKind, RootKind, Snapshot, StringIndex, Task, TaskIndex, TaskKind, TaskState,
};

#[global_allocator]
static A: turbowish_alloc::TurboWish = turbowish_alloc::TurboWish::system();

fn string(s: &Snapshot, i: StringIndex) -> &str {
    s.string(i)
}

/// Blocks reachable from `start` along `edges` (all kinds).
fn reachable(s: &Snapshot, start: &[BlockIndex]) -> HashSet<BlockIndex> {
    let mut seen: HashSet<BlockIndex> = start.iter().copied().collect();
    let mut queue: VecDeque<BlockIndex> = start.iter().copied().collect();
    while let Some(b) = queue.pop_front() {
        let first = s.edges.partition_point(|e| e.from < b);
        for e in s.edges[first..].iter().take_while(|e| e.from == b) {
            if seen.insert(e.to) {
                queue.push_back(e.to);
            }
        }
    }
    seen
}

fn task_named<'a>(s: &'a Snapshot, name: &str) -> (TaskIndex, &'a Task) {
    let (i, t) = s
        .tasks
        .iter()
        .enumerate()
        .find(|(_, t)| string(s, t.name) == name)
        .unwrap_or_else(|| panic!("no task named {name}"));
    (TaskIndex::new(i as u32), t)
}

struct Expected {
    line: u32,
    size: u64,
}

#[test]
fn three_spawn_sites() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let (big_addr_tx, big_addr_rx) = oneshot::channel::<usize>();
    let (stop_big_tx, stop_big_rx) = oneshot::channel::<()>();
    let big = async move {
        let big = vec![7u8; 1 << 20];
        big_addr_tx.send(big.as_ptr() as usize).unwrap();
        let _ = stop_big_rx.await;
        drop(big);
    };
    let big_size = size_of_val(&big) as u64;

    let strings: Arc<Vec<String>> =
        Arc::new((0..100).map(|i| format!("string number {i}")).collect());
    let (stop_strings_tx, stop_strings_rx) = oneshot::channel::<()>();
    let shared = strings.clone();
    let with_strings = async move {
        let _ = stop_strings_rx.await;
        drop(shared);
    };
    let strings_size = size_of_val(&with_strings) as u64;

    let (idle_tx, mut idle_rx) = mpsc::channel::<u64>(1);
    let idle = async move { while idle_rx.recv().await.is_some() {} };
    let idle_size = size_of_val(&idle) as u64;

    let (expect, handles) = rt.block_on(async {
        use turbowish_alloc::TracedExt;
        let big_line = line!() + 1;
        let h1 = turbowish_alloc::traced(big).named("big").spawn();
        let strings_line = line!() + 1;
        let h2 = with_strings.named("strings").root(strings.clone()).spawn();
        let idle_line = line!() + 1;
        let h3 = turbowish_alloc::spawn(idle);
        tokio::task::yield_now().await;
        (
            [
                Expected {
                    line: big_line,
                    size: big_size,
                },
                Expected {
                    line: strings_line,
                    size: strings_size,
                },
                Expected {
                    line: idle_line,
                    size: idle_size,
                },
            ],
            (h1, h2, h3),
        )
    });
    let big_addr = rt.block_on(big_addr_rx).unwrap();
    let ours = |t: &turbowish_alloc::TaskInfo| expect.iter().any(|e| e.line == t.location.line());
    // Every task has reached its await point: polled, and parked there.
    common::wait_for("the three tasks to reach their await", || {
        let tasks: Vec<_> = turbowish_alloc::tasks().into_iter().filter(ours).collect();
        let parked = |t: &turbowish_alloc::TaskInfo| {
            t.polls >= 1 && t.state == turbowish_alloc::TaskState::Pending
        };
        if tasks.len() == 3 && tasks.iter().all(parked) {
            Ok(())
        } else {
            Err(tasks)
        }
    });

    let (info, s) =
        common::snapshot_with_info("task-roots", &Default::default()).expect("snapshot");
    assert_eq!(info.blocks, s.blocks.len() as u64);

    // The task table. The idle task is unnamed: found by its line.
    let by_line = |line: u32| {
        let (i, t) = s
            .tasks
            .iter()
            .enumerate()
            .find(|(_, t)| t.line == line)
            .expect("task by line");
        (TaskIndex::new(i as u32), t)
    };
    for (name, e) in ["big", "strings", "idle"].iter().zip(&expect) {
        let (_, t) = by_line(e.line);
        assert_eq!(string(&s, t.name), if *name == "idle" { "" } else { *name });
        assert!(
            string(&s, t.file).ends_with("tests/task_roots.rs"),
            "{name}: {}",
            string(&s, t.file)
        );
        assert_eq!(t.line, e.line, "{name}: spawn line");
        assert_eq!(t.state, TaskState::Pending, "{name}: state");
        assert!(t.polls >= 1, "{name}: polled");
        assert_ne!(t.id, 0, "{name}: has a tag");
        assert!(t.storage.is_some(), "{name}: storage found");
        assert!(t.last_poll_ns >= t.spawned_ns && t.spawned_ns > 0);
        assert!(
            string(&s, t.future_type).contains("task_roots"),
            "{}",
            string(&s, t.future_type)
        );
        assert_eq!(t.future_size, e.size, "{name}: future size");
    }
    // Beside them, untraced rows for the runtime's own tokio tasks (its
    // workers run as blocking tasks), found from their cells.
    let traced = s.tasks.iter().filter(|t| t.kind == TaskKind::Traced);
    assert_eq!(traced.count(), 3, "only the three traced tasks");
    assert!(
        s.tasks
            .iter()
            .all(|t| t.kind == TaskKind::Traced || t.cell.is_some())
    );

    // Each task root targets its own storage block.
    for (name, e) in ["big", "strings", "idle"].iter().zip(&expect) {
        let (ti, t) = by_line(e.line);
        let root = s
            .roots
            .iter()
            .find(|r| r.kind == RootKind::Task && r.task == Some(ti))
            .expect("a root per task");
        assert!(root.targets.contains(&t.storage.unwrap()));
        let storage = s.block(t.storage.unwrap());
        assert!(
            storage.size >= t.future_size,
            "{name}: the storage holds the future"
        );
    }

    // The 1 MiB Vec: allocated by the big task, held by its storage block.
    let (_, big_task) = task_named(&s, "big");
    let big_block = common::block_index(&s, big_addr);
    assert_eq!(s.blocks[big_block].size, 1 << 20);
    assert_eq!(s.blocks[big_block].task, big_task.id & 0xffff_ffff);
    let storage = big_task.storage.unwrap();
    assert!(
        s.edges
            .iter()
            .any(|e| e.from == storage && e.to == big_block),
        "the big task's storage points at its Vec"
    );

    // The strings task's typed root reaches exactly its Arc, the Vec buffer
    // and the 100 strings, by typed edges with labels and types.
    let (si, st) = task_named(&s, "strings");
    assert!(string(&s, st.value_type).contains("Arc<alloc::vec::Vec<alloc::string::String>>"));
    let root = s.roots.iter().find(|r| r.task == Some(si)).unwrap();
    let arc_block = root
        .targets
        .iter()
        .zip(&root.labels)
        .find(|&(&t, _)| Some(t) != st.storage)
        .map(|(&t, _)| t)
        .expect("the typed value's target");
    let typed_from = |b: BlockIndex| -> Vec<BlockIndex> {
        s.edges
            .iter()
            .filter(|e| e.from == b && e.kind == EdgeKind::Typed)
            .map(|e| e.to)
            .collect()
    };
    let buffer = typed_from(arc_block);
    assert_eq!(buffer.len(), 1, "the Arc holds one Vec buffer");
    let buffer = buffer[0];
    assert_eq!(s.blocks[buffer].addr, strings.as_ptr() as u64);
    assert!(string(&s, s.blocks[buffer].type_name).starts_with("alloc::vec::Vec<"));
    let c = s
        .containers
        .iter()
        .find(|c| c.block == buffer)
        .expect("counts");
    assert_eq!((c.len, c.capacity), (100, strings.capacity() as u64));
    let leaves = typed_from(buffer);
    let want: HashSet<u64> = strings.iter().map(|x| x.as_ptr() as u64).collect();
    let got: HashSet<u64> = leaves.iter().map(|&b| s.blocks[b].addr).collect();
    assert_eq!(
        got, want,
        "the buffer's typed edges are exactly the 100 strings"
    );
    for &b in &leaves {
        assert_eq!(string(&s, s.blocks[b].type_name), "String");
        let e = s
            .edges
            .iter()
            .find(|e| e.from == buffer && e.to == b)
            .unwrap();
        assert_eq!(string(&s, e.label), "[]");
    }
    // Trace rule 4: the buffer was walked completely, so its edges are all
    // typed.
    assert!(
        s.edges
            .iter()
            .filter(|e| e.from == buffer)
            .all(|e| e.kind == EdgeKind::Typed)
    );

    // Every block the big task allocated is reachable from its root.
    let from_big = reachable(&s, &[storage]);
    for (i, b) in s.block_indices().zip(&s.blocks) {
        if b.task == big_task.id & 0xffff_ffff {
            assert!(
                from_big.contains(&i),
                "block {i} of the big task unreachable"
            );
        }
    }

    stop_big_tx.send(()).unwrap();
    stop_strings_tx.send(()).unwrap();
    drop(idle_tx);
    rt.block_on(async {
        handles.0.await.unwrap();
        handles.1.await.unwrap();
        handles.2.await.unwrap();
    });
    // Finished and joined: their storage is freed, so they are gone. A
    // worker may drop a task's last reference just after its JoinHandle
    // returns, so the check waits for that.
    common::wait_for("the joined tasks to leave the registry", || {
        let left: Vec<_> = turbowish_alloc::tasks().into_iter().filter(ours).collect();
        if left.is_empty() { Ok(()) } else { Err(left) }
    });
}
