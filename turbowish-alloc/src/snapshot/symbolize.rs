//! Symbolization: turns stacks of raw code addresses into a snapshot's
//! module, frame, stack and string tables.
//!
//! It runs in the forked child that writes a snapshot, so it takes no lock
//! another thread of the parent could have held at fork time: no
//! `std::env`, no stdout, no `backtrace` crate, no `dl_iterate_phdr` (the
//! module list is taken in the parent, see `modules`). It only reads files,
//! maps them and allocates.
//!
//! Each module's file is mapped and parsed at most once per call, when an
//! address first falls in it: DWARF through `addr2line` (from a separate
//! debug file under `/usr/lib/debug/.build-id/` when the module has none),
//! and the ELF symbol table as a fallback for addresses DWARF does not cover.
//! Unreadable or malformed files leave their frames unresolved.
//!
//! # Which address is looked up
//!
//! The first address of a stack is a program counter: the instruction itself
//! is looked up. Every other address is a return address, which points *after*
//! its call instruction (possibly at the next line, or past the end of a
//! function whose call never returns), so `addr - 1` is looked up instead.
//! Since one address can be first in one stack and a return address in
//! another, frames are deduplicated on (address, is first); a [`Frame`]
//! always records the original address.

use crate::snapshot::mapped::Mapped;
use crate::snapshot::modules::LoadedModule;
use crate::snapshot::symbol_memo::Recall;
use addr2line::{LookupContinuation, gimli};
use object::{Object, ObjectSection};
use std::cell::OnceCell;
use std::collections::HashMap;
use std::path::Path;
use turbowish_format::StringTable;
use turbowish_format::{Frame, FrameIndex, Module, ModuleIndex, Snapshot, StringIndex, Symbol};

type Slice<'a> = gimli::EndianSlice<'a, gimli::RunTimeEndian>;

/// Appends to `snap` one module per entry of `modules`, and one stack per
/// entry of `stacks` (in order; each a slice of runtime code addresses,
/// innermost first) with the frames and strings they need.
///
/// Frames are shared across the stacks of one call (see the module docs for
/// the key), and strings deduplicated against those already in `snap`. Addresses outside
/// every module, or that could not be resolved, get a frame without symbols.
#[cfg(test)]
pub(crate) fn add_stacks(snap: &mut Snapshot, modules: &[LoadedModule], stacks: &[&[usize]]) {
    add_stacks_then(snap, modules, stacks, |_, _| ());
}

/// [`add_stacks`], then `then` with the snapshot and the [`Names`] of
/// functions in the same modules, parsed once for both.
pub(crate) fn add_stacks_then<R>(
    snap: &mut Snapshot,
    modules: &[LoadedModule],
    stacks: &[&[usize]],
    then: impl FnOnce(&mut Snapshot, &Names<'_, '_>) -> R,
) -> R {
    let mut tables = Tables::new(snap, Recall::take());
    let module_ids: Vec<ModuleIndex> = modules.iter().map(|m| tables.module(m)).collect();
    // The mapped files live here, outside the resolver, because its parsed
    // DWARF and symbol tables borrow their bytes.
    let sources: Vec<OnceCell<Option<Source>>> = modules.iter().map(|_| OnceCell::new()).collect();
    let resolver = Resolver::new(modules, &sources);
    for stack in stacks {
        let frames = (stack.iter().enumerate())
            .map(|(i, &addr)| tables.frame(&resolver, &module_ids, addr, i == 0))
            .collect();
        tables.snap.stacks.push(frames);
    }
    then(
        tables.snap,
        &Names {
            resolver: &resolver,
        },
    )
}

/// Names of functions by code address (see [`add_stacks_then`]).
pub(crate) struct Names<'r, 'a> {
    resolver: &'r Resolver<'a>,
}

