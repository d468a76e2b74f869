//! Header rule 1 at its edges: every alignment from 1 to 4096, and
//! `realloc` that grows, shrinks and moves, within blocks with headers,
//! within side blocks, and across the 4 KiB line between them. Contents
//! survive, `block()` and a snapshot see each block once with its size, and
//! the totals are exact.

mod common;

use std::alloc::{Layout, alloc, alloc_zeroed, dealloc, realloc};
use turbowish_alloc::{TurboWish, block, stats};

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

const LINE: usize = 4096;

/// One test: the totals are process-wide, and the harness's own
/// allocations for a finished test would land in another's figures.
#[test]
fn alignments_and_reallocs() {
    // What the first snapshot sets up once stays: take it before counting.
    drop(common::snapshot("warm-up").expect("snapshot"));
    every_alignment_from_1_to_4096();
    realloc_grows_shrinks_and_moves_across_the_line();
}

fn every_alignment_from_1_to_4096() {
    let before = stats();
    let mut held = Vec::new();
    for shift in 0..=12 {
        let align = 1usize << shift;
        for size in [1, 7, 16, 100, 4095, LINE - 1, LINE, LINE + 1] {
            let layout = Layout::from_size_align(size, align).unwrap();
            // SAFETY: non-zero size; freed below with the same layout.
            let p = unsafe { alloc_zeroed(layout) };
            assert!(!p.is_null());
            assert_eq!(p as usize % align, 0, "align {align} size {size}");
            // SAFETY: `size` bytes at `p` are ours.
            let zeroed = unsafe { std::slice::from_raw_parts(p, size) };
            assert!(
                zeroed.iter().all(|&b| b == 0),
                "alloc_zeroed {align} {size}"
            );
            let b = block(p).expect("tracked");
            assert_eq!((b.addr, b.size), (p as usize, size));
            held.push((p, layout));
        }
    }
    let s = common::snapshot("aligns").expect("snapshot");
    for &(p, layout) in &held {
        let i = common::block_index(&s, p as usize);
        assert_eq!(s.blocks[i.index()].size, layout.size() as u64);
    }
    drop(s);
    for (p, layout) in held {
        // SAFETY: allocated above with `layout`.
        unsafe { dealloc(p, layout) };
    }
    common::settles_to(&before);
}

fn realloc_grows_shrinks_and_moves_across_the_line() {
    let before = stats();
    // Sizes a block goes through: within headers, across the line both ways,
    // within the side table, and back.
    let sizes = [
        24,
        100,
        5000,
        64,
        LINE - 16,
        LINE + 16,
        3 * LINE,
        LINE + 1,
        LINE - 1,
        8,
        1,
    ];
    for align in [1, 8, 16, 64] {
        let mut layout = Layout::from_size_align(sizes[0], align).unwrap();
        // SAFETY: non-zero size.
        let mut p = unsafe { alloc(layout) };
        // SAFETY: `layout.size()` bytes at `p` are ours.
        unsafe { std::ptr::write_bytes(p, 0xA5, layout.size()) };
        let mut total = sizes[0] as u64;
        for &size in &sizes[1..] {
            // SAFETY: `p` is live with `layout`; `size` is non-zero.
            let q = unsafe { realloc(p, layout, size) };
            assert!(!q.is_null());
            let kept = layout.size().min(size);
            // SAFETY: `q` holds `size >= kept` bytes.
            let bytes = unsafe { std::slice::from_raw_parts(q, kept) };
            assert!(
                bytes.iter().all(|&b| b == 0xA5),
                "{align}: {} -> {size}",
                layout.size()
            );
            // SAFETY: as above.
            unsafe { std::ptr::write_bytes(q, 0xA5, size) };
            assert_eq!(block(q).map(|b| b.size), Some(size));
            assert!(block(p).is_none() || p == q, "the old block is gone");
            total += size as u64;
            (p, layout) = (q, Layout::from_size_align(size, align).unwrap());
            let now = stats();
            assert_eq!(now.live_bytes - before.live_bytes, size as u64);
            assert_eq!(now.live_blocks - before.live_blocks, 1);
        }
        // SAFETY: `p` is live with `layout`.
        unsafe { dealloc(p, layout) };
        let after = stats();
        assert_eq!(after.live_bytes, before.live_bytes);
        assert!(after.total_bytes - before.total_bytes >= total);
    }
}
