//! Where the resident memory goes under an allocator without figures:
//! TurboWish over jemalloc, with no hook. The allocator's part reads as
//! unknown, never as glibc's (jemalloc's symbols are prefixed, so glibc's
//! `malloc` is still there, nearly idle); the resident set, the live heap
//! and TurboWish's own are still recorded.

mod common;

use common::turbowish_json;
use tikv_jemallocator::Jemalloc;
use turbowish::TurboWish;

#[global_allocator]
static ALLOC: TurboWish<Jemalloc> = TurboWish::new(Jemalloc);

#[test]
fn an_allocator_without_figures_reads_as_unknown_and_the_rest_is_there() {
    let dir = std::env::temp_dir().join(format!("tw-resident-je-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("a.twsnap");
    let blocks: Vec<Vec<u8>> = (0..20_000).map(|i| vec![i as u8; 200]).collect();
    turbowish::snapshot_to(&file).unwrap();

    let v = turbowish_json(&["summary".as_ref(), "--json".as_ref(), file.as_os_str()]);
    let m = &v["memory"];
    assert!(m["allocator"].is_null(), "{m:#}");
    let figure = |name: &str| m[name].as_u64().unwrap_or_else(|| panic!("{name}: {m:#}"));
    assert!(figure("live") >= 20_000 * 200, "{m:#}");
    assert!(figure("resident") > figure("live"), "{m:#}");
    assert!(m["turbowish"]["tables"].as_u64().unwrap() > 0, "{m:#}");
    let headers = m["turbowish"]["headers"].as_u64().unwrap();
    assert!(headers >= 20_000 * 16, "16 B a block: {m:#}");
    drop(blocks);
    std::fs::remove_dir_all(&dir).unwrap();
}
