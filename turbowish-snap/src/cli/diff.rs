//! `turbowish diff`: what grew between two snapshots of one process.

use super::color::heading;
use super::site::name_stack;
use super::table::{Align, render};
use super::units::bytes;
use anyhow::{Result, bail};
use serde::Serialize;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use turbowish_snap::Snapshot;
use turbowish_snap::analysis::diff::{
    BlockMatch, GroupDelta, check_pair, delta, group_changes, match_blocks, match_tasks,
};
use turbowish_snap::analysis::graph::HeapGraph;
use turbowish_snap::analysis::retained::Retained;
use turbowish_snap::analysis::tasks::{TaskRow, tag, task_rows};

/// The fields of `diff --json`, for `--help`.
pub const JSON_FIELDS: &str = "\
JSON output (--json) is one object; sizes are in bytes:
  a, b         pid, sequence, time_ns of each snapshot
  totals       live_bytes_a, live_bytes_b, born_bytes, born_blocks (born after A, alive
               in B), freed_bytes, freed_blocks (live in A, gone in B), surviving_blocks,
               new_tasks, ended_tasks
  spawn_sites  [{spawned_at, tasks_a, tasks_b, retained_a, retained_b, allocated_a,
               allocated_b, new_tasks, ended_tasks}], by change in retained bytes
  groups       {by, rows: [{key, bytes_a, bytes_b, net, born_bytes, born_blocks,
               freed_bytes, freed_blocks}]}, by net change, largest growth first";

/// How to group blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum By {
    /// The spawn site of the traced task whose polls allocated the block.
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
    /// How many spawn sites and groups to list (0: all).
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,
    /// Compare snapshots of different processes anyway (block identities will
    /// not match: everything looks born and freed).
    #[arg(long)]
    force: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    read: super::ReadArgs,
}

#[derive(Debug, Serialize)]
struct Report {
    a: Side,
    b: Side,
    totals: Totals,
    spawn_sites: Vec<SpawnSite>,
    groups: Groups,
}

#[derive(Debug, Serialize)]
struct Side {
    pid: u32,
    sequence: u32,
    time_ns: u64,
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

#[derive(Debug, Default, Serialize)]
pub(super) struct SpawnSite {
    pub(super) spawned_at: String,
    pub(super) tasks_a: u64,
    pub(super) tasks_b: u64,
    pub(super) retained_a: u64,
    pub(super) retained_b: u64,
    allocated_a: u64,
    allocated_b: u64,
    new_tasks: u64,
    ended_tasks: u64,
}

#[derive(Debug, Serialize)]
struct Groups {
    by: &'static str,
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
}

/// Runs `turbowish diff`.
pub fn run(args: &Args, out: &mut dyn Write) -> Result<()> {
    let a = super::read_snapshot(&args.a, &args.read, args.json)?;
    let b = super::read_snapshot(&args.b, &args.read, args.json)?;
    if let Err(why) = check_pair(&a, &b)
        && !args.force
    {
        bail!("{why} (use --force to compare them anyway)");
    }
    let report = Report::new(&a, &b, args);
    super::emit(out, args.json, &report, || report.to_text())
}

/// A snapshot with its per-task figures.
pub(super) struct Analyzed<'a> {
    pub(super) snap: &'a Snapshot,
    pub(super) rows: Vec<TaskRow>,
    /// Blocks no root reaches, and their bytes.
    pub(super) unreachable: (u64, u64),
}

impl<'a> Analyzed<'a> {
    pub(super) fn new(snap: &'a Snapshot) -> Self {
        let graph = HeapGraph::new(snap);
        let retained = Retained::new(snap, &graph);
        let rows = task_rows(snap, &graph, &retained);
        let mut unreachable = (0, 0);
        for (i, b) in (0u32..).zip(&snap.blocks) {
            if !retained.reachable(graph.block_node(i)) {
                unreachable.0 += 1;
                unreachable.1 = u64::saturating_add(unreachable.1, b.size);
            }
        }
        Analyzed {
            snap,
            rows,
            unreachable,
        }
    }

    fn string(&self, i: u32) -> &str {
        super::site::string(self.snap, i)
    }

    pub(super) fn spawned_at(&self, task: u32) -> String {
        super::site::spawned_at(self.snap, &self.snap.tasks[task as usize])
    }

    /// The traced task with allocation tag `tag`, if any.
    fn task_by_tag(&self) -> HashMap<u64, u32> {
        (0..self.snap.tasks.len() as u32)
            .map(|i| (tag(self.snap.tasks[i as usize].id), i))
            .filter(|&(tag, _)| tag != 0)
            .collect()
    }

    /// The group of block `i` under `by`. A block's task is looked up in
    /// this snapshot's task table, then in `other`'s: a traced task that
    /// ended between the two is still named by its spawn site.
    fn key(&self, by: By, tags: &HashMap<u64, u32>, other: Other, i: u32) -> String {
        let block = &self.snap.blocks[i as usize];
        let task = match tags.get(&block.task) {
            Some(&t) => Some((self, t)),
            None => other.1.get(&block.task).map(|&t| (other.0, t)),
        };
        match by {
            By::Spawn => match (task, block.task) {
                (Some((x, t)), _) => x.spawned_at(t),
                (None, 0) => "(outside tasks)".to_owned(),
                (None, _) => "(untraced or ended tasks)".to_owned(),
            },
            By::Task => match task {
                Some((x, t)) => match x.string(x.snap.tasks[t as usize].name) {
                    "" => format!("task {}", block.task),
                    name => format!("task {} {name}", block.task),
                },
                None if block.task == 0 => "(outside tasks)".to_owned(),
                None => format!("task {} (untraced, or ended)", block.task),
            },
            By::Site => name_stack(self.snap, block.stack)
                .label()
                .unwrap_or_else(|| "(no stack recorded)".to_owned()),
            By::Type => match self.string(block.type_name) {
                "" => "(untyped)".to_owned(),
                t => t.to_owned(),
            },
        }
    }
}

