//! Frames already resolved, remembered for the next capture's child.
//!
//! A capture's child resolves each distinct frame address against the
//! program's debug info ([`symbolize`](crate::snapshot::symbolize)). In a
//! debug test binary that is nearly all of a snapshot's time (about 0.7 s of
//! 0.75 s), paid again by every child, since the child's parsed DWARF dies
//! with it. A process that reads its own snapshots back (the `testing`
//! module) hands their frames to [`remember`]; the next child inherits this
//! memory with the fork and takes those frames from here.
//!
//! # Rules
//!
//! Cited elsewhere as "memo rule N".
//!
//! 1. Only frames a snapshot of this process resolved are remembered (a
//!    frame without symbols is tried again), keyed as `symbolize` keys them:
//!    by address and whether it is first in its stack. Each keeps its
//!    module's path and load bias, and is recalled only for the same
//!    module, so a library loaded at an unloaded one's old address is never
//!    named after it.
//! 2. The memo's memory is TurboWish's own: allocated and freed untracked
//!    (guard rules 1 and 2), so no snapshot shows it, and it holds no
//!    pointer into the program's blocks.
//! 3. The child takes the lock with `try_lock` only: another thread of the
//!    parent may have held it at the fork, and then the child resolves
//!    every frame itself, as without a memo.
//! 4. A program that never calls [`remember`] (every one outside tests)
//!    pays one uncontended `try_lock` per capture.

use crate::snapshot::modules::LoadedModule;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// One function at a remembered frame, as the snapshot named it.
pub(crate) struct Remembered {
    pub(crate) function: String,
    pub(crate) file: Option<String>,
    pub(crate) line: u32,
}

/// A remembered frame: its module (path, bias) and functions, innermost
/// first (rule 1).
struct Entry {
    module: (String, u64),
    symbols: Vec<Remembered>,
}

/// (address, is first in its stack) to frame.
type Frames = HashMap<(usize, bool), Entry>;

static MEMO: Mutex<Option<Frames>> = Mutex::new(None);

/// Remembers the resolved frames of `snap`, a snapshot of this process.
#[cfg(any(test, feature = "testing"))]
pub(crate) fn remember(snap: &turbowish_format::Snapshot) {
    // Rule 2.
    crate::heap::guard::untracked(|| {
        let mut first = vec![false; snap.frames.len()];
        for stack in &snap.stacks {
            if let Some(f) = stack.first().and_then(|f| first.get_mut(f.index())) {
                *f = true;
            }
        }
        let Ok(mut memo) = MEMO.lock() else {
            return;
        };
        let memo = memo.get_or_insert_with(HashMap::new);
        for (frame, &first) in snap.frames.iter().zip(&first) {
            let module = frame.module.and_then(|m| snap.modules.get(m.index()));
            let (Some(module), false) = (module, frame.symbols.is_empty()) else {
                continue; // rule 1: tried again
            };
            let key = (frame.addr as usize, first);
            memo.entry(key).or_insert_with(|| Entry {
                module: (snap.string(module.path).to_owned(), module.bias),
                symbols: (frame.symbols.iter())
                    .map(|s| Remembered {
                        function: snap.string(s.function).to_owned(),
                        file: s.file.map(|f| snap.string(f).to_owned()),
                        line: s.line,
                    })
                    .collect(),
            });
        }
    });
}

/// The memo as the capture child sees it (rule 3).
pub(crate) struct Recall(Option<MutexGuard<'static, Option<Frames>>>);

impl Recall {
    /// Takes the memo if no thread of the parent held it at the fork.
    pub(crate) fn take() -> Recall {
        Recall(MEMO.try_lock().ok())
    }

    /// The functions at `addr` (first in its stack or not), if this very
    /// module's frame there is remembered (rule 1).
    pub(crate) fn frame(
        &self,
        addr: usize,
        first: bool,
        module: &LoadedModule,
    ) -> Option<&[Remembered]> {
        let entry = self.0.as_ref()?.as_ref()?.get(&(addr, first))?;
        (entry.module.0 == module.path && entry.module.1 == module.bias)
            .then_some(entry.symbols.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use turbowish_format::{Builder, Frame, Module, ModuleIndex};

    fn module(path: &str, bias: u64) -> LoadedModule {
        LoadedModule {
            path: path.to_owned(),
            bias,
            build_id: Vec::new(),
            code: Vec::new(),
            data: Vec::new(),
            tls: None,
        }
    }

    /// Rule 1: a frame is recalled only at its address, in its place in the
    /// stack, for its module at its bias; unresolved frames are not kept.
    #[test]
    fn frames_are_recalled_only_for_their_own_module() {
        let mut b = Builder::new();
        let path = b.string("/memo/test/libthing.so");
        b.snapshot_mut().modules.push(Module {
            path,
            bias: 0x7000,
            ..Module::default()
        });
        let symbol = b.symbol("thing::grow", Some("src/thing.rs"), 12);
        let in_thing = Some(ModuleIndex::new(0));
        let (resolved, bare) = (0x7_1234, 0x7_5678);
        let inner = b.frame(Frame {
            addr: resolved,
            module: in_thing,
            symbols: vec![symbol],
        });
        let outer = b.frame(Frame {
            addr: bare,
            module: in_thing,
            symbols: Vec::new(),
        });
        b.stack(&[outer, inner]);
        remember(&b.build());

        // Other unit tests symbolize, holding the memo meanwhile.
        let memo = loop {
            match Recall::take() {
                Recall(Some(guard)) => break Recall(Some(guard)),
                Recall(None) => std::thread::yield_now(),
            }
        };
        let here = module("/memo/test/libthing.so", 0x7000);
        let found = memo
            .frame(resolved as usize, false, &here)
            .expect("recalled");
        assert_eq!(found.len(), 1);
        assert_eq!(
            (
                found[0].function.as_str(),
                found[0].file.as_deref(),
                found[0].line
            ),
            ("thing::grow", Some("src/thing.rs"), 12)
        );
        assert!(
            memo.frame(resolved as usize, true, &here).is_none(),
            "not first"
        );
        let moved = module("/memo/test/libthing.so", 0x9000);
        assert!(
            memo.frame(resolved as usize, false, &moved).is_none(),
            "bias"
        );
        let other = module("/memo/test/libother.so", 0x7000);
        assert!(
            memo.frame(resolved as usize, false, &other).is_none(),
            "path"
        );
        assert!(
            memo.frame(bare as usize, true, &here).is_none(),
            "unresolved"
        );
    }
}
