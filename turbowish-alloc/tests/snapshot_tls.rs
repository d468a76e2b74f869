//! Thread-local storage is a root: a block held only by a `thread_local!` is
//! reached from the main thread's TLS root (sized from the modules' `PT_TLS`
//! segments) or, on other threads, from their stack mappings, which contain
//! their TLS.
//!
//! The main thread's TLS lives apart from its stack, so this binary has its
//! own harness, run on the main thread.

mod common;

use std::cell::RefCell;
use turbowish_alloc::TurboWish;
use turbowish_format::{RootKind, Snapshot};

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

thread_local! {
    static HELD: RefCell<Option<Box<[u64; 123]>>> = const { RefCell::new(None) };
}

const MASK: usize = 0x5a5a_5a5a_5a5a_5a5a;

/// Puts a block in this thread's `HELD`; returns its masked address.
#[inline(never)]
fn hold_in_tls() -> usize {
    let b = Box::new([1u64; 123]);
    let addr = &*b as *const [u64; 123] as usize;
    HELD.with(|h| *h.borrow_mut() = Some(b));
    addr ^ MASK
}

fn roots_of(s: &Snapshot, addr: usize) -> Vec<(RootKind, u64)> {
    let i = common::block_index(s, addr);
    s.roots
        .iter()
        .filter(|r| r.targets.contains(&i))
        .map(|r| (r.kind, r.len))
        .collect()
}

fn main() {
    let mut args = libtest_mimic::Arguments::from_args();
    args.test_threads = Some(1); // on the main thread
    let trial = libtest_mimic::Trial::test("thread_locals_are_roots", || {
        thread_locals_are_roots();
        Ok(())
    });
    libtest_mimic::run(&args, vec![trial]).exit();
}

fn thread_locals_are_roots() {
    let main_masked = hold_in_tls();
    let (tx, rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let other = std::thread::spawn(move || {
        tx.send(hold_in_tls()).unwrap();
        done_rx.recv().unwrap();
    });
    let other_masked = rx.recv().unwrap();
    let s = common::snapshot("tls").expect("snapshot");
    done_tx.send(()).unwrap();
    other.join().unwrap();

    let main_roots = roots_of(&s, main_masked ^ MASK);
    assert!(
        main_roots
            .iter()
            .any(|&(k, len)| k == RootKind::ThreadLocal && len <= 16 << 10),
        "main thread's TLS block not reached from a small TLS root: {main_roots:?}"
    );
    let other_roots = roots_of(&s, other_masked ^ MASK);
    assert!(
        other_roots.iter().any(|&(k, _)| k == RootKind::ThreadStack),
        "other thread's TLS block not reached from its stack mapping: {other_roots:?}"
    );
}
