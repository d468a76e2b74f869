//! A known object graph, snapshotted: the blocks are there with their sizes,
//! the edges between them are exactly the pointers the program holds, and
//! each root reaches what it should: a static, a thread's stack, the test's
//! own stack. A block whose only pointer was forgotten has no incoming edge
//! from any root.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, Ordering};
use turbowish_alloc::TurboWish;
use turbowish_format::{RootKind, Snapshot};

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

/// Holds the only pointer to a block.
static ONLY_STATIC: AtomicPtr<[u64; 48]> = AtomicPtr::new(std::ptr::null_mut());

/// A pointer disguised so the scan cannot see it.
const MASK: usize = 0x5a5a_5a5a_5a5a_5a5a;

/// In its own frame, so no copy of the pointer stays in the test's frame
/// (the scan is conservative: a stale copy on a stack is a real root to it).
#[inline(never)]
fn give_a_block_to_the_static() -> usize {
    let b = Box::into_raw(Box::new([5u64; 48]));
    ONLY_STATIC.store(b, Ordering::SeqCst);
    b as usize ^ MASK
}

#[inline(never)]
fn forget_a_block() -> usize {
    let b = Box::new([9u8; 777]);
    let addr = &*b as *const [u8; 777] as usize;
    std::mem::forget(b);
    addr ^ MASK
}

/// Overwrites dead stack below us, where copies of forgotten pointers linger.
#[inline(never)]
fn scrub_stack() {
    let junk = [0u8; 64 << 10];
    std::hint::black_box(&junk);
}

fn index_of(s: &Snapshot, addr: usize) -> usize {
    common::block_index(s, addr).index()
}

fn targets(s: &Snapshot, from: usize) -> Vec<usize> {
    s.edges
        .iter()
        .filter(|e| e.from.index() == from)
        .map(|e| e.to.index())
        .collect()
}

fn incoming(s: &Snapshot, to: usize) -> usize {
    s.edges.iter().filter(|e| e.to.index() == to).count()
}

fn roots_reaching(s: &Snapshot, block: usize) -> Vec<(RootKind, String)> {
    s.roots
        .iter()
        .filter(|r| r.targets.iter().any(|t| t.index() == block))
        .map(|r| (r.kind, s.string(r.label).to_owned()))
        .collect()
}

#[test]
fn a_known_graph_is_captured_exactly() {
    // A Box holding a Vec of Arc<String>, the Arcs shared with a second Vec.
    // Built on a thread of its own, so in a malloc arena of its own: no
    // free-list link left in memory this thread used before can lie in a
    // later block's uninitialised bytes, pointing into the graph.
    let (graph, second_owner) = std::thread::spawn(|| {
        let strings: Vec<Arc<String>> = (0..3).map(|i| Arc::new(format!("shared-{i}"))).collect();
        let graph: Box<Vec<Arc<String>>> = Box::new(strings.clone());
        (graph, strings)
    })
    .join()
    .unwrap();
    // Reachable only from a static.
    // Masked until the snapshot is taken: an unmasked copy in this frame
    // would be a real root to the block.
    let static_only_masked = give_a_block_to_the_static();
    // Reachable only from another thread's stack.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let on_stack = Box::new([3u64; 40]);
        std::hint::black_box(&on_stack);
        ready_tx
            .send((&*on_stack as *const [u64; 40] as usize) ^ MASK)
            .unwrap();
        done_rx.recv().unwrap();
        std::hint::black_box(&on_stack);
    });
    let stack_only_masked = ready_rx.recv().unwrap();
    let forgotten_masked = forget_a_block();
    scrub_stack();

    let (info, s) = common::snapshot_with_info("graph", &Default::default()).expect("snapshot");
    done_tx.send(()).unwrap();
    holder.join().unwrap();
    assert_eq!(info.blocks, s.blocks.len() as u64);

    // Sizes.
    let boxed = index_of(&s, &*graph as *const Vec<Arc<String>> as usize);
    let buffer = index_of(&s, graph.as_ptr() as usize);
    let second = index_of(&s, second_owner.as_ptr() as usize);
    let arcs: Vec<usize> = graph
        .iter()
        .map(|a| index_of(&s, Arc::as_ptr(a) as usize - 16))
        .collect();
    let texts: Vec<usize> = graph
        .iter()
        .map(|a| index_of(&s, a.as_ptr() as usize))
        .collect();
    let static_only = index_of(&s, static_only_masked ^ MASK);
    let stack_only = index_of(&s, stack_only_masked ^ MASK);
    let forgotten = index_of(&s, forgotten_masked ^ MASK);
    assert_eq!(s.blocks[boxed].size, 24);
    assert_eq!(s.blocks[buffer].size, 3 * 8);
    assert_eq!(s.blocks[second].size, 3 * 8);
    for &a in &arcs {
        assert_eq!(s.blocks[a].size, 16 + 24); // counts + String
    }
    assert_eq!(s.blocks[static_only].size, 48 * 8);
    assert_eq!(s.blocks[stack_only].size, 40 * 8);
    assert_eq!(s.blocks[forgotten].size, 777);

    // Edges: exactly the pointers the program holds.
    assert_eq!(targets(&s, boxed), [buffer]);
    let mut want_arcs = arcs.clone();
    want_arcs.sort();
    assert_eq!(targets(&s, buffer), want_arcs);
    assert_eq!(targets(&s, second), want_arcs);
    for (&a, &t) in arcs.iter().zip(&texts) {
        assert_eq!(targets(&s, a), [t]);
        assert_eq!(incoming(&s, a), 2, "shared by both vectors");
        assert!(targets(&s, t).is_empty(), "string bytes hold no pointers");
    }

    // Roots.
    let known: Vec<usize> = [boxed, buffer, second]
        .into_iter()
        .chain(arcs.iter().copied())
        .chain(texts.iter().copied())
        .collect();
    let from_static = roots_reaching(&s, static_only);
    assert!(
        from_static.iter().all(|(k, _)| *k == RootKind::Static),
        "{from_static:?}"
    );
    assert!(!from_static.is_empty());
    // Other live blocks may hold stale bytes that look like pointers to it (a
    // conservative scan cannot tell), but none of the graph's blocks does.
    assert!(!known.iter().any(|&k| targets(&s, k).contains(&static_only)));
    let from_stack = roots_reaching(&s, stack_only);
    assert!(
        from_stack.iter().any(|(k, _)| *k == RootKind::ThreadStack),
        "{from_stack:?}"
    );
    assert!(!known.iter().any(|&k| targets(&s, k).contains(&stack_only)));
    assert!(
        roots_reaching(&s, boxed)
            .iter()
            .any(|(k, _)| *k == RootKind::ThreadStack)
    );
    assert!(
        roots_reaching(&s, forgotten).is_empty(),
        "the forgotten block is reachable from a root"
    );
    assert!(!known.iter().any(|&k| targets(&s, k).contains(&forgotten)));
    std::hint::black_box((&graph, &second_owner));
}
