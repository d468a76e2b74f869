//! The cells into the snapshot: task rows and task roots (rules 3 and 6).

use super::{Cell, Cells};
use std::collections::HashMap;
use turbowish_format::rules::tasks::{cell_join_handle, cell_state};
use turbowish_format::{
    BlockIndex, Root, RootKind, Snapshot, StringIndex, StringTable, Task, TaskIndex, TaskKind,
};

impl Cells {
    /// Adds a row and a root per cell to `snap`, whose traced tasks and
    /// roots are in (rule 6), and the capture's cell figures.
    pub(crate) fn apply(self, snap: &mut Snapshot, strings: &mut StringTable) {
        let started = std::time::Instant::now();
        let mut traced: HashMap<u64, TaskIndex> = HashMap::new();
        for (i, t) in (0u32..).map(TaskIndex::new).zip(&snap.tasks) {
            if t.id != 0 {
                traced.insert(t.id, i);
            }
            if let Some(b) = t.storage {
                traced.insert(storage_key(b), i);
            }
        }
        let types: Vec<StringIndex> = (self.types.iter())
            .map(|t| strings.intern(snap, &t.name))
            .collect();
        for cell in &self.cells {
            let found =
                (traced.get(&cell.words.id)).or_else(|| traced.get(&storage_key(cell.block)));
            match found {
                Some(&i) if snap.tasks[i].kind == TaskKind::Traced => {
                    join_traced(snap, i, cell);
                }
                _ => self.add_untraced(snap, cell, types[cell.future_type as usize]),
            }
        }
        let c = &mut snap.capture;
        c.cells_found = self.cells.len() as u64;
        c.cells_not_understood = self.not_understood;
        c.cells_ns = self.ns + started.elapsed().as_nanos() as u64;
    }

    /// A new row and task root for a cell no traced task matches.
    fn add_untraced(&self, snap: &mut Snapshot, cell: &Cell, future_type: StringIndex) {
        let vt = &self.vtables[cell.vtable as usize];
        let b = snap.blocks[cell.block];
        let (state, refs) = cell_state(cell.words.state);
        let future_size = match cell.future_block {
            Some(f) => snap.blocks[f].size,
            None => vt.trailer.saturating_sub(vt.stage),
        };
        let site = cell.site.unwrap_or_default();
        snap.tasks.push(Task {
            id: cell.words.id,
            file: site.file,
            line: site.line,
            future_type,
            future_size,
            state,
            storage: Some(cell.block),
            kind: cell.kind,
            cell: Some(cell.block),
            future_block: cell.future_block,
            refs,
            join_handle: cell_join_handle(cell.words.state),
            ..Task::default()
        });
        snap.roots.push(Root {
            kind: RootKind::Task,
            label: future_type,
            start: b.addr,
            len: b.size,
            targets: vec![cell.block],
            labels: Vec::new(),
            kinds: Vec::new(),
            task: Some(TaskIndex::new(snap.tasks.len() as u32 - 1)),
        });
    }
}

/// Keys of the traced-task map: ids below 2^63, storage blocks above.
fn storage_key(block: BlockIndex) -> u64 {
    1 << 63 | u64::from(block.get())
}

/// Rule 6: traced task `i` gains cell `cell`, and its root the cell.
fn join_traced(snap: &mut Snapshot, i: TaskIndex, cell: &Cell) {
    let t = &mut snap.tasks[i];
    t.cell = Some(cell.block);
    t.refs = cell_state(cell.words.state).1;
    t.join_handle = cell_join_handle(cell.words.state);
    t.future_block = t.future_block.or(cell.future_block);
    t.storage = t.storage.or(Some(cell.block));
    let Some(root) =
        (snap.roots.iter_mut()).find(|r| r.kind == RootKind::Task && r.task == Some(i))
    else {
        return;
    };
    if let Err(at) = root.targets.binary_search(&cell.block) {
        root.targets.insert(at, cell.block);
        if !root.labels.is_empty() {
            root.labels.insert(at, StringIndex::EMPTY);
        }
    }
}
