//! `turbowish waits` on the demo service, `turbowish-kv`, run as a user
//! runs it: healthy, nothing is stuck, idle or under the demo's load; with
//! its faults on, it finds the stuck compaction pipeline (`--stuck-queue`)
//! and a deadlocked pair of tasks per `SWAP` (`--lock-order`), and nothing
//! else.

mod common;

use common::service::*;
use common::waits::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;
use turbowish_demo::load::{self, Client, Plan};

/// The line of the demo's source file `file` (under `src/`) that is
/// `text`, but for indentation.
fn line_of(file: &str, text: &str) -> u32 {
    let source = match file {
        "faults/stuck_queue.rs" => include_str!("../turbowish-demo/src/faults/stuck_queue.rs"),
        "faults/lock_order.rs" => include_str!("../turbowish-demo/src/faults/lock_order.rs"),
        _ => panic!("no source for {file}"),
    };
    let at: Vec<usize> = (source.lines().enumerate())
        .filter(|(_, l)| l.trim() == text)
        .map(|(i, _)| i)
        .collect();
    match at[..] {
        [i] => 1 + i as u32,
        _ => panic!("{text:?} is on one line of src/{file}, not {at:?}"),
    }
}

/// `src/FILE:LINE`, as a spawn site ends.
fn site(file: &str, text: &str) -> String {
    format!("src/{file}:{}", line_of(file, text))
}

fn nothing_stuck(file: &std::path::Path) {
    let v = waits(file, &[]);
    assert!(stuck(&v).is_empty(), "nothing stuck: {v:#}");
    assert!(cycles(&v).is_empty(), "{v:#}");
}

#[test]
fn a_healthy_server_has_no_stuck_task_idle_or_under_load() {
    let mut server = start_server("waits-off", &[]);
    let addr = server.addr();
    let mut control = Client::connect(addr).unwrap();
    let _idle: Vec<Client> = (1..OPEN).map(|_| Client::connect(addr).unwrap()).collect();
    control
        .wait_for_active(OPEN as u64, Duration::from_secs(20))
        .unwrap();
    nothing_stuck(&server.snapshot(SNAPSHOT_TIMEOUT).unwrap());

    // Under load: two snapshots taken while the load runs (checked after
    // them: the load had not finished when the second file appeared). A
    // task caught at the fork's instant in the middle of being woken can
    // look stuck in one of them (README, Limits); a task stuck in both is
    // a false report.
    let plan = Plan {
        pause: Duration::from_millis(1),
        ..Plan::new("busy", 8, 4000)
    };
    let running = std::thread::spawn(move || load::run(addr, &plan));
    common::wait_for("the load to be under way", || {
        match control.stats().unwrap().requests {
            n if n >= 500 => Ok(()),
            n => Err(n),
        }
    });
    let busy = [(); 2].map(|_| server.snapshot(SNAPSHOT_TIMEOUT).unwrap());
    assert!(!running.is_finished(), "the snapshots came after the load");
    let report = running.join().unwrap();
    assert_eq!(report.failures, 0, "{report}");
    let [first, second] = busy.map(|f| waits(&f, &[]));
    let stuck_ids = |v: &serde_json::Value| stuck(v).into_keys().collect::<BTreeSet<u64>>();
    let both: Vec<u64> = (stuck_ids(&first).intersection(&stuck_ids(&second)))
        .copied()
        .collect();
    assert!(
        both.is_empty(),
        "stuck in both: {both:?}\n{first:#}\n{second:#}"
    );

    let status = server.stop(Duration::from_secs(10)).unwrap();
    assert!(status.success(), "{status}");
}

#[test]
fn the_stuck_queue_and_the_lock_order_deadlocks_are_found() {
    let s = scenario("waits-on", &["--all-faults"]);
    let scheduler_site = site("faults/stuck_queue.rs", ".named(\"compaction-scheduler\")");
    // The spawn is on the line after the compactor's channel.
    let channel = "let (tx, mut rx) = mpsc::channel::<Job>(SHARD_QUEUE);";
    let compactor_line = line_of("faults/stuck_queue.rs", channel) + 1;
    let compactor_site = format!("src/faults/stuck_queue.rs:{compactor_line}");
    let half_site = site("faults/lock_order.rs", "tokio::spawn(half.run())");
    // One SWAP per load run: one before snapshot A, two before B.
    for (file, swaps) in [(&s.a, 1), (&s.b, 2)] {
        let v = waits(file, &[]);
        let stuck = stuck(&v);
        let at = |site: &str| -> BTreeSet<u64> {
            let on_site = |t: &&&Value| t["spawned_at"].as_str().unwrap().contains(site);
            stuck.values().filter(on_site).map(|t| id(t)).collect()
        };
        let (schedulers, compactors, halves) =
            (at(&scheduler_site), at(&compactor_site), at(&half_site));
        let shards = turbowish_demo::faults::stuck_queue::SHARDS;
        assert_eq!(schedulers.len(), 1, "{v:#}");
        assert_eq!(compactors.len(), shards, "{v:#}");
        assert_eq!(halves.len(), 2 * swaps, "{v:#}");
        assert_eq!(stuck.len(), 1 + shards + 2 * swaps, "nothing else: {v:#}");

        // The compactors are stuck behind the scheduler, which holds their
        // queues' only senders and which nothing can wake.
        let scheduler = *schedulers.first().unwrap();
        let sch = stuck[&scheduler];
        assert_task_object(sch, "traced", &scheduler_site, "pending");
        assert_eq!(sch["reason"], "no-waker", "{sch:#}");
        for c in &compactors {
            let t = stuck[c];
            assert_task_object(t, "tokio", &compactor_site, "pending");
            assert_eq!(t["reason"], "behind", "{t:#}");
            assert_eq!(t["behind"].as_u64(), Some(scheduler), "{t:#}");
        }

        // Each SWAP's two halves are one cycle.
        let cycles = cycles(&v);
        assert_eq!(cycles.len(), swaps, "{v:#}");
        assert!(cycles.iter().all(|c| c.len() == 2), "{v:#}");
        let in_cycles: BTreeSet<u64> = cycles.iter().flatten().copied().collect();
        assert_eq!(in_cycles, halves, "{v:#}");
        for h in &halves {
            let t = stuck[h];
            assert_task_object(t, "tokio", &half_site, "pending");
            assert_eq!(t["reason"], "cycle", "{t:#}");
        }
    }
}
