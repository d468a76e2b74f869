//! What commands print alike: tables, quantities, colors, escaping, the
//! names of holders, and the rows two commands share. Rendering only: what
//! is printed is computed in [`crate::analysis`].

pub mod color;
pub mod dominator;
pub mod file;
pub mod holder;
pub mod rows;
pub mod table;
pub mod text;
pub mod units;
pub mod wake_path;
