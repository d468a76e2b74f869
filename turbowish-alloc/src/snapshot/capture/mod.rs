//! Snapshot capture by `fork()` (being split into its parent's and child's
//! sides).

mod parent;

pub use parent::SnapshotInfo;
pub(crate) use parent::{Target, capture, open_dir_problem, reset_after_fork};
