//! Typed heap walks: the [`Trace`] trait and the [`Tracer`] that receives
//! what a value owns.
//!
//! The conservative scan of a snapshot sees words that look like pointers.
//! A typed walk sees what a value *owns*: each heap block it reaches, with the
//! block's type, the field path that leads there, and for containers their
//! length and capacity. Snapshots run typed walks from typed roots (see
//! `root` and the task wrapper's `Traced::root`)
//! in the capture child, over the frozen memory of the process; their edges
//! replace the conservative guesses for every block they walk completely.
//!
//! # Implementing `Trace`
//!
//! Derive it (`#[derive(Trace)]`, re-exported from `turbowish-trace-derive`),
//! or write it: report each field with [`Tracer::field`] and each heap block
//! you own with [`Tracer::heap`].
//!
//! ```
//! use turbowish_alloc::{Heap, Trace, Tracer};
//!
//! struct Buffer {
//!     ptr: *mut u8,
//!     cap: usize,
//! }
//!
//! impl Trace for Buffer {
//!     fn trace(&self, tracer: &mut Tracer<'_>) {
//!         // Owns `cap` bytes at `ptr`; nothing inside them points anywhere.
//!         tracer.heap(Heap::block(self.ptr, self.cap).named("Buffer bytes"), |_| {});
//!     }
//! }
//! ```
//!
//! # Rules a walk obeys
//!
//! 1. Every pointer an impl reports is checked against the live-block table
//!    before anything is read through it: a [`Heap::block`] must be the start
//!    of a live, readable block at least as long as the bytes claimed, and a
//!    [`Heap::containing`] address must lie inside one. A pointer that fails
//!    is counted as rejected and not followed.
//! 2. A block is walked at most once per snapshot: a second edge to it is
//!    recorded, not followed (shared `Arc`s, cycles).
//! 3. A walk never blocks: locks are tried, and a held lock's bytes are
//!    scanned conservatively instead ([`Tracer::locked`]). In the capture
//!    child a taken guard is forgotten rather than dropped ([`Tracer::release`]):
//!    releasing a tokio lock takes an internal mutex that a thread of the
//!    parent may have held at the fork.
//! 4. A block's typed edges replace its conservative edges only when its walk
//!    was complete: no skipped field, no locked lock, no rejected pointer, no
//!    panic. Otherwise both are kept, the typed ones winning where they name
//!    the same target. A block reported as opaque ([`Tracer::opaque`]) is
//!    never walked, so it keeps its conservative edges; the holder that
//!    reported it stays complete.
//! 5. A panic in an impl ends that root's walk; it is caught, counted and
//!    named in the snapshot.
//! 6. A walk descends at most [`MAX_DEPTH`] heap hops from its root; a block
//!    deeper than that is reported but not walked, so it keeps its
//!    conservative edges (a long linked list costs precision, never the
//!    capture child's stack).

mod impls;
#[cfg(feature = "bytes")]
mod impls_bytes;
#[cfg(feature = "tokio")]
mod impls_tokio;
mod walk;

pub use walk::{EdgeKind, TracedEdge, Walk, walk};
pub(crate) use walk::{Holder, WalkOutput};

use crate::snapshot::scan::AddressIndex;

/// A value whose owned heap memory a typed walk can report.
///
/// See the [module documentation](self) and `#[derive(Trace)]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `Trace`",
    label = "no `Trace` impl",
    note = "derive it with `#[derive(Trace)]`, or mark the field `#[trace(skip)]` \
            (the conservative scan keeps its edges) or `#[trace(opaque)]` (count its block only)"
)]
pub trait Trace {
    /// Reports every field with [`Tracer::field`] and every heap block this
    /// value owns directly with [`Tracer::heap`].
    fn trace(&self, tracer: &mut Tracer<'_>);

    /// True when no value of this type owns heap memory, so that containers
    /// of it need not visit each element. Defaults to `false`, which is
    /// always correct.
    fn is_leaf() -> bool
    where
        Self: Sized,
    {
        false
    }
}

/// A value that owns one heap block, which [`Tracer::opaque`] (and the derive's
/// `#[trace(opaque)]`) counts without looking inside: `Box<dyn Trait>`, a
/// `Vec` of foreign types, an `Arc` of something without `Trace`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not own a heap block that `#[trace(opaque)]` can count",
    label = "not `Opaque`",
    note = "`Opaque` is implemented for `Box`, `Vec`, `String`, `Arc` and `Rc`; \
            use `#[trace(skip)]` for other types"
)]
pub trait Opaque {
    /// The block, if the value owns one now.
    fn heap_block(&self) -> Option<Heap>;
}

/// A heap block reported by a [`Trace`] impl: where it is, how many bytes the
/// value owns there, and what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heap {
    pub(crate) addr: usize,
    pub(crate) bytes: usize,
    pub(crate) exact: bool,
    pub(crate) type_name: &'static str,
    pub(crate) shared: bool,
    pub(crate) counts: Option<(u64, u64)>,
}