/// The other snapshot of a pair, with its tasks by tag.
type Other<'x, 'a> = (&'x Analyzed<'a>, &'x HashMap<u64, u32>);

impl Report {
    fn new(a: &Snapshot, b: &Snapshot, args: &Args) -> Report {
        let (aa, ab) = (Analyzed::new(a), Analyzed::new(b));
        let m = match_blocks(a, b);
        let (new, ended) = match_tasks(a, b);
        let mut spawn_sites = spawn_sites(&aa, &ab, &new, &ended);
        let mut groups = groups(&aa, &ab, &m, args.by);
        if args.top > 0 {
            spawn_sites.truncate(args.top);
            groups.truncate(args.top);
        }
        let side = |s: &Snapshot| Side {
            pid: s.process.pid,
            sequence: s.process.sequence,
            time_ns: s.process.time_ns,
        };
        let sizes =
            |s: &Snapshot, idx: &[u32]| total(idx.iter().map(|&i| s.blocks[i as usize].size));
        Report {
            a: side(a),
            b: side(b),
            totals: Totals {
                live_bytes_a: total(a.blocks.iter().map(|x| x.size)),
                live_bytes_b: total(b.blocks.iter().map(|x| x.size)),
                born_bytes: sizes(b, &m.born),
                born_blocks: m.born.len() as u64,
                freed_bytes: sizes(a, &m.freed),
                freed_blocks: m.freed.len() as u64,
                surviving_blocks: m.surviving.len() as u64,
                new_tasks: new.len() as u64,
                ended_tasks: ended.len() as u64,
            },
            spawn_sites,
            groups: Groups {
                by: match args.by {
                    By::Spawn => "spawn",
                    By::Task => "task",
                    By::Site => "site",
                    By::Type => "type",
                },
                rows: groups,
            },
        }
    }
}

/// Per spawn site: live tasks and their retained and allocated bytes in
/// each snapshot, by change in retained bytes.
pub(super) fn spawn_sites(
    a: &Analyzed,
    b: &Analyzed,
    new: &[u32],
    ended: &[u32],
) -> Vec<SpawnSite> {
    let mut sites: HashMap<String, SpawnSite> = HashMap::new();
    for (side, x) in [(0, a), (1, b)] {
        for row in &x.rows {
            let s = sites.entry(x.spawned_at(row.task)).or_default();
            let (tasks, retained, allocated) = if side == 0 {
                (&mut s.tasks_a, &mut s.retained_a, &mut s.allocated_a)
            } else {
                (&mut s.tasks_b, &mut s.retained_b, &mut s.allocated_b)
            };
            *tasks += 1;
            *retained = retained.saturating_add(row.retained);
            *allocated = allocated.saturating_add(row.allocated);
        }
    }
    for &t in new {
        sites.entry(b.spawned_at(t)).or_default().new_tasks += 1;
    }
    for &t in ended {
        sites.entry(a.spawned_at(t)).or_default().ended_tasks += 1;
    }
    let mut out: Vec<SpawnSite> = sites
        .into_iter()
        .map(|(spawned_at, s)| SpawnSite { spawned_at, ..s })
        .collect();
    out.sort_by_key(|s| {
        let growth = delta(s.retained_a, s.retained_b);
        let tasks = delta(s.tasks_a, s.tasks_b);
        (
            std::cmp::Reverse(growth),
            std::cmp::Reverse(tasks),
            s.spawned_at.clone(),
        )
    });
    out
}

fn groups(a: &Analyzed, b: &Analyzed, m: &BlockMatch, by: By) -> Vec<Group> {
    let (ta, tb) = (a.task_by_tag(), b.task_by_tag());
    let changes = group_changes(
        a.snap,
        b.snap,
        m,
        |i| a.key(by, &ta, (b, &tb), i),
        |j| b.key(by, &tb, (a, &ta), j),
    );
    let mut rows: Vec<Group> = changes
        .into_iter()
        .map(|(key, g): (String, GroupDelta)| Group {
            key,
            bytes_a: g.bytes_a,
            bytes_b: g.bytes_b,
            net: g.net(),
            born_bytes: g.born_bytes,
            born_blocks: g.born_blocks,
            freed_bytes: g.freed_bytes,
            freed_blocks: g.freed_blocks,
        })
        .collect();
    rows.sort_by(|x, y| y.net.cmp(&x.net).then_with(|| x.key.cmp(&y.key)));
    rows
}

/// `+1.0 KiB`, `-12 B`, `0 B`.
pub(super) fn signed_bytes(n: i64) -> String {
    match n {
        0 => "0 B".to_owned(),
        n if n > 0 => format!("+{}", bytes(n as u64)),
        n => format!("-{}", bytes(n.unsigned_abs())),
    }
}

/// The sum of `sizes`, saturating: sizes come from the file.
pub(super) fn total(sizes: impl IntoIterator<Item = u64>) -> u64 {
    sizes.into_iter().fold(0, u64::saturating_add)
}

fn signed(n: i64) -> String {
    if n > 0 {
        format!("+{n}")
    } else {
        n.to_string()
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
             traced tasks: {} new, {} ended\n",
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
        let rows: Vec<[String; 5]> = self
            .groups
            .rows
            .iter()
            .map(|g| {
                [
                    signed_bytes(g.net),
                    bytes(g.bytes_b),
                    format!("{} ({})", bytes(g.born_bytes), g.born_blocks),
                    format!("{} ({})", bytes(g.freed_bytes), g.freed_blocks),
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
