//! Why each stuck task is stuck (rules 6 to 9 of [`waits`](super)): who
//! holds a way to wake it, deadlock cycles, and the task each is behind.

use super::mark::Marking;
use super::wiring::{NONE, Standing, Wiring, standing, storage_blocks};
use super::{Reason, Stuck};
use crate::model::{EdgeKind, TaskIndex};
use petgraph::graph::{DiGraph, NodeIndex};
use std::cmp::Reverse;
use std::collections::HashMap;

/// A non-live block reached from the storage of more than one stuck task.
pub(super) const SEVERAL: u32 = NONE - 1;

/// Blocks a reverse search (rule 6) visits once it has found a holder.
pub(super) const SEARCH_LIMIT: usize = 1 << 16;

/// The stuck tasks of a marking, explained; and the deadlock cycles.
pub(super) fn explain(w: Wiring, m: &Marking) -> (Vec<Stuck>, Vec<Vec<TaskIndex>>) {
    let snap = w.snap;
    let stuck: Vec<TaskIndex> = (snap.task_indices().zip(&snap.tasks))
        .filter(|(t, task)| standing(task.state, task.kind) == Standing::Pending && !m.is_live(*t))
        .filter(|(_, task)| storage_blocks(task).next().is_some())
        .map(|(t, _)| t)
        .collect();
    let mut index = vec![NONE; snap.tasks.len()];
    for (k, t) in stuck.iter().enumerate() {
        index[t.index()] = k as u32;
    }
    let labels = label(w, m, &stuck);
    let mut holds = Holds::new(stuck.len());
    let mut search = ReverseSearch::new(w, m);
    for e in snap.edges.iter().filter(|e| e.kind.is_wake()) {
        let (from, to) = (e.from.get(), e.to.get());
        let Some(s) = w.owner(to).map(|t| index[t.index()]).filter(|&s| s != NONE) else {
            continue;
        };
        if m.is_marked(from) || w.owner(from) == Some(stuck[s as usize]) {
            continue; // its own waiter nodes (rule 6)
        }
        match labels[from as usize] {
            NONE => holds.unreachable(s, e.kind),
            SEVERAL => {
                let (holders, exact) = search.holders(from, &index);
                holds.add(s, e.kind, holders.iter().copied(), exact);
            }
            h => holds.add(s, e.kind, [h], true),
        }
    }
    holds.into_stuck(snap, &stuck)
}

/// Labels every non-live block with the one stuck task (index into
/// `stuck`) whose storage reaches it without passing through another
/// task's storage, or [`SEVERAL`], or [`NONE`] (rule 6). A block's label
/// changes at most twice, so this reads each pointer at most twice.
pub(super) fn label(w: Wiring, m: &Marking, stuck: &[TaskIndex]) -> Vec<u32> {
    let mut labels = vec![NONE; w.snap.blocks.len()];
    let mut work = Vec::new();
    for (k, &t) in stuck.iter().enumerate() {
        for b in storage_blocks(w.snap.task(t)) {
            labels[b.index()] = k as u32;
            work.push(b.get());
        }
    }
    while let Some(b) = work.pop() {
        let l = labels[b as usize];
        for (to, _) in w.out(b) {
            if m.is_marked(to) || w.owner(to).is_some() {
                continue;
            }
            let old = labels[to as usize];
            let new = match old {
                NONE => l,
                o if o == l => continue,
                _ => SEVERAL,
            };
            if new != old {
                labels[to as usize] = new;
                work.push(to);
            }
        }
    }
    labels
}

/// Backward searches from blocks several stuck tasks reach, to their
/// storage (rule 6), over the non-live blocks' pointers reversed (built on
/// first use), with their answers kept per block.
struct ReverseSearch<'w> {
    w: Wiring<'w>,
    m: &'w Marking,
    /// Block `b`'s holders are `from[first[b]..first[b + 1]]`.
    first: Vec<usize>,
    from: Vec<u32>,
    /// The search that last saw each block.
    seen: Vec<u32>,
    searches: u32,
    answers: HashMap<u32, (Vec<u32>, bool)>,
}

