//! How a stack is shown and searched.
//!
//! # Rules
//!
//! 1. **A shown stack hides allocator frames above the site** (TurboWish's
//!    shim, `__rust_alloc` and std's `alloc/src/alloc.rs` glue) **and
//!    start-up frames below it** (std's `lang_start` and thread start,
//!    the C `main` trampoline, libc's `__libc_start_main`, `_start`,
//!    `start_thread`, `clone3`), and says how many it hid. Start-up frames
//!    are hidden only when the stack ends in one of libc's or std's entry
//!    points: a stack cut short by the depth limit ends elsewhere, and its
//!    last frames are shown. The frame that names the site is never hidden.
//! 2. **`--stack=full` shows every line**, with functions as recorded.
//! 3. **A pattern matches a stack** when any line contains it: its function
//!    as recorded or as shown, its source file (whole or shortened) with
//!    `:line`, or its crate.

use super::frames::{
    Line, TURBOWISH_PATH, is_entry, is_libc_start, is_machinery_symbol, is_std_name, is_std_path,
    line_name, lines, site_line,
};
use crate::model::{Snapshot, StackIndex};

/// What a shown stack hides (rule 1), and the lines it shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StackView {
    /// Allocator lines hidden above the first shown line.
    pub hidden_allocator: usize,
    /// The shown lines, innermost first, as [`LineName::text`](super::frames::LineName::text).
    pub lines: Vec<String>,
    /// Start-up lines hidden below the last shown line.
    pub hidden_startup: usize,
}

/// Stack `stack` of `snap` as shown: every line when `full` (functions as
/// recorded), else without allocator and start-up lines (rule 1) and with
/// functions shortened.
pub fn view(snap: &Snapshot, stack: StackIndex, full: bool) -> StackView {
    let lines = lines(snap, stack);
    let (top, bottom) = match full {
        true => (0, lines.len()),
        false => shown_range(snap, &lines),
    };
    StackView {
        hidden_allocator: top,
        lines: (lines[top..bottom].iter())
            .map(|l| line_name(snap, l, full).text())
            .collect(),
        hidden_startup: lines.len() - bottom,
    }
}

/// The range of `lines` a trimmed view shows (rule 1): the lines of
/// [`lines`](super::frames::lines) from the first to the last shown.
pub fn shown_range(snap: &Snapshot, lines: &[Line]) -> (usize, usize) {
    let Some(site) = site_line(snap, lines) else {
        return (0, 0);
    };
    let top = (lines[..site].iter())
        .position(|l| !is_allocator(snap, l))
        .unwrap_or(site);
    let mut bottom = lines.len();
    if lines.last().is_some_and(|l| is_entry_point(snap, l)) {
        while bottom > site + 1 && is_startup(snap, lines, bottom - 1) {
            bottom -= 1;
        }
    }
    (top, bottom)
}

/// Function-name prefixes of the allocator and the global allocator's
/// entry points.
const ALLOCATOR: &[&str] = &[
    "__rust_",
    "__rustc::",
    "__rg_",
    "__rdl_",
    "turbowish_alloc::",
    "<turbowish_alloc::",
    "alloc::alloc::",
    "<alloc::alloc::Global",
];

/// Whether `line` is allocator code: TurboWish, `__rust_alloc` and the
/// like, or std's allocation glue in `alloc/src/alloc.rs`.
fn is_allocator(snap: &Snapshot, line: &Line) -> bool {
    let Some(sym) = line.symbol else {
        return false;
    };
    let file = sym.file.map_or("", |f| snap.string(f));
    let std_glue = file.ends_with("/library/alloc/src/alloc.rs") && is_std_path(file);
    let turbowish = file.contains(TURBOWISH_PATH)
        || super::origin::crate_of_path(file).is_some_and(|d| d.name == "turbowish-alloc");
    ALLOCATOR
        .iter()
        .any(|p| snap.string(sym.function).starts_with(p))
        || std_glue
        || turbowish
}

/// Whether `line` is an unsymbolized frame of libc or the dynamic loader.
fn is_libc_frame(snap: &Snapshot, line: &Line) -> bool {
    let module = line.frame.module.and_then(|m| snap.modules.get(m.index()));
    line.symbol.is_none()
        && module.is_some_and(|m| {
            let name = snap.string(m.path).rsplit('/').next().unwrap_or_default();
            name.starts_with("libc.so") || name.starts_with("libc-") || name.starts_with("ld-")
        })
}

/// Whether `line` is where a process or thread starts: libc's start
/// functions, an unsymbolized libc frame, std's `lang_start` or thread
/// start, or the C `main` trampoline (which has no source).
fn is_entry_point(snap: &Snapshot, line: &Line) -> bool {
    let std_entry = line.symbol.is_some_and(|s| {
        let f = snap.string(s.function);
        f.starts_with("std::rt::lang_start")
            || f.ends_with("thread_start") && is_machinery_symbol(snap, s)
    });
    std_entry || is_entry(snap, line) || is_libc_frame(snap, line)
}

