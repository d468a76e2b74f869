//! The table's own memory per live block: at most 24 bytes for the small
//! blocks that make up nearly every heap, measured as the table grows.

use turbowish_alloc::{TurboWish, stats};

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

#[test]
fn table_costs_at_most_24_bytes_per_live_block_while_growing() {
    const N: usize = 2_000_000;
    let mut held: Vec<Box<[u8]>> = Vec::with_capacity(N);
    let base = stats();
    let mut worst: f64 = 0.0;
    let mut x = 88172645463325252u64;
    for i in 1..=N {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        held.push(vec![0u8; 8 + (x % 500) as usize].into_boxed_slice());
        // Sample often enough to catch the table just after it has grown.
        if i >= 200_000 && i % 10_007 == 0 {
            let s = stats();
            let per_block = (s.table_bytes - base.table_bytes) as f64
                / (s.live_blocks - base.live_blocks) as f64;
            worst = worst.max(per_block);
        }
    }
    let s = stats();
    let end = s.table_bytes as f64 / s.live_blocks as f64;
    println!("table bytes per live block: worst {worst:.1} while growing, {end:.1} at {N} blocks");
    assert!(worst <= 24.0, "worst {worst:.1} bytes per block");
    drop(held);
    let after = stats();
    assert!(
        after.table_bytes < s.table_bytes / 4,
        "table did not shrink: {} -> {}",
        s.table_bytes,
        after.table_bytes
    );
}
