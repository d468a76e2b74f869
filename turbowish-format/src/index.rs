//! Typed indices into a [`Snapshot`](crate::Snapshot)'s tables.
//!
//! Every reference inside a snapshot is the position of a row in one of its
//! tables, and all of them are `u32` on the wire. Typed, a block index cannot
//! be passed where a string index is wanted, nor a task's position in
//! [`Snapshot::tasks`](crate::Snapshot::tasks) where its tokio id
//! ([`Task::id`](crate::Task::id)) is.
//!
//! # Rules
//!
//! 1. **An index names a position, never an identity.** The names end in
//!    `Index`, never `Id`: ids (a tokio task id, the runtime's `StackId`, a
//!    task's serial) outlive one snapshot; an index means something only
//!    inside the snapshot it came from.
//! 2. **The wire form is the `u32`.** Each type is `#[repr(transparent)]`
//!    and `#[serde(transparent)]`: the file format is the same as with bare
//!    `u32`s (the golden files check it byte for byte).
//! 3. **`Default` only where index 0 means something**: string 0 is the
//!    empty string ([`StringIndex::EMPTY`]), stack 0 the empty stack
//!    ([`StackIndex::EMPTY`]). A default block, frame, module or task index
//!    would name an arbitrary row.
//! 4. **Tables are indexed directly.** `snap.blocks[b]` takes a
//!    [`BlockIndex`], and so on for each table: conversions to `usize` stay
//!    out of the code that reads a snapshot.
//!
//! ```
//! use turbowish_format::{Snapshot, StringIndex};
//!
//! let snap = Snapshot::default();
//! assert_eq!(snap.string(StringIndex::EMPTY), "");
//! ```
//!
//! A block index where a string index is wanted does not compile:
//!
//! ```compile_fail,E0308
//! # use turbowish_format::{BlockIndex, Snapshot};
//! # let snap = Snapshot::default();
//! snap.string(BlockIndex::new(0));
//! ```
//!
//! Nor does a task's id where its index is wanted:
//!
//! ```compile_fail,E0308
//! # use turbowish_format::{Snapshot, Task};
//! # let mut snap = Snapshot::default();
//! # snap.tasks.push(Task::default());
//! snap.task(snap.tasks[0].id);
//! ```

use crate::model::{Block, Frame, Module, Task};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Index, IndexMut};

/// Defines an index type, its conversions, and (with `=> Row`) indexing of
/// slices and vectors of `Row` by it.
macro_rules! index_type {
    ($(#[$doc:meta])* $name:ident $(=> $row:ty)?) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        #[repr(transparent)]
        #[serde(transparent)]
        pub struct $name(u32);

        impl $name {
            /// The index `i`.
            pub const fn new(i: u32) -> Self {
                $name(i)
            }

            /// The index of the row at position `i` of a table, if it fits
            /// in 32 bits.
            pub fn from_usize(i: usize) -> Option<Self> {
                u32::try_from(i).ok().map($name)
            }

            /// The index as stored.
            pub const fn get(self) -> u32 {
                self.0
            }

            /// The index, to index a slice with.
            pub const fn index(self) -> usize {
                self.0 as usize
            }
        }

        impl From<$name> for u32 {
            fn from(i: $name) -> u32 {
                i.0
            }
        }

        impl From<$name> for usize {
            fn from(i: $name) -> usize {
                i.index()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        $(index_type!(@table $name => $row);)?
    };
    (@table $name:ident => $row:ty) => {
        impl Index<$name> for [$row] {
            type Output = $row;
            fn index(&self, i: $name) -> &$row {
                &self[i.index()]
            }
        }

        impl IndexMut<$name> for [$row] {
            fn index_mut(&mut self, i: $name) -> &mut $row {
                &mut self[i.index()]
            }
        }

        impl Index<$name> for Vec<$row> {
            type Output = $row;
            fn index(&self, i: $name) -> &$row {
                &self[i.index()]
            }
        }

        impl IndexMut<$name> for Vec<$row> {
            fn index_mut(&mut self, i: $name) -> &mut $row {
                &mut self[i.index()]
            }
        }
    };
}

index_type!(
    /// A row of [`Snapshot::strings`](crate::Snapshot::strings): a name,
    /// path or label. Read it with [`Snapshot::string`](crate::Snapshot::string).
    StringIndex => String
);
index_type!(
    /// A row of [`Snapshot::modules`](crate::Snapshot::modules).
    ModuleIndex => Module
);
index_type!(
    /// A row of [`Snapshot::frames`](crate::Snapshot::frames): one code
    /// address.
    FrameIndex => Frame
);
index_type!(
    /// A row of [`Snapshot::stacks`](crate::Snapshot::stacks). Not the
    /// runtime's `StackId`, which the capture maps to one of these.
    StackIndex => Vec<FrameIndex>
);
index_type!(
    /// A row of [`Snapshot::blocks`](crate::Snapshot::blocks): one live
    /// block. Not an address: blocks are sorted by address, so the index is
    /// its rank among the snapshot's blocks.
    BlockIndex => Block
);
index_type!(
    /// A row of [`Snapshot::tasks`](crate::Snapshot::tasks). Not the task's
    /// id ([`Task::id`](crate::Task::id)) nor its serial.
    TaskIndex => Task
);

impl StringIndex {
    /// String 0, the empty string: "no name".
    pub const EMPTY: StringIndex = StringIndex(0);

    /// Whether this is string 0, the empty string.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl Default for StringIndex {
    fn default() -> Self {
        StringIndex::EMPTY
    }
}

impl StackIndex {
    /// Stack 0, the empty stack: "no allocation stack".
    pub const EMPTY: StackIndex = StackIndex(0);
}

impl Default for StackIndex {
    fn default() -> Self {
        StackIndex::EMPTY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_are_their_u32_on_the_wire() {
        let i = BlockIndex::new(300);
        let wire = postcard::to_stdvec(&i).unwrap();
        assert_eq!(wire, postcard::to_stdvec(&300u32).unwrap());
        assert_eq!(postcard::from_bytes::<BlockIndex>(&wire).unwrap(), i);
    }

    #[test]
    fn tables_are_indexed_by_their_own_index() {
        let mut blocks: Vec<Block> = (0..2).map(|_| Block::default()).collect();
        blocks[BlockIndex::new(1)].size = 7;
        assert_eq!(blocks[BlockIndex::new(1)].size, 7);
        assert_eq!(blocks[..][BlockIndex::new(1)].size, 7);
        assert_eq!(BlockIndex::from_usize(1), Some(BlockIndex::new(1)));
        assert_eq!(BlockIndex::from_usize(1 << 32), None);
        assert_eq!(usize::from(BlockIndex::new(1)), 1);
        assert!(StringIndex::default().is_empty());
        assert_eq!(StackIndex::default(), StackIndex::EMPTY);
    }
}
