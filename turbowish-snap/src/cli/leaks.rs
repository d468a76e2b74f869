//! `turbowish leaks`: memory nothing reaches, zombie futures, idle tasks
//! holding memory, and (against a baseline) spawn sites that grew.

use super::render::color::{flagged, heading};
use super::render::holder::Holders;
use super::render::rows::{NameColumns, approx, blocks_cell, estimate_note};
use super::render::table::{Align, render};
use super::render::units::{bytes, count, or_dash, signed_bytes};
use crate::BlockIndex;
use crate::analysis::Analysis;
use crate::analysis::diff::{Comparison, SpawnSiteChange, check_pair, delta};
use crate::analysis::leaks::{self, Holder};
use crate::analysis::sites::estimate::SiteWeights;
use anyhow::{Result, bail};
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;

/// The fields of `leaks --json`, for `--help`.
pub const JSON_FIELDS: &str = "\
JSON output (--json) is one object; sizes are in bytes:
  stack_sample_bytes  0, or the mean of the sample by bytes that chose which blocks have
               a stack (TURBOWISH_STACK=sampled)
  unreachable  {blocks, bytes, sites: [{site, dependency, function, location, task, stacks,
               blocks, bytes, estimated, samples}]}: blocks no root reaches, by allocation
               site (as `sites --json` names them) and allocating task; the sites' blocks
               and bytes are estimates when stacks were sampled and the site has sampled
               blocks (estimated; samples: how many), the totals never
  zombie_tasks how many zombie futures there are (the list below is cut to --top)
  zombies      [{id, name, spawned_at, state, storage_bytes, retained, holders: [text]}]
  stuck_tasks  pending tasks nothing that can run holds a way to wake (see `waits`)
  idle_tasks   how many idle tasks there are (the list below is cut to --top)
  idle         [{id, name, spawned_at, idle_ns, retained}]: pending tasks idle for at
               least --idle seconds and retaining at least --min-bytes
  grown        [{spawned_at, tasks_a, tasks_b, retained_a, retained_b, allocated_a,
               allocated_b, new_tasks, ended_tasks}]: with --baseline, spawn sites whose
               task count and retained bytes both grew (as `diff` lists them)";

/// Arguments of `turbowish leaks`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The snapshot file (`.twsnap`).
    file: PathBuf,
    /// An earlier snapshot of the same process: also list spawn sites whose
    /// live task count and retained bytes grew since.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// Idle tasks: pending for at least this many seconds...
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    idle: f64,
    /// ...and retaining at least this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    min_bytes: u64,
    #[command(flatten)]
    output: super::Output,
    #[command(flatten)]
    read: super::ReadArgs,
}

#[derive(Debug, Serialize)]
struct Report {
    stack_sample_bytes: u64,
    unreachable: UnreachableReport,
    zombie_tasks: u64,
    zombies: Vec<ZombieRow>,
    stuck_tasks: u64,
    idle_tasks: u64,
    idle: Vec<IdleRow>,
    grown: Vec<SpawnSiteChange>,
}

#[derive(Debug, Serialize)]
struct UnreachableReport {
    blocks: u64,
    bytes: u64,
    sites: Vec<UnreachableSite>,
}

#[derive(Debug, Serialize)]
struct UnreachableSite {
    #[serde(flatten)]
    name: NameColumns,
    task: u64,
    stacks: u64,
    blocks: u64,
    bytes: u64,
    estimated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    samples: Option<u64>,
}

#[derive(Debug, Serialize)]
struct ZombieRow {
    id: u64,
    name: String,
    spawned_at: String,
    state: &'static str,
    storage_bytes: u64,
    retained: u64,
    holders: Vec<String>,
}

#[derive(Debug, Serialize)]
struct IdleRow {
    id: u64,
    name: String,
    spawned_at: String,
    idle_ns: u64,
    retained: u64,
}

/// Runs `turbowish leaks`.
pub fn run(args: &Args, out: &mut dyn Write) -> Result<()> {
    if !(args.idle >= 0.0 && args.idle.is_finite()) {
        bail!("--idle must be a number of seconds, 0 or more");
    }
    let snap = super::read_snapshot(&args.file, &args.read, args.output.json())?;
    let baseline = match &args.baseline {
        Some(path) => {
            let a = super::read_snapshot(path, &args.read, args.output.json())?;
            if let Err(why) = check_pair(&a, &snap) {
                bail!("cannot use {} as the baseline: {why}", path.display());
            }
            Some(a)
        }
        None => None,
    };
    let baseline = baseline.as_ref().map(Analysis::new);
    let report = Report::new(&Analysis::new(&snap), baseline.as_ref(), args);
    args.output.emit(out, &report, || report.to_text())
}

