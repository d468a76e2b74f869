//! A check's snapshot, read back, is remembered (`snapshot/symbol_memo.rs`):
//! the next check's child takes the frames it already resolved from the
//! memo instead of the debug info. They must read exactly as resolved.
//! (What it saves is measured, not asserted: `testing_leak_check` ran in
//! 19-20 s with the memo against 41 s without, on a loaded machine.)

use std::collections::HashMap;
use turbowish::TurboWish;
use turbowish::testing::Heap;
use turbowish_snap::Snapshot;

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

/// Each frame's symbols by (address, first in its stack), as text.
type Frames = HashMap<(u64, bool), Vec<(String, Option<String>, u32)>>;

fn frames(snap: &Snapshot) -> Frames {
    let mut first = vec![false; snap.frames.len()];
    for stack in &snap.stacks {
        if let Some(f) = stack.first() {
            first[f.index()] = true;
        }
    }
    (snap.frames.iter().zip(first))
        .map(|(f, first)| {
            let symbols = (f.symbols.iter())
                .map(|s| {
                    let file = s.file.map(|i| snap.string(i).to_owned());
                    (snap.string(s.function).to_owned(), file, s.line)
                })
                .collect();
            ((f.addr, first), symbols)
        })
        .collect()
}

/// Ten blocks allocated here, so this function's frame is in a stack.
#[inline(never)]
fn allocate_here() -> Vec<Vec<u8>> {
    (0..10).map(|_| vec![7; 200]).collect()
}

#[test]
fn remembered_frames_read_as_resolved() {
    let held = allocate_here();
    let first = Heap::take();
    // The first snapshot, read back, is live in the second (new stacks):
    // the third finds nearly every frame in the memo.
    let _second = Heap::take();
    let second = Heap::take();
    let (a, b) = (frames(first.snapshot()), frames(second.snapshot()));
    let mut shared = 0;
    for (key, symbols) in &a {
        if let Some(again) = b.get(key) {
            assert_eq!(symbols, again, "frame {:#x} (first: {})", key.0, key.1);
            shared += 1;
        }
    }
    assert!(shared > 50, "only {shared} frames in both snapshots");
    let named = |f: &Frames| {
        (f.values().flatten()).any(|(function, _, _)| function.ends_with("allocate_here"))
    };
    assert!(
        named(&a) && named(&b),
        "allocate_here's frame is named in both"
    );

    let ms = |h: &Heap| h.snapshot().capture.symbolize_ns as f64 / 1e6;
    eprintln!(
        "symbolize: {:.1} ms, then {:.1} ms",
        ms(&first),
        ms(&second)
    );
    drop(held);
}
