//! Header rules 4 and 5: copies of real block headers, planted by the
//! thousand in user data (inside blocks with headers, inside large side-table
//! blocks, and in freed memory), never become blocks, in a snapshot or in
//! an in-process query, and every real block is still found once.

mod common;

use std::collections::HashSet;
use turbowish_alloc::{TurboWish, stats, stats_by_task};

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

/// The 16 bytes in front of a block: its header, copied as user data.
fn header_of(p: *const u8) -> [u64; 2] {
    // SAFETY: `p` is a live block of ours with a header (under 256 KiB,
    // align <= 16): the 16 bytes before it are readable.
    unsafe { p.sub(16).cast::<[u64; 2]>().read() }
}

fn fill_with(buf: &mut [[u64; 2]], headers: &[[u64; 2]]) {
    for (i, w) in buf.iter_mut().enumerate() {
        *w = headers[i % headers.len()];
    }
}

#[test]
fn planted_headers_never_become_blocks() {
    let _serial = common::serial();
    let real: Vec<Box<[u8]>> = (0..2000)
        .map(|i| vec![i as u8; 1 + (i * 37) % 3000].into_boxed_slice())
        .collect();
    let headers: Vec<[u64; 2]> = real.iter().map(|b| header_of(b.as_ptr())).collect();
    // Copies inside blocks with headers (rule 5 skips them), inside a side
    // block of 8 MiB (walked: only rule 4 stands), and in freed memory.
    let mut small: Vec<Vec<[u64; 2]>> = (0..64).map(|_| vec![[0, 0]; 4000]).collect();
    small.iter_mut().for_each(|v| fill_with(v, &headers));
    let mut large = vec![[0u64, 0]; 512 * 1024];
    fill_with(&mut large, &headers);
    for _ in 0..32 {
        let mut freed = vec![[0u64, 0]; 6000];
        fill_with(&mut freed, &headers);
        std::hint::black_box(&freed);
    }
    let planted = 64 * 4000 + large.len() + 32 * 6000;
    assert!(planted > 800_000);

    // In process.
    let by_task: u64 = stats_by_task().iter().map(|t| t.live_blocks).sum();
    let counted = stats().live_blocks;
    assert_eq!(by_task, counted, "the walk found what the counters count");

    // In a snapshot.
    let before = stats().live_blocks;
    let s = common::snapshot("lookalikes").expect("snapshot");
    let starts: HashSet<u64> = s.blocks.iter().map(|b| b.addr).collect();
    for b in &real {
        let found = s.blocks.iter().find(|x| x.addr == b.as_ptr() as u64);
        assert_eq!(found.map(|x| x.size), Some(b.len() as u64), "real block");
    }
    // Starts inside a buffer, past its own start.
    let inside = |lo: *const [u64; 2], len: usize| {
        let (lo, hi) = (lo as u64, lo as u64 + 16 * len as u64);
        starts.iter().filter(|&&a| lo < a && a < hi).count()
    };
    assert_eq!(inside(large.as_ptr(), large.len()), 0, "in the side block");
    for v in &small {
        assert_eq!(inside(v.as_ptr(), v.len()), 0, "in a small block");
    }
    // Nothing else was added: the snapshot holds the blocks the counters
    // counted, give or take what the snapshot call itself allocates first.
    assert!(
        (s.blocks.len() as u64).abs_diff(before) <= 8,
        "{} blocks in the snapshot, {before} counted",
        s.blocks.len()
    );
    std::hint::black_box((&real, &small, &large));
}