impl<'w> ReverseSearch<'w> {
    fn new(w: Wiring<'w>, m: &'w Marking) -> Self {
        ReverseSearch {
            w,
            m,
            first: Vec::new(),
            from: Vec::new(),
            seen: Vec::new(),
            searches: 0,
            answers: HashMap::new(),
        }
    }

    /// The pointers between non-live blocks, reversed.
    fn build(&mut self) {
        let blocks = self.w.snap.blocks.len() as u32;
        let dead = (0..blocks).filter(|&b| !self.m.is_marked(b));
        let pairs = || {
            dead.clone().flat_map(|b| {
                (self.w.out(b))
                    .filter(|&(to, _)| !self.m.is_marked(to))
                    .map(move |(to, _)| (b, to))
            })
        };
        let mut first = vec![0usize; blocks as usize + 1];
        for (_, to) in pairs() {
            first[to as usize + 1] += 1;
        }
        for b in 0..blocks as usize {
            first[b + 1] += first[b];
        }
        let mut from = vec![0; first[blocks as usize]];
        let mut next = first.clone();
        for (b, to) in pairs() {
            from[next[to as usize]] = b;
            next[to as usize] += 1;
        }
        (self.first, self.from) = (first, from);
        self.seen = vec![NONE; blocks as usize];
    }

    /// The stuck tasks (indices, through `index`) whose storage reaches
    /// block `b`, sorted, and whether that is all of them: the search stops
    /// [`SEARCH_LIMIT`] blocks after the first one found.
    fn holders(&mut self, b: u32, index: &[u32]) -> (Vec<u32>, bool) {
        if let Some(answer) = self.answers.get(&b) {
            return answer.clone();
        }
        if self.seen.is_empty() {
            self.build();
        }
        self.searches += 1;
        let (mut found, mut queue, mut at) = (Vec::new(), vec![b], 0);
        let mut budget = SEARCH_LIMIT;
        self.seen[b as usize] = self.searches;
        while at < queue.len() && (found.is_empty() || budget > 0) {
            let v = queue[at];
            at += 1;
            budget = budget.saturating_sub(usize::from(!found.is_empty()));
            if let Some(t) = self.w.owner(v) {
                found.push(index[t.index()]);
                continue;
            }
            for &p in &self.from[self.first[v as usize]..self.first[v as usize + 1]] {
                if self.seen[p as usize] != self.searches {
                    self.seen[p as usize] = self.searches;
                    queue.push(p);
                }
            }
        }
        found.retain(|&k| k != NONE);
        found.sort_unstable();
        found.dedup();
        let answer = (found, at == queue.len());
        self.answers.insert(b, answer.clone());
        answer
    }
}

/// What holds a way to wake each stuck task, by index into the stuck list.
struct Holds {
    wakers: Vec<Vec<u32>>,
    join_handles: Vec<Vec<u32>>,
    exact: Vec<bool>,
    unreachable: Vec<bool>,
}

impl Holds {
    fn new(n: usize) -> Holds {
        Holds {
            wakers: vec![Vec::new(); n],
            join_handles: vec![Vec::new(); n],
            exact: vec![true; n],
            unreachable: vec![false; n],
        }
    }

    /// Stuck tasks `by` hold a pointer of `kind` into stuck task `s`'s
    /// storage; `exact`: all of them are known.
    fn add(&mut self, s: u32, kind: EdgeKind, by: impl IntoIterator<Item = u32>, exact: bool) {
        let list = match kind {
            EdgeKind::JoinHandle => &mut self.join_handles[s as usize],
            _ => {
                self.exact[s as usize] &= exact;
                &mut self.wakers[s as usize]
            }
        };
        list.extend(by.into_iter().filter(|&h| h != s));
    }

    /// A block nothing reaches holds a pointer of `kind` into `s`.
    fn unreachable(&mut self, s: u32, kind: EdgeKind) {
        self.unreachable[s as usize] |= kind != EdgeKind::JoinHandle;
    }

