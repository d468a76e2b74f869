//! The wake analysis on small hand-built heaps, one rule each.

use super::path::{Holder, Step, Via};
use super::{Reason, Stuck, Waits};
use crate::analysis::Analysis;
use crate::analysis::waits::drivers::Driver;
use crate::model::{
    Block, BlockIndex, Edge, EdgeKind, Frame, Root, RootKind, Snapshot, StackIndex, Symbol, Task,
    TaskIndex, TaskKind, TaskState,
};

use EdgeKind::{Conservative, JoinHandle, Waiter, Waker};
use TaskState::{Cancelled, Notified, Pending, Running};

fn b(i: u32) -> BlockIndex {
    BlockIndex::new(i)
}

fn t(i: u32) -> TaskIndex {
    TaskIndex::new(i)
}

/// A heap of `blocks` blocks of 64 bytes; tokio tasks (id = index + 1
/// unless said), each its cell and a task root; edges and roots with
/// kinds.
struct Heap(Snapshot);

impl Heap {
    fn new(blocks: u32) -> Heap {
        Heap(Snapshot {
            blocks: (0..u64::from(blocks))
                .map(|i| Block {
                    addr: 0x1000 * (i + 1),
                    size: 64,
                    ..Block::default()
                })
                .collect(),
            ..Snapshot::default()
        })
    }

    /// A task in `state` whose cell (and storage) is block `cell`.
    fn task(&mut self, state: TaskState, cell: u32) -> TaskIndex {
        let s = &mut self.0;
        let i = s.tasks.len() as u32;
        s.tasks.push(Task {
            id: u64::from(i) + 1,
            kind: TaskKind::Tokio,
            state,
            storage: Some(b(cell)),
            cell: Some(b(cell)),
            refs: 1,
            ..Task::default()
        });
        s.roots.push(Root {
            kind: RootKind::Task,
            targets: vec![b(cell)],
            task: Some(t(i)),
            ..Root::default()
        });
        t(i)
    }

    fn edge(&mut self, from: u32, to: u32, kind: EdgeKind) -> &mut Heap {
        self.0.edges.push(Edge {
            kind,
            ..Edge::new(b(from), b(to))
        });
        self
    }

    /// A root of `kind` labelled `label` pointing at `targets` by their
    /// kinds.
    fn root(&mut self, kind: RootKind, label: &str, targets: &[(u32, EdgeKind)]) -> &mut Heap {
        let mut targets = targets.to_vec();
        targets.sort();
        self.0.strings.push(label.to_owned());
        self.0.roots.push(Root {
            kind,
            label: crate::model::StringIndex::new(self.0.strings.len() as u32 - 1),
            targets: targets.iter().map(|&(x, _)| b(x)).collect(),
            kinds: targets.iter().map(|&(_, k)| k).collect(),
            ..Root::default()
        });
        self
    }

    fn build(&self) -> Snapshot {
        let mut s = self.0.clone();
        s.edges.sort();
        s
    }
}

fn stuck_of(w: &Waits, task: TaskIndex) -> Option<&Stuck> {
    w.stuck().iter().find(|s| s.task == task)
}

fn stuck_tasks(w: &Waits) -> Vec<TaskIndex> {
    w.stuck().iter().map(|s| s.task).collect()
}

/// A holder (block 0) awaiting `pending()` holds 100 oneshot channels
/// (blocks 1..=100), each with the waker of one of 100 tasks (cells
/// 101..=200); a static's stale word points into the holder's cell.
#[test]
fn a_hundred_tasks_wait_behind_a_holder_nothing_wakes() {
    let mut h = Heap::new(201);
    let holder = h.task(Pending, 0);
    h.root(RootKind::Static, "/svc/bin/svc", &[(0, Conservative)]);
    for i in 1..=100 {
        let waiter = h.task(Pending, 100 + i);
        assert_eq!(waiter, t(i));
        h.edge(0, i, Conservative).edge(i, 100 + i, Waker);
    }
    let s = h.build();
    let w = Waits::new(&s);
    assert_eq!(w.stuck().len(), 101);
    let h = stuck_of(&w, holder).unwrap();
    assert_eq!(
        (h.reason, h.holders.len(), h.held_by_unreachable),
        (Reason::NoWaker, 0, false)
    );
    for i in 1..=100 {
        let s = stuck_of(&w, t(i)).unwrap();
        assert_eq!(s.reason, Reason::Behind(holder), "task {i}");
        assert_eq!(
            (s.holders.as_slice(), s.holders_exact),
            (&[holder][..], true)
        );
    }
    assert!(w.cycles().is_empty());
}

