//! `turbowish retainers`: the shortest chains of pointers from roots that
//! keep chosen blocks alive, each step naming its holder.

use super::color::heading;
use super::holder::Holders;
use super::site::{name_stack, string};
use super::units::{bytes, count};
use anyhow::{Result, bail};
use serde::Serialize;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use turbowish_snap::Snapshot;
use turbowish_snap::analysis::graph::HeapGraph;
use turbowish_snap::analysis::retainers::{Linker, RetainingPath, ShortestPaths, Via};

/// The fields of `retainers --json`, for `--help`.
pub const JSON_FIELDS: &str = "\
JSON output (--json) is one object; sizes are in bytes:
  selected     {blocks, bytes}: the blocks chosen
  unreachable  {blocks, bytes}: chosen blocks no root reaches (no path)
  paths        [{blocks, bytes, example, steps: [{via, holder}]}]: chosen blocks grouped
               by retaining path, most bytes first; `example` is one block's address;
               the first step is the root, the last the chosen block; `via` is how the
               step is held: the root's kind, \"pointer\" (conservative), \"field NAME\"
               (typed) or \"task value NAME\" (a task's typed root)";

/// Arguments of `turbowish retainers`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("which").required(true)))]
pub struct Args {
    /// The snapshot file (`.twsnap`).
    file: PathBuf,
    /// The block at or containing this address (hex with 0x, or decimal).
    #[arg(long, value_name = "ADDR", group = "which", value_parser = parse_address)]
    block: Option<u64>,
    /// Blocks whose allocation site contains PATTERN (as `summary` names
    /// sites: `function (file:line)`).
    #[arg(long, value_name = "PATTERN", group = "which")]
    site: Option<String>,
    /// Blocks whose type name (from typed walks) contains NAME.
    #[arg(long = "type", value_name = "NAME", group = "which")]
    type_name: Option<String>,
    /// The storage (future) of the traced task with this id.
    #[arg(long, value_name = "ID", group = "which")]
    task: Option<u64>,
    /// How many distinct paths to show (0: all).
    #[arg(long, value_name = "N", default_value_t = 5)]
    top: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    read: super::ReadArgs,
}

fn parse_address(s: &str) -> Result<u64, String> {
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.map_err(|_| format!("{s:?} is not an address (hex with 0x, or decimal)"))
}

#[derive(Debug, Serialize)]
struct Report {
    selected: Count,
    unreachable: Count,
    paths: Vec<PathRow>,
}

#[derive(Debug, Default, Serialize)]
struct Count {
    blocks: u64,
    bytes: u64,
}

#[derive(Debug, Serialize)]
struct PathRow {
    blocks: u64,
    bytes: u64,
    example: String,
    steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
struct Step {
    via: String,
    holder: String,
}

/// Runs `turbowish retainers`.
pub fn run(args: &Args, out: &mut dyn Write) -> Result<()> {
    let snap = super::read_snapshot(&args.file, &args.read, args.json)?;
    let chosen = select(&snap, args)?;
    let report = Report::new(&snap, &chosen, args.top);
    super::emit(out, args.json, &report, || {
        report.to_text(&describe_selection(args))
    })
}

/// The blocks the arguments choose; an error if none.
fn select(snap: &Snapshot, args: &Args) -> Result<Vec<u32>> {
    let all = 0..snap.blocks.len() as u32;
    let chosen: Vec<u32> = if let Some(addr) = args.block {
        let i = snap.blocks.partition_point(|b| b.addr <= addr);
        let found = i
            .checked_sub(1)
            .filter(|&i| addr < snap.blocks[i].addr + snap.blocks[i].size.max(1));
        match found {
            Some(i) => vec![i as u32],
            None => bail!("no live block at or containing address {addr:#x}"),
        }
    } else if let Some(pattern) = &args.site {
        let mut by_stack: HashMap<u32, bool> = HashMap::new();
        all.filter(|&b| {
            let stack = snap.blocks[b as usize].stack;
            *by_stack.entry(stack).or_insert_with(|| {
                name_stack(snap, stack)
                    .label()
                    .is_some_and(|l| l.contains(pattern.as_str()))
            })
        })
        .collect()
    } else if let Some(name) = &args.type_name {
        all.filter(|&b| string(snap, snap.blocks[b as usize].type_name).contains(name.as_str()))
            .collect()
    } else if let Some(id) = args.task {
        let Some(task) = snap.tasks.iter().find(|t| t.id == id) else {
            bail!("no traced task with id {id} (see `turbowish tasks`)");
        };
        match task.storage {
            Some(s) => vec![s],
            None => bail!("task {id} has no known storage: it was never polled"),
        }
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
        (_, Some(p), ..) => format!("with an allocation site containing {p:?}"),
        (_, _, Some(t), _) => format!("with a type name containing {t:?}"),
        (.., Some(id)) => format!("holding task {id}'s future"),
        _ => String::new(),
    }
}

impl Report {
    fn new(snap: &Snapshot, chosen: &[u32], top: usize) -> Report {
        let graph = HeapGraph::new(snap);
        let shortest = ShortestPaths::new(snap, &graph);
        let mut selected = Count::default();
        let mut unreachable = Count::default();
        let mut found: Vec<(u32, Vec<u32>)> = Vec::new();
        for &b in chosen {
            let size = snap.blocks[b as usize].size;
            selected.blocks += 1;
            selected.bytes += size;
            match shortest.nodes_to(graph.block_node(b)) {
                Some(nodes) => found.push((b, nodes)),
                None => {
                    unreachable.blocks += 1;
                    unreachable.bytes += size;
                }
            }
        }
        let linker = Linker::new(snap, &graph, found.iter().map(|(_, n)| n.as_slice()));
        let holders = Holders::new(snap, chosen.len() == 1);
        let mut groups: HashMap<Vec<Step>, PathRow> = HashMap::new();
        for (b, nodes) in &found {
            let steps = steps(&holders, &linker.path(snap, &graph, nodes));
            let row = groups.entry(steps.clone()).or_insert_with(|| PathRow {
                blocks: 0,
                bytes: 0,
                example: format!("{:#x}", snap.blocks[*b as usize].addr),
                steps,
            });
            row.blocks += 1;
            row.bytes += snap.blocks[*b as usize].size;
        }
        let mut paths: Vec<PathRow> = groups.into_values().collect();
        paths.sort_by(|x, y| (y.bytes, y.blocks, &x.example).cmp(&(x.bytes, x.blocks, &y.example)));
        if top > 0 {
            paths.truncate(top);
        }
        Report {
            selected,
            unreachable,
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
                let indent = "  ".repeat(depth + 1);
                s.push_str(&format!("{indent}[{}] {}\n", step.via, step.holder));
            }
        }
        s
    }
}

/// The steps of `path`: its root, then each block with how it is held.
fn steps(holders: &Holders, path: &RetainingPath) -> Vec<Step> {
    let (via, holder) = holders.root(path.root, path.root_label);
    let mut steps = vec![Step {
        via: via.to_owned(),
        holder,
    }];
    steps.extend(path.links.iter().map(|&(via, b)| Step {
        via: via_name(holders.snap, via),
        holder: holders.block(b),
    }));
    steps
}

fn via_name(snap: &Snapshot, via: Via) -> String {
    let label = |l| match string(snap, l) {
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
