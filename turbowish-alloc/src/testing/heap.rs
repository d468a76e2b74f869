//! [`Heap`]: a snapshot of the test process, its queries and assertions.

use super::render::command;
use super::scratch::Scratch;
use crate::error::Error;
use crate::snapshot::capture::SnapshotInfo;
use std::fmt::Write;
use std::path::Path;
use turbowish_snap::analysis::Analysis;
use turbowish_snap::{Snapshot, Task, TaskIndex, TaskState};

/// Offenders a failure message explains one by one; the rest are counted.
const EXPLAINED: usize = 3;

/// A snapshot of this process, taken by [`Heap::take`] and read back with
/// the analysis library (testing rule 1).
#[derive(Debug)]
pub struct Heap {
    snap: Snapshot,
    info: SnapshotInfo,
    file: Scratch,
}

/// A task in a [`Heap`], as `turbowish tasks` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskSummary {
    /// Its id: the tokio task id, or a traced task's own.
    pub id: u64,
    /// Its name, if it was given one.
    pub name: String,
    /// Where it was spawned, as `file:line`, with its crate when a library
    /// spawned it.
    pub spawned_at: String,
    /// Where it stands.
    pub state: TaskState,
    /// Its future's type, when known.
    pub future_type: String,
    /// The bytes its storage keeps alive on its own (its retained size).
    pub retained: u64,
    /// The live bytes allocated inside its polls, wherever held.
    pub allocated: u64,
}

impl Heap {
    /// Takes a snapshot of the whole process.
    ///
    /// # Panics
    ///
    /// When the snapshot cannot be taken or read back, with the reason
    /// (for one, [`TurboWish`](crate::TurboWish) is not the global
    /// allocator); [`Heap::try_take`] returns it instead.
    #[track_caller]
    pub fn take() -> Heap {
        match Heap::try_take() {
            Ok(heap) => heap,
            Err(e) => panic!("turbowish: {e}"),
        }
    }

    /// Takes a snapshot of the whole process, or says why it could not.
    pub fn try_take() -> Result<Heap, Error> {
        check_global_allocator()?;
        let file = Scratch::new();
        let info = crate::snapshot_to(file.path())?;
        let snap = turbowish_snap::read_file(file.path())
            .map_err(|e| Error::Unreadable(format!("{}: {e}", file.path().display())))?;
        // The next check's child need not resolve these frames again.
        crate::snapshot::symbol_memo::remember(&snap);
        Ok(Heap { snap, info, file })
    }

    /// The snapshot, for questions this type does not answer: read it with
    /// `turbowish_snap::analysis::Analysis`.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snap
    }

    /// What the capture reported: blocks, edges, the pause.
    pub fn info(&self) -> &SnapshotInfo {
        &self.info
    }

    /// Keeps the snapshot file after this value is dropped, and says where
    /// it is, for `turbowish` commands.
    pub fn keep(&self) -> &Path {
        self.file.keep()
    }

    /// The tasks spawned at a location containing `pattern` (`"pool.rs"`,
    /// `"src/pool.rs:42"`, a crate name): queries and assertions about them
    /// alone.
    pub fn spawned_at<'h>(&'h self, pattern: &str) -> Scope<'h> {
        Scope {
            heap: self,
            analysis: Analysis::new(&self.snap),
            pattern: Some(pattern.to_owned()),
        }
    }

    /// Every task, and blocks allocated outside tasks too.
    pub fn everything(&self) -> Scope<'_> {
        Scope {
            heap: self,
            analysis: Analysis::new(&self.snap),
            pattern: None,
        }
    }

    /// The bytes the tasks spawned at a location containing `pattern`
    /// retain, together (see [`Scope::retained`]).
    pub fn retained_by_spawn_site(&self, pattern: &str) -> u64 {
        self.spawned_at(pattern).retained()
    }

    /// The tasks spawned at a location containing `pattern`.
    pub fn tasks_at(&self, pattern: &str) -> Vec<TaskSummary> {
        self.spawned_at(pattern).tasks()
    }

    /// Panics if a finished task's storage is still alive anywhere in the
    /// process (a zombie future); see [`Scope::assert_no_zombies`].
    #[track_caller]
    pub fn assert_no_zombies(&self) {
        self.everything().assert_no_zombies();
    }

    /// Panics if any pending task can never be woken; see
    /// [`Scope::assert_no_stuck_tasks`].
    #[track_caller]
    pub fn assert_no_stuck_tasks(&self) {
        self.everything().assert_no_stuck_tasks();
    }

    /// Panics if any live block is unreachable from every root; see
    /// [`Scope::assert_no_unreachable`].
    #[track_caller]
    pub fn assert_no_unreachable(&self) {
        self.everything().assert_no_unreachable();
    }
}

/// Fails unless [`TurboWish`](crate::TurboWish) tracks this process's heap
/// (testing rule 6): a check would otherwise find nothing and pass.
fn check_global_allocator() -> Result<(), Error> {
    let probe = std::hint::black_box(Box::new(0u64));
    match crate::block(&*probe as *const u64 as *const u8) {
        Some(_) => Ok(()),
        None => Err(Error::Capture(
            "TurboWish is not this binary's global allocator: add \
             `#[global_allocator] static A: turbowish_alloc::TurboWish = \
             turbowish_alloc::TurboWish::system();` to the test file"
                .into(),
        )),
    }
}

/// Part of a [`Heap`]: every task ([`Heap::everything`]) or those spawned
/// at one place ([`Heap::spawned_at`]).
#[derive(Debug)]
pub struct Scope<'h> {
    heap: &'h Heap,
    analysis: Analysis<'h>,
    /// `None`: everything, blocks allocated outside tasks included.
    pattern: Option<String>,
}

