//! Which tasks share which blocks: `O(p log p)` for `p` pairs, the
//! counting walk (rule 3) capped at a budget linear in them (rule 4).
//!
//! # Input
//!
//! `(block, task)` pairs, sorted and each once: task `task` points at
//! `block`, a block outside its own. A block with two or more tasks is
//! *shared*.
//!
//! # Rules
//!
//! 1. **Bytes and blocks.** Each task of a shared block counts the block's
//!    size and one block: one pass over the pairs.
//! 2. **Classes.** Shared blocks with the same set of tasks form one
//!    *class* (an `Arc<State>` and the `Arc<Config>` beside it, held by the
//!    same connections). Each task then has a list of classes, ordered
//!    largest first (ties by class number), so that the widely shared
//!    classes come first and a task's own pairings last.
//! 3. **Counting the other tasks.** The tasks a task shares with are the
//!    union of its classes, less itself. Tasks sorted by their class lists
//!    are a depth-first walk of the trie of those lists, so consecutive
//!    tasks share their common prefix: a `cover` count per task says how
//!    many classes of the current prefix hold it, and stepping the walk
//!    into or out of a class costs its size, once per trie node instead of
//!    once per task. Ten thousand tasks sharing one block cost 10,000 steps,
//!    not 10,000².
//! 4. **A budget.** Adversarial graphs (many large, overlapping classes in
//!    many combinations) can still make the trie's nodes large; counting
//!    stops after [`budget`] steps and the remaining tasks get a lower
//!    bound (their largest class), flagged inexact. Real heaps stay far
//!    below it.
//! 5. **A few names.** The first [`CAP`] other tasks by index come from
//!    merging the first `CAP + 1` tasks of each of its classes: linear.

use std::collections::HashSet;

/// How many of the tasks a task shares with are named.
pub const CAP: usize = 16;

/// What one task shares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shared {
    /// Bytes of the shared blocks it points at (saturating).
    pub bytes: u64,
    /// How many shared blocks it points at.
    pub blocks: u64,
    /// How many other tasks point at one of them.
    pub tasks: u64,
    /// Whether `tasks` is exact (else a lower bound: rule 4).
    pub exact: bool,
    /// The first [`CAP`] of those tasks by index, sorted.
    pub first: Vec<u32>,
}

/// The classes of shared blocks: each a sorted set of tasks (rule 2).
struct Classes {
    /// The tasks of class `c` are `members[start[c]..start[c + 1]]`.
    start: Vec<usize>,
    members: Vec<u32>,
}

impl Classes {
    fn of(&self, c: u32) -> &[u32] {
        &self.members[self.start[c as usize]..self.start[c as usize + 1]]
    }

    fn len(&self) -> usize {
        self.start.len() - 1
    }
}

/// What each of `tasks` tasks shares, from the `(block, task)` `pairs`
/// (sorted, each once) and the blocks' sizes.
pub fn shared(tasks: usize, pairs: &[(u32, u32)], size: impl Fn(u32) -> u64) -> Vec<Shared> {
    let mut out = vec![
        Shared {
            exact: true,
            ..Shared::default()
        };
        tasks
    ];
    let classes = classes(pairs, |block, members| {
        for &t in members {
            let s = &mut out[t as usize];
            s.bytes = s.bytes.saturating_add(size(block));
            s.blocks += 1;
        }
    });
    let lists = class_lists(tasks, &classes);
    let left = budget(classes.members.len(), tasks);
    count_others(&classes, &lists, left, &mut out);
    for (t, s) in out.iter_mut().enumerate() {
        s.first = first_others(&classes, lists.of(t as u32), t as u32);
    }
    out
}

