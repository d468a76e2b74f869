//! Naming what holds a block, for `retainers` and `leaks`: roots (a static
//! by its symbol, a thread's stack or thread-locals, a task, a named root)
//! and blocks (a task's future, a typed value, an allocation site).

use super::text::{MAX_CELL, cut};
use super::units::bytes;
use crate::analysis::Analysis;
use crate::{BlockIndex, RootKind, Snapshot, StringIndex, TaskIndex};
use std::collections::HashMap;

/// Names holders in one snapshot. Exact names give task ids, sizes and
/// allocating tasks; otherwise only what holders of the same shape share
/// (spawn sites, types, allocation sites), so that paths group.
pub struct Holders<'x, 'a> {
    /// The snapshot.
    pub snap: &'a Snapshot,
    a: &'x Analysis<'a>,
    exact: bool,
    /// Task storage block -> task index.
    storage: HashMap<BlockIndex, TaskIndex>,
}

impl<'x, 'a> Holders<'x, 'a> {
    /// A namer for `a`'s snapshot, with exact names or shared ones.
    pub fn new(a: &'x Analysis<'a>, exact: bool) -> Holders<'x, 'a> {
        let snap = a.snapshot();
        let storage = (snap.tasks.iter().zip(snap.task_indices()))
            .filter_map(|(t, i)| Some((t.storage?, i)))
            .collect();
        Holders {
            snap,
            a,
            exact,
            storage,
        }
    }

    /// Root `r`'s kind, and its name; `label` is the root's label for the
    /// held block (for a static, the static's symbol).
    pub fn root(&self, r: u32, label: StringIndex) -> (&'static str, String) {
        let snap = self.snap;
        let root = &snap.roots[r as usize];
        let name = snap.string(root.label);
        match root.kind {
            RootKind::Static => match snap.string(label) {
                "" => ("static", format!("static data of {}", file_name(name))),
                symbol => ("static", format!("static {symbol}")),
            },
            RootKind::ThreadStack => ("thread stack", format!("stack of {name}")),
            RootKind::ThreadLocal => ("thread-local", format!("thread-locals of {name}")),
            RootKind::Named => ("named root", format!("root {name:?}")),
            RootKind::Task => ("task", self.task(root.task)),
        }
    }

    /// Task `task` (an index into [`Snapshot::tasks`]), by id, name and
    /// spawn site.
    pub fn task(&self, task: Option<TaskIndex>) -> String {
        self.name_task(task, self.exact)
    }

    fn name_task(&self, task: Option<TaskIndex>, exact: bool) -> String {
        let snap = self.snap;
        let Some((i, t)) = task.and_then(|i| Some((i, snap.tasks.get(i.index())?))) else {
            return "a task".to_owned();
        };
        let at = self.a.spawned_at(i);
        let name = match snap.string(t.name) {
            "" => String::new(),
            n => format!(" {n:?}"),
        };
        if exact {
            format!("task {}{name} spawned at {at}", t.id)
        } else {
            format!("a task{name} spawned at {at}")
        }
    }

    /// Block `b`: a task's future, or its type (from typed walks), size,
    /// allocation site and allocating task.
    pub fn block(&self, b: BlockIndex) -> String {
        self.name_block(b, self.exact)
    }

    /// Block `b` as the future step of a retaining path: as
    /// [`Holders::block`], and a task's future also by its type (cut to a
    /// table cell's width), since a path names the task only there.
    pub fn future(&self, b: BlockIndex) -> String {
        let name = self.block(b);
        let Some(&t) = self.storage.get(&b) else {
            return name;
        };
        match self.snap.string(self.snap.tasks[t].future_type) {
            "" => name,
            future => format!("{name}, of type {}", cut(future, MAX_CELL)),
        }
    }

    /// Block `b` by what holders of its shape share (never exact): its
    /// task's spawn site, or its type and allocation site.
    pub fn shape(&self, b: BlockIndex) -> String {
        self.name_block(b, false)
    }

    fn name_block(&self, b: BlockIndex, exact: bool) -> String {
        let snap = self.snap;
        let block = snap.block(b);
        if let Some(&t) = self.storage.get(&b) {
            return format!("the future of {}", self.name_task(Some(t), exact));
        }
        let what = match snap.string(block.type_name) {
            "" => "a block".to_owned(),
            t => t.to_owned(),
        };
        let size = if exact {
            format!(" of {}", bytes(block.size))
        } else {
            String::new()
        };
        let site =
            (self.a.site(block.stack).label()).map_or_else(String::new, |s| format!(" from {s}"));
        let task = match block.task {
            t if t != 0 && exact => format!(", allocated by task {t}"),
            _ => String::new(),
        };
        format!("{what}{size}{site}{task}")
    }
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}
