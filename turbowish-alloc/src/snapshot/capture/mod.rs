//! Snapshot capture by `fork()`.
//!
//! The parent stops only for the `fork` itself (its pause: rule 12): the
//! fork protocol (see [`atfork`](crate::snapshot::atfork)) holds every table
//! lock across it, so the child starts with a consistent copy of the table
//! and of the whole address space, frozen at one instant by copy-on-write.
//! The child does the slow work (scan, symbolize, compress, write) and
//! leaves with `_exit`.
//!
//! - [`parent`]: the parent's side: one capture at a time, the fork, the
//!   pause, the wait for the child's report, and the reaping.
//! - [`plan`]: what the parent prepares before the fork for the child to
//!   use (the file name, the module list, the clocks, the [`memory`]
//!   figures: where the resident memory goes).
//! - [`child`]: the child's side as a process: cut off from the parent's
//!   signals, files and panic hook, it builds the snapshot, reports on the
//!   pipe and leaves.
//! - [`build`]: the snapshot the child builds from its frozen image: blocks,
//!   edges, roots, stacks and the typed part, written to the file.
//! - [`parked`]: the threads that stayed parked in the kernel across the
//!   fork and their stack pointers there, found by the parent for the
//!   child's scan of their stacks.
//! - [`memory`]: where the resident memory goes, read by the parent, but
//!   for the allocator's figures, read by the child (rule 16).
//! - [`raw_read`]: small `/proc` files read with plain system calls, for
//!   `parked` and `memory`.
//!
//! # Rules
//!
//! The submodules cite these as "rule N"; elsewhere they are "capture rule
//! N".
//!
//! 1. One capture at a time per process (a flag, which the child of a
//!    user's `fork` resets: fork rule 7).
//! 2. The child marks its only thread busy (the reentrancy guard) before
//!    anything else: its own allocations go untracked and never change the
//!    table it is reading.
//! 3. The child takes no lock another thread could have held at the fork: it
//!    prints nothing, never reads the environment, and reports to the parent
//!    through a pipe. (If user code panics inside the child, Rust's panic
//!    message could block on the stderr lock; the parent's time-out then
//!    kills the child.)
//! 4. The parent always reaps the child: it waits for the report up to the
//!    time-out, kills the child if it is late, and `waitpid`s it in every case.
//! 5. The snapshot file appears whole or not at all, readable by this user
//!    only, and no link another user planted redirects it: it is written to
//!    a new temporary file beside its final name and renamed (the rules of
//!    `turbowish_format::files`). A child that failed or was killed leaves
//!    nothing: the parent removes its temporary files.
//! 6. The capturing thread's stack is scanned only above the point where the
//!    capture began. Below it are the capture's own frames, which hold copies
//!    of whatever the scan has just read (a conservative scan that read its
//!    own stack would find every block it had already visited).
//! 7. Reading the report survives signals (`EINTR`) and ends at its first
//!    line, so neither a signal nor another fork holding the pipe open can
//!    make the parent miss its deadline.
//! 8. The child blocks all signals, dies with its parent, closes the parent's
//!    descriptors and offers itself first to the OOM killer. Memory faults
//!    (`SIGSEGV`, `SIGBUS`) stay unblocked and are reported on the pipe.
//! 9. Typed walks (see [`typed`](crate::snapshot::typed)) run before the
//!    conservative scan, over the same frozen image; every block they read
//!    is checked first (trace rule 1), and a panic in a `Trace` impl is
//!    caught and recorded (trace rule 5) without losing the snapshot. The
//!    scan skips the blocks they walked completely: trace rule 4 would
//!    discard its edges from them anyway.
//! 10. No snapshot is written into a directory that every user may write to
//!     without the sticky bit: anyone could remove or replace the file there.
//!     The capture fails with an error that says so, before forking; it never
//!     writes elsewhere.
//! 11. Paths in the child's report and error messages are escaped
//!     ([`Shown`](crate::stderr::Shown)): the report is one line, and so is
//!     every line printed from it.
//! 12. The pause is defined once: from the moment the fork handlers begin
//!     taking TurboWish's locks before the `fork` to the moment they have
//!     released them after it, in the parent (fork rule 8). That is what
//!     the process experiences: a thread that allocates waits for those
//!     locks that long at most. [`SnapshotInfo::pause`], the stderr line and
//!     the file's `pause_ns` are that one figure: the parent sends it to the
//!     child, which asks for it last, just before writing the file.
//! 13. A capture's own memory in the parent is untracked (guard rule 1):
//!     the capturing thread is busy for all of the capture but the `fork`
//!     (guard rule 3), so its plan, module list and report are in no
//!     snapshot and no `stats()`. What it returns is allocated anew in the
//!     caller's own mode (guard rule 2).
//! 14. Another thread's stack is scanned from its stack pointer at the fork,
//!     less a margin (x86_64's 128-byte red zone; aarch64 has none and
//!     keeps the same), when the parent proved that the thread stayed
//!     asleep in the kernel, off the CPU, across the fork: below that
//!     pointer lie only frames that have returned, whose stale pointers
//!     would make blocks look held. Every other thread's whole stack is
//!     scanned: one that ran, one that could not be read, one whose pointer
//!     lies outside its stack (asleep in a signal handler on an alternate
//!     stack). The proof needs no ptrace, privilege or signal: a thread may
//!     read its own process's `/proc/self/task/TID/` files whatever Yama's
//!     `ptrace_scope` says (the kernel allows its own thread group first).
//!     (a) Just before the fork, the parent reads the thread's voluntary
//!     and involuntary context-switch counts (`status`); (b) just after it,
//!     its `syscall` line, then the counts again. A line other than
//!     `running` means the kernel found the thread asleep and off the CPU,
//!     and gives the user stack pointer saved when it entered the kernel
//!     (in a system call, or `-1` outside one: a page fault). Had the
//!     thread run at any moment between (a) and (b), it would have left the
//!     CPU again before (b) by a switch, which adds one to a count: unchanged
//!     counts mean it was off the CPU all along, with the pointer read at
//!     (b). Hence the counts last: read before the line, they would miss a
//!     thread that woke, ran and slept again in between; and a line read at
//!     (a) would add nothing. Thread ids are not reused before the kernel's
//!     pid numbers wrap around.
//! 15. The reads of rule 14 cost tens of µs a thread (with 200 threads,
//!     7 ms before the fork and 11 ms after it, against a 1.4 ms pause), so
//!     they stay out of the pause (rule 12): before the fork handlers take
//!     the locks and after they release them, which only widens the window
//!     a thread must sleep through by the pause. They use plain `open` and `read` into
//!     stack buffers. The parent sends the child the threads and pointers,
//!     then the pause, on one socket, and closes it; the child reads them
//!     first, and scans whole stacks if the message is cut short or makes
//!     no sense.
//! 16. Where the resident memory goes is read by the parent as it prepares
//!     the plan, outside the pause like rule 15, with this thread busy
//!     (rule 13): TurboWish's own tables and headers, then the resident set
//!     (`/proc/self/smaps_rollup`, or `statm` where that file is missing;
//!     unknown, never 0, when neither reads), with plain `open` and `read`
//!     into a stack buffer. The inner allocator's figures are read by the
//!     child, first thing (figures rule 3): `mallinfo2` holds each glibc
//!     arena's lock while it walks the free lists, for tens of milliseconds
//!     on a fragmented heap, and no thread of the program must wait for
//!     that. The child counts the live bytes from its blocks. The parent's
//!     figures are read a few milliseconds before the fork, so the parts
//!     are of nearby instants, not one: they need not add up exactly (the
//!     reader's split says how it treats that). Reading
//!     `smaps_rollup` walks the page tables under the address-space lock
//!     (read side: it holds off `mmap` and `munmap`, not faults): 51 µs at
//!     a few MiB resident, 2.2 to 2.6 ms at 120 MiB (medians of 50).

mod build;
mod child;
mod memory;
mod parent;
mod parked;
mod plan;
mod raw_read;

pub use parent::SnapshotInfo;
pub(crate) use parent::{SNAPSHOT_FORK, capture, open_dir_problem, reset_after_fork};
pub(crate) use plan::Target;
