//! Snapshots in other tools' formats: so that a heap TurboWish captured
//! opens in the profilers, viewers and backends users already run.
//!
//! # Rules
//!
//! 1. **Render, never re-derive.** An export writes what
//!    [`crate::analysis`] computed (the heap graph and its weak pointers,
//!    dominators, retained sizes, sites, tasks): it asks
//!    [`Analysis`](crate::analysis::Analysis) and never computes those
//!    figures a second time, so the other tool shows TurboWish's numbers.
//! 2. **One module per format**, each with its own typed errors; none
//!    imports another.
//! 3. **Stream.** A format is written as it is produced, into any
//!    [`std::io::Write`]: memory stays linear in the snapshot, never in the
//!    size of the text written.
//!
//! Formats:
//!
//! - [`heapsnapshot`]: a V8 heap snapshot (`.heapsnapshot`), for Chrome
//!   DevTools' Memory panel and memlab.

pub mod heapsnapshot;
