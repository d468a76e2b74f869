//! What a snapshot reports: one pause figure (capture rule 12), the same in
//! `SnapshotInfo`, on the stderr line and in the file, and on that line the
//! signals it answers beyond the one that started it (install rule 4).

mod common;

use common::install_child::{self, Child};
use common::temp_dir;
use std::time::{Duration, Instant};
use turbowish_alloc::TurboWish;

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

/// Not a test of its own: the tests below run it in children.
#[test]
#[ignore = "run by the other tests in a child process"]
fn child() {
    install_child::child_main();
}

#[test]
fn snapshot_info_and_the_file_give_the_same_pause() {
    for n in 0..3 {
        let (info, s) = common::snapshot_with_info(&format!("pause-{n}"), &Default::default())
            .expect("snapshot");
        assert_eq!(info.pause.as_nanos() as u64, s.capture.pause_ns, "{info:?}");
        assert!(info.pause > Duration::ZERO && info.pause < info.elapsed);
    }
}

/// The path and the pause figure (`paused X ms`) of a `wrote` line.
fn path_and_pause(line: &str) -> (String, String) {
    let rest = line.split_once(": wrote ").expect("a wrote line").1;
    let (path, figures) = rest.split_once(" (").unwrap();
    let pause = figures.split_once("paused ").unwrap().1;
    (
        path.to_owned(),
        pause.split_once(" ms").unwrap().0.to_owned(),
    )
}

#[test]
fn the_stderr_line_shows_the_pause_the_file_records() {
    let dir = temp_dir("report-pause");
    let mut child = Child::start(&dir, &[("TURBOWISH_DIR", dir.as_os_str())]);
    child.signal(libc::SIGUSR1);
    let line = child.wait_for_report();
    let (path, shown) = path_and_pause(&line);
    let s = turbowish_format::read_file(path.as_ref()).expect("readable");
    // As `turbowish summary` shows it.
    let recorded = format!("{:.1}", s.capture.pause_ns as f64 / 1e6);
    assert_eq!(shown, recorded, "{line}");
    child.finish();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Whether `signal` is pending for process `pid` as a whole (`ShdPnd`).
fn pending(pid: i32, signal: i32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let mask = (status.lines())
        .find_map(|l| l.strip_prefix("ShdPnd:"))
        .map(|m| u64::from_str_radix(m.trim(), 16).unwrap())
        .unwrap();
    mask & (1 << (signal - 1)) != 0
}

/// How many requests a `wrote` line answers: 1, or the number its note
/// gives (`; N requests ... were merged into this one`).
fn requests_answered(line: &str) -> u64 {
    match line.rsplit_once("; ") {
        Some((_, note)) if note.contains(" merged into this one") => {
            note.split(' ').next().unwrap().parse().unwrap()
        }
        _ => 1,
    }
}

#[test]
fn five_signals_in_a_row_are_all_accounted_for() {
    let dir = temp_dir("report-requests");
    let mut child = Child::start(&dir, &[("TURBOWISH_DIR", dir.as_os_str())]);
    for _ in 0..5 {
        // The kernel keeps one pending instance of a signal: send the next
        // only once the handler has taken the last, so each one counts.
        let deadline = Instant::now() + common::PATIENCE;
        while pending(child.pid(), libc::SIGUSR1) {
            assert!(Instant::now() < deadline, "SIGUSR1 stays pending");
            std::thread::yield_now();
        }
        child.signal(libc::SIGUSR1);
    }
    let mut lines = Vec::new();
    let mut answered = 0;
    while answered < 5 {
        let line = child.wait_for_report();
        assert!(line.contains(": wrote "), "{line}");
        answered += requests_answered(&line);
        lines.push(line);
    }
    assert_eq!(answered, 5, "{lines:#?}");
    assert!(
        lines.len() < 5,
        "each signal made its own snapshot: {lines:#?}"
    );
    let files = common::names_in(&dir).len();
    assert_eq!(files, lines.len(), "{lines:#?}");
    child.finish();
    std::fs::remove_dir_all(&dir).unwrap();
}
