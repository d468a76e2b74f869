//! `turbowish retainers`: the shortest chains of pointers from roots that
//! keep chosen blocks alive, each step naming its holder.

use super::render::color::heading;
use super::render::holder::Holders;
use super::render::units::{bytes, count};
use super::select;
use crate::analysis::Analysis;
use crate::analysis::retainers::{self, PathSummary, Shapes, Via};
use crate::analysis::sites::view::stack_contains;
use crate::{BlockIndex, Snapshot, StackIndex, StringIndex};
use anyhow::{Result, bail};
use serde::Serialize;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

/// The fields of `retainers --json`, for `--help`.
pub const JSON_FIELDS: &str = "\
JSON output (--json) is one object; sizes are in bytes:
  selected     {blocks, bytes}: the blocks chosen
  unreachable  {blocks, bytes}: chosen blocks no root reaches (no path)
  distinct_paths  how many paths the others take (the list below is cut to --top)
  paths        [{blocks, bytes, example, steps}]: chosen blocks grouped by retaining path,
               most bytes first, then most blocks, then the deepest path; `example` is one
               block's address
  steps        the root first, the chosen block last, each {via, holder}: how the step is
               held (the root's kind, \"pointer\" (conservative), \"field NAME\" (typed),
               \"task value NAME\" (a task's typed root) or \"future\"), and by what. A path
               of more than 11 links keeps its first and last 5; one {elided, through,
               through_links} stands for the rest: how many links, the holder most of them
               go through, and how many of them do";

/// Links shown at each end of a long path; the middle is elided.
const HEAD: usize = 5;
/// See [`HEAD`].
const TAIL: usize = 5;

/// Arguments of `turbowish retainers`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("which").required(true)))]
pub struct Args {
    /// The snapshot file (`.twsnap`).
    file: PathBuf,
    /// The block at or containing this address (hex with 0x, or decimal).
    #[arg(long, value_name = "ADDR", group = "which", value_parser = select::parse_address)]
    block: Option<u64>,
    /// Blocks with a frame containing PATTERN anywhere on their allocation
    /// stack, not only in the frame that names their site: a function, as
    /// recorded or as shown (`Bytes::copy_from_slice`), a source file and
    /// line (`frame.rs:148`), or a crate (`bytes 1.12.2`).
    #[arg(long, value_name = "PATTERN", group = "which")]
    site: Option<String>,
    /// Blocks whose type name (from typed walks) contains NAME.
    #[arg(long = "type", value_name = "NAME", group = "which")]
    type_name: Option<String>,
    /// The storage (future) of the task with this id (traced or not).
    #[arg(long, value_name = "ID", group = "which")]
    task: Option<u64>,
    #[command(flatten)]
    output: super::Output,
    #[command(flatten)]
    read: super::ReadArgs,
}

#[derive(Debug, Serialize)]
struct Report {
    selected: Count,
    unreachable: Count,
    distinct_paths: u64,
    paths: Vec<PathRow>,
}

#[derive(Debug, Default, Serialize)]
struct Count {
    blocks: u64,
    bytes: u64,
}

impl From<retainers::Count> for Count {
    fn from(c: retainers::Count) -> Count {
        Count {
            blocks: c.blocks,
            bytes: c.bytes,
        }
    }
}

#[derive(Debug, Serialize)]
struct PathRow {
    blocks: u64,
    bytes: u64,
    example: String,
    steps: Vec<Step>,
}

/// A step of a printed path: a holder, or the elided middle of a long path.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Step {
    Held {
        via: String,
        holder: String,
    },
    Elided {
        elided: u64,
        through: String,
        through_links: u64,
    },
}

/// Runs `turbowish retainers`.
pub fn run(args: &Args, out: &mut dyn Write) -> Result<()> {
    let snap = super::read_snapshot(&args.file, &args.read, args.output.json())?;
    let a = Analysis::new(&snap);
    let chosen = select(&a, args)?;
    let report = Report::new(&a, &chosen, args.output.limit());
    args.output
        .emit(out, &report, || report.to_text(&describe_selection(args)))
}

/// The blocks the arguments choose; an error if none.
fn select(a: &Analysis, args: &Args) -> Result<Vec<BlockIndex>> {
    let snap = a.snapshot();
    let all = snap.block_indices();
    let chosen: Vec<BlockIndex> = if let Some(addr) = args.block {
        vec![select::block_at(snap, addr)?]
    } else if let Some(pattern) = &args.site {
        let mut by_stack: HashMap<StackIndex, bool> = HashMap::new();
        all.filter(|&b| {
            let stack = snap.block(b).stack;
            *by_stack
                .entry(stack)
                .or_insert_with(|| stack_contains(snap, stack, pattern))
        })
        .collect()
    } else if let Some(name) = &args.type_name {
        all.filter(|&b| snap.string(snap.block(b).type_name).contains(name.as_str()))
            .collect()
    } else if let Some(id) = args.task {
        vec![select::task_storage(snap, id)?]
    } else {
        unreachable!("clap requires one of --block, --site, --type, --task")
    };
    if chosen.is_empty() {
        bail!("no live block {}", describe_selection(args));
    }
    Ok(chosen)
}

fn describe_selection(args: &Args) -> String {
    match (&args.block, &args.site, &args.type_name, &args.task) {
        (Some(a), ..) => format!("at {a:#x}"),
        (_, Some(p), ..) => format!("with a frame containing {p:?} on their allocation stack"),
        (_, _, Some(t), _) => format!("with a type name containing {t:?}"),
        (.., Some(id)) => format!("holding task {id}'s future"),
        _ => String::new(),
    }
}

