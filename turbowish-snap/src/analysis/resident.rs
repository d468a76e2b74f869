//! Where the process's resident memory went at a capture, part by part, and
//! how each part changed between two snapshots. `summary`, `diff` and the
//! HTML report all read it from here.
//!
//! # The split
//!
//! The one rule for how the recorded figures (capture rule 16 of the
//! runtime; the fields of [`Capture`] since format version 8) add up:
//!
//! ```text
//! resident = live heap + allocator retained + TurboWish's own + the rest
//! ```
//!
//! - **live heap**: the bytes of the snapshot's live blocks
//!   ([`Capture::live_bytes`]).
//! - **allocator retained**: what the allocator holds from the kernel
//!   beyond the live bytes and TurboWish's headers: memory free in its
//!   pools (its own `free` figure) and the rest of what it counts in use,
//!   its per-block overhead (chunk headers, rounding to size classes) and
//!   blocks TurboWish does not track (its own bookkeeping's). Unknown
//!   without the allocator's figures.
//! - **TurboWish's own**: its tables and interned stacks (mapped from the
//!   kernel) and its 16-byte block headers (inside the allocator's blocks).
//! - **the rest**: resident memory that is none of those: code and mapped
//!   files (the file-backed part), thread stacks, other anonymous mappings.
//!   When the allocator's figures are unknown, its retention is in here too.
//!
//! # Rules
//!
//! 1. A snapshot without a resident figure (format version 7 or older, or
//!    a process where neither `/proc` file could be read) has no split:
//!    [`Split::of`] is `None`, and nothing is shown but "not recorded".
//! 2. The parts are read at nearby instants, not one, and may count pages
//!    that are not resident (a reserved `Vec` never written, an arena page
//!    never touched or swapped out). When they add up to more than the
//!    resident set, the rest is 0 and the excess is kept apart
//!    ([`Split::over`]) to be said: no part is cut, no figure wraps.
//! 3. Every sum saturates: the figures come from a file and may be
//!    anything.
//! 4. The gap between resident and live is flagged ([`Split::gap`]) when
//!    the live heap is under half the resident set and the gap is at least
//!    [`GAP_FLAG_BYTES`]: below that, code, stacks and the runtime's own
//!    memory are most of a small process's resident set, and the gap says
//!    nothing about the heap. The finding names the largest part of the gap.

use crate::model::Capture;
use serde::Serialize;

/// A gap smaller than this is never flagged (rule 4): 16 MiB.
pub const GAP_FLAG_BYTES: u64 = 16 << 20;

/// Where the resident memory went at one capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Split {
    /// The resident set, in bytes.
    pub resident: u64,
    /// Of it, file-backed or shared memory (code, mapped files): the
    /// resident set less its anonymous part.
    pub file_backed: u64,
    /// Live heap bytes.
    pub live: u64,
    /// The allocator's retention; `None` when its figures are unknown.
    pub allocator: Option<Retained>,
    /// TurboWish's own memory: tables and interned stacks, then headers.
    #[serde(rename = "turbowish")]
    pub own: Own,
    /// The rest of the resident set (rule 2: 0 when the parts exceed it).
    pub rest: u64,
    /// How much the parts exceed the resident set by (rule 2), else 0.
    pub over: u64,
}

/// What the allocator holds beyond the live heap and TurboWish's headers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Retained {
    /// The allocator, as the runtime named it (`glibc`, ...).
    pub name: String,
    /// All it holds from the kernel.
    pub held: u64,
    /// Free in its pools: kept, not returned to the kernel.
    pub free: u64,
    /// The rest of its retention: per-block overhead and untracked blocks.
    pub overhead: u64,
}

/// TurboWish's own memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Own {
    /// Tables and interned stacks.
    pub tables: u64,
    /// Block headers.
    pub headers: u64,
}

/// The part of the split a flagged gap is mostly made of (rule 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// The allocator's retention: free memory in its pools or overhead.
    Allocator,
    /// TurboWish's own tables and headers.
    #[serde(rename = "turbowish")]
    TurboWish,
    /// Outside the heap: code, stacks, other mappings.
    Outside,
    /// The allocator's figures are unknown: retention and everything
    /// outside the heap cannot be told apart.
    Unknown,
}

/// A flagged gap between resident and live (rule 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// Resident less live bytes.
    pub bytes: u64,
    /// What most of it is.
    pub cause: Cause,
}

impl Own {
    /// Tables and headers together.
    pub fn total(&self) -> u64 {
        self.tables.saturating_add(self.headers)
    }
}

