//! Allocation sites: the live blocks of each allocation stack, what a
//! stack is called, and how stacks are shown and searched.
//!
//! # Rules
//!
//! 1. **A site is named by one line of its stack**: its innermost function
//!    that is not allocator, standard-library, `hashbrown` or `tokio`
//!    machinery, nor where a process or thread starts ([`frames`] rules 1
//!    and 2), so a task cell is named where `spawn` was called.
//! 2. **The name says whose code it is**: a function outside the
//!    program's own sources is prefixed with its crate and version
//!    ([`origin`]): `bytes 1.12.2: Bytes::copy_from_slice
//!    (src/bytes.rs:348)`. Functions are shortened ([`names`]) and source
//!    files cut to their part from `src/` ([`short_path`]). Spawn sites
//!    are named alike ([`spawned_at`]): `axum 0.8.9: src/serve/mod.rs:389`.
//! 3. **Stacks whose names are the same text are one site** ([`merge`]):
//!    different stacks often end in one line (another caller, another
//!    inlined copy), and a reader cannot tell their rows apart. A merged
//!    site keeps its stacks, heaviest first, so nothing is lost.
//! 4. **Stacks are shown without the frames every stack has** (the
//!    allocator above, start-up below), saying how many were hidden, and
//!    searched on every frame ([`view`]).
//! 5. **A site's blocks and bytes are estimates when stacks were sampled**
//!    ([`estimate`]): each sampled block weighed by the inverse of its
//!    chance to be sampled, blocks without a stack in no site.

pub mod estimate;
pub mod frames;
pub mod names;
pub mod origin;
pub mod view;

use super::Analysis;
use crate::model::{Block, Snapshot, StackIndex, Task};
use estimate::{SiteSum, SiteWeights};
use frames::{line_name, lines, site_line};
use origin::Dependency;
use std::collections::HashMap;

pub use frames::is_machinery;

/// How a site is shown when no stack was recorded for its blocks.
pub const NO_STACK: &str = "(no stack recorded)";

/// What an allocation site is called (rule 2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteName {
    /// The crate or library of the function, when not the program's own.
    pub dependency: Option<Dependency>,
    /// The function (shortened), or the address of an unsymbolized frame;
    /// `None` when no stack was recorded.
    pub function: Option<String>,
    /// `file:line` (or `module+offset` for an unsymbolized frame), if known.
    pub location: Option<String>,
}

impl SiteName {
    /// `dependency: function (location)`, or `None` when no stack was
    /// recorded.
    pub fn label(&self) -> Option<String> {
        let function = self.function.as_ref()?;
        let mut label = match &self.dependency {
            Some(d) => format!("{d}: {function}"),
            None => function.clone(),
        };
        if let Some(l) = &self.location {
            label.push_str(&format!(" ({l})"));
        }
        Some(label)
    }
}

/// Names the stack `stack` of `snap` by the line [`frames::site_line`]
/// picks (rule 1).
pub fn name_stack(snap: &Snapshot, stack: StackIndex) -> SiteName {
    let lines = lines(snap, stack);
    let Some(site) = site_line(snap, &lines) else {
        return SiteName::default();
    };
    let name = line_name(snap, &lines[site], false);
    SiteName {
        dependency: name.dependency,
        function: Some(name.function),
        location: name.location,
    }
}

/// Where task `t` of `snap` was spawned, as `file:line` with the file
/// shortened, prefixed with its crate when that is not the program's own
/// (rule 2: `axum 0.8.9: src/serve/mod.rs:389`), or `(unknown)`.
pub fn spawned_at(snap: &Snapshot, t: &Task) -> String {
    match snap.string(t.file) {
        "" => "(unknown)".to_owned(),
        file => with_crate(file, format!("{}:{}", short_path(file), t.line)),
    }
}

/// `location` prefixed with the crate of source file `file` (rule 2), if
/// the path names one ([`origin`] rule 1; a spawn site has a file, not a
/// frame, so only the path decides).
pub fn with_crate(file: &str, location: String) -> String {
    match origin::crate_of_path(file) {
        Some(d) => format!("{d}: {location}"),
        None => location,
    }
}

/// The live blocks of one allocation stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SiteTotal {
    /// The allocation stack.
    pub stack: StackIndex,
    /// Live blocks allocated there, and their bytes (saturating).
    pub blocks: u64,
    /// See `blocks`.
    pub bytes: u64,
    /// The sampled blocks its estimates rest on; 0 when exact (rule 5).
    pub samples: u64,
}

impl SiteTotal {
    /// The total of `sum`, the blocks of `stack`.
    pub fn new(stack: StackIndex, sum: &SiteSum) -> SiteTotal {
        SiteTotal {
            stack,
            blocks: sum.blocks(),
            bytes: sum.bytes(),
            samples: sum.samples(),
        }
    }
}

