//! Wake pointers, found in the capture child: the words the scan finds
//! pointing into a task's storage are classified as a stored `Waker`, a
//! `JoinHandle` or an intrusive waiter, so that edges and root targets
//! carry [`EdgeKind::Waker`], [`JoinHandle`](EdgeKind::JoinHandle) or
//! [`Waiter`](EdgeKind::Waiter) (format version 5).
//!
//! A `Waker` is a `RawWaker`: a data pointer (for tokio, the task cell's
//! first byte; for `futures`' `ArcWake`, the value inside an `Arc`) and a
//! `&'static RawWakerVTable`. `RawWaker` is not `#[repr(C)]`: the compiler
//! orders its two words (Rust 1.95 puts the vtable first), so where the
//! vtable sits beside the data is read from a real `Waker` of this build.
//!
//! # Rules
//!
//! The code cites these as "wakers rule N".
//!
//! 1. A word W1 is the address of a `RawWakerVTable` when it is 8-aligned,
//!    inside a loaded module's image, and the four words at W1 are mapped
//!    and each points into a module's executable range: tokio's waker,
//!    `futures`' `ArcWake` wakers, `async-task`'s, any executor's. A
//!    `dyn Trait` vtable fails it (its second and third words are a size
//!    and an alignment). The verdict is cached per address.
//! 2. A word at `at` is a `Waker`'s data when the word on the vtable's side
//!    of it (`at + 8` or `at - 8`, as this build lays `RawWaker` out) lies
//!    in the same scanned range and passes rule 1.
//! 3. Task storage, per block: a tokio cell (its first byte, and its stage
//!    `[start + stage, start + trailer)`: cell rule 3), a cell's boxed
//!    future (all of it future), or a traced task's storage block (all of
//!    it future). A block that is both a cell and a traced task's storage
//!    is a cell. Every other block is plain, and a word pointing into a
//!    plain block is conservative with no further read.
//! 4. A word pointing into task storage (holding `w`) is, in this order:
//!    a `Waker` (rule 2); else a `JoinHandle` when the target is a cell and
//!    `w` is its first byte; else a `Waiter` when `w` lies in the future
//!    (the stage, or anywhere in a future or traced storage block); else
//!    conservative (a cell's header or trailer).
//! 5. One kind per holder and target: the first of `Waker`, `Waiter`,
//!    `JoinHandle` that any of its words has, else conservative. A root's
//!    kinds stay empty when every target is conservative.
//! 6. Only the words the scan keeps are classified: cell rule 5's runtime
//!    bookkeeping is left out before, and its waker test (5b) is rule 2.
//!    Typed and shared edges keep their kinds (blocks a typed walk covered
//!    are not scanned). The words a walk read conservatively
//!    (`Tracer::scan`: a `Notify`'s or a channel handle's bytes, a held
//!    lock's) are classified too: each block holding such an edge into
//!    task storage is read again as the scan reads blocks, and the walked
//!    edge takes the kind found for its target.
//!
//! A limit: an executor that boxes each future apart from its own task
//! record (`futures`' `LocalPool` and `ThreadPool`: the `Arc` the wakers
//! point at holds a `Box` of the future) has a traced task's storage in the
//! box, so a waker pointing at the record is not a word into task storage
//! and stays conservative; the record's pointer to the box is a waiter.
//! Executors that keep the future in the block their wakers point at
//! (tokio, `async-task`, `FuturesUnordered` of a concrete future type) are
//! classified.

use crate::snapshot::cells::{Cells, in_ranges};
use crate::snapshot::modules::LoadedModule;
use crate::snapshot::scan::{AddressIndex, read_word};
use std::collections::HashMap;
use std::task::{RawWakerVTable, Waker};
use turbowish_format::EdgeKind;

/// Rule 1: which addresses are waker vtables, each read once.
#[derive(Debug)]
pub(crate) struct WakerVtables<'a> {
    /// Module images and executable ranges, sorted.
    images: Vec<(u64, u64)>,
    code: Vec<(u64, u64)>,
    readable: &'a [(u64, u64)],
    /// Where a waker's vtable word sits relative to its data word.
    vtable_side: i64,
    seen: HashMap<u64, bool>,
    /// The last verdict: most wakers of a process share a few vtables.
    last: (u64, bool),
}

