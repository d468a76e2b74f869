//! A fixed-seed PRNG shared by the benchmarks that generate graphs.

// Each benchmark uses part of it.
#![allow(dead_code)]

/// SplitMix64: a small, fast, fixed-seed PRNG.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (the bias of the modulo is negligible here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `p` percent.
    pub fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// `count` distinct indices below `n`, sorted.
    pub fn sorted_sample(&mut self, count: u64, n: u32) -> Vec<u32> {
        let mut v: Vec<u32> = (0..count).map(|_| self.below(n.into()) as u32).collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}
