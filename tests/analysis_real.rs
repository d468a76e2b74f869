//! Retained sizes on a real snapshot: tasks holding known amounts of memory,
//! checked against `turbowish tasks --json` and the analysis library.

mod common;

use common::{scrub_stack, turbowish_json, wait_until_parked};
use turbowish::TurboWish;

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

const TASKS: usize = 4;

/// What task `i` holds on its own inside its future: a buffer and some boxes.
fn held_bytes(i: usize) -> usize {
    64 * 1024 * (i + 1) + 10 * 1000
}

#[test]
fn each_task_retains_what_only_it_holds() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let mut stops = Vec::new();
    let mut handles = Vec::new();
    for i in 0..TASKS {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        stops.push(tx);
        let task = async move {
            let buffer = vec![1u8; 64 * 1024 * (i + 1)];
            let boxes: Vec<Box<[u8; 1000]>> = (0..10).map(|_| Box::new([2u8; 1000])).collect();
            scrub_stack();
            let _ = rx.await;
            drop((buffer, boxes));
        };
        let _enter = rt.enter();
        handles.push(turbowish::TracedExt::named(task, ["t0", "t1", "t2", "t3"][i]).spawn());
    }
    wait_until_parked(TASKS, |t| t.name.len() == 2 && t.name.starts_with('t'));
    let path = std::env::temp_dir().join(format!("tw-analysis-{}.twsnap", std::process::id()));
    turbowish::snapshot_to(&path).expect("snapshot");

    let snap = turbowish_snap::read_file(&path).unwrap();
    let rows = turbowish_json(&[
        "tasks".as_ref(),
        "--json".as_ref(),
        "--top".as_ref(),
        "0".as_ref(),
        path.as_os_str(),
    ])["tasks"]
        .take();
    std::fs::remove_file(&path).unwrap();
    for i in 0..TASKS {
        let name = format!("t{i}");
        let row = rows
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name.as_str())
            .unwrap_or_else(|| panic!("no row for {name}: {rows:#}"));
        let task = snap
            .tasks
            .iter()
            .find(|t| snap.string(t.name) == name)
            .unwrap();
        let storage = snap.block(task.storage.expect("storage")).size;
        // The truth: the task's storage block, its buffer, its Vec of boxes'
        // buffer and the ten boxes.
        let truth = storage + held_bytes(i) as u64 + 10 * 8;
        let retained = row["retained"].as_u64().unwrap();
        let error = retained.abs_diff(truth) as f64 / truth as f64;
        assert!(
            error <= 0.01,
            "{name}: retained {retained}, truth {truth} ({:.2}% off)",
            error * 100.0
        );
        assert!(row["allocated"].as_u64().unwrap() >= held_bytes(i) as u64);
        assert_eq!(row["state"], "pending");
    }
    // Sorted by retained, largest first: t3 holds the most.
    assert_eq!(rows[0]["name"], "t3");
    for tx in stops {
        let _ = tx.send(());
    }
    rt.block_on(async {
        for h in handles {
            h.await.unwrap();
        }
    });
}
