//! What the writer of snapshots (the runtime, `turbowish-alloc`) and their
//! reader (`turbowish-snap`: the analysis and the CLI) must agree on, each
//! rule defined once, here, and used by both sides.
//!
//! - [`files`]: snapshot file names (`turbowish-<pid>-<seq>.twsnap`),
//!   temporary names, and writing files no other user can read or redirect.
//!   The runtime writes and cleans up; the CLI looks for new files.
//! - [`signal`]: the `TURBOWISH_SIGNAL` grammar, and which signals may take
//!   snapshots. The runtime installs its handler by it; `turbowish snap`
//!   sends the signal the process really listens to.
//! - [`tags`]: the width of a block's task tag. The runtime truncates task
//!   ids to it; the reader matches tasks to their blocks by it.

pub mod files;
pub mod signal;
pub mod tags;

pub use tags::tag;
