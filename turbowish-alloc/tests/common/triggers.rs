//! Helpers for the trigger tests (`trigger_*.rs`): a scripted child under a
//! trigger's settings, and what its stderr lines and files say.

use super::install_child::Child;
use std::ffi::OsStr;
use std::path::Path;
use turbowish_format::Snapshot;

/// Starts a [`script_main`](super::install_child::script_main) child in
/// `dir`, snapshotting into it, with `env` besides.
pub fn start(dir: &Path, env: &[(&str, &str)]) -> Child {
    let mut all: Vec<(&str, &OsStr)> = vec![("TURBOWISH_DIR", dir.as_os_str())];
    all.extend(env.iter().map(|&(k, v)| (k, OsStr::new(v))));
    Child::start(dir, &all)
}

/// Runs `command` in the child and waits until it is done.
pub fn run(child: &mut Child, command: &str) {
    child.send(command);
    let done = format!("did {command}");
    assert!(child.wait_for(|l| l == done).is_some(), "no {done:?}");
}

/// Waits until every trigger the child's heap had crossed has been
/// answered: two signal snapshots in turn, the second taken after the
/// snapshot thread went once round its loop since the first (trigger rule
/// 2). (Signal snapshots are numbered: they move the growth base.)
pub fn barrier(child: &mut Child) {
    for _ in 0..2 {
        child.signal(libc::SIGUSR1);
        let line = child.wait_for(|l| l.starts_with("turbowish: signal: "));
        assert!(
            line.is_some_and(|l| l.contains(": wrote ")),
            "no signal snapshot"
        );
    }
}

/// The lines of snapshots triggered by `trigger` (`growth`, `peak`, ...).
pub fn lines_of<'a>(lines: &'a [String], trigger: &str) -> Vec<&'a String> {
    let head = format!("turbowish: {trigger}");
    lines.iter().filter(|l| l.starts_with(&head)).collect()
}

/// The MiB a `growth +X MiB: wrote ...` line gives.
pub fn grown_mib(line: &str) -> f64 {
    let rest = line.split_once("growth +").expect("a growth line").1;
    let figure = rest.split_once(" MiB:").expect("in MiB").0;
    figure.parse().unwrap()
}

/// The path of the file a `...: wrote PATH (...)` line names.
pub fn written(line: &str) -> String {
    let rest = line.split_once(": wrote ").expect("a wrote line").1;
    rest.split_once(" (").unwrap().0.to_owned()
}

/// The snapshot at `path`, read as the CLI reads it.
pub fn read(path: impl AsRef<Path>) -> Snapshot {
    turbowish_format::read_file(path.as_ref()).expect("a readable snapshot")
}

/// The live MiB a snapshot recorded.
pub fn live_mib(s: &Snapshot) -> f64 {
    s.capture.live_bytes as f64 / (1 << 20) as f64
}
