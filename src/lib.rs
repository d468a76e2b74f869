//! TurboWish: a heap ownership tracer for async Rust. For every live heap
//! block it knows the task that allocated it and the call stack, and its
//! snapshots show which futures keep memory alive.
//!
//! This crate is the one name a service depends on. It re-exports the
//! runtime, `turbowish-alloc` (everything at the top level here, documented
//! there), and `#[derive(Trace)]`.
//!
//! # Setup
//!
//! Two lines: the global allocator, and [`install`] for snapshots on
//! `SIGUSR1`.
//!
//! ```no_run
//! #[global_allocator]
//! static ALLOC: turbowish::TurboWish = turbowish::TurboWish::system();
//!
//! fn main() {
//!     turbowish::install(); // `kill -USR1 <pid>` writes turbowish-<pid>-<n>.twsnap
//!     // ... and `turbowish::spawn(fut)` instead of `tokio::spawn(fut)`
//!     // for tasks that are rows and roots of their own.
//! }
//! ```
//!
//! Then read the snapshots with the `turbowish` command-line tool
//! (`cargo install --path turbowish-snap` from the repository):
//! `turbowish summary turbowish-4242-1.twsnap`, or `turbowish diff` of two.
//! The README is the manual: the commands, what their figures mean, the
//! configuration (`TURBOWISH_*` variables), the cost, and the limits.
//!
//! # Typed walks
//!
//! ```
//! # #[global_allocator]
//! # static ALLOC: turbowish::TurboWish = turbowish::TurboWish::system();
//! use std::sync::Arc;
//! use turbowish::Trace;
//!
//! #[derive(Trace)]
//! struct Cache {
//!     entries: Vec<String>,
//! }
//!
//! let cache = Arc::new(Cache { entries: vec!["a".into()] });
//! let _root = turbowish::root("cache", &cache); // named in every snapshot
//! assert_eq!(turbowish::walk(&*cache).edges[0].label, "entries");
//! ```
//!
//! # Features
//!
//! - `tokio` (default): tag allocations inside tokio task polls with the
//!   task's id; `Trace` for tokio's channels and locks.
//! - `derive` (default): `#[derive(Trace)]`.
//! - `bytes`: `Trace` for `bytes::Bytes` and `bytes::BytesMut`.
//! - `format`: `turbowish::format`, the `.twsnap` model, reader and writer, to read
//!   snapshots in code.

pub use turbowish_alloc::*;

/// `#[derive(Trace)]`: the derive of `turbowish-trace-derive`, whose code
/// names `::turbowish` (this crate) rather than `::turbowish_alloc`.
#[cfg(feature = "derive")]
pub use turbowish_trace_derive::FacadeTrace as Trace;

/// The `.twsnap` snapshot format: the model, its reader and writer (the
/// `turbowish-format` crate).
#[cfg(feature = "format")]
pub use turbowish_format as format;
