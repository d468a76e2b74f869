//! Snapshots in other tools' formats, so that a heap reaches the tools a
//! team already runs (`go tool pprof`, Pyroscope, Parca, ...).
//!
//! # Rules
//!
//! 1. **Exports render, they never analyse**: every figure comes from
//!    [`Analysis`](crate::analysis::Analysis) and the modules beside it
//!    (sites, tasks, spawn sites, diffs), so an export and the matching
//!    `turbowish` command always agree.
//! 2. **One module per format**, with its own typed errors; the CLI only
//!    picks one and names the output.
//! 3. **Totals stay exact**: what an export adds up to (live bytes and
//!    blocks, per-task figures) equals what `summary`, `tasks` and `diff`
//!    print for the same files.

pub mod pprof;
