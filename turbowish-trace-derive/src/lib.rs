//! `#[derive(Trace)]` for TurboWish.
//!
//! This crate will hold the procedural macro that implements
//! `turbowish_alloc::Trace` for user types: a walk over the heap blocks a value
//! owns, reporting each with its type name and field label, so that snapshots
//! carry exact, labelled edges where the conservative scan can only guess.
//! It is built the way `serde_derive` and `thiserror-impl` are: a thin
//! `lib.rs`, then parsing, validation with spanned errors, and expansion.
//!
//! The derive arrives with the task-root issue; until then the crate is an
//! empty proc-macro crate so the workspace layout is in place.