/// Whether `lines[i]` is start-up code: std's, libc's start functions, or
/// the C `main` trampoline (a `main` without source, or called by libc).
fn is_startup(snap: &Snapshot, lines: &[Line], i: usize) -> bool {
    let line = &lines[i];
    let trampoline = line.symbol.is_some_and(|s| {
        snap.string(s.function) == "main"
            && (s.file.is_none() || lines.get(i + 1).is_some_and(|l| is_libc_start(snap, l)))
    });
    let std = line.symbol.is_some_and(|s| {
        let file = s.file.map_or("", |f| snap.string(f));
        let f = snap.string(s.function);
        is_std_path(file) || is_std_name(f)
    });
    trampoline || std || is_libc_start(snap, line) || is_libc_frame(snap, line)
}

/// Whether any line of stack `stack` contains `pattern` (rule 3).
pub fn stack_contains(snap: &Snapshot, stack: StackIndex, pattern: &str) -> bool {
    lines(snap, stack).iter().any(|line| {
        let (short, full) = (line_name(snap, line, false), line_name(snap, line, true));
        let file = line.symbol.and_then(|s| {
            let file = snap.string(s.file?);
            Some(format!("{file}:{}", s.line))
        });
        [Some(short.text()), Some(full.text()), file]
            .iter()
            .flatten()
            .any(|text| text.contains(pattern))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Frame;
    use crate::model::{FrameIndex, Module, ModuleIndex};

    /// The stack [`snap_of`] makes.
    const ONE: StackIndex = StackIndex::new(1);

    const RUSTC: &str = "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library";

    /// A snapshot of one stack whose frames are `(function, file, line)`,
    /// innermost first, in the executable `/bin/svc`; a `None` function is
    /// an unsymbolized frame in libc.
    fn snap_of(frames: &[(Option<&str>, Option<&str>, u32)]) -> Snapshot {
        let mut b = crate::Builder::new();
        let exe = b.string("/bin/svc");
        let libc = b.string("/lib/x86_64-linux-gnu/libc.so.6");
        b.snapshot_mut().process.exe = exe;
        b.snapshot_mut().modules = vec![
            Module {
                path: exe,
                ..Module::default()
            },
            Module {
                path: libc,
                bias: 0x7f00_0000_0000,
                ..Module::default()
            },
        ];
        let ids: Vec<FrameIndex> = (frames.iter().zip(0u64..))
            .map(|(&(function, file, line), i)| {
                let symbols = function.map(|f| b.symbol(f, file, line));
                let libc_frame = function.is_none() || file.is_some_and(|f| f.starts_with("./"));
                b.frame(Frame {
                    addr: 0x7f00_0000_1000 + i,
                    module: Some(ModuleIndex::new(u32::from(libc_frame))),
                    symbols: symbols.into_iter().collect(),
                })
            })
            .collect();
        b.stack(&ids);
        b.build()
    }

    fn main_thread() -> Snapshot {
        let alloc = format!("{RUSTC}/alloc/src/alloc.rs");
        let rt = format!("{RUSTC}/std/src/rt.rs");
        let function = format!("{RUSTC}/core/src/ops/function.rs");
        snap_of(&[
            (
                Some("here"),
                Some("/w/turbowish-alloc/src/heap/stack/mod.rs"),
                91,
            ),
            // As the symbol table names it since Rust 1.9x.
            (Some("__rustc::__rust_alloc"), Some("/w/svc/src/main.rs"), 2),
            (Some("alloc"), Some(&alloc), 95),
            (Some("allocate"), Some(&alloc), 429),
            (
                Some("with_capacity_in<u8>"),
                Some(&format!("{RUSTC}/alloc/src/raw_vec/mod.rs")),
                177,
            ),
            (Some("svc::Conn::read"), Some("/w/svc/src/conn.rs"), 12),
            (Some("main"), Some("/w/svc/src/main.rs"), 9),
            (Some("call_once<fn(), ()>"), Some(&function), 250),
            (Some("std::rt::lang_start::{{closure}}"), Some(&rt), 206),
            (Some("std::rt::lang_start_internal"), Some(&rt), 171),
            (Some("main"), None, 0),
            (
                Some("__libc_start_call_main"),
                Some("./csu/../sysdeps/nptl/libc_start_call_main.h"),
                58,
            ),
        ])
    }

    #[test]
    fn a_trimmed_stack_hides_allocator_and_start_up_frames() {
        let s = main_thread();
        let v = view(&s, ONE, false);
        assert_eq!((v.hidden_allocator, v.hidden_startup), (4, 5), "{v:#?}");
        assert_eq!(
            v.lines,
            [
                "alloc: with_capacity_in (src/raw_vec/mod.rs:177)",
                "Conn::read (src/conn.rs:12)",
                "main (src/main.rs:9)",
            ]
        );
        let full = view(&s, ONE, true);
        assert_eq!((full.hidden_allocator, full.hidden_startup), (0, 0));
        assert_eq!(full.lines.len(), 12);
        assert_eq!(
            full.lines[4],
            "alloc: with_capacity_in<u8> (src/raw_vec/mod.rs:177)"
        );
        assert_eq!(
            full.lines[11],
            "libc.so.6: __libc_start_call_main (nptl/libc_start_call_main.h:58)"
        );
    }

    #[test]
    fn a_stack_cut_short_keeps_its_last_frames() {
        let function = format!("{RUSTC}/core/src/ops/function.rs");
        let s = snap_of(&[
            (Some("__rust_alloc"), Some("/w/svc/src/main.rs"), 2),
            (Some("svc::f"), Some("/w/svc/src/f.rs"), 3),
            (Some("call_once<fn(), ()>"), Some(&function), 250),
        ]);
        let v = view(&s, ONE, false);
        assert_eq!((v.hidden_allocator, v.hidden_startup), (1, 0), "{v:#?}");
        assert_eq!(v.lines[1], "core: call_once (src/ops/function.rs:250)");
    }

    #[test]
    fn the_site_frame_is_never_hidden() {
        let rt = format!("{RUSTC}/std/src/rt.rs");
        let s = snap_of(&[
            (Some("__rust_alloc"), None, 0),
            (Some("std::rt::lang_start_internal"), Some(&rt), 171),
            (None, None, 0),
        ]);
        let v = view(&s, ONE, false);
        assert_eq!(
            v.lines,
            [
                "std: rt::lang_start_internal (src/rt.rs:171)",
                "0x7f0000001002 (libc.so.6+0x1002)"
            ],
            "the site is the unsymbolized frame, though libc's"
        );
        assert_eq!((v.hidden_allocator, v.hidden_startup), (1, 0));
        let s = snap_of(&[
            (Some("__rust_alloc"), None, 0),
            (Some("std::rt::lang_start_internal"), Some(&rt), 171),
        ]);
        let v = view(&s, ONE, false);
        assert_eq!(v.lines, ["std: rt::lang_start_internal (src/rt.rs:171)"]);
    }

    /// std's own start-up allocations: every frame is std's, under the C
    /// `main` trampoline and libc; a thread's under `start_thread`.
    #[test]
    fn start_up_allocations_are_named_by_std_not_by_libc() {
        let rt = format!("{RUSTC}/std/src/rt.rs");
        let unix = format!("{RUSTC}/std/src/sys/thread/unix.rs");
        let process = snap_of(&[
            (Some("__rust_alloc"), None, 0),
            (Some("std::rt::init"), Some(&rt), 118),
            (Some("std::rt::lang_start_internal"), Some(&rt), 171),
            (Some("main"), None, 0),
            (
                Some("__libc_start_call_main"),
                Some("./csu/libc_start_call_main.h"),
                58,
            ),
        ]);
        let thread = snap_of(&[
            (Some("__rust_alloc"), None, 0),
            (
                Some("<std::sys::thread::unix::Thread>::new::thread_start"),
                Some(&unix),
                116,
            ),
            (Some("start_thread"), Some("./nptl/pthread_create.c"), 442),
        ]);
        let name = |s: &Snapshot| {
            let lines = lines(s, ONE);
            line_name(s, &lines[site_line(s, &lines).unwrap()], false).text()
        };
        assert_eq!(
            name(&process),
            "std: rt::lang_start_internal (src/rt.rs:171)"
        );
        assert_eq!(
            name(&thread),
            "std: new::thread_start (src/sys/thread/unix.rs:116)"
        );
        let v = view(&process, ONE, false);
        assert_eq!(v.lines[0], "std: rt::init (src/rt.rs:118)");
        assert_eq!((v.hidden_allocator, v.hidden_startup), (1, 2), "{v:#?}");
    }

    #[test]
    fn a_pattern_matches_any_frame() {
        let s = main_thread();
        for pattern in [
            "conn.rs:12",
            "svc/src/conn.rs:12",
            "Conn::read",
            "svc::Conn",
            "lang_start",
            "libc.so.6",
            "with_capacity_in<u8>",
        ] {
            assert!(stack_contains(&s, ONE, pattern), "{pattern}");
        }
        for pattern in ["conn.rs:13", "nowhere", "svc::main"] {
            assert!(!stack_contains(&s, ONE, pattern), "{pattern}");
        }
        assert!(
            !stack_contains(&s, StackIndex::EMPTY, "main"),
            "the empty stack"
        );
    }
}
