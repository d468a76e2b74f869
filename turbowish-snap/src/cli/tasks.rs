//! `turbowish tasks`: one row per task (traced, plain tokio, blocking, or
//! a runtime worker: see [`kind`](crate::analysis::tasks::kind)), with what
//! it holds.

use super::render::table::{Align, render};
use super::render::units::{bytes, nonzero, or_dash};
use crate::analysis::Analysis;
use crate::analysis::sites::origin::crate_of_path;
use crate::analysis::sites::short_path;
use crate::analysis::tasks::TaskRow;
use crate::analysis::tasks::kind::{ShownKind, shown_kind};
use crate::{Snapshot, StringIndex, TaskKind};
use anyhow::Result;
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;

/// The fields of `tasks --json`, for `--help`.
pub const JSON_FIELDS: &str = "\
JSON output (--json) is one object; sizes are in bytes, times in nanoseconds:
  counts        tasks in the snapshot by kind: {total, traced, tokio, blocking, worker}
  matching      how many tasks --kind selects (the list below is cut to --top)
  tasks         [{...}], sorted as asked, each with:
  id            the task's allocation tag (the tokio task id under tokio; 0 if never polled)
  name          its name, or \"\" (untraced tasks have none)
  kind          traced (spawned through TurboWish) | tokio (a plain tokio::spawn) |
                blocking (spawn_blocking) | worker (one of the runtime's worker threads)
  spawned_at    file:line:column where it was made (file:line when the column is unknown,
                as for tasks found from their tokio cell; empty if unknown)
  spawned_in    the crate of that file when it is not the program's own (\"axum 0.8.9\"), or null
  state         pending | running | notified | completed | cancelled (the last two: zombies)
  future_type   the future's type; future_size: its size_of
  polls, idle_ns  times polled; time since the last poll (pending tasks); traced tasks
                only: null and 0 for tasks found from their tokio cell
  allocated, allocated_blocks  live bytes and blocks allocated inside its polls
  retained      bytes its storage block keeps alive on its own (dominator tree)
  shared, shared_blocks  bytes and blocks it points to that other tasks also point to
  shared_with_tasks  how many other tasks point to them; shared_with_exact is false when
                that is a lower bound (only on graphs built to defeat the count)
  shared_with   the ids of the first 16 of those tasks, in snapshot order";

/// How to order the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Sort {
    /// Bytes the task's storage retains, largest first.
    Retained,
    /// Live bytes allocated in the task's polls, largest first.
    Allocated,
    /// Size of the future's state machine, largest first.
    FutureSize,
    /// Time since the last poll, longest first.
    Idle,
}

/// Which tasks to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Kind {
    /// Spawned through TurboWish (`turbowish::spawn`, `.traced()`).
    Traced,
    /// Plain `tokio::spawn` tasks, found from their task cells.
    Tokio,
    /// `spawn_blocking` tasks, runtime workers apart.
    Blocking,
    /// The runtime's worker threads.
    Worker,
}

impl Kind {
    fn shown(self) -> ShownKind {
        match self {
            Kind::Traced => ShownKind::Traced,
            Kind::Tokio => ShownKind::Tokio,
            Kind::Blocking => ShownKind::Blocking,
            Kind::Worker => ShownKind::Worker,
        }
    }
}

/// Arguments of `turbowish tasks`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The snapshot file (`.twsnap`).
    file: PathBuf,
    /// Order of the rows.
    #[arg(long, value_enum, default_value_t = Sort::Retained)]
    sort: Sort,
    /// Only tasks of this kind.
    #[arg(long, value_enum)]
    kind: Option<Kind>,
    #[command(flatten)]
    output: super::Output,
    #[command(flatten)]
    read: super::ReadArgs,
}

/// What `tasks` prints, in the shape of its JSON output.
#[derive(Debug, Serialize)]
struct Report {
    counts: Counts,
    /// The tasks `--kind` selects, however many are listed.
    matching: u64,
    /// The `--kind` asked for, in the text's words.
    #[serde(skip)]
    kind: Option<&'static str>,
    tasks: Vec<Row>,
}

/// Every task of the snapshot, by kind.
#[derive(Debug, Default, Serialize)]
struct Counts {
    total: u64,
    traced: u64,
    tokio: u64,
    blocking: u64,
    worker: u64,
}

impl Counts {
    fn add(&mut self, kind: ShownKind) {
        self.total += 1;
        *match kind {
            ShownKind::Traced => &mut self.traced,
            ShownKind::Tokio => &mut self.tokio,
            ShownKind::Blocking => &mut self.blocking,
            ShownKind::Worker => &mut self.worker,
        } += 1;
    }
}

/// One task, as printed.
#[derive(Debug, Serialize)]
struct Row {
    id: u64,
    name: String,
    kind: &'static str,
    spawned_at: String,
    spawned_in: Option<String>,
    state: &'static str,
    future_type: String,
    future_size: u64,
    /// `None` for tasks found from their cell: nothing counts their polls.
    polls: Option<u64>,
    idle_ns: u64,
    allocated: u64,
    allocated_blocks: u64,
    retained: u64,
    shared: u64,
    shared_blocks: u64,
    shared_with_tasks: u64,
    shared_with_exact: bool,
    shared_with: Vec<u64>,
}

