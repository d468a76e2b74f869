//! The conservative pointer scan: every aligned word in a range that points
//! into a live block (its start or any byte inside it) is an edge to that
//! block.
//!
//! Runs in the snapshot's fork child over the frozen image of the process.
//! Words are read with one load instruction each ([`load_word`]): the memory
//! belongs to objects the child knows nothing about and may never have been
//! initialised, so it is read as raw machine words, never through a Rust
//! reference or a typed read the compiler could reason about.

/// Sorted live blocks, for finding the block an address falls in.
///
/// The search has two levels because one binary search over a million
/// starts misses the cache at nearly every step, and it ran for every word
/// that looked like a heap address: it was most of the scan's time. `top`
/// holds every [`CHUNK`]th start, small enough to stay in cache; the second
/// search stays inside one chunk's few cache lines.
#[derive(Debug)]
pub(crate) struct AddressIndex {
    starts: Vec<u64>,
    /// `starts[k * CHUNK]` for every chunk `k`.
    top: Vec<u64>,
    /// One past the last address belonging to each block (a zero-sized
    /// block still owns its start address).
    ends: Vec<u64>,
    min: u64,
    max: u64,
}

/// Starts per chunk of [`AddressIndex`]'s second search: 512 bytes.
const CHUNK: usize = 64;

impl AddressIndex {
    /// `blocks` are (start, size) pairs sorted by start, not overlapping.
    pub(crate) fn new(blocks: impl Iterator<Item = (u64, u64)>) -> Self {
        let (starts, ends): (Vec<u64>, Vec<u64>) = blocks
            .map(|(a, size)| (a, a.saturating_add(size.max(1))))
            .unzip();
        let min = starts.first().copied().unwrap_or(u64::MAX);
        let max = ends.iter().copied().max().unwrap_or(0);
        let top = starts.iter().step_by(CHUNK).copied().collect();
        AddressIndex {
            starts,
            top,
            ends,
            min,
            max,
        }
    }

    /// Start and end (exclusive) of block `i`.
    pub(crate) fn bounds(&self, i: u32) -> (u64, u64) {
        (self.starts[i as usize], self.ends[i as usize])
    }

    /// The index of the block containing `addr`.
    #[inline]
    pub(crate) fn find(&self, addr: u64) -> Option<u32> {
        // The fast reject: most words are not heap addresses at all.
        if addr < self.min || addr >= self.max {
            return None;
        }
        // Blocks do not overlap, so only the last block starting at or
        // before `addr` can hold it.
        let chunk = self.top.partition_point(|&s| s <= addr).checked_sub(1)?;
        let lo = chunk * CHUNK;
        let starts = &self.starts[lo..self.starts.len().min(lo + CHUNK)];
        let i = lo + starts.partition_point(|&s| s <= addr).checked_sub(1)?;
        (addr < self.ends[i]).then_some(i as u32)
    }
}

/// Appends to `out` the index of every block that a word in
/// `[start, start + len)` points into (with repeats; callers sort and dedup).
///
/// # Safety
///
/// The whole range must be mapped and readable for the duration of the call.
pub(crate) unsafe fn scan(index: &AddressIndex, start: u64, len: u64, out: &mut Vec<u32>) {
    // SAFETY: the caller's guarantee, passed on.
    unsafe { scan_words(index, start, len, |_, _, b| out.push(b)) };
}

/// Calls `found(word_address, word, block)` for every aligned word in
/// `[start, start + len)` that points into a live block, in address order.
///
/// # Safety
///
/// The whole range must be mapped and readable for the duration of the call.
#[inline]
pub(crate) unsafe fn scan_words(
    index: &AddressIndex,
    start: u64,
    len: u64,
    mut found: impl FnMut(u64, u64, u32),
) {
    let first = start.next_multiple_of(8);
    let end = start.saturating_add(len);
    let mut at = first;
    while at.saturating_add(8) <= end {
        // SAFETY: `at..at + 8` lies inside the range the caller guarantees
        // readable, and `at` is 8-aligned.
        let word = unsafe { load_word(at as usize) };
        if let Some(b) = index.find(word) {
            found(at, word, b);
        }
        at += 8;
    }
}

/// The word at `addr` (8-aligned), if `readable` covers it.
pub(crate) fn read_word(readable: &[(u64, u64)], addr: u64) -> Option<u64> {
    let end = addr.checked_add(8)?;
    let i = readable.partition_point(|&(_, e)| e <= addr);
    let &(s, e) = readable.get(i)?;
    if !addr.is_multiple_of(8) || s > addr || e < end {
        return None;
    }
    // SAFETY: the 8 aligned bytes at `addr` lie inside one readable mapping
    // of the frozen image, which stays mapped.
    Some(unsafe { load_word(addr as usize) })
}

/// Loads the machine word at `addr` as plain bits.
///
/// # Safety
///
/// `addr` must be 8-aligned, mapped and readable.
#[inline(always)]
unsafe fn load_word(addr: usize) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        let word: u64;
        // SAFETY: the caller guarantees the 8 bytes at `addr` are readable;
        // an asm output register is always an initialised value.
        unsafe {
            core::arch::asm!("mov {}, [{}]", out(reg) word, in(reg) addr, options(nostack, readonly, preserves_flags));
        }
        word
    }
    #[cfg(target_arch = "aarch64")]
    {
        let word: u64;
        // SAFETY: as above.
        unsafe {
            core::arch::asm!("ldr {}, [{}]", out(reg) word, in(reg) addr, options(nostack, readonly, preserves_flags));
        }
        word
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    // SAFETY: the caller guarantees the 8 bytes at `addr` are readable.
    unsafe {
        core::ptr::read_volatile(addr as *const u64)
    }
}

