//! The ELF objects loaded in this process (executable, shared libraries,
//! vDSO), with their load bias, build id and code and data ranges.
//!
//! A snapshot needs them twice: code ranges and biases to symbolize stack
//! addresses (see `symbolize`), writable ranges as scan roots. The list is
//! taken with `dl_iterate_phdr` in the parent, which takes the dynamic
//! loader's lock; a fork child must not call it and receives the list instead.
//!
//! Only 64-bit ELF targets are supported (the program headers are read as
//! `Elf64_Phdr`).

use core::ffi::{CStr, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// One loaded ELF object (the executable, a shared library, the vDSO).
#[derive(Debug, Clone)]
pub(crate) struct LoadedModule {
    /// File path: the executable's real path for the main program (read from
    /// `/proc/self/exe`), the loader's name for libraries, `[vdso]` for the
    /// vDSO, `[unnamed]` for other nameless objects.
    pub(crate) path: String,
    /// Load bias (`dlpi_addr`): runtime address minus link-time address.
    pub(crate) bias: u64,
    /// GNU build id, read from the mapped `PT_NOTE` segments; empty if none.
    pub(crate) build_id: Vec<u8>,
    /// Runtime `[start, end)` of the executable `PT_LOAD` segments.
    pub(crate) code: Vec<(u64, u64)>,
    /// Runtime `[start, end)` of the writable `PT_LOAD` segments, by
    /// `p_memsz` (so `.bss` included).
    pub(crate) data: Vec<(u64, u64)>,
    /// Size and alignment of its thread-local storage template (`PT_TLS`),
    /// if it has thread-locals.
    pub(crate) tls: Option<(u64, u64)>,
}

/// Lists the loaded modules, the main program first.
///
/// Takes the dynamic loader's lock: call it in the parent, never in a fork
/// child.
pub(crate) fn loaded_modules() -> Vec<LoadedModule> {
    let mut out: Vec<LoadedModule> = Vec::new();
    // SAFETY: `on_module` matches the callback type, never unwinds (it
    // catches panics), and `out` outlives the call, which is synchronous.
    unsafe { libc::dl_iterate_phdr(Some(on_module), (&raw mut out).cast()) };
    name_nameless(&mut out);
    out
}

/// `dl_iterate_phdr` callback: appends one [`LoadedModule`] to the
/// `Vec<LoadedModule>` behind `out`. Always returns 0 (continue).
unsafe extern "C" fn on_module(
    info: *mut libc::dl_phdr_info,
    _size: usize,
    out: *mut c_void,
) -> c_int {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `out` is the `&mut Vec<LoadedModule>` passed by
        // `loaded_modules`, which has no other reference alive during the
        // call; `info` is valid for the duration of the callback.
        let (out, info) = unsafe { (&mut *out.cast::<Vec<LoadedModule>>(), &*info) };
        // SAFETY: `info` comes straight from the dynamic loader.
        out.push(unsafe { describe(info) });
    }));
    0
}

/// Reads one module's program headers.
///
/// # Safety
///
/// `info` must be a record the dynamic loader passed to a `dl_iterate_phdr`
/// callback, used within that callback.
unsafe fn describe(info: &libc::dl_phdr_info) -> LoadedModule {
    let bias = info.dlpi_addr;
    let phdrs: &[libc::Elf64_Phdr] = if info.dlpi_phdr.is_null() {
        &[]
    } else {
        // SAFETY: the loader guarantees `dlpi_phnum` headers at `dlpi_phdr`,
        // mapped while the module is loaded (it is, during the callback).
        unsafe { core::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) }
    };
    let range = |p: &libc::Elf64_Phdr| {
        let start = bias.wrapping_add(p.p_vaddr);
        (start, start.wrapping_add(p.p_memsz))
    };
    let loads = phdrs.iter().filter(|p| p.p_type == libc::PT_LOAD);
    let with = |flag| {
        loads
            .clone()
            .filter(move |p| p.p_flags & flag != 0)
            .map(range)
    };
    let path = if is_vdso(info) {
        "[vdso]".to_owned()
    } else if info.dlpi_name.is_null() {
        String::new()
    } else {
        // SAFETY: a non-null `dlpi_name` is a NUL-terminated string owned by
        // the loader, valid during the callback.
        let name = unsafe { CStr::from_ptr(info.dlpi_name) };
        name.to_string_lossy().into_owned()
    };
    LoadedModule {
        path,
        bias,
        // SAFETY: `phdrs` belong to a module the loader has mapped.
        build_id: unsafe { build_id(phdrs, bias) },
        code: with(libc::PF_X).collect(),
        data: with(libc::PF_W).collect(),
        tls: phdrs
            .iter()
            .find(|p| p.p_type == libc::PT_TLS && p.p_memsz > 0)
            .map(|p| (p.p_memsz, p.p_align.max(1))),
    }
}

/// Whether `info` describes the vDSO, whose program headers the kernel maps
/// right after its ELF header at `AT_SYSINFO_EHDR`.
fn is_vdso(info: &libc::dl_phdr_info) -> bool {
    // SAFETY: `getauxval` only reads the auxiliary vector.
    let ehdr = unsafe { libc::getauxval(libc::AT_SYSINFO_EHDR) } as usize;
    ehdr != 0 && (info.dlpi_phdr as usize).wrapping_sub(ehdr) < 4096
}

