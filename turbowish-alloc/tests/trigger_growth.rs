//! `TURBOWISH_ON_GROWTH` (trigger rules 1 to 3, 5 and 8): a snapshot each
//! time live bytes exceed those at the previous numbered snapshot by the
//! threshold, not below it, at most once per `TURBOWISH_MIN_INTERVAL`.

mod common;

use common::install_child;
use common::temp_dir;
use common::triggers::{barrier, grown_mib, lines_of, live_mib, read, run, start, written};
use std::time::Duration;
use turbowish_alloc::TurboWish;

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

/// Not a test of its own: the tests below run it in children.
#[test]
#[ignore = "run by the other tests in a child process"]
fn child() {
    install_child::script_main();
}

#[test]
fn growth_fires_past_its_threshold_above_the_previous_snapshot_only() {
    let dir = temp_dir("growth");
    let env = [
        ("TURBOWISH_ON_GROWTH", "16MiB"),
        ("TURBOWISH_MIN_INTERVAL", "0"),
    ];
    let mut child = start(&dir, &env);
    // Below the threshold: nothing, once everything crossed is answered.
    run(&mut child, "grow 10");
    barrier(&mut child);
    // 20 MiB above install, but 10 above the signal snapshots: nothing.
    run(&mut child, "grow 10");
    barrier(&mut child);
    // 20 above the last of them: one snapshot, saying so.
    run(&mut child, "grow 20");
    let line = child
        .wait_for(|l| l.starts_with("turbowish: growth"))
        .expect("a growth snapshot");
    let (status, lines) = child.end();
    assert!(status.success(), "{lines:#?}");
    let growth = lines_of(&lines, "growth");
    assert_eq!(growth, [&line], "{lines:#?}");
    let grown = grown_mib(&line);
    assert!((16.0..21.0).contains(&grown), "{line}");
    assert!(live_mib(&read(written(&line))) >= 40.0, "{line}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn growth_waits_its_interval_then_fires_if_still_grown() {
    let dir = temp_dir("growth-interval");
    let env = [
        ("TURBOWISH_ON_GROWTH", "8MiB"),
        ("TURBOWISH_MIN_INTERVAL", "2s"),
    ];
    let mut child = start(&dir, &env);
    let growth = |l: &str| l.starts_with("turbowish: growth");
    run(&mut child, "grow 10");
    let first = child.wait_for(growth).expect("a first growth snapshot");
    // Past the threshold again at once; the heap then stays put, so only
    // the end of the interval can bring the snapshot.
    run(&mut child, "grow 10");
    let second = child.wait_for(growth).expect("a second growth snapshot");
    let (status, lines) = child.end();
    assert!(status.success(), "{lines:#?}");
    assert_eq!(lines_of(&lines, "growth").len(), 2, "{lines:#?}");
    let (a, b) = (read(written(&first)), read(written(&second)));
    let apart = Duration::from_nanos(b.process.time_ns - a.process.time_ns);
    assert!(apart >= Duration::from_secs(2), "{apart:?}: {lines:#?}");
    assert!(live_mib(&b) >= 20.0, "{second}");
    std::fs::remove_dir_all(&dir).unwrap();
}
