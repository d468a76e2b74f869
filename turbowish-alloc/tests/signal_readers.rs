//! A signal handler that reads TurboWish's figures (`stats()`, `block()`)
//! while its thread is inside TurboWish's bookkeeping, holding a shard lock,
//! must not deadlock: the readers notice the thread is busy and take no lock.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use turbowish_alloc::{TurboWish, block, stats};

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

static HANDLED: AtomicU64 = AtomicU64::new(0);
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn read_figures_in_handler(_: libc::c_int) {
    std::hint::black_box(stats());
    std::hint::black_box(block(&HANDLED as *const AtomicU64));
    HANDLED.fetch_add(1, Ordering::Relaxed);
}

#[test]
fn signal_handlers_reading_figures_never_deadlock() {
    // SAFETY: installs a handler that only calls TurboWish's readers (which
    // take no lock when they interrupted TurboWish) and an atomic increment.
    unsafe {
        libc::signal(libc::SIGUSR2, read_figures_in_handler as *const () as usize);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        // SAFETY: pthread_self has no preconditions.
        tx.send(unsafe { libc::pthread_self() }).unwrap();
        let mut v: Vec<Box<[u8; 32]>> = Vec::with_capacity(10_000);
        while !STOP.load(Ordering::Relaxed) {
            if v.len() == v.capacity() {
                v.clear();
            }
            v.push(Box::new([0; 32]));
        }
    });
    let target = rx.recv().unwrap();
    let start = Instant::now();
    let (mut last, mut last_change) = (0, Instant::now());
    while start.elapsed() < Duration::from_secs(2) {
        // SAFETY: `target` is a live thread (joined only below).
        unsafe { libc::pthread_kill(target, libc::SIGUSR2) };
        std::thread::sleep(Duration::from_micros(200));
        let n = HANDLED.load(Ordering::Relaxed);
        if n != last {
            (last, last_change) = (n, Instant::now());
        }
        if last_change.elapsed() > Duration::from_secs(2) {
            eprintln!("deadlock: the signal handler never returned");
            std::process::abort();
        }
    }
    STOP.store(true, Ordering::Relaxed);
    worker.join().unwrap();
    assert!(last > 100, "only {last} signals handled");
}
