//! The invariants of a [`Snapshot`]: canonical order and in-range indices.
//!
//! The writer checks them before writing (a writer bug fails at the source,
//! not in a user's hands), and the reader after reading (a corrupt or hostile
//! file is refused, and analysis code can index freely).

use crate::model::Snapshot;

/// Returns a description of the first broken invariant.
pub(crate) fn check(s: &Snapshot) -> Result<(), String> {
    order(s)?;
    indices(s)
}

fn order(s: &Snapshot) -> Result<(), String> {
    if s.strings.first().is_none_or(|s| !s.is_empty()) {
        return Err("string 0 must be the empty string".into());
    }
    if s.stacks.first().is_none_or(|s| !s.is_empty()) {
        return Err("stack 0 must be the empty stack".into());
    }
    if s.blocks.windows(2).any(|w| w[0].addr >= w[1].addr) {
        return Err("blocks are not sorted by address, or repeat".into());
    }
    if s.edges
        .windows(2)
        .any(|w| (w[0].from, w[0].to) >= (w[1].from, w[1].to))
    {
        return Err("edges are not sorted, or repeat".into());
    }
    if s.roots
        .iter()
        .any(|r| r.targets.windows(2).any(|w| w[0] >= w[1]))
    {
        return Err("root targets are not sorted, or repeat".into());
    }
    if s.roots
        .iter()
        .any(|r| !r.labels.is_empty() && r.labels.len() != r.targets.len())
    {
        return Err("a root's labels do not match its targets".into());
    }
    if s.containers.windows(2).any(|w| w[0].block >= w[1].block) {
        return Err("containers are not sorted by block, or repeat".into());
    }
    Ok(())
}

fn indices(s: &Snapshot) -> Result<(), String> {
    let in_range = |i: u32, len: usize, what: &str| {
        if (i as usize) < len {
            Ok(())
        } else {
            Err(format!("{what} {i} does not exist"))
        }
    };
    let string = |i: u32| in_range(i, s.strings.len(), "string");
    string(s.process.exe)?;
    for m in &s.modules {
        string(m.path)?;
    }
    for f in &s.frames {
        if let Some(m) = f.module {
            in_range(m, s.modules.len(), "module")?;
        }
        for sym in &f.symbols {
            string(sym.function)?;
            if let Some(file) = sym.file {
                string(file)?;
            }
        }
    }
    for &f in s.stacks.iter().flatten() {
        in_range(f, s.frames.len(), "frame")?;
    }
    for b in &s.blocks {
        in_range(b.stack, s.stacks.len(), "stack")?;
        string(b.type_name)?;
    }
    let blocks = s.blocks.len();
    for e in &s.edges {
        in_range(e.from, blocks, "block")?;
        in_range(e.to, blocks, "block")?;
        string(e.label)?;
    }
    for r in &s.roots {
        string(r.label)?;
        for &t in &r.targets {
            in_range(t, blocks, "block")?;
        }
        for &l in &r.labels {
            string(l)?;
        }
        if let Some(t) = r.task {
            in_range(t, s.tasks.len(), "task")?;
        }
    }
    for t in &s.tasks {
        for i in [t.name, t.file, t.future_type, t.value_type] {
            string(i)?;
        }
        if let Some(b) = t.storage {
            in_range(b, blocks, "block")?;
        }
    }
    for c in &s.containers {
        in_range(c.block, blocks, "block")?;
    }
    Ok(())
}