/// The allocation stacks of the blocks `keep` accepts, largest first (ties:
/// more blocks first, then by stack); estimates when stacks were sampled
/// (rule 5).
pub fn by_stack(snap: &Snapshot, keep: impl Fn(&Block) -> bool) -> Vec<SiteTotal> {
    let weights = SiteWeights::of(snap);
    let mut per_stack = vec![SiteSum::default(); snap.stacks.len()];
    for b in snap.blocks.iter().filter(|b| keep(b)) {
        if let Some(sum) = per_stack.get_mut(b.stack.index()) {
            sum.add(weights, b);
        }
    }
    let mut sites: Vec<SiteTotal> = (0u32..)
        .map(StackIndex::new)
        .zip(&per_stack)
        .filter(|(_, sum)| !sum.is_empty())
        .map(|(stack, sum)| SiteTotal::new(stack, sum))
        .collect();
    sites.sort_by(|a, b| (b.bytes, b.blocks, a.stack).cmp(&(a.bytes, a.blocks, b.stack)));
    sites
}

/// The live blocks and bytes `keep` accepts, exactly, sampled or not
/// (saturating).
pub fn selected(snap: &Snapshot, keep: impl Fn(&Block) -> bool) -> (u64, u64) {
    (snap.blocks.iter().filter(|b| keep(b))).fold((0, 0), |(blocks, bytes), b| {
        (blocks + 1, u64::saturating_add(bytes, b.size))
    })
}

/// The stacks of one site name and one key (rule 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site<K> {
    /// What else the rows were grouped by (`()` for nothing, a task's tag
    /// for unreachable blocks).
    pub key: K,
    /// The [`SiteName::label`] the stacks share.
    pub label: Option<String>,
    /// The stacks, never none, as given (heaviest first when given so).
    pub stacks: Vec<SiteTotal>,
    /// Their blocks and bytes, summed (saturating).
    pub blocks: u64,
    /// See `blocks`.
    pub bytes: u64,
}

impl<K> Site<K> {
    /// The sampled blocks its estimates rest on, when its figures are
    /// estimates; `None` when they are exact (rule 5), as in a snapshot
    /// whose stacks were not sampled or a site of blocks that kept their
    /// stack whatever the sample.
    pub fn samples(&self) -> Option<u64> {
        Some(self.stacks.iter().map(|t| t.samples).sum()).filter(|&n| n > 0)
    }

    /// The name the stacks share (that of the first), from `a`, the
    /// analysis that merged them.
    pub fn name<'a>(&self, a: &'a Analysis) -> &'a SiteName {
        let none = StackIndex::new(u32::MAX);
        a.site(self.stacks.first().map_or(none, |t| t.stack))
    }
}

