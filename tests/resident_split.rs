//! Where the resident memory goes, on a real heap: 100 MB of small blocks,
//! nine in ten of them freed (every block but one in ten, so glibc can
//! return none of it). `summary` shows about 10 MB live, a resident set
//! well above it, and names the gap: glibc's free memory; `diff` shows
//! live bytes going to glibc's free pools.

mod common;

use common::{turbowish, turbowish_json};
use std::path::Path;
use turbowish::TurboWish;

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

const MB: u64 = 1_000_000;
/// Bytes of small blocks allocated, of which one block in ten survives.
const ALLOCATED: u64 = 100 * MB;

/// Blocks of 64 to 256 bytes, `ALLOCATED` bytes in all, each written.
fn small_blocks() -> Vec<Box<[u8]>> {
    let mut blocks = Vec::new();
    let mut total = 0;
    for i in 0.. {
        if total >= ALLOCATED {
            break;
        }
        let size = 64 + (i % 13) * 16;
        blocks.push(vec![i as u8; size].into_boxed_slice());
        total += size as u64;
    }
    blocks
}

/// `summary --json`'s `memory` object, and the summary's text.
fn summary(file: &Path) -> (serde_json::Value, String) {
    let v = turbowish_json(&["summary".as_ref(), "--json".as_ref(), file.as_os_str()]);
    let text = turbowish(&["summary".as_ref(), file.as_os_str()]);
    (v["memory"].clone(), String::from_utf8(text.stdout).unwrap())
}

fn figure(v: &serde_json::Value, path: &[&str]) -> u64 {
    let found = path.iter().fold(v, |v, p| &v[p]);
    found
        .as_u64()
        .unwrap_or_else(|| panic!("{path:?} in {v:#}"))
}

#[test]
fn a_fragmented_heap_shows_the_gap_as_glibcs_free_memory() {
    let dir = std::env::temp_dir().join(format!("tw-resident-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("a.twsnap"), dir.join("b.twsnap"));

    let mut blocks = small_blocks();
    turbowish::snapshot_to(&a).unwrap();
    let mut i = 0;
    blocks.retain(|_| {
        i += 1;
        i % 10 == 0
    });
    blocks.shrink_to_fit();
    turbowish::snapshot_to(&b).unwrap();

    let (m, text) = summary(&b);
    let live = figure(&m, &["live"]);
    assert!((9 * MB..14 * MB).contains(&live), "about 10 MB live: {m:#}");
    let resident = figure(&m, &["resident"]);
    assert!(resident >= 80 * MB, "resident well above live: {m:#}");
    assert_eq!(m["allocator"]["name"], "glibc");
    let free = figure(&m, &["allocator", "free"]);
    assert!(free >= 60 * MB, "glibc keeps the freed blocks: {m:#}");
    let headers = figure(&m, &["turbowish", "headers"]);
    assert!((MB..2 * MB).contains(&headers), "16 B a block: {m:#}");
    assert_eq!(m["gap"]["cause"], "allocator", "{m:#}");
    assert!(
        text.contains("the rest is mostly allocator retention or fragmentation (glibc holds"),
        "{text}"
    );

    // From A to B, live bytes became glibc's free memory.
    let diff = turbowish_json(&[
        "diff".as_ref(),
        "--json".as_ref(),
        a.as_os_str(),
        b.as_os_str(),
    ]);
    let part = |name: &str| {
        let parts = diff["resident"].as_array().expect("resident parts");
        let p = parts.iter().find(|p| p["part"] == name).expect(name);
        p["change"]
            .as_i64()
            .unwrap_or_else(|| panic!("{name}: {diff:#}"))
    };
    assert!(part("live") < -80 * MB as i64, "{diff:#}");
    assert!(part("allocator_free") > 60 * MB as i64, "{diff:#}");
    assert!(part("turbowish_headers") < -(8 * MB as i64), "{diff:#}");
    drop(blocks);
    std::fs::remove_dir_all(&dir).unwrap();
}
