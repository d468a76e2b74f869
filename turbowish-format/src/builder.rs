//! Building a [`Snapshot`]: strings interned once, frames and stacks added
//! by index.
//!
//! Every name in a snapshot is an index into [`Snapshot::strings`], so code
//! that makes snapshots (the capture, tests, benchmarks) needs one table
//! from string to index. [`StringTable`] is that table, kept beside a
//! snapshot; [`Builder`] owns both, with helpers for symbols, frames and
//! stacks.
//!
//! A builder checks nothing: [`write`](crate::write()) validates what it
//! writes (blocks sorted by address, indices in range).

use crate::index::{FrameIndex, StackIndex, StringIndex};
use crate::model::{Frame, Snapshot, Symbol};
use std::collections::HashMap;

/// The index of every string of a snapshot, for adding more without
/// repeats.
#[derive(Debug, Clone, Default)]
pub struct StringTable(HashMap<String, StringIndex>);

impl StringTable {
    /// Indexes the strings `snap` already holds (the first of any repeats).
    pub fn new(snap: &Snapshot) -> Self {
        let mut map = HashMap::with_capacity(snap.strings.len());
        for (i, s) in snap.strings.iter().enumerate() {
            map.entry(s.clone()).or_insert(StringIndex::new(i as u32));
        }
        StringTable(map)
    }

    /// The index of `s` in `snap.strings`, adding it if new. `snap` must be
    /// the snapshot this table indexes.
    pub fn intern(&mut self, snap: &mut Snapshot, s: &str) -> StringIndex {
        if let Some(&i) = self.0.get(s) {
            return i;
        }
        let i = StringIndex::new(snap.strings.len() as u32);
        snap.strings.push(s.to_owned());
        self.0.insert(s.to_owned(), i);
        i
    }
}

/// A snapshot being built, with its [`StringTable`].
///
/// ```
/// use turbowish_format::{Builder, StringIndex};
///
/// let mut b = Builder::new();
/// let a = b.string("src/main.rs");
/// assert_eq!(b.string("src/main.rs"), a);
/// assert_eq!(b.string(""), StringIndex::EMPTY); // string 0 is the empty string
/// assert_eq!(b.build().strings, ["", "src/main.rs"]);
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    snap: Snapshot,
    strings: StringTable,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::from_snapshot(Snapshot::default())
    }
}

impl Builder {
    /// A builder of an empty snapshot ([`Snapshot::default`]).
    pub fn new() -> Builder {
        Builder::default()
    }

    /// A builder that goes on from `snap`, its strings indexed.
    pub fn from_snapshot(snap: Snapshot) -> Builder {
        let strings = StringTable::new(&snap);
        Builder { snap, strings }
    }

    /// The index of `s`, added if new.
    pub fn string(&mut self, s: &str) -> StringIndex {
        self.strings.intern(&mut self.snap, s)
    }

    /// A symbol: a function, its source file if known, and a line (0 for
    /// none).
    pub fn symbol(&mut self, function: &str, file: Option<&str>, line: u32) -> Symbol {
        Symbol {
            function: self.string(function),
            file: file.map(|f| self.string(f)),
            line,
        }
    }

    /// Adds `frame`; returns its index.
    pub fn frame(&mut self, frame: Frame) -> FrameIndex {
        self.snap.frames.push(frame);
        FrameIndex::new(self.snap.frames.len() as u32 - 1)
    }

    /// Adds a stack of `frames` (indices, innermost first); returns its
    /// index.
    pub fn stack(&mut self, frames: &[FrameIndex]) -> StackIndex {
        self.snap.stacks.push(frames.to_vec());
        StackIndex::new(self.snap.stacks.len() as u32 - 1)
    }

    /// The snapshot so far.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snap
    }

    /// The snapshot so far, to fill in its other tables. Strings pushed
    /// here directly are not indexed: add them with [`Builder::string`].
    pub fn snapshot_mut(&mut self) -> &mut Snapshot {
        &mut self.snap
    }

    /// The snapshot built.
    pub fn build(self) -> Snapshot {
        self.snap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_interned_once_and_existing_ones_found() {
        let mut snap = Snapshot::default();
        snap.strings
            .extend(["a".to_owned(), "b".to_owned(), "a".to_owned()]);
        let mut b = Builder::from_snapshot(snap);
        let s = StringIndex::new;
        assert_eq!(
            (b.string("a"), b.string("b"), b.string("")),
            (s(1), s(2), s(0))
        );
        assert_eq!(b.string("c"), s(4));
        assert_eq!(b.string("c"), s(4));
        let sym = b.symbol("f", Some("a"), 3);
        assert_eq!((sym.function, sym.file, sym.line), (s(5), Some(s(1)), 3));
        let f = b.frame(Frame::default());
        assert_eq!(f, FrameIndex::new(0));
        assert_eq!(b.stack(&[f, f]), StackIndex::new(1));
        let snap = b.build();
        assert_eq!(snap.strings, ["", "a", "b", "a", "c", "f"]);
        assert_eq!(snap.stacks, [vec![], vec![f, f]]);
    }
}