/// Merges `rows` (a key and one stack's total each) whose key and site
/// label are the same (rule 3), largest first (ties: more blocks, then
/// the first stack's index, then the key). Stacks keep their order.
pub fn merge<K: Ord + std::hash::Hash + Clone>(
    a: &Analysis,
    rows: impl IntoIterator<Item = (K, SiteTotal)>,
) -> Vec<Site<K>> {
    let mut index: HashMap<(K, Option<String>), usize> = HashMap::new();
    let mut sites: Vec<Site<K>> = Vec::new();
    for (key, total) in rows {
        let label = a.site(total.stack).label();
        let at = *index.entry((key.clone(), label)).or_insert_with(|| {
            sites.push(Site {
                key,
                label: None,
                stacks: Vec::new(),
                blocks: 0,
                bytes: 0,
            });
            sites.len() - 1
        });
        let site = &mut sites[at];
        site.stacks.push(total);
        site.blocks += total.blocks;
        site.bytes = site.bytes.saturating_add(total.bytes);
    }
    for ((_, label), at) in index {
        sites[at].label = label;
    }
    let first = |s: &Site<K>| s.stacks.first().map_or(StackIndex::EMPTY, |t| t.stack);
    sites.sort_by(|x, y| {
        (y.bytes, y.blocks, first(x))
            .cmp(&(x.bytes, x.blocks, first(y)))
            .then_with(|| x.key.cmp(&y.key))
    });
    sites
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
    use crate::model::{Frame, FrameIndex, Module, ModuleIndex, StringIndex, Symbol};

    /// The stack the tests add after the empty one.
    const ONE: StackIndex = StackIndex::new(1);

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
    fn spawn_sites_outside_the_program_name_their_crate() {
        let mut s = Snapshot::default();
        s.strings.extend(
            [
                "/home/me/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/axum-0.8.9/src/serve/mod.rs",
                "/home/me/svc/src/main.rs",
            ]
            .map(String::from),
        );
        let task = |file| Task {
            file: crate::model::StringIndex::new(file),
            line: 389,
            ..Task::default()
        };
        assert_eq!(spawned_at(&s, &task(1)), "axum 0.8.9: src/serve/mod.rs:389");
        assert_eq!(spawned_at(&s, &task(2)), "src/main.rs:389");
        assert_eq!(spawned_at(&s, &task(0)), "(unknown)");
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
            let file = StringIndex::new(s.strings.len() as u32);
            s.strings.push((*f).to_owned());
            let function = StringIndex::new(s.strings.len() as u32);
            s.strings.push(n.to_owned());
            s.frames.push(Frame {
                addr: 0x1000 + u64::from(file.get()),
                module: None,
                symbols: vec![Symbol {
                    function,
                    file: Some(file),
                    line: 24,
                }],
            });
        }
        s.stacks.push((0..4).map(FrameIndex::new).collect());
        let site = name_stack(&s, ONE);
        assert_eq!(site.function.as_deref(), Some("read_buffer"));
        assert_eq!(site.location.as_deref(), Some("examples/demo.rs:24"));
    }

    fn snap_with(functions: &[&str], unsymbolized_first: bool) -> Snapshot {
        let mut s = Snapshot::default();
        s.strings
            .extend(["/lib/libc.so.6", "/src/x/src/a.rs"].map(String::from));
        s.modules.push(Module {
            path: StringIndex::new(1),
            bias: 0x1000,
            ..Module::default()
        });
        if unsymbolized_first {
            s.frames.push(Frame {
                addr: 0x1234,
                module: Some(ModuleIndex::new(0)),
                symbols: vec![],
            });
        }
        for (i, f) in functions.iter().enumerate() {
            s.strings.push((*f).to_owned());
            s.frames.push(Frame {
                addr: 0x2000 + i as u64,
                module: None,
                symbols: vec![Symbol {
                    function: StringIndex::new(s.strings.len() as u32 - 1),
                    file: Some(StringIndex::new(2)),
                    line: i as u32,
                }],
            });
        }
        s.stacks
            .push((0..s.frames.len() as u32).map(FrameIndex::new).collect());
        s
    }

    #[test]
    fn stacks_are_named_by_their_first_own_frame() {
        let s = snap_with(
            &["__rust_alloc", "alloc::alloc", "svc::f", "svc::main"],
            true,
        );
        let name = name_stack(&s, ONE);
        assert_eq!(name.function.as_deref(), Some("svc::f"));
        assert_eq!(name.location.as_deref(), Some("src/a.rs:2"));
    }

    #[test]
    fn without_own_frames_an_address_or_the_outermost_frame_names_it() {
        let s = snap_with(&["__rust_alloc", "std::rt::lang_start"], true);
        let name = name_stack(&s, ONE);
        assert_eq!(name.function.as_deref(), Some("0x1234"));
        assert_eq!(name.location.as_deref(), Some("libc.so.6+0x234"));
        let s = snap_with(&["__rust_alloc", "std::rt::lang_start"], false);
        let name = name_stack(&s, ONE);
        assert_eq!(name.function.as_deref(), Some("rt::lang_start"));
        assert_eq!(name.location.as_deref(), Some("src/a.rs:1"));
    }

    #[test]
    fn the_empty_stack_has_no_name() {
        let s = snap_with(&[], false);
        assert_eq!(name_stack(&s, StackIndex::EMPTY).function, None);
        assert_eq!(name_stack(&s, StackIndex::new(99)).function, None);
    }

    /// Two stacks that end in one line of a dependency: one site, named
    /// with its crate, that keeps both stacks.
    #[test]
    fn stacks_named_alike_are_one_site_named_with_its_crate() {
        let mut b = crate::Builder::new();
        let file = "/home/me/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/bytes-1.12.2/src/bytes.rs";
        let copy = b.symbol("bytes::bytes::Bytes::copy_from_slice", Some(file), 348);
        let own = b.symbol("svc::Conn::read", Some("/home/me/svc/src/conn.rs"), 7);
        let mut frame = |addr, symbols: Vec<Symbol>| {
            b.frame(Frame {
                addr,
                module: None,
                symbols,
            })
        };
        let (copy_a, copy_b, read) = (
            frame(0x10, vec![copy.clone()]),
            frame(0x20, vec![copy]),
            frame(0x30, vec![own]),
        );
        let stacks = [
            b.stack(&[copy_a, read]),
            b.stack(&[copy_b, read]),
            b.stack(&[read]),
        ];
        b.snapshot_mut().blocks = [(0, 10), (0, 10), (1, 30), (2, 25)]
            .iter()
            .zip(1u64..)
            .map(|(&(s, size), i)| Block {
                addr: 0x1000 * i,
                size,
                stack: stacks[s],
                ..Block::default()
            })
            .collect();
        let snap = b.build();
        let a = Analysis::new(&snap);
        let sites = merge(&a, by_stack(&snap, |_| true).into_iter().map(|t| ((), t)));
        let got: Vec<(Option<String>, Vec<StackIndex>, u64, u64)> = (sites.iter())
            .map(|s| {
                let stacks = s.stacks.iter().map(|t| t.stack).collect();
                (s.label.clone(), stacks, s.blocks, s.bytes)
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    Some("bytes 1.12.2: Bytes::copy_from_slice (src/bytes.rs:348)".to_owned()),
                    vec![stacks[1], stacks[0]],
                    3,
                    50
                ),
                (
                    Some("Conn::read (src/conn.rs:7)".to_owned()),
                    vec![stacks[2]],
                    1,
                    25
                ),
            ]
        );
    }
}
