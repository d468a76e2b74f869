//! `TURBOWISH_AT_PEAK` (trigger rules 4, 5 and 8): one extra file,
//! `turbowish-<pid>-peak.twsnap`, replaced at each new high of live bytes,
//! at most once per `TURBOWISH_MIN_INTERVAL`.

mod common;

use common::install_child::{self, Child};
use common::temp_dir;
use common::triggers::{barrier, lines_of, live_mib, read, run, start, written};
use std::path::{Path, PathBuf};
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

fn peak_file(dir: &Path, child: &Child) -> PathBuf {
    dir.join(format!("turbowish-{}-peak.twsnap", child.pid()))
}

/// Waits until the peak file records at least `mib` live MiB; returns it.
fn peak_of_at_least(path: &Path, mib: f64) -> turbowish_format::Snapshot {
    common::wait_for("the peak file to hold the new high", || {
        let s = turbowish_format::read_file(path).map_err(|e| e.to_string())?;
        let live = live_mib(&s);
        if live >= mib {
            Ok(s)
        } else {
            Err(format!("{live} MiB"))
        }
    })
}

#[test]
fn the_peak_file_is_replaced_at_new_highs_only() {
    let dir = temp_dir("peak");
    let env = [("TURBOWISH_AT_PEAK", "1"), ("TURBOWISH_MIN_INTERVAL", "0")];
    let mut child = start(&dir, &env);
    let path = peak_file(&dir, &child);
    run(&mut child, "grow 20");
    peak_of_at_least(&path, 20.0);
    barrier(&mut child);
    // Down, and up again below the high: no new peak.
    run(&mut child, "free");
    run(&mut child, "grow 10");
    run(&mut child, "grow 5");
    barrier(&mut child);
    // Above it: replaced.
    run(&mut child, "grow 10");
    peak_of_at_least(&path, 25.0);
    let (status, lines) = child.end();
    assert!(status.success(), "{lines:#?}");
    let from = lines.iter().position(|l| l == "did free").unwrap();
    let to = lines.iter().rposition(|l| l == "did grow 10").unwrap();
    let below = lines_of(&lines[from..to], "peak");
    assert!(below.is_empty(), "a peak below the high: {lines:#?}");
    for line in lines_of(&lines, "peak") {
        assert_eq!(written(line), path.to_str().unwrap(), "{line}");
    }
    // The peak file is extra: the numbered ones are the signals'.
    let numbered = common::names_in(&dir).len() - 1;
    assert_eq!(numbered, lines_of(&lines, "signal").len(), "{lines:#?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_new_high_within_the_interval_waits_for_its_end() {
    let dir = temp_dir("peak-interval");
    let env = [("TURBOWISH_AT_PEAK", "1"), ("TURBOWISH_MIN_INTERVAL", "2s")];
    let mut child = start(&dir, &env);
    let path = peak_file(&dir, &child);
    run(&mut child, "grow 20");
    let first = peak_of_at_least(&path, 20.0);
    run(&mut child, "grow 20");
    let second = peak_of_at_least(&path, 40.0);
    let apart = Duration::from_nanos(second.process.time_ns - first.process.time_ns);
    assert!(apart >= Duration::from_secs(2), "{apart:?}");
    let (status, lines) = child.end();
    assert!(status.success(), "{lines:#?}");
    live_mib(&read(&path));
    std::fs::remove_dir_all(&dir).unwrap();
}
