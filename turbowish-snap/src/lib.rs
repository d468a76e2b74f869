//! Reading TurboWish snapshots: what a heap snapshot says about who keeps
//! memory alive.
//!
//! A snapshot (`.twsnap`, the format in [`turbowish_format`]) is the live
//! heap of one process at one instant, as a graph of blocks, pointers and
//! roots, with the traced tasks that own them. This crate analyses it.
//!
//! - [`analysis`]: the heap graph, its dominator tree, retained sizes,
//!   per-task figures, leaks, bloat, retaining paths, where the resident
//!   memory went ([`analysis::resident`]) and the comparison of two
//!   snapshots, all from one entry, [`analysis::Analysis`].
//! - `export` (with the `export` feature, which `cli` enables): the
//!   snapshot in other tools' formats (pprof, V8 heap snapshots, flame
//!   graphs, a self-contained HTML report), rendered from the analysis.
//! - `cli` (with the `cli` feature, on by default): the `turbowish`
//!   command line as a library, [`cli::run`]; the binary only calls
//!   [`cli::main`]. Commands select and render what the analysis computed.
//! - Everything of [`turbowish_format`] (the model, [`read_file`],
//!   [`write_file`], [`files`], [`signal`], [`rules`], [`Builder`]) is
//!   re-exported here, so that one dependency reads and analyses snapshots.
//!
//! ```
//! use turbowish_snap::{Block, Snapshot, read, write};
//!
//! let mut snap = Snapshot::default();
//! snap.blocks.push(Block { addr: 0x1000, size: 64, task: 7, ..Block::default() });
//! let mut file = Vec::new();
//! write(&snap, &mut file)?;
//! assert_eq!(read(&file[..])?, snap);
//! # Ok::<(), turbowish_snap::Error>(())
//! ```

#![deny(missing_docs)]

pub mod analysis;
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "export")]
pub mod export;

pub use turbowish_format::*;