impl Names<'_, '_> {
    /// The function whose code holds `addr` (a function pointer: looked up
    /// as is), not an inlined one: DWARF's name, with its generic arguments
    /// where DWARF gives them, and the symbol table's path; `None` outside
    /// every module or symbol.
    pub(crate) fn function_at(&self, addr: u64) -> Option<String> {
        let (_, mut found) = self.resolver.resolve(addr);
        found.pop().map(|f| f.function).filter(|f| !f.is_empty())
    }

    /// DWARF's `DW_AT_name` of the function that starts at `addr`: its
    /// last path segment with its generic arguments (`poll<a::F, S>`),
    /// which a linkage name under the legacy mangling lacks.
    pub(crate) fn dwarf_name_at(&self, addr: u64) -> Option<String> {
        let m = self.resolver.module_of(addr)?;
        let ctx = self.resolver.debug(m)?.dwarf.as_ref()?;
        subprogram_name(ctx, addr.wrapping_sub(self.resolver.modules[m].bias))
    }

    /// Whether `addr` lies in some module's code.
    pub(crate) fn is_code(&self, addr: u64) -> bool {
        self.resolver.module_of(addr).is_some()
    }
}

/// The `DW_AT_name` of the subprogram whose code starts at link-time
/// address `probe`: a walk of its unit's entries (done for a few functions
/// per capture).
fn subprogram_name(ctx: &addr2line::Context<Slice<'_>>, probe: u64) -> Option<String> {
    let mut lookup = ctx.find_dwarf_and_unit(probe);
    let unit = loop {
        match lookup {
            addr2line::LookupResult::Output(unit) => break unit?,
            addr2line::LookupResult::Load { continuation, .. } => {
                lookup = continuation.resume(None);
            }
        }
    };
    let mut entries = unit.entries();
    while let Ok(Some((_, die))) = entries.next_dfs() {
        if die.tag() != gimli::DW_TAG_subprogram {
            continue;
        }
        let low = die.attr_value(gimli::DW_AT_low_pc).ok().flatten();
        if low.and_then(|v| unit.attr_address(v).ok().flatten()) != Some(probe) {
            continue;
        }
        let name = die.attr_value(gimli::DW_AT_name).ok().flatten()?;
        let name = unit.attr_string(name).ok()?;
        return Some(name.to_string_lossy().into_owned());
    }
    None
}

/// The snapshot being filled, with lookup maps for what it already holds.
struct Tables<'s> {
    snap: &'s mut Snapshot,
    strings: StringTable,
    /// (address, is first in its stack) to frame index.
    frames: HashMap<(usize, bool), FrameIndex>,
    /// Frames resolved by earlier snapshots (memo rule 3).
    memo: Recall,
}

impl<'s> Tables<'s> {
    fn new(snap: &'s mut Snapshot, memo: Recall) -> Self {
        Tables {
            strings: StringTable::new(snap),
            snap,
            frames: HashMap::new(),
            memo,
        }
    }

    /// The index of `s` in the string table, adding it if new.
    fn string(&mut self, s: &str) -> StringIndex {
        self.strings.intern(self.snap, s)
    }

    /// Adds `m` to the module table and returns its index.
    fn module(&mut self, m: &LoadedModule) -> ModuleIndex {
        let path = self.string(&m.path);
        let start = m.code.iter().map(|r| r.0).min().unwrap_or(0);
        let end = m.code.iter().map(|r| r.1).max().unwrap_or(0);
        self.snap.modules.push(Module {
            path,
            build_id: m.build_id.clone(),
            bias: m.bias,
            start,
            end,
        });
        ModuleIndex::new(self.snap.modules.len() as u32 - 1)
    }

