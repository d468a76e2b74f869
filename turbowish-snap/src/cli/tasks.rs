//! `turbowish tasks`: one row per traced task, with what it holds.

use super::render::table::{Align, render};
use super::render::units::{bytes, or_dash};
use crate::analysis::Analysis;
use crate::analysis::sites::short_path;
use crate::analysis::tasks::TaskRow;
use crate::{Snapshot, StringIndex};
use anyhow::Result;
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;

/// The fields of `tasks --json`, for `--help`.
pub const JSON_FIELDS: &str = "\
JSON output (--json) is one object; sizes are in bytes, times in nanoseconds:
  traced_tasks  how many traced tasks there are (the list below is cut to --top)
  tasks         [{...}], sorted as asked, each with:
  id            the task's allocation tag (the tokio task id under tokio; 0 if never polled)
  name          its name, or \"\"
  spawned_at    file:line:column where it was made (empty if unknown)
  state         pending | running | completed | cancelled (the last two: zombies)
  future_type   the future's type; future_size: its size_of
  polls, idle_ns  times polled; time since the last poll (pending tasks)
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

/// Arguments of `turbowish tasks`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The snapshot file (`.twsnap`).
    file: PathBuf,
    /// Order of the rows.
    #[arg(long, value_enum, default_value_t = Sort::Retained)]
    sort: Sort,
    #[command(flatten)]
    output: super::Output,
    #[command(flatten)]
    read: super::ReadArgs,
}

/// What `tasks` prints, in the shape of its JSON output.
#[derive(Debug, Serialize)]
struct Report {
    /// Every traced task, however many are listed.
    traced_tasks: u64,
    tasks: Vec<Row>,
}

/// One task, as printed.
#[derive(Debug, Serialize)]
struct Row {
    id: u64,
    name: String,
    spawned_at: String,
    state: &'static str,
    future_type: String,
    future_size: u64,
    polls: u64,
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
    let mut rows: Vec<Row> = a.task_rows().iter().map(|r| row(&snap, r)).collect();
    sort(&mut rows, args.sort);
    let report = Report {
        traced_tasks: rows.len() as u64,
        tasks: args.output.cut(rows),
    };
    args.output.emit(out, &report, || text(&report))
}

fn row(snap: &Snapshot, r: &TaskRow) -> Row {
    let t = snap.task(r.task);
    let string = |i: StringIndex| snap.string(i).to_owned();
    Row {
        id: t.id,
        name: string(t.name),
        spawned_at: match string(t.file) {
            file if file.is_empty() => String::new(),
            file => format!("{file}:{}:{}", t.line, t.column),
        },
        state: t.state.name(),
        future_type: string(t.future_type),
        future_size: t.future_size,
        polls: t.polls,
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
    let (rows, total) = (&report.tasks, report.traced_tasks);
    if total == 0 {
        return "no traced tasks in this snapshot (spawn with turbowish_alloc::spawn or .traced())\n"
            .to_owned();
    }
    let cells: Vec<[String; 11]> = rows
        .iter()
        .map(|r| {
            [
                r.id.to_string(),
                or_dash(&r.name),
                r.state.to_owned(),
                bytes(r.future_size),
                r.polls.to_string(),
                idle(r.idle_ns),
                bytes(r.allocated),
                bytes(r.retained),
                bytes(r.shared),
                sharers(r),
                or_dash(short_path(&r.spawned_at)),
            ]
        })
        .collect();
    let header = [
        "id",
        "name",
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
        Right, Left, Left, Right, Right, Right, Right, Right, Right, Right, Left,
    ];
    format!(
        "{} of {total} traced tasks\n{}",
        rows.len(),
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
