//! The task registry: every traced task and typed root, readable by the
//! snapshot's fork child without taking a lock.
//!
//! A row ([`Slot`]) describes either a task made by the task wrapper (its
//! spawn location, future type and size, state, polls, times, where it
//! lives, and the typed value it shares) or a named typed root made by
//! [`root`](crate::root).
//!
//! # Rules
//!
//! 1. Slots live in chunks mapped straight from the kernel (never the global
//!    allocator, whose locks a reader may not take, and never static memory,
//!    which a snapshot scans as a root: a slot's pointer to a task's storage
//!    must not look like a reference that keeps it alive). A chunk, once
//!    published in [`CHUNKS`] with `Release`, is never unmapped or moved.
//! 2. A slot's `state` is its publication point. A claimer owns a slot in
//!    state `CLAIMED`, writes every descriptive field, then publishes it with
//!    a `Release` store of `LIVE`. Readers load `state` with `Acquire` and
//!    skip `FREE` and `CLAIMED` slots. A slot is never freed while its owner
//!    may still write it.
//! 3. Only the slot's owner writes its per-poll fields (progress, last poll
//!    time). Polls of one future never overlap, so these are plain stores,
//!    not read-modify-writes. A task's phase and poll count are one word,
//!    `progress` (the count above the phase's code, tasks rule 1 of
//!    `turbowish_format::rules::tasks`), stored with `Release` and loaded
//!    with `Acquire`: every reading of the two is of one instant. A reading
//!    that counts a poll shows that poll's phase (running, or what it
//!    returned), never the idle phase from before it; pending after N polls
//!    means the Nth poll returned. Readers map the phase to a state with
//!    `turbowish_format::rules::tasks::state`, a row in `FINISHED` as
//!    dropped.
//! 4. A task that finishes (completes or is dropped) while its storage block
//!    is known stays `FINISHED` until that block is freed: that is how a
//!    zombie future (storage held by a `JoinHandle` or a stored `Waker`)
//!    stays visible. The storage block's record is *watched* (table rule 8):
//!    its free sets the row's `storage_freed` flag at once, from the
//!    allocator, without a lock. Sweeps, run when claiming, reclaim finished
//!    rows whose flag is set. Finished rows with no known storage are freed
//!    at once. A row is never reused while its watched block lives, so a
//!    flag always reaches the row that watched the block.
//! 5. The free and finished lists are behind one [`SpinLock`] that never
//!    allocates and is held only to link or unlink slots (never across a table
//!    lookup), always with the reentrancy guard held, as every TurboWish lock
//!    is: a signal handler that interrupts the holder and forks then finds the
//!    thread busy and takes no lock (fork rule 5), instead of spinning on its
//!    own lock. When the guard is already held, claiming gives no row and
//!    finishing loses the row (both counted in [`DROPPED`]). The fork child
//!    never takes the lock: it reads slots directly (rule 2). The fork
//!    protocol takes it before `fork()` so that a user's fork child finds it
//!    free (fork rule 2).
//! 6. In-process readers ([`tasks`](fn@crate::tasks)) check a slot's
//!    `generation` before and after reading it and retry when it changed (the
//!    slot was reused mid-read). The fork child reads a frozen image and needs no
//!    retry; a row written mid-claim is skipped by rule 2.

