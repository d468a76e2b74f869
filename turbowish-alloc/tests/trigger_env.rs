//! The triggers' settings: a bad value in the environment gives one line
//! and is ignored (install rule 1); set in code, an error.

mod common;

use common::install_child::{self, Child};
use common::temp_dir;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;
use turbowish_alloc::{Config, Error, TurboWish};

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

/// Not a test of its own: the tests below run it in children.
#[test]
#[ignore = "run by the other tests in a child process"]
fn child() {
    install_child::script_main();
}

#[test]
fn bad_values_warn_once_each_and_are_ignored() {
    let dir = temp_dir("trigger-env");
    let env: [(&str, &[u8]); 5] = [
        ("TURBOWISH_ON_GROWTH", b"lots"),
        ("TURBOWISH_KEEP", b"-1"),
        ("TURBOWISH_MIN_INTERVAL", b"soon"),
        ("TURBOWISH_AT_PEAK", b"maybe"),
        ("TURBOWISH_AT_EXIT", b"1\xff\n"),
    ];
    let env: Vec<_> = env
        .iter()
        .map(|&(k, v)| (k, OsStr::from_bytes(v)))
        .collect();
    let mut child = Child::start(&dir, &env);
    assert!(!child.catches(libc::SIGTERM), "AT_EXIT taken as on");
    child.send("grow 100");
    let (status, lines) = child.end();
    assert!(status.success(), "{lines:#?}");
    let warnings: Vec<_> = lines
        .iter()
        .filter(|l| l.starts_with("turbowish:"))
        .collect();
    assert_eq!(
        warnings,
        [
            r#"turbowish: TURBOWISH_ON_GROWTH="lots" is not a size such as 64MiB; ignored"#,
            r#"turbowish: TURBOWISH_MIN_INTERVAL="soon" is not a time such as 30s; using 60s"#,
            r#"turbowish: TURBOWISH_AT_PEAK="maybe" is not 1 or 0; ignored"#,
            r#"turbowish: TURBOWISH_AT_EXIT="1\xff\n" is not 1 or 0; ignored"#,
            r#"turbowish: TURBOWISH_KEEP="-1" is not a number of files from 1 up; keeping all"#,
        ],
        "{lines:#?}"
    );
    assert!(common::names_in(&dir).is_empty(), "a trigger fired");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn good_values_are_taken_silently() {
    let dir = temp_dir("trigger-env-good");
    let env = [
        ("TURBOWISH_ON_GROWTH", "1g"),
        ("TURBOWISH_KEEP", "3"),
        ("TURBOWISH_MIN_INTERVAL", "2m"),
        ("TURBOWISH_AT_PEAK", "0"),
        ("TURBOWISH_AT_EXIT", "yes"),
    ];
    let env: Vec<_> = env.iter().map(|&(k, v)| (k, OsStr::new(v))).collect();
    let child = Child::start(&dir, &env);
    assert!(child.catches(libc::SIGTERM));
    let (status, lines) = child.end();
    assert!(status.success(), "{lines:#?}");
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].starts_with("turbowish: exit: wrote "),
        "{lines:#?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn settings_that_cannot_be_used_are_errors_in_code() {
    let bad = |r: Result<Config, Error>| match r {
        Err(Error::BadSetting(why)) => why,
        other => panic!("expected BadSetting, got {other:?}"),
    };
    assert!(bad(Config::default().on_growth(Some(0))).contains("0 bytes"));
    assert!(bad(Config::default().keep(Some(0))).contains("0 files"));
    let ok = Config::default()
        .on_growth(Some(64 << 20))
        .and_then(|c| c.keep(None))
        .map(|c| c.min_interval(Duration::ZERO).at_peak(true).at_exit(false));
    assert!(ok.is_ok());
}