impl Retained {
    /// Free and overhead together.
    pub fn total(&self) -> u64 {
        self.free.saturating_add(self.overhead)
    }
}

impl Split {
    /// The split of a capture's figures; `None` when it has none (rule 1).
    pub fn of(c: &Capture) -> Option<Split> {
        if c.resident_bytes == 0 {
            return None;
        }
        let own = Own {
            tables: c.own_table_bytes,
            headers: c.own_header_bytes,
        };
        let allocator = c.allocator.as_ref().map(|a| {
            let retained = a
                .held_bytes
                .saturating_sub(c.live_bytes.saturating_add(own.headers));
            let free = a.free_bytes.min(retained);
            Retained {
                name: a.name.clone(),
                held: a.held_bytes,
                free,
                overhead: retained - free,
            }
        });
        let parts = (c.live_bytes.saturating_add(own.total()))
            .saturating_add(allocator.as_ref().map_or(0, Retained::total));
        Some(Split {
            resident: c.resident_bytes,
            file_backed: c.resident_bytes.saturating_sub(c.resident_anon_bytes),
            live: c.live_bytes,
            allocator,
            own,
            rest: c.resident_bytes.saturating_sub(parts),
            over: parts.saturating_sub(c.resident_bytes),
        })
    }

    /// The gap between resident and live, if it is to be flagged (rule 4).
    pub fn gap(&self) -> Option<Gap> {
        let bytes = self.resident.saturating_sub(self.live);
        if self.live >= self.resident / 2 || bytes < GAP_FLAG_BYTES {
            return None;
        }
        let cause = match &self.allocator {
            None if self.rest >= self.own.total() => Cause::Unknown,
            None => Cause::TurboWish,
            Some(a) => {
                let parts = [
                    (a.total(), Cause::Allocator),
                    (self.own.total(), Cause::TurboWish),
                    (self.rest, Cause::Outside),
                ];
                parts
                    .into_iter()
                    .max_by_key(|p| p.0)
                    .map_or(Cause::Outside, |p| p.1)
            }
        };
        Some(Gap { bytes, cause })
    }

    /// Each part's figure, in the order [`Part::ALL`] lists them; `None`
    /// when unknown.
    pub fn parts(&self) -> [Option<u64>; 7] {
        let a = self.allocator.as_ref();
        [
            Some(self.resident),
            Some(self.live),
            a.map(|a| a.free),
            a.map(|a| a.overhead),
            Some(self.own.tables),
            Some(self.own.headers),
            Some(self.rest),
        ]
    }
}

/// One part of a [`Split`], as `diff` compares them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// The resident set.
    Resident,
    /// Live heap bytes.
    Live,
    /// Free memory in the allocator's pools.
    AllocatorFree,
    /// The allocator's overhead and untracked blocks.
    AllocatorOverhead,
    /// TurboWish's tables and interned stacks.
    #[serde(rename = "turbowish_tables")]
    TurboWishTables,
    /// TurboWish's block headers.
    #[serde(rename = "turbowish_headers")]
    TurboWishHeaders,
    /// Everything else (with the allocator's retention when unknown).
    Rest,
}

impl Part {
    /// Every part, in the order of [`Split::parts`].
    pub const ALL: [Part; 7] = [
        Part::Resident,
        Part::Live,
        Part::AllocatorFree,
        Part::AllocatorOverhead,
        Part::TurboWishTables,
        Part::TurboWishHeaders,
        Part::Rest,
    ];
}

/// How one part changed from snapshot A to snapshot B.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PartChange {
    /// Which part.
    pub part: Part,
    /// Its figure in A and in B; `None` when unknown there.
    pub a: Option<u64>,
    /// See `a`.
    pub b: Option<u64>,
    /// B less A, saturating; `None` unless both are known.
    pub change: Option<i64>,
}