impl Heap {
    /// The block that starts at `ptr`, of which the value owns `bytes` (a
    /// `Vec` owns `capacity * size_of::<T>()`). Zero bytes means no block:
    /// nothing is reported.
    pub fn block<T: ?Sized>(ptr: *const T, bytes: usize) -> Heap {
        Heap {
            addr: ptr.cast::<u8>() as usize,
            bytes,
            exact: true,
            type_name: "",
            shared: false,
            counts: None,
        }
    }

    /// Whichever block contains `ptr` (when the start is not exposed, as for
    /// a `HashMap`'s table or a `Bytes` view).
    pub fn containing<T: ?Sized>(ptr: *const T) -> Heap {
        Heap {
            exact: false,
            bytes: 1,
            ..Heap::block(ptr, 1)
        }
    }

    /// Names what the block holds (`core::any::type_name` is typical).
    pub fn named(self, type_name: &'static str) -> Heap {
        Heap { type_name, ..self }
    }

    /// Marks the block as shared with other owners (`Arc`, `Rc`, `Bytes`).
    pub fn shared(self) -> Heap {
        Heap {
            shared: true,
            ..self
        }
    }

    /// Records a container's element count and capacity, so that unused
    /// capacity shows in the snapshot.
    pub fn counts(self, len: usize, capacity: usize) -> Heap {
        self.with_counts(Some((len as u64, capacity as u64)))
    }

    pub(crate) fn with_counts(self, counts: Option<(u64, u64)>) -> Heap {
        Heap { counts, ..self }
    }
}

/// Receives what a [`Trace`] impl reports, checks it, and records it.
///
/// A `Tracer` is made by TurboWish: by a snapshot's capture, or by [`walk`]
/// in-process (for testing impls).
#[derive(Debug)]
pub struct Tracer<'a> {
    index: &'a AddressIndex,
    readable: &'a [(u64, u64)],
    visited: Vec<u64>,
    holder: Holder,
    /// The field path from the current holder, `.`-separated.
    path: String,
    /// The interned id of `path`, while it has not changed since.
    path_id: Option<u32>,
    incomplete: bool,
    /// Heap hops from the root (rule 6).
    depth: u32,
    /// Walking the capture child's frozen image: lock guards are forgotten,
    /// never released (rule 3).
    frozen: bool,
    out: WalkOutput,
}

/// Heap hops a walk follows from its root before it stops descending
/// (rule 6): deep enough for any tree, shallow enough for a 2 MiB stack.
pub(crate) const MAX_DEPTH: u32 = 200;

