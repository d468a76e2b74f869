//! The in-band header: 16 bytes in front of every small block, holding what
//! TurboWish knows about it, so that the allocation path touches no shared
//! table and no shared cache line.
//!
//! # Layout
//!
//! The shim asks the inner allocator for `size + 16` bytes aligned to 16 and
//! hands the caller the address 16 bytes in. The header is two words at
//! `base` and `base + 8`. Packed into 85 bits (`fields`), then a 43-bit check:
//!
//! | bits    | field   | width | past the limit |
//! |---------|---------|-------|----------------|
//! | 0..12   | size    | 12    | n/a: blocks of 4 KiB or more have no header (rule 1) |
//! | 12..32  | stack   | 20    | the interner hands out `StackId::OVERFLOW` past 2^20 |
//! | 32..64  | task    | 32    | a tag has 32 bits (`turbowish_format::rules::tags`) |
//! | 64..83  | epoch   | 19    | birth epochs are kept modulo 2^19 ([`EPOCH_MASK`]) |
//! | 83      | tracked | 1     | |
//! | 84      | watched | 1     | |
//! | 85..128 | check   | 43    | its top bit is always 1 |
//!
//! # Rules
//!
//! Cited elsewhere as "header rule N".
//!
//! 1. Whether a block has a header depends only on its layout
//!    ([`has_header`]): size under 4 KiB and alignment at most 16. `dealloc`
//!    and `realloc` are given the layout, so they never guess. Other blocks
//!    (large or over-aligned: rare, and dear enough that a lock is noise) are
//!    kept in the side table (`heap::table`). The limit is low because of
//!    size-class allocators: jemalloc and mimalloc round a power-of-two size
//!    plus 16 up to the next class, 25% more from 64 bytes up; under 4 KiB
//!    that is at most 1 KiB a block.
//! 2. Every block with a header gets one, whatever the thread is doing: a
//!    block allocated inside TurboWish's own bookkeeping (or by a signal
//!    handler that interrupted it) gets one with `tracked` clear. So a free
//!    never depends on the state of the freeing thread, and no free can be
//!    missed: there are no stale headers to reconcile.
//! 3. A header is written after the inner allocator returns the block, and
//!    cleared (its check word zeroed) before the block goes back to the inner
//!    allocator, by `dealloc` or by `realloc` (which rewrites it, or restores
//!    it if the inner `realloc` fails). So a valid header exists only at the
//!    start of a live block.
//! 4. The check is a hash of the fields, the header's own address and
//!    [`cookie`], a per-process secret from the kernel's `AT_RANDOM` bytes.
//!    A copy of a real header anywhere else fails it (the address differs),
//!    and so does a torn write or a cleared (all-zero) header. Random data
//!    passes with probability 2^-42 (the check's top bit is fixed),
//!    and data an attacker could forge would need the cookie.
//! 5. Enumeration (`snapshot::enumerate`) walks memory in address order and,
//!    once it accepts a header, skips the block it announces: the bytes of a
//!    live block are never read as headers. So user data, where every
//!    look-alike of a header lives (copies, buffers of headers), can never
//!    become a block; only memory outside live blocks (free memory, the
//!    allocator's own metadata, stacks) is checked, and there only rule 3
//!    and rule 4 stand between a look-alike and a false block.
//! 6. A free whose header fails the check was not allocated by this shim
//!    (a block from the inner allocator handed over by other code): it goes
//!    to the inner allocator unchanged and counts as an unknown free. The
//!    16 bytes before such a pointer must be readable, which holds for
//!    `malloc`'s blocks (its own chunk header is there) and for any block
//!    that is not at the very start of a mapping.
//! 7. A block's header is written by the thread that owns the block: the one
//!    that allocated it, except that `watch` sets the `watched` bit while
//!    the block is live and being polled (registry rule 4), when no other
//!    thread may free it.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Bytes in front of each block with a header.
pub(crate) const HEADER: usize = 16;
/// Blocks of this size or more have no header (rule 1).
pub(crate) const HEADER_MAX_SIZE: usize = 1 << SIZE_BITS;
/// Mask applied to birth epochs everywhere, so headers and the side table
/// agree.
pub(crate) const EPOCH_MASK: u32 = (1 << EPOCH_BITS) - 1;