/// How each part changed between two captures; empty when neither has a
/// split (rule 1).
pub fn changes(a: &Capture, b: &Capture) -> Vec<PartChange> {
    let (sa, sb) = (Split::of(a), Split::of(b));
    if sa.is_none() && sb.is_none() {
        return Vec::new();
    }
    let parts = |s: Option<Split>| s.map_or([None; 7], |s| s.parts());
    let (pa, pb) = (parts(sa), parts(sb));
    (Part::ALL.into_iter().enumerate())
        .map(|(i, part)| PartChange {
            part,
            a: pa[i],
            b: pb[i],
            change: pa[i].zip(pb[i]).map(|(x, y)| super::diff::delta(x, y)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AllocatorFigures;

    const MIB: u64 = 1 << 20;

    fn capture(resident: u64, live: u64, allocator: Option<(u64, u64, u64)>) -> Capture {
        Capture {
            resident_bytes: resident,
            resident_anon_bytes: resident - 4 * MIB,
            live_bytes: live,
            own_table_bytes: 2 * MIB,
            own_header_bytes: MIB,
            allocator: allocator.map(|(held, in_use, free)| AllocatorFigures {
                name: "glibc".to_owned(),
                held_bytes: held,
                in_use_bytes: in_use,
                free_bytes: free,
            }),
            ..Capture::default()
        }
    }

    #[test]
    fn the_parts_add_up_to_the_resident_set() {
        // 10 MiB live + 1 MiB headers + 1 MiB overhead in use; 38 MiB free;
        // 1 MiB beyond what the in-use and free figures name.
        let s = Split::of(&capture(
            54 * MIB,
            10 * MIB,
            Some((50 * MIB, 12 * MIB, 38 * MIB)),
        ))
        .unwrap();
        let a = s.allocator.as_ref().unwrap();
        assert_eq!((a.free, a.overhead), (38 * MIB, MIB));
        assert_eq!(s.own.total(), 3 * MIB);
        assert_eq!(s.rest, 2 * MIB);
        assert_eq!(s.live + a.total() + s.own.total() + s.rest, s.resident);
        assert_eq!((s.over, s.file_backed), (0, 4 * MIB));
        let gap = s.gap().unwrap();
        assert_eq!((gap.bytes, gap.cause), (44 * MIB, Cause::Allocator));
    }

    #[test]
    fn without_a_resident_figure_there_is_no_split() {
        assert_eq!(Split::of(&Capture::default()), None);
        assert!(changes(&Capture::default(), &Capture::default()).is_empty());
    }

    #[test]
    fn an_unknown_allocator_leaves_its_retention_in_the_rest() {
        let s = Split::of(&capture(54 * MIB, 10 * MIB, None)).unwrap();
        assert_eq!(s.allocator, None);
        assert_eq!(s.rest, 41 * MIB);
        assert_eq!(s.parts()[2..4], [None, None]);
        assert_eq!(s.gap().unwrap().cause, Cause::Unknown);
    }

    #[test]
    fn parts_larger_than_the_resident_set_clamp_the_rest_and_say_by_how_much() {
        // 100 MiB live (a reserved, untouched buffer) in 60 MiB resident.
        let s = Split::of(&capture(
            60 * MIB,
            100 * MIB,
            Some((110 * MIB, 102 * MIB, 8 * MIB)),
        ))
        .unwrap();
        assert_eq!(s.rest, 0);
        assert_eq!(s.over, 100 * MIB + 9 * MIB + 3 * MIB - 60 * MIB);
        assert_eq!(s.gap(), None);
        // Figures a file may hold: nothing wraps.
        let mut c = capture(u64::MAX, u64::MAX, Some((u64::MAX, 0, u64::MAX)));
        c.own_table_bytes = u64::MAX;
        let s = Split::of(&c).unwrap();
        assert_eq!((s.rest, s.over), (0, 0));
        let s = Split::of(&capture(5 * MIB, 0, Some((0, 0, u64::MAX)))).unwrap();
        assert_eq!(s.allocator.unwrap().total(), 0);
    }

    #[test]
    fn a_small_or_mostly_live_gap_is_not_flagged() {
        let small = Split::of(&capture(12 * MIB, MIB, None)).unwrap();
        assert_eq!(small.gap(), None, "an 11 MiB gap in a small process");
        let live = Split::of(&capture(100 * MIB, 60 * MIB, None)).unwrap();
        assert_eq!(live.gap(), None, "live is most of the resident set");
        let outside = capture(100 * MIB, 10 * MIB, Some((12 * MIB, 11 * MIB, MIB)));
        let outside = Split::of(&outside).unwrap().gap().unwrap();
        assert_eq!(outside.cause, Cause::Outside);
    }

    #[test]
    fn changes_are_known_only_where_both_sides_are() {
        let a = capture(54 * MIB, 10 * MIB, Some((50 * MIB, 12 * MIB, 38 * MIB)));
        let b = capture(60 * MIB, 30 * MIB, None);
        let c = changes(&a, &b);
        assert_eq!(c.len(), Part::ALL.len());
        assert_eq!(c[0].change, Some(6 * MIB as i64));
        assert_eq!(c[1].change, Some(20 * MIB as i64));
        assert_eq!((c[2].a, c[2].b, c[2].change), (Some(38 * MIB), None, None));
        let old = changes(&Capture::default(), &b);
        assert!(old.iter().all(|p| p.a.is_none() && p.change.is_none()));
    }
}
