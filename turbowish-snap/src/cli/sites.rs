//! `turbowish sites`: allocation sites by live bytes, for the whole process
//! or for the blocks one task, or the tasks of one spawn site, allocated.

use super::site::{name_stack, short_path, spawned_at, string};
use super::table::{Align, render};
use super::units::{bytes, count};
use anyhow::{Result, bail};
use serde::Serialize;
use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;
use turbowish_snap::analysis::tasks::tag;
use turbowish_snap::{Block, Snapshot};

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
    /// How many sites to list (0: all).
    #[arg(long, value_name = "N", default_value_t = 20)]
    top: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    read: super::ReadArgs,
}

#[derive(Debug, Serialize)]
struct Report {
    selected: Selected,
    sites: Vec<Site>,
}

#[derive(Debug, Serialize)]
struct Selected {
    blocks: u64,
    bytes: u64,
    sites: u64,
}

/// The live blocks of one allocation stack.
#[derive(Debug, Serialize)]
pub(super) struct Site {
    pub(super) stack: u32,
    pub(super) function: Option<String>,
    pub(super) location: Option<String>,
    pub(super) blocks: u64,
    pub(super) bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    frames: Option<Vec<String>>,
}

/// Runs `turbowish sites`.
pub fn run(args: &Args, out: &mut dyn Write) -> Result<()> {
    let snap = super::read_snapshot(&args.file, &args.read, args.json)?;
    let tags = chosen_tags(&snap, args)?;
    let mut all = sites(&snap, |b| tags.as_ref().is_none_or(|t| t.contains(&b.task)));
    let selected = Selected {
        blocks: all.iter().map(|s| s.blocks).sum(),
        bytes: all.iter().fold(0, |sum, s| sum.saturating_add(s.bytes)),
        sites: all.len() as u64,
    };
    if args.top > 0 {
        all.truncate(args.top);
    }
    if args.stack {
        for site in &mut all {
            site.frames = Some(frames(&snap, site.stack));
        }
    }
    let report = Report {
        selected,
        sites: all,
    };
    super::emit(out, args.json, &report, || report.to_text())
}

/// The allocation tags of the chosen tasks, or `None` for all blocks.
fn chosen_tags(snap: &Snapshot, args: &Args) -> Result<Option<HashSet<u64>>> {
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
    let matching: HashSet<u64> = snap
        .tasks
        .iter()
        .filter(|t| t.id != 0)
        .filter(|t| spawned_at(snap, t).contains(pattern.as_str()))
        .map(|t| tag(t.id))
        .collect();
    if matching.is_empty() {
        bail!(
            "no traced task was spawned at a location containing {pattern:?} (see `turbowish tasks`)"
        );
    }
    Ok(Some(matching))
}

/// The allocation sites of the blocks `keep` accepts, largest first (ties:
/// more blocks first, then by stack).
pub(super) fn sites(s: &Snapshot, keep: impl Fn(&Block) -> bool) -> Vec<Site> {
    let mut per_stack = vec![(0u64, 0u64); s.stacks.len()];
    for b in s.blocks.iter().filter(|b| keep(b)) {
        if let Some((blocks, bytes)) = per_stack.get_mut(b.stack as usize) {
            *blocks += 1;
            *bytes = bytes.saturating_add(b.size);
        }
    }
    let mut sites: Vec<Site> = (0u32..)
        .zip(per_stack)
        .filter(|(_, (blocks, _))| *blocks > 0)
        .map(|(stack, (blocks, bytes))| {
            let name = name_stack(s, stack);
            Site {
                stack,
                function: name.function,
                location: name.location,
                blocks,
                bytes,
                frames: None,
            }
        })
        .collect();
    sites.sort_by(|a, b| (b.bytes, b.blocks, a.stack).cmp(&(a.bytes, a.blocks, b.stack)));
    sites
}

/// Stack `stack`'s frames, innermost first, inlined functions each on
/// their own line.
fn frames(snap: &Snapshot, stack: u32) -> Vec<String> {
    let frames = snap.stacks.get(stack as usize).into_iter().flatten();
    frames
        .filter_map(|&f| snap.frames.get(f as usize))
        .flat_map(|f| {
            if f.symbols.is_empty() {
                return vec![format!("{:#x}", f.addr)];
            }
            (f.symbols.iter())
                .map(|s| {
                    let function = string(snap, s.function);
                    match s.file.map(|file| short_path(string(snap, file))) {
                        Some(file) if s.line > 0 => format!("{function} ({file}:{})", s.line),
                        Some(file) => format!("{function} ({file})"),
                        None => function.to_owned(),
                    }
                })
                .collect()
        })
        .collect()
}

impl Site {
    /// The text columns: live bytes, blocks, function, location.
    pub(super) fn row(&self) -> [String; 4] {
        [
            bytes(self.bytes),
            self.blocks.to_string(),
            self.function
                .clone()
                .unwrap_or_else(|| "(no stack recorded)".into()),
            self.location.clone().unwrap_or_default(),
        ]
    }
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
        let rows: Vec<[String; 4]> = self.sites.iter().map(Site::row).collect();
        let header = ["live bytes", "blocks", "function", "location"];
        let align = [Align::Right, Align::Right, Align::Left, Align::Left];
        let table = render(header, align, &rows);
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