impl Scope<'_> {
    /// The tasks in scope, in the snapshot's order.
    pub fn tasks(&self) -> Vec<TaskSummary> {
        self.task_indices().map(|t| self.summary(t)).collect()
    }

    /// The bytes the tasks in scope retain together: each task's retained
    /// size, summed (tasks do not dominate each other's storage).
    pub fn retained(&self) -> u64 {
        let rows = self.analysis.task_rows();
        self.task_indices().map(|t| rows[t.index()].retained).sum()
    }

    /// The zombie futures in scope: finished tasks whose storage is alive.
    pub fn zombies(&self) -> Vec<TaskSummary> {
        let zombies = turbowish_snap::analysis::leaks::zombies(&self.heap.snap);
        (zombies.iter())
            .filter(|z| self.contains(z.task))
            .map(|z| self.summary(z.task))
            .collect()
    }

    /// The tasks in scope nothing can ever wake (`turbowish waits`).
    pub fn stuck_tasks(&self) -> Vec<TaskSummary> {
        (self.analysis.waits().stuck().iter())
            .filter(|s| self.contains(s.task))
            .map(|s| self.summary(s.task))
            .collect()
    }

    /// Blocks in scope no root reaches, and their bytes: allocated by a
    /// task in scope (or anywhere, for [`Heap::everything`]).
    pub fn unreachable(&self) -> (u64, u64) {
        let snap = &self.heap.snap;
        (snap.block_indices())
            .filter(|&b| !self.analysis.is_reachable(b))
            .filter(|&b| self.owns_tag(snap.block(b).task))
            .fold((0, 0), |(n, bytes), b| (n + 1, bytes + snap.block(b).size))
    }

    /// Panics if a task in scope finished while its storage is still alive
    /// (a `JoinHandle` never awaited, a `Waker` stored and never dropped):
    /// the message shows what holds each, as `turbowish retainers --task`.
    #[track_caller]
    pub fn assert_no_zombies(&self) {
        let zombies = self.zombies();
        if zombies.is_empty() {
            return;
        }
        let mut msg = self.headline(
            zombies.len(),
            "zombie future",
            "a finished task whose storage is still alive",
        );
        self.list(&mut msg, &zombies);
        for z in zombies.iter().take(EXPLAINED) {
            msg += &command("retainers", self.file(), &["--task", &z.id.to_string()]);
        }
        panic!("{msg}");
    }

    /// Panics if a pending task in scope can never be woken (nothing that
    /// can run holds its waker, or it waits in a deadlock cycle): the
    /// message is `turbowish waits`'s.
    #[track_caller]
    pub fn assert_no_stuck_tasks(&self) {
        let stuck = self.stuck_tasks();
        if stuck.is_empty() {
            return;
        }
        let mut msg = self.headline(
            stuck.len(),
            "stuck task",
            "pending, and nothing can ever wake it",
        );
        self.list(&mut msg, &stuck);
        msg += &command("waits", self.file(), &[]);
        panic!("{msg}");
    }

    /// Panics if a block in scope is reachable from no root (static data,
    /// a thread's stack or thread-locals, a task): memory lost for good.
    /// The message is `turbowish leaks`'s, whose first part lists these
    /// blocks by allocation site.
    #[track_caller]
    pub fn assert_no_unreachable(&self) {
        let (blocks, bytes) = self.unreachable();
        if blocks == 0 {
            return;
        }
        let what = format!("{bytes} bytes that nothing reaches");
        let mut msg = self.headline(blocks as usize, "unreachable block", &what);
        msg += &command("leaks", self.file(), &["--top", "20"]);
        panic!("{msg}");
    }

    fn task_indices(&self) -> impl Iterator<Item = TaskIndex> + '_ {
        self.heap.snap.task_indices().filter(|&t| self.contains(t))
    }

    fn contains(&self, t: TaskIndex) -> bool {
        match &self.pattern {
            None => true,
            Some(p) => self.analysis.spawned_at(t).contains(p.as_str()),
        }
    }

    /// Whether a block with allocation tag `tag` is in scope.
    fn owns_tag(&self, tag: u64) -> bool {
        match self.pattern {
            None => true,
            Some(_) => (self.analysis.task_of_tag(tag)).is_some_and(|t| self.contains(t)),
        }
    }

    fn summary(&self, t: TaskIndex) -> TaskSummary {
        let snap = &self.heap.snap;
        let task: &Task = snap.task(t);
        let row = &self.analysis.task_rows()[t.index()];
        TaskSummary {
            id: task.id,
            name: snap.string(task.name).to_owned(),
            spawned_at: self.analysis.spawned_at(t).to_owned(),
            state: task.state,
            future_type: snap.string(task.future_type).to_owned(),
            retained: row.retained,
            allocated: row.allocated,
        }
    }

    /// The file, kept: a failure names it for the CLI (testing rule 5).
    fn file(&self) -> &Path {
        self.heap.keep()
    }

    fn headline(&self, n: usize, what: &str, meaning: &str) -> String {
        let plural = if n == 1 { "" } else { "s" };
        let scope = match &self.pattern {
            Some(p) => format!(" among tasks spawned at {p:?}"),
            None => String::new(),
        };
        format!(
            "turbowish: {n} {what}{plural}{scope} ({meaning}); snapshot kept at {}\n",
            self.file().display()
        )
    }

    fn list(&self, msg: &mut String, tasks: &[TaskSummary]) {
        for t in tasks {
            let name = if t.name.is_empty() {
                String::new()
            } else {
                format!(" {:?}", t.name)
            };
            let _ = writeln!(
                msg,
                "  task {}{name} spawned at {}, {}, retains {} bytes",
                t.id,
                t.spawned_at,
                t.state.name(),
                t.retained
            );
        }
    }
}
