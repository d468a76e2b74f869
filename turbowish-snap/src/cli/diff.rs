//! `turbowish diff`: what grew between two snapshots of one process.

use super::render::color::heading;

use super::render::rows::{approx, estimate_note};
use super::render::table::{Align, render};
use super::render::units::{bytes, signed, signed_bytes};
use crate::Snapshot;
use crate::analysis::Analysis;
use crate::analysis::diff::{self, Comparison, GroupBy, SpawnSiteChange, check_pair, delta};
use crate::analysis::resident::{self, Part, PartChange};
use crate::analysis::sites::NO_STACK;
use crate::analysis::sites::estimate::SiteWeights;
use anyhow::{Result, bail};
use serde::Serialize;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

/// The fields of `diff --json`, for `--help`.
pub const JSON_FIELDS: &str = "\
JSON output (--json) is one object; sizes are in bytes:
  a, b         pid, sequence, time_ns, stack_sample_bytes (0, or the mean of the sample by
               bytes that chose which blocks have a stack) of each snapshot
  totals       live_bytes_a, live_bytes_b, born_bytes, born_blocks (born after A, alive
               in B), freed_bytes, freed_blocks (live in A, gone in B), surviving_blocks,
               new_tasks, ended_tasks
  resident     [{part, a, b, change}]: where the resident memory went in each snapshot
               (as `summary` splits it), part by part: resident, live, allocator_free,
               allocator_overhead, turbowish_tables, turbowish_headers, rest; a figure is
               null where it is unknown (no allocator figures, or a snapshot before format
               version 8) and change null unless both are known; empty when neither
               snapshot recorded them
  spawn_sites  [{spawned_at, tasks_a, tasks_b, retained_a, retained_b, allocated_a,
               allocated_b, new_tasks, ended_tasks}], by change in retained bytes
  groups       {by, estimated, rows: [{key, bytes_a, bytes_b, net, born_bytes, born_blocks,
               freed_bytes, freed_blocks}]}, by net change, largest growth first; with
               --by site, also stacks_a and stacks_b: how many allocation stacks with live
               blocks in A and in B the row's site name merges; estimated: the rows'
               figures are estimates (by site, when either snapshot's stacks were sampled)";

/// How to group blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum By {
    /// The spawn site of the task whose polls allocated the block.
    Spawn,
    /// The task whose polls allocated the block.
    Task,
    /// The allocation site (first frame of the program's own code).
    Site,
    /// The block's type, where a typed walk named it.
    Type,
}

/// Arguments of `turbowish diff`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The earlier snapshot.
    a: PathBuf,
    /// The later snapshot, of the same process.
    b: PathBuf,
    /// How to group the blocks that were born and freed.
    #[arg(long, value_enum, default_value_t = By::Spawn)]
    by: By,
    /// Compare snapshots of different processes anyway (block identities will
    /// not match: everything looks born and freed).
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    output: super::Output,
    #[command(flatten)]
    read: super::ReadArgs,
}

#[derive(Debug, Serialize)]
struct Report {
    a: Side,
    b: Side,
    totals: Totals,
    resident: Vec<PartChange>,
    spawn_sites: Vec<SpawnSiteChange>,
    groups: Groups,
}

#[derive(Debug, Serialize)]
struct Side {
    pid: u32,
    sequence: u32,
    time_ns: u64,
    stack_sample_bytes: u64,
}

#[derive(Debug, Serialize)]
struct Totals {
    live_bytes_a: u64,
    live_bytes_b: u64,
    born_bytes: u64,
    born_blocks: u64,
    freed_bytes: u64,
    freed_blocks: u64,
    surviving_blocks: u64,
    new_tasks: u64,
    ended_tasks: u64,
}

#[derive(Debug, Serialize)]
struct Groups {
    by: &'static str,
    estimated: bool,
    rows: Vec<Group>,
}

#[derive(Debug, Serialize)]
struct Group {
    key: String,
    bytes_a: u64,
    bytes_b: u64,
    net: i64,
    born_bytes: u64,
    born_blocks: u64,
    freed_bytes: u64,
    freed_blocks: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    stacks_a: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stacks_b: Option<u64>,
}