/// Groups the pairs by block, calls `each` on every shared block and its
/// tasks, and returns the distinct task sets (rules 1 and 2).
fn classes(pairs: &[(u32, u32)], mut each: impl FnMut(u32, &[u32])) -> Classes {
    let tasks: Vec<u32> = pairs.iter().map(|&(_, t)| t).collect();
    let mut seen: HashSet<&[u32]> = HashSet::new();
    let mut members: Vec<u32> = Vec::new();
    let mut start = vec![0];
    let mut at = 0;
    while at < pairs.len() {
        let block = pairs[at].0;
        let end = at + pairs[at..].partition_point(|&(b, _)| b == block);
        let set = &tasks[at..end];
        at = end;
        if set.len() < 2 {
            continue;
        }
        each(block, set);
        if seen.insert(set) {
            members.extend_from_slice(set);
            start.push(members.len());
        }
    }
    Classes { start, members }
}

/// Each task's classes, largest first (rule 2), in the same CSR shape as
/// [`Classes`] (indexed by task).
fn class_lists(tasks: usize, classes: &Classes) -> Classes {
    let mut order: Vec<u32> = (0..classes.len() as u32).collect();
    order.sort_by_key(|&c| (std::cmp::Reverse(classes.of(c).len()), c));
    let mut start = vec![0usize; tasks + 1];
    for &t in &classes.members {
        start[t as usize + 1] += 1;
    }
    for t in 0..tasks {
        start[t + 1] += start[t];
    }
    let mut fill = start.clone();
    let mut members = vec![0u32; classes.members.len()];
    for &c in &order {
        for &t in classes.of(c) {
            members[fill[t as usize]] = c;
            fill[t as usize] += 1;
        }
    }
    Classes { start, members }
}

/// The steps rule 3 may take before giving up: a generous multiple of the
/// input, never less than a few million.
fn budget(memberships: usize, tasks: usize) -> u64 {
    64 * (memberships as u64 + tasks as u64) + (1 << 24)
}

/// Counts the other tasks of every task (rules 3 and 4), in at most
/// `left` steps.
fn count_others(classes: &Classes, lists: &Classes, mut left: u64, out: &mut [Shared]) {
    let mut order: Vec<u32> = (0..out.len() as u32)
        .filter(|&t| !lists.of(t).is_empty())
        .collect();
    order.sort_by(|&a, &b| lists.of(a).cmp(lists.of(b)));
    let mut walk = Walk {
        classes,
        cover: vec![0; out.len()],
        path: Vec::new(),
        covered: vec![0],
    };
    for t in order {
        let list = lists.of(t);
        let s = &mut out[t as usize];
        match walk.enter(list, &mut left) {
            Some(union) => {
                s.tasks = union - 1;
                s.exact = true;
            }
            None => {
                s.tasks = classes.of(list[0]).len() as u64 - 1;
                s.exact = false;
            }
        }
    }
}

/// The depth-first walk of the trie of class lists (rule 3).
struct Walk<'a> {
    classes: &'a Classes,
    /// Per task, how many classes on `path` hold it.
    cover: Vec<u32>,
    /// The classes of the current trie node, from the top.
    path: Vec<u32>,
    /// `covered[i]`: tasks held by the first `i` classes of `path`.
    covered: Vec<u64>,
}

impl Walk<'_> {
    /// Moves to the trie node of `list` and returns how many tasks its
    /// classes hold, or `None` when that would overrun `left` steps.
    fn enter(&mut self, list: &[u32], left: &mut u64) -> Option<u64> {
        let common = (self.path.iter().zip(list))
            .take_while(|(a, b)| a == b)
            .count();
        while self.path.len() > common {
            let c = self.path.pop().expect("longer than common");
            self.covered.pop();
            for &t in self.classes.of(c) {
                self.cover[t as usize] -= 1;
            }
        }
        let cost: u64 = (list[common..].iter())
            .map(|&c| self.classes.of(c).len() as u64)
            .sum();
        if cost > *left {
            return None;
        }
        *left -= cost;
        for &c in &list[common..] {
            let mut covered = *self.covered.last().expect("starts with 0");
            for &t in self.classes.of(c) {
                covered += u64::from(self.cover[t as usize] == 0);
                self.cover[t as usize] += 1;
            }
            self.path.push(c);
            self.covered.push(covered);
        }
        self.covered.last().copied()
    }
}

