//! Trace rule 4: a block whose typed walk is complete keeps only its typed
//! edges, so an impl that calls a value a leaf while it holds a pointer
//! would hide a real edge. `Cell<T: Copy>` and `&T` are not leaves: the
//! bytes they hold are scanned, and the edge stays.

mod common;

use common::{block_index, serial};
use std::cell::Cell;
use std::sync::Arc;
use turbowish_alloc::Trace;

#[global_allocator]
static A: turbowish_alloc::TurboWish = turbowish_alloc::TurboWish::system();

/// Owns a block through a raw pointer in a `Cell`, as intrusive structures do.
#[derive(Trace)]
struct Intrusive {
    next: Cell<*mut [u64; 8]>,
}

// SAFETY: test only: the pointer is never dereferenced, on any thread.
unsafe impl Send for Intrusive {}
// SAFETY: as above.
unsafe impl Sync for Intrusive {}

#[test]
fn a_cell_holding_a_pointer_does_not_hide_its_edge() {
    let _s = serial();
    let owned = Box::into_raw(Box::new([7u64; 8]));
    let holder = Arc::new(Intrusive {
        next: Cell::new(owned),
    });
    let _g = turbowish_alloc::root("review intrusive", &holder);
    let s = common::snapshot("cell").expect("snapshot");
    let arc = block_index(&s, Arc::as_ptr(&holder) as usize - 16);
    let target = block_index(&s, owned as usize);
    let found = s.edges.iter().any(|e| e.from == arc && e.to == target);
    // SAFETY: made by `Box::into_raw` above.
    drop(unsafe { Box::from_raw(owned) });
    assert!(
        found,
        "the Arc block points at the owned block, but `Cell<T: Copy>` claims to be a leaf, \
         the Arc block's walk is 'complete', and trace rule 4 dropped the conservative edge"
    );
}

#[test]
fn a_vec_of_static_references_does_not_hide_its_edges() {
    let _s = serial();
    let leaked: &'static [u64; 8] = Box::leak(Box::new([3u64; 8]));
    let refs: Arc<Vec<&'static [u64; 8]>> = Arc::new(vec![leaked]);
    let _g = turbowish_alloc::root("review static refs", &refs);
    let s = common::snapshot("refs").expect("snapshot");
    let buffer = block_index(&s, refs.as_ptr() as usize);
    let target = block_index(&s, leaked as *const _ as usize);
    assert!(
        s.edges.iter().any(|e| e.from == buffer && e.to == target),
        "the Vec buffer holds the address of a live (leaked) block, but `&T` is a leaf, \
         the buffer's walk is 'complete', and trace rule 4 dropped the only edge to it"
    );
}
