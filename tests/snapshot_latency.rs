//! The service keeps answering, correctly and fast, while snapshots are
//! taken: no request fails, and the 99th percentile latency of requests sent
//! during a capture stays within 10 ms plus the pause the capture itself
//! measured (the `fork`).

mod common;

use common::service::*;
use common::turbowish_json;
use std::time::{Duration, Instant};
use turbowish_demo::load::{self, Latency, Plan, Probe};

/// Snapshots taken under load.
const SNAPSHOTS: usize = 3;
/// Allowed p99 on top of the capture's own pause.
const BUDGET: Duration = Duration::from_millis(10);

#[test]
fn requests_succeed_and_stay_fast_during_snapshots() {
    let mut server = start_server("latency", &["--all-faults"]);
    let addr = server.addr();
    // A heap worth scanning first: the same load as the other tests.
    let warm = load::run(addr, &Plan::new("warm", CONNS_A, REQUESTS));
    assert_eq!(warm.failures, 0, "{warm}");

    // Open connections pinging every millisecond, and connections coming and
    // going with real requests, while the snapshots are taken.
    let probe = Probe::start(addr, 4, Duration::from_millis(1)).unwrap();
    let mut churn = Plan::new("churn", 40, 100);
    churn.concurrency = 4;
    churn.pause = Duration::from_millis(1);
    let churn = std::thread::spawn(move || load::run(addr, &churn));
    let mut windows = Vec::new();
    for _ in 0..SNAPSHOTS {
        std::thread::sleep(Duration::from_millis(150));
        let from = Instant::now();
        let path = server.snapshot(SNAPSHOT_TIMEOUT).unwrap();
        windows.push((from, Instant::now(), path));
    }
    let pings = probe.stop();
    let churn = churn.join().unwrap();
    let status = server.stop(Duration::from_secs(10)).unwrap();
    assert!(status.success(), "{status}");

    assert_eq!(pings.failures, 0, "{pings}");
    assert_eq!(churn.failures, 0, "{churn}");
    for (from, to, path) in &windows {
        let summary = turbowish_json(&["summary", "--json", arg(path)]);
        let pause = Duration::from_nanos(summary["capture"]["pause_ns"].as_u64().unwrap());
        let during: Vec<_> = pings
            .samples
            .iter()
            .chain(&churn.samples)
            .filter(|s| s.sent >= *from && s.sent <= *to)
            .collect();
        let latency = Latency::of(during.iter().copied());
        eprintln!(
            "capture of {:.0} ms (pause {:.2} ms): {} requests, {latency}",
            (*to - *from).as_secs_f64() * 1e3,
            pause.as_secs_f64() * 1e3,
            during.len()
        );
        assert!(
            during.len() >= 50,
            "too few requests during the capture to judge: {}",
            during.len()
        );
        assert!(
            latency.p99 <= BUDGET + pause,
            "p99 {:?} during a capture exceeds {BUDGET:?} + the pause {pause:?}",
            latency.p99
        );
    }
}