impl Tracer<'_> {
    /// Traces `value`, reached through the field `label` of the value being
    /// traced.
    pub fn field<T: Trace + ?Sized>(&mut self, label: &'static str, value: &T) {
        self.labeled(label, |t| value.trace(t));
    }

    /// Runs `f` with `label` appended to the current field path (`.`-joined;
    /// a label starting with `[` is appended without the dot).
    pub fn labeled(&mut self, label: &'static str, f: impl FnOnce(&mut Tracer<'_>)) {
        let len = self.path.len();
        if !self.path.is_empty() && !label.starts_with('[') {
            self.path.push('.');
        }
        self.path.push_str(label);
        self.path_id = None;
        f(self);
        self.path.truncate(len);
        self.path_id = None;
    }

    /// Reports a heap block the value owns, then (on the first visit of a
    /// valid block only) lets `descend` trace what is inside it.
    pub fn heap(&mut self, block: Heap, descend: impl FnOnce(&mut Tracer<'_>)) {
        let Some(target) = self.enter(&block) else {
            return;
        };
        if self.depth >= MAX_DEPTH {
            self.out.truncated += 1;
            return; // rule 6: the block keeps its conservative edges
        }
        if !self.first_visit(target) {
            return;
        }
        // A block the impl describes only in part is not complete (rule 4).
        let (start, end) = self.index.bounds(target);
        let partial = block.exact && (block.bytes as u64) < end - start;
        let saved = (
            self.holder,
            core::mem::take(&mut self.path),
            self.incomplete,
        );
        self.holder = Holder::Block(target);
        self.incomplete = partial;
        self.path_id = None;
        self.depth += 1;
        descend(self);
        self.depth -= 1;
        if !self.incomplete {
            self.out.complete.push(target);
        }
        (self.holder, self.path, self.incomplete) = saved;
        self.path_id = None;
    }

    /// Reports the heap block of `value` without looking inside it: its
    /// contents are left to the conservative scan.
    pub fn opaque<T: Opaque + ?Sized>(&mut self, value: &T) {
        match value.heap_block() {
            Some(block) => {
                if let Some(target) = self.enter(&block) {
                    self.first_visit(target);
                }
            }
            None => self.scan(value),
        }
    }

    /// Scans the bytes of `value` itself (not what it owns) for pointers,
    /// as the conservative scan would, and records what they point to under
    /// the current field path. For fields whose type has no `Trace` impl and
    /// hides its pointers (channel handles, foreign handles).
    pub fn scan<T: ?Sized>(&mut self, value: &T) {
        let start = (value as *const T).cast::<u8>() as u64;
        let len = size_of_val(value) as u64;
        let mut found = Vec::new();
        for (s, e) in crate::snapshot::scan::clip(self.readable, start, start + len) {
            // SAFETY: `clip` keeps only readable ranges; the bytes of a
            // borrowed value stay mapped while it is borrowed.
            unsafe { crate::snapshot::scan::scan(self.index, s, e - s, &mut found) };
        }
        found.sort_unstable();
        found.dedup();
        for to in found {
            self.record(to, EdgeKind::Conservative, "", false);
        }
    }

    /// A lock that could not be taken without blocking: its bytes are
    /// scanned conservatively instead (rule 3).
    pub fn locked<T: ?Sized>(&mut self, value: &T) {
        self.out.locked += 1;
        self.incomplete = true;
        self.scan(value);
    }

    /// Lets go of a lock guard taken during a walk: dropped in-process,
    /// forgotten in the capture child (rule 3).
    pub fn release<G>(&self, guard: G) {
        if self.frozen {
            core::mem::forget(guard);
        } else {
            drop(guard);
        }
    }

    /// A field the walk does not look at (`#[trace(skip)]`): the
    /// conservative scan keeps this block's edges (rule 4).
    pub fn skip(&mut self) {
        self.incomplete = true;
    }

    /// Whether `len` bytes at `addr` may be read (they are mapped).
    pub(crate) fn is_readable(&self, addr: usize, len: usize) -> bool {
        let start = addr as u64;
        start
            .checked_add(len as u64)
            .is_some_and(|end| is_readable(self.readable, start, end))
    }

    /// Whether a live, readable block starts at `addr` with at least `len`
    /// bytes (rule 1). A failure counts as a rejected pointer.
    pub(crate) fn is_live_block(&mut self, addr: usize, len: usize) -> bool {
        let ok = self.index.find(addr as u64).is_some_and(|i| {
            let (start, end) = self.index.bounds(i);
            start == addr as u64
                && end - start >= len as u64
                && is_readable(self.readable, start, end)
        });
        if !ok {
            self.out.rejected += 1;
        }
        ok
    }

    /// The index of the live block containing `addr`.
    pub(crate) fn block_of(&self, addr: usize) -> Option<u32> {
        self.index.find(addr as u64)
    }

    /// Checks a reported block (rule 1), records the edge to it, and returns
    /// its index.
    fn enter(&mut self, block: &Heap) -> Option<u32> {
        if block.bytes == 0 || block.addr == 0 {
            return None;
        }
        let found = self.index.find(block.addr as u64);
        if found.is_none() && !block.exact {
            return None; // not heap memory (a `Bytes` over a static, say)
        }
        let found = found.filter(|&i| {
            let (start, end) = self.index.bounds(i);
            let fits =
                !block.exact || (start == block.addr as u64 && end - start >= block.bytes as u64);
            fits && is_readable(self.readable, start, end)
        });
        let Some(target) = found else {
            self.out.rejected += 1;
            self.incomplete = true;
            return None;
        };
        self.record(target, EdgeKind::Typed, block.type_name, block.shared);
        if let Some((len, cap)) = block.counts {
            self.out.containers.push((target, len, cap));
        }
        Some(target)
    }

    fn first_visit(&mut self, block: u32) -> bool {
        let (word, bit) = (block as usize / 64, 1u64 << (block % 64));
        if self.visited.len() <= word {
            self.visited.resize(word + 1, 0);
        }
        let first = self.visited[word] & bit == 0;
        self.visited[word] |= bit;
        first
    }

    fn record(&mut self, to: u32, kind: EdgeKind, type_name: &'static str, shared: bool) {
        let label = match self.path_id {
            Some(id) => id,
            None => {
                let id = self.out.labels.intern(&self.path);
                self.path_id = Some(id);
                id
            }
        };
        self.out.edges.push(walk::RawEdge {
            from: self.holder,
            to,
            kind,
            label,
            type_name,
            shared,
        });
    }
}

/// Whether all of `[start, end)` is readable: covered by one mapping, or by
/// adjacent ones (`readable` is sorted).
fn is_readable(readable: &[(u64, u64)], start: u64, end: u64) -> bool {
    let mut at = start;
    for &(s, e) in &readable[readable.partition_point(|&(_, e)| e <= start)..] {
        if s > at {
            return false;
        }
        at = at.max(e);
        if at >= end {
            return true;
        }
    }
    at >= end
}

#[cfg(test)]
mod tests {
    use super::is_readable;

    #[test]
    fn readable_means_covered_without_gaps() {
        let maps = [(0x1000, 0x2000), (0x2000, 0x3000), (0x5000, 0x6000)];
        assert!(is_readable(&maps, 0x1800, 0x2800)); // spans two adjacent mappings
        assert!(is_readable(&maps, 0x5000, 0x6000));
        assert!(!is_readable(&maps, 0x2800, 0x5800)); // a gap in between
        assert!(!is_readable(&maps, 0x5800, 0x6001)); // runs off the end
        assert!(!is_readable(&maps, 0x800, 0x1800)); // starts before
        assert!(!is_readable(&maps, 0x7000, 0x7008));
    }
}
