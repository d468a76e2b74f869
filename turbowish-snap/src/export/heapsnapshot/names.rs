//! The strings table: every name once (DevTools groups nodes by the index
//! of their name, so one text must have one index), and how nodes and
//! edges are named (rules 2, 3 and 5).

use super::layout::{Layout, Node};
use crate::analysis::Analysis;
use crate::model::{BlockIndex, RootKind, StackIndex, StringIndex, TaskIndex};
use std::collections::HashMap;

/// Not yet interned, in the caches by snapshot index.
const NONE: u32 = u32::MAX;

/// The strings written, and the names of nodes.
#[derive(Debug)]
pub struct Names<'x, 'a> {
    a: &'x Analysis<'a>,
    /// The strings, in index order.
    pub strings: Vec<Box<str>>,
    index: HashMap<Box<str>, u32>,
    /// Snapshot string -> index here.
    by_string: Vec<u32>,
    /// Allocation stack -> index of its site's name.
    by_stack: Vec<u32>,
    /// (storage block, task), by block.
    storage: Vec<(BlockIndex, TaskIndex)>,
}

impl<'x, 'a> Names<'x, 'a> {
    /// An empty table for `a`'s snapshot.
    pub fn new(a: &'x Analysis<'a>) -> Names<'x, 'a> {
        let snap = a.snapshot();
        let mut storage: Vec<(BlockIndex, TaskIndex)> = (snap.tasks.iter())
            .zip(snap.task_indices())
            .filter_map(|(t, i)| Some((t.storage?, i)))
            .collect();
        storage.sort_unstable();
        Names {
            a,
            strings: Vec::new(),
            index: HashMap::new(),
            by_string: vec![NONE; snap.strings.len()],
            by_stack: vec![NONE; snap.stacks.len()],
            storage,
        }
    }

    /// The index of `text`, added if new.
    pub fn text(&mut self, text: &str) -> u32 {
        if let Some(&i) = self.index.get(text) {
            return i;
        }
        let i = self.strings.len() as u32;
        self.strings.push(text.into());
        self.index.insert(text.into(), i);
        i
    }

    /// The index of the snapshot's string `s`.
    pub fn string(&mut self, s: StringIndex) -> u32 {
        match self.by_string.get(s.index()) {
            Some(&i) if i != NONE => i,
            _ => {
                let i = self.text(self.a.snapshot().string(s));
                if let Some(slot) = self.by_string.get_mut(s.index()) {
                    *slot = i;
                }
                i
            }
        }
    }

    /// The name of node `n` (rules 2 and 3).
    pub fn node(&mut self, layout: &Layout, n: u32) -> u32 {
        match layout.node(n) {
            Node::Root => self.text("(root)"),
            Node::Category(c) => self.text(c.name()),
            Node::SnapRoot(r) => {
                let name = self.root(r);
                self.text(&name)
            }
            Node::Block(b) => self.block(BlockIndex::new(b)),
        }
    }

    /// Root `r`, as `retainers` names its holders.
    fn root(&self, r: u32) -> String {
        let snap = self.a.snapshot();
        let root = &snap.roots[r as usize];
        let label = snap.string(root.label);
        match root.kind {
            RootKind::Static => format!("static data of {}", file_name(label)),
            RootKind::ThreadStack => format!("stack of {label}"),
            RootKind::ThreadLocal => format!("thread-locals of {label}"),
            RootKind::Named => format!("root {label:?}"),
            RootKind::Task => self.task(root.task),
        }
    }

    /// Task `task` by id, name and spawn site.
    fn task(&self, task: Option<TaskIndex>) -> String {
        let snap = self.a.snapshot();
        let Some((i, t)) = task.and_then(|i| Some((i, snap.tasks.get(i.index())?))) else {
            return "a task".to_owned();
        };
        let at = self.a.spawned_at(i);
        match snap.string(t.name) {
            "" => format!("task {} spawned at {at}", t.id),
            name => format!("task {} {name:?} spawned at {at}", t.id),
        }
    }

    /// Block `b` by its type, its future's type, or its site (rule 3).
    fn block(&mut self, b: BlockIndex) -> u32 {
        let snap = self.a.snapshot();
        let block = snap.block(b);
        if !snap.string(block.type_name).is_empty() {
            return self.string(block.type_name);
        }
        let future = self.task_of_storage(b).map(|t| snap.task(t).future_type);
        match future {
            Some(f) if !snap.string(f).is_empty() => self.string(f),
            _ => self.site(block.stack),
        }
    }

    /// The name of the site of allocation stack `stack`.
    fn site(&mut self, stack: StackIndex) -> u32 {
        match self.by_stack.get(stack.index()) {
            Some(&i) if i != NONE => i,
            _ => {
                let label = self.a.site(stack).label();
                let i = self.text(label.as_deref().unwrap_or("(no stack)"));
                if let Some(slot) = self.by_stack.get_mut(stack.index()) {
                    *slot = i;
                }
                i
            }
        }
    }

    /// The task whose storage block `b` is.
    pub fn task_of_storage(&self, b: BlockIndex) -> Option<TaskIndex> {
        let i = (self.storage).binary_search_by_key(&b, |&(s, _)| s).ok()?;
        Some(self.storage[i].1)
    }
}

/// The file name of a module's path.
fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}