/// Two tasks each hold a lock (blocks 2 and 3) whose waiter list links
/// into the other's future.
#[test]
fn two_tasks_awaiting_each_others_lock_are_one_cycle() {
    let mut h = Heap::new(4);
    let (a, b_) = (h.task(Pending, 0), h.task(Pending, 1));
    h.edge(0, 2, Conservative).edge(2, 1, Waiter);
    h.edge(1, 3, Conservative).edge(3, 0, Waiter);
    let s = h.build();
    let w = Waits::new(&s);
    assert_eq!(w.cycles(), [vec![a, b_]]);
    for (task, other) in [(a, b_), (b_, a)] {
        let s = stuck_of(&w, task).unwrap();
        assert_eq!(
            (s.reason, s.holders.as_slice()),
            (Reason::Cycle(0), &[other][..])
        );
    }
}

/// A frame of tokio's timer wheel, innermost, then the allocator's.
fn timer_stack(s: &mut Snapshot) -> StackIndex {
    let mut sym = |f: &str| {
        s.strings.push(f.to_owned());
        Symbol {
            function: crate::model::StringIndex::new(s.strings.len() as u32 - 1),
            file: None,
            line: 1,
        }
    };
    let symbols = [
        sym("alloc::alloc::alloc"),
        sym("tokio::util::slab::Slab<T>::new"),
        sym("tokio::runtime::time::wheel::level::Level::new"),
        sym("tokio::runtime::builder::Builder::build"),
        sym("svc::main"),
    ];
    s.frames.push(Frame {
        addr: 0x10,
        symbols: symbols.to_vec(),
        ..Frame::default()
    });
    s.stacks.push(vec![crate::model::FrameIndex::new(0)]);
    StackIndex::new(s.stacks.len() as u32 - 1)
}

/// A static holds the wakers of tasks 0 and 1; the timer's wheel (block
/// 4, reached from static data) links into task 2's future.
#[test]
fn wakers_a_static_or_the_timer_holds_wake_their_tasks() {
    let mut h = Heap::new(5);
    let (a, b_, c) = (h.task(Pending, 0), h.task(Pending, 1), h.task(Pending, 2));
    h.root(RootKind::Static, "/svc/bin/svc", &[(0, Waker), (1, Waker)]);
    h.root(RootKind::Static, "/svc/bin/svc", &[(3, Conservative)]);
    h.edge(3, 4, Conservative).edge(4, 2, Waiter);
    h.0.blocks[4].stack = timer_stack(&mut h.0);
    let s = h.build();
    let w = Waits::new(&s);
    assert!(w.stuck().is_empty(), "{:?}", w.stuck());
    assert_eq!(w.wakeable().collect::<Vec<_>>(), [a, b_, c]);
    let path = w.wake_path(&s, a).unwrap();
    assert_eq!(path.len(), 1);
    assert!(matches!(
        path[0],
        Step {
            holder: Holder::Root(3, _),
            via: Via::Waker
        }
    ));
    let path = w.wake_path(&s, c).unwrap();
    let holders: Vec<Holder> = path.iter().map(|s| s.holder).collect();
    assert!(
        matches!(holders[..], [Holder::Root(4, _), Holder::Block(x), Holder::Block(y)] if (x, y) == (b(3), b(4)))
    );
    assert_eq!(path[2].via, Via::Waiter);
    let a = Analysis::new(&s);
    assert_eq!(a.driver(b(4)), Some(Driver::Timer));
    assert_eq!(a.driver(b(3)), None);
}

/// Task A's waker sits in task B's cell (B awaits `pending()`), and A
/// holds B's `JoinHandle`: A awaits B.
#[test]
fn a_task_awaiting_a_stuck_tasks_join_handle_is_behind_it() {
    let mut h = Heap::new(2);
    let (a, b_) = (h.task(Pending, 0), h.task(Pending, 1));
    h.edge(1, 0, Waker).edge(0, 1, JoinHandle);
    let s = h.build();
    let w = Waits::new(&s);
    assert!(w.cycles().is_empty());
    assert_eq!(stuck_of(&w, a).unwrap().reason, Reason::Behind(b_));
    let b_ = stuck_of(&w, b_).unwrap();
    assert_eq!(b_.reason, Reason::NoWaker);
    assert_eq!(
        (b_.join_handle_holders.as_slice(), b_.holders.len()),
        (&[a][..], 0)
    );
}

/// A thread stack points at a pending task's cell by `kind`.
fn on_a_stack(kind: EdgeKind) -> Snapshot {
    let mut h = Heap::new(1);
    h.task(Pending, 0);
    h.root(RootKind::ThreadStack, "thread 7", &[(0, kind)]);
    h.build()
}