impl<'a> WakerVtables<'a> {
    pub(crate) fn new(modules: &[LoadedModule], readable: &'a [(u64, u64)]) -> Self {
        let mut code: Vec<(u64, u64)> = modules.iter().flat_map(|m| m.code.clone()).collect();
        code.sort_unstable();
        WakerVtables {
            images: crate::snapshot::cells::images(modules),
            code,
            readable,
            vtable_side: vtable_side(),
            seen: HashMap::new(),
            last: (0, false),
        }
    }

    /// Rule 1.
    pub(crate) fn is_vtable(&mut self, w1: u64) -> bool {
        if self.last.0 == w1 {
            return self.last.1;
        }
        if !w1.is_multiple_of(8) || !in_ranges(&self.images, w1) {
            return false;
        }
        let (code, readable) = (&self.code, self.readable);
        let is = *self.seen.entry(w1).or_insert_with(|| {
            (0..4).all(|i| {
                let f = read_word(readable, w1 + 8 * i);
                f.is_some_and(|f| in_ranges(code, f))
            })
        });
        self.last = (w1, is);
        is
    }

    /// Rule 2: whether the word at `at`, in the scanned range `[start,
    /// end)`, is a waker's data pointer.
    pub(crate) fn is_waker_data(&mut self, at: u64, start: u64, end: u64) -> bool {
        let Some(vt) = at.checked_add_signed(self.vtable_side) else {
            return false;
        };
        if vt < start || vt.saturating_add(8) > end {
            return false;
        }
        read_word(self.readable, vt).is_some_and(|w| self.is_vtable(w))
    }
}

/// Rule 2: +8 when this build's `RawWaker` keeps its data first, -8 when
/// it keeps its vtable first (read from the no-op waker, whose data is
/// null and vtable is not).
fn vtable_side() -> i64 {
    const _: () = assert!(size_of::<Waker>() == 16);
    let w = Waker::noop();
    // SAFETY: a `Waker` is a `RawWaker`, two pointer-sized words (its size
    // is checked above) with no padding; they are copied out as integers.
    let words: [u64; 2] = unsafe { core::mem::transmute_copy(w) };
    if words[0] == w.vtable() as *const RawWakerVTable as u64 {
        -8
    } else {
        8
    }
}

/// What a block is to the wake classification (rule 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Storage {
    Plain,
    Cell,
    Future,
}

/// The classification of one capture: task storage per block, the vtable
/// cache.
#[derive(Debug)]
pub(crate) struct Wakers<'a> {
    pub(crate) vtables: WakerVtables<'a>,
    storage: Vec<Storage>,
    cells: &'a Cells,
}

impl<'a> Wakers<'a> {
    /// Task storage among `blocks` blocks (rule 3): `cells` and their
    /// boxed futures, and the traced tasks' `storage` blocks.
    pub(crate) fn new(
        blocks: usize,
        cells: &'a Cells,
        storage: impl Iterator<Item = u32>,
        modules: &[LoadedModule],
        readable: &'a [(u64, u64)],
    ) -> Self {
        let mut kinds = vec![Storage::Plain; blocks];
        let futures = (cells.cells.iter()).filter_map(|c| c.future_block.map(|b| b.get()));
        for b in storage.chain(futures) {
            kinds[b as usize] = Storage::Future;
        }
        for c in &cells.cells {
            kinds[c.block.index()] = Storage::Cell;
        }
        Wakers {
            vtables: WakerVtables::new(modules, readable),
            storage: kinds,
            cells,
        }
    }

    /// Whether block `to` is task storage (rule 3): only words pointing
    /// into it are classified.
    #[inline]
    pub(crate) fn is_storage(&self, to: u32) -> bool {
        self.storage[to as usize] != Storage::Plain
    }

