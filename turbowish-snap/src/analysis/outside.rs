//! Blocks std's thread machinery holds from where the scan does not look.
//!
//! The standard library allocates some of its own memory straight from
//! `System`, never through the global allocator, so that it works inside
//! one: a thread's handle (`Thread`'s shared inner part) is such memory.
//! TurboWish neither lists nor scans it, so the blocks only it points at
//! would look unreachable: the name of every named thread
//! (`tokio-runtime-worker`, a test's thread named after the test), made in
//! `Thread::new`.
//!
//! Nothing else of std's thread machinery needs the rule: the rest is held
//! from memory the capture scans. The spawn hooks (`std::thread::spawnhook`,
//! which the test harness uses to pass output capture on to the threads a
//! test starts) live in a thread-local, in static TLS; what a new thread
//! inherits from them travels in its start closure, held from its thread
//! descriptor until it runs, and the capture scans threads that have not
//! yet run (`turbowish_alloc`'s `snapshot::unregistered`). Before it did,
//! a clean test binary showed those blocks, and std's `ThreadInit` and
//! start closure, unreachable whenever a runtime's workers had not yet been
//! scheduled; the rule must not grow to hide such a gap in the scan.
//!
//! # Rule
//!
//! A block allocated with `std`'s `Thread::new` on its allocation stack is
//! std's thread bookkeeping, held by a thread handle: the graph gives it an
//! edge from the super-root ([`HeapGraph`](super::graph::HeapGraph)), so it
//! is never reported as lost. Such a block is freed with the last handle
//! of its thread.

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

/// `<std::thread::thread::Thread>::new` (the module path moves between Rust
/// versions, so only the crate, the module and the ending are checked).
fn is_thread_bookkeeping(snap: &Snapshot, symbol: &Symbol) -> bool {
    let function = snap.string(symbol.function);
    function.starts_with("<std::thread::") && function.ends_with("Thread>::new")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Block, Frame, FrameIndex, StackIndex, StringIndex};

    #[test]
    fn thread_names_are_held_and_spawn_hooks_are_not() {
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
        // Spawn hooks are scanned where they are held (see the module docs).
        assert_eq!(held_outside(&snap), [false, true, false]);
    }
}
