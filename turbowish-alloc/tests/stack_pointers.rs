//! Another thread's stack is scanned from its stack pointer at the fork when
//! it stayed blocked in the kernel across it (capture rule 14): what its
//! returned frames left below that point is no root. A thread that was
//! running keeps the scan of its whole stack.
//!
//! Each worker leaves the only unmasked copy of a box's address in a deep
//! frame that has returned (far below anything it calls afterwards), or
//! holds a box in a live local, then blocks in `read` or spins. The test thread only
//! ever holds masked addresses, so it adds no root of its own.

mod common;

use common::{stack_lo, wait_for};
use std::io::{PipeReader, PipeWriter};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::channel;
use std::thread::JoinHandle;
use turbowish_alloc::TurboWish;
use turbowish_format::{Root, RootKind, Snapshot};

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

/// Hides an address from the conservative scan.
const MASK: usize = 0x5a5a_5a5a_5a5a_5a5a;

/// Words in the deep frame: 128 KiB, far more than a blocked `recv` or a
/// spin loop uses, so nothing the thread does later overwrites the copy.
const DEEP_WORDS: usize = 16 * 1024;

type Payload = [u64; 37];

/// What a worker tells the test.
#[derive(Debug, Clone, Copy)]
struct Worker {
    tid: u32,
    /// Its stack, as `pthread_getattr_np` gives it (and the registry keeps).
    stack_lo: usize,
    /// The masked address of the box only a dead frame points to.
    stale_masked: usize,
    /// Where that dead copy lies.
    stale_at: usize,
    /// The masked address of the box a live local holds.
    live_masked: usize,
}

/// Allocates a box from deep in the stack and leaves its only unmasked
/// copy at the bottom of a 128 KiB frame that then returns. Returns the
/// masked address and where the copy lies.
#[inline(never)]
fn leave_in_dead_frame() -> (usize, usize) {
    let mut junk = [0usize; DEEP_WORDS];
    let b = Box::into_raw(Box::new([11u64; 37]));
    junk[0] = b as usize;
    std::hint::black_box(&mut junk);
    (b as usize ^ MASK, &junk[0] as *const usize as usize)
}

/// Clears the top 16 KiB of the dead frame, which later live frames reuse:
/// a spilled copy of the address there could survive in a live frame's
/// unused slot. The copy at the frame's bottom stays.
#[inline(never)]
fn scrub_near() {
    let junk = [0u8; 16 << 10];
    std::hint::black_box(&junk);
}

fn free_masked(masked: usize) {
    // SAFETY: `masked` came from `leave_in_dead_frame`'s `Box::into_raw` of a
    // `Box<Payload>`, freed once, here.
    drop(unsafe { Box::from_raw((masked ^ MASK) as *mut Payload) });
}

/// Starts a worker that leaves a dead copy, holds a live box, reports, and
/// then `wait`s (blocking or spinning) with the box until the test lets it
/// go.
fn start(wait: impl FnOnce(&Payload) + Send + 'static) -> (Worker, JoinHandle<()>) {
    let (tx, rx) = channel();
    let h = std::thread::spawn(move || {
        let (stale_masked, stale_at) = leave_in_dead_frame();
        scrub_near();
        let live = Box::new([13u64; 37]);
        tx.send(Worker {
            // SAFETY: gettid has no preconditions.
            tid: unsafe { libc::gettid() } as u32,
            stack_lo: stack_lo(),
            stale_masked,
            stale_at,
            live_masked: (&*live as *const Payload as usize) ^ MASK,
        })
        .unwrap();
        wait(&live);
        free_masked(stale_masked);
    });
    (rx.recv().unwrap(), h)
}

/// A worker blocked in `read` on a pipe until the returned writer closes.
fn start_blocked() -> (Worker, PipeWriter, JoinHandle<()>) {
    let (reader, writer) = std::io::pipe().unwrap();
    let (w, h) = start(move |live| block_in_read(&reader, live));
    // Asleep in the kernel, in its `read`.
    wait_for("the worker to block", || match state(w.tid) {
        'S' => Ok(()),
        other => Err(other),
    });
    (w, writer, h)
}

