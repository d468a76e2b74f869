//! Blocks tokio's runtime allocated for itself, which no task shares.
//!
//! Every tokio task cell points at its scheduler (`Arc<Handle>`), and tasks
//! reach the timer wheel and the I/O driver's registrations: counted as
//! sharing, every task would "share" those bytes with every other, which
//! says nothing about the program. The snapshot does not mark the
//! runtime's blocks (the capture only leaves their pointers to cells
//! unscanned, cell rule 5c), so the analysis decides from the allocation
//! stack, by the same rule.
//!
//! # Rule
//!
//! A block is the runtime's when, in its allocation stack read innermost
//! first, skipping the allocator, the standard library and `hashbrown`
//! wherever they are, the first other symbol is tokio's, and the run of
//! tokio's symbols from there (up to the first symbol that is neither
//! tokio's nor skipped) has one in tokio's `src/runtime/`: the scheduler's
//! handle and cores, the timer wheel, the I/O driver's registrations. A
//! block a tokio primitive allocated for the program (a channel, a
//! `JoinSet`'s entries: `src/sync/`, `src/task/`, `src/util/`, called from
//! the program) is not. A task's cell and boxed future may pass the rule;
//! they are its own storage, never shared (see [`tasks`](super)).

use super::super::sites::frames::is_machinery_symbol;
use super::super::sites::origin::crate_of_path;
use crate::model::{Snapshot, StackIndex, Symbol};
use std::cell::OnceCell;

/// Which allocation stacks are the runtime's, each judged on first use.
#[derive(Debug)]
pub struct RuntimeStacks<'s> {
    snap: &'s Snapshot,
    judged: Vec<OnceCell<bool>>,
}

impl<'s> RuntimeStacks<'s> {
    /// Nothing judged yet.
    pub fn new(snap: &'s Snapshot) -> Self {
        let judged = (0..snap.stacks.len()).map(|_| OnceCell::new()).collect();
        RuntimeStacks { snap, judged }
    }

    /// Whether blocks allocated with `stack` are the runtime's (the rule).
    pub fn is_runtime(&self, stack: StackIndex) -> bool {
        match self.judged.get(stack.index()) {
            Some(j) => *j.get_or_init(|| is_runtime_stack(self.snap, stack)),
            None => false,
        }
    }
}

/// The rule, for one stack.
pub fn is_runtime_stack(snap: &Snapshot, stack: StackIndex) -> bool {
    let symbols = (snap.stack(stack).iter())
        .filter_map(|f| snap.frames.get(f.index()))
        .flat_map(|f| &f.symbols);
    let mut runtime = false;
    for sym in symbols {
        let file = sym.file.map_or("", |f| snap.string(f));
        if is_tokio(snap, sym, file) {
            runtime |= file.contains("/src/runtime/");
        } else if !is_machinery_symbol(snap, sym) {
            break;
        }
    }
    runtime
}

/// Whether `sym` is tokio's, by its source path or else its name.
pub(crate) fn is_tokio(snap: &Snapshot, sym: &Symbol, file: &str) -> bool {
    match crate_of_path(file) {
        Some(d) => d.name == "tokio",
        None => {
            let f = snap.string(sym.function);
            file.is_empty() && (f.starts_with("tokio::") || f.starts_with("<tokio::"))
        }
    }
}
