//! Allocation sites: the live blocks of each allocation stack, and the
//! name of a stack: its first frame that is the program's own code rather
//! than allocator or standard-library machinery.

use crate::model::{Block, Frame, Snapshot, Symbol, Task};

/// Function-name prefixes of frames that are allocation machinery (the
/// allocator, `alloc`/`core`/`std`, hashbrown's tables, tokio's runtime),
/// never the site: a task cell is allocated where `spawn` was called.
const MACHINERY: &[&str] = &[
    "alloc::",
    "core::",
    "std::",
    "<alloc::",
    "<core::",
    "<std::",
    "__rust",
    "__rg_",
    "turbowish_alloc::",
    "<turbowish_alloc::",
    "hashbrown::",
    "<hashbrown::",
    "tokio::",
    "<tokio::",
];

/// Source paths of machinery: std's sources (as rustc records them) and
/// TurboWish's allocator from a checkout. Needed besides the names because
/// with `debug = "line-tables-only"` inlined frames carry only short names
/// (`here`, not `turbowish_alloc::stack::Origin::here`).
const MACHINERY_PATHS: &[&str] = &["/rustc/", "/turbowish-alloc/src/"];

/// Crates whose registry sources (`.../NAME-VERSION/src/...`) are machinery.
const MACHINERY_CRATES: &[&str] = &["turbowish-alloc", "hashbrown", "tokio"];

/// Whether `sym` is machinery, by its function name or its source file.
fn is_machinery_symbol(snap: &Snapshot, sym: &Symbol) -> bool {
    let file = sym.file.map_or("", |f| snap.string(f));
    is_machinery(snap.string(sym.function))
        || MACHINERY_PATHS.iter().any(|p| file.contains(p))
        || MACHINERY_CRATES.iter().any(|c| in_registry_crate(file, c))
}

/// Whether `file` lies in a directory named `krate-VERSION` (a registry
/// checkout), such as `.../tokio-1.48.0/src/task.rs`: a user's own
/// `tokio-service/` directory is not one.
fn in_registry_crate(file: &str, krate: &str) -> bool {
    file.split('/').any(|dir| {
        dir.strip_prefix(krate)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|version| version.starts_with(|c: char| c.is_ascii_digit()))
    })
}

/// What an allocation site is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteName {
    /// The function, or `None` when no stack was recorded.
    pub function: Option<String>,
    /// `file:line` (or `module+offset` for an unsymbolized frame), if known.
    pub location: Option<String>,
}

impl SiteName {
    /// `function (location)`, or `None` when no stack was recorded.
    pub fn label(&self) -> Option<String> {
        match (&self.function, &self.location) {
            (Some(f), Some(l)) => Some(format!("{f} ({l})")),
            (Some(f), None) => Some(f.clone()),
            _ => None,
        }
    }
}

/// Whether `function` is allocator or standard-library machinery.
pub fn is_machinery(function: &str) -> bool {
    function.is_empty() || MACHINERY.iter().any(|p| function.starts_with(p))
}

/// Names the stack `stack` of `snap` by its innermost symbol that is not
/// machinery; failing that by its first unsymbolized frame (as an address);
/// failing that by its outermost symbol.
pub fn name_stack(snap: &Snapshot, stack: u32) -> SiteName {
    let frames: Vec<&Frame> = snap
        .stacks
        .get(stack as usize)
        .into_iter()
        .flatten()
        .filter_map(|&f| snap.frames.get(f as usize))
        .collect();
    if frames.is_empty() {
        return SiteName {
            function: None,
            location: None,
        };
    }
    let symbols = || frames.iter().flat_map(|f| &f.symbols);
    if let Some(sym) = symbols().find(|s| !is_machinery_symbol(snap, s)) {
        return symbol_name(snap, sym);
    }
    if let Some(frame) = frames.iter().find(|f| f.symbols.is_empty()) {
        return address_name(snap, frame);
    }
    symbols()
        .last()
        .map_or_else(|| address_name(snap, frames[0]), |s| symbol_name(snap, s))
}

