//! A thread that never allocated through TurboWish is not in its registry,
//! yet its stack and thread descriptor are roots: a block only such a
//! thread holds (here the argument of `pthread_create`, as `std` passes a
//! new thread its start closure) is reached from that thread's stack
//! mapping, so what it holds is not reported unreachable.

#![cfg(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu"))]

mod common;

use turbowish_alloc::TurboWish;
use turbowish_format::RootKind;

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

const MASK: usize = 0x5a5a_5a5a_5a5a_5a5a;

/// What the silent thread gets: the block it holds and the pipe it waits on.
struct Start {
    held: *mut [u64; 37],
    read_fd: i32,
}

/// Waits on the pipe without allocating, then gives the start back.
extern "C" fn silent_main(arg: *mut libc::c_void) -> *mut libc::c_void {
    // SAFETY: `arg` is the `Start` the starter leaked for this thread; only
    // a plain system call is made.
    unsafe {
        let mut byte = 0u8;
        libc::read((*arg.cast::<Start>()).read_fd, (&raw mut byte).cast(), 1);
    }
    arg
}

/// The silent thread, its `Start`'s masked address and the pipe's write end.
struct Silent {
    handle: libc::pthread_t,
    masked: usize,
    write_fd: i32,
}

/// Starts the silent thread from a thread that then ends, so that no live
/// frame but the silent thread's holds its `Start`'s address.
fn start_silent() -> Silent {
    std::thread::spawn(|| {
        let mut fds = [0i32; 2];
        // SAFETY: a pipe into a valid array.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let held = Box::into_raw(Box::new([7u64; 37]));
        let start = Box::into_raw(Box::new(Start {
            held,
            read_fd: fds[0],
        }));
        let mut handle: libc::pthread_t = 0;
        // SAFETY: starts a thread that only reads the pipe; `start` stays
        // alive until it is joined (`stop`).
        let r = unsafe {
            libc::pthread_create(&mut handle, core::ptr::null(), silent_main, start.cast())
        };
        assert_eq!(r, 0);
        Silent {
            handle,
            masked: start as usize ^ MASK,
            write_fd: fds[1],
        }
    })
    .join()
    .unwrap()
}

impl Silent {
    fn stop(self) {
        let mut ret: *mut libc::c_void = core::ptr::null_mut();
        // SAFETY: wakes and joins the thread we started, once; it returns
        // the `Start` it was given, which we free with what it holds.
        unsafe {
            libc::write(self.write_fd, b"x".as_ptr().cast(), 1);
            libc::pthread_join(self.handle, &mut ret);
            let start = Box::from_raw(ret.cast::<Start>());
            drop(Box::from_raw(start.held));
            libc::close(start.read_fd);
            libc::close(self.write_fd);
        }
    }
}

#[test]
fn a_block_held_only_by_a_thread_that_never_allocated_is_reached() {
    let silent = start_silent();
    let s = common::snapshot("unregistered").expect("snapshot");
    let start = common::block_index(&s, silent.masked ^ MASK);
    let roots: Vec<_> = (s.roots.iter())
        .filter(|r| r.targets.contains(&start))
        .map(|r| (r.kind, s.string(r.label).to_owned()))
        .collect();
    silent.stop();
    assert!(
        roots.iter().any(|(k, _)| *k == RootKind::ThreadStack),
        "the thread's start is reached from no thread's stack: {roots:?}"
    );
}
