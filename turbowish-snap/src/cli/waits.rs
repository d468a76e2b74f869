//! `turbowish waits`: the tasks nothing can ever wake (stuck), why, and
//! with `--task` or `--all` how the others can be woken (the analysis:
//! [`waits`](crate::analysis::waits)).

use super::render::color::{flagged, heading};
use super::render::holder::Holders;
use super::render::table::{Align, render};
use super::render::units::{bytes, count, or_dash};
use super::render::wake_path::{StepRow, step_rows};
use crate::analysis::Analysis;
use crate::analysis::tasks::kind::shown_kind;
use crate::analysis::waits::{Reason, Stuck};
use crate::{TaskIndex, TaskState};
use anyhow::{Result, bail};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

/// The fields of `waits --json`, for `--help`.
pub const JSON_FIELDS: &str = "\
JSON output (--json) is one object; sizes are in bytes:
  pending_tasks   tasks waiting to be woken (pending), stuck or not
  stuck_tasks     how many of them are stuck (the list below is cut to --top)
  wakeable_tasks  how many of them something can wake
  wake_pointers   wakers, join handles and waiter links in the snapshot: 0 when it was taken
                  without them (before format 5), and then every pending task looks stuck
  stuck        [{task, reason, cycle, behind, holders, holders_exact, join_handle_holders,
               held_by_unreachable}], cycles first, then the tasks behind another (by that
               task's id), then those with no waker; a task is {id, name, kind, spawned_at,
               future_type, state, retained} (as `tasks --json` gives them), flattened
  reason       cycle (a deadlock: `cycle` is its index in `cycles`) | behind (`behind`: the
               id of a stuck task holding its waker) | no-waker (no stuck task holds one)
  holders      ids of every stuck task holding a waker or waiter link for it, sorted;
               holders_exact is false when the search for them was cut short (then at least)
  join_handle_holders  ids of stuck tasks holding its JoinHandle (it does not wake it)
  held_by_unreachable  a waker for it sits only in memory nothing reaches (a leak)
  cycles       [[task]]: each deadlock cycle's tasks, by id (cut to --top)
  wakeable     with --all (or --task ID: that task), each pending task something can wake
               (cut to --top): a task, and wake_path: [{holder, kind, task, via}], the live
               root first, down to the holder of the task's waker: `kind` is static,
               thread-stack, thread-local, named-root, task (a task's future; `task` is its
               id), driver (tokio's I/O driver, timer or signal driver) or block; `via` is
               how it points at the next step, the last one at the task: waker, waiter,
               join-handle, field NAME (a typed field) or pointer; `links`, on a driver,
               counts its entries in a row the path passes (one step). A path of
               more than 11 steps keeps its first and last 5; one {elided} counts the rest";

/// Arguments of `turbowish waits`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The snapshot file (`.twsnap`).
    file: PathBuf,
    /// Also show how the task with this id can be woken.
    #[arg(long, value_name = "ID", conflicts_with = "all")]
    task: Option<u64>,
    /// Also show how every pending task that is not stuck can be woken.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    output: super::Output,
    #[command(flatten)]
    read: super::ReadArgs,
}

/// What `waits` prints, in the shape of its JSON output.
#[derive(Debug, Serialize)]
struct Report {
    pending_tasks: u64,
    stuck_tasks: u64,
    wakeable_tasks: u64,
    wake_pointers: u64,
    stuck: Vec<StuckRow>,
    cycles: Vec<Vec<TaskRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wakeable: Option<Vec<WakeableRow>>,
    /// The text's sections, from every stuck task (the lists above are cut).
    #[serde(skip)]
    text: TextParts,
}

/// A task, as `tasks --json` names it.
#[derive(Debug, Clone, Serialize)]
struct TaskRow {
    id: u64,
    name: String,
    kind: &'static str,
    spawned_at: String,
    future_type: String,
    state: &'static str,
    retained: u64,
}

#[derive(Debug, Clone, Serialize)]
struct StuckRow {
    #[serde(flatten)]
    task: TaskRow,
    reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cycle: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    behind: Option<u64>,
    holders: Vec<u64>,
    holders_exact: bool,
    join_handle_holders: Vec<u64>,
    held_by_unreachable: bool,
}