    /// The index of the frame for `addr`, resolving and adding it if new.
    fn frame(
        &mut self,
        r: &Resolver<'_>,
        module_ids: &[ModuleIndex],
        addr: usize,
        first: bool,
    ) -> FrameIndex {
        if let Some(&i) = self.frames.get(&(addr, first)) {
            return i;
        }
        // The lookup rule of the module docs.
        let probe = if first { addr } else { addr.wrapping_sub(1) } as u64;
        let module = r.module_of(probe);
        let symbols = match self.recall(r, module, addr, first) {
            Some(symbols) => symbols,
            None => {
                let found = module.map(|m| r.resolve_in(m, probe)).unwrap_or_default();
                (found.iter())
                    .map(|s| Symbol {
                        function: self.string(&s.function),
                        file: s.file.map(|f| self.string(f)),
                        line: s.line,
                    })
                    .collect()
            }
        };
        let i = FrameIndex::new(self.snap.frames.len() as u32);
        self.snap.frames.push(Frame {
            addr: addr as u64,
            module: module.map(|m| module_ids[m]),
            symbols,
        });
        self.frames.insert((addr, first), i);
        i
    }
}

impl Tables<'_> {
    /// The symbols of `addr`'s frame in `module`, from the memo, interned.
    fn recall(
        &mut self,
        r: &Resolver<'_>,
        module: Option<usize>,
        addr: usize,
        first: bool,
    ) -> Option<Vec<Symbol>> {
        let found = self.memo.frame(addr, first, &r.modules[module?])?;
        let mut symbols = Vec::with_capacity(found.len());
        for s in found {
            let function = self.strings.intern(self.snap, &s.function);
            let file = (s.file.as_deref()).map(|f| self.strings.intern(self.snap, f));
            symbols.push(Symbol {
                function,
                file,
                line: s.line,
            });
        }
        Some(symbols)
    }
}

/// One function found at an address, before interning.
struct Found<'a> {
    /// Demangled name; empty if unknown.
    function: String,
    file: Option<&'a str>,
    line: u32,
}

/// Finds the module of an address and resolves it, loading modules lazily.
struct Resolver<'a> {
    modules: &'a [LoadedModule],
    /// Code ranges `(start, end, module)`, sorted by start.
    ranges: Vec<(u64, u64, usize)>,
    sources: &'a [OnceCell<Option<Source>>],
    debug: Vec<OnceCell<Option<Debug<'a>>>>,
}

impl<'a> Resolver<'a> {
    fn new(modules: &'a [LoadedModule], sources: &'a [OnceCell<Option<Source>>]) -> Self {
        let mut ranges: Vec<_> = (modules.iter().enumerate())
            .flat_map(|(i, m)| m.code.iter().map(move |&(s, e)| (s, e, i)))
            .collect();
        ranges.sort_unstable();
        Resolver {
            modules,
            ranges,
            sources,
            debug: modules.iter().map(|_| OnceCell::new()).collect(),
        }
    }

    /// The index of the module whose code holds `probe`.
    fn module_of(&self, probe: u64) -> Option<usize> {
        let after = self.ranges.partition_point(|r| r.0 <= probe);
        let &(_, end, m) = self.ranges.get(after.checked_sub(1)?)?;
        (probe < end).then_some(m)
    }

    /// The module holding `probe` and the functions at it, innermost first.
    fn resolve(&self, probe: u64) -> (Option<usize>, Vec<Found<'_>>) {
        let Some(m) = self.module_of(probe) else {
            return (None, Vec::new());
        };
        (Some(m), self.resolve_in(m, probe))
    }

    /// The functions at `probe`, in module `m`, innermost first.
    fn resolve_in(&self, m: usize, probe: u64) -> Vec<Found<'_>> {
        let found = self
            .debug(m)
            .map(|d| d.find(probe.wrapping_sub(self.modules[m].bias)));
        found.unwrap_or_default()
    }

    /// Module `m`'s parsed symbols, loaded on first use.
    fn debug(&self, m: usize) -> Option<&Debug<'a>> {
        let sources: &'a [OnceCell<Option<Source>>] = self.sources;
        self.debug[m]
            .get_or_init(|| {
                let source = sources[m].get_or_init(|| Source::load(&self.modules[m]));
                Debug::new(source.as_ref()?)
            })
            .as_ref()
    }
}

/// The bytes behind one module's symbols.
struct Source {
    /// The module's file.
    file: Mapped,
    /// A separate debug file, used for DWARF when the module has none.
    debug: Option<Mapped>,
    /// Compressed DWARF sections of the file DWARF is read from,
    /// decompressed, by `.debug_*` name.
    unpacked: Vec<(String, Vec<u8>)>,
}

