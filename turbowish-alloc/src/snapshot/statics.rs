//! Naming the statics that hold heap pointers: a module-data root says
//! which `static` (by its symbol) points at each block it reaches, so that
//! `turbowish retainers` can say "held by static `app::CACHE`" rather than
//! "held by the data of /usr/bin/app".
//!
//! Runs in the snapshot's fork child, like `symbolize`: it only maps and
//! parses the module's file and allocates.

use crate::snapshot::mapped::Mapped;
use crate::snapshot::modules::LoadedModule;
use object::{Object, ObjectSymbol, SymbolKind};

/// The data symbols of one module: `(link-time start, size, name)`, sorted.
pub(crate) struct Statics {
    symbols: Vec<(u64, u64, String)>,
    bias: u64,
}

impl Statics {
    /// Reads `module`'s symbol table; empty if its file is unreadable or
    /// has no symbols (stripped).
    pub(crate) fn load(module: &LoadedModule) -> Statics {
        let symbols = Mapped::module_file(&module.path)
            .map(|file| data_symbols(file.bytes()))
            .unwrap_or_default();
        Statics {
            symbols,
            bias: module.bias,
        }
    }

    /// The demangled name (without hash) of the static whose bytes hold the
    /// runtime address `addr`, if a symbol covers it.
    pub(crate) fn name_of(&self, addr: u64) -> Option<&str> {
        let probe = addr.wrapping_sub(self.bias);
        let after = self.symbols.partition_point(|s| s.0 <= probe);
        let (start, size, name) = self.symbols.get(after.checked_sub(1)?)?;
        (probe < start + (*size).max(1)).then_some(name.as_str())
    }
}

/// The defined data symbols of the ELF file `bytes`, sorted by address.
fn data_symbols(bytes: &[u8]) -> Vec<(u64, u64, String)> {
    let Ok(file) = object::File::parse(bytes) else {
        return Vec::new();
    };
    let mut out: Vec<(u64, u64, String)> = file
        .symbols()
        .filter(|s| s.kind() == SymbolKind::Data && s.is_definition())
        .filter_map(|s| {
            let name = addr2line::demangle_auto(s.name().ok()?.into(), None);
            Some((s.address(), s.size(), strip_hash(&name).to_owned()))
        })
        .collect();
    out.sort_unstable();
    out
}

/// `path::NAME` from a legacy-mangled `path::NAME::h0123456789abcdef`.
fn strip_hash(name: &str) -> &str {
    match name.rsplit_once("::h") {
        Some((path, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            path
        }
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::modules::loaded_modules;

    static MARKER: [u64; 4] = [1, 2, 3, 4];

    #[test]
    fn names_a_static_of_this_executable_by_any_of_its_bytes() {
        let main = &loaded_modules()[0];
        let statics = Statics::load(main);
        let addr = MARKER.as_ptr() as u64;
        for at in [addr, addr + 8, addr + 31] {
            let name = statics.name_of(at).expect("MARKER has a symbol");
            assert!(name.ends_with("statics::tests::MARKER"), "{name}");
        }
    }

    #[test]
    fn hashes_are_stripped_and_other_names_kept() {
        assert_eq!(strip_hash("a::B::h0123456789abcdef"), "a::B");
        assert_eq!(strip_hash("a::B::hello"), "a::B::hello");
        assert_eq!(strip_hash("errno"), "errno");
    }

    #[test]
    fn an_unreadable_module_names_nothing() {
        let mut m = loaded_modules()[0].clone();
        m.path = "/nonexistent/turbowish".into();
        assert!(Statics::load(&m).name_of(MARKER.as_ptr() as u64).is_none());
    }
}