#[derive(Debug, Serialize)]
struct WakeableRow {
    #[serde(flatten)]
    task: TaskRow,
    wake_path: Vec<StepRow>,
}

/// The text's view of the stuck tasks, every one of them counted.
#[derive(Debug, Default)]
struct TextParts {
    /// Tasks behind each holder, the holder first; holders with the most
    /// tasks behind them first.
    behind: Vec<(StuckRow, Vec<Group>)>,
    /// Tasks with no waker.
    no_waker: Vec<StuckRow>,
    /// What `--task` asked about, when it has no wake path.
    asked: Option<String>,
    /// Whether `--all` asked for every wake path.
    all: bool,
    /// How many deadlock cycles there are, and tasks in them.
    cycles: (usize, usize),
    /// How many rows each list shows.
    limit: usize,
}

/// Tasks behind one holder spawned at one site.
#[derive(Debug)]
struct Group {
    spawned_at: String,
    future_type: String,
    ids: Vec<u64>,
    retained: u64,
}

/// Runs `turbowish waits`.
pub fn run(args: &Args, out: &mut dyn Write) -> Result<()> {
    let snap = super::read_snapshot(&args.file, &args.read, args.output.json())?;
    let a = Analysis::new(&snap);
    let asked = match args.task {
        Some(id) => match snap.task_indices().find(|&t| snap.task(t).id == id) {
            Some(t) => Some(t),
            None => bail!("no task with id {id} (see `turbowish tasks`)"),
        },
        None => None,
    };
    let report = Report::new(&a, args, asked);
    args.output.emit(out, &report, || report.to_text())
}

impl Report {
    fn new(a: &Analysis, args: &Args, asked: Option<TaskIndex>) -> Report {
        let waits = a.waits();
        let mut stuck: Vec<StuckRow> = (waits.stuck().iter()).map(|s| stuck_row(a, s)).collect();
        stuck.sort_by_key(|s| (rank(s), s.task.id));
        let cycles: Vec<Vec<TaskRow>> = (waits.cycles().iter())
            .map(|c| c.iter().map(|&t| task_row(a, t)).collect())
            .collect();
        let text = TextParts {
            behind: behind_groups(&stuck),
            no_waker: (stuck.iter())
                .filter(|s| s.reason == "no-waker")
                .cloned()
                .collect(),
            asked: asked
                .filter(|&t| !waits.wakeable().any(|w| w == t))
                .map(|t| why_no_path(a, t)),
            all: args.all,
            cycles: (cycles.len(), cycles.iter().map(Vec::len).sum()),
            limit: args.output.limit(),
        };
        Report {
            pending_tasks: waits.pending().len() as u64,
            stuck_tasks: stuck.len() as u64,
            wakeable_tasks: waits.wakeable().count() as u64,
            wake_pointers: waits.wake_pointers(),
            stuck: args.output.cut(stuck),
            cycles: args.output.cut(cycles),
            wakeable: wakeable_rows(a, args, asked),
            text,
        }
    }
}

/// With `--all`, every pending task something can wake, by id, with its
/// wake path; with `--task`, that task if something can wake it.
fn wakeable_rows(a: &Analysis, args: &Args, asked: Option<TaskIndex>) -> Option<Vec<WakeableRow>> {
    if !args.all && asked.is_none() {
        return None;
    }
    let waits = a.waits();
    let mut tasks: Vec<TaskIndex> = (waits.wakeable())
        .filter(|&t| args.all || Some(t) == asked)
        .collect();
    tasks.sort_by_key(|&t| (a.snapshot().task(t).id, t));
    let holders = Holders::new(a, true);
    let rows = (tasks.into_iter().take(args.output.limit())).map(|t| {
        let steps = waits.wake_path(a.snapshot(), t).unwrap_or_default();
        WakeableRow {
            task: task_row(a, t),
            wake_path: step_rows(a, &holders, &steps),
        }
    });
    Some(rows.collect())
}

/// Cycles first, then tasks behind another (by the holder's id), then no
/// waker.
fn rank(s: &StuckRow) -> (u8, u64) {
    match (s.cycle, s.behind) {
        (Some(c), _) => (0, c as u64),
        (None, Some(h)) => (1, h),
        (None, None) => (2, 0),
    }
}

