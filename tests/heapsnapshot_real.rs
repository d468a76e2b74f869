//! `turbowish export --format heapsnapshot` on a real snapshot: memlab
//! loads the file, and the block it finds retaining the most is `summary`'s
//! top dominator, with the same retained bytes.

mod common;

use common::list::{NODE_BUFFER, NODE_BYTES, list_bytes, make_list};

#[path = "../turbowish-snap/tests/js/memlab.rs"]
#[allow(dead_code)] // this test reads only the top blocks
mod memlab;

use common::{scrub_stack, turbowish, turbowish_json};
use turbowish::TurboWish;

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

const NODES: usize = 1000;

#[test]
fn memlab_finds_summarys_top_dominator() {
    // On a thread of its own, as in dominators_real: no stale word of it
    // elsewhere.
    std::thread::spawn(|| make_list(NODES)).join().unwrap();
    scrub_stack();
    let dir = std::env::temp_dir().join(format!("tw-heapsnapshot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let twsnap = dir.join("real.twsnap");
    turbowish::snapshot_to(&twsnap).unwrap();
    let file = dir.join("real.heapsnapshot");
    let out = turbowish(&[
        "export".as_ref(),
        twsnap.as_os_str(),
        "--format".as_ref(),
        "heapsnapshot".as_ref(),
        "-o".as_ref(),
        file.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = turbowish_json(&["summary".as_ref(), "--json".as_ref(), twsnap.as_os_str()]);
    let top = &summary["top_dominators"][0];
    let retained = top["retained"].as_u64().unwrap();
    let node_bytes = NODE_BYTES as u64;
    assert_eq!(retained, NODES as u64 * node_bytes, "the list: {top:#}");
    if let Some(m) = memlab::memlab(&file, false) {
        let biggest = &m.top[0];
        assert_eq!(biggest.retained, retained, "{:#?} vs {top:#}", m.top);
        let name = top["type"].as_str().or(top["site"].as_str()).unwrap();
        assert_eq!(biggest.name, name);
        assert_eq!(
            m.nodes,
            summary["totals"]["live_blocks"].as_u64().unwrap() + synthetic(&summary)
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        list_bytes(),
        NODES * NODE_BUFFER,
        "the list outlived the snapshot"
    );
}

/// The synthetic nodes: the root, one per kind of root present and
/// `(unreachable)` if any block is, one per root.
fn synthetic(summary: &serde_json::Value) -> u64 {
    let roots = &summary["totals"]["roots"];
    let kinds = ["task", "named", "static", "thread_stack", "thread_local"];
    let present = kinds
        .iter()
        .filter(|k| roots[**k].as_u64() > Some(0))
        .count() as u64;
    let unreachable = u64::from(summary["findings"]["unreachable_blocks"].as_u64() > Some(0));
    1 + present + unreachable + roots["total"].as_u64().unwrap()
}
