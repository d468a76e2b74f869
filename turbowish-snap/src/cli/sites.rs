//! `turbowish sites`: allocation sites by live bytes, for the whole process
//! or for the blocks one task, or the tasks of one spawn site, allocated.

use super::render::rows::{SITE_HEADER, SiteRow, StackRow, approx, estimate_note};
use super::render::table::{Align, render};
use super::render::units::{bytes, count};
use crate::analysis::sites::estimate::SiteWeights;
use crate::analysis::{Analysis, sites};
use crate::rules::tag;
use anyhow::{Result, bail};
use serde::Serialize;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

/// The fields of `sites --json`, for `--help`.
pub const JSON_FIELDS: &str = "\
JSON output (--json) is one object; sizes are in bytes:
  selected  {blocks, bytes, sites, stacks}: the live blocks chosen (all, or by --task/--spawn),
            exactly, their sites and distinct allocation stacks
  stack_sample_bytes  0, or the mean of the sample by bytes that chose which blocks have a
            stack (TURBOWISH_STACK=sampled): then the sites' figures are estimates
  sites     [{site, dependency, function, location, stacks, blocks, bytes, estimated,
            samples, frames_by_stack}], largest first: site is \"dependency: function (location)\",
            null when no stack was recorded; dependency {name, version} is null for the
            program's own code; stacks counts the allocation stacks merged into the row;
            estimated: blocks and bytes are estimates (sampled stacks: each sampled block
            weighed by 1 / (1 - exp(-size / stack_sample_bytes)); unsampled blocks are
            in no row; false for a row whose blocks all kept their stack whatever the
            sample); samples, only when estimated: the sampled blocks the row's
            estimates rest on (few samples, a rough estimate)
  frames_by_stack  only with --stack: [{stacks, blocks, bytes, hidden_allocator_frames,
            frames, hidden_startup_frames}], the row's stacks as shown (those shown alike
            merged), each frame innermost first as \"dependency: function (file:line)\"";

/// Which frames `--stack` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum StackFrames {
    /// The frames between the allocator and the program's start-up, with
    /// short function names.
    Trimmed,
    /// Every frame, with function names as recorded.
    Full,
}

/// Arguments of `turbowish sites`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The snapshot file (`.twsnap`).
    file: PathBuf,
    /// Only blocks allocated while the task with this id was polled (a
    /// traced task's id, or an untraced tokio task's id).
    #[arg(long, value_name = "ID", conflicts_with = "spawn")]
    task: Option<u64>,
    /// Only blocks allocated by tasks spawned at a location containing
    /// LOCATION (such as `src/conn.rs:42`, `conn.rs` or `axum 0.8.9`).
    #[arg(long, value_name = "LOCATION")]
    spawn: Option<String>,
    /// Show each site's allocation stacks. By default the frames every
    /// stack has are hidden, and counted: the allocator's above (TurboWish's
    /// shim, `__rust_alloc`, std's allocation glue) and start-up code below
    /// (std's `lang_start` and thread start, `main`'s trampoline, libc's
    /// `__libc_start_main`, `start_thread`, `clone3`). `--stack=full` shows
    /// every frame, with function names as recorded.
    #[arg(
        long,
        value_enum,
        value_name = "FRAMES",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "trimmed"
    )]
    stack: Option<StackFrames>,
    #[command(flatten)]
    output: super::Output,
    #[command(flatten)]
    read: super::ReadArgs,
}

#[derive(Debug, Serialize)]
struct Report {
    selected: Selected,
    stack_sample_bytes: u64,
    sites: Vec<SiteRow>,
}

#[derive(Debug, Serialize)]
struct Selected {
    blocks: u64,
    bytes: u64,
    sites: u64,
    stacks: u64,
}

/// Runs `turbowish sites`.
pub fn run(args: &Args, out: &mut dyn Write) -> Result<()> {
    let snap = super::read_snapshot(&args.file, &args.read, args.output.json())?;
    let a = Analysis::new(&snap);
    let tags = chosen_tags(&a, args)?;
    let keep = |b: &crate::Block| tags.as_ref().is_none_or(|t| t.contains(&b.task));
    let totals = sites::by_stack(&snap, keep);
    let stacks = totals.len() as u64;
    let all = sites::merge(&a, totals.into_iter().map(|t| ((), t)));
    let (blocks, bytes) = sites::selected(&snap, keep);
    let selected = Selected {
        blocks,
        bytes,
        sites: all.len() as u64,
        stacks,
    };
    let full = args.stack.map(|s| s == StackFrames::Full);
    let rows = (args.output.cut(all).iter())
        .map(|s| SiteRow::new(&a, s, full))
        .collect();
    let report = Report {
        selected,
        stack_sample_bytes: snap.capture.stack_sample_bytes,
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
    let matching: HashSet<u64> = (snap.task_indices())
        .filter(|&t| snap.task(t).id != 0)
        .filter(|&t| a.spawned_at(t).contains(pattern.as_str()))
        .map(|t| a.tag_of(t))
        .collect();
    if matching.is_empty() {
        bail!("no task was spawned at a location containing {pattern:?} (see `turbowish tasks`)");
    }
    Ok(Some(matching))
}

impl Report {
    /// How the snapshot's blocks count in the sites' figures.
    fn weights(&self) -> SiteWeights {
        SiteWeights::from_sample_bytes(self.stack_sample_bytes)
    }

    fn to_text(&self) -> String {
        let s = &self.selected;
        let mut t = format!(
            "{} live in {} from {} ({}); top {} by live bytes\n",
            bytes(s.bytes),
            count(s.blocks, "block"),
            count(s.sites, "allocation site"),
            count(s.stacks, "stack"),
            self.sites.len()
        );
        if let Some(note) = estimate_note(self.weights()) {
            let _ = writeln!(t, "{note}");
        }
        if self.sites.is_empty() {
            return t;
        }
        let rows: Vec<[String; 4]> = self.sites.iter().map(SiteRow::cells).collect();
        let align = [Align::Right, Align::Right, Align::Right, Align::Left];
        let table = render(SITE_HEADER, align, &rows);
        if !self.sites.iter().any(|s| s.frames_by_stack.is_some()) {
            t.push_str(&table);
            return t;
        }
        // With --stack: each row, then its stacks.
        let mut lines = table.lines();
        t.push_str(lines.next().unwrap_or_default());
        t.push('\n');
        for (line, site) in lines.zip(&self.sites) {
            t.push_str(line);
            t.push('\n');
            let stacks = site.frames_by_stack.as_deref().unwrap_or_default();
            for (i, stack) in stacks.iter().enumerate() {
                if stacks.len() > 1 {
                    let _ = writeln!(
                        t,
                        "    stack {} of {}: {} in {}{}",
                        i + 1,
                        stacks.len(),
                        approx(site.estimated, bytes(stack.bytes)),
                        approx(site.estimated, count(stack.blocks, "block")),
                        match stack.stacks {
                            1 => String::new(),
                            n => format!(" ({n} stacks shown alike)"),
                        }
                    );
                }
                stack_text(&mut t, stack);
            }
        }
        t
    }
}

/// One stack as shown, with what it hides.
fn stack_text(t: &mut String, stack: &StackRow) {
    let hidden = |t: &mut String, n: usize, what: &str| {
        if n > 0 {
            let _ = writeln!(t, "      \u{2026} {} hidden", count(n as u64, what));
        }
    };
    hidden(t, stack.hidden_allocator_frames, "allocator frame");
    for frame in &stack.frames {
        let _ = writeln!(t, "      {frame}");
    }
    hidden(t, stack.hidden_startup_frames, "start-up frame");
}