/// Readable memory ranges of this process, from `/proc/self/maps`, sorted.
/// Roots are intersected with these before they are scanned, since a
/// thread's nominal stack or a module's segment may be partly unmapped.
pub(crate) fn readable_ranges() -> std::io::Result<Vec<(u64, u64)>> {
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    let mut out: Vec<(u64, u64)> = maps.lines().filter_map(parse_maps_line).collect();
    out.sort_unstable();
    Ok(out)
}

/// `start-end perms ...` to `(start, end)` when readable (and not the
/// kernel's `[vvar]`, which faults when read).
fn parse_maps_line(line: &str) -> Option<(u64, u64)> {
    let mut fields = line.split_ascii_whitespace();
    let (range, perms) = (fields.next()?, fields.next()?);
    if !perms.starts_with('r') || line.ends_with("[vvar]") || line.ends_with("[vvar_vclock]") {
        return None;
    }
    let (a, b) = range.split_once('-')?;
    Some((
        u64::from_str_radix(a, 16).ok()?,
        u64::from_str_radix(b, 16).ok()?,
    ))
}

/// The parts of `[start, end)` that lie in `readable`.
pub(crate) fn clip(readable: &[(u64, u64)], start: u64, end: u64) -> Vec<(u64, u64)> {
    let first = readable.partition_point(|&(_, e)| e <= start);
    readable[first..]
        .iter()
        .take_while(|&&(s, _)| s < end)
        .map(|&(s, e)| (s.max(start), e.min(end)))
        .filter(|(s, e)| s < e)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_blocks_by_start_and_interior_addresses() {
        let idx = AddressIndex::new([(0x1000, 16), (0x2000, 0), (0x3000, 4096)].into_iter());
        assert_eq!(idx.find(0x1000), Some(0));
        assert_eq!(idx.find(0x100f), Some(0));
        assert_eq!(idx.find(0x1010), None);
        assert_eq!(idx.find(0x2000), Some(1)); // a zero-sized block owns its start
        assert_eq!(idx.find(0x2001), None);
        assert_eq!(idx.find(0x3fff), Some(2));
        assert_eq!(idx.find(0xfff), None);
        assert_eq!(idx.find(u64::MAX), None);
        assert_eq!(AddressIndex::new(std::iter::empty()).find(0x1000), None);
    }

    /// The two-level search finds what a linear search finds, at every
    /// block's edges and in the gaps, for sizes around the chunk's.
    #[test]
    fn two_level_search_agrees_with_a_linear_one() {
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        for n in [1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK + 17] {
            let mut blocks = Vec::new();
            let mut at = 0x10_0000u64;
            for _ in 0..n {
                at += next(3) * 16; // some blocks touch, others have gaps
                let size = next(100);
                blocks.push((at, size));
                at += size.max(1);
            }
            let idx = AddressIndex::new(blocks.iter().copied());
            let linear = |addr: u64| {
                (blocks
                    .iter()
                    .position(|&(s, size)| s <= addr && addr < s + size.max(1)))
                .map(|i| i as u32)
            };
            for &(s, size) in &blocks {
                for addr in [s - 1, s, s + size / 2, s + size.max(1) - 1, s + size.max(1)] {
                    assert_eq!(idx.find(addr), linear(addr), "n {n}, addr {addr:#x}");
                }
            }
        }
    }

    #[test]
    fn scans_aligned_words_only() {
        let target = [0u8; 64];
        let t = target.as_ptr() as u64;
        let idx = AddressIndex::new([(t, 64)].into_iter());
        // Words: a pointer to the start, one into the middle, one just past
        // the end, and garbage.
        let words: [u64; 5] = [t, t + 40, t + 64, 12345, u64::MAX];
        let mut out = Vec::new();
        let base = words.as_ptr() as u64;
        // SAFETY: `words` is readable for its whole length.
        unsafe { scan(&idx, base, size_of_val(&words) as u64, &mut out) };
        assert_eq!(out, [0, 0]);
        // A range starting mid-word skips to the next aligned word.
        out.clear();
        // SAFETY: as above; the scan starts at the next aligned word.
        unsafe { scan(&idx, base + 1, size_of_val(&words) as u64 - 1, &mut out) };
        assert_eq!(out, [0]);
    }

    #[test]
    fn clipping_keeps_only_mapped_parts() {
        let readable = [(0x1000, 0x2000), (0x3000, 0x5000)];
        assert_eq!(
            clip(&readable, 0x1800, 0x4000),
            [(0x1800, 0x2000), (0x3000, 0x4000)]
        );
        assert_eq!(clip(&readable, 0x2000, 0x3000), []);
        assert_eq!(clip(&readable, 0, u64::MAX), readable);
    }

    #[test]
    fn this_process_has_readable_maps() {
        let r = readable_ranges().unwrap();
        let local = 0u64;
        let at = &local as *const u64 as u64;
        assert!(r.iter().any(|&(s, e)| s <= at && at < e));
    }
}
