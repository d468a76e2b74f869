//! Tasks: who owns an allocation, and which futures and values a snapshot
//! takes as roots.
//!
//! [`tag`] names the task an allocation made now belongs to (the task
//! wrapper's context, or tokio's task id). The task [`registry`] holds one
//! row per traced task ([`traced`], the wrapper that makes a future a task
//! TurboWish knows) and per named typed root ([`roots`]); the snapshot's fork
//! child reads it without a lock, and [`view`] reads it in-process for
//! `tasks()`.

pub(crate) mod registry;
pub(crate) mod roots;
pub(crate) mod tag;
pub(crate) mod traced;
pub(crate) mod view;
