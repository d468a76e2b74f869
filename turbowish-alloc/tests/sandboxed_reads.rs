//! Reading the running process's own memory where a sandbox forbids
//! `process_vm_readv` (enumeration rule 5): some container seccomp profiles
//! do. `stats_by_task` and `block` then read `/proc/self/mem`, and give the
//! same answers.
//!
//! The filter is installed on one thread only (seccomp filters are per
//! thread unless synchronised), which makes the calls; the rest of the test
//! runs unfiltered.

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier};
use turbowish_alloc::TurboWish;

#[global_allocator]
static A: TurboWish = TurboWish::system();

/// Makes `process_vm_readv` fail with `EPERM` on the calling thread.
fn forbid_process_vm_readv() {
    use seccompiler::{BpfProgram, SeccompAction, SeccompFilter};
    let rules = BTreeMap::from([(libc::SYS_process_vm_readv, vec![])]);
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        std::env::consts::ARCH.try_into().unwrap(),
    )
    .unwrap();
    let program: BpfProgram = filter.try_into().unwrap();
    seccompiler::apply_filter(&program).unwrap();
}

/// Whether `process_vm_readv` of one word of our own memory works here.
fn process_vm_readv_works() -> bool {
    let word = 7u64;
    let mut copy = 0u64;
    let local = libc::iovec {
        iov_base: (&raw mut copy).cast(),
        iov_len: 8,
    };
    let remote = libc::iovec {
        iov_base: (&raw const word).cast_mut().cast(),
        iov_len: 8,
    };
    // SAFETY: both iovecs describe 8 bytes of live locals; the kernel
    // checks the remote one.
    let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    n == 8 && copy == 7
}

#[test]
fn a_thread_without_process_vm_readv_reads_the_same_blocks() {
    const BLOCKS: usize = 2_000;
    const SIZE: usize = 100;
    let boxes: Vec<Box<[u8; SIZE]>> = (0..BLOCKS).map(|i| Box::new([i as u8; SIZE])).collect();
    let addrs: Vec<usize> = boxes
        .iter()
        .step_by(40)
        .map(|b| b.as_ptr() as usize)
        .collect();
    let outside = |stats: &[turbowish_alloc::TaskStats]| {
        (stats.iter().find(|t| t.task == 0)).map_or((0, 0), |t| (t.live_blocks, t.live_bytes))
    };
    let seen_here = outside(&turbowish_alloc::stats_by_task());
    assert!(seen_here.0 >= BLOCKS as u64, "{seen_here:?}");
    assert!(process_vm_readv_works());

    let ready = Arc::new(Barrier::new(2));
    let sandbox = std::thread::spawn({
        let (ready, addrs) = (ready.clone(), addrs.clone());
        move || {
            forbid_process_vm_readv();
            assert!(!process_vm_readv_works(), "the filter is not in force");
            ready.wait();
            let sizes: Vec<Option<usize>> = (addrs.iter())
                .map(|&a| turbowish_alloc::block(a as *const u8).map(|b| b.size))
                .collect();
            (sizes, turbowish_alloc::stats_by_task())
        }
    });
    ready.wait();
    let (sizes, stats) = sandbox.join().unwrap();
    assert!(sizes.iter().all(|&s| s == Some(SIZE)), "{sizes:?}");
    let seen_there = outside(&stats);
    assert!(
        seen_there.0 >= BLOCKS as u64,
        "{seen_there:?} against {seen_here:?}"
    );
    // The same blocks, give or take what the threads' start-up allocated.
    assert!(
        seen_there.0.abs_diff(seen_here.0) < 64,
        "{seen_there:?} against {seen_here:?}"
    );
    drop(boxes);
}