/// Blocks in `read` with the only reference to `live` in this very frame:
/// just `read`'s own small frame lies between it and the stack pointer.
#[inline(never)]
fn block_in_read(reader: &PipeReader, live: &Payload) {
    let held = live;
    std::hint::black_box(&held);
    let mut byte = 0u8;
    // SAFETY: reads at most one byte into a valid local, from a pipe we own.
    unsafe { libc::read(reader.as_raw_fd(), (&mut byte as *mut u8).cast(), 1) };
    std::hint::black_box(&held);
}

/// The scheduler state of one of our threads (`R`, `S`, ...).
fn state(tid: u32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
    let (_, rest) = stat.rsplit_once(')').unwrap();
    rest.trim_start().chars().next().unwrap()
}

/// The stack root of thread `tid`.
fn stack_root(s: &Snapshot, tid: u32) -> &Root {
    let label = format!("thread {tid}");
    s.roots
        .iter()
        .find(|r| r.kind == RootKind::ThreadStack && s.string(r.label) == label)
        .unwrap_or_else(|| panic!("no stack root for {label}"))
}

/// Whether any thread's stack or TLS root points at the block at `addr`.
fn thread_roots_reach(s: &Snapshot, addr: usize) -> Vec<String> {
    let block = common::block_index(s, addr);
    s.roots
        .iter()
        .filter(|r| matches!(r.kind, RootKind::ThreadStack | RootKind::ThreadLocal))
        .filter(|r| r.targets.contains(&block))
        .map(|r| format!("{:?} {}", r.kind, s.string(r.label)))
        .collect()
}

/// The word a dead frame left at `at`, still there (the thread has not
/// run since it blocked).
fn word_at(at: usize) -> usize {
    // SAFETY: `at` is an aligned word in a live thread's stack mapping
    // (below its stack pointer, unused while it sleeps), readable memory.
    unsafe { (at as *const usize).read_volatile() }
}

#[test]
fn a_dead_frame_of_a_blocked_thread_is_no_root() {
    let _serial = common::serial();
    let (w, go, h) = start_blocked();
    let s = common::snapshot("stack-pointers-dead").expect("snapshot");
    // The dead copy was there all along: the scan had something to find.
    assert_eq!(word_at(w.stale_at), w.stale_masked ^ MASK);
    let root = stack_root(&s, w.tid);
    assert!(
        root.start > w.stale_at as u64,
        "the blocked thread's stack was scanned from {:#x}, below its dead frame at {:#x}",
        root.start,
        w.stale_at
    );
    let reach = thread_roots_reach(&s, w.stale_masked ^ MASK);
    assert!(reach.is_empty(), "a dead frame's copy is a root: {reach:?}");
    drop(go);
    h.join().unwrap();
}

#[test]
fn a_live_local_of_a_blocked_thread_stays_a_root() {
    let _serial = common::serial();
    let (w, go, h) = start_blocked();
    let s = common::snapshot("stack-pointers-live").expect("snapshot");
    let root = stack_root(&s, w.tid);
    // Scanned from its stack pointer, not from the bottom of its stack.
    assert!(root.start > w.stack_lo as u64, "{:#x}", root.start);
    let live = common::block_index(&s, w.live_masked ^ MASK);
    assert!(
        root.targets.contains(&live),
        "the blocked thread's live box is not its root"
    );
    drop(go);
    h.join().unwrap();
}

#[test]
fn a_running_thread_is_scanned_whole() {
    let _serial = common::serial();
    let stop = Arc::new(AtomicBool::new(false));
    let spin = stop.clone();
    // Spins without a system call: never parked in the kernel.
    let (w, h) = start(move |live| {
        std::hint::black_box(live);
        while !spin.load(Ordering::Relaxed) {
            std::hint::spin_loop();
        }
    });
    let s = common::snapshot("stack-pointers-running").expect("snapshot");
    stop.store(true, Ordering::Relaxed);
    let root = stack_root(&s, w.tid);
    assert_eq!(root.start, w.stack_lo as u64, "not scanned from its bottom");
    let dead = common::block_index(&s, w.stale_masked ^ MASK);
    let live = common::block_index(&s, w.live_masked ^ MASK);
    assert!(root.targets.contains(&live), "its live box is no root");
    assert!(
        root.targets.contains(&dead),
        "its whole stack was not scanned"
    );
    h.join().unwrap();
}