impl Source {
    fn load(m: &LoadedModule) -> Option<Source> {
        let file = Mapped::module_file(&m.path)?;
        let object = object::File::parse(file.bytes()).ok()?;
        let debug = if object.section_by_name(".debug_info").is_some() {
            None
        } else {
            debug_file(&m.build_id)
        };
        let debug_object = debug
            .as_ref()
            .and_then(|d| object::File::parse(d.bytes()).ok());
        let unpacked = unpack(debug_object.as_ref().unwrap_or(&object));
        drop((object, debug_object));
        Some(Source {
            file,
            debug,
            unpacked,
        })
    }
}

/// The separate debug file for `build_id` in the standard location, if any.
fn debug_file(build_id: &[u8]) -> Option<Mapped> {
    let [first, rest @ ..] = build_id else {
        return None;
    };
    if rest.is_empty() {
        return None;
    }
    let rest: String = rest.iter().map(|b| format!("{b:02x}")).collect();
    Mapped::open(Path::new(&format!(
        "/usr/lib/debug/.build-id/{first:02x}/{rest}.debug"
    )))
}

/// Decompresses the compressed DWARF sections of `object`, named as
/// `.debug_*` (also for GNU `.zdebug_*` sections).
fn unpack(object: &object::File<'_>) -> Vec<(String, Vec<u8>)> {
    let compressed = |s: &object::Section<'_, '_>| {
        s.compressed_file_range()
            .is_ok_and(|r| r.format != object::CompressionFormat::None)
    };
    (object.sections())
        .filter(compressed)
        .filter_map(|s| {
            let name = s.name().ok()?;
            let name = match name.strip_prefix(".zdebug_") {
                Some(rest) => format!(".debug_{rest}"),
                None => name.starts_with(".debug_").then(|| name.to_owned())?,
            };
            Some((name, s.uncompressed_data().ok()?.into_owned()))
        })
        .collect()
}

/// One module's parsed DWARF and symbol table.
struct Debug<'a> {
    dwarf: Option<addr2line::Context<Slice<'a>>>,
    symbols: object::SymbolMap<object::SymbolMapName<'a>>,
}

impl<'a> Debug<'a> {
    fn new(source: &'a Source) -> Option<Self> {
        let file = object::File::parse(source.file.bytes()).ok()?;
        let debug = (source.debug.as_ref()).and_then(|d| object::File::parse(d.bytes()).ok());
        let dwarf = load_dwarf(debug.as_ref().unwrap_or(&file), &source.unpacked);
        // A separate debug file usually has the full `.symtab` the module
        // was stripped of.
        let symbols = std::iter::once(file.symbol_map())
            .chain(debug.map(|d| d.symbol_map()))
            .max_by_key(|m| m.symbols().len())?;
        Some(Debug { dwarf, symbols })
    }

    /// The functions at link-time address `probe`, innermost first: from
    /// DWARF, with the symbol table naming the outermost one when DWARF
    /// does not, or gives it without its path (see [`qualified`]).
    fn find(&self, probe: u64) -> Vec<Found<'_>> {
        let mut found = (self.dwarf.as_ref()).map_or_else(Vec::new, |c| dwarf_frames(c, probe));
        let named = |s: &object::SymbolMapName<'_>| {
            addr2line::demangle_auto(s.name().into(), None).into_owned()
        };
        match found.last_mut() {
            Some(last) if !last.function.is_empty() => {
                let symbol = self.symbols.get(probe).map(named);
                if let Some(q) = symbol.and_then(|s| qualified(&last.function, &s)) {
                    last.function = q;
                }
            }
            Some(last) => last.function = self.symbols.get(probe).map(named).unwrap_or_default(),
            None => found.extend(self.symbols.get(probe).map(|s| Found {
                function: named(s),
                file: None,
                line: 0,
            })),
        }
        found
    }
}

