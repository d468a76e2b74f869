//! Threads the registry does not hold, found by the parent before the fork
//! in glibc's own lists of threads, so that their stacks are roots too.
//!
//! A thread registers at its first tracked allocation or free ([`threads`]
//! rule 1). Until then it holds memory the scan must see: a thread that
//! `std::thread::spawn` has created but the scheduler has not yet run (a
//! tokio runtime's workers, just after `build()`, on a busy machine) holds
//! its start, `std`'s `ThreadInit` box, only from its thread descriptor
//! (glibc's `struct pthread`, the `arg` of `pthread_create`), at the top of
//! its stack mapping. Unscanned, that box and the closure it holds (with
//! the runtime's handle and the worker's state) looked unreachable. A
//! thread that never allocates through Rust (a C library's) is the same,
//! and so is one beyond the registry's slots (threads rule 4).
//!
//! # Rules
//!
//! 1. Only x86_64 glibc is read, whose thread descriptor is at the thread
//!    pointer and holds its own address at byte [`SELF`], its link in
//!    glibc's thread lists at [`LIST`] and its kernel thread id at [`TID`]
//!    (stable across glibc releases: compiled code reads the id there). The
//!    layout is checked on the calling thread first; if it does not hold,
//!    no thread is looked for.
//! 2. The lists are read in the parent, before the fork: in the child,
//!    glibc's `fork` has already moved every other thread's descriptor to
//!    its cache of free stacks and cleared its id. They change while they
//!    are read (threads start and end), so every word is read with
//!    `process_vm_readv`, which fails rather than faults on memory unmapped
//!    meanwhile (where a seccomp filter refuses it, the layout check fails
//!    and nothing is found), and nothing read is trusted unchecked: a node counts as a
//!    thread only if its descriptor holds its own address (the lists'
//!    heads, in the loader's data, do not) and the id of a thread
//!    `/proc/self/task` listed (0, for a thread that ended and that nobody
//!    has joined yet, never is). A walk stops at a node already walked or
//!    after [`MAX_THREADS`] nodes and more.
//! 3. The lists are walked from every registered thread's descriptor:
//!    glibc keeps the main thread on its list of user stacks, the others
//!    on its list of the stacks it allocated.
//! 4. The child scans a thread found like a registered one (capture rule
//!    14): its stack is the mapping that holds its descriptor (glibc puts
//!    the descriptor and static TLS at the top of the thread's stack
//!    mapping), from its stack pointer if the parent proved it parked, else
//!    whole. A thread that ends between the walk and the fork leaves a
//!    stack that is scanned all the same: the window is the fork's pause.
//!
//! [`threads`]: crate::snapshot::threads

use crate::snapshot::threads::{self, MAX_THREADS, ThreadInfo};

/// Byte offset of `header.self` in glibc's x86_64 `struct pthread`.
const SELF: u64 = 0x10;
/// Byte offset of `list` (`next`, then `prev`).
const LIST: u64 = 0x2c0;
/// Byte offset of `tid` (a 32-bit kernel thread id).
const TID: u64 = 0x2d0;

/// In the parent: the threads `listed` (`/proc/self/task`) that are in
/// glibc's lists but not `registered`, as (thread id, descriptor), sorted
/// by thread (rules 1 to 3).
pub(crate) fn find_in_parent(registered: &[ThreadInfo], listed: &[u32]) -> Vec<(u32, u64)> {
    if !cfg!(all(target_arch = "x86_64", target_env = "gnu")) {
        return Vec::new();
    }
    // SAFETY: gettid has no preconditions.
    let me = (threads::thread_pointer() as u64, unsafe { libc::gettid() }
        as u32);
    find(registered, listed, me, read_own_word)
}

