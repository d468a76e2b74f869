//! Which blocks get a stack under `TURBOWISH_STACK=sampled[:BYTES]`: a
//! Poisson sample of the allocated bytes, as jemalloc and tcmalloc take it,
//! by the format's sampling rules (`turbowish_format::rules::sampling`),
//! which the reader relies on to weigh the sampled blocks.
//!
//! # Rules
//!
//! 1. **Sample points fall on bytes, one every `mean` bytes on average,
//!    independently** (a Poisson process of rate `1 / mean` over each
//!    thread's allocated bytes). A block gets its stack when a point falls
//!    among its bytes: with probability `1 - exp(-size / mean)`, whatever
//!    was allocated before it. The analysis weighs each sampled block by the
//!    inverse of that probability, so its site estimates are unbiased.
//! 2. **Each thread counts down its own bytes** to its next point: the gap
//!    to the next point is drawn from the exponential distribution of mean
//!    `mean`, at the thread's first allocation and after each sampled block
//!    (the process is memoryless, so restarting the count at the end of
//!    the sampled block keeps rule 1 exact). The countdown lives in a
//!    thread-local: no lock, no shared cache line, no allocation. An
//!    unsampled allocation costs a compare and a subtraction.
//! 3. **The generator is per thread** (xorshift64*), seeded at its first
//!    draw from the thread-local's address and a process-wide counter, so
//!    threads draw different gaps.
//!
//! 4. **Some blocks get their stack whatever the sample** ([`certain`],
//!    the format's sampling rule 4): those without an in-band header (4 KiB
//!    or more, or over-aligned: every tokio task cell, which the capture
//!    knows by its stack), and those allocated outside any task (tag 0: the
//!    queues a tokio runtime builds before it runs a task are the runtime's
//!    by their stacks, cell rule 5c). The capture marks them
//!    `stack_certain`, so the reader counts each once. They take no sample
//!    point and leave the countdown alone.
//!
//! A thread whose thread-locals are gone (it is exiting) takes no sample.

use core::cell::Cell;
use core::sync::atomic::{AtomicU64, Ordering};

/// One thread's countdown and generator.
struct Sampler {
    /// Bytes left before the next sample point (rule 2); 0 before the
    /// first draw.
    left: Cell<u64>,
    /// The generator's state (rule 3); 0 before it is seeded.
    rng: Cell<u64>,
}

thread_local! {
    static SAMPLER: Sampler = const {
        Sampler {
            left: Cell::new(0),
            rng: Cell::new(0),
        }
    };
}

/// Whether a block gets its stack whatever the sample (rule 4): it has no
/// in-band header (`headed` false), or its task tag is 0.
#[inline(always)]
pub(crate) fn certain(headed: bool, tag: u32) -> bool {
    !headed || tag == 0
}

/// Whether the block of `size` bytes about to be recorded gets a stack,
/// under sampling with mean `mean` bytes (rule 1).
#[inline(always)]
pub(crate) fn take(size: usize, mean: u64) -> bool {
    let size = size as u64;
    SAMPLER
        .try_with(|s| {
            let left = s.left.get();
            if left > size {
                s.left.set(left - size);
                false
            } else {
                crossed(s, size, mean)
            }
        })
        .unwrap_or(false)
}

/// A point falls in the next `size` bytes, or the countdown was never
/// drawn: draws what rule 2 asks for.
#[cold]
fn crossed(s: &Sampler, size: u64, mean: u64) -> bool {
    if s.rng.get() == 0 {
        // The thread's first draw: its first point is a gap away from its
        // first byte.
        seed(s);
        let first = gap(s, mean);
        if first > size {
            s.left.set(first - size);
            return false;
        }
    }
    s.left.set(gap(s, mean));
    true
}

fn seed(s: &Sampler) {
    static THREADS: AtomicU64 = AtomicU64::new(0);
    let n = THREADS.fetch_add(1, Ordering::Relaxed);
    let addr = s as *const Sampler as u64;
    // splitmix64 of both: never 0 after `| 1`, as xorshift needs.
    let mut z = (addr ^ n.rotate_left(32)).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    s.rng.set((z ^ (z >> 31)) | 1);
}

/// A gap drawn from the exponential distribution of mean `mean`, in whole
/// bytes (rounded up, at least 1): a point falls in a block of `size`
/// bytes when the gap is at most `size`, with probability exactly
/// `1 - exp(-size / mean)`.
fn gap(s: &Sampler, mean: u64) -> u64 {
    let mut x = s.rng.get();
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s.rng.set(x);
    let bits = x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
    // Uniform in (0, 1]: never 0, whose logarithm is infinite.
    let u = (bits + 1) as f64 * (1.0 / (1u64 << 53) as f64);
    let g = -u.ln() * mean as f64;
    (g.ceil() as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use turbowish_format::rules::sampling::probability;

    /// The fraction of blocks of `size` bytes sampled, and of bytes, over
    /// `n` blocks on a fresh thread.
    fn sampled_fraction(size: usize, mean: u64, n: u32) -> f64 {
        std::thread::spawn(move || {
            let hits = (0..n).filter(|_| take(size, mean)).count();
            hits as f64 / f64::from(n)
        })
        .join()
        .unwrap()
    }

    #[test]
    fn blocks_are_sampled_with_probability_one_minus_exp_of_size_over_mean() {
        for (size, mean) in [
            (1024, 64 << 10),
            (64 << 10, 64 << 10),
            (100, 100),
            (7, 1000),
        ] {
            let p = probability(size as u64, mean);
            let n = 400_000;
            let got = sampled_fraction(size, mean, n);
            // Five standard deviations of a binomial proportion.
            let sd = (p * (1.0 - p) / f64::from(n)).sqrt();
            assert!(
                (got - p).abs() < 5.0 * sd + 1e-9,
                "size {size}, mean {mean}: {got} sampled, expected {p}"
            );
        }
    }

    #[test]
    fn blocks_larger_than_any_gap_are_always_sampled() {
        assert_eq!(sampled_fraction(1 << 40, 1, 1000), 1.0);
    }

    #[test]
    fn threads_draw_different_gaps() {
        let first_gaps: Vec<u64> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    take(1, 1 << 20);
                    SAMPLER.with(|s| s.left.get())
                })
                .join()
                .unwrap()
            })
            .collect();
        let mut distinct = first_gaps.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 4, "{first_gaps:?}");
    }
}