/// `dwarf`, DWARF's name of a function that was not inlined, with the path
/// of `symbol`, the symbol table's name of the same function, when DWARF
/// gives none: `debug = "line-tables-only"` records `copy_from_slice` (and
/// `{closure#0}`) where the symbol is `bytes::bytes::Bytes::copy_from_slice`
/// (and `mini_redis::parse::Parse::next_bytes::{{closure}}`). DWARF's last
/// segment is kept, with its generic arguments and closure number. `None`
/// when DWARF's name has a path or the two do not end alike.
fn qualified(dwarf: &str, symbol: &str) -> Option<String> {
    let base = |name: &str| name.split('<').next().unwrap_or_default().to_owned();
    let dwarf_base = base(dwarf);
    if dwarf_base.is_empty() || dwarf_base.contains("::") {
        return None;
    }
    let (path, last) = split_last_segment(symbol)?;
    let closures = dwarf_base.starts_with('{') && last.starts_with('{');
    (closures || base(last) == dwarf_base).then(|| format!("{path}::{dwarf}"))
}

/// `name` split at its last `::` outside brackets: (path, last segment).
fn split_last_segment(name: &str) -> Option<(&str, &str)> {
    let bytes = name.as_bytes();
    let mut depth = 0i32;
    for i in (1..bytes.len()).rev() {
        match bytes[i] {
            b'>' if bytes[i - 1] != b'-' => depth += 1,
            b')' | b']' => depth += 1,
            b'<' | b'(' | b'[' => depth -= 1,
            b':' if depth == 0 && bytes[i - 1] == b':' => {
                return Some((&name[..i - 1], &name[i + 1..])).filter(|(p, _)| !p.is_empty());
            }
            _ => {}
        }
    }
    None
}

/// Builds the `addr2line` context over `object`'s DWARF sections, taking
/// compressed ones from `unpacked`. `None` if the DWARF is unusable.
fn load_dwarf<'a>(
    object: &object::File<'a>,
    unpacked: &'a [(String, Vec<u8>)],
) -> Option<addr2line::Context<Slice<'a>>> {
    let endian = if object.is_little_endian() {
        gimli::RunTimeEndian::Little
    } else {
        gimli::RunTimeEndian::Big
    };
    let section = |id: gimli::SectionId| {
        let name = id.name();
        let data = match unpacked.iter().find(|(n, _)| n == name) {
            Some((_, data)) => data.as_slice(),
            None => (object.section_by_name(name))
                .and_then(|s| s.compressed_data().ok())
                .filter(|c| c.format == object::CompressionFormat::None)
                .map_or(&[][..], |c| c.data),
        };
        Ok::<_, gimli::Error>(gimli::EndianSlice::new(data, endian))
    };
    let mut dwarf = gimli::Dwarf::load(section).ok()?;
    dwarf.populate_abbreviations_cache(gimli::AbbreviationsCacheStrategy::Duplicates);
    addr2line::Context::from_dwarf(dwarf).ok()
}