/// Rules 1 to 3 over the memory `read` gives (a word, or `None` where it
/// cannot be read); `me` is the calling thread's descriptor and id.
fn find(
    registered: &[ThreadInfo],
    listed: &[u32],
    me: (u64, u32),
    read: impl Fn(u64) -> Option<u64>,
) -> Vec<(u32, u64)> {
    let descriptor = |pd: u64| {
        (read(pd.checked_add(SELF)?)? == pd).then_some(())?;
        // Little-endian: the id is the low half of its word.
        Some(read(pd.checked_add(TID)?)? as u32)
    };
    if descriptor(me.0) != Some(me.1) {
        return Vec::new();
    }
    let known = |tid: u32| tid == me.1 || registered.iter().any(|t| t.tid == tid);
    let mut found = Vec::new();
    let mut walked = std::collections::HashSet::new();
    for start in registered.iter().map(|t| t.thread_pointer as u64 + LIST) {
        let mut node = start;
        for _ in 0..MAX_THREADS + 2 {
            if !walked.insert(node) {
                break;
            }
            let Some(next) = read(node) else {
                break;
            };
            node = next;
            let pd = node.wrapping_sub(LIST);
            match descriptor(pd) {
                Some(tid) if listed.binary_search(&tid).is_ok() && !known(tid) => {
                    found.push((tid, pd));
                }
                _ => {}
            }
        }
    }
    found.sort_unstable();
    found.dedup_by_key(|f| f.0);
    found
}

/// The word at `addr` of this process, read so that memory unmapped
/// meanwhile fails instead of faulting (rule 2).
fn read_own_word(addr: u64) -> Option<u64> {
    let mut word = 0u64;
    let local = libc::iovec {
        iov_base: (&raw mut word).cast(),
        iov_len: 8,
    };
    let remote = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: 8,
    };
    // SAFETY: the kernel writes at most 8 bytes into `word`; the remote
    // range is only read, and a range not mapped makes the call fail.
    let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    (n == 8).then_some(word)
}