const SIZE_BITS: u32 = 12;
const STACK_BITS: u32 = 20;
const EPOCH_BITS: u32 = 19;
const STACK_SHIFT: u32 = SIZE_BITS;
const TASK_SHIFT: u32 = STACK_SHIFT + STACK_BITS;
const EPOCH_SHIFT: u32 = TASK_SHIFT + 32;
const TRACKED_BIT: u32 = EPOCH_SHIFT + EPOCH_BITS;
const WATCHED_BIT: u32 = TRACKED_BIT + 1;
/// Field bits in the high word (the rest of it is the check).
const HI_FIELD_BITS: u32 = WATCHED_BIT + 1 - 64;
const HI_FIELD_MASK: u64 = (1 << HI_FIELD_BITS) - 1;

/// Whether a block of this layout has a header (rule 1).
#[inline(always)]
pub(crate) const fn has_header(size: usize, align: usize) -> bool {
    size < HEADER_MAX_SIZE && align <= HEADER
}

/// What a header says about its block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fields {
    pub(crate) size: usize,
    pub(crate) stack: u32,
    pub(crate) task: u32,
    pub(crate) epoch: u32,
    /// Allocated outside TurboWish's own bookkeeping (rule 2): counted, and
    /// in snapshots.
    pub(crate) tracked: bool,
    /// A task-registry row watches it (table rule 8).
    pub(crate) watched: bool,
}

impl Fields {
    #[inline(always)]
    fn pack(&self) -> u128 {
        debug_assert!(self.size < HEADER_MAX_SIZE && self.stack < 1 << STACK_BITS);
        self.size as u128
            | (self.stack as u128) << STACK_SHIFT
            | (self.task as u128) << TASK_SHIFT
            | ((self.epoch & EPOCH_MASK) as u128) << EPOCH_SHIFT
            | (self.tracked as u128) << TRACKED_BIT
            | (self.watched as u128) << WATCHED_BIT
    }

    #[inline(always)]
    fn unpack(f: u128) -> Fields {
        let bits = |shift: u32, width: u32| ((f >> shift) as u64 & ((1 << width) - 1)) as u32;
        Fields {
            size: bits(0, SIZE_BITS) as usize,
            stack: bits(STACK_SHIFT, STACK_BITS),
            task: bits(TASK_SHIFT, 32),
            epoch: bits(EPOCH_SHIFT, EPOCH_BITS),
            tracked: bits(TRACKED_BIT, 1) != 0,
            watched: bits(WATCHED_BIT, 1) != 0,
        }
    }
}

static COOKIE: AtomicU64 = AtomicU64::new(0);

/// The per-process secret of rule 4: never 0 once read, the same for every
/// thread (the first reader publishes it).
#[inline(always)]
fn cookie() -> u64 {
    match COOKIE.load(Relaxed) {
        0 => init_cookie(),
        k => k,
    }
}

#[cold]
fn init_cookie() -> u64 {
    // SAFETY: getauxval has no preconditions; AT_RANDOM's value is the
    // address of 16 random bytes the kernel placed on the initial stack,
    // valid for the life of the process (or 0 if absent).
    let at_random = unsafe { libc::getauxval(libc::AT_RANDOM) } as *const u64;
    let seed = if at_random.is_null() {
        0
    } else {
        // SAFETY: see above: 16 readable bytes, 8 of them read unaligned.
        unsafe { at_random.add(1).read_unaligned() }
    };
    let addr = &COOKIE as *const AtomicU64 as u64; // differs per exec under ASLR
    let candidate = mix(seed ^ addr ^ crate::clock::precise_ns()) | 1;
    match COOKIE.compare_exchange(0, candidate, Relaxed, Relaxed) {
        Ok(_) => candidate,
        Err(won) => won,
    }
}

#[inline(always)]
fn mix(x: u64) -> u64 {
    let x = (x ^ (x >> 31)).wrapping_mul(0x7FB5_D329_728E_A185);
    (x ^ (x >> 27)).wrapping_mul(0x81DA_DEF4_BC2D_D44D)
}