impl Report {
    /// The report on `chosen`, with at most `limit` paths.
    fn new(a: &Analysis, chosen: &[BlockIndex], limit: usize) -> Report {
        let snap = a.snapshot();
        let mut tree = a.path_tree();
        let holders = Holders::new(a, chosen.len() == 1);
        let mut shapes = ShapeIds {
            holders: &holders,
            ids: HashMap::new(),
        };
        let grouping = tree.group(chosen, &mut shapes);
        let groups = &grouping.groups;
        let shown = limit.min(groups.len());
        let paths = (groups[..shown].iter())
            .map(|g| PathRow {
                blocks: g.count.blocks,
                bytes: g.count.bytes,
                example: format!("{:#x}", snap.block(g.example).addr),
                steps: (tree.summary(g.example, HEAD, TAIL, &mut shapes))
                    .map_or_else(Vec::new, |s| steps(&holders, &s)),
            })
            .collect();
        Report {
            selected: grouping.selected.into(),
            unreachable: grouping.unreachable.into(),
            distinct_paths: groups.len() as u64,
            paths,
        }
    }

    fn to_text(&self, selection: &str) -> String {
        let mut s = format!(
            "{} ({}) {selection}; {} of them ({}) unreachable\n",
            count(self.selected.blocks, "block"),
            bytes(self.selected.bytes),
            self.unreachable.blocks,
            bytes(self.unreachable.bytes)
        );
        if self.distinct_paths > self.paths.len() as u64 {
            s.push_str(&format!(
                "{} distinct paths; the first {} shown (see --top)\n",
                thousands(self.distinct_paths),
                self.paths.len()
            ));
        }
        for (i, p) in self.paths.iter().enumerate() {
            let title = format!(
                "path {}: {}, {}",
                i + 1,
                count(p.blocks, "block"),
                bytes(p.bytes)
            );
            s.push_str(&format!(
                "\n{} (for example the block at {})\n",
                heading(&title),
                p.example
            ));
            for (depth, step) in p.steps.iter().enumerate() {
                s.push_str(&"  ".repeat(depth + 1));
                s.push_str(&step.to_text());
                s.push('\n');
            }
        }
        s
    }
}

impl Step {
    fn to_text(&self) -> String {
        match self {
            Step::Held { via, holder } => format!("[{via}] {holder}"),
            Step::Elided {
                elided,
                through,
                through_links,
            } => {
                let how_many = match through_links == elided {
                    true => "all".to_owned(),
                    false => format!("{} of them", thousands(*through_links)),
                };
                format!(
                    "\u{2026} {} more links, {how_many} through {through} \u{2026}",
                    thousands(*elided)
                )
            }
        }
    }
}

/// Holder names as ids, for grouping paths: the same name, the same id.
struct ShapeIds<'h, 'x, 'a> {
    holders: &'h Holders<'x, 'a>,
    ids: HashMap<String, u32>,
}

impl ShapeIds<'_, '_, '_> {
    fn id(&mut self, name: String) -> u32 {
        let next = self.ids.len() as u32;
        *self.ids.entry(name).or_insert(next)
    }
}

impl Shapes for ShapeIds<'_, '_, '_> {
    fn root(&mut self, root: u32, label: StringIndex) -> u32 {
        let (kind, name) = self.holders.root(root, label);
        self.id(format!("{kind}\n{name}"))
    }

    fn block(&mut self, block: BlockIndex) -> u32 {
        let name = self.holders.shape(block);
        self.id(name)
    }
}

/// The steps of `path`: its root, then each block with how it is held,
/// the elided middle as one step.
fn steps(holders: &Holders, path: &PathSummary) -> Vec<Step> {
    let (via, holder) = holders.root(path.root, path.root_label);
    let held = |&(via, b): &(Via, BlockIndex)| Step::Held {
        via: via_name(holders.snap, via),
        holder: match via {
            Via::Future => holders.future(b),
            _ => holders.block(b),
        },
    };
    let mut steps = vec![Step::Held {
        via: via.to_owned(),
        holder,
    }];
    steps.extend(path.head.iter().map(held));
    if let Some(e) = path.elided {
        steps.push(Step::Elided {
            elided: e.links,
            through: holders.shape(e.example),
            through_links: e.same,
        });
    }
    steps.extend(path.tail.iter().map(held));
    steps
}

/// `n` with commas between thousands: `29,990`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() * 4 / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn via_name(snap: &Snapshot, via: Via) -> String {
    let label = |l| match snap.string(l) {
        "" => String::new(),
        l => format!(" {l}"),
    };
    match via {
        Via::Conservative => "pointer".to_owned(),
        Via::Field(l) => format!("field{}", label(l)),
        Via::TaskValue(l) => format!("task value{}", label(l)),
        Via::Future => "future".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        let got: Vec<String> = [0, 999, 1000, 29_990, 1_234_567].map(thousands).to_vec();
        assert_eq!(got, ["0", "999", "1,000", "29,990", "1,234,567"]);
    }

    #[test]
    fn the_json_help_gives_the_elision_lengths() {
        let shown = format!(
            "more than {} links keeps its first and last {HEAD}",
            HEAD + TAIL + 1
        );
        assert_eq!(HEAD, TAIL);
        assert!(JSON_FIELDS.contains(&shown), "{shown}");
    }
}
