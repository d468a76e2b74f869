//! What a block's allocation stack says about it (cell rules 1a, 4 and
//! 5c): whether tokio's task constructor made it, from a `spawn_blocking`,
//! where the spawn was called, and whether tokio's runtime code allocated
//! it.
//!
//! Symbols are classified by their source file first and their name
//! second: with `debug = "line-tables-only"`, inlined frames carry only a
//! short name (`new<T, S>`), but always the file of their code.

use super::layout::FutureType;
use turbowish_format::{Snapshot, StackIndex, StringIndex};

/// The facts of one stack.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Origin {
    /// The stack passes through tokio's task constructor (rule 1a).
    pub(crate) constructor: bool,
    /// The constructor's first name with generic arguments (`new<F, S>`
    /// from DWARF), for the future's type (rule 3); the empty string for
    /// none.
    pub(crate) constructor_name: StringIndex,
    /// ... inside `spawn_blocking`'s machinery.
    pub(crate) blocking: bool,
    /// The first symbol above tokio's spawn machinery (rule 4).
    pub(crate) site: Option<Site>,
    /// tokio's code allocated the block (the innermost symbol outside the
    /// standard library and the allocator is tokio's), and the run of
    /// tokio's frames from there passes through its runtime
    /// (`src/runtime/`), not the constructor: the owned-task list's shards
    /// (`util::sharded_list` under `OwnedTasks::new`), the run queues, the
    /// blocking pool (rule 5c). A `JoinSet`'s entries (`util::` under
    /// `task::join_set`, called from the program) are not.
    pub(crate) runtime: bool,
}

/// A spawn site: file and line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Site {
    pub(crate) file: StringIndex,
    pub(crate) line: u32,
}

/// Whom a symbol belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// The standard library or TurboWish's allocator: skipped.
    Std,
    Tokio,
    Other,
}

/// The facts of `snap`'s stack `stack` (innermost frame first).
pub(crate) fn origin(snap: &Snapshot, stack: StackIndex) -> Origin {
    let mut o = Origin::default();
    let mut in_tokio = false;
    let symbols = snap.stacks[stack]
        .iter()
        .flat_map(|&f| &snap.frames[f].symbols);
    for sym in symbols {
        let (function, file) = (
            snap.string(sym.function),
            sym.file.map_or("", |f| snap.string(f)),
        );
        let owner = owner(function, file);
        // The loop stops at the first other symbol: every tokio symbol
        // seen is in the run of tokio's code that allocated the block.
        o.runtime |= owner == Owner::Tokio && file.contains("src/runtime/");
        match owner {
            Owner::Std => {}
            Owner::Tokio => {
                in_tokio = true;
                if is_constructor(function, file) {
                    o.constructor = true;
                    if o.constructor_name.is_empty() && FutureType::of(function).is_some() {
                        o.constructor_name = sym.function;
                    }
                }
                o.blocking |=
                    file.contains("runtime/blocking/") || function.contains("spawn_blocking");
            }
            Owner::Other if in_tokio => {
                o.site = Some(Site {
                    file: sym.file.unwrap_or_default(),
                    line: sym.line,
                });
                break;
            }
            Owner::Other => break,
        }
    }
    o.runtime &= !o.constructor;
    o.blocking &= o.constructor;
    o
}

fn owner(function: &str, file: &str) -> Owner {
    const STD_FILES: [&str; 4] = [
        "/library/std/",
        "/library/core/",
        "/library/alloc/",
        "turbowish-alloc/src/",
    ];
    const STD_NAMES: [&str; 10] = [
        "std::",
        "core::",
        "alloc::",
        "<std::",
        "<core::",
        "<alloc::",
        "__rust",
        "__rdl",
        "turbowish_alloc::",
        "<turbowish_alloc::",
    ];
    // By name too: the global allocator's `__rust_alloc` shim is generated
    // in the user's crate, with its `#[global_allocator]` line.
    if STD_FILES.iter().any(|p| file.contains(p))
        || STD_NAMES.iter().any(|p| function.starts_with(p))
    {
        return Owner::Std;
    }
    let tokio_file =
        (file.contains("/tokio-") || file.contains("/tokio/")) && file.contains("/src/");
    if tokio_file
        || (file.is_empty()
            && (function.starts_with("tokio::") || function.starts_with("<tokio::")))
    {
        return Owner::Tokio;
    }
    Owner::Other
}

/// Whether a tokio symbol is the task constructor: `Cell::new`,
/// `RawTask::new`, `new_task` (whole names when the symbol table gave them,
/// short names with their file when DWARF did).
fn is_constructor(function: &str, file: &str) -> bool {
    const WHOLE: [&str; 3] = [
        "tokio::runtime::task::core::Cell<",
        "RawTask::new",
        "runtime::task::new_task",
    ];
    if WHOLE.iter().any(|w| function.contains(w)) {
        return true;
    }
    let base = function.split('<').next().unwrap_or_default();
    let base = base.rsplit("::").next().unwrap_or_default();
    match base {
        "new_task" => file.contains("runtime/task/"),
        "new" => file.ends_with("runtime/task/core.rs") || file.ends_with("runtime/task/raw.rs"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_by_file_then_name() {
        let tokio =
            "/home/u/.cargo/registry/src/index.crates.io-1/tokio-1.54.1/src/runtime/task/core.rs";
        assert_eq!(owner("new<F, S>", tokio), Owner::Tokio);
        assert_eq!(owner("tokio::task::spawn::spawn", ""), Owner::Tokio);
        assert_eq!(
            owner("new<T>", "/rustc/abc/library/alloc/src/boxed.rs"),
            Owner::Std
        );
        assert_eq!(owner("alloc::alloc::alloc", ""), Owner::Std);
        assert_eq!(owner("start", "/src/lib.rs"), Owner::Other);
        assert!(is_constructor("new<F, S>", tokio));
        assert!(is_constructor(
            "tokio::runtime::task::raw::RawTask::new",
            ""
        ));
        assert!(!is_constructor("poll<F, S>", tokio));
        assert!(!is_constructor(
            "new<T>",
            "/x/tokio-1.54.1/src/runtime/task/list.rs"
        ));
    }
}
