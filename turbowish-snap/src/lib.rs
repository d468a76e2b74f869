//! The TurboWish snapshot format and its analysis.
//!
//! This crate will hold three things, kept apart as bytehound keeps them:
//!
//! - the `.twsnap` file format (magic, version, zstd-compressed columnar
//!   tables of blocks, edges, roots, tasks, stacks and symbols), shared by the
//!   writer in `turbowish-alloc` and the reader here;
//! - the analysis: dominator tree, retained sizes per task and spawn site,
//!   diffs between two snapshots, shortest retaining paths;
//! - the `turbowish` command-line tool on top of both.
//!
//! They arrive with the snapshot and analysis issues; until then the crate is
//! empty so the workspace layout is in place.
