//! Which task owns the allocation being made right now.
//!
//! Two sources, in order:
//!
//! 1. An explicit task context on this thread, set while a TurboWish task
//!    wrapper polls its future. It works on any executor.
//! 2. With the `tokio` feature, `tokio::task::try_id()`: tokio sets it around
//!    every poll of a task, around dropping its future and its output, and
//!    inside `spawn_blocking` closures.
//!
//! Otherwise the tag is 0, "outside any task".
//!
//! # The worker trap
//!
//! A multi-thread tokio worker runs its whole scheduling loop inside a
//! `spawn_blocking` task, so *between* polls `try_id()` returns that blocking
//! task's id rather than `None`. The scheduler's own allocations on a worker
//! (run-queue growth, timer and I/O registrations made outside a poll) are
//! therefore tagged with the worker's id. Tokio offers no stable way to tell
//! that id from a user's blocking task (its runtime hooks need
//! `--cfg tokio_unstable`), and the obvious heuristic, "an id seen before and
//! after another id on the same thread is the worker", would misattribute real
//! tasks: on a current-thread runtime, task A polled, then B, then A again with
//! nothing allocating in between looks exactly like that. TurboWish does not guess: such allocations keep the
//! worker's id, which is a real tokio task id, and is never the id of a task
//! that user code spawned. Frees are unaffected (a free needs no tag). Tasks
//! wrapped by TurboWish's task wrapper always carry their own tag (source 1),
//! whatever tokio reports.

use core::cell::Cell;
use turbowish_format::rules::tags;

thread_local! {
    /// The explicit task context (source 1); 0 when none.
    static CONTEXT: Cell<u64> = const { Cell::new(0) };
}

/// The tag for an allocation made now on this thread.
#[inline(always)]
pub(crate) fn current() -> u64 {
    let explicit = CONTEXT.try_with(Cell::get).unwrap_or(0);
    if explicit != 0 {
        return explicit;
    }
    tokio_tag()
}

/// Sets this thread's explicit task context, returning the previous one.
#[allow(dead_code)] // set by the task wrapper
pub(crate) fn set_context(tag: u64) -> u64 {
    CONTEXT.try_with(|c| c.replace(tag)).unwrap_or(0)
}

#[cfg(feature = "tokio")]
#[inline(always)]
fn tokio_tag() -> u64 {
    tokio::task::try_id().map_or(0, id_number)
}

#[cfg(not(feature = "tokio"))]
#[inline(always)]
fn tokio_tag() -> u64 {
    0
}

/// The number inside a tokio task id.
///
/// `Id::as_u64` is crate-private, but `Id` derives `Hash` over a `NonZeroU64`,
/// which hashes as a single `write_u64`. A hasher that keeps that value reads
/// the number without allocating or formatting.
#[cfg(feature = "tokio")]
pub(crate) fn id_number(id: tokio::task::Id) -> u64 {
    use core::hash::{Hash, Hasher};

    struct Capture(u64);
    impl Hasher for Capture {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            // Not expected; fold bytes in so a layout change still yields a
            // stable, non-zero number rather than garbage.
            for &b in bytes {
                self.0 = self.0.rotate_left(8) ^ u64::from(b);
            }
        }
        fn write_u64(&mut self, n: u64) {
            self.0 = n;
        }
    }

    let mut h = Capture(0);
    id.hash(&mut h);
    h.finish()
}

/// The task tag an allocation made here and now would get: the task's id
/// cut to `turbowish_format::rules::tags::TAG_BITS` bits (tags rule 1).
pub fn current_task() -> u64 {
    tags::tag(current())
}

/// [`current_task`] as a block record keeps it.
#[inline(always)]
pub(crate) fn current_tag() -> u32 {
    // Lossless: a tag has `TAG_BITS` (= 32, `heap::record`) bits.
    tags::tag(current()) as u32
}

#[cfg(all(test, feature = "tokio"))]
mod tests {
    use super::*;

    #[test]
    fn id_number_matches_tokio_display() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (id, shown) = rt.block_on(async {
            tokio::spawn(async {
                let id = tokio::task::id();
                (id_number(id), id.to_string())
            })
            .await
            .unwrap()
        });
        assert_eq!(id.to_string(), shown);
        assert_ne!(id, 0);
    }

    /// Tag rule 1 of `turbowish_format::rules::tags`: what the runtime
    /// records for a block is what the reader computes from the task's id,
    /// above 2^32 too.
    #[test]
    fn ids_past_32_bits_tag_as_the_reader_computes() {
        use crate::heap::{header, track};
        // This unit-test binary's allocator is not TurboWish: the header
        // goes in a buffer of our own.
        #[repr(align(16))]
        struct Buf([u64; 4]);
        let mut buf = Buf([0; 4]);
        let base = buf.0.as_mut_ptr().cast::<u8>();
        for id in [(1u64 << 32) + 5, u64::MAX, 1 << 40, 7] {
            let prev = set_context(id);
            assert_eq!(current_task(), turbowish_format::rules::tag(id));
            // SAFETY: `buf` is 32 bytes, 16-aligned, and ours.
            let recorded = unsafe {
                track::header_allocated(base, 24, crate::heap::stack::walk::Origin::here());
                header::read(base).expect("valid").task
            };
            set_context(prev);
            assert_eq!(
                u64::from(recorded),
                turbowish_format::rules::tag(id),
                "{id:#x}"
            );
        }
    }

    #[test]
    fn explicit_context_wins_and_restores() {
        assert_eq!(current(), 0);
        let prev = set_context(77);
        assert_eq!(current(), 77);
        set_context(prev);
        assert_eq!(current(), 0);
    }
}