/// Runs `turbowish tasks`.
pub fn run(args: &Args, out: &mut dyn Write) -> Result<()> {
    let snap = super::read_snapshot(&args.file, &args.read, args.output.json())?;
    let a = Analysis::new(&snap);
    let mut counts = Counts::default();
    let mut rows = Vec::new();
    for r in a.task_rows() {
        let kind = shown_kind(&snap, snap.task(r.task));
        counts.add(kind);
        if args.kind.is_none_or(|k| k.shown() == kind) {
            rows.push(row(&snap, r, kind));
        }
    }
    sort(&mut rows, args.sort);
    let report = Report {
        counts,
        matching: rows.len() as u64,
        kind: args.kind.map(|k| k.shown().name()),
        tasks: args.output.cut(rows),
    };
    args.output.emit(out, &report, || text(&report))
}

fn row(snap: &Snapshot, r: &TaskRow, kind: ShownKind) -> Row {
    let t = snap.task(r.task);
    let string = |i: StringIndex| snap.string(i).to_owned();
    Row {
        id: t.id,
        name: string(t.name),
        kind: kind.name(),
        spawned_in: crate_of_path(snap.string(t.file)).map(|d| d.to_string()),
        spawned_at: match string(t.file) {
            file if file.is_empty() => String::new(),
            file if t.column == 0 => format!("{file}:{}", t.line),
            file => format!("{file}:{}:{}", t.line, t.column),
        },
        state: t.state.name(),
        future_type: string(t.future_type),
        future_size: t.future_size,
        polls: (t.kind == TaskKind::Traced).then_some(t.polls),
        idle_ns: r.idle_ns,
        allocated: r.allocated,
        allocated_blocks: r.allocated_blocks,
        retained: r.retained,
        shared: r.shared,
        shared_blocks: r.shared_blocks,
        shared_with_tasks: r.shared_with_tasks,
        shared_with_exact: r.shared_with_exact,
        shared_with: r.shared_with.iter().map(|&o| snap.task(o).id).collect(),
    }
}

fn sort(rows: &mut [Row], by: Sort) {
    rows.sort_by_key(|r| {
        let key = match by {
            Sort::Retained => r.retained,
            Sort::Allocated => r.allocated,
            Sort::FutureSize => r.future_size,
            Sort::Idle => r.idle_ns,
        };
        (std::cmp::Reverse(key), r.id)
    });
}

fn text(report: &Report) -> String {
    let rows = &report.tasks;
    let c = &report.counts;
    if c.total == 0 {
        return "no tasks in this snapshot: no tokio task cell was found and none was traced\n"
            .to_owned();
    }
    let of_kind = report.kind.map_or(String::new(), |k| format!(" {k}"));
    let kinds = nonzero(&[
        (c.tokio, "tokio"),
        (c.blocking, "blocking"),
        (c.traced, "traced"),
        (c.worker, "worker"),
    ]);
    if report.matching == 0 {
        return format!(
            "no{of_kind} tasks among the {} of this snapshot ({kinds})\n",
            c.total
        );
    }
    let cells: Vec<[String; 12]> = rows
        .iter()
        .map(|r| {
            let at = or_dash(short_path(&r.spawned_at));
            [
                r.id.to_string(),
                or_dash(&r.name),
                r.kind.to_owned(),
                r.state.to_owned(),
                bytes(r.future_size),
                r.polls.map_or_else(|| "-".to_owned(), |p| p.to_string()),
                idle(r.idle_ns),
                bytes(r.allocated),
                bytes(r.retained),
                bytes(r.shared),
                sharers(r),
                r.spawned_in
                    .as_ref()
                    .map_or(at.clone(), |d| format!("{d}: {at}")),
            ]
        })
        .collect();
    let header = [
        "id",
        "name",
        "kind",
        "state",
        "future",
        "polls",
        "idle",
        "allocated",
        "retained",
        "shared",
        "with",
        "spawned at",
    ];
    use Align::{Left, Right};
    let align = [
        Right, Left, Left, Left, Right, Right, Right, Right, Right, Right, Right, Left,
    ];
    format!(
        "{} of {}{of_kind} tasks ({kinds})\n{}",
        rows.len(),
        report.matching,
        render(header, align, &cells)
    )
}

/// How many other tasks share its blocks: `-` for none, `>=N` for a lower
/// bound.
fn sharers(r: &Row) -> String {
    match (r.shared_with_tasks, r.shared_with_exact) {
        (0, true) => "-".to_owned(),
        (n, true) => n.to_string(),
        (n, false) => format!(">={n}"),
    }
}

/// Idle time, coarse: the registry's clock ticks every few milliseconds.
fn idle(ns: u64) -> String {
    match ns {
        0 => "-".into(),
        n if n < 1_000_000_000 => format!("{} ms", n / 1_000_000),
        n if n < 120_000_000_000 => format!("{:.1} s", n as f64 / 1e9),
        n => format!("{} min", n / 60_000_000_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::tasks::SHARED_WITH_CAP;

    #[test]
    fn the_json_help_gives_the_cap_on_named_sharers() {
        assert!(JSON_FIELDS.contains(&format!("the first {SHARED_WITH_CAP} of those")));
    }
}