    /// Rule 4: the kind of the word at `at`, holding `word`, which points
    /// into block `to`; `[start, end)` is the range being scanned.
    pub(crate) fn classify(
        &mut self,
        index: &AddressIndex,
        at: u64,
        word: u64,
        to: u32,
        (start, end): (u64, u64),
    ) -> EdgeKind {
        let storage = self.storage[to as usize];
        if storage == Storage::Plain {
            return EdgeKind::Conservative;
        }
        if self.vtables.is_waker_data(at, start, end) {
            return EdgeKind::Waker;
        }
        if storage == Storage::Future {
            return EdgeKind::Waiter;
        }
        let first = index.bounds(to).0;
        let stage = self.cells.stage_of(to).map(|(s, e)| first + s..first + e);
        match stage {
            _ if word == first => EdgeKind::JoinHandle,
            Some(stage) if stage.contains(&word) => EdgeKind::Waiter,
            _ => EdgeKind::Conservative,
        }
    }
}

/// Rule 5: the wake words one holder has, by target.
#[derive(Debug, Default)]
pub(crate) struct Wakes(Vec<(u32, EdgeKind)>);

impl Wakes {
    #[inline]
    pub(crate) fn push(&mut self, to: u32, kind: EdgeKind) {
        if kind.is_wake() {
            self.0.push((to, kind));
        }
    }

    /// One kind per target of `targets` (sorted, each once); empty when all
    /// are conservative.
    #[inline]
    pub(crate) fn kinds(self, targets: impl Iterator<Item = u32>) -> Vec<EdgeKind> {
        // Most holders have none: keep their path short.
        if self.0.is_empty() {
            return Vec::new();
        }
        self.ranked(targets)
    }

    fn ranked(mut self, targets: impl Iterator<Item = u32>) -> Vec<EdgeKind> {
        self.0.sort_unstable_by_key(|&(to, kind)| (to, rank(kind)));
        self.0.dedup_by_key(|w| w.0);
        let mut wakes = self.0.into_iter().peekable();
        targets
            .map(|t| {
                while wakes.next_if(|w| w.0 < t).is_some() {}
                wakes
                    .next_if(|w| w.0 == t)
                    .map_or(EdgeKind::Conservative, |w| w.1)
            })
            .collect()
    }
}

/// Rule 5's order.
fn rank(kind: EdgeKind) -> u8 {
    match kind {
        EdgeKind::Waker => 0,
        EdgeKind::Waiter => 1,
        EdgeKind::JoinHandle => 2,
        _ => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vtable_side_is_where_a_waker_keeps_its_vtable() {
        static VTABLE: RawWakerVTable = RawWakerVTable::new(
            |p| std::task::RawWaker::new(p, &VTABLE),
            |_| {},
            |_| {},
            |_| {},
        );
        let data = 0x1234_5678u64;
        // SAFETY: the vtable's functions do nothing with the data.
        let w = unsafe { Waker::new(data as *const (), &VTABLE) };
        // SAFETY: a `Waker` is two words, copied out as integers.
        let words: [u64; 2] = unsafe { core::mem::transmute_copy(&w) };
        let i = words
            .iter()
            .position(|&x| x == data)
            .expect("the data word");
        let vt = (8 * i as i64 + vtable_side()) / 8;
        assert_eq!(words[vt as usize], &VTABLE as *const RawWakerVTable as u64);
    }

    #[test]
    fn kinds_rank_waker_then_waiter_then_join_handle() {
        let mut w = Wakes::default();
        for (to, kind) in [
            (1, EdgeKind::JoinHandle),
            (1, EdgeKind::Waiter),
            (3, EdgeKind::JoinHandle),
            (3, EdgeKind::Waker),
            (3, EdgeKind::Conservative),
            (4, EdgeKind::JoinHandle),
        ] {
            w.push(to, kind);
        }
        use EdgeKind::*;
        let kinds = w.kinds([0, 1, 2, 3, 4].into_iter());
        assert_eq!(
            kinds,
            [Conservative, Waiter, Conservative, Waker, JoinHandle]
        );
        assert!(Wakes::default().kinds([5].into_iter()).is_empty());
    }
}