/// The DWARF frames at `probe`, innermost inlined first. Split DWARF units
/// are not loaded; a parse error ends the list.
fn dwarf_frames<'c>(ctx: &'c addr2line::Context<Slice<'_>>, probe: u64) -> Vec<Found<'c>> {
    let mut lookup = ctx.find_frames(probe);
    let frames = loop {
        match lookup {
            addr2line::LookupResult::Output(frames) => break frames,
            addr2line::LookupResult::Load { continuation, .. } => {
                lookup = continuation.resume(None);
            }
        }
    };
    let mut found = Vec::new();
    let Ok(mut frames) = frames else {
        return found;
    };
    while let Ok(Some(frame)) = frames.next() {
        let name = frame.function.as_ref().and_then(|f| f.demangle().ok());
        found.push(Found {
            function: name.map(|n| n.into_owned()).unwrap_or_default(),
            file: frame.location.as_ref().and_then(|l| l.file),
            line: frame.location.and_then(|l| l.line).unwrap_or(0),
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::modules::loaded_modules;

    /// The return addresses of this call, innermost first, and the line of
    /// the call that captured them.
    #[inline(never)]
    fn turbowish_unique_symbol_site() -> (Vec<usize>, u32) {
        let mut ips = Vec::new();
        let push = |f: &backtrace::Frame| {
            ips.push(f.ip() as usize);
            true
        };
        let line = line!() + 1;
        backtrace::trace(push);
        (core::hint::black_box(ips), line)
    }

    fn site_address() -> usize {
        turbowish_unique_symbol_site as fn() -> (Vec<usize>, u32) as usize
    }

    /// The frames of `snap`'s stack `stack` that name the site function.
    fn site_symbols(snap: &Snapshot, stack: usize) -> Vec<(usize, &Symbol)> {
        let frames = snap.stacks[stack].iter().map(|&f| &snap.frames[f]);
        let named = |s: &&Symbol| {
            snap.string(s.function)
                .ends_with("turbowish_unique_symbol_site")
        };
        (frames.enumerate())
            .flat_map(|(i, f)| f.symbols.iter().filter(named).map(move |s| (i, s)))
            .collect()
    }

    fn file_of<'s>(snap: &'s Snapshot, s: &Symbol) -> &'s str {
        s.file.map_or("", |f| snap.string(f))
    }

    #[test]
    fn names_a_real_call_site_with_file_and_line() {
        let (ips, line) = turbowish_unique_symbol_site();
        let mut snap = Snapshot::default();
        add_stacks(&mut snap, &loaded_modules(), &[&ips]);
        let found = site_symbols(&snap, 1);
        assert!(!found.is_empty(), "not found in {snap:#?}");
        let (i, sym) = found[0];
        assert!(i > 0, "the site is a caller of the tracer");
        assert!(
            file_of(&snap, sym).ends_with("src/snapshot/symbolize.rs"),
            "{sym:?}"
        );
        assert!(
            (line..=line + 1).contains(&sym.line),
            "line {} not {line}",
            sym.line
        );
        assert_eq!(snap.strings[0], "");
        let frame = &snap.frames[snap.stacks[1][i]];
        assert_eq!(frame.module, Some(ModuleIndex::new(0)));
    }

    #[test]
    fn shares_frames_and_keeps_the_first_address_exact() {
        let (ips, _) = turbowish_unique_symbol_site();
        let with_pc: Vec<usize> = [site_address()]
            .into_iter()
            .chain(ips[1..].iter().copied())
            .collect();
        let mut snap = Snapshot::default();
        snap.strings.push("preexisting".into());
        add_stacks(&mut snap, &loaded_modules(), &[&ips, &with_pc, &ips]);
        assert_eq!(snap.stacks.len(), 4);
        let (a, b) = (&snap.stacks[1], &snap.stacks[2]);
        assert_eq!(a[1..], b[1..], "return addresses share frames");
        assert_ne!(a[0], b[0]);
        assert_eq!(snap.stacks[3], *a);
        assert_eq!(snap.frames.len(), ips.len() + 1);
        // The function's entry, looked up as is (not minus 1: that would be
        // the end of whatever precedes it).
        assert_eq!(site_symbols(&snap, 2)[0].0, 0);
        let mut sorted = snap.strings.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), snap.strings.len(), "strings are deduplicated");
        assert_eq!(snap.strings[..2], ["".to_owned(), "preexisting".to_owned()]);
        assert!(turbowish_format::write(&snap, &mut Vec::new()).is_ok());
    }

    #[test]
    fn address_in_no_module_has_no_module_and_no_symbols() {
        let mut snap = Snapshot::default();
        add_stacks(&mut snap, &loaded_modules(), &[&[8, 8, 16]]);
        let frames: Vec<FrameIndex> = (0..3).map(FrameIndex::new).collect();
        assert_eq!(snap.stacks[1], frames);
        assert_eq!(snap.frames[0].addr, 8);
        assert_eq!(snap.frames[1].addr, 8);
        for f in &snap.frames {
            assert_eq!(f.module, None);
            assert!(f.symbols.is_empty());
        }
        assert!(turbowish_format::write(&snap, &mut Vec::new()).is_ok());
    }

    #[test]
    fn a_shared_library_function_is_named_from_its_symbols() {
        let getpid = libc::getpid as *const () as usize;
        let mut snap = Snapshot::default();
        let modules = loaded_modules();
        add_stacks(&mut snap, &modules, &[&[getpid]]);
        let frame = &snap.frames[0];
        let module = &modules[frame.module.unwrap().index()];
        assert!(module.path.contains("libc"), "{module:?}");
        let name = snap.string(frame.symbols.last().unwrap().function);
        assert!(name.contains("getpid"), "{name}");
    }

    /// What the snapshot capture does: symbolize in a fork child of this
    /// multi-threaded test process (no lock may be needed).
    #[test]
    fn resolves_in_a_fork_child() {
        let modules = loaded_modules();
        let (ips, _) = turbowish_unique_symbol_site();
        // SAFETY: the child only symbolizes (file reads, mmap, glibc malloc,
        // which is fork-safe) and then `_exit`s without unwinding or running
        // destructors.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let found = std::panic::catch_unwind(|| {
                let mut snap = Snapshot::default();
                add_stacks(&mut snap, &modules, &[&ips]);
                !site_symbols(&snap, 1).is_empty()
            });
            // SAFETY: ends the child at once.
            unsafe { libc::_exit(if found.unwrap_or(false) { 0 } else { 1 }) };
        }
        assert_eq!(wait_for(pid, 60), Some(0), "child failed or hung");
    }

    /// The exit code of child `pid`, or `None` (after killing it) if it does
    /// not exit normally within `seconds`.
    fn wait_for(pid: libc::pid_t, seconds: u64) -> Option<i32> {
        let mut status = 0;
        for _ in 0..seconds * 100 {
            // SAFETY: polls our own child; `status` is a valid out-pointer.
            match unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } {
                0 => std::thread::sleep(std::time::Duration::from_millis(10)),
                _ => return libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
            }
        }
        // SAFETY: kills and reaps our own child.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, &mut status, 0);
        }
        None
    }

    fn fake_module(path: String) -> LoadedModule {
        LoadedModule {
            path,
            bias: 0,
            build_id: Vec::new(),
            code: vec![(0x1000, 0x9000)],
            data: Vec::new(),
            tls: None,
        }
    }

    #[test]
    fn unreadable_or_malformed_files_give_unresolved_frames() {
        let dir = std::env::temp_dir().join(format!("tw-symbolize-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let garbage = dir.join("garbage.so");
        std::fs::write(&garbage, [0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0xff, 0xff]).unwrap();
        let mut modules = vec![fake_module("/nonexistent/lib.so".into())];
        modules.push(fake_module(garbage.display().to_string()));
        modules.push(fake_module(dir.display().to_string()));
        modules[1].code = vec![(0x10000, 0x11000)];
        modules[2].code = vec![(0x20000, 0x21000)];
        let mut snap = Snapshot::default();
        add_stacks(&mut snap, &modules, &[&[0x1234, 0x10010, 0x20010]]);
        let _ = std::fs::remove_dir_all(&dir);
        let got: Vec<_> = snap
            .frames
            .iter()
            .map(|f| (f.module, f.symbols.len()))
            .collect();
        let m = |i| Some(ModuleIndex::new(i));
        assert_eq!(got, [(m(0), 0), (m(1), 0), (m(2), 0)]);
        assert_eq!(snap.modules[1].start, 0x10000);
        assert!(turbowish_format::write(&snap, &mut Vec::new()).is_ok());
    }

    #[test]
    fn corrupted_debug_info_does_not_panic() {
        let exe = loaded_modules().swap_remove(0);
        let mut bytes = std::fs::read(&exe.path).unwrap();
        let ranges: Vec<(usize, usize)> = {
            let file = object::File::parse(&*bytes).unwrap();
            (file.sections())
                .filter(|s| s.name().is_ok_and(|n| n.starts_with(".debug_")))
                .filter_map(|s| s.file_range())
                .map(|(o, n)| (o as usize, n as usize))
                .collect()
        };
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        for (o, n) in ranges {
            for b in bytes[o..o + n].iter_mut().step_by(7) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b ^= x as u8;
            }
        }
        let path = std::env::temp_dir().join(format!("tw-corrupt-{}", std::process::id()));
        std::fs::write(&path, &bytes).unwrap();
        let module = LoadedModule {
            path: path.display().to_string(),
            ..exe
        };
        let (ips, _) = turbowish_unique_symbol_site();
        let mut snap = Snapshot::default();
        add_stacks(&mut snap, &[module], &[&ips, &[site_address()]]);
        let _ = std::fs::remove_file(&path);
        assert_eq!(snap.frames.len(), ips.len() + 1);
        assert!(turbowish_format::write(&snap, &mut Vec::new()).is_ok());
    }

    /// Times 1000 distinct stacks of 32 frames spread over the functions of
    /// the test executable (a pessimistic mix: real stacks share their outer
    /// frames). Prints the figure; asserts only the shape.
    #[test]
    fn timing_of_a_thousand_stacks() {
        use object::ObjectSymbol;
        let modules = loaded_modules();
        let exe = &modules[0];
        let bytes = std::fs::read(&exe.path).unwrap();
        let file = object::File::parse(&*bytes).unwrap();
        let funcs: Vec<usize> = (file.symbols())
            .filter(|s| s.kind() == object::SymbolKind::Text && s.size() > 1)
            .map(|s| (exe.bias + s.address() + s.size() / 2) as usize)
            .collect();
        let mut x = 88_172_645_463_325_252_u64;
        let stacks: Vec<Vec<usize>> = (0..1000)
            .map(|_| {
                (0..32)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        funcs[x as usize % funcs.len()]
                    })
                    .collect()
            })
            .collect();
        let refs: Vec<&[usize]> = stacks.iter().map(Vec::as_slice).collect();
        let mut snap = Snapshot::default();
        let started = std::time::Instant::now();
        add_stacks(&mut snap, &modules, &refs);
        let took = started.elapsed();
        let resolved = snap.frames.iter().filter(|f| !f.symbols.is_empty()).count();
        eprintln!(
            "add_stacks: {} stacks, {} frames ({resolved} resolved, {} functions in the exe), {} strings: {took:?}",
            refs.len(),
            snap.frames.len(),
            funcs.len(),
            snap.strings.len()
        );
        assert_eq!(snap.stacks.len(), 1001);
        assert!(resolved * 10 >= snap.frames.len() * 9, "{resolved}");
    }

    #[test]
    fn short_dwarf_names_take_the_symbol_tables_path() {
        for (dwarf, symbol, expected) in [
            (
                "copy_from_slice",
                "bytes::bytes::Bytes::copy_from_slice",
                Some("bytes::bytes::Bytes::copy_from_slice"),
            ),
            (
                "{closure#0}",
                "mini_redis::parse::Parse::next_bytes::{{closure}}",
                Some("mini_redis::parse::Parse::next_bytes::{closure#0}"),
            ),
            (
                "poll<F, S>",
                "tokio::runtime::task::raw::poll",
                Some("tokio::runtime::task::raw::poll<F, S>"),
            ),
            (
                "clone",
                "<bytes::bytes::Bytes as core::clone::Clone>::clone",
                Some("<bytes::bytes::Bytes as core::clone::Clone>::clone"),
            ),
            // DWARF has the path already, or the names differ.
            (
                "std::rt::lang_start_internal",
                "std::rt::lang_start_internal",
                None,
            ),
            ("parse", "mini_redis::frame::Frame::check", None),
            ("{closure#0}", "mini_redis::frame::Frame::check", None),
            ("main", "main", None),
            ("", "a::b", None),
            ("x", "::x", None),
        ] {
            assert_eq!(
                qualified(dwarf, symbol).as_deref(),
                expected,
                "{dwarf} {symbol}"
            );
        }
    }
}
