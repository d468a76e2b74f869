//! Leak checks and heap assertions for tests (feature `testing`).
//!
//! Two tools, for `#[test]` and `#[tokio::test]` alike:
//!
//! - [`leak_check`] (and [`leak_check_blocking`]) runs one future and
//!   returns what it left behind: the blocks its polls allocated that are
//!   still live once it finished, its output was dropped and its storage
//!   freed, with their bytes and allocation sites. Other tests running at
//!   the same time, on other threads or other tasks, never count.
//! - [`Heap::take`] takes a snapshot of the whole process and answers
//!   questions about it: what the tasks spawned at a place retain
//!   ([`Heap::retained_by_spawn_site`]), which tasks are there
//!   ([`Heap::tasks_at`]), and assertions that there are no zombie futures,
//!   no stuck tasks and no unreachable blocks, process-wide or for the
//!   tasks spawned at one place ([`Heap::spawned_at`]).
//!
//! ```no_run
//! #[global_allocator]
//! static ALLOC: turbowish_alloc::TurboWish = turbowish_alloc::TurboWish::system();
//!
//! # async fn handle_request() {}
//! #[tokio::test]
//! async fn a_request_leaves_nothing_behind() {
//!     let leaks = turbowish_alloc::testing::leak_check(handle_request()).await;
//!     leaks.assert_none(); // else: what, how much, where from, and who holds it
//! }
//!
//! #[test]
//! fn no_zombie_futures() {
//!     // ... run the code under test ...
//!     turbowish_alloc::testing::Heap::take().assert_no_zombies();
//! }
//! ```
//!
//! A failed assertion panics with what the `turbowish` command would print
//! about the offending blocks or tasks (`leaks`, `retainers`, `waits`), and
//! keeps the snapshot file, naming it, for the CLI.
//!
//! # Rules
//!
//! Cited as "testing rule N".
//!
//! 1. **Every check is a snapshot**: the same fork capture as a signal's
//!    ([`snapshot_to`](crate::snapshot_to)), read back with the analysis
//!    library (`turbowish-snap`). Its cost is a `fork`, the child's scan of
//!    the heap and its symbolization of the stacks: tens of milliseconds
//!    for a small test heap, more the first time a binary's debug
//!    information is read. Each snapshot read back teaches the next
//!    check's child the frames it resolved (the symbol memo: memo rules
//!    1-4), so later checks skip most of that reading:
//!    `tests/testing_leak_check.rs`, 42 checks, ran in 19-20 s with it and
//!    41 s without, in a debug build on a loaded machine. Captures are one
//!    at a time per process (capture rule 1): parallel checks wait for
//!    each other.
//! 2. **A leak check's future has a tag of its own**, never shared with the
//!    task that awaits it or any other task, so what it counts is the
//!    allocations made inside the future's own polls, and nothing else.
//!    Tasks it spawns are other tasks: their allocations are theirs.
//! 3. **Left behind means still live, wherever held**: in a static or a
//!    thread-local (including one initialised lazily on first use), in a
//!    channel or cache another task holds, in a reference cycle, or lost
//!    with nothing pointing at it. A one-time initialisation the future
//!    triggers counts the first time: run it once before checking. Blocks
//!    the async runtime allocated for its own bookkeeping inside the polls
//!    (a worker's queue that grew on a `yield_now`, by tokio's code in
//!    `src/runtime/`, the rule `turbowish tasks` uses) are the runtime's,
//!    kept for reuse: counted apart ([`Leaks::runtime_blocks`]), never as
//!    left behind. Under `TURBOWISH_STACK=sampled` a block without a stack
//!    cannot be told apart and counts.
//! 4. **Heap assertions see the whole process** unless scoped with
//!    [`Heap::spawned_at`]: tests running in parallel are in the snapshot
//!    too, and a task another test is still joining is briefly a zombie.
//!    Scope assertions, or give them a test binary of their own.
//! 5. **Snapshot files** go to the temporary directory (`TMPDIR`) and are
//!    removed when the check is dropped, unless a check failed (the
//!    message names the file) or the test asked to keep it
//!    ([`Heap::keep`]).
//! 6. **Requirements.** [`TurboWish`](crate::TurboWish) is the test
//!    binary's global allocator (one per binary; a check without it fails
//!    with a message saying so), and the binary is built with frame
//!    pointers for allocation sites to reach the test's own code
//!    (`RUSTFLAGS="-C force-frame-pointers=yes"`).

mod heap;
mod leak_check;
mod render;
mod scratch;

pub use heap::{Heap, Scope, TaskSummary};
pub use leak_check::{LeakSite, Leaks, leak_check, leak_check_blocking};