fn symbol_name(snap: &Snapshot, sym: &Symbol) -> SiteName {
    let location = sym.file.map(|f| {
        let file = short_path(snap.string(f));
        match sym.line {
            0 => file.to_owned(),
            line => format!("{file}:{line}"),
        }
    });
    SiteName {
        function: Some(snap.string(sym.function).to_owned()),
        location,
    }
}

/// An unsymbolized frame: its address, and its module-relative address.
fn address_name(snap: &Snapshot, frame: &Frame) -> SiteName {
    let module = frame.module.and_then(|m| snap.modules.get(m as usize));
    let location = module.map(|m| {
        let name = snap.string(m.path).rsplit('/').next().unwrap_or_default();
        format!("{name}+{:#x}", frame.addr.wrapping_sub(m.bias))
    });
    SiteName {
        function: Some(format!("{:#x}", frame.addr)),
        location,
    }
}

/// Where task `t` of `snap` was spawned, as `file:line` with the file
/// shortened, or `(unknown)`.
pub fn spawned_at(snap: &Snapshot, t: &Task) -> String {
    match snap.string(t.file) {
        "" => "(unknown)".to_owned(),
        file => format!("{}:{}", short_path(file), t.line),
    }
}

/// The live blocks of one allocation stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SiteTotal {
    /// The allocation stack (index into [`Snapshot::stacks`]).
    pub stack: u32,
    /// Live blocks allocated there, and their bytes (saturating).
    pub blocks: u64,
    /// See `blocks`.
    pub bytes: u64,
}

/// The allocation sites of the blocks `keep` accepts, largest first (ties:
/// more blocks first, then by stack).
pub fn by_stack(snap: &Snapshot, keep: impl Fn(&Block) -> bool) -> Vec<SiteTotal> {
    let mut per_stack = vec![(0u64, 0u64); snap.stacks.len()];
    for b in snap.blocks.iter().filter(|b| keep(b)) {
        if let Some((blocks, bytes)) = per_stack.get_mut(b.stack as usize) {
            *blocks += 1;
            *bytes = bytes.saturating_add(b.size);
        }
    }
    let mut sites: Vec<SiteTotal> = (0u32..)
        .zip(per_stack)
        .filter(|(_, (blocks, _))| *blocks > 0)
        .map(|(stack, (blocks, bytes))| SiteTotal {
            stack,
            blocks,
            bytes,
        })
        .collect();
    sites.sort_by(|a, b| (b.bytes, b.blocks, a.stack).cmp(&(a.bytes, a.blocks, b.stack)));
    sites
}

/// Stack `stack`'s frames, innermost first, each inlined function on its
/// own: `function (file:line)` with the file shortened, or the address of
/// an unsymbolized frame.
pub fn stack_frames(snap: &Snapshot, stack: u32) -> Vec<String> {
    let frames = snap.stacks.get(stack as usize).into_iter().flatten();
    frames
        .filter_map(|&f| snap.frames.get(f as usize))
        .flat_map(|f| {
            if f.symbols.is_empty() {
                return vec![format!("{:#x}", f.addr)];
            }
            (f.symbols.iter())
                .map(|s| {
                    let function = snap.string(s.function);
                    match s.file.map(|file| short_path(snap.string(file))) {
                        Some(file) if s.line > 0 => format!("{function} ({file}:{})", s.line),
                        Some(file) => format!("{function} ({file})"),
                        None => function.to_owned(),
                    }
                })
                .collect()
        })
        .collect()
}

