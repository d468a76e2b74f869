//! Blocks std's thread machinery holds from where the scan does not look.
//!
//! The standard library allocates some of its own memory straight from
//! `System`, never through the global allocator, so that it works inside
//! one: a thread's handle (`Thread`'s shared inner part) is such memory.
//! TurboWish neither lists nor scans it, so the blocks only it points at
//! would look unreachable: the name of every named thread
//! (`tokio-runtime-worker`, a test's thread named after the test), made in
//! `Thread::new`. Likewise the spawn hooks a thread inherits
//! (`std::thread::spawnhook`, which the test harness uses to pass output
//! capture on to the threads a test starts) are held from each thread's
//! hook list, where the scan was not seen to find them (a clean test
//! binary with a multi-thread runtime showed them unreachable).
//!
//! # Rule
//!
//! A block allocated with `std`'s `Thread::new` or `std::thread::spawnhook`
//! code on its allocation stack is std's thread bookkeeping, held by a
//! thread: the graph gives it an edge from the super-root
//! ([`HeapGraph`](super::graph::HeapGraph)), so it is never reported as
//! lost. Such a block is freed with the thread or handle that holds it.

use crate::model::{Snapshot, Symbol};

/// Per block of `snap`: whether it is held outside the heap (the rule).
/// Each frame is judged once.
pub fn held_outside(snap: &Snapshot) -> Vec<bool> {
    let frames: Vec<bool> = (snap.frames.iter())
        .map(|f| f.symbols.iter().any(|s| is_thread_bookkeeping(snap, s)))
        .collect();
    let stacks: Vec<bool> = (snap.stacks.iter())
        .map(|s| {
            s.iter()
                .any(|f| frames.get(f.index()).copied().unwrap_or(false))
        })
        .collect();
    (snap.blocks.iter())
        .map(|b| stacks.get(b.stack.index()).copied().unwrap_or(false))
        .collect()
}

/// `<std::thread::thread::Thread>::new` or `std::thread::spawnhook::..`
/// (the module paths move between Rust versions, so only the crate, the
/// module and the ending are checked).
fn is_thread_bookkeeping(snap: &Snapshot, symbol: &Symbol) -> bool {
    let function = snap.string(symbol.function);
    (function.starts_with("<std::thread::") && function.ends_with("Thread>::new"))
        || function.starts_with("std::thread::spawnhook::")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Block, Frame, FrameIndex, StackIndex, StringIndex};

    #[test]
    fn thread_names_and_spawn_hooks_are_held() {
        let mut snap = Snapshot::default();
        let symbol = |snap: &mut Snapshot, name: &str| {
            snap.strings.push(name.to_owned());
            Symbol {
                function: StringIndex::new(snap.strings.len() as u32 - 1),
                ..Symbol::default()
            }
        };
        let other = symbol(&mut snap, "<my::thread::Thread>::new");
        let new = symbol(&mut snap, "<std::thread::thread::Thread>::new");
        let hook = symbol(&mut snap, "std::thread::spawnhook::run_spawn_hooks");
        let frame = |symbol| Frame {
            symbols: vec![symbol],
            ..Frame::default()
        };
        snap.frames = vec![frame(other), frame(new), frame(hook)];
        let f = FrameIndex::new;
        snap.stacks = vec![vec![f(0)], vec![f(0), f(1)], vec![f(2), f(0)]];
        snap.blocks = (0..3)
            .map(|i| Block {
                stack: StackIndex::new(i),
                ..Block::default()
            })
            .collect();
        assert_eq!(held_outside(&snap), [false, true, true]);
    }
}
