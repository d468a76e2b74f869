//! Sampled stacks (`TURBOWISH_STACK=sampled[:BYTES]`): which blocks of a
//! snapshot carry their allocation stack. The runtime chooses by these
//! rules; the reader weighs the blocks it finds by them.
//!
//! # Rules
//!
//! 1. When [`Capture::stack_sample_bytes`](crate::Capture::stack_sample_bytes)
//!    is 0, every block allocated with stacks on has its stack.
//! 2. Otherwise a block gets its stack when a point of a Poisson process of
//!    mean `stack_sample_bytes` over its thread's allocated bytes falls
//!    among its bytes: with probability `1 - exp(-size / mean)`
//!    ([`probability`]), independently of every other block.
//! 3. A block without a stack in a sampled snapshot was not chosen.
//! 4. Some blocks get their stack whatever the sample, and say so
//!    ([`Block::stack_certain`](crate::Block::stack_certain)): each stands
//!    for itself alone. The runtime keeps the stack of every block without
//!    an in-band header (4 KiB or more, or aligned to more than 16, which
//!    includes every tokio task cell: the capture needs a cell's stack to
//!    know it and its spawn site) and of every block allocated outside any
//!    task (tag 0: program start-up, and the queues and lists a tokio
//!    runtime builds before it runs a task, which the capture recognises as
//!    the runtime's by their stacks). Files of format 6 lack the mark and
//!    read with every stacked block chosen by rule 2.

/// The probability that a block of `size` bytes has its stack in a
/// snapshot whose `stack_sample_bytes` is `mean` (rules 1 and 2).
pub fn probability(size: u64, mean: u64) -> f64 {
    if mean == 0 {
        return 1.0;
    }
    -(-(size as f64) / mean as f64).exp_m1()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_have_a_stack_with_one_minus_exp_of_size_over_mean() {
        assert_eq!(probability(100, 0), 1.0, "not sampled");
        let p = probability(1024, 1024);
        assert!((p - (1.0 - (-1f64).exp())).abs() < 1e-12, "{p}");
        let p = probability(16, 512 << 10);
        assert!((p - 16.0 / (512 << 10) as f64).abs() < 1e-9, "{p}");
        assert_eq!(probability(1 << 40, 512 << 10), 1.0);
        assert_eq!(probability(0, 4096), 0.0);
    }
}