/// Shortens a source path to `src/...` after its last `/src/`, or else to
/// its last two components.
pub fn short_path(path: &str) -> &str {
    if let Some(at) = path.rfind("/src/") {
        return &path[at + 1..];
    }
    match path.rmatch_indices('/').nth(1) {
        Some((at, _)) => &path[at + 1..],
        None => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Module;

    #[test]
    fn registry_crates_are_told_from_user_directories() {
        let registry = "/home/me/.cargo/registry/src/index.crates.io-1949/tokio-1.48.0/src/a.rs";
        assert!(in_registry_crate(registry, "tokio"));
        assert!(!in_registry_crate(
            "/home/me/tokio-service/src/main.rs",
            "tokio"
        ));
        assert!(!in_registry_crate(registry, "hashbrown"));
    }

    #[test]
    fn paths_are_shortened() {
        assert_eq!(
            short_path("/home/me/svc/src/cache/mod.rs"),
            "src/cache/mod.rs"
        );
        assert_eq!(
            short_path("/rustc/abc/library/alloc/src/src/vec.rs"),
            "src/vec.rs"
        );
        assert_eq!(short_path("/build/gen/proto.rs"), "gen/proto.rs");
        assert_eq!(short_path("gen/proto.rs"), "gen/proto.rs");
        assert_eq!(short_path("proto.rs"), "proto.rs");
        assert_eq!(short_path(""), "");
    }

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

    /// With `debug = "line-tables-only"`, inlined frames have short names;
    /// their source path still tells machinery from the program.
    #[test]
    fn short_names_are_judged_by_their_source_path() {
        let mut s = Snapshot::default();
        let files = [
            "/work/svc/turbowish-alloc/src/stack.rs",
            "/root/.cargo/registry/src/index.crates.io-1949/hashbrown-0.15.2/src/map.rs",
            "/rustc/59807616e1fa/library/alloc/src/vec/mod.rs",
            "/work/svc/examples/demo.rs",
        ];
        let names = ["here", "insert", "push", "read_buffer"];
        for (f, n) in files.iter().zip(names) {
            let file = s.strings.len() as u32;
            s.strings.push((*f).to_owned());
            let function = s.strings.len() as u32;
            s.strings.push(n.to_owned());
            s.frames.push(Frame {
                addr: 0x1000 + u64::from(file),
                module: None,
                symbols: vec![Symbol {
                    function,
                    file: Some(file),
                    line: 24,
                }],
            });
        }
        s.stacks.push(vec![0, 1, 2, 3]);
        let site = name_stack(&s, 1);
        assert_eq!(site.function.as_deref(), Some("read_buffer"));
        assert_eq!(site.location.as_deref(), Some("examples/demo.rs:24"));
    }

    fn snap_with(functions: &[&str], unsymbolized_first: bool) -> Snapshot {
        let mut s = Snapshot::default();
        s.strings
            .extend(["/lib/libc.so.6", "/src/x/src/a.rs"].map(String::from));
        s.modules.push(Module {
            path: 1,
            bias: 0x1000,
            ..Module::default()
        });
        if unsymbolized_first {
            s.frames.push(Frame {
                addr: 0x1234,
                module: Some(0),
                symbols: vec![],
            });
        }
        for (i, f) in functions.iter().enumerate() {
            s.strings.push((*f).to_owned());
            s.frames.push(Frame {
                addr: 0x2000 + i as u64,
                module: None,
                symbols: vec![Symbol {
                    function: s.strings.len() as u32 - 1,
                    file: Some(2),
                    line: i as u32,
                }],
            });
        }
        s.stacks.push((0..s.frames.len() as u32).collect());
        s
    }

    #[test]
    fn stacks_are_named_by_their_first_own_frame() {
        let s = snap_with(
            &["__rust_alloc", "alloc::alloc", "svc::f", "svc::main"],
            true,
        );
        let name = name_stack(&s, 1);
        assert_eq!(name.function.as_deref(), Some("svc::f"));
        assert_eq!(name.location.as_deref(), Some("src/a.rs:2"));
    }

    #[test]
    fn without_own_frames_an_address_or_the_outermost_frame_names_it() {
        let s = snap_with(&["__rust_alloc", "std::rt::lang_start"], true);
        let name = name_stack(&s, 1);
        assert_eq!(name.function.as_deref(), Some("0x1234"));
        assert_eq!(name.location.as_deref(), Some("libc.so.6+0x234"));
        let s = snap_with(&["__rust_alloc", "std::rt::lang_start"], false);
        let name = name_stack(&s, 1);
        assert_eq!(name.function.as_deref(), Some("std::rt::lang_start"));
        assert_eq!(name.location.as_deref(), Some("src/a.rs:1"));
    }

    #[test]
    fn the_empty_stack_has_no_name() {
        let s = snap_with(&[], false);
        assert_eq!(name_stack(&s, 0).function, None);
        assert_eq!(name_stack(&s, 99).function, None);
    }
}
