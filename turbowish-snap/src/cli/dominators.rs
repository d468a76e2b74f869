//! `turbowish dominators`: the dominator tree below one block, or below
//! the roots, biggest first: what each block keeps alive on its own.

use super::render::color::heading;
use super::render::dominator::{DOMINATOR_HEADER, DominatorRow};
use super::render::holder::Holders;
use super::render::table::{Align, render};
use super::render::units::{bytes, count};
use super::select;
use crate::BlockIndex;
use crate::analysis::Analysis;
use crate::analysis::dominator_tree::{Dominator, Level};
use crate::analysis::graph::SUPER_ROOT;
use anyhow::{Result, bail};
use serde::Serialize;
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

/// The fields of `dominators --json`, for `--help`.
pub const JSON_FIELDS: &str = "\
JSON output (--json) is one object; sizes are in bytes:
  block      the chosen block, as a node without children (null without --block or --task)
  retained, retained_blocks  what the chosen block retains, itself included; without one,
             every block a root reaches
  children   [node]: the blocks it immediately dominates (without a chosen block: the
             blocks no other block dominates), most retained bytes first
  omitted    {children, retained}: the children left out by --top, --min-bytes or
             --depth, and the bytes they retain
  node       {address, name, size, retained, retained_blocks, type, site, task, held_by,
             children, omitted}: `name` as `retainers` names a holder, `type` from a typed
             walk (or null), `site` its allocation site, `task` {id, name, spawned_at} when
             the block is a task's storage (its future); `held_by` only where the holder
             is not the node above: a root, \"several roots\", or a block and its address";

/// The deepest `--depth`.
const MAX_DEPTH: u32 = 100;

/// Arguments of `turbowish dominators`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("which")))]
pub struct Args {
    /// The snapshot file (`.twsnap`).
    file: PathBuf,
    /// Show the tree below the block at or containing this address (hex
    /// with 0x, or decimal).
    #[arg(long, value_name = "ADDR", group = "which", value_parser = select::parse_address)]
    block: Option<u64>,
    /// Show the tree below the storage (future) of the task with
    /// this id.
    #[arg(long, value_name = "ID", group = "which")]
    task: Option<u64>,
    /// How many levels of the tree to show (1 to 100).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 3,
        value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_DEPTH))
    )]
    depth: u32,
    /// Show only blocks that retain at least BYTES.
    #[arg(long, value_name = "BYTES", default_value_t = 0)]
    min_bytes: u64,
    #[command(flatten)]
    output: super::Output,
    #[command(flatten)]
    read: super::ReadArgs,
}

#[derive(Debug, Serialize)]
struct Report {
    block: Option<DominatorRow>,
    retained: u64,
    retained_blocks: u64,
    children: Vec<Node>,
    omitted: Omitted,
}

#[derive(Debug, Serialize)]
struct Node {
    #[serde(flatten)]
    row: DominatorRow,
    children: Vec<Node>,
    omitted: Omitted,
}

#[derive(Debug, Default, Serialize)]
struct Omitted {
    children: u64,
    retained: u64,
}

/// Runs `turbowish dominators`.
pub fn run(args: &Args, out: &mut dyn Write) -> Result<()> {
    let snap = super::read_snapshot(&args.file, &args.read, args.output.json())?;
    let a = Analysis::new(&snap);
    let chosen = match (args.block, args.task) {
        (Some(addr), _) => Some(select::block_at(&snap, addr)?),
        (_, Some(id)) => Some(select::task_storage(&snap, id)?),
        _ => None,
    };
    let report = Report::new(&a, chosen, args)?;
    args.output.emit(out, &report, || report.to_text())
}

/// The cut of each level.
struct Cut {
    limit: usize,
    min_bytes: u64,
    depth: u32,
}

impl Report {
    fn new(a: &Analysis, chosen: Option<BlockIndex>, args: &Args) -> Result<Report> {
        let holders = Holders::new(a, true);
        let cut = Cut {
            limit: args.output.limit(),
            min_bytes: args.min_bytes,
            depth: args.depth,
        };
        match chosen {
            Some(b) => Report::below_block(a, &holders, b, &cut),
            None => Ok(Report::below_roots(a, &holders, &cut)),
        }
    }

    fn below_roots(a: &Analysis, holders: &Holders, cut: &Cut) -> Report {
        let level = a.biggest_blocks(cut.limit, cut.min_bytes);
        Report {
            block: None,
            retained: a.retained().bytes[SUPER_ROOT as usize],
            retained_blocks: a.dominator_tree().blocks(SUPER_ROOT),
            children: nodes(a, holders, &level, cut, 1, true),
            omitted: level.omitted.into(),
        }
    }

