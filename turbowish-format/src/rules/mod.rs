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
//! - [`sampling`]: which blocks carry a stack when stacks are sampled. The
//!   runtime chooses by it; the reader weighs its site figures by it.
//! - [`tags`]: the width of a block's task tag. The runtime truncates task
//!   ids to it; the reader matches tasks to their blocks by it.
//! - [`tasks`]: how a traced task's recorded progress reads as a
//!   [`TaskState`](crate::TaskState), in the runtime's own listing and in
//!   its snapshots alike.

pub mod files;
pub mod sampling;
pub mod signal;
pub mod tags;
pub mod tasks;

pub use tags::tag;