/// The first [`CAP`] tasks other than `task` in the union of `classes_of`
/// (rule 5).
fn first_others(classes: &Classes, classes_of: &[u32], task: u32) -> Vec<u32> {
    let mut first: Vec<u32> = (classes_of.iter())
        .flat_map(|&c| classes.of(c).iter().take(CAP + 1))
        .copied()
        .filter(|&t| t != task)
        .collect();
    first.sort_unstable();
    first.dedup();
    first.truncate(CAP);
    first
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// The other tasks of each task, by brute force.
    fn brute(tasks: usize, pairs: &[(u32, u32)]) -> Vec<Vec<u32>> {
        let mut by_block: HashMap<u32, Vec<u32>> = HashMap::new();
        for &(b, t) in pairs {
            by_block.entry(b).or_default().push(t);
        }
        let mut others = vec![Vec::new(); tasks];
        for list in by_block.values().filter(|l| l.len() >= 2) {
            for &t in list {
                others[t as usize].extend(list.iter().filter(|&&o| o != t));
            }
        }
        for o in &mut others {
            o.sort_unstable();
            o.dedup();
        }
        others
    }

    fn check(tasks: usize, mut pairs: Vec<(u32, u32)>) {
        pairs.sort_unstable();
        pairs.dedup();
        let got = shared(tasks, &pairs, |b| u64::from(b) + 1);
        for (t, want) in brute(tasks, &pairs).iter().enumerate() {
            let s = &got[t];
            assert_eq!(s.tasks, want.len() as u64, "task {t}");
            assert!(s.exact);
            assert_eq!(s.first[..], want[..want.len().min(CAP)], "task {t}");
        }
    }

    #[test]
    fn counts_match_brute_force_on_overlapping_classes() {
        // 40 tasks: block 0 held by all, 1 by the even ones, 2 by all but
        // task 3, pairs (t, t + 1) on blocks 100 + t, and a block held once.
        let mut pairs = Vec::new();
        for t in 0..40u32 {
            pairs.push((0, t));
            if t % 2 == 0 {
                pairs.push((1, t));
            }
            if t != 3 {
                pairs.push((2, t));
            }
            if t < 39 {
                pairs.extend([(100 + t, t), (100 + t, t + 1)]);
            }
        }
        pairs.push((500, 7));
        check(41, pairs);
    }

    #[test]
    fn counts_match_brute_force_on_random_sharing() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n) as u32
        };
        for round in 0..20 {
            let tasks = 5 + round * 3;
            let pairs = (0..tasks * 4)
                .map(|_| (next(tasks as u64), next(tasks as u64)))
                .collect();
            check(tasks, pairs);
        }
    }

    #[test]
    fn bytes_and_blocks_count_each_shared_block_once_per_task() {
        let pairs = vec![(1, 0), (1, 1), (2, 0), (2, 1), (3, 0)];
        let got = shared(2, &pairs, |b| 10 * u64::from(b));
        assert_eq!((got[0].bytes, got[0].blocks), (30, 2));
        assert_eq!((got[1].bytes, got[1].blocks, got[1].tasks), (30, 2, 1));
    }

    #[test]
    fn an_exhausted_budget_gives_flagged_lower_bounds() {
        // Class 0 is {0, 1, 2}, class 1 is {0, 3}. Tasks 1 and 2 enter
        // class 0 (3 steps); task 0 would add class 1 (2 more) and task 3
        // start afresh with it (2): past the budget of 4.
        let classes = Classes {
            start: vec![0, 3, 5],
            members: vec![0, 1, 2, 0, 3],
        };
        let lists = class_lists(4, &classes);
        let mut out = vec![
            Shared {
                exact: true,
                ..Shared::default()
            };
            4
        ];
        count_others(&classes, &lists, 4, &mut out);
        let got: Vec<(u64, bool)> = out.iter().map(|s| (s.tasks, s.exact)).collect();
        assert_eq!(got, [(2, false), (2, true), (2, true), (1, false)]);
        count_others(&classes, &lists, 7, &mut out);
        assert_eq!((out[0].tasks, out[0].exact), (3, true));
    }
}
