//! Tasks grouped by spawn site: where tasks are made is where a leak
//! of tasks is fixed.
//!
//! A spawn site is named as [`Analysis::spawned_at`] names it (`file:line`,
//! the file shortened), so tasks spawned on one line by different columns,
//! or from copies of one file in different checkouts, are one site.

use super::Analysis;
use std::cmp::Reverse;
use std::collections::HashMap;

/// The tasks of one spawn site.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpawnSite {
    /// Where they were spawned.
    pub spawned_at: String,
    /// How many tasks.
    pub tasks: u64,
    /// Bytes their storage blocks retain, summed (saturating).
    pub retained: u64,
    /// Live bytes allocated in their polls, summed (saturating).
    pub allocated: u64,
}

/// The spawn sites of `a`'s tasks, most retained bytes first (ties:
/// more tasks, then by name).
pub fn group(a: &Analysis) -> Vec<SpawnSite> {
    let mut sites: HashMap<&str, SpawnSite> = HashMap::new();
    for r in a.task_rows() {
        let site = sites.entry(a.spawned_at(r.task)).or_default();
        site.tasks += 1;
        site.retained = site.retained.saturating_add(r.retained);
        site.allocated = site.allocated.saturating_add(r.allocated);
    }
    let mut sites: Vec<SpawnSite> = (sites.into_iter())
        .map(|(spawned_at, s)| SpawnSite {
            spawned_at: spawned_at.to_owned(),
            ..s
        })
        .collect();
    sites.sort_by(|x, y| {
        let key = |s: &SpawnSite| (Reverse(s.retained), Reverse(s.tasks));
        key(x)
            .cmp(&key(y))
            .then_with(|| x.spawned_at.cmp(&y.spawned_at))
    });
    sites
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Block, BlockIndex, Root, RootKind, Snapshot, StringIndex, Task, TaskIndex};

    #[test]
    fn tasks_of_one_line_are_one_site() {
        let mut s = Snapshot::default();
        s.strings
            .extend(["/a/src/x.rs", "/b/src/x.rs", "/a/src/y.rs"].map(String::from));
        s.blocks = [10, 20, 40]
            .iter()
            .zip(1u64..)
            .map(|(&size, i)| Block {
                addr: 0x1000 * i,
                size,
                ..Block::default()
            })
            .collect();
        let task = |file, column, storage| Task {
            file: StringIndex::new(file),
            line: 3,
            column,
            storage: Some(BlockIndex::new(storage)),
            ..Task::default()
        };
        s.tasks = vec![task(1, 5, 0), task(2, 9, 1), task(3, 5, 2)];
        s.roots = (0..3)
            .map(|i| Root {
                kind: RootKind::Task,
                targets: vec![BlockIndex::new(i)],
                task: Some(TaskIndex::new(i)),
                ..Root::default()
            })
            .collect();
        let a = Analysis::new(&s);
        let sites = group(&a);
        let got: Vec<(&str, u64, u64)> = (sites.iter())
            .map(|x| (x.spawned_at.as_str(), x.tasks, x.retained))
            .collect();
        assert_eq!(got, [("src/y.rs:3", 1, 40), ("src/x.rs:3", 2, 30)]);
    }
}
