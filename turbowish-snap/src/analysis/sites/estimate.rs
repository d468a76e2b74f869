//! Figures by allocation site from a snapshot whose stacks were sampled
//! (`TURBOWISH_STACK=sampled`, [`Capture::stack_sample_bytes`]): every
//! block is there, but only a Poisson sample by bytes has its stack.
//!
//! # Rules
//!
//! 1. **A sampled block stands for `1 / p` blocks**, where `p = 1 -
//!    exp(-size / mean)` is the chance that a block of its size got a stack
//!    (the format's [`probability`]): the sums over a site's sampled
//!    blocks, of `1 / p` and of `size / p` ([`sample_weight`]), are
//!    unbiased estimates of the site's live blocks and bytes. A block of 16
//!    bytes sampled every 512 KiB stands for about 32 769 blocks; one of
//!    4 MiB, for itself alone.
//!    A block whose stack was kept whatever the sample
//!    ([`Block::stack_certain`], the format's sampling rule 4: 4 KiB or
//!    more, over-aligned, or allocated outside any task) stands for itself
//!    alone, and counts exactly.
//! 2. **A block without a stack was not sampled**: it is in no site's
//!    figures (its bytes are in the sites' estimates, through the sampled
//!    blocks that stand for it), so site figures sum to about the live
//!    total, not to twice as much.
//! 3. **Estimates are summed unrounded, and rounded once** ([`SiteSum`]).
//! 4. **Only figures by site are estimated.** Figures by task, type and
//!    spawn site, retained sizes and live totals do not use stacks: they
//!    stay exact.
//!
//! Snapshots whose `stack_sample_bytes` is 0 (every block with stacks on
//! has its stack, and every file of format 5 or older) count each block
//! once, exactly, as before.

use crate::model::{Block, Snapshot, StackIndex};
use crate::rules::sampling::probability;

/// How many blocks a block of `size` bytes with a stack stands for, in a
/// snapshot sampled every `mean` bytes (rule 1): the inverse of its
/// [`probability`] to have one, `1 / (1 - exp(-size / mean))`. 1 when
/// `mean` is 0 (not sampled), and for an empty block, which sampling never
/// picks (a file that says otherwise is counted as it says).
pub fn sample_weight(size: u64, mean: u64) -> f64 {
    match probability(size, mean) {
        p if p > 0.0 => 1.0 / p,
        _ => 1.0,
    }
}

/// How the blocks of one snapshot count in figures by allocation site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SiteWeights {
    /// The sample's mean in bytes; 0 when every block counts once.
    mean: u64,
}

impl SiteWeights {
    /// Every block counts once, exactly.
    pub const EXACT: SiteWeights = SiteWeights { mean: 0 };

    /// The weights of `snap`'s blocks, as its capture sampled stacks.
    pub fn of(snap: &Snapshot) -> SiteWeights {
        SiteWeights::from_sample_bytes(snap.capture.stack_sample_bytes)
    }

    /// The weights of a snapshot whose capture says
    /// `stack_sample_bytes: mean`.
    pub const fn from_sample_bytes(mean: u64) -> SiteWeights {
        SiteWeights { mean }
    }

    /// The mean in bytes of the stack sample, when stacks were sampled.
    pub fn sampled_every(&self) -> Option<u64> {
        (self.mean != 0).then_some(self.mean)
    }

    /// Whether figures by site are estimates.
    pub fn estimated(&self) -> bool {
        self.mean != 0
    }

    /// How block `b` counts in figures by site (rules 1 and 2).
    pub fn weight(&self, b: &Block) -> Weight {
        if self.mean == 0 {
            Weight::Exact
        } else if b.stack == StackIndex::EMPTY {
            Weight::Left
        } else if b.stack_certain {
            Weight::Exact
        } else {
            Weight::Estimate(sample_weight(b.size, self.mean))
        }
    }
}

/// How one block counts in figures by site ([`SiteWeights::weight`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Weight {
    /// Once, exactly.
    Exact,
    /// For this many blocks like it: an estimate (rule 1).
    Estimate(f64),
    /// Not at all: a block a sampled snapshot holds without a stack
    /// (rule 2).
    Left,
}

/// Blocks and bytes summed for a figure by site, each block counted as
/// its snapshot's [`SiteWeights`] say (rules 1 to 3).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SiteSum {
    /// Blocks added that count in site figures.
    counted: u64,
    /// Of them, the sampled blocks the estimates rest on.
    samples: u64,
    /// Exact sums (of blocks counted once).
    blocks: u64,
    bytes: u64,
    /// Estimated sums (of sampled blocks), unrounded.
    est_blocks: f64,
    est_bytes: f64,
}