use crate::heap::region::Region;
use crate::heap::spin::SpinLock;
use core::panic::Location;
use core::sync::atomic::{
    AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
use turbowish_format::TaskState;
use turbowish_format::rules::tasks::{self, Phase};

/// Slots per chunk.
const CHUNK: usize = 4096;
/// Chunks at most: about a million rows.
const MAX_CHUNKS: usize = 256;
/// Bytes of a name kept (longer names are cut at a character boundary).
pub(crate) const NAME_LEN: usize = 40;
const END: u32 = u32::MAX;

/// `Slot::state` values.
pub(crate) const FREE: u8 = 0;
const CLAIMED: u8 = 1;
pub(crate) const LIVE: u8 = 2;
pub(crate) const FINISHED: u8 = 3;

/// `Slot::kind` values.
pub(crate) const KIND_TASK: u8 = 0;
pub(crate) const KIND_ROOT: u8 = 1;

/// Walks a typed value at an address (see [`Slot::value`]).
///
/// # Safety
///
/// The address must be that of a live value of the type the function was
/// made for, or the function must check it first (the fork child's
/// [`Tracer`](crate::Tracer) checks every block before reading it).
pub(crate) type TraceFn = unsafe fn(usize, &mut crate::trace::Tracer<'_>);

/// One row of the registry. Every field is atomic: the row is shared with
/// readers on other threads and with the fork child (rules 2, 3).
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) state: AtomicU8,
    pub(crate) kind: AtomicU8,
    name_len: AtomicU8,
    pub(crate) generation: AtomicU32,
    /// Next slot in the free or finished list.
    next: AtomicU32,
    /// A number unique among all rows ever made, from 1.
    pub(crate) serial: AtomicU64,
    /// The task's id (0 until its first poll); its blocks' tags are this
    /// cut to `TAG_BITS` bits (tags rule 1).
    pub(crate) tag: AtomicU64,
    name: [AtomicU64; NAME_LEN / 8],
    location: AtomicPtr<Location<'static>>,
    /// `core::any::type_name::<F>` as a [`NameFn`]: one word, so a reader
    /// can never pair one row's pointer with another's length.
    type_name: AtomicUsize,
    pub(crate) future_size: AtomicU64,
    pub(crate) spawned_ns: AtomicU64,
    pub(crate) last_poll_ns: AtomicU64,
    pub(crate) finished_ns: AtomicU64,
    /// Polls so far, above the phase's code (rule 3).
    progress: AtomicU64,
    /// Where the wrapper lives once pinned (its first poll); 0 before.
    pub(crate) wrapper: AtomicUsize,
    /// The live block holding the wrapper, if found in-process, and its
    /// birth epoch (rule 4).
    storage: AtomicUsize,
    /// Set when the watched storage block is freed (rule 4).
    storage_freed: AtomicBool,
    /// The typed value: its address and the function that walks it; both 0
    /// when there is none (or no longer).
    pub(crate) value: AtomicUsize,
    value_trace: AtomicUsize,
    value_type: AtomicUsize,
}

impl Slot {
    fn empty() -> Slot {
        Slot {
            state: AtomicU8::new(FREE),
            kind: AtomicU8::new(KIND_TASK),
            name_len: AtomicU8::new(0),
            generation: AtomicU32::new(0),
            next: AtomicU32::new(END),
            serial: AtomicU64::new(0),
            tag: AtomicU64::new(0),
            name: [const { AtomicU64::new(0) }; NAME_LEN / 8],
            location: AtomicPtr::new(core::ptr::null_mut()),
            type_name: AtomicUsize::new(0),
            future_size: AtomicU64::new(0),
            spawned_ns: AtomicU64::new(0),
            last_poll_ns: AtomicU64::new(0),
            finished_ns: AtomicU64::new(0),
            progress: AtomicU64::new(0),
            wrapper: AtomicUsize::new(0),
            storage: AtomicUsize::new(0),
            storage_freed: AtomicBool::new(false),
            value: AtomicUsize::new(0),
            value_trace: AtomicUsize::new(0),
            value_type: AtomicUsize::new(0),
        }
    }

    /// The task's state and polls, read together (rule 3), for a row in
    /// `state`.
    pub(crate) fn task_progress(&self, state: u8) -> (TaskState, u64) {
        let word = self.progress.load(Ordering::Acquire);
        let phase = Phase::from_code(word);
        (tasks::state(phase, state == FINISHED), word >> Phase::BITS)
    }

    /// Enters `phase`, counting a poll if `polled` (its owner only, rule 3).
    pub(crate) fn set_phase(&self, phase: Phase, polled: bool) {
        let polls = (self.progress.load(Ordering::Relaxed) >> Phase::BITS) + u64::from(polled);
        let word = polls << Phase::BITS | u64::from(phase.code());
        self.progress.store(word, Ordering::Release);
    }

    /// Records the block that holds the task, already watched (its owner
    /// only, rule 3).
    pub(crate) fn set_storage(&self, addr: usize) {
        self.storage.store(addr, Ordering::Release);
    }

