//! Folded stacks: the live heap as `frame;frame;frame bytes` lines, the
//! text every flame graph tool reads (inferno, Brendan Gregg's
//! `flamegraph.pl`, speedscope).
//!
//! # Rules
//!
//! 1. **Frames are the stack's lines, outermost first**: each symbolized
//!    function its own frame (inlined ones too), shortened as sites shorten
//!    them; an unsymbolized frame is its `module+offset`, and a closure or
//!    async block recorded without its path (`{async_fn#0}`, as
//!    `debug = "line-tables-only"` records inlined ones) gets its
//!    `(file:line)`, or nothing would tell it from the others. The frames every
//!    stack has are left out as `sites --stack` leaves them out (the
//!    allocator above, start-up below: [`view`](crate::analysis::sites::view)
//!    rule 1). A block without a stack is one frame, `(no stack recorded)`.
//! 2. **Live bytes** ([`Weigh::Live`]) weigh each block by its size, under
//!    its own allocation stack: the lines sum to `summary`'s `live_bytes`.
//!    When stacks were sampled they are the sites' estimates instead
//!    ([`estimate`](crate::analysis::sites::estimate)): each block with a
//!    stack stands for `1 / p` blocks, blocks without one count nowhere,
//!    and [`Folded::estimated`] says so.
//! 3. **Retained bytes** ([`Weigh::Retained`]) give every byte to exactly
//!    one holder, so nothing is counted twice and the lines still sum to
//!    `live_bytes`, exactly, sampled stacks or not. By stack: each block
//!    reached from a root counts under the allocation stack of the block
//!    that retains it at the top of the dominator tree (the first level of
//!    `dominators`), so a frame's width is what the blocks allocated there
//!    keep alive; blocks no root reaches count under `(unreachable)` and
//!    their own stack. By task: see rule 4.
//! 4. **By task** ([`Levels::Tasks`]) puts two frames above each stack:
//!    the task's spawn site (`spawned at src/main.rs:40`) and its future
//!    type. Live bytes go to the task whose polls allocated the block (its
//!    tag), as `tasks`' `allocated`; retained bytes to the task whose
//!    storage is the block's nearest dominator among task storages, as
//!    `tasks`' `retained` (task storages are roots, so no task's retained
//!    bytes hold another's). Other blocks are under one `(no task)` frame
//!    (with retained bytes, those no root reaches under `(unreachable)`).
//! 5. **Names are made safe for the format**: `;` (the frame separator)
//!    becomes `,`, and control characters become spaces.

use crate::analysis::Analysis;
use crate::analysis::sites::NO_STACK;
use crate::analysis::sites::estimate::{SiteWeights, Weight as SiteWeight};
use crate::analysis::sites::frames::{line_name, lines};
use crate::analysis::sites::view::shown_range;
use crate::model::{Snapshot, StackIndex, TaskIndex};
use std::collections::HashMap;
use std::io::{self, Write};

/// What a frame's width is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Weigh {
    /// Live bytes, at the block's allocation stack (rule 2).
    #[default]
    Live,
    /// Retained bytes, each byte under one holder (rule 3).
    Retained,
}

/// What the first frames are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Levels {
    /// The allocation stack alone.
    #[default]
    Stacks,
    /// Spawn site and future type above the stack (rule 4).
    Tasks,
}

/// How to fold a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct View {
    /// What a frame's width is.
    pub weigh: Weigh,
    /// What the first frames are.
    pub levels: Levels,
}

/// The frame of blocks no task holds (rule 4).
pub const NO_TASK: &str = "(no task)";
/// The frame of blocks no root reaches (rule 3).
pub const UNREACHABLE: &str = "(unreachable)";

/// A snapshot folded: one line per distinct stack of frames.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Folded {
    /// Frames outermost first, `;`-joined, and their bytes (never 0),
    /// sorted by frames.
    pub lines: Vec<(String, u64)>,
    /// Whether the bytes are estimates from sampled stacks (rule 2), and
    /// the sample's mean in bytes.
    pub estimated: Option<u64>,
}

impl Folded {
    /// The bytes of every line, summed (saturating).
    pub fn total(&self) -> u64 {
        (self.lines.iter()).fold(0, |sum, (_, bytes)| u64::saturating_add(sum, *bytes))
    }

    /// Writes the lines as folded text, `frames bytes` each.
    pub fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        for (frames, bytes) in &self.lines {
            writeln!(out, "{frames} {bytes}")?;
        }
        Ok(())
    }
}