    fn below_block(a: &Analysis, holders: &Holders, b: BlockIndex, cut: &Cut) -> Result<Report> {
        let Some(d) = a.dominator(b) else {
            let addr = a.snapshot().block(b).addr;
            bail!(
                "no root reaches the block at {addr:#x}: it dominates nothing (see `turbowish leaks`)"
            );
        };
        let level = a.dominated_by(b, cut.limit, cut.min_bytes);
        Ok(Report {
            block: Some(DominatorRow::new(a, holders, &d, true)),
            retained: d.retained,
            retained_blocks: d.retained_blocks,
            children: nodes(a, holders, &level, cut, 1, false),
            omitted: level.omitted.into(),
        })
    }
}

/// The nodes of `level`, at `depth`, each with its own children down to
/// `cut.depth`; `top`: the level holds blocks no other block dominates.
fn nodes(a: &Analysis, h: &Holders, level: &Level, cut: &Cut, depth: u32, top: bool) -> Vec<Node> {
    (level.shown.iter())
        .map(|d| node(a, h, d, cut, depth, top))
        .collect()
}

fn node(a: &Analysis, h: &Holders, d: &Dominator, cut: &Cut, depth: u32, top: bool) -> Node {
    let row = DominatorRow::new(a, h, d, top);
    if depth >= cut.depth {
        let all = a.dominated_by(d.block, 0, 0);
        return Node {
            row,
            children: Vec::new(),
            omitted: all.omitted.into(),
        };
    }
    let level = a.dominated_by(d.block, cut.limit, cut.min_bytes);
    Node {
        row,
        children: nodes(a, h, &level, cut, depth + 1, false),
        omitted: level.omitted.into(),
    }
}

impl From<crate::analysis::retainers::Count> for Omitted {
    fn from(c: crate::analysis::retainers::Count) -> Omitted {
        Omitted {
            children: c.blocks,
            retained: c.bytes,
        }
    }
}

impl Report {
    fn to_text(&self) -> String {
        let mut t = String::new();
        let what = format!(
            "{} in {}",
            bytes(self.retained),
            count(self.retained_blocks, "block")
        );
        match &self.block {
            Some(b) => {
                let held = b.held_by.as_deref().unwrap_or_default();
                let _ = writeln!(t, "{}", heading(&format!("the block at {}", b.address)));
                let _ = writeln!(t, "  {}\n  retains {what}; held by {held}", b.name);
            }
            None => {
                let _ = writeln!(
                    t,
                    "{}",
                    heading("the blocks no other block dominates, biggest first")
                );
                let _ = writeln!(t, "  the roots reach {what}");
            }
        }
        if self.children.is_empty() && self.omitted.children == 0 {
            t.push_str("\n  it dominates no other block\n");
            return t;
        }
        let mut rows = Vec::new();
        for n in &self.children {
            n.rows(0, &mut rows);
        }
        omitted_row(&self.omitted, 0, &mut rows);
        let align = [Align::Right, Align::Right, Align::Left, Align::Left];
        t.push('\n');
        t.push_str(&render(DOMINATOR_HEADER, align, &rows));
        t
    }
}

impl Node {
    /// This node's row and its children's, indented by `depth`.
    fn rows(&self, depth: usize, rows: &mut Vec<[String; 4]>) {
        let [retained, blocks, address, name] = self.row.cells();
        let name = match &self.row.held_by {
            Some(h) => format!("{name}, held by {h}"),
            None => name,
        };
        rows.push([retained, blocks, address, indent(depth, &name)]);
        for c in &self.children {
            c.rows(depth + 1, rows);
        }
        if !self.children.is_empty() {
            omitted_row(&self.omitted, depth + 1, rows);
        }
    }
}

/// The row for the children left out of a level, if any were.
fn omitted_row(o: &Omitted, depth: usize, rows: &mut Vec<[String; 4]>) {
    if o.children > 0 {
        let text = format!(
            "\u{2026} {}, retaining {}",
            count(o.children, "more block"),
            bytes(o.retained)
        );
        rows.push([
            String::new(),
            String::new(),
            String::new(),
            indent(depth, &text),
        ]);
    }
}

fn indent(depth: usize, text: &str) -> String {
    format!("{}{text}", "  ".repeat(depth))
}