    /// The block that holds the task, if it was found and is not freed.
    pub(crate) fn storage(&self) -> Option<usize> {
        let addr = self.storage.load(Ordering::Acquire);
        (addr != 0 && !self.storage_freed.load(Ordering::Acquire)).then_some(addr)
    }

    /// Writes the name, cut to [`NAME_LEN`] bytes at a character boundary.
    pub(crate) fn set_name(&self, name: &str) {
        let mut end = name.len().min(NAME_LEN);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        let mut bytes = [0u8; NAME_LEN];
        bytes[..end].copy_from_slice(&name.as_bytes()[..end]);
        for (word, chunk) in self.name.iter().zip(bytes.chunks_exact(8)) {
            word.store(
                u64::from_le_bytes(chunk.try_into().unwrap_or_default()),
                Ordering::Relaxed,
            );
        }
        self.name_len.store(end as u8, Ordering::Release);
    }

    pub(crate) fn name(&self) -> String {
        let len = usize::from(self.name_len.load(Ordering::Acquire)).min(NAME_LEN);
        let bytes: Vec<u8> = self
            .name
            .iter()
            .flat_map(|w| w.load(Ordering::Relaxed).to_le_bytes())
            .take(len)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    pub(crate) fn location(&self) -> Option<&'static Location<'static>> {
        let p = self.location.load(Ordering::Relaxed);
        // SAFETY: only ever set from a `&'static Location` (`claim`).
        unsafe { p.as_ref() }
    }

    pub(crate) fn type_name(&self) -> &'static str {
        call_name(&self.type_name)
    }

    pub(crate) fn value_type(&self) -> &'static str {
        call_name(&self.value_type)
    }

    /// Publishes the typed value (its address and walker).
    pub(crate) fn set_value(&self, addr: usize, trace: TraceFn, type_name: NameFn) {
        self.value_type.store(type_name as usize, Ordering::Relaxed);
        self.value_trace.store(trace as usize, Ordering::Relaxed);
        self.value.store(addr, Ordering::Release);
    }

    /// Withdraws the typed value: called before it is dropped.
    pub(crate) fn clear_value(&self) {
        self.value.store(0, Ordering::Release);
    }

    /// The typed value and its walker, if published.
    pub(crate) fn value(&self) -> Option<(usize, TraceFn)> {
        let addr = self.value.load(Ordering::Acquire);
        let f = self.value_trace.load(Ordering::Relaxed);
        if addr == 0 || f == 0 {
            return None;
        }
        // SAFETY: `value_trace` only ever holds a `TraceFn` cast to `usize`
        // (`set_value`), and function pointers round-trip through `usize`.
        let f = unsafe { core::mem::transmute::<usize, TraceFn>(f) };
        Some((addr, f))
    }
}

/// Names a type: `core::any::type_name::<T>`, stored as one word.
pub(crate) type NameFn = fn() -> &'static str;

fn call_name(word: &AtomicUsize) -> &'static str {
    match word.load(Ordering::Relaxed) {
        0 => "",
        f => {
            // SAFETY: the word only ever holds 0 or a `NameFn` cast to
            // `usize` (`claim`, `set_value`), and function pointers
            // round-trip through `usize`.
            let f = unsafe { core::mem::transmute::<usize, NameFn>(f) };
            f()
        }
    }
}

/// Rule 1: chunk pointers, published with `Release`.
static CHUNKS: [AtomicPtr<Slot>; MAX_CHUNKS] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; MAX_CHUNKS];
/// Slots made available so far (a multiple of [`CHUNK`]).
static MADE: AtomicU32 = AtomicU32::new(0);
static SERIAL: AtomicU64 = AtomicU64::new(0);
/// Rows that could not be made because the registry is full.
pub(crate) static DROPPED: AtomicU64 = AtomicU64::new(0);

/// The lists of rule 5.
struct Lists {
    free: u32,
    finished: u32,
    finished_count: u32,
    /// `finished_count` after the last sweep: the next sweep waits until it
    /// has doubled, so sweeping costs O(1) per claim.
    swept_at: u32,
}

// WARNING: this lock must never allocate (see `spin`): it is taken by the
// fork protocol's prepare handler, after which allocation must not block.
static LISTS: SpinLock<Lists> = SpinLock::new(Lists {
    free: END,
    finished: END,
    finished_count: 0,
    swept_at: 0,
});

