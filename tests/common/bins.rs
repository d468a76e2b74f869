//! The workspace's programs that the root package's tests and benchmarks
//! run: `turbowish` (the CLI, package `turbowish-snap`) and `turbowish-kv`
//! (the demo service, package `turbowish-demo`).
//!
//! Cargo builds a package's own binaries for its tests and names them in
//! `CARGO_BIN_EXE_<name>`, but the root package has none, and artifact
//! dependencies are unstable. So each program is built here by cargo, once
//! per test process, in the profile this executable was built with (a
//! no-op when it is up to date; never a stale binary), into the same target
//! directory, and its path is read from cargo's JSON messages.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The `turbowish` CLI.
pub fn turbowish() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build("turbowish-snap", "turbowish"))
}

/// The demo service, `turbowish-kv`.
#[allow(dead_code)] // not every user runs the service
pub fn turbowish_kv() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build("turbowish-demo", "turbowish-kv"))
}

/// The profile this executable was built with, from its directory:
/// `target/<dir>/deps/<name>-<hash>`, where `<dir>` is `debug` for the
/// `dev` profile (and `test`), `release` for `release` (and `bench`), and
/// the profile's own name for a custom one.
fn profile() -> String {
    let exe = std::env::current_exe().expect("this executable's path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .and_then(Path::file_name)
        .and_then(|d| d.to_str())
        .expect("a test or bench executable lives in target/<profile>/deps");
    match dir {
        "debug" => "dev".to_owned(),
        other => other.to_owned(),
    }
}

/// Builds `bin` of `package` and returns the executable's path.
fn build(package: &str, bin: &str) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let out = Command::new(cargo)
        .args(["build", "-q", "--profile", &profile(), "-p", package])
        .args(["--bin", bin, "--message-format=json-render-diagnostics"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "building {bin} ({package}) failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == bin)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo reported no executable for {bin}"))
}
