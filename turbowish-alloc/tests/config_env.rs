//! Configuration from the environment: good values are used; bad ones give one
//! warning line each on stderr and the default, never a panic.

mod common;

use common::{PATIENCE, is_child, rerun, run};
use turbowish_alloc::{DEFAULT_DEPTH, DEFAULT_SAMPLE_BYTES, TurboWish, settings};

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

/// Runs the `report` test in a child with `env` (and no other TurboWish
/// variable), returning its stdout and stderr.
fn child(env: &[(&str, &str)]) -> (String, String) {
    let mut cmd = rerun("report");
    cmd.env_remove("TURBOWISH_STACK")
        .env_remove("TURBOWISH_DEPTH")
        .envs(env.iter().copied());
    let ran = run(cmd, PATIENCE);
    assert!(ran.passed_one(), "child failed:\n{ran}");
    (ran.stdout, ran.stderr)
}

/// In a child: prints the settings in force. Not a test of its own: the
/// tests below run it in children.
#[test]
#[ignore = "run by the other tests in a child process"]
fn report() {
    assert!(is_child("report"), "run only as a child");
    let s = settings();
    println!("SETTINGS {:?} {}", s.stack, s.depth);
}

fn settings_line(stdout: &str) -> &str {
    // libtest prints `test report ... ` before the test's own output.
    let line = stdout
        .lines()
        .find(|l| l.contains("SETTINGS"))
        .expect("settings printed");
    line[line.find("SETTINGS").unwrap()..]
        .trim_end_matches("ok")
        .trim_end()
}

fn warnings(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("turbowish:"))
        .collect()
}

#[test]
fn defaults_when_unset() {
    let (o, e) = child(&[]);
    assert_eq!(
        settings_line(&o),
        format!("SETTINGS FramePointer {DEFAULT_DEPTH}")
    );
    assert!(warnings(&e).is_empty(), "{e}");
}

#[test]
fn good_values_are_used_silently() {
    let (o, e) = child(&[("TURBOWISH_STACK", "DWARF"), ("TURBOWISH_DEPTH", "8")]);
    assert_eq!(settings_line(&o), "SETTINGS Dwarf 8");
    assert!(warnings(&e).is_empty(), "{e}");
    let (o, _) = child(&[("TURBOWISH_STACK", "off")]);
    assert_eq!(settings_line(&o), format!("SETTINGS Off {DEFAULT_DEPTH}"));
}

#[test]
fn bad_values_warn_once_and_fall_back() {
    let (o, e) = child(&[
        ("TURBOWISH_STACK", "frames\u{1b}[31m"),
        ("TURBOWISH_DEPTH", "lots"),
    ]);
    assert_eq!(
        settings_line(&o),
        format!("SETTINGS FramePointer {DEFAULT_DEPTH}")
    );
    let w = warnings(&e);
    assert_eq!(w.len(), 2, "{e}");
    // The value is shown escaped: no terminal control bytes reach stderr.
    assert_eq!(
        w[0],
        r#"turbowish: TURBOWISH_STACK="frames\x1b[31m" is not one of fp, dwarf, off, sampled[:BYTES]; using fp"#
    );
    assert_eq!(
        w[1],
        r#"turbowish: TURBOWISH_DEPTH="lots" is not a number from 1 to 64; using 32"#
    );
}

#[test]
fn out_of_range_depths_are_clamped_or_refused() {
    let (o, e) = child(&[("TURBOWISH_DEPTH", "1000")]);
    assert_eq!(settings_line(&o), "SETTINGS FramePointer 64");
    assert_eq!(warnings(&e).len(), 1, "{e}");
    let (o, e) = child(&[("TURBOWISH_DEPTH", "0")]);
    assert_eq!(
        settings_line(&o),
        format!("SETTINGS FramePointer {DEFAULT_DEPTH}")
    );
    assert_eq!(warnings(&e).len(), 1, "{e}");
}

#[test]
fn sampled_stacks_take_a_mean_in_bytes() {
    let (o, e) = child(&[("TURBOWISH_STACK", "sampled")]);
    assert_eq!(
        settings_line(&o),
        format!("SETTINGS Sampled {{ mean_bytes: 524288 }} {DEFAULT_DEPTH}")
    );
    assert_eq!(DEFAULT_SAMPLE_BYTES, 524288);
    assert!(warnings(&e).is_empty(), "{e}");
    let (o, e) = child(&[("TURBOWISH_STACK", "sampled:64KiB")]);
    assert_eq!(
        settings_line(&o),
        format!("SETTINGS Sampled {{ mean_bytes: 65536 }} {DEFAULT_DEPTH}")
    );
    assert!(warnings(&e).is_empty(), "{e}");
}

/// A bad mean keeps the mode the user asked for, with the default mean.
#[test]
fn bad_sample_means_warn_once_and_use_the_default_mean() {
    for bad in ["sampled:0", "sampled:lots", "sampled:2TiB"] {
        let (o, e) = child(&[("TURBOWISH_STACK", bad)]);
        assert_eq!(
            settings_line(&o),
            format!("SETTINGS Sampled {{ mean_bytes: 524288 }} {DEFAULT_DEPTH}")
        );
        let w = warnings(&e);
        assert_eq!(
            w,
            [format!(
                "turbowish: TURBOWISH_STACK=\"{bad}\" does not give BYTES from 1 to 1TiB \
                 (such as sampled:64KiB); using sampled:512KiB"
            )],
            "{e}"
        );
    }
}
