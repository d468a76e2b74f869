//! The invariants of a [`Snapshot`]: canonical order and in-range indices.
//!
//! The writer checks them before writing (a writer bug fails at the source,
//! not in a user's hands), and the reader as it reads (a corrupt or hostile
//! file is refused, and analysis code can index freely).
//!
//! The rules are grouped by [`Table`], in the order the tables are stored.
//! A table's rules refer only to itself and to tables stored before it, so
//! the reader checks each table as soon as it has decoded it, before reading
//! the next. The two references that point forward are checked with their
//! target: the process's executable name with the strings, and a root's task
//! with the tasks.

use crate::index::{BlockIndex, StringIndex};
use crate::model::Snapshot;

/// The tables of a snapshot, in the order they are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    /// Interned strings, and the process's executable name.
    Strings,
    /// Loaded modules.
    Modules,
    /// Code addresses and their symbols.
    Frames,
    /// Allocation stacks.
    Stacks,
    /// Live blocks.
    Blocks,
    /// Pointers between blocks.
    Edges,
    /// Roots and their targets.
    Roots,
    /// Traced tasks, and the tasks of roots.
    Tasks,
    /// Container lengths and capacities.
    Containers,
}

impl Table {
    /// Every table, in the order they are stored.
    pub(crate) const ALL: [Table; 9] = [
        Table::Strings,
        Table::Modules,
        Table::Frames,
        Table::Stacks,
        Table::Blocks,
        Table::Edges,
        Table::Roots,
        Table::Tasks,
        Table::Containers,
    ];
}

/// Returns a description of the first broken invariant.
pub(crate) fn check(s: &Snapshot) -> Result<(), String> {
    Table::ALL.iter().try_for_each(|&t| table(s, t))
}

/// Checks the rules of table `t` of `s`, whose tables stored before `t` are
/// already checked.
pub(crate) fn table(s: &Snapshot, t: Table) -> Result<(), String> {
    match t {
        Table::Strings => strings(s),
        Table::Modules => s.modules.iter().try_for_each(|m| string(s, m.path)),
        Table::Frames => frames(s),
        Table::Stacks => stacks(s),
        Table::Blocks => blocks(s),
        Table::Edges => edges(s),
        Table::Roots => roots(s),
        Table::Tasks => tasks(s),
        Table::Containers => containers(s),
    }
}

fn in_range(i: usize, len: usize, what: &str) -> Result<(), String> {
    if i < len {
        Ok(())
    } else {
        Err(format!("{what} {i} does not exist"))
    }
}

fn string(s: &Snapshot, i: StringIndex) -> Result<(), String> {
    in_range(i.index(), s.strings.len(), "string")
}

fn block(s: &Snapshot, i: BlockIndex) -> Result<(), String> {
    in_range(i.index(), s.blocks.len(), "block")
}

fn strings(s: &Snapshot) -> Result<(), String> {
    if s.strings.first().is_none_or(|s| !s.is_empty()) {
        return Err("string 0 must be the empty string".into());
    }
    string(s, s.process.exe)
}

fn frames(s: &Snapshot) -> Result<(), String> {
    for f in &s.frames {
        if let Some(m) = f.module {
            in_range(m.index(), s.modules.len(), "module")?;
        }
        for sym in &f.symbols {
            string(s, sym.function)?;
            if let Some(file) = sym.file {
                string(s, file)?;
            }
        }
    }
    Ok(())
}

fn stacks(s: &Snapshot) -> Result<(), String> {
    if s.stacks.first().is_none_or(|s| !s.is_empty()) {
        return Err("stack 0 must be the empty stack".into());
    }
    s.stacks
        .iter()
        .flatten()
        .try_for_each(|f| in_range(f.index(), s.frames.len(), "frame"))
}

fn blocks(s: &Snapshot) -> Result<(), String> {
    if s.blocks.windows(2).any(|w| w[0].addr >= w[1].addr) {
        return Err("blocks are not sorted by address, or repeat".into());
    }
    for b in &s.blocks {
        in_range(b.stack.index(), s.stacks.len(), "stack")?;
        string(s, b.type_name)?;
    }
    Ok(())
}

fn edges(s: &Snapshot) -> Result<(), String> {
    if s.edges
        .windows(2)
        .any(|w| (w[0].from, w[0].to) >= (w[1].from, w[1].to))
    {
        return Err("edges are not sorted, or repeat".into());
    }
    for e in &s.edges {
        block(s, e.from)?;
        block(s, e.to)?;
        string(s, e.label)?;
    }
    Ok(())
}

fn roots(s: &Snapshot) -> Result<(), String> {
    for r in &s.roots {
        if r.targets.windows(2).any(|w| w[0] >= w[1]) {
            return Err("root targets are not sorted, or repeat".into());
        }
        if !r.labels.is_empty() && r.labels.len() != r.targets.len() {
            return Err("a root's labels do not match its targets".into());
        }
        if !r.kinds.is_empty() && r.kinds.len() != r.targets.len() {
            return Err("a root's pointer kinds do not match its targets".into());
        }
        string(s, r.label)?;
        r.targets.iter().try_for_each(|&t| block(s, t))?;
        r.labels.iter().try_for_each(|&l| string(s, l))?;
    }
    Ok(())
}

fn tasks(s: &Snapshot) -> Result<(), String> {
    for t in &s.tasks {
        for i in [t.name, t.file, t.future_type, t.value_type] {
            string(s, i)?;
        }
        for b in [t.storage, t.cell, t.future_block].into_iter().flatten() {
            block(s, b)?;
        }
    }
    for r in &s.roots {
        if let Some(t) = r.task {
            in_range(t.index(), s.tasks.len(), "task")?;
        }
    }
    Ok(())
}

fn containers(s: &Snapshot) -> Result<(), String> {
    if s.containers.windows(2).any(|w| w[0].block >= w[1].block) {
        return Err("containers are not sorted by block, or repeat".into());
    }
    s.containers.iter().try_for_each(|c| block(s, c.block))
}