/// The heap of `a`'s snapshot folded as `view` says (module rules).
pub fn fold(a: &Analysis, view: View) -> Folded {
    let mut acc = Accumulator::new(a);
    match view.weigh {
        Weigh::Live => live(a, view.levels, &mut acc),
        Weigh::Retained => retained(a, view.levels, &mut acc),
    }
    let estimated = match view.weigh {
        Weigh::Live => SiteWeights::of(a.snapshot()).sampled_every(),
        Weigh::Retained => None,
    };
    Folded {
        lines: acc.lines(),
        estimated,
    }
}

/// Which first frames a block goes under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Prefix {
    None,
    NoTask,
    Unreachable,
    Task(TaskIndex),
}

/// Bytes summed exactly, and estimated bytes summed unrounded.
#[derive(Debug, Clone, Copy, Default)]
struct Weight {
    exact: u64,
    estimated: f64,
}

impl Weight {
    fn add(&mut self, other: Weight) {
        self.exact = self.exact.saturating_add(other.exact);
        self.estimated += other.estimated;
    }

    /// Rounded once (estimate rule 3).
    fn bytes(&self) -> u64 {
        self.exact.saturating_add(self.estimated.round() as u64)
    }
}

/// Weights by first frames and allocation stack.
struct Accumulator<'x, 'a> {
    a: &'x Analysis<'a>,
    sums: HashMap<(Prefix, StackIndex), Weight>,
}

impl<'x, 'a> Accumulator<'x, 'a> {
    fn new(a: &'x Analysis<'a>) -> Self {
        Accumulator {
            a,
            sums: HashMap::new(),
        }
    }

    fn add(&mut self, prefix: Prefix, stack: StackIndex, w: Weight) {
        self.sums.entry((prefix, stack)).or_default().add(w);
    }

    /// The folded lines: stacks and prefixes named once each, lines named
    /// alike merged before rounding.
    fn lines(self) -> Vec<(String, u64)> {
        let snap = self.a.snapshot();
        let mut stacks: HashMap<StackIndex, String> = HashMap::new();
        let mut merged: HashMap<String, Weight> = HashMap::new();
        for ((prefix, stack), w) in self.sums {
            let frames = stacks
                .entry(stack)
                .or_insert_with(|| stack_frames(snap, stack));
            let line = match prefix_frames(self.a, prefix) {
                Some(p) => format!("{p};{frames}"),
                None => frames.clone(),
            };
            merged.entry(line).or_default().add(w);
        }
        let mut lines: Vec<(String, u64)> = (merged.into_iter())
            .map(|(line, w)| (line, w.bytes()))
            .filter(|&(_, bytes)| bytes != 0)
            .collect();
        lines.sort_unstable();
        lines
    }
}

/// Rule 2, and rule 4's live bytes.
fn live(a: &Analysis, levels: Levels, acc: &mut Accumulator) {
    let snap = a.snapshot();
    let weights = SiteWeights::of(snap);
    for b in &snap.blocks {
        let w = match weights.weight(b) {
            SiteWeight::Exact => Weight {
                exact: b.size,
                estimated: 0.0,
            },
            SiteWeight::Left => continue,
            SiteWeight::Estimate(k) => Weight {
                exact: 0,
                estimated: k * b.size as f64,
            },
        };
        let prefix = match levels {
            Levels::Stacks => Prefix::None,
            Levels::Tasks => a
                .task_of_tag(crate::rules::tag(b.task))
                .map_or(Prefix::NoTask, Prefix::Task),
        };
        acc.add(prefix, b.stack, w);
    }
}

/// Rule 3, and rule 4's retained bytes, from the analysis's dominator
/// tree.
fn retained(a: &Analysis, levels: Levels, acc: &mut Accumulator) {
    let snap = a.snapshot();
    let holders = Holders::of(a);
    for (i, b) in snap.blocks.iter().enumerate() {
        let w = Weight {
            exact: b.size,
            estimated: 0.0,
        };
        let Some(holder) = holders.of_block[i] else {
            acc.add(Prefix::Unreachable, b.stack, w);
            continue;
        };
        match levels {
            Levels::Stacks => acc.add(Prefix::None, snap.blocks[holder.top].stack, w),
            Levels::Tasks => {
                let prefix = holder.task.map_or(Prefix::NoTask, Prefix::Task);
                acc.add(prefix, b.stack, w);
            }
        }
    }
}

/// Who holds a reachable block: the top-level dominator block above it,
/// and the task whose storage is its nearest task-storage dominator.
#[derive(Debug, Clone, Copy)]
struct Holder {
    top: usize,
    task: Option<TaskIndex>,
}

/// The [`Holder`] of every block (`None`: no root reaches it).
struct Holders {
    of_block: Vec<Option<Holder>>,
}