/// The lists, locked, with the reentrancy guard held (rule 5); `None` when
/// this thread is already inside TurboWish.
struct Locked {
    lists: crate::heap::spin::SpinGuard<'static, Lists>,
    _busy: crate::heap::guard::Reentry,
}

fn lock_lists() -> Option<Locked> {
    let busy = crate::heap::guard::enter()?;
    Some(Locked {
        lists: LISTS.lock(),
        _busy: busy,
    })
}

/// The slot with index `i`, if its chunk is mapped.
pub(crate) fn slot(i: u32) -> Option<&'static Slot> {
    let chunk = CHUNKS.get(i as usize / CHUNK)?.load(Ordering::Acquire);
    if chunk.is_null() {
        return None;
    }
    // SAFETY: a published chunk holds `CHUNK` initialised slots and is never
    // unmapped (rule 1).
    Some(unsafe { &*chunk.add(i as usize % CHUNK) })
}

/// Every slot made so far, with its index.
pub(crate) fn all() -> impl Iterator<Item = (u32, &'static Slot)> {
    (0..MADE.load(Ordering::Acquire)).filter_map(|i| Some((i, slot(i)?)))
}

/// What a new row describes.
pub(crate) struct NewRow<'a> {
    pub(crate) kind: u8,
    pub(crate) name: &'a str,
    pub(crate) location: &'static Location<'static>,
    pub(crate) type_name: NameFn,
    pub(crate) size: usize,
}