/// Runs `turbowish diff`.
pub fn run(args: &Args, out: &mut dyn Write) -> Result<()> {
    let a = super::read_snapshot(&args.a, &args.read, args.output.json())?;
    let b = super::read_snapshot(&args.b, &args.read, args.output.json())?;
    if let Err(why) = check_pair(&a, &b)
        && !args.force
    {
        bail!("{why} (use --force to compare them anyway)");
    }
    let report = Report::new(&a, &b, args);
    args.output.emit(out, &report, || report.to_text())
}

impl Report {
    fn new(a: &Snapshot, b: &Snapshot, args: &Args) -> Report {
        let (aa, ab) = (Analysis::new(a), Analysis::new(b));
        let pair = Comparison::new(&aa, &ab);
        let by = match args.by {
            By::Spawn => GroupBy::Spawn,
            By::Task => GroupBy::Task,
            By::Site => GroupBy::Site,
            By::Type => GroupBy::Type,
        };
        let spawn_sites = pair.spawn_sites().into_iter();
        let groups = pair.groups(by).into_iter().map(Group::from);
        let (spawn_sites, mut groups) = (
            args.output.cut(spawn_sites.collect()),
            args.output.cut(groups.collect::<Vec<_>>()),
        );
        if by == GroupBy::Site {
            let (in_a, in_b) = (stacks_by_name(&aa), stacks_by_name(&ab));
            for g in &mut groups {
                g.stacks_a = Some(in_a.get(&g.key).copied().unwrap_or(0));
                g.stacks_b = Some(in_b.get(&g.key).copied().unwrap_or(0));
            }
        }
        let side = |s: &Snapshot| Side {
            pid: s.process.pid,
            sequence: s.process.sequence,
            time_ns: s.process.time_ns,
            stack_sample_bytes: s.capture.stack_sample_bytes,
        };
        Report {
            a: side(a),
            b: side(b),
            totals: pair.totals().into(),
            resident: resident::changes(&a.capture, &b.capture),
            spawn_sites,
            groups: Groups {
                by: match args.by {
                    By::Spawn => "spawn",
                    By::Task => "task",
                    By::Site => "site",
                    By::Type => "type",
                },
                estimated: pair.estimated(by),
                rows: groups,
            },
        }
    }
}

/// How many allocation stacks with live blocks each site name of `a`
/// merges, by the name `diff --by site` groups by.
fn stacks_by_name(a: &Analysis) -> HashMap<String, u64> {
    (a.sites().iter())
        .map(|s| {
            let name = s.label.clone().unwrap_or_else(|| NO_STACK.to_owned());
            (name, s.stacks.len() as u64)
        })
        .collect()
}

impl From<diff::Totals> for Totals {
    fn from(t: diff::Totals) -> Totals {
        Totals {
            live_bytes_a: t.live_bytes_a,
            live_bytes_b: t.live_bytes_b,
            born_bytes: t.born_bytes,
            born_blocks: t.born_blocks,
            freed_bytes: t.freed_bytes,
            freed_blocks: t.freed_blocks,
            surviving_blocks: t.surviving_blocks,
            new_tasks: t.new_tasks,
            ended_tasks: t.ended_tasks,
        }
    }
}

impl From<(String, diff::GroupDelta)> for Group {
    fn from((key, g): (String, diff::GroupDelta)) -> Group {
        Group {
            key,
            bytes_a: g.bytes_a,
            bytes_b: g.bytes_b,
            net: g.net(),
            born_bytes: g.born_bytes,
            born_blocks: g.born_blocks,
            freed_bytes: g.freed_bytes,
            freed_blocks: g.freed_blocks,
            stacks_a: None,
            stacks_b: None,
        }
    }
}