    /// The stuck tasks `stuck`, explained (rules 7 to 9), and the cycles.
    fn into_stuck(
        mut self,
        snap: &crate::model::Snapshot,
        stuck: &[TaskIndex],
    ) -> (Vec<Stuck>, Vec<Vec<TaskIndex>>) {
        let id = |k: u32| (snap.task(stuck[k as usize]).id, k);
        for list in self.wakers.iter_mut().chain(&mut self.join_handles) {
            list.sort_unstable_by_key(|&k| id(k));
            list.dedup();
        }
        let cycles = cycles(&self.wakers, id);
        let task = |k: u32| stuck[k as usize];
        let reasons = self.reasons(&cycles, id, task);
        let out = (reasons.into_iter().zip(0..))
            .map(|(reason, k): (Reason, usize)| {
                let holders = &self.wakers[k];
                Stuck {
                    task: task(k as u32),
                    reason,
                    holders: holders.iter().map(|&h| task(h)).collect(),
                    holders_exact: self.exact[k],
                    join_handle_holders: self.join_handles[k].iter().map(|&h| task(h)).collect(),
                    held_by_unreachable: holders.is_empty() && self.unreachable[k],
                }
            })
            .collect();
        let cycles = (cycles.into_iter())
            .map(|c| c.into_iter().map(task).collect())
            .collect();
        (out, cycles)
    }

    /// Each stuck task's reason (rules 7 to 9).
    fn reasons(
        &self,
        cycles: &[Vec<u32>],
        id: impl Fn(u32) -> (u64, u32),
        task: impl Fn(u32) -> TaskIndex,
    ) -> Vec<Reason> {
        let n = self.wakers.len();
        let mut cycle_of = vec![None; n];
        for (c, members) in cycles.iter().enumerate() {
            for &k in members {
                cycle_of[k as usize] = Some(c);
            }
        }
        let mut holding = vec![0u64; n];
        for &h in self.wakers.iter().flatten() {
            holding[h as usize] += 1;
        }
        // Rule 8: a holder in a cycle, else the busiest, else the lowest id.
        let rank = |h: u32| {
            (
                cycle_of[h as usize].is_none(),
                Reverse(holding[h as usize]),
                id(h),
            )
        };
        (self.wakers.iter().zip(&cycle_of))
            .map(|(holders, &cycle)| {
                let behind = holders.iter().copied().min_by_key(|&h| rank(h));
                match (cycle, behind) {
                    (Some(c), _) => Reason::Cycle(c),
                    (None, Some(h)) => Reason::Behind(task(h)),
                    (None, None) => Reason::NoWaker,
                }
            })
            .collect()
    }
}

/// The strongly connected components of two or more tasks in the graph
/// "holds a waker of" (`wakers[s]`: the holders of `s`), each sorted by
/// `key`, in the order of their first task (rule 7). Kosaraju's search
/// keeps its own stack, so a long chain of stuck tasks needs no deep
/// recursion.
fn cycles(wakers: &[Vec<u32>], key: impl Fn(u32) -> (u64, u32)) -> Vec<Vec<u32>> {
    let edges =
        (wakers.iter().zip(0u32..)).flat_map(|(holders, s)| holders.iter().map(move |&h| (h, s)));
    let mut g: DiGraph<(), ()> = DiGraph::with_capacity(wakers.len(), 0);
    for _ in wakers {
        g.add_node(());
    }
    g.extend_with_edges(
        edges.map(|(h, s)| (NodeIndex::new(h as usize), NodeIndex::new(s as usize))),
    );
    let mut out: Vec<Vec<u32>> = (petgraph::algo::kosaraju_scc(&g).into_iter())
        .filter(|c| c.len() >= 2)
        .map(|c| {
            let mut c: Vec<u32> = c.into_iter().map(|n| n.index() as u32).collect();
            c.sort_unstable_by_key(|&k| key(k));
            c
        })
        .collect();
    out.sort_unstable_by_key(|c| key(c[0]));
    out
}
