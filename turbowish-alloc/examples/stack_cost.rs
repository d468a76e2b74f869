//! Per-event cost of stack capture, measured by hand (not a timed test):
//! one thread, at a chosen call depth, allocates and frees a block of a
//! chosen size (default 64 bytes) from two call sites in turn, and prints
//! the nanoseconds per pair.
//!
//! ```sh
//! for m in off fp sampled; do
//!   TURBOWISH_STACK=$m cargo run --release -p turbowish-alloc --example stack_cost -- 20 64
//! done
//! ```
//!
//! The difference between `fp` and `off` is what a stack costs per event at
//! that depth (walk, hash, interning); `sampled` should be close to `off`.

use std::hint::black_box;
use std::time::Instant;
use turbowish_alloc::TurboWish;

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

const PAIRS: u32 = 1 << 21;
const RUNS: usize = 9;

#[inline(never)]
fn site_a(size: usize) -> Vec<u8> {
    black_box(Vec::with_capacity(size))
}

#[inline(never)]
fn site_b(size: usize) -> Vec<u8> {
    black_box(Vec::with_capacity(size))
}

/// Times `PAIRS` alloc/free pairs of `size` bytes, `RUNS` times:
/// nanoseconds per pair, sorted; then the number of frames a block
/// allocated here gets (0 when not sampled).
#[inline(never)]
fn timed(size: usize) -> (Vec<f64>, usize) {
    let mut runs: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            for i in 0..PAIRS {
                let b = if i & 1 == 0 {
                    site_a(size)
                } else {
                    site_b(size)
                };
                drop(black_box(b));
            }
            start.elapsed().as_nanos() as f64 / f64::from(PAIRS)
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    let probe = site_a(size);
    let frames = turbowish_alloc::block(probe.as_ptr()).map_or(0, |b| b.stack.frames().len());
    (runs, frames)
}

/// Recurses `depth` frames (each keeps a frame: the result is used after
/// the call), then times.
#[inline(never)]
fn at_depth(depth: usize, size: usize) -> (Vec<f64>, usize) {
    if depth == 0 {
        return timed(size);
    }
    let mut r = at_depth(black_box(depth - 1), size);
    black_box(&mut r);
    r
}

fn main() {
    let arg = |i: usize, default| {
        (std::env::args().nth(i))
            .and_then(|d| d.parse().ok())
            .unwrap_or(default)
    };
    let (depth, size) = (arg(1, 20), arg(2, 64).max(1));
    let settings = turbowish_alloc::settings();
    let (runs, frames) = at_depth(depth, size);
    println!(
        "stack {:?}, depth {depth} ({frames} frames), {size} B: {:.1} ns per alloc/free pair \
         (min {:.1}, max {:.1}, {RUNS} runs of {PAIRS})",
        settings.stack,
        runs[RUNS / 2],
        runs[0],
        runs[RUNS - 1]
    );
}
