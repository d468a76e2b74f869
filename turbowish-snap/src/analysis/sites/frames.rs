//! The lines of an allocation stack (each inlined function on its own),
//! which of them is machinery, which names the site, and how a line is
//! named.
//!
//! # Rules
//!
//! 1. **Machinery** never names a site: the allocator (TurboWish, the
//!    global allocator's `__rust_*` entry points), the standard library
//!    (`std`, `core`, `alloc` and std's own dependencies), `hashbrown` and
//!    `tokio`, by function name or, since `debug = "line-tables-only"`
//!    records inlined functions without their path, by source path.
//! 2. **Nor does where a process or thread starts**: libc's start
//!    functions and the C `main` trampoline. A stack of machinery only
//!    (std's own start-up allocations) is named by its outermost line that
//!    is not one of those: `std: rt::lang_start_internal`.

use super::names::short_function;
use super::origin::{Dependency, dependency};
use super::short_path;
use crate::model::{Frame, Snapshot, StackIndex, Symbol};

/// One line of a stack: a function of a frame (inlined ones first), or a
/// frame without symbols.
#[derive(Debug, Clone, Copy)]
pub struct Line<'s> {
    /// The frame.
    pub frame: &'s Frame,
    /// The function, or `None` for an unsymbolized frame.
    pub symbol: Option<&'s Symbol>,
}

/// The lines of stack `stack` of `snap`, innermost first.
pub fn lines(snap: &Snapshot, stack: StackIndex) -> Vec<Line<'_>> {
    let frames = snap.stack(stack).iter();
    let mut lines = Vec::new();
    for frame in frames.filter_map(|f| snap.frames.get(f.index())) {
        if frame.symbols.is_empty() {
            lines.push(Line {
                frame,
                symbol: None,
            });
        }
        for symbol in &frame.symbols {
            lines.push(Line {
                frame,
                symbol: Some(symbol),
            });
        }
    }
    lines
}

/// Function-name prefixes of the standard library.
pub(super) const STD: &[&str] = &[
    "alloc::", "core::", "std::", "<alloc::", "<core::", "<std::",
];

/// Function-name prefixes of other machinery (rule 1).
const MACHINERY: &[&str] = &[
    "__rust",
    "__rg_",
    "__rdl_",
    "turbowish_alloc::",
    "<turbowish_alloc::",
    "hashbrown::",
    "<hashbrown::",
    "tokio::",
    "<tokio::",
];

/// Source paths of the standard library and its dependencies, as rustc
/// records them or from `rust-src`.
pub(super) const STD_PATHS: &[&str] = &["/rustc/", "/rust/deps/", "/rustlib/src/rust/library/"];

/// Source paths of TurboWish's allocator, from a path or git checkout.
pub(super) const TURBOWISH_PATH: &str = "/turbowish-alloc/src/";

/// Crates (by the name their source path gives) that are machinery.
const MACHINERY_CRATES: &[&str] = &["turbowish-alloc", "hashbrown", "tokio"];

/// Whether `function` is the standard library's, by its path.
pub(super) fn is_std_name(function: &str) -> bool {
    STD.iter().any(|p| function.starts_with(p))
}

/// Whether `file` is one of the standard library's sources.
pub(super) fn is_std_path(file: &str) -> bool {
    STD_PATHS.iter().any(|p| file.contains(p))
}

/// Whether `function` is allocator or standard-library machinery by its
/// name alone.
pub fn is_machinery(function: &str) -> bool {
    function.is_empty()
        || is_std_name(function)
        || MACHINERY.iter().any(|p| function.starts_with(p))
}

/// Whether `sym` is machinery, by its function name or its source file.
pub fn is_machinery_symbol(snap: &Snapshot, sym: &Symbol) -> bool {
    let file = sym.file.map_or("", |f| snap.string(f));
    let from_crate =
        || super::origin::crate_of_path(file).is_some_and(|d| MACHINERY_CRATES.contains(&&*d.name));
    is_machinery(snap.string(sym.function))
        || is_std_path(file)
        || file.contains(TURBOWISH_PATH)
        || from_crate()
}