fn task_row(a: &Analysis, t: TaskIndex) -> TaskRow {
    let snap = a.snapshot();
    let task = snap.task(t);
    TaskRow {
        id: task.id,
        name: snap.string(task.name).to_owned(),
        kind: shown_kind(snap, task).name(),
        spawned_at: a.spawned_at(t).to_owned(),
        future_type: snap.string(task.future_type).to_owned(),
        state: task.state.name(),
        retained: a.task_rows()[t.index()].retained,
    }
}

fn stuck_row(a: &Analysis, s: &Stuck) -> StuckRow {
    let id = |t: TaskIndex| a.snapshot().task(t).id;
    let (reason, cycle, behind) = match s.reason {
        Reason::Cycle(c) => ("cycle", Some(c), None),
        Reason::Behind(h) => ("behind", None, Some(id(h))),
        Reason::NoWaker => ("no-waker", None, None),
    };
    StuckRow {
        task: task_row(a, s.task),
        reason,
        cycle,
        behind,
        holders: s.holders.iter().map(|&t| id(t)).collect(),
        holders_exact: s.holders_exact,
        join_handle_holders: s.join_handle_holders.iter().map(|&t| id(t)).collect(),
        held_by_unreachable: s.held_by_unreachable,
    }
}

/// The tasks behind each holder, grouped by spawn site (rows of one site
/// and future type are one group), holders with the most tasks first.
fn behind_groups(stuck: &[StuckRow]) -> Vec<(StuckRow, Vec<Group>)> {
    let by_id: HashMap<u64, &StuckRow> = stuck.iter().map(|s| (s.task.id, s)).collect();
    let mut out: Vec<(StuckRow, Vec<Group>)> = Vec::new();
    let mut holder_at: HashMap<u64, usize> = HashMap::new();
    let mut at: HashMap<(u64, &str, &str), (usize, usize)> = HashMap::new();
    for s in stuck {
        let Some(holder) = s.behind.and_then(|h| by_id.get(&h)) else {
            continue;
        };
        let t = &s.task;
        let key = (holder.task.id, &*t.spawned_at, &*t.future_type);
        let (h, g) = *at.entry(key).or_insert_with(|| {
            let h = *holder_at.entry(holder.task.id).or_insert_with(|| {
                out.push(((*holder).clone(), Vec::new()));
                out.len() - 1
            });
            out[h].1.push(Group {
                spawned_at: t.spawned_at.clone(),
                future_type: t.future_type.clone(),
                ids: Vec::new(),
                retained: 0,
            });
            (h, out[h].1.len() - 1)
        });
        let group = &mut out[h].1[g];
        group.ids.push(t.id);
        group.retained = group.retained.saturating_add(t.retained);
    }
    let tasks = |g: &[Group]| g.iter().map(|g| g.ids.len()).sum::<usize>();
    out.sort_by_key(|(h, g)| (std::cmp::Reverse(tasks(g)), h.task.id));
    for (_, groups) in &mut out {
        groups.sort_by_key(|g| (std::cmp::Reverse(g.ids.len()), g.ids[0]));
    }
    out
}

/// Why task `t` has no wake path.
fn why_no_path(a: &Analysis, t: TaskIndex) -> String {
    let task = a.snapshot().task(t);
    let waits = a.waits();
    let what = format!("task {}", task.id);
    match task.state {
        _ if waits.stuck().iter().any(|s| s.task == t) => {
            format!("{what} is stuck (above): nothing can wake it")
        }
        TaskState::Pending if waits.is_live(t) => {
            format!("{what} is a blocking task: it is never pending")
        }
        TaskState::Pending => {
            format!("{what} was never polled: its storage is unknown, so it is not judged")
        }
        TaskState::Running | TaskState::Notified => {
            format!(
                "{what} is {}: it is not waiting to be woken",
                task.state.name()
            )
        }
        TaskState::Completed | TaskState::Cancelled => {
            format!(
                "{what} is {}: a finished future waits for nothing",
                task.state.name()
            )
        }
    }
}

/// `; the first N shown` when a list of `total` was cut to `listed`.
fn shown(listed: usize, total: usize) -> String {
    match listed == total {
        true => String::new(),
        false => format!("; the first {listed} shown, --top 0 for all"),
    }
}

impl Report {
    fn to_text(&self) -> String {
        let mut t = String::new();
        self.headline(&mut t);
        self.cycles_text(&mut t);
        self.behind_text(&mut t);
        self.no_waker_text(&mut t);
        self.paths_text(&mut t);
        t
    }

