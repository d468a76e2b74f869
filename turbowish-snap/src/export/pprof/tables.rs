//! The profile's tables: strings, mappings, functions and locations, each
//! entry once by content (so that the two snapshots of a diff share them),
//! and the location ids of each stack of a snapshot (rules 3 and 4 of
//! [`pprof`](super)).

use super::profile::{Function, Line, Location, Mapping};
use crate::analysis::sites::frames::{lines, site_line};
use crate::analysis::sites::names::short_function;
use crate::model::{Frame, ModuleIndex, Snapshot, StackIndex};
use std::collections::HashMap;

/// Where a location is and what is there: address, mapping, and
/// `(function id, line)` per line, inlined functions first.
type LocationKey = (u64, u64, Vec<(u64, i64)>);

/// The interned tables of one profile.
#[derive(Debug)]
pub(super) struct Tables {
    strings: Vec<String>,
    string_ids: HashMap<String, i64>,
    pub(super) mappings: Vec<Mapping>,
    mapping_ids: HashMap<(i64, u64, u64), u64>,
    pub(super) functions: Vec<Function>,
    function_ids: HashMap<(i64, i64), u64>,
    pub(super) locations: Vec<Location>,
    location_ids: HashMap<LocationKey, u64>,
}

impl Tables {
    /// Empty tables: the string table holds `""` alone.
    pub(super) fn new() -> Tables {
        Tables {
            strings: vec![String::new()],
            string_ids: HashMap::from([(String::new(), 0)]),
            mappings: Vec::new(),
            mapping_ids: HashMap::new(),
            functions: Vec::new(),
            function_ids: HashMap::new(),
            locations: Vec::new(),
            location_ids: HashMap::new(),
        }
    }

    /// The index of `s` in the string table.
    pub(super) fn string(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.string_ids.get(s) {
            return i;
        }
        let i = self.strings.len() as i64;
        self.strings.push(s.to_owned());
        self.string_ids.insert(s.to_owned(), i);
        i
    }

    /// The string table.
    pub(super) fn into_strings(self) -> Vec<String> {
        self.strings
    }

    /// The id of the mapping of `module` of `snap`.
    fn mapping(&mut self, snap: &Snapshot, module: ModuleIndex) -> u64 {
        let Some(m) = snap.modules.get(module.index()) else {
            return 0;
        };
        let filename = self.string(snap.string(m.path));
        let key = (filename, m.start, m.end);
        if let Some(&id) = self.mapping_ids.get(&key) {
            return id;
        }
        let build_id: String = m.build_id.iter().map(|b| format!("{b:02x}")).collect();
        let build_id = self.string(&build_id);
        let symbolized = !snap.frames.is_empty();
        let id = self.mappings.len() as u64 + 1;
        self.mappings.push(Mapping {
            id,
            memory_start: m.start,
            memory_limit: m.end,
            // `address - memory_start + file_offset` is the link-time
            // address: pprof's tools map it back into the file with it.
            file_offset: m.start.wrapping_sub(m.bias),
            filename,
            build_id,
            has_functions: symbolized,
            has_filenames: symbolized,
            has_line_numbers: symbolized,
            has_inline_frames: symbolized,
        });
        self.mapping_ids.insert(key, id);
        id
    }

    /// The mappings of `snap`'s modules, its executable's first (pprof
    /// takes the first mapping as the main binary).
    pub(super) fn add_mappings(&mut self, snap: &Snapshot) {
        let exe = snap.string(snap.process.exe);
        let mut order: Vec<ModuleIndex> = (0..snap.modules.len() as u32)
            .map(ModuleIndex::new)
            .collect();
        order.sort_by_key(|m| snap.string(snap.modules[m.index()].path) != exe);
        for m in order {
            self.mapping(snap, m);
        }
    }

    /// The id of the function named `name` (in full, as symbolized), in
    /// source file `file`; pprof shows it shortened as `sites` does (rule
    /// 3), since its own shortening of Rust names keeps only what follows
    /// the last `>` (`<T as Trait>::call` becomes `::call`).
    fn function(&mut self, name: &str, file: &str) -> u64 {
        let key = (self.string(name), self.string(file));
        if let Some(&id) = self.function_ids.get(&key) {
            return id;
        }
        let id = self.functions.len() as u64 + 1;
        let short = self.string(&short_function(name));
        self.functions.push(Function {
            id,
            name: short,
            system_name: key.0,
            filename: key.1,
            start_line: 0,
        });
        self.function_ids.insert(key, id);
        id
    }

    /// The id of the location at `address` in `mapping_id` with `lines`.
    fn location(&mut self, address: u64, mapping_id: u64, lines: Vec<(u64, i64)>) -> u64 {
        let key = (address, mapping_id, lines);
        if let Some(&id) = self.location_ids.get(&key) {
            return id;
        }
        let id = self.locations.len() as u64 + 1;
        self.locations.push(Location {
            id,
            mapping_id,
            address,
            line: (key.2.iter())
                .map(|&(function_id, line)| Line { function_id, line })
                .collect(),
            is_folded: false,
        });
        self.location_ids.insert(key, id);
        id
    }

    /// The id of a location without code: one line of a function named
    /// `name` (`[no stack recorded]`: rule 4).
    pub(super) fn synthetic(&mut self, name: &str) -> u64 {
        let function = self.function(name, "");
        self.location(0, 0, vec![(function, 0)])
    }

    /// The location of `frame` of `snap` without its first `skip` lines.
    fn frame(&mut self, snap: &Snapshot, frame: &Frame, skip: usize) -> u64 {
        let mapping = frame.module.map_or(0, |m| self.mapping(snap, m));
        let lines = (frame.symbols.iter().skip(skip))
            .map(|s| {
                let file = s.file.map_or("", |f| snap.string(f));
                let function = self.function(snap.string(s.function), file);
                (function, i64::from(s.line))
            })
            .collect();
        self.location(frame.addr, mapping, lines)
    }

    /// The location ids of stack `stack` of `snap`, leaf first, from the
    /// line that names its allocation site (rule 3).
    pub(super) fn stack(&mut self, snap: &Snapshot, stack: StackIndex) -> Vec<u64> {
        let mut hidden = site_line(snap, &lines(snap, stack)).unwrap_or(0);
        let mut ids = Vec::new();
        for frame in (snap.stack(stack).iter()).filter_map(|f| snap.frames.get(f.index())) {
            let lines = frame.symbols.len().max(1);
            if hidden >= lines {
                hidden -= lines;
                continue;
            }
            ids.push(self.frame(snap, frame, std::mem::take(&mut hidden)));
        }
        ids
    }
}
