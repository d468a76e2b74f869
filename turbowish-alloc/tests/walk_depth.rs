//! Trace rule 6: a typed walk descends a bounded number of heap hops, so a
//! deep (but ordinary) linked structure costs precision, never the capture
//! child's stack and with it the snapshot.

mod common;

use std::sync::{Arc, Mutex};
use turbowish_alloc::Trace;

#[global_allocator]
static A: turbowish_alloc::TurboWish = turbowish_alloc::TurboWish::system();

#[derive(Trace)]
struct Node {
    value: u64,
    next: Option<Box<Node>>,
}

#[test]
fn a_long_linked_list_root_does_not_lose_the_snapshot() {
    let depth: u64 = std::env::var("REVIEW_DEPTH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let mut head: Option<Box<Node>> = None;
    for value in 0..depth {
        head = Some(Box::new(Node { value, next: head }));
    }
    let list = Arc::new(Mutex::new(head));
    let guard = turbowish_alloc::root("review deep list", &list);
    let result = common::snapshot("deep");
    drop(guard);
    // Dropped iteratively: the derived drop would recurse as deep.
    let mut cur = list.lock().unwrap().take();
    while let Some(mut n) = cur {
        cur = n.next.take();
    }
    let s = result.unwrap_or_else(|e| {
        panic!(
            "a typed walk of a {depth}-node list recursed the capture child off its stack \
             and the whole snapshot was lost: {e}"
        )
    });
    assert!(s.capture.typed_panics.is_empty());
}