    fn headline(&self, t: &mut String) {
        if self.stuck_tasks == 0 {
            let _ = match self.pending_tasks {
                0 => writeln!(t, "nothing is stuck: no task is pending"),
                1 => writeln!(
                    t,
                    "nothing is stuck: something can wake the one pending task"
                ),
                n => writeln!(
                    t,
                    "nothing is stuck: something can wake each of the {n} pending tasks"
                ),
            };
            return;
        }
        let line = format!(
            "stuck: {} of {} pending tasks",
            self.stuck_tasks, self.pending_tasks
        );
        let _ = writeln!(
            t,
            "{}: nothing in the process can ever wake them",
            flagged(self.stuck_tasks, &line)
        );
        if self.wake_pointers == 0 {
            t.push_str(
                "note: this snapshot records no wakers, join handles or waiter links (taken before \
                 format 5, or no tokio task was read), so every pending task looks stuck\n",
            );
        }
    }

    fn cycles_text(&self, t: &mut String) {
        let (cycles, tasks) = self.text.cycles;
        if cycles == 0 {
            return;
        }
        let title = format!("deadlock cycles: {cycles}, {}", count(tasks as u64, "task"));
        let _ = writeln!(
            t,
            "\n{} (each holds a way to wake the next, and none can run){}",
            heading(&title),
            shown(self.cycles.len(), cycles)
        );
        for (i, c) in self.cycles.iter().enumerate() {
            let _ = writeln!(
                t,
                "  cycle {}{}",
                i + 1,
                shown(c.len().min(self.text.limit), c.len())
            );
            t.push_str(&tasks_table(c.iter().take(self.text.limit), None));
        }
    }

    fn behind_text(&self, t: &mut String) {
        let behind = &self.text.behind;
        if behind.is_empty() {
            return;
        }
        let tasks: usize = behind
            .iter()
            .flat_map(|(_, g)| g)
            .map(|g| g.ids.len())
            .sum();
        let listed = behind.len().min(self.text.limit);
        let title = format!("stuck behind a stuck task: {}", count(tasks as u64, "task"));
        let _ = writeln!(
            t,
            "\n{} (a stuck task holds their wakers){}",
            heading(&title),
            shown(listed, behind.len())
        );
        for (holder, groups) in behind.iter().take(listed) {
            let h = &holder.task;
            let _ = writeln!(
                t,
                "  behind task {} spawned at {} ({}, {}, retains {}):",
                h.id,
                h.spawned_at,
                or_dash(&h.future_type),
                holder_state(holder),
                bytes(h.retained)
            );
            t.push_str(&groups_table(&groups[..groups.len().min(self.text.limit)]));
        }
    }

    fn no_waker_text(&self, t: &mut String) {
        let rows = &self.text.no_waker;
        if rows.is_empty() {
            return;
        }
        let listed = rows.len().min(self.text.limit);
        let title = format!("no waker anywhere: {}", count(rows.len() as u64, "task"));
        let _ = writeln!(
            t,
            "\n{} (nothing that can run holds a way to wake them: pending(), a dropped waker){}",
            heading(&title),
            shown(listed, rows.len())
        );
        let tasks = rows.iter().take(listed).map(|s| &s.task);
        let notes: Vec<String> = rows.iter().take(listed).map(note).collect();
        t.push_str(&tasks_table(tasks, Some(&notes)));
    }

    fn paths_text(&self, t: &mut String) {
        if let Some(why) = &self.text.asked {
            let _ = writeln!(t, "\n{why}");
        }
        let Some(rows) = &self.wakeable else { return };
        if self.text.asked.is_some() {
            return;
        }
        if self.text.all {
            let title = format!(
                "wake paths: {} of {} pending tasks something can wake{}",
                rows.len(),
                self.wakeable_tasks,
                match (rows.len() as u64) < self.wakeable_tasks {
                    true => " (--top 0 for all)",
                    false => "",
                }
            );
            let _ = writeln!(t, "\n{}", heading(&title));
        }
        for w in rows {
            let task = &w.task;
            let _ = writeln!(
                t,
                "\ntask {} spawned at {} ({}):",
                task.id,
                task.spawned_at,
                or_dash(&task.future_type)
            );
            path_text(t, &w.wake_path, task.id);
        }
    }
}

