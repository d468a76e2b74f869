//! With every fault off, under the same load as `faults_found.rs`,
//! TurboWish reports nothing: no spawn site that keeps growing, no zombie,
//! no bloated future, and (the conservative scan's false-leak rate) under 1%
//! of live bytes unreachable.

mod common;

use common::service::*;
use common::turbowish_json;
use serde_json::Value;

fn rows(v: &Value) -> &Vec<Value> {
    v.as_array().unwrap()
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn a_healthy_server_shows_no_leak_zombie_or_bloat() {
    let s = scenario("faults-off", &[]);
    let (a, b) = (arg(&s.a), arg(&s.b));

    let diff = turbowish_json(&["diff", "--json", "--top", "0", a, b]);
    for site in rows(&diff["spawn_sites"]) {
        assert!(
            u(&site["tasks_b"]) <= u(&site["tasks_a"]),
            "no spawn site keeps tasks: {site:#}"
        );
    }
    // The load's connections came and went before each snapshot.
    let totals = &diff["totals"];
    assert_eq!(u(&totals["new_tasks"]), 0, "{totals:#}");
    assert_eq!(u(&totals["ended_tasks"]), 0, "{totals:#}");

    let leaks = turbowish_json(&["leaks", "--json", "--top", "0", b, "--baseline", a]);
    assert_eq!(rows(&leaks["zombies"]).len(), 0, "{leaks:#}");
    assert_eq!(rows(&leaks["grown"]).len(), 0, "{leaks:#}");

    let bloat = turbowish_json(&["bloat", "--json", "--top", "0", b]);
    assert!(
        rows(&bloat["futures"])
            .iter()
            .all(|f| f["bloated"] == false),
        "{bloat:#}"
    );

    let summary = turbowish_json(&["summary", "--json", b]);
    let live = u(&summary["totals"]["live_bytes"]);
    let lost = u(&leaks["unreachable"]["bytes"]);
    assert!(
        lost * 100 < live,
        "{lost} of {live} live bytes unreachable: {:#}",
        leaks["unreachable"]
    );
}
