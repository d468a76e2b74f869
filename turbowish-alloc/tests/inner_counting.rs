//! `TurboWish::new(inner)` over an allocator that is not `System`: a wrapper
//! counting what it is asked. Every block TurboWish takes from it goes back,
//! with the layout it was taken with, and TurboWish's own figures match.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use turbowish_alloc::{TurboWish, stats};

/// Counts live blocks and bytes as the inner allocator sees them.
struct Counting;

static LIVE_BLOCKS: AtomicI64 = AtomicI64::new(0);
static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);

// SAFETY: forwards every call to `System` unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE_BLOCKS.fetch_add(1, Relaxed);
        LIVE_BYTES.fetch_add(l.size() as i64, Relaxed);
        // SAFETY: as our caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE_BLOCKS.fetch_sub(1, Relaxed);
        LIVE_BYTES.fetch_sub(l.size() as i64, Relaxed);
        // SAFETY: as our caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        // SAFETY: as our caller's.
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            LIVE_BYTES.fetch_add(new as i64 - l.size() as i64, Relaxed);
        }
        q
    }
}

#[global_allocator]
static ALLOC: TurboWish<Counting> = TurboWish::new(Counting);

#[test]
fn every_inner_block_goes_back_as_it_came() {
    let (blocks0, bytes0, before) = (LIVE_BLOCKS.load(Relaxed), LIVE_BYTES.load(Relaxed), stats());
    let mut held: Vec<Vec<u8>> = Vec::with_capacity(3000);
    for i in 0..3000usize {
        let mut v = vec![i as u8; 1 + i * 97 % 5000];
        if i % 3 == 0 {
            v.resize(v.len() * 2 + (i % 7) * 100_000, 1); // some cross 4 KiB
        }
        held.push(v);
    }
    let s = stats();
    let bytes: usize = held.iter().map(|v| v.capacity()).sum();
    let small = held.iter().filter(|v| v.capacity() < 4096).count();
    assert_eq!(s.live_blocks - before.live_blocks, 3001);
    assert_eq!(s.live_bytes - before.live_bytes, (bytes + 3000 * 24) as u64);
    // The inner allocator holds each block, plus 16 bytes for each header (the list itself is too big for one).
    assert_eq!(LIVE_BLOCKS.load(Relaxed) - blocks0, 3001);
    assert_eq!(
        LIVE_BYTES.load(Relaxed) - bytes0,
        (bytes + 3000 * 24 + 16 * small) as i64
    );
    drop(held);
    assert_eq!(LIVE_BLOCKS.load(Relaxed), blocks0);
    assert_eq!(LIVE_BYTES.load(Relaxed), bytes0);
    assert_eq!(stats().live_bytes, before.live_bytes);
}
