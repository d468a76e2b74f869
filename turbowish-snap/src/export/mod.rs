//! Snapshots in other tools' formats: so that a heap TurboWish captured
//! opens in the profilers, viewers and backends users already run.
//!
//! # Rules
//!
//! 1. **Render, never re-derive.** An export writes what
//!    [`crate::analysis`] computed (the heap graph and its weak pointers,
//!    dominators, retained sizes, sites, tasks, diffs): it asks
//!    [`Analysis`](crate::analysis::Analysis) and the modules beside it,
//!    and never computes those figures a second time, so the other tool
//!    shows TurboWish's numbers.
//! 2. **Totals agree with the commands**: whatever an export sums to
//!    (live bytes and blocks, per-task figures, growth) is a figure
//!    `summary`, `tasks`, `dominators` or `diff` prints for the same
//!    files, and each export says which.
//! 3. **Names from the file are untrusted**: every export escapes them for
//!    its format.
//! 4. **One module per format**, each with its own typed errors; none
//!    imports another (`flame` and `report` draw from `folded`). The CLI
//!    only picks one and names the output.
//! 5. **Stream.** A format is written as it is produced, into any
//!    [`std::io::Write`]: memory stays linear in the snapshot, never in the
//!    size of the text written.
//!
//! Formats:
//!
//! - [`pprof`]: a gzipped pprof heap profile, for `go tool pprof`,
//!   Pyroscope and Parca.
//! - [`heapsnapshot`]: a V8 heap snapshot (`.heapsnapshot`), for Chrome
//!   DevTools' Memory panel and memlab.
//! - [`folded`]: folded stacks (live, by task, retained, growth), and
//!   [`flame`]: the flame graphs inferno draws from them.
//! - [`report`]: one self-contained HTML page.

pub mod flame;
pub mod folded;
pub mod heapsnapshot;
pub mod pprof;
pub mod report;
