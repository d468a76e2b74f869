//! `turbowish diff` on real snapshots: a program that leaks 100 tasks of
//! 64 KiB each between two snapshots.

mod common;

use common::{scrub_stack, turbowish, turbowish_json, wait_until_parked};
use turbowish::TurboWish;

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

const LEAKED: usize = 100;
const EACH: usize = 64 * 1024;

#[test]
fn diff_names_the_leaking_spawn_site() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("tw-diff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("a.twsnap"), dir.join("b.twsnap"));
    turbowish::snapshot_to(&a).unwrap();

    let mut parked = Vec::new();
    let _enter = rt.enter();
    let line = line!() + 3;
    for _ in 0..LEAKED {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = turbowish::spawn(async move {
            let buffer = vec![7u8; EACH];
            scrub_stack();
            let _ = rx.await;
            drop(buffer);
        });
        parked.push((tx, task));
    }
    wait_until_parked(LEAKED, |t| {
        t.location.file().ends_with("diff_real.rs") && t.location.line() == line
    });
    turbowish::snapshot_to(&b).unwrap();

    let v = turbowish_json(&[
        "diff".as_ref(),
        "--json".as_ref(),
        a.as_os_str(),
        b.as_os_str(),
    ]);
    let site = &v["spawn_sites"][0];
    assert_eq!(
        site["spawned_at"],
        format!("tests/diff_real.rs:{line}"),
        "the leaking site comes first: {v:#}"
    );
    assert_eq!(
        (site["tasks_a"].as_u64(), site["tasks_b"].as_u64()),
        (Some(0), Some(100))
    );
    assert_eq!(site["new_tasks"], 100);
    let growth = site["retained_b"].as_i64().unwrap() - site["retained_a"].as_i64().unwrap();
    let want = (LEAKED * EACH) as f64;
    assert!(
        (growth as f64 - want).abs() <= 0.05 * want,
        "retained grew {growth}, want {want} +-5%"
    );
    assert!(v["totals"]["born_bytes"].as_u64().unwrap() >= (LEAKED * EACH) as u64);
    // Grouped by spawn site, the born bytes land on the same site.
    let group = &v["groups"]["rows"][0];
    assert_eq!(group["key"], format!("tests/diff_real.rs:{line}"));
    assert!(group["born_bytes"].as_u64().unwrap() >= (LEAKED * EACH) as u64);

    // The text names it too.
    let text = turbowish(&["diff".as_ref(), a.as_os_str(), b.as_os_str()]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("0 -> 100    +100"), "{text}");

    // B before A, or a snapshot of another process: refused, exit 2.
    let swapped = turbowish(&["diff".as_ref(), b.as_os_str(), a.as_os_str()]);
    assert_eq!(swapped.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&swapped.stderr).contains("swap them"));
    let mut other = turbowish_snap::read_file(&a).unwrap();
    other.process.pid += 1;
    let c = dir.join("c.twsnap");
    turbowish_snap::write_file(&other, &c).unwrap();
    let refused = turbowish(&["diff".as_ref(), c.as_os_str(), b.as_os_str()]);
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("different processes") && err.contains("--force"),
        "{err}"
    );
    let forced = turbowish(&[
        "diff".as_ref(),
        "--force".as_ref(),
        c.as_os_str(),
        b.as_os_str(),
    ]);
    assert!(forced.status.success());

    for (tx, _) in parked {
        let _ = tx.send(());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
