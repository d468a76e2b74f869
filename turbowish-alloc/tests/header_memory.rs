//! What TurboWish costs in memory per live block over glibc: the 16-byte
//! header (as the inner allocator rounds it: `malloc_usable_size` of the
//! block with and without it), plus the side table and counters, measured
//! with the same sizes allocated both ways in one process. The old
//! out-of-band table cost 20-24 bytes per block.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use turbowish_alloc::{TurboWish, stats};

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

unsafe extern "C" {
    fn malloc_usable_size(p: *mut u8) -> usize;
}

const N: usize = 200_000;

#[test]
fn a_block_costs_16_bytes_more_under_glibc() {
    let base = stats();
    let ours: Vec<Box<[u8]>> = common::small_sizes(N)
        .map(|n| vec![1u8; n].into_boxed_slice())
        .collect();
    let grown = stats();
    // SAFETY: each box's data is a live block of ours with a header: the
    // inner block starts 16 bytes before it.
    let with: usize = ours
        .iter()
        .map(|b| unsafe { malloc_usable_size(b.as_ptr().cast_mut().sub(16)) })
        .sum();
    let plain: Vec<(*mut u8, Layout)> = common::small_sizes(N)
        .map(|n| {
            let l = Layout::from_size_align(n, 1).unwrap();
            // SAFETY: a non-zero layout; freed below.
            (unsafe { System.alloc(l) }, l)
        })
        .collect();
    // SAFETY: live blocks from `System`, i.e. malloc.
    let without: usize = plain
        .iter()
        .map(|&(p, _)| unsafe { malloc_usable_size(p) })
        .sum();
    let tables = grown.table_bytes.saturating_sub(base.table_bytes) as usize;
    let per_block = (with - without + tables) as f64 / N as f64;
    println!("memory per live block over glibc: {per_block:.1} bytes (tables {tables} B)");
    assert!(
        (15.0..=17.0).contains(&per_block),
        "{per_block:.1} bytes per block"
    );
    assert_eq!(
        grown.header_bytes - base.header_bytes,
        16 * N as u64,
        "the list itself is a side block"
    );
    for (p, l) in plain {
        // SAFETY: allocated above from `System` with `l`.
        unsafe { System.dealloc(p, l) };
    }
    drop(ours);
}
