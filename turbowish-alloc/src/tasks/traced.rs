//! The task wrapper: makes a future a task the snapshot knows by name, spawn
//! location, type and size, on any executor.
//!
//! [`Traced`] registers a row in the task registry when it is made (so a task
//! spawned but never polled is visible), and on every poll sets this thread's
//! task context (see `task.rs`), so allocations made inside the poll are
//! tagged with the task whatever the executor. On its first poll, when it can
//! no longer move, it records where it lives: the live block that holds it
//! (tokio's task cell, the separate box tokio uses for large futures, an
//! `async-task` or `futures` task allocation) is the task's storage. When it
//! is dropped the row is marked completed or cancelled, and stays in the
//! registry for as long as that storage block is alive (registry rule 4):
//! a finished task whose storage a `JoinHandle` or stored `Waker` keeps alive
//! is a zombie future.

use crate::tasks::registry::{self, KIND_TASK, NewRow};
use crate::trace::Trace;
use core::cell::Cell;
use core::future::Future;
use core::marker::PhantomPinned;
use core::panic::Location;
use core::pin::Pin;
use core::sync::atomic::{AtomicU64, Ordering};
use core::task::{Context, Poll};
use turbowish_format::rules::tasks::Phase;

/// A future made into a traced task. Made by [`traced`], [`TracedExt`] or
/// [`spawn`](crate::spawn); see the [module docs](self).
///
/// `R` is a typed value the task shares (see [`Traced::root`]); `()` when
/// there is none.
#[must_use = "a future does nothing unless polled or spawned"]
#[derive(Debug)]
pub struct Traced<F, R = ()> {
    future: F,
    root: R,
    /// Registry row, or `u32::MAX` when the registry was full.
    slot: u32,
    /// The allocation tag, fixed at the first poll (0 before).
    tag: u64,
    completed: bool,
    /// Takes a tag of its own even inside a tokio task (see
    /// [`Traced::with_own_tag`]).
    own_tag: bool,
    /// The row records addresses inside this value from the first poll on.
    _pinned: PhantomPinned,
}

/// Ids for tasks not run by tokio: above any tokio id a process is likely
/// to reach, and for the first 2^31 of them below 2^`TAG_BITS`, so their
/// blocks' tags are the ids themselves (tags rule 1).
static NEXT_OWN_TAG: AtomicU64 = AtomicU64::new(1 << 31);

/// Makes `future` a traced task, recording the caller as its spawn location.
#[track_caller]
pub fn traced<F: Future>(future: F) -> Traced<F> {
    Traced::new(future, Location::caller())
}

/// Traced versions of a future, as methods.
pub trait TracedExt: Future + Sized {
    /// The future as a traced task (see [`traced`]).
    #[track_caller]
    fn traced(self) -> Traced<Self> {
        Traced::new(self, Location::caller())
    }

    /// The future as a traced task with a name (cut to 40 bytes).
    #[track_caller]
    fn named(self, name: &str) -> Traced<Self> {
        Traced::new(self, Location::caller()).named(name)
    }
}

impl<F: Future> TracedExt for F {}

/// Spawns `future` on the current tokio runtime as a traced task: a drop-in
/// for `tokio::spawn`.
///
/// # Panics
///
/// As `tokio::spawn`, when called outside a tokio runtime.
#[cfg(feature = "tokio")]
#[track_caller]
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(traced(future))
}

impl<F: Future> Traced<F> {
    fn new(future: F, location: &'static Location<'static>) -> Self {
        let slot = registry::claim(NewRow {
            kind: KIND_TASK,
            name: "",
            location,
            type_name: core::any::type_name::<F>,
            size: size_of::<F>(),
        });
        Traced {
            future,
            root: (),
            slot: slot.unwrap_or(u32::MAX),
            tag: 0,
            completed: false,
            own_tag: false,
            _pinned: PhantomPinned,
        }
    }

    /// A traced task whose allocations carry a tag no other task has, even
    /// when it is awaited inside a tokio task (whose id it would otherwise
    /// share): what a leak check counts is then this future's alone.
    #[cfg(feature = "testing")]
    pub(crate) fn with_own_tag(future: F, location: &'static Location<'static>) -> Self {
        let mut traced = Traced::new(future, location);
        traced.own_tag = true;
        traced
    }
}

impl<F: Future, R: Trace> Traced<F, R> {
    /// Names the task (cut to 40 bytes at a character boundary).
    pub fn named(self, name: &str) -> Self {
        if let Some(s) = registry::slot(self.slot) {
            s.set_name(name);
        }
        self
    }

    /// Gives the task a typed value it shares, such as the `Arc` of a
    /// connection's state: snapshots walk it with its [`Trace`] impl, so they
    /// know what this task holds by type and field.
    pub fn root<R2: Trace>(self, value: R2) -> Traced<F, R2> {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again, so each field is
        // moved out exactly once; the old root is dropped here. The future has
        // not been polled (it is taken by value, so it is not pinned).
        let (future, old_root) =
            unsafe { (core::ptr::read(&this.future), core::ptr::read(&this.root)) };
        let traced = Traced {
            future,
            root: value,
            slot: this.slot,
            tag: this.tag,
            completed: this.completed,
            own_tag: this.own_tag,
            _pinned: PhantomPinned,
        };
        // Last: if the old root's drop panics, `traced` is dropped while
        // unwinding and its row is finished, not left behind.
        drop(old_root);
        traced
    }