impl Holders {
    /// Walks the dominator tree down from its first level of blocks.
    fn of(a: &Analysis) -> Holders {
        let (graph, tree) = (a.graph(), a.dominator_tree());
        let mut of_block = vec![None; a.snapshot().blocks.len()];
        let storage_task = |node: u32| {
            let b = graph.node_block(node)?;
            tree.task_of_storage(crate::model::BlockIndex::new(b))
        };
        let mut todo: Vec<(u32, Holder)> = Vec::new();
        for &top in tree.top() {
            let Some(b) = graph.node_block(top) else {
                continue;
            };
            let task = storage_task(top);
            todo.push((
                top,
                Holder {
                    top: b as usize,
                    task,
                },
            ));
        }
        while let Some((node, holder)) = todo.pop() {
            if let Some(b) = graph.node_block(node) {
                of_block[b as usize] = Some(holder);
            }
            for &child in tree.children(node) {
                let task = storage_task(child).or(holder.task);
                todo.push((child, Holder { task, ..holder }));
            }
        }
        Holders { of_block }
    }
}

/// The first frames of `prefix`, if any (rule 4).
fn prefix_frames(a: &Analysis, prefix: Prefix) -> Option<String> {
    match prefix {
        Prefix::None => None,
        Prefix::NoTask => Some(NO_TASK.to_owned()),
        Prefix::Unreachable => Some(UNREACHABLE.to_owned()),
        Prefix::Task(t) => {
            let snap = a.snapshot();
            let future = match snap.string(snap.task(t).future_type) {
                "" => "(future type unknown)",
                name => name,
            };
            let spawned = safe(&format!("spawned at {}", a.spawned_at(t)));
            Some(format!("{spawned};{}", safe(future)))
        }
    }
}

/// The frames of stack `stack`, outermost first (rule 1).
pub fn stack_frames(snap: &Snapshot, stack: StackIndex) -> String {
    let lines = lines(snap, stack);
    let (top, bottom) = shown_range(snap, &lines);
    let names: Vec<String> = (lines[top..bottom].iter().rev())
        .map(|line| {
            let name = line_name(snap, line, false);
            let text = match (line.symbol, name.location) {
                (None, location) => location.unwrap_or(name.function),
                (Some(_), Some(at)) if name.function.starts_with('{') => {
                    format!("{} ({at})", name.function)
                }
                (Some(_), _) => name.function,
            };
            safe(&text)
        })
        .collect();
    match names.is_empty() {
        true => NO_STACK.to_owned(),
        false => names.join(";"),
    }
}

/// `name` made safe for a folded line (rule 5).
pub fn safe(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            ';' => ',',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

/// Two foldings of one view, line by line: the bytes of each line in A
/// and in B (0 where absent), sorted by frames; what a differential flame
/// graph draws.
pub fn differential(a: &Folded, b: &Folded) -> Vec<(String, u64, u64)> {
    let mut lines: HashMap<&str, (u64, u64)> = HashMap::new();
    for (frames, bytes) in &a.lines {
        lines.entry(frames).or_default().0 += bytes;
    }
    for (frames, bytes) in &b.lines {
        lines.entry(frames).or_default().1 += bytes;
    }
    let mut lines: Vec<(String, u64, u64)> = (lines.into_iter())
        .map(|(frames, (x, y))| (frames.to_owned(), x, y))
        .collect();
    lines.sort_unstable();
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_separators_and_control_characters() {
        assert_eq!(safe("f<[u8; 8]>\n"), "f<[u8, 8]> ");
    }

    #[test]
    fn frames_are_outermost_first_and_bare_closures_say_where() {
        let mut b = crate::Builder::new();
        let (main, inner) = (
            b.symbol("svc::main", Some("/svc/src/main.rs"), 3),
            b.symbol("{async_fn#0}", Some("/svc/src/conn.rs"), 9),
        );
        let frame = b.frame(crate::model::Frame {
            addr: 0x10,
            module: None,
            symbols: vec![inner, main],
        });
        let stack = b.stack(&[frame]);
        let snap = b.build();
        let frames = stack_frames(&snap, stack);
        assert_eq!(frames, "svc::main;{async_fn#0} (src/conn.rs:9)");
        assert_eq!(stack_frames(&snap, StackIndex::EMPTY), NO_STACK);
    }

    #[test]
    fn weights_round_once_after_summing() {
        let mut w = Weight::default();
        for _ in 0..4 {
            w.add(Weight {
                exact: 1,
                estimated: 0.4,
            });
        }
        assert_eq!(w.bytes(), 4 + 2);
    }
}