/// The line that names a stack: its innermost symbol that is neither
/// machinery nor where a process or thread starts; failing that its first
/// unsymbolized frame; failing that its outermost symbol that is not where
/// a process or thread starts (`std: rt::lang_start_internal` for std's
/// own start-up allocations); failing that its last line. `None` for an
/// empty stack.
pub fn site_line(snap: &Snapshot, lines: &[Line]) -> Option<usize> {
    let symbol = |l: &Line| l.symbol.is_some() && !is_entry(snap, l);
    let own = |l: &Line| symbol(l) && l.symbol.is_some_and(|s| !is_machinery_symbol(snap, s));
    (lines.iter().position(own))
        .or_else(|| lines.iter().position(|l| l.symbol.is_none()))
        .or_else(|| lines.iter().rposition(symbol))
        .or_else(|| lines.len().checked_sub(1))
}

/// Whether `line` is libc's start of a process or thread, or the C `main`
/// trampoline (a `main` without source).
pub(super) fn is_entry(snap: &Snapshot, line: &Line) -> bool {
    let trampoline = line
        .symbol
        .is_some_and(|s| snap.string(s.function) == "main" && s.file.is_none());
    trampoline || is_libc_start(snap, line)
}

/// A line's parts: where its code comes from, its function (as recorded,
/// or shortened), and its location (`file:line` with the file shortened,
/// or `module+offset` for an unsymbolized frame).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineName {
    /// The crate or library, when it is not the program's own code.
    pub dependency: Option<Dependency>,
    /// The function, or the frame's address.
    pub function: String,
    /// Where, if known.
    pub location: Option<String>,
}

impl LineName {
    /// `dependency: function (location)`, each part when known.
    pub fn text(&self) -> String {
        let mut text = match &self.dependency {
            Some(d) => format!("{d}: {}", self.function),
            None => self.function.clone(),
        };
        if let Some(l) = &self.location {
            text.push_str(&format!(" ({l})"));
        }
        text
    }
}

/// The parts of `line`, its function shortened unless `full`.
pub fn line_name(snap: &Snapshot, line: &Line, full: bool) -> LineName {
    let Some(sym) = line.symbol else {
        let module = line.frame.module.and_then(|m| snap.modules.get(m.index()));
        return LineName {
            dependency: None,
            function: format!("{:#x}", line.frame.addr),
            location: module.map(|m| {
                let name = snap.string(m.path).rsplit('/').next().unwrap_or_default();
                format!("{name}+{:#x}", line.frame.addr.wrapping_sub(m.bias))
            }),
        };
    };
    let file = sym.file.map(|f| snap.string(f));
    let function = snap.string(sym.function);
    LineName {
        dependency: dependency(snap, line.frame, file),
        function: match full {
            true => function.to_owned(),
            false => short_function(function),
        },
        location: file.map(|f| match sym.line {
            0 => short_path(f).to_owned(),
            n => format!("{}:{n}", short_path(f)),
        }),
    }
}

/// libc's functions that start the process or a thread.
const LIBC_START: &[&str] = &[
    "_start",
    "__libc_start_main",
    "__libc_start_main_impl",
    "__libc_start_main_alias_2",
    "__libc_start_call_main",
    "start_thread",
    "clone",
    "clone3",
    "__clone",
    "__clone3",
    "__clone_internal",
];

/// Whether `line` is one of libc's start functions (not a Rust `clone`).
pub(super) fn is_libc_start(snap: &Snapshot, line: &Line) -> bool {
    line.symbol.is_some_and(|s| {
        let not_rust = s.file.is_none_or(|f| !snap.string(f).ends_with(".rs"));
        not_rust && LIBC_START.contains(&snap.string(s.function))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machinery_is_recognized() {
        for f in [
            "__rust_alloc",
            "__rg_alloc",
            "alloc::raw_vec::finish_grow",
            "<alloc::vec::Vec<T> as core::clone::Clone>::clone",
            "std::collections::hash::map::HashMap<K,V,S>::insert",
            "hashbrown::raw::RawTable<T>::reserve_rehash",
            "turbowish_alloc::shim::record",
            "",
        ] {
            assert!(is_machinery(f), "{f}");
        }
        for f in [
            "svc::main",
            "<svc::Conn as core::future::Future>::poll",
            "allocate",
        ] {
            assert!(!is_machinery(f), "{f}");
        }
    }
}
