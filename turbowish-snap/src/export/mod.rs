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
//! 2. **Totals stay exact**: what an export adds up to (live bytes and
//!    blocks, per-task figures) equals what `summary`, `tasks` and `diff`
//!    print for the same files.
//! 3. **One module per format**, each with its own typed errors; none
//!    imports another. The CLI only picks one and names the output.
//! 4. **Stream.** A format is written as it is produced, into any
//!    [`std::io::Write`]: memory stays linear in the snapshot, never in the
//!    size of the text written.
//!
//! Formats:
//!
//! - [`pprof`]: a gzipped pprof heap profile, for `go tool pprof`,
//!   Pyroscope and Parca.
//! - [`heapsnapshot`]: a V8 heap snapshot (`.heapsnapshot`), for Chrome
//!   DevTools' Memory panel and memlab.

pub mod heapsnapshot;
pub mod pprof;