/// How a holder of others' wakers is itself stuck.
fn holder_state(h: &StuckRow) -> String {
    match (h.cycle, h.behind) {
        (Some(c), _) => format!("in cycle {}", c + 1),
        (None, Some(b)) => format!("behind task {b}"),
        (None, None) => "no waker".to_owned(),
    }
}

/// What more there is to say of a task with no waker.
fn note(s: &StuckRow) -> String {
    let mut notes = Vec::new();
    if s.held_by_unreachable {
        notes.push("a waker for it sits only in leaked memory".to_owned());
    }
    if !s.join_handle_holders.is_empty() {
        let ids: Vec<String> = s.join_handle_holders.iter().map(u64::to_string).collect();
        notes.push(format!("its JoinHandle is held by task {}", ids.join(", ")));
    }
    notes.join("; ")
}

/// Tasks as a table: id, kind, state, retained, spawned at, future, and
/// a note each when `notes` are given.
fn tasks_table<'r>(tasks: impl Iterator<Item = &'r TaskRow>, notes: Option<&[String]>) -> String {
    use Align::{Left, Right};
    let rows: Vec<[String; 7]> = tasks
        .enumerate()
        .map(|(i, x)| {
            [
                x.id.to_string(),
                x.kind.to_owned(),
                x.state.to_owned(),
                bytes(x.retained),
                x.spawned_at.clone(),
                or_dash(&x.future_type),
                notes.and_then(|n| n.get(i)).cloned().unwrap_or_default(),
            ]
        })
        .collect();
    let header = [
        "id",
        "kind",
        "state",
        "retained",
        "spawned at",
        "future",
        "note",
    ];
    let header = match notes {
        Some(_) => header,
        None => [
            "id",
            "kind",
            "state",
            "retained",
            "spawned at",
            "future",
            "",
        ],
    };
    render(header, [Right, Left, Left, Right, Left, Left, Left], &rows)
        .lines()
        .map(|l| format!("  {}\n", l.trim_end()))
        .collect()
}

/// The groups of tasks behind one holder: how many, their ids (the first
/// three), bytes retained, spawn site and future.
fn groups_table(groups: &[Group]) -> String {
    use Align::{Left, Right};
    let rows: Vec<[String; 5]> = (groups.iter())
        .map(|g| {
            let mut ids: Vec<String> = g.ids.iter().take(3).map(u64::to_string).collect();
            if g.ids.len() > 3 {
                ids.push("\u{2026}".to_owned());
            }
            [
                g.ids.len().to_string(),
                ids.join(", "),
                bytes(g.retained),
                g.spawned_at.clone(),
                or_dash(&g.future_type),
            ]
        })
        .collect();
    render(
        ["tasks", "ids", "retained", "spawned at", "future"],
        [Right, Left, Right, Left, Left],
        &rows,
    )
    .lines()
    .map(|l| format!("  {l}\n"))
    .collect()
}

/// A wake path as indented steps, each with how the one above points at
/// it, ending at task `id`.
fn path_text(t: &mut String, steps: &[StepRow], id: u64) {
    let mut via: Option<&str> = None;
    for (depth, step) in steps.iter().enumerate() {
        let indent = "  ".repeat(depth + 1);
        match step {
            StepRow::Held {
                holder,
                kind,
                via: next,
                links,
                ..
            } => {
                let links = links.map_or_else(String::new, |n| format!(", {n} linked entries"));
                let _ = writeln!(t, "{indent}[{}] {holder}{links}", via.unwrap_or(kind));
                via = Some(next);
            }
            StepRow::Elided { elided, via: next } => {
                let _ = writeln!(t, "{indent}\u{2026} {elided} more steps \u{2026}");
                via = Some(next);
            }
        }
    }
    let indent = "  ".repeat(steps.len() + 1);
    let _ = writeln!(t, "{indent}[{}] task {id}", via.unwrap_or("?"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::render::wake_path::ENDS;

    #[test]
    fn the_json_help_gives_the_elision_lengths() {
        let shown = format!(
            "more than {} steps keeps its first and last {ENDS}",
            2 * ENDS + 1
        );
        assert!(JSON_FIELDS.contains(&shown), "{shown}");
    }
}
