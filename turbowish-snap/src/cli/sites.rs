//! `turbowish sites`: allocation sites by live bytes, for the whole process
//! or for the blocks one task, or the tasks of one spawn site, allocated.

use super::render::rows::{SITE_HEADER, SiteRow};
use super::render::table::{Align, render};
use super::render::units::{bytes, count};
use crate::analysis::{Analysis, sites};
use crate::rules::tag;
use anyhow::{Result, bail};
use serde::Serialize;
use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;

/// The fields of `sites --json`, for `--help`.
pub const JSON_FIELDS: &str = "\
JSON output (--json) is one object; sizes are in bytes:
  selected  {blocks, bytes, sites}: the live blocks chosen (all, or by --task/--spawn)
  sites     [{stack, function, location, blocks, bytes, frames}], largest first;
            function and location are null when no stack was recorded; frames (the
            whole stack, innermost first, as \"function (file:line)\") only with --stack";

/// Arguments of `turbowish sites`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The snapshot file (`.twsnap`).
    file: PathBuf,
    /// Only blocks allocated while the task with this id was polled (a
    /// traced task's id, or an untraced tokio task's id).
    #[arg(long, value_name = "ID", conflicts_with = "spawn")]
    task: Option<u64>,
    /// Only blocks allocated by traced tasks spawned at a location
    /// containing LOCATION (such as `src/conn.rs:42` or `conn.rs`).
    #[arg(long, value_name = "LOCATION")]
    spawn: Option<String>,
    /// Show each site's whole allocation stack.
    #[arg(long)]
    stack: bool,
    #[command(flatten)]
    output: super::Output,
    #[command(flatten)]
    read: super::ReadArgs,
}

#[derive(Debug, Serialize)]
struct Report {
    selected: Selected,
    sites: Vec<SiteRow>,
}

#[derive(Debug, Serialize)]
struct Selected {
    blocks: u64,
    bytes: u64,
    sites: u64,
}

/// Runs `turbowish sites`.
pub fn run(args: &Args, out: &mut dyn Write) -> Result<()> {
    let snap = super::read_snapshot(&args.file, &args.read, args.output.json())?;
    let a = Analysis::new(&snap);
    let tags = chosen_tags(&a, args)?;
    let mut all = sites::by_stack(&snap, |b| tags.as_ref().is_none_or(|t| t.contains(&b.task)));
    let selected = Selected {
        blocks: all.iter().map(|s| s.blocks).sum(),
        bytes: all.iter().fold(0, |sum, s| sum.saturating_add(s.bytes)),
        sites: all.len() as u64,
    };
    all.truncate(args.output.limit());
    let rows = (all.iter())
        .map(|t| SiteRow {
            frames: args.stack.then(|| sites::stack_frames(&snap, t.stack)),
            ..SiteRow::new(&a, t)
        })
        .collect();
    let report = Report {
        selected,
        sites: rows,
    };
    args.output.emit(out, &report, || report.to_text())
}

/// The allocation tags of the chosen tasks, or `None` for all blocks.
fn chosen_tags(a: &Analysis, args: &Args) -> Result<Option<HashSet<u64>>> {
    let snap = a.snapshot();
    if let Some(id) = args.task {
        let traced = snap.tasks.iter().any(|t| t.id == id);
        if !traced && !snap.blocks.iter().any(|b| b.task == tag(id)) {
            bail!(
                "no task with id {id}: no traced task has it and no live block was allocated by it"
            );
        }
        return Ok(Some(HashSet::from([tag(id)])));
    }
    let Some(pattern) = &args.spawn else {
        return Ok(None);
    };
    let matching: HashSet<u64> = (0..snap.tasks.len() as u32)
        .filter(|&t| snap.tasks[t as usize].id != 0)
        .filter(|&t| a.spawned_at(t).contains(pattern.as_str()))
        .map(|t| a.tag_of(t))
        .collect();
    if matching.is_empty() {
        bail!(
            "no traced task was spawned at a location containing {pattern:?} (see `turbowish tasks`)"
        );
    }
    Ok(Some(matching))
}

impl Report {
    fn to_text(&self) -> String {
        let s = &self.selected;
        let mut t = format!(
            "{} live in {} from {}; top {} by live bytes\n",
            bytes(s.bytes),
            count(s.blocks, "block"),
            count(s.sites, "allocation site"),
            self.sites.len()
        );
        if self.sites.is_empty() {
            return t;
        }
        let rows: Vec<[String; 4]> = self.sites.iter().map(SiteRow::cells).collect();
        let align = [Align::Right, Align::Right, Align::Left, Align::Left];
        let table = render(SITE_HEADER, align, &rows);
        if !self.sites.iter().any(|s| s.frames.is_some()) {
            t.push_str(&table);
            return t;
        }
        // With --stack: each row, then its stack.
        let mut lines = table.lines();
        t.push_str(lines.next().unwrap_or_default());
        t.push('\n');
        for (line, site) in lines.zip(&self.sites) {
            t.push_str(line);
            t.push('\n');
            for frame in site.frames.iter().flatten() {
                t.push_str(&format!("      {frame}\n"));
            }
        }
        t
    }
}