#[test]
fn a_stack_word_at_a_cell_wakes_its_task_only_if_it_is_a_waker() {
    for kind in [JoinHandle, Conservative, Waiter] {
        let s = on_a_stack(kind);
        assert_eq!(stuck_tasks(&Waits::new(&s)), [t(0)], "{kind:?}");
    }
    let s = on_a_stack(Waker);
    assert!(Waits::new(&s).stuck().is_empty());
    // From the heap, a join handle does wake (rule 2).
    let mut h = Heap::new(2);
    h.task(Pending, 0);
    h.root(RootKind::ThreadStack, "thread 7", &[(1, Conservative)]);
    h.edge(1, 0, JoinHandle);
    assert!(Waits::new(&h.build()).stuck().is_empty());
}

/// A running task's future (block 0) holds task 2's waker; a notified
/// task's future (block 1) links into task 3's future, whose future holds
/// task 4's waker.
#[test]
fn running_and_notified_tasks_are_live_and_wake_what_they_hold() {
    let mut h = Heap::new(5);
    let (running, notified) = (h.task(Running, 0), h.task(Notified, 1));
    let (p2, p3, p4) = (h.task(Pending, 2), h.task(Pending, 3), h.task(Pending, 4));
    h.edge(0, 2, Waker).edge(1, 3, Waiter).edge(3, 4, Waker);
    let s = h.build();
    let w = Waits::new(&s);
    assert!(w.stuck().is_empty());
    assert!(w.is_live(running) && w.is_live(notified));
    assert_eq!(w.wakeable().collect::<Vec<_>>(), [p2, p3, p4]);
    assert_eq!(w.wake_path(&s, running), None, "a start needs no waking");
    let path = w.wake_path(&s, p4).unwrap();
    let steps: Vec<(Holder, Via)> = path.iter().map(|s| (s.holder, s.via)).collect();
    assert_eq!(
        steps,
        [
            (Holder::Task(notified, b(1)), Via::Waiter),
            (Holder::Task(p3, b(3)), Via::Waker)
        ]
    );
}

/// A waker for task 0 sits in block 1, which nothing points to (a leak).
#[test]
fn a_waker_only_in_leaked_memory_wakes_nothing() {
    let mut h = Heap::new(2);
    let task = h.task(Pending, 0);
    h.edge(1, 0, Waker);
    let s = h.build();
    let w = Waits::new(&s);
    let s = stuck_of(&w, task).unwrap();
    assert_eq!((s.reason, s.held_by_unreachable), (Reason::NoWaker, true));
    // A stuck task that only wakes itself is no holder either.
    let mut h = Heap::new(3);
    let task = h.task(Pending, 0);
    h.edge(0, 2, Conservative).edge(2, 0, Waiter);
    let s = h.build();
    let w = Waits::new(&s);
    let s = stuck_of(&w, task).unwrap();
    assert_eq!((s.reason, s.held_by_unreachable), (Reason::NoWaker, false));
}

/// A static holds task 0's waker; task 0's future holds a `Notify`
/// (block 2) whose waiter list links into task 1's future.
#[test]
fn a_path_through_a_woken_task_names_it() {
    let mut h = Heap::new(3);
    let (t0, t1) = (h.task(Pending, 0), h.task(Pending, 1));
    h.root(RootKind::Static, "/svc/bin/svc", &[(0, Waker)]);
    h.edge(0, 2, Conservative).edge(2, 1, Waiter);
    let s = h.build();
    let w = Waits::new(&s);
    let steps: Vec<(Holder, Via)> = (w.wake_path(&s, t1).unwrap().iter())
        .map(|s| (s.holder, s.via))
        .collect();
    assert!(matches!(steps[0], (Holder::Root(2, _), Via::Waker)));
    assert_eq!(
        steps[1..],
        [
            (Holder::Task(t0, b(0)), Via::Pointer),
            (Holder::Block(b(2)), Via::Waiter)
        ]
    );
}

/// Finished tasks and the C library's data are no live starts (rule 1);
/// a blocking task is never pending.
#[test]
fn zombies_and_the_c_runtime_wake_nothing() {
    let mut h = Heap::new(4);
    let zombie = h.task(Cancelled, 0);
    let (p1, p2) = (h.task(Pending, 1), h.task(Pending, 2));
    h.edge(0, 1, Waker);
    h.root(
        RootKind::Static,
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        &[(2, Waker)],
    );
    let blocking = h.task(Pending, 3);
    h.0.tasks[blocking.index()].kind = TaskKind::Blocking;
    let s = h.build();
    let w = Waits::new(&s);
    assert_eq!(stuck_tasks(&w), [p1, p2]);
    assert!(!w.is_live(zombie) && w.is_live(blocking));
    assert_eq!(w.pending(), [p1, p2]);
}

