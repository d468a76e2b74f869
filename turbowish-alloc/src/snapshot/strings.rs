//! Interning strings into a snapshot's string table.

use std::collections::HashMap;
use turbowish_snap::Snapshot;

/// The index of every string already in a snapshot, for adding more without
/// repeats.
pub(crate) struct StringTable(HashMap<String, u32>);

impl StringTable {
    /// Indexes the strings `snap` already holds (the first of any repeats).
    pub(crate) fn new(snap: &Snapshot) -> Self {
        let mut map = HashMap::with_capacity(snap.strings.len());
        for (i, s) in snap.strings.iter().enumerate() {
            map.entry(s.clone()).or_insert(i as u32);
        }
        StringTable(map)
    }

    /// The index of `s` in `snap.strings`, adding it if new.
    pub(crate) fn intern(&mut self, snap: &mut Snapshot, s: &str) -> u32 {
        if let Some(&i) = self.0.get(s) {
            return i;
        }
        let i = snap.strings.len() as u32;
        snap.strings.push(s.to_owned());
        self.0.insert(s.to_owned(), i);
        i
    }
}