/// The check of rule 4, in the high 43 bits of a word. Its top bit is
/// always set, so a cleared header (all zero) never passes.
///
/// One multiply: it is on every allocation and free. The inputs are folded
/// by XOR, each injectively, so changing any one of them (the address, for a
/// copy; one word, for a torn write) changes the product's input, and the
/// multiply spreads that change to the top bits.
#[inline(always)]
fn check(base: usize, lo: u64, hi_fields: u64) -> u64 {
    let x = lo ^ cookie() ^ (base as u64).rotate_left(21) ^ (hi_fields << (64 - HI_FIELD_BITS));
    let h = (x ^ (x >> 29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h | 1 << 63) & !HI_FIELD_MASK
}

/// The two words of a header at `base` saying `fields`.
#[inline(always)]
pub(crate) fn encode(base: usize, fields: &Fields) -> [u64; 2] {
    let f = fields.pack();
    let lo = f as u64;
    let hi = (f >> 64) as u64;
    [lo, hi | check(base, lo, hi)]
}

/// What the header words `w`, read at `base`, say; `None` if they fail the
/// check (rule 4).
#[inline(always)]
pub(crate) fn decode(base: usize, w: [u64; 2]) -> Option<Fields> {
    let hi_fields = w[1] & HI_FIELD_MASK;
    (w[1] & !HI_FIELD_MASK == check(base, w[0], hi_fields))
        .then(|| Fields::unpack(w[0] as u128 | (hi_fields as u128) << 64))
}

/// Writes the header of the block at `base` (rule 3: after the inner
/// allocator returned it).
///
/// # Safety
///
/// `base` must be 16-aligned and the start of at least 16 writable bytes the
/// caller owns (a block the inner allocator just returned, or one whose
/// header it read).
#[inline(always)]
pub(crate) unsafe fn write(base: *mut u8, fields: &Fields) {
    let w = encode(base as usize, fields);
    // SAFETY: as the caller guarantees; 16-aligned, so both words are aligned.
    unsafe { base.cast::<[u64; 2]>().write(w) }
}

/// Reads and checks the header at `base`.
///
/// # Safety
///
/// The 16 bytes at `base` must be readable and 8-aligned, and no other thread
/// may be writing them (rule 7).
#[inline(always)]
pub(crate) unsafe fn read(base: *const u8) -> Option<Fields> {
    // SAFETY: as the caller guarantees.
    decode(base as usize, unsafe { base.cast::<[u64; 2]>().read() })
}

/// Makes the header at `base` invalid (rule 3: before the block is freed).
///
/// # Safety
///
/// As [`write`].
#[inline(always)]
pub(crate) unsafe fn clear(base: *mut u8) {
    // SAFETY: as the caller guarantees. An all-zero header never passes the
    // check, whose top bit is always set.
    unsafe { base.cast::<[u64; 2]>().write([0, 0]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Fields {
        Fields {
            size: HEADER_MAX_SIZE - 1,
            stack: (1 << STACK_BITS) - 1,
            task: u32::MAX,
            epoch: EPOCH_MASK,
            tracked: true,
            watched: false,
        }
    }

    #[test]
    fn fields_round_trip_at_their_limits() {
        let base = 0x7f00_1234_5670;
        for f in [
            fields(),
            Fields {
                size: 0,
                stack: 0,
                task: 0,
                epoch: 0,
                tracked: false,
                watched: true,
            },
            Fields {
                epoch: EPOCH_MASK + 3,
                ..fields()
            },
        ] {
            let got = decode(base, encode(base, &f)).expect("valid");
            assert_eq!(
                got,
                Fields {
                    epoch: f.epoch & EPOCH_MASK,
                    ..f
                }
            );
        }
    }

    /// Rule 4: a header copied anywhere else, a torn header, a cleared one,
    /// and one with any single bit flipped all fail the check.
    #[test]
    fn copies_torn_and_flipped_headers_fail() {
        let base = 0x7f00_1234_5670usize;
        let w = encode(base, &fields());
        for d in 1..200_000usize {
            assert_eq!(decode(base + 16 * d, w), None, "copy at +{d}");
            assert_eq!(decode(base.wrapping_sub(16 * d), w), None, "copy at -{d}");
        }
        let other = encode(
            base,
            &Fields {
                task: 7,
                ..fields()
            },
        );
        assert_eq!(decode(base, [w[0], other[1]]), None, "torn");
        assert_eq!(decode(base, [other[0], w[1]]), None, "torn");
        assert_eq!(decode(base, [0, 0]), None, "cleared");
        for bit in 0..128 {
            let mut f = w;
            f[bit / 64] ^= 1 << (bit % 64);
            assert_eq!(decode(base, f), None, "bit {bit}");
        }
    }

    #[test]
    fn the_layout_decides_which_blocks_have_headers() {
        assert!(has_header(1, 1) && has_header(HEADER_MAX_SIZE - 1, 16));
        assert!(!has_header(HEADER_MAX_SIZE, 8) && !has_header(64, 32));
    }
}