/// Stuck tasks X (block 0) and Y (block 2) both reach block 1, which
/// holds task S's waker: X directly, Y through a chain of `chain` blocks.
fn shared_holder(chain: u32) -> (Snapshot, [TaskIndex; 3]) {
    let mut h = Heap::new(4 + chain);
    let (x, y, s) = (h.task(Pending, 0), h.task(Pending, 2), h.task(Pending, 3));
    h.edge(0, 1, Conservative).edge(1, 3, Waker);
    let links = std::iter::once(2).chain(4..4 + chain).collect::<Vec<_>>();
    for pair in links.windows(2) {
        h.edge(pair[0], pair[1], Conservative);
    }
    h.edge(*links.last().unwrap(), 1, Conservative);
    (h.build(), [x, y, s])
}

#[test]
fn a_block_several_stuck_tasks_reach_is_held_by_all_of_them() {
    let (snap, [x, y, s]) = shared_holder(3);
    let w = Waits::new(&snap);
    let s = stuck_of(&w, s).unwrap();
    assert_eq!((s.holders.as_slice(), s.holders_exact), (&[x, y][..], true));
    assert_eq!(
        s.reason,
        Reason::Behind(x),
        "the lowest id of equal holders"
    );
    // Past the search's bound, what was found is said to be partial.
    let (snap, [x, _, s]) = shared_holder(super::explain::SEARCH_LIMIT as u32 + 10);
    let w = Waits::new(&snap);
    let s = stuck_of(&w, s).unwrap();
    assert_eq!((s.holders.as_slice(), s.holders_exact), (&[x][..], false));
}

#[test]
fn the_holder_named_is_one_in_a_cycle_then_the_busiest() {
    // Tasks 0 and 1 are a cycle (0 holds two wakers); task 5 holds the
    // wakers of 2, 3 and 4, task 2 only 4's. Task 3's is held by 0 and 5,
    // task 4's by 2 and 5.
    let mut h = Heap::new(6);
    let tasks: Vec<TaskIndex> = (0..6).map(|i| h.task(Pending, i)).collect();
    h.edge(0, 1, Waker).edge(1, 0, Waker).edge(0, 3, Waker);
    h.edge(5, 2, Waker)
        .edge(5, 3, Waker)
        .edge(5, 4, Waker)
        .edge(2, 4, Waker);
    let s = h.build();
    let w = Waits::new(&s);
    let reason = |i: usize| stuck_of(&w, tasks[i]).unwrap().reason;
    assert_eq!(reason(3), Reason::Behind(tasks[0]), "in a cycle");
    assert_eq!(reason(4), Reason::Behind(tasks[5]), "holds the most");
    assert_eq!(reason(2), Reason::Behind(tasks[5]));
    assert_eq!(reason(5), Reason::NoWaker);
}

/// Stuck task X's future (block 0) points at stuck task Y's (block 1),
/// which points at block 2; neither block 1 nor 2 is X's to label.
#[test]
fn labels_stop_at_another_tasks_storage() {
    let mut h = Heap::new(3);
    let (_, y) = (h.task(Pending, 0), h.task(Pending, 1));
    h.edge(0, 1, Conservative).edge(1, 2, Conservative);
    let s = h.build();
    let tables = super::wiring::Tables::new(&s);
    let w = super::wiring::Wiring::new(&s, &tables);
    let m = super::mark::Marking::new(w);
    let labels = super::explain::label(w, &m, &[t(0), y]);
    assert_eq!(labels, [0, 1, 1], "not {}", super::explain::SEVERAL);
}

/// A static holds the waker of task 0, whose future the spawn boxed
/// (block 1, below its cell, block 0); that future holds a `Notify`
/// (block 2) linking into task 1's future.
#[test]
fn a_path_through_a_task_names_it_once() {
    let mut h = Heap::new(4);
    let (t0, t1) = (h.task(Pending, 0), h.task(Pending, 3));
    h.0.tasks[t0.index()].future_block = Some(b(1));
    h.root(RootKind::Static, "/svc/bin/svc", &[(0, Waker)]);
    h.edge(0, 1, Conservative)
        .edge(1, 2, Conservative)
        .edge(2, 3, Waiter);
    let s = h.build();
    let w = Waits::new(&s);
    let steps: Vec<(Holder, Via)> = (w.wake_path(&s, t1).unwrap().iter())
        .map(|s| (s.holder, s.via))
        .collect();
    assert!(matches!(steps[0], (Holder::Root(2, _), Via::Waker)));
    assert_eq!(
        steps[1..],
        [
            (Holder::Task(t0, b(1)), Via::Pointer),
            (Holder::Block(b(2)), Via::Waiter)
        ]
    );
}