/// The GNU build id from the module's `PT_NOTE` segments, read in memory;
/// empty if none.
///
/// # Safety
///
/// `phdrs` must be the program headers of a module mapped at `bias`.
unsafe fn build_id(phdrs: &[libc::Elf64_Phdr], bias: u64) -> Vec<u8> {
    let notes = phdrs.iter().filter(|p| p.p_type == libc::PT_NOTE);
    notes
        .filter(|p| p.p_memsz > 0 && is_loaded(phdrs, p))
        .find_map(|p| {
            // SAFETY: the note lies inside a loaded segment, which the loader
            // mapped readable at `bias` (the caller's promise).
            let bytes = unsafe {
                let start = bias.wrapping_add(p.p_vaddr) as usize as *const u8;
                core::slice::from_raw_parts(start, p.p_memsz as usize)
            };
            gnu_build_id(bytes, p.p_align)
        })
        .map_or_else(Vec::new, <[u8]>::to_vec)
}

/// Whether segment `p` lies inside one of the `PT_LOAD` segments of `phdrs`,
/// that is, is mapped.
fn is_loaded(phdrs: &[libc::Elf64_Phdr], p: &libc::Elf64_Phdr) -> bool {
    let Some(end) = p.p_vaddr.checked_add(p.p_memsz) else {
        return false;
    };
    phdrs.iter().any(|l| {
        l.p_type == libc::PT_LOAD
            && l.p_vaddr <= p.p_vaddr
            && end <= l.p_vaddr.saturating_add(l.p_memsz)
    })
}

/// The descriptor of the `NT_GNU_BUILD_ID` note among `notes`, the contents
/// of a note segment aligned to `align`.
fn gnu_build_id(notes: &[u8], align: u64) -> Option<&[u8]> {
    type Elf = object::elf::FileHeader64<object::NativeEndian>;
    let endian = object::NativeEndian;
    let mut notes = object::read::elf::NoteIterator::<Elf>::new(endian, align, notes).ok()?;
    while let Ok(Some(note)) = notes.next() {
        if note.name() == object::elf::ELF_NOTE_GNU
            && note.n_type(endian) == object::elf::NT_GNU_BUILD_ID
        {
            return Some(note.desc());
        }
    }
    None
}

/// Names the modules the loader left nameless: the first is the main program
/// (glibc lists it first), the others `[unnamed]`.
fn name_nameless(modules: &mut [LoadedModule]) {
    for (i, m) in modules.iter_mut().enumerate() {
        if m.path.is_empty() {
            m.path = if i == 0 {
                executable_path()
            } else {
                "[unnamed]".to_owned()
            };
        }
    }
}

/// The executable's path from `/proc/self/exe` (which may end in
/// ` (deleted)`), or `/proc/self/exe` itself if it cannot be read.
fn executable_path() -> String {
    std::fs::read_link("/proc/self/exe")
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "/proc/self/exe".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writable static data (an atomic is never placed in read-only memory).
    static COUNTER: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

    #[inline(never)]
    fn marker_function() -> usize {
        core::hint::black_box(42)
    }

    fn contains(ranges: &[(u64, u64)], addr: usize) -> bool {
        ranges
            .iter()
            .any(|&(s, e)| s <= addr as u64 && (addr as u64) < e)
    }

    #[test]
    fn lists_the_test_executable_with_its_ranges_and_build_id() {
        let modules = loaded_modules();
        let exe = &modules[0];
        let real = std::fs::read_link("/proc/self/exe").unwrap();
        assert_eq!(exe.path, real.to_string_lossy());
        let code = marker_function as fn() -> usize as usize;
        assert!(contains(&exe.code, code), "{exe:x?} lacks code {code:#x}");
        let data = &raw const COUNTER as usize;
        assert!(contains(&exe.data, data), "{exe:x?} lacks data {data:#x}");
        assert!(!contains(&exe.code, data));
        assert!(!exe.build_id.is_empty(), "no build id: {exe:x?}");
    }

    #[test]
    fn build_id_matches_the_file_on_disk() {
        use object::Object;
        let exe = &loaded_modules()[0];
        let bytes = std::fs::read(&exe.path).unwrap();
        let file = object::File::parse(&*bytes).unwrap();
        assert_eq!(file.build_id().unwrap(), Some(&exe.build_id[..]));
    }

    #[test]
    fn lists_libc_and_the_vdso_with_code() {
        let modules = loaded_modules();
        let libc = modules.iter().find(|m| m.path.contains("libc.so"));
        assert!(libc.is_some_and(|m| !m.code.is_empty() && m.bias != 0));
        let exit = libc::exit as *const () as usize;
        assert!(modules.iter().any(|m| contains(&m.code, exit)));
        // The vDSO exists on every Linux this runs on, unless disabled.
        // SAFETY: reads the auxiliary vector.
        if unsafe { libc::getauxval(libc::AT_SYSINFO_EHDR) } != 0 {
            assert!(modules.iter().any(|m| m.path == "[vdso]"));
        }
        assert!(modules.iter().all(|m| !m.path.is_empty()));
    }
}