impl Report {
    fn new(b: &Analysis, baseline: Option<&Analysis>, args: &Args) -> Report {
        let snap = b.snapshot();
        let (blocks, bytes) = b.unreachable_total();
        let sites = (b.unreachable_sites().iter())
            .map(|s| UnreachableSite {
                name: s.name(b).into(),
                task: s.key,
                stacks: s.stacks.len() as u64,
                blocks: s.blocks,
                bytes: s.bytes,
                estimated: s.samples().is_some(),
                samples: s.samples(),
            })
            .collect();
        let holders = Holders::new(b, true);
        let zombie_rows: Vec<ZombieRow> = (leaks::zombies(snap).iter())
            .map(|z| {
                let t = snap.task(z.task);
                ZombieRow {
                    id: t.id,
                    name: snap.string(t.name).to_owned(),
                    spawned_at: b.spawned_at(z.task).to_owned(),
                    state: t.state.name(),
                    storage_bytes: snap.block(z.storage).size,
                    retained: b.task_rows()[z.task.index()].retained,
                    holders: (z.holders.iter())
                        .map(|&h| holder(&holders, h, z.storage))
                        .collect(),
                }
            })
            .collect();
        let min_idle = (args.idle * 1e9) as u64;
        let idle: Vec<IdleRow> = (leaks::idle(snap, b.task_rows(), min_idle, args.min_bytes))
            .into_iter()
            .map(|r| {
                let t = snap.task(r.task);
                IdleRow {
                    id: t.id,
                    name: snap.string(t.name).to_owned(),
                    spawned_at: b.spawned_at(r.task).to_owned(),
                    idle_ns: r.idle_ns,
                    retained: r.retained,
                }
            })
            .collect();
        let grown = baseline.map_or_else(Vec::new, |a| {
            (Comparison::new(a, b).spawn_sites().into_iter())
                .filter(|s| s.tasks_b > s.tasks_a && s.retained_b > s.retained_a)
                .collect()
        });
        Report {
            stack_sample_bytes: snap.capture.stack_sample_bytes,
            unreachable: UnreachableReport {
                blocks,
                bytes,
                sites: args.output.cut(sites),
            },
            zombie_tasks: zombie_rows.len() as u64,
            zombies: args.output.cut(zombie_rows),
            stuck_tasks: b.waits().stuck().len() as u64,
            idle_tasks: idle.len() as u64,
            idle: args.output.cut(idle),
            grown: args.output.cut(grown),
        }
    }
}

/// `; the first N shown` when a list was cut to --top.
fn shown(listed: usize, total: u64) -> String {
    match listed as u64 == total {
        true => String::new(),
        false => format!("; the first {listed} shown"),
    }
}

/// Names a holder: a block (with the field that points, if typed), or a
/// root (a static by its symbol) holding the zombie's `storage` block.
fn holder(holders: &Holders, h: Holder, storage: BlockIndex) -> String {
    let snap = holders.snap;
    match h {
        Holder::Root(r) => holders.root(r, snap.roots[r as usize].label_of(storage)).1,
        Holder::Block(b, label) => match snap.string(label) {
            "" => holders.block(b),
            field => format!("{}, field {field}", holders.block(b)),
        },
    }
}

impl Report {
    fn to_text(&self) -> String {
        use Align::{Left, Right};
        let u = &self.unreachable;
        let mut s = format!(
            "{} (no root reaches them: leaked, or held only where the scan cannot see)\n",
            flagged(
                u.blocks,
                &format!(
                    "unreachable: {}, {}",
                    count(u.blocks, "block"),
                    bytes(u.bytes)
                )
            )
        );
        if !u.sites.is_empty() {
            if let Some(note) =
                estimate_note(SiteWeights::from_sample_bytes(self.stack_sample_bytes))
            {
                s.push_str(&format!("{note}\n"));
            }
            let rows: Vec<[String; 4]> = u
                .sites
                .iter()
                .map(|x| {
                    [
                        approx(x.estimated, bytes(x.bytes)),
                        blocks_cell(x.blocks, x.samples),
                        x.task.to_string(),
                        x.name.cell(),
                    ]
                })
                .collect();
            s.push_str(&render(
                ["bytes", "blocks", "task", "allocation site"],
                [Right, Right, Right, Left],
                &rows,
            ));
        }
        s.push_str(&format!(
            "\n{} (finished, storage still held){}\n",
            flagged(
                self.zombie_tasks,
                &format!("zombie futures: {}", self.zombie_tasks)
            ),
            shown(self.zombies.len(), self.zombie_tasks)
        ));
        for z in &self.zombies {
            s.push_str(&format!(
                "  task {} {} ({}, spawned at {}): storage {}, retains {}\n",
                z.id,
                or_dash(&z.name),
                z.state,
                z.spawned_at,
                bytes(z.storage_bytes),
                bytes(z.retained)
            ));
            for h in &z.holders {
                s.push_str(&format!("    held by {h}\n"));
            }
            if z.holders.is_empty() {
                s.push_str(
                    "    held by nothing the scan saw (a register, or memory outside the heap)\n",
                );
            }
        }
        s.push_str(&format!(
            "\n{} (pending, and nothing that can run holds a way to wake them: see turbowish waits)\n",
            flagged(
                self.stuck_tasks,
                &format!("stuck tasks: {}", self.stuck_tasks)
            )
        ));
        s.push_str(&format!(
            "\n{}\n",
            flagged(
                self.idle_tasks,
                &format!("idle tasks holding memory: {}", self.idle_tasks)
            ) + &shown(self.idle.len(), self.idle_tasks)
        ));
        if !self.idle.is_empty() {
            let rows: Vec<[String; 5]> = self
                .idle
                .iter()
                .map(|x| {
                    [
                        x.id.to_string(),
                        or_dash(&x.name),
                        format!("{:.0} s", x.idle_ns as f64 / 1e9),
                        bytes(x.retained),
                        x.spawned_at.clone(),
                    ]
                })
                .collect();
            s.push_str(&render(
                ["id", "name", "idle", "retained", "spawned at"],
                [Right, Left, Right, Right, Left],
                &rows,
            ));
        }
        if !self.grown.is_empty() {
            s.push_str(&format!(
                "\n{}\n",
                heading("spawn sites that grew since the baseline")
            ));
            let rows: Vec<[String; 3]> = self
                .grown
                .iter()
                .map(|x| {
                    [
                        format!("{} -> {}", x.tasks_a, x.tasks_b),
                        signed_bytes(delta(x.retained_a, x.retained_b)),
                        x.spawned_at.clone(),
                    ]
                })
                .collect();
            s.push_str(&render(
                ["tasks", "retained", "spawned at"],
                [Right, Right, Left],
                &rows,
            ));
        }
        s
    }
}