/// In the child: the thread `tid` whose descriptor `pd` the parent found,
/// its stack the mapping of the frozen image (`readable`) that holds `pd`
/// (rule 4).
pub(crate) fn thread_of(readable: &[(u64, u64)], (tid, pd): (u32, u64)) -> Option<ThreadInfo> {
    let i = readable.partition_point(|&(_, e)| e <= pd);
    let &(lo, hi) = readable.get(i).filter(|&&(s, _)| s <= pd)?;
    Some(ThreadInfo {
        tid,
        stack_lo: usize::try_from(lo).ok()?,
        stack_hi: usize::try_from(hi).ok()?,
        thread_pointer: usize::try_from(pd).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A fake memory of descriptors: `(pd, tid, next pd)`; a `next` of 0
    /// links to the list head at 0x100 (not a descriptor), which links to
    /// the first.
    fn memory(threads: &[(u64, u32, u64)]) -> HashMap<u64, u64> {
        let mut m = HashMap::new();
        for &(pd, tid, next) in threads {
            m.insert(pd + SELF, pd);
            m.insert(pd + TID, 0xdead_0000_0000 | u64::from(tid));
            m.insert(pd + LIST, if next == 0 { 0x100 } else { next + LIST });
        }
        m.insert(0x100, threads[0].0 + LIST);
        m
    }

    fn registered(pd: u64, tid: u32) -> ThreadInfo {
        ThreadInfo {
            tid,
            stack_lo: 0,
            stack_hi: 0,
            thread_pointer: pd as usize,
        }
    }

    #[test]
    fn the_threads_of_the_lists_that_the_registry_lacks_are_found() {
        // A list: 0x1000 (registered, 1), 0x2000 (2), 0x3000 (ended: 0),
        // 0x4000 (4, not listed: gone), 0x5000 (5), then the head.
        let m = memory(&[
            (0x1000, 1, 0x2000),
            (0x2000, 2, 0x3000),
            (0x3000, 0, 0x4000),
            (0x4000, 4, 0x5000),
            (0x5000, 5, 0),
        ]);
        let read = |a| m.get(&a).copied();
        let found = find(&[registered(0x1000, 1)], &[1, 2, 5], (0x1000, 1), read);
        assert_eq!(found, [(2, 0x2000), (5, 0x5000)]);
        // Two registered threads on one list: the same threads, once.
        let two = [registered(0x1000, 1), registered(0x2000, 2)];
        assert_eq!(find(&two, &[1, 2, 5], (0x1000, 1), read), [(5, 0x5000)]);
    }

    #[test]
    fn a_broken_list_ends_the_walk_and_a_wrong_layout_finds_nothing() {
        // 0x2000's link points into unreadable memory; a cycle that skips
        // its start (0x3000 back to 0x2000) ends too.
        let mut m = memory(&[
            (0x1000, 1, 0x2000),
            (0x2000, 2, 0x3000),
            (0x3000, 3, 0x2000),
        ]);
        let read = |a| m.get(&a).copied();
        let r = [registered(0x1000, 1)];
        assert_eq!(
            find(&r, &[1, 2, 3], (0x1000, 1), read),
            [(2, 0x2000), (3, 0x3000)]
        );
        assert_eq!(find(&r, &[1, 2, 3], (0x1000, 9), read), [], "wrong id");
        assert_eq!(find(&r, &[1, 2, 3], (0x1008, 1), read), [], "wrong self");
        m.insert(0x2000 + LIST, 0x9999_0000);
        let read = |a| m.get(&a).copied();
        assert_eq!(find(&r, &[1, 2, 3], (0x1000, 1), read), [(2, 0x2000)]);
    }

    #[test]
    fn a_descriptor_is_scanned_with_the_mapping_that_holds_it() {
        let readable = [(0x1000, 0x2000), (0x8000, 0x9000)];
        let t = thread_of(&readable, (7, 0x8f00)).unwrap();
        assert_eq!((t.tid, t.stack_lo, t.stack_hi), (7, 0x8000, 0x9000));
        assert_eq!(t.thread_pointer, 0x8f00);
        assert!(thread_of(&readable, (7, 0x5000)).is_none());
    }

    /// A pthread that never allocates: it waits on a pipe until it is
    /// written, then ends.
    #[cfg(all(target_arch = "x86_64", target_env = "gnu"))]
    #[test]
    fn a_live_thread_that_never_allocated_is_found() {
        extern "C" fn silent(fd: *mut libc::c_void) -> *mut libc::c_void {
            let mut byte = 0u8;
            // SAFETY: reads one byte from our pipe into a local.
            unsafe { libc::read(fd as usize as i32, (&raw mut byte).cast(), 1) };
            core::ptr::null_mut()
        }
        threads::register_current();
        let mut fds = [0i32; 2];
        let mut handle: libc::pthread_t = 0;
        // SAFETY: a pipe into a valid array; a thread that only reads it.
        unsafe {
            assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
            let arg = fds[0] as usize as *mut libc::c_void;
            let r = libc::pthread_create(&mut handle, core::ptr::null(), silent, arg);
            assert_eq!(r, 0);
        }
        let mut listed: Vec<u32> = std::fs::read_dir("/proc/self/task")
            .unwrap()
            .map(|e| e.unwrap().file_name().to_str().unwrap().parse().unwrap())
            .collect();
        listed.sort_unstable();
        let registered = threads::registered();
        let found = find_in_parent(&registered, &listed);
        // SAFETY: wakes and joins the thread started above, once.
        unsafe {
            libc::write(fds[1], b"x".as_ptr().cast(), 1);
            libc::pthread_join(handle, core::ptr::null_mut());
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
        assert!(
            found.iter().any(|&(_, pd)| pd == handle as u64),
            "{found:x?}"
        );
        assert!(
            found
                .iter()
                .all(|f| registered.iter().all(|r| r.tid != f.0))
        );
    }
}
