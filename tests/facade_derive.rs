//! `#[derive(Trace)]` through the facade, as a service that depends on
//! `turbowish` alone writes it.
//!
//! A package's tests see every crate it depends on, so this file would see
//! `turbowish_alloc` (the facade's own dependency) and could not tell
//! whether the derive's code names it. The name is rebound here to `std`,
//! which has no `Trace`: this file compiles only if the derive's code goes
//! through `::turbowish`.

extern crate std as turbowish_alloc;

use std::sync::Arc;
use turbowish::Trace;

#[global_allocator]
static ALLOC: turbowish::TurboWish = turbowish::TurboWish::system();

/// A generic struct (every parameter gets a `Trace` bound), with a skipped
/// and an opaque field.
#[derive(Trace)]
struct Cache<K> {
    entries: Vec<Entry<K>>,
    #[trace(skip)]
    _scratch: Vec<u8>,
    #[trace(opaque)]
    extension: Box<dyn std::any::Any + Send + Sync>,
}

/// A tuple struct of leaves (its `is_leaf` names the trait too).
#[derive(Trace)]
struct Entry<K>(K, u64);

/// An enum, through the derive's full path.
#[derive(turbowish::Trace)]
enum State {
    Idle,
    Reading { buf: Vec<u8> },
}

#[test]
fn the_derive_works_for_a_user_of_the_facade_alone() {
    assert!(<Entry<u32> as turbowish::Trace>::is_leaf());
    assert!(!<Cache<u32> as turbowish::Trace>::is_leaf());
    let cache = Arc::new(Cache {
        entries: vec![Entry(7u32, 1)],
        _scratch: vec![0; 16],
        extension: Box::new([0u8; 32]),
    });
    let _root = turbowish::root("cache", &cache);
    let walk = turbowish::walk(&*cache);
    let labels: Vec<&str> = walk.edges.iter().map(|e| e.label.as_str()).collect();
    assert_eq!(labels, ["entries", "extension"], "{labels:?}");
    assert_eq!(walk.edges[0].counts, Some((1, 1)));

    let idle = turbowish::walk(&State::Idle);
    assert!(idle.edges.is_empty());
    let reading = turbowish::walk(&State::Reading { buf: vec![1; 100] });
    assert_eq!(reading.edges[0].label, "Reading.buf");
    assert_eq!(reading.edges[0].size, 100);
}
