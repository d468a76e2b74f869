//! The CLI on real snapshots: `turbowish snap` against a live process that
//! called `install()`, and `turbowish summary` on what it wrote, with totals
//! that match the allocator's own figures.

mod common;

use common::turbowish;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;
use turbowish::TurboWish;

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

const CHILD: &str = "TURBOWISH_CLI_TEST_CHILD";

fn json_of(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "turbowish failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("turbowish-cli-real-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// In the child: install snapshots, hold some memory, wait to be killed.
fn child_main() {
    turbowish::install();
    let held: Vec<Vec<u8>> = (0..100).map(|i| vec![i as u8; 1000]).collect();
    println!("ready");
    std::thread::sleep(Duration::from_secs(120));
    std::hint::black_box(held);
}

#[test]
fn snap_then_summary_on_a_live_process() {
    if std::env::var_os(CHILD).is_some() {
        return child_main();
    }
    let dir = tempdir("snap");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "snap_then_summary_on_a_live_process",
            "--exact",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .env("TURBOWISH_DIR", &dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(
        lines.any(|l| l.unwrap().contains("ready")),
        "child never got ready"
    );
    let pid = child.id().to_string();
    let out = turbowish(&[
        "snap",
        &pid,
        "--dir",
        dir.to_str().unwrap(),
        "--timeout",
        "60",
        "--json",
    ]);
    let _ = child.kill();
    let _ = child.wait();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("{\n  \""),
        "not pretty-printed like the rest: {text}"
    );
    let snap = json_of(&out);
    let path = snap["path"].as_str().expect("path");
    assert!(
        path.ends_with(&format!("turbowish-{pid}-1.twsnap")),
        "{path}"
    );
    let summary = json_of(&turbowish(&["summary", "--json", path]));
    assert_eq!(
        summary["process"]["pid"].as_u64(),
        Some(u64::from(child.id()))
    );
    assert!(summary["totals"]["live_blocks"].as_u64().unwrap() >= 101);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn summary_totals_match_the_allocators_figures() {
    let dir = tempdir("summary");
    let path = dir.join("self.twsnap");
    let held: Vec<String> = (0..500).map(|i| format!("value {i:>40}")).collect();
    let before = turbowish::stats();
    let info = turbowish::snapshot_to(&path).expect("snapshot");
    let after = turbowish::stats();
    let summary = json_of(&turbowish(&["summary", "--json", path.to_str().unwrap()]));
    let totals = &summary["totals"];
    let blocks = totals["live_blocks"].as_u64().unwrap();
    let bytes = totals["live_bytes"].as_u64().unwrap();
    assert_eq!(blocks, info.blocks);
    // The snapshot is one instant between the two readings of stats(); a
    // capture allocates little in between.
    let lo = before
        .live_bytes
        .min(after.live_bytes)
        .saturating_sub(64 << 10);
    let hi = before.live_bytes.max(after.live_bytes) + (64 << 10);
    assert!((lo..=hi).contains(&bytes), "{bytes} not within {lo}..={hi}");
    std::hint::black_box(held);
    std::fs::remove_dir_all(&dir).unwrap();
}
