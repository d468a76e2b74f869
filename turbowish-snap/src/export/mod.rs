//! Snapshots in other tools' formats: flame graphs, HTML reports and the
//! like, for the viewers and backends users already have.
//!
//! # Rules
//!
//! 1. **Render, never re-derive.** An export draws what
//!    [`Analysis`](crate::analysis::Analysis) and its parts computed
//!    (sites, tasks, dominators, retained sizes, the comparison of two
//!    snapshots); it computes no figure of its own that a command could
//!    print differently.
//! 2. **Totals agree with the commands.** Whatever an export sums to is
//!    a figure `summary`, `tasks` or `diff` prints, and each export says
//!    which.
//! 3. **Names from the file are untrusted**: every export escapes them for
//!    its format.
//! 4. **Errors are typed**, one enum per format; the CLI words them.

pub mod flame;
pub mod folded;
pub mod report;
