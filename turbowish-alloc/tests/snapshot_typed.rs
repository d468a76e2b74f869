//! Typed walks in the capture child: named roots, the merge with the
//! conservative scan (trace rule 4), and impls that lie, panic or meet a
//! held lock, none of which may cost the snapshot.

mod common;

use common::block_index;
use std::sync::{Arc, Mutex};
use turbowish_alloc::{Heap, Trace, Tracer};
use turbowish_format::{EdgeKind, RootKind, Snapshot};

#[global_allocator]
static A: turbowish_alloc::TurboWish = turbowish_alloc::TurboWish::system();

fn snapshot(name: &str) -> Snapshot {
    common::snapshot(name).expect("the snapshot is written")
}

fn named_root<'a>(s: &'a Snapshot, name: &str) -> Option<&'a turbowish_format::Root> {
    s.roots
        .iter()
        .find(|r| r.kind == RootKind::Named && s.string(r.label) == name)
}

/// Reports a block that does not exist, then a real one.
struct Liar(Box<u64>);

impl Trace for Liar {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        tracer.heap(
            Heap::block(0x7777_0000_1000 as *const u8, 64),
            |_| unreachable!(),
        );
        // A real block, but claiming more bytes than it has.
        tracer.heap(
            Heap::block(&*self.0 as *const u64, 4096),
            |_| unreachable!(),
        );
        tracer.field("0", &self.0);
    }
}

struct Panics;

impl Trace for Panics {
    fn trace(&self, _: &mut Tracer<'_>) {
        panic!("this impl is broken");
    }
}

#[test]
fn lying_and_panicking_impls_cost_nothing_but_their_own_edges() {
    let liar = Arc::new(Liar(Box::new(5)));
    let panics = Arc::new(Panics);
    let _g1 = turbowish_alloc::root("liar", &liar);
    let _g2 = turbowish_alloc::root("panics", &panics);
    let s = snapshot("liar");
    assert!(
        s.capture.typed_rejected >= 2,
        "{}",
        s.capture.typed_rejected
    );
    assert_eq!(s.capture.typed_panics, ["this impl is broken"]);
    let root = named_root(&s, "liar").expect("the named root");
    let arc = block_index(&s, Arc::as_ptr(&liar) as usize - 16);
    assert_eq!(root.targets, [arc]);
    assert!(
        s.string(s.block(arc).type_name)
            .contains("Arc<snapshot_typed::Liar>")
    );
    // The real box is still reached, by the walked field.
    let boxed = block_index(&s, &*liar.0 as *const u64 as usize);
    let e = s
        .edges
        .iter()
        .find(|e| e.from == arc && e.to == boxed)
        .unwrap();
    assert_eq!(e.kind, EdgeKind::Typed);
    assert_eq!(s.string(e.label), "0");
    // A panicking root is still listed; its walk found nothing.
    assert!(named_root(&s, "panics").is_some());
}

#[test]
fn a_complete_walk_drops_stale_words_and_a_held_lock_keeps_the_scan() {
    // Four boxes pushed, one popped: the buffer's fourth slot still holds
    // the popped box's address, which the conservative scan reads as a
    // pointer but the typed walk knows is past the end.
    let mut v: Vec<Box<u64>> = Vec::with_capacity(8);
    for i in 0..4 {
        v.push(Box::new(i));
    }
    let popped = v.pop().unwrap();
    let buffer_addr = v.as_ptr() as usize;
    let kept: Vec<usize> = v.iter().map(|b| &**b as *const u64 as usize).collect();
    let complete = Arc::new(v);
    let locked = Arc::new(Mutex::new(vec![Box::new(9u64)]));
    let locked_box = {
        let inner = locked.lock().unwrap();
        &*inner[0] as *const u64 as usize
    };
    let _g1 = turbowish_alloc::root("complete", &complete);
    let _g2 = turbowish_alloc::root("locked", &locked);

    let guard = locked.lock().unwrap(); // held across the snapshot
    let s = snapshot("merge");
    drop(guard);

    let buffer = block_index(&s, buffer_addr);
    let from_buffer: Vec<_> = s.edges.iter().filter(|e| e.from == buffer).collect();
    let want: Vec<_> = {
        let mut w: Vec<_> = kept.iter().map(|&a| block_index(&s, a)).collect();
        w.sort();
        w
    };
    assert_eq!(from_buffer.iter().map(|e| e.to).collect::<Vec<_>>(), want);
    assert!(from_buffer.iter().all(|e| e.kind == EdgeKind::Typed));
    let stale = block_index(&s, &*popped as *const u64 as usize);
    assert!(!s.edges.iter().any(|e| e.from == buffer && e.to == stale));
    let c = s.containers.iter().find(|c| c.block == buffer).unwrap();
    assert_eq!((c.len, c.capacity), (3, 8));

    // The held lock: counted, and the Mutex's Arc block keeps its
    // conservative edge to the Vec buffer inside the lock.
    assert!(s.capture.typed_locked >= 1);
    let arc = block_index(&s, Arc::as_ptr(&locked) as usize - 16);
    let inner_buffer = s
        .edges
        .iter()
        .find(|e| e.from == arc)
        .expect("the locked Mutex's contents are still scanned");
    assert_eq!(inner_buffer.kind, EdgeKind::Conservative);
    let lb = block_index(&s, locked_box);
    assert!(
        s.edges
            .iter()
            .any(|e| e.from == inner_buffer.to && e.to == lb)
    );
    drop(popped);
}

#[test]
fn a_dropped_guard_or_value_ends_the_root() {
    let value = Arc::new(String::from("short-lived"));
    let guard = turbowish_alloc::root("dropped", &value);
    drop(guard);
    let kept = Arc::new(7u32);
    let guard = turbowish_alloc::root("value gone", &kept);
    drop(kept); // only the registry's weak reference is left
    let s = snapshot("gone");
    assert!(named_root(&s, "dropped").is_none());
    let gone = named_root(&s, "value gone").expect("still registered");
    assert!(gone.targets.is_empty(), "a dead value is not walked");
    drop(guard);
}