    /// Spawns the task on the current tokio runtime.
    ///
    /// # Panics
    ///
    /// As `tokio::spawn`, when called outside a tokio runtime.
    #[cfg(feature = "tokio")]
    pub fn spawn(self) -> tokio::task::JoinHandle<F::Output>
    where
        Self: Send + 'static,
        F::Output: Send + 'static,
    {
        tokio::spawn(self)
    }

    /// The tag its allocations carry: 0 before the first poll.
    #[cfg(feature = "testing")]
    pub(crate) fn tag(&self) -> u64 {
        self.tag
    }

    /// Records the tag, where the wrapper lives, and the typed value.
    #[cold]
    fn first_poll(&mut self, cx: &Context<'_>) {
        let own = || NEXT_OWN_TAG.fetch_add(1, Ordering::Relaxed);
        self.tag = match self.own_tag {
            true => own(),
            false => tokio_tag().unwrap_or_else(own),
        };
        let Some(s) = registry::slot(self.slot) else {
            return;
        };
        s.tag.store(self.tag, Ordering::Relaxed);
        let here = self as *const Self as usize;
        s.wrapper
            .store(&self.future as *const F as usize, Ordering::Relaxed);
        // A traced future awaited inside another traced task's poll lives in
        // that task's storage, which is not its own: it gets none, so it is
        // never taken for a zombie of its parent's cell.
        let nested = POLLING.try_with(Cell::get).unwrap_or(0) > 0;
        if !nested && let Some(addr) = watch_storage(here, cx, self.slot) {
            s.set_storage(addr);
        }
        if size_of::<R>() > 0 {
            let value = &self.root as *const R as usize;
            s.set_value(value, trace_value::<R>, core::any::type_name::<R>);
        }
    }
}

/// Finds the live block that holds the wrapper at `here` and has the table
/// watch it for registry row `slot` (table rule 8). Candidates: the
/// wrapper's own address (a boxed future), and the waker's data pointer
/// (tokio and `async-task` point it at the task allocation; `futures` at the
/// value inside an `Arc`, two words in).
fn watch_storage(here: usize, cx: &Context<'_>, slot: u32) -> Option<usize> {
    let data = cx.waker().data() as usize;
    let found = [here, data, data.wrapping_sub(2 * size_of::<usize>())]
        .into_iter()
        .filter_map(|c| crate::heap::table::block(c as *const u8))
        .find(|b| b.addr <= here && here < b.addr + b.size)?;
    let _busy = crate::heap::guard::enter()?;
    crate::heap::table::watch(found.addr, slot + 1).map(|r| r.addr)
}

#[cfg(feature = "tokio")]
fn tokio_tag() -> Option<u64> {
    tokio::task::try_id().map(crate::tasks::tag::id_number)
}

#[cfg(not(feature = "tokio"))]
fn tokio_tag() -> Option<u64> {
    None
}

/// Walks the typed value of a task.
///
/// # Safety
///
/// `addr` must be where a `R` was published by `first_poll` (registry rule
/// 2); it is only read after the tracer has found its bytes readable.
unsafe fn trace_value<R: Trace>(addr: usize, tracer: &mut crate::trace::Tracer<'_>) {
    if !tracer.is_readable(addr, size_of::<R>()) {
        return;
    }
    // SAFETY: the caller guarantees a `R` was published at `addr`, and its
    // bytes are mapped; the wrapper withdraws it before dropping it.
    let value = unsafe { &*(addr as *const R) };
    value.trace(tracer);
}

thread_local! {
    /// How many `Traced` polls are running on this thread (nesting).
    static POLLING: Cell<u32> = const { Cell::new(0) };
}

/// Restores the previous task context and nesting depth, also when the poll
/// panics.
struct RestoreContext(u64);

impl RestoreContext {
    fn enter(tag: u64) -> RestoreContext {
        let _ = POLLING.try_with(|p| p.set(p.get() + 1));
        RestoreContext(crate::tasks::tag::set_context(tag))
    }
}

impl Drop for RestoreContext {
    fn drop(&mut self) {
        let _ = POLLING.try_with(|p| p.set(p.get().saturating_sub(1)));
        crate::tasks::tag::set_context(self.0);
    }
}

impl<F: Future, R: Trace> Future for Traced<F, R> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is pinned structurally: it is never moved out of a
        // pinned `Traced` (`root` consumes an unpinned one) and is dropped in
        // place. The other fields are not pinned and are only read or set.
        let this = unsafe { self.get_unchecked_mut() };
        if this.tag == 0 {
            this.first_poll(cx);
        }
        let slot = registry::slot(this.slot);
        if let Some(s) = slot {
            // Registry rule 3: only this poll writes these.
            s.last_poll_ns
                .store(crate::clock::now_ns(), Ordering::Relaxed);
            s.set_phase(Phase::Running, true);
        }
        let _restore = RestoreContext::enter(this.tag);
        // SAFETY: see above: `future` is pinned because `self` is.
        let result = unsafe { Pin::new_unchecked(&mut this.future) }.poll(cx);
        this.completed = result.is_ready();
        if let Some(s) = slot {
            let phase = if this.completed {
                Phase::Completed
            } else {
                Phase::Idle
            };
            s.set_phase(phase, false);
        }
        result
    }
}

impl<F, R> Drop for Traced<F, R> {
    fn drop(&mut self) {
        if let Some(s) = registry::slot(self.slot) {
            if !self.completed {
                s.set_phase(Phase::Cancelled, false);
            }
            // Withdraws the typed value before the fields drop.
            registry::finish(self.slot);
        }
    }
}
