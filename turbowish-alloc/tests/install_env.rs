//! `install()` and its environment: `TURBOWISH_SIGNAL` and
//! `TURBOWISH_TIMEOUT`. A refused or unreadable value gives exactly one line
//! on stderr and the default, and the default then works.

mod common;

use common::install_child::{self, Child};
use common::{names_in, temp_dir};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use turbowish_alloc::TurboWish;

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

/// Not a test of its own: the tests below run it in children.
#[test]
#[ignore = "run by the other tests in a child process"]
fn child() {
    install_child::child_main();
}

/// Starts a child with `TURBOWISH_SIGNAL=value`, snapshots into `dir`.
fn with_signal(dir: &std::path::Path, value: &OsStr) -> Child {
    Child::start(
        dir,
        &[
            ("TURBOWISH_SIGNAL", value),
            ("TURBOWISH_DIR", dir.as_os_str()),
        ],
    )
}

/// One snapshot on `signal`; returns every stderr line and checks that the
/// file was written, once, into `dir`.
fn snapshot_on(mut child: Child, signal: i32, dir: &std::path::Path) -> Vec<String> {
    let pid = child.pid();
    child.signal(signal);
    let report = child.wait_for_report();
    assert!(report.contains(": wrote "), "{report}");
    let lines = child.finish();
    assert_eq!(
        names_in(dir),
        [format!("turbowish-{pid}-1.twsnap")],
        "{lines:?}"
    );
    lines
}

#[test]
fn sigchld_and_glibcs_reserved_signals_are_refused_for_usr1() {
    for (value, shown) in [("17", "17"), ("32", "32"), ("SIGCHLD", "SIGCHLD")] {
        let dir = temp_dir(&format!("refused-{value}"));
        let child = with_signal(&dir, OsStr::new(value));
        assert!(child.catches(libc::SIGUSR1), "{value}: no USR1 handler");
        assert!(!child.catches(libc::SIGCHLD), "{value}: SIGCHLD is caught");
        let lines = snapshot_on(child, libc::SIGUSR1, &dir);
        // The refusal, then the snapshot; nothing else (no second capture
        // started by the first one's exit).
        assert_eq!(lines.len(), 2, "{value}: {lines:?}");
        assert!(
            lines[0].starts_with(&format!("turbowish: TURBOWISH_SIGNAL=\"{shown}\" "))
                && lines[0].ends_with("; using SIGUSR1"),
            "{value}: {lines:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn signal_names_are_case_insensitive_with_or_without_sig() {
    let dir = temp_dir("sigusr2");
    let child = with_signal(&dir, OsStr::new("SiGuSr2"));
    assert!(child.catches(libc::SIGUSR2));
    assert!(!child.catches(libc::SIGUSR1));
    let lines = snapshot_on(child, libc::SIGUSR2, &dir);
    assert_eq!(lines.len(), 1, "{lines:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_signal_that_is_not_utf8_gives_one_line_and_usr1() {
    let dir = temp_dir("signal-bytes");
    let child = with_signal(&dir, OsStr::from_bytes(b"USR\xff2\n\x1b[2J"));
    assert!(child.catches(libc::SIGUSR1));
    let lines = snapshot_on(child, libc::SIGUSR1, &dir);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(
        lines[0],
        r#"turbowish: TURBOWISH_SIGNAL="USR\xff2\n\x1b[2J" is not a signal name or number; using SIGUSR1"#
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_fractional_time_out_is_accepted() {
    let dir = temp_dir("timeout");
    let child = Child::start(&dir, &[("TURBOWISH_TIMEOUT", OsStr::new("0.5"))]);
    assert_eq!(child.finish(), Vec::<String>::new());
    for (value, shown) in [
        (&b"1\xff"[..], r#""1\xff""#),
        (b"-2", r#""-2""#),
        (b"inf", r#""inf""#),
    ] {
        let child = Child::start(&dir, &[("TURBOWISH_TIMEOUT", OsStr::from_bytes(value))]);
        assert_eq!(
            child.finish(),
            [format!(
                "turbowish: TURBOWISH_TIMEOUT={shown} is not a number of seconds; using 120"
            )]
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_very_long_value_is_cut_to_one_short_line() {
    let dir = temp_dir("long-value");
    let long = "x\n".repeat(5000);
    let child = Child::start(&dir, &[("TURBOWISH_SIGNAL", OsStr::new(&long))]);
    let lines = child.finish();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].len() < 600, "{}", lines[0]);
    assert!(lines[0].contains(r"x\nx\n"), "{}", lines[0]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One rule on both sides: the runtime catches exactly the signal the shared
/// table (which the CLI's `snap` uses too) gives for a value, with one line
/// and SIGUSR1 for a refused one.
#[test]
fn the_runtime_catches_what_the_shared_table_says() {
    use turbowish_format::signal::{self, SignalError};
    let dir = temp_dir("table");
    let values = [
        "17", "SIGCHLD", "cld", "32", "33", "13", "pipe", "SEGV", "bus", "4", "8", "9", "19", "0",
        "65", "banana", "SiGuSr2", "sighup", "RTMIN", "rtmin+2", "RTMAX", "34", "64", "off",
    ];
    // Caught by others: SEGV and BUS by Rust's runtime (its stack-overflow
    // report), 32 and 33 by glibc (thread cancellation, setxid).
    let std_catches = [libc::SIGSEGV, libc::SIGBUS, 32, 33];
    for v in values {
        let child = Child::start(&dir, &[("TURBOWISH_SIGNAL", OsStr::new(v))]);
        let parsed = signal::parse(v);
        let caught = match parsed {
            Ok(s) => s,
            Err(_) => Some(signal::DEFAULT),
        };
        if let Some(s) = caught {
            assert!(child.catches(s), "{v}: signal {s} not caught");
        }
        if let Err(SignalError::Refused { signal: s, .. }) = parsed {
            assert!(
                std_catches.contains(&s) || !child.catches(s),
                "{v}: refused, yet caught"
            );
        }
        let lines = child.finish();
        assert_eq!(lines.len(), usize::from(parsed.is_err()), "{v}: {lines:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The snapshot thread is named for `ps`, `top` and debuggers (by the OS
/// only: see install rule 5).
#[test]
fn the_snapshot_thread_has_a_name() {
    let dir = temp_dir("thread-name");
    let child = Child::start(&dir, &[]);
    let names = || -> Vec<String> {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", child.pid())).unwrap();
        (tasks.flatten())
            .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
            .map(|name| name.trim_end().to_owned())
            .collect()
    };
    common::wait_for("a thread named turbowish-snap", || {
        let names = names();
        names
            .iter()
            .any(|n| n == "turbowish-snap")
            .then_some(())
            .ok_or(names)
    });
    assert_eq!(child.finish(), Vec::<String>::new());
    std::fs::remove_dir_all(&dir).unwrap();
}