impl Report {
    fn to_text(&self) -> String {
        let t = &self.totals;
        let seconds = self.b.time_ns.saturating_sub(self.a.time_ns) as f64 / 1e9;
        let mut s = format!(
            "A: snapshot #{} of pid {}; B: snapshot #{} of pid {}, {seconds:.1} s later\n\
             live bytes: {} -> {} ({})\n\
             born since A and still alive: {} blocks, {}; freed: {} blocks, {}; surviving: {} blocks\n\
             tasks: {} new, {} ended\n",
            self.a.sequence,
            self.a.pid,
            self.b.sequence,
            self.b.pid,
            bytes(t.live_bytes_a),
            bytes(t.live_bytes_b),
            signed_bytes(delta(t.live_bytes_a, t.live_bytes_b)),
            t.born_blocks,
            bytes(t.born_bytes),
            t.freed_blocks,
            bytes(t.freed_bytes),
            t.surviving_blocks,
            t.new_tasks,
            t.ended_tasks,
        );
        resident_text(&mut s, &self.resident);
        if !self.spawn_sites.is_empty() {
            s.push_str(&format!(
                "\n{}\n",
                heading("spawn sites, by change in retained bytes")
            ));
            let rows: Vec<[String; 5]> = self
                .spawn_sites
                .iter()
                .map(|x| {
                    [
                        format!("{} -> {}", x.tasks_a, x.tasks_b),
                        signed(delta(x.tasks_a, x.tasks_b)),
                        bytes(x.retained_b),
                        signed_bytes(delta(x.retained_a, x.retained_b)),
                        x.spawned_at.clone(),
                    ]
                })
                .collect();
            use Align::{Left, Right};
            s.push_str(&render(
                ["tasks", "change", "retained", "change", "spawned at"],
                [Right, Right, Right, Right, Left],
                &rows,
            ));
        }
        s.push_str(&format!(
            "\n{}\n",
            heading(&format!(
                "live bytes by {}, largest growth first",
                self.groups.by
            ))
        ));
        if self.groups.estimated {
            let (a, b) = (self.a.stack_sample_bytes, self.b.stack_sample_bytes);
            let note = |side: &str, mean| {
                estimate_note(SiteWeights::from_sample_bytes(mean))
                    .map(|n| format!("{side}{n}\n"))
                    .unwrap_or_default()
            };
            match a == b {
                true => s.push_str(&note("", a)),
                false => s.push_str(&(note("A: ", a) + &note("B: ", b))),
            }
        }
        let est = |figure| approx(self.groups.estimated, figure);
        let rows: Vec<[String; 5]> = self
            .groups
            .rows
            .iter()
            .map(|g| {
                [
                    est(signed_bytes(g.net)),
                    est(bytes(g.bytes_b)),
                    est(format!("{} ({})", bytes(g.born_bytes), g.born_blocks)),
                    est(format!("{} ({})", bytes(g.freed_bytes), g.freed_blocks)),
                    g.key.clone(),
                ]
            })
            .collect();
        use Align::{Left, Right};
        s.push_str(&render(
            [
                "change",
                "live in B",
                "born (blocks)",
                "freed (blocks)",
                self.groups.by,
            ],
            [Right, Right, Right, Right, Left],
            &rows,
        ));
        s
    }
}

/// How each part of the resident memory changed; nothing when neither
/// snapshot recorded it.
fn resident_text(s: &mut String, parts: &[PartChange]) {
    if parts.is_empty() {
        return;
    }
    s.push_str(&format!("\n{}\n", heading("resident memory")));
    let known = |x: Option<u64>| x.map_or_else(|| "not recorded".to_owned(), bytes);
    let rows: Vec<[String; 4]> = (parts.iter())
        .map(|p| {
            let change = p.change.map_or_else(|| "-".to_owned(), signed_bytes);
            [part_name(p.part).to_owned(), known(p.a), known(p.b), change]
        })
        .collect();
    use Align::{Left, Right};
    s.push_str(&render(
        ["part", "A", "B", "change"],
        [Left, Right, Right, Right],
        &rows,
    ));
}

/// A part's name in text.
fn part_name(p: Part) -> &'static str {
    match p {
        Part::Resident => "resident",
        Part::Live => "live heap",
        Part::AllocatorFree => "allocator free",
        Part::AllocatorOverhead => "allocator overhead",
        Part::TurboWishTables => "TurboWish tables",
        Part::TurboWishHeaders => "TurboWish headers",
        Part::Rest => "the rest",
    }
}