impl SiteSum {
    /// Adds block `b`, weighed by `w`; a block a sampled snapshot holds
    /// without a stack is left out (rule 2).
    pub fn add(&mut self, w: SiteWeights, b: &Block) {
        match w.weight(b) {
            Weight::Exact => {
                self.blocks += 1;
                self.bytes = self.bytes.saturating_add(b.size);
            }
            Weight::Estimate(k) => {
                self.samples += 1;
                self.est_blocks += k;
                self.est_bytes += k * b.size as f64;
            }
            Weight::Left => return,
        }
        self.counted += 1;
    }

    /// Whether no block added counts.
    pub fn is_empty(&self) -> bool {
        self.counted == 0
    }

    /// How many sampled blocks the estimates rest on: 0 when the sum is
    /// exact. Few samples make a rough estimate.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// The blocks (estimated ones rounded, saturating).
    pub fn blocks(&self) -> u64 {
        self.blocks.saturating_add(self.est_blocks.round() as u64)
    }

    /// The bytes (estimated ones rounded, saturating).
    pub fn bytes(&self) -> u64 {
        self.bytes.saturating_add(self.est_bytes.round() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(size: u64, stack: u32) -> Block {
        Block {
            size,
            stack: StackIndex::new(stack),
            ..Block::default()
        }
    }

    #[test]
    fn weights_undo_the_chance_of_being_sampled() {
        assert_eq!(sample_weight(100, 0), 1.0);
        assert_eq!(sample_weight(0, 512 << 10), 1.0);
        // p = 1 - e^-1 for a block as large as the mean.
        let w = sample_weight(1024, 1024);
        assert!((w - 1.0 / (1.0 - (-1f64).exp())).abs() < 1e-12, "{w}");
        // Small blocks: about mean / size (plus a half).
        let w = sample_weight(16, 512 << 10);
        assert!((w - 32768.5).abs() < 0.01, "{w}");
        // Huge blocks are always sampled: weight 1.
        assert!((sample_weight(1 << 40, 512 << 10) - 1.0).abs() < 1e-12);
        // Hostile means stay finite.
        assert!(sample_weight(1, u64::MAX).is_finite());
    }

    #[test]
    fn exact_snapshots_count_every_block_once_and_saturate() {
        let mut s = SiteSum::default();
        assert!(s.is_empty());
        for b in [block(10, 0), block(u64::MAX, 1), block(5, 1)] {
            s.add(SiteWeights::EXACT, &b);
        }
        assert_eq!((s.blocks(), s.bytes()), (3, u64::MAX));
    }

    #[test]
    fn blocks_with_their_stack_for_certain_count_once() {
        let w = SiteWeights { mean: 1024 };
        let certain = Block {
            stack_certain: true,
            ..block(100, 1)
        };
        assert_eq!(w.weight(&certain), Weight::Exact);
        let mut s = SiteSum::default();
        s.add(w, &certain);
        s.add(w, &certain);
        assert_eq!((s.blocks(), s.bytes(), s.samples()), (2, 200, 0));
        // Without its stack it was not recorded by rule 4 after all.
        let stackless = Block {
            stack_certain: true,
            ..block(100, 0)
        };
        assert_eq!(w.weight(&stackless), Weight::Left);
    }

    #[test]
    fn sampled_snapshots_count_stackless_blocks_nowhere() {
        let w = SiteWeights { mean: 1024 };
        let mut s = SiteSum::default();
        s.add(w, &block(1024, 0));
        assert!(s.is_empty(), "a block without a stack was not sampled");
        s.add(w, &block(1024, 1));
        s.add(w, &block(1024, 2));
        let k = sample_weight(1024, 1024);
        assert_eq!(s.samples(), 2);
        assert_eq!(s.blocks(), (2.0 * k).round() as u64);
        assert_eq!(s.bytes(), (2048.0 * k).round() as u64);
    }

    /// Unbiased: over many simulated samples of a known heap, the
    /// estimate lands within a percent of the truth.
    #[test]
    fn estimates_of_a_simulated_sample_are_close_to_the_truth() {
        let mean = 64 << 10;
        let w = SiteWeights { mean };
        let mut rng = 0x2545_F491_4F6C_DD1Du64;
        let mut uniform = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng >> 11) as f64 / (1u64 << 53) as f64
        };
        let sizes = [16u64, 200, 4096, 100_000, 3 << 20];
        let (mut truth, mut sum) = (0u64, SiteSum::default());
        for i in 0..400_000 {
            let size = sizes[i % sizes.len()];
            truth += size;
            let p = -(-(size as f64) / mean as f64).exp_m1();
            let stack = u32::from(uniform() < p);
            sum.add(w, &block(size, stack));
        }
        let error = (sum.bytes() as f64 - truth as f64).abs() / truth as f64;
        assert!(error < 0.01, "{} estimated, {truth} true", sum.bytes());
    }
}