/// Claims and publishes a row (rule 2), or `None` when the registry is full.
pub(crate) fn claim(row: NewRow<'_>) -> Option<u32> {
    let i = take_free()?;
    let s = slot(i)?;
    s.generation.fetch_add(1, Ordering::Relaxed);
    // Rule 6: a reader that sees any field written below sees the new
    // generation too.
    core::sync::atomic::fence(Ordering::Release);
    s.kind.store(row.kind, Ordering::Relaxed);
    s.serial.store(
        SERIAL.fetch_add(1, Ordering::Relaxed) + 1,
        Ordering::Relaxed,
    );
    s.tag.store(0, Ordering::Relaxed);
    s.set_name(row.name);
    s.location.store(
        (row.location as *const Location<'static>).cast_mut(),
        Ordering::Relaxed,
    );
    s.type_name.store(row.type_name as usize, Ordering::Relaxed);
    s.future_size.store(row.size as u64, Ordering::Relaxed);
    let now = crate::clock::now_ns();
    s.spawned_ns.store(now, Ordering::Relaxed);
    s.last_poll_ns.store(0, Ordering::Relaxed);
    s.finished_ns.store(0, Ordering::Relaxed);
    s.progress.store(0, Ordering::Relaxed);
    s.wrapper.store(0, Ordering::Relaxed);
    s.storage.store(0, Ordering::Relaxed);
    s.storage_freed.store(false, Ordering::Relaxed);
    s.value.store(0, Ordering::Relaxed);
    s.value_trace.store(0, Ordering::Relaxed);
    s.state.store(LIVE, Ordering::Release);
    Some(i)
}

/// Rule 4: the watched storage of row `i` was freed. Called from the
/// allocator's free path: no lock, no allocation.
pub(crate) fn storage_freed(i: u32) {
    if let Some(s) = slot(i) {
        s.storage_freed.store(true, Ordering::Release);
    }
}

/// Ends a row: a task whose storage is known stays as finished (rule 4),
/// anything else is freed.
pub(crate) fn finish(i: u32) {
    let Some(s) = slot(i) else { return };
    s.clear_value();
    s.finished_ns
        .store(crate::clock::now_ns(), Ordering::Relaxed);
    let keep = s.kind.load(Ordering::Relaxed) == KIND_TASK && s.storage().is_some();
    let Some(mut locked) = lock_lists() else {
        // Rule 5: the row is lost, but no reader will see it again.
        s.generation.fetch_add(1, Ordering::Relaxed);
        s.state.store(FREE, Ordering::Release);
        DROPPED.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let lists = &mut *locked.lists;
    if keep {
        s.state.store(FINISHED, Ordering::Release);
        s.next.store(lists.finished, Ordering::Relaxed);
        lists.finished = i;
        lists.finished_count += 1;
    } else {
        free(lists, i, s);
    }
}

fn free(lists: &mut Lists, i: u32, s: &Slot) {
    s.generation.fetch_add(1, Ordering::Relaxed);
    core::sync::atomic::fence(Ordering::Release);
    s.state.store(FREE, Ordering::Release);
    s.next.store(lists.free, Ordering::Relaxed);
    lists.free = i;
}

/// Pops a free slot (marking it claimed), sweeping or mapping a new chunk
/// when there is none.
fn take_free() -> Option<u32> {
    let mut locked = lock_lists().or_else(|| {
        DROPPED.fetch_add(1, Ordering::Relaxed);
        None
    })?;
    if locked.lists.free == END && locked.lists.finished_count > 2 * locked.lists.swept_at.max(32) {
        drop(locked);
        sweep();
        locked = lock_lists()?;
    }
    let lists = &mut *locked.lists;
    if lists.free == END {
        add_chunk(lists)?;
    }
    let i = lists.free;
    let s = slot(i)?;
    lists.free = s.next.load(Ordering::Relaxed);
    s.state.store(CLAIMED, Ordering::Relaxed);
    Some(i)
}

/// Maps a new chunk and links its slots into the free list.
fn add_chunk(lists: &mut Lists) -> Option<()> {
    let made = MADE.load(Ordering::Relaxed) as usize;
    let c = made / CHUNK;
    if c >= MAX_CHUNKS {
        DROPPED.fetch_add(1, Ordering::Relaxed);
        return None;
    }
    let region = Region::map(CHUNK * size_of::<Slot>(), false)?;
    let base = region.as_ptr().cast::<Slot>();
    for k in 0..CHUNK {
        // SAFETY: `base` is a fresh, page-aligned mapping of room for `CHUNK`
        // slots, which nothing else can see yet.
        unsafe { base.add(k).write(Slot::empty()) };
    }
    core::mem::forget(region); // rule 1: never unmapped
    CHUNKS[c].store(base, Ordering::Release);
    for k in (0..CHUNK).rev() {
        let i = (made + k) as u32;
        // SAFETY: initialised just above.
        let s = unsafe { &*base.add(k) };
        s.next.store(lists.free, Ordering::Relaxed);
        lists.free = i;
    }
    MADE.store((made + CHUNK) as u32, Ordering::Release);
    Some(())
}

/// Reclaims finished slots whose storage was freed (rule 4). The finished
/// list is detached, sorted unlocked, and what survives is linked back.
fn sweep() {
    let Some(mut locked) = lock_lists() else {
        return;
    };
    locked.lists.finished_count = 0;
    let mut at = core::mem::replace(&mut locked.lists.finished, END);
    drop(locked);
    let (mut keep, mut keep_tail, mut kept, mut gone) = (END, END, 0u32, END);
    while let Some(s) = slot(at) {
        let next = s.next.load(Ordering::Relaxed);
        let alive = s.storage().is_some();
        if alive {
            s.next.store(keep, Ordering::Relaxed);
            if keep == END {
                keep_tail = at;
            }
            keep = at;
            kept += 1;
        } else {
            s.next.store(gone, Ordering::Relaxed);
            gone = at;
        }
        at = next;
    }
    let Some(mut locked) = lock_lists() else {
        return; // cannot happen: the guard was free above, on this thread
    };
    let lists = &mut *locked.lists;
    while let Some(s) = slot(gone) {
        let next = s.next.load(Ordering::Relaxed);
        free(lists, gone, s);
        gone = next;
    }
    // Put the survivors in front of whatever finished meanwhile.
    if let Some(tail) = slot(keep_tail) {
        tail.next.store(lists.finished, Ordering::Relaxed);
        lists.finished = keep;
    }
    lists.finished_count += kept;
    lists.swept_at = kept;
}

/// Fork rule 2: held across `fork()`.
pub(crate) fn lock_forever() {
    LISTS.lock_forever();
}

/// Releases the lock taken by [`lock_forever`].
///
/// # Safety
///
/// The caller must have called [`lock_forever`] and not released since.
pub(crate) unsafe fn unlock_forever() {
    // SAFETY: as the caller guarantees.
    unsafe { LISTS.force_unlock() };
}
