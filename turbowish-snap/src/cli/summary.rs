//! `turbowish summary`: what one snapshot holds, in a page.

use super::render::color::{flagged, heading};
use super::render::dominator::{DOMINATOR_HEADER, DominatorRow};
use super::render::holder::Holders;
use super::render::rows::{SITE_HEADER, SiteRow, estimate_note};
use super::render::table::{Align, render};
use super::render::units::{bytes, count, millis, nonzero, or_dash, utc_iso8601};
use crate::analysis::bloat::{BLOATED, bloated_tasks};
use crate::analysis::resident::{Cause, Gap, Split};
use crate::analysis::sites::estimate::SiteWeights;
use crate::analysis::tasks::TaskRow;
use crate::analysis::tasks::kind::shown_kind;
use crate::analysis::{Analysis, census};
use anyhow::Result;
use serde::Serialize;
use std::cmp::Reverse;
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

/// The fields of `summary --json`, for `--help`.
pub const JSON_FIELDS: &str = "\
JSON output (--json) is one object; sizes are in bytes, times in nanoseconds:
  process    pid, exe, sequence, epoch, time (UTC ISO-8601), time_ns
  totals     live_blocks, live_bytes (summed over the blocks in the snapshot),
             allocator_live_blocks, allocator_live_bytes (the allocator's own counters),
             sites (allocation sites: stacks named alike are one), stacks (distinct
             allocation stacks), edges, roots {total, static, thread_stack, thread_local},
             tasks {total, pending, running, notified, completed, cancelled (by state),
             traced, tokio, blocking (by kind), runtime_workers (tokio's worker threads,
             in no other count), cells_not_understood (tokio task cells of another
             version or configuration, left as plain blocks)}
  findings   unreachable_blocks, unreachable_bytes (no root reaches them: see `leaks`),
             zombie_tasks (finished, storage still held: see `leaks`),
             stuck_tasks (pending, and nothing that can run holds a way to wake them:
             see `waits`),
             bloated_futures (tasks whose future is 16 KiB or more: see `bloat`)
  memory     where the resident memory went at the capture, null when not recorded
             (snapshots before format version 8): resident, file_backed (code and
             mapped files), live, allocator {name, held, free (in its pools), overhead
             (per-block overhead, untracked blocks)} or null (no figures: its retention
             is then in rest), turbowish {tables, headers}, rest (code, stacks, other
             mappings), over (how much the parts exceed resident: not all of them is
             resident), gap {bytes (resident less live), cause (allocator, turbowish,
             outside, unknown)} or null: set when live is under half of resident and
             the gap is 16 MiB or more
  top_tasks  [{id, name, kind, spawned_at, state, retained, allocated}], most retained first
  top_spawn_sites  [{spawned_at, tasks, retained, allocated}], most retained first
  top_dominators  [{address, name, size, retained, retained_blocks, type, site, task,
             held_by}]: the blocks no other block dominates, most retained first: the
             first level of `dominators --json`, without children; `held_by` names the
             root that holds one, or says \"several roots\"
  top_types  [{type, blocks, bytes}]: types from typed walks, most live bytes first
  top_sites  [{site, dependency, function, location, stacks, blocks, bytes, estimated,
             samples}], largest first, as `sites --json` lists them (estimated: from sampled
             stacks; samples: how many sampled blocks the estimates rest on)
  capture    pause_ns, scan_ns, symbolize_ns, scanned_bytes, untracked_blocks,
             unknown_frees, stack_sample_bytes (0, or the mean of the sample by bytes
             that chose which blocks have a stack: site figures are then estimates)";

/// Arguments of `turbowish summary`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The snapshot file (`.twsnap`).
    file: PathBuf,
    #[command(flatten)]
    output: super::Output,
    #[command(flatten)]
    read: super::ReadArgs,
}

/// Runs `turbowish summary`.
pub fn run(args: &Args, out: &mut dyn Write) -> Result<()> {
    let snapshot = super::read_snapshot(&args.file, &args.read, args.output.json())?;
    let report = Report::new(&Analysis::new(&snapshot), args.output.limit());
    args.output.emit(out, &report, || report.to_text())
}

/// Everything `summary` prints, in the shape of its JSON output.
#[derive(Debug, Serialize)]
struct Report {
    process: ProcessReport,
    totals: Totals,
    findings: Findings,
    memory: Option<Memory>,
    top_tasks: Vec<TaskTop>,
    top_spawn_sites: Vec<SpawnTop>,
    top_dominators: Vec<DominatorRow>,
    top_types: Vec<TypeTop>,
    top_sites: Vec<SiteRow>,
    capture: CaptureReport,
}

/// Where the resident memory went, and the gap if it is flagged.
#[derive(Debug, Serialize)]
struct Memory {
    #[serde(flatten)]
    split: Split,
    gap: Option<Gap>,
}

/// What the other commands look into.
#[derive(Debug, Serialize)]
struct Findings {
    unreachable_blocks: u64,
    unreachable_bytes: u64,
    zombie_tasks: u64,
    stuck_tasks: u64,
    bloated_futures: u64,
}

#[derive(Debug, Serialize)]
struct TaskTop {
    id: u64,
    name: String,
    kind: &'static str,
    spawned_at: String,
    state: &'static str,
    retained: u64,
    allocated: u64,
}

#[derive(Debug, Serialize)]
struct SpawnTop {
    spawned_at: String,
    tasks: u64,
    retained: u64,
    allocated: u64,
}

#[derive(Debug, Serialize)]
struct TypeTop {
    r#type: String,
    blocks: u64,
    bytes: u64,
}

#[derive(Debug, Serialize)]
struct ProcessReport {
    pid: u32,
    exe: String,
    sequence: u32,
    epoch: u32,
    time: String,
    time_ns: u64,
}

#[derive(Debug, Serialize)]
struct Totals {
    live_blocks: u64,
    live_bytes: u64,
    allocator_live_blocks: u64,
    allocator_live_bytes: u64,
    sites: u64,
    stacks: u64,
    edges: u64,
    roots: Roots,
    tasks: Tasks,
}

/// Tasks by state and kind, runtime workers apart.
#[derive(Debug, Serialize)]
struct Tasks {
    total: u64,
    pending: u64,
    running: u64,
    notified: u64,
    /// Finished, storage still alive: zombie futures.
    completed: u64,
    cancelled: u64,
    traced: u64,
    tokio: u64,
    blocking: u64,
    runtime_workers: u64,
    /// Blocks from tokio's task constructor whose layout did not verify.
    cells_not_understood: u64,
}

#[derive(Debug, Serialize)]
struct Roots {
    total: u64,
    #[serde(rename = "static")]
    statics: u64,
    thread_stack: u64,
    thread_local: u64,
    task: u64,
    named: u64,
}

#[derive(Debug, Serialize)]
struct CaptureReport {
    pause_ns: u64,
    scan_ns: u64,
    symbolize_ns: u64,
    scanned_bytes: u64,
    untracked_blocks: u64,
    unknown_frees: u64,
    stack_sample_bytes: u64,
}

impl Report {
    fn new(a: &Analysis, top: usize) -> Report {
        let s = a.snapshot();
        let (p, c) = (&s.process, &s.capture);
        let sites = a.sites();
        Report {
            process: ProcessReport {
                pid: p.pid,
                exe: s.string(p.exe).to_owned(),
                sequence: p.sequence,
                epoch: p.epoch,
                time: utc_iso8601(p.time_ns),
                time_ns: p.time_ns,
            },
            totals: Totals {
                live_blocks: s.blocks.len() as u64,
                live_bytes: census::live_bytes(s),
                allocator_live_blocks: c.live_blocks,
                allocator_live_bytes: c.live_bytes,
                sites: sites.len() as u64,
                stacks: sites.iter().map(|x| x.stacks.len() as u64).sum(),
                edges: s.edges.len() as u64,
                roots: census::roots(s).into(),
                tasks: Tasks::new(census::tasks(s), c.cells_not_understood),
            },
            findings: findings(a),
            memory: Split::of(c).map(|split| Memory {
                gap: split.gap(),
                split,
            }),
            top_tasks: top_tasks(a, top),
            top_spawn_sites: top_spawn_sites(a, top),
            top_dominators: top_dominators(a, top),
            top_types: top_types(a, top),
            top_sites: (sites.iter().take(top))
                .map(|x| SiteRow::new(a, x, None))
                .collect(),
            capture: CaptureReport {
                pause_ns: c.pause_ns,
                scan_ns: c.scan_ns,
                symbolize_ns: c.symbolize_ns,
                scanned_bytes: c.scanned_bytes,
                untracked_blocks: c.untracked_blocks,
                unknown_frees: c.unknown_frees,
                stack_sample_bytes: c.stack_sample_bytes,
            },
        }
    }
}

fn findings(a: &Analysis) -> Findings {
    let (unreachable_blocks, unreachable_bytes) = a.unreachable_total();
    Findings {
        unreachable_blocks,
        unreachable_bytes,
        zombie_tasks: census::tasks(a.snapshot()).zombies,
        stuck_tasks: a.waits().stuck().len() as u64,
        bloated_futures: bloated_tasks(a.snapshot(), BLOATED),
    }
}

fn top_tasks(a: &Analysis, top: usize) -> Vec<TaskTop> {
    let mut rows: Vec<&TaskRow> = a.task_rows().iter().collect();
    rows.sort_by_key(|r| (Reverse(r.retained), Reverse(r.allocated), r.task));
    rows.into_iter()
        .take(top)
        .map(|r| {
            let t = a.snapshot().task(r.task);
            TaskTop {
                id: t.id,
                name: a.snapshot().string(t.name).to_owned(),
                kind: shown_kind(a.snapshot(), t).name(),
                spawned_at: a.spawned_at(r.task).to_owned(),
                state: t.state.name(),
                retained: r.retained,
                allocated: r.allocated,
            }
        })
        .collect()
}

fn top_spawn_sites(a: &Analysis, top: usize) -> Vec<SpawnTop> {
    (a.spawn_sites().iter().take(top))
        .map(|s| SpawnTop {
            spawned_at: s.spawned_at.clone(),
            tasks: s.tasks,
            retained: s.retained,
            allocated: s.allocated,
        })
        .collect()
}

fn top_dominators(a: &Analysis, top: usize) -> Vec<DominatorRow> {
    let holders = Holders::new(a, true);
    (a.biggest_blocks(top, 0).shown.iter())
        .map(|d| DominatorRow::new(a, &holders, d, true))
        .collect()
}

fn top_types(a: &Analysis, top: usize) -> Vec<TypeTop> {
    (census::types(a.snapshot()).into_iter().take(top))
        .map(|t| TypeTop {
            r#type: a.snapshot().string(t.type_name).to_owned(),
            blocks: t.blocks,
            bytes: t.bytes,
        })
        .collect()
}

impl From<census::RootCounts> for Roots {
    fn from(c: census::RootCounts) -> Roots {
        Roots {
            total: c.total,
            statics: c.statics,
            thread_stack: c.thread_stack,
            thread_local: c.thread_local,
            task: c.task,
            named: c.named,
        }
    }
}

impl Tasks {
    fn new(c: census::TaskCounts, cells_not_understood: u64) -> Tasks {
        Tasks {
            total: c.total,
            pending: c.pending,
            running: c.running,
            notified: c.notified,
            completed: c.completed,
            cancelled: c.cancelled,
            traced: c.traced,
            tokio: c.tokio,
            blocking: c.blocking,
            runtime_workers: c.workers,
            cells_not_understood,
        }
    }

    /// `53 (50 tokio, 1 blocking, 2 traced)`, the runtime's workers after.
    fn text(&self) -> String {
        let kinds = [
            (self.tokio, "tokio"),
            (self.blocking, "blocking"),
            (self.traced, "traced"),
        ];
        let mut text = match nonzero(&kinds) {
            k if k.is_empty() => self.total.to_string(),
            k => format!("{} ({k})", self.total),
        };
        if self.runtime_workers > 0 {
            let workers = count(self.runtime_workers, "runtime worker thread");
            let _ = write!(text, "; and {workers}, not counted");
        }
        text
    }

    /// The tasks by state.
    fn states_text(&self) -> String {
        format!(
            "{} pending, {} running, {} notified; finished but still stored: \
             {} completed, {} cancelled",
            self.pending, self.running, self.notified, self.completed, self.cancelled
        )
    }
}

/// Width of the labels in the key-value sections.
const LABEL: usize = 20;

impl Report {
    fn to_text(&self) -> String {
        let mut t = String::new();
        self.process_text(&mut t);
        self.totals_text(&mut t);
        self.findings_text(&mut t);
        memory_text(&mut t, self.memory.as_ref());
        self.tasks_text(&mut t);
        self.dominators_text(&mut t);
        self.types_text(&mut t);
        self.sites_text(&mut t);
        self.capture_text(&mut t);
        t
    }

    fn process_text(&self, t: &mut String) {
        let p = &self.process;
        t.push_str(&format!("{}\n", heading("process")));
        line(t, "pid", p.pid);
        line(
            t,
            "executable",
            if p.exe.is_empty() {
                "(unknown)"
            } else {
                &p.exe
            },
        );
        line(t, "snapshot", format!("#{}", p.sequence));
        line(t, "taken at", &p.time);
    }

    fn totals_text(&self, t: &mut String) {
        let n = &self.totals;
        t.push_str(&format!("\n{}\n", heading("totals")));
        let mut blocks = n.live_blocks.to_string();
        if n.allocator_live_blocks != n.live_blocks {
            let _ = write!(
                blocks,
                " (the allocator counted {})",
                n.allocator_live_blocks
            );
        }
        line(t, "live blocks", blocks);
        line(
            t,
            "live bytes",
            live_bytes(n.live_bytes, n.allocator_live_bytes),
        );
        line(t, "edges", n.edges);
        let r = &n.roots;
        let roots = format!(
            "{} ({} static, {} thread stack, {} thread-local, {} task, {} named)",
            r.total, r.statics, r.thread_stack, r.thread_local, r.task, r.named
        );
        line(t, "roots", roots);
        line(t, "tasks", n.tasks.text());
        if n.tasks.total > 0 {
            line(t, "task states", n.tasks.states_text());
        }
        if n.tasks.cells_not_understood > 0 {
            let cells = format!(
                "{} not understood (another tokio version or configuration): \
                 those tasks appear as plain blocks, not as tasks",
                n.tasks.cells_not_understood
            );
            line(t, "task cells", cells);
        }
    }

    fn findings_text(&self, t: &mut String) {
        let f = &self.findings;
        t.push_str(&format!("\n{}\n", heading("findings")));
        let unreachable = format!(
            "{} (see turbowish leaks)",
            flagged(
                f.unreachable_blocks,
                &format!(
                    "{}, {}",
                    count(f.unreachable_blocks, "block"),
                    bytes(f.unreachable_bytes)
                )
            )
        );
        line(t, "unreachable", unreachable);
        line(
            t,
            "zombie futures",
            format!(
                "{} (see turbowish leaks)",
                flagged(f.zombie_tasks, &f.zombie_tasks.to_string())
            ),
        );
        line(
            t,
            "stuck tasks",
            format!(
                "{} (nothing can ever wake them: see turbowish waits)",
                flagged(f.stuck_tasks, &f.stuck_tasks.to_string())
            ),
        );
        let bloated = format!(
            "{} with a future of {} or more (see turbowish bloat)",
            flagged(f.bloated_futures, &count(f.bloated_futures, "task")),
            bytes(BLOATED)
        );
        line(t, "bloated futures", bloated);
    }

    fn tasks_text(&self, t: &mut String) {
        if !self.top_tasks.is_empty() {
            let _ = writeln!(
                t,
                "\n{}",
                heading(&format!(
                    "top {} by retained bytes",
                    count(self.top_tasks.len() as u64, "task")
                ))
            );
            let rows: Vec<[String; 7]> = (self.top_tasks.iter())
                .map(|x| {
                    [
                        x.id.to_string(),
                        or_dash(&x.name),
                        x.kind.to_owned(),
                        x.state.to_owned(),
                        bytes(x.retained),
                        bytes(x.allocated),
                        x.spawned_at.clone(),
                    ]
                })
                .collect();
            let header = [
                "id",
                "name",
                "kind",
                "state",
                "retained",
                "allocated",
                "spawned at",
            ];
            let align = [
                Align::Right,
                Align::Left,
                Align::Left,
                Align::Left,
                Align::Right,
                Align::Right,
                Align::Left,
            ];
            t.push_str(&render(header, align, &rows));
        }
        if !self.top_spawn_sites.is_empty() {
            let _ = writeln!(
                t,
                "\n{}",
                heading(&format!(
                    "top {} by retained bytes",
                    count(self.top_spawn_sites.len() as u64, "spawn site")
                ))
            );
            let rows: Vec<[String; 4]> = (self.top_spawn_sites.iter())
                .map(|x| {
                    [
                        x.tasks.to_string(),
                        bytes(x.retained),
                        bytes(x.allocated),
                        x.spawned_at.clone(),
                    ]
                })
                .collect();
            let header = ["tasks", "retained", "allocated", "spawned at"];
            let align = [Align::Right, Align::Right, Align::Right, Align::Left];
            t.push_str(&render(header, align, &rows));
        }
    }

    fn dominators_text(&self, t: &mut String) {
        if self.top_dominators.is_empty() {
            return;
        }
        let title = format!(
            "top {} by retained bytes (no other block dominates them: see turbowish dominators)",
            count(self.top_dominators.len() as u64, "block")
        );
        let _ = writeln!(t, "\n{}", heading(&title));
        let rows: Vec<[String; 5]> = (self.top_dominators.iter())
            .map(|d| {
                let [retained, blocks, address, name] = d.cells();
                let held_by = d.held_by.clone().unwrap_or_default();
                [retained, blocks, address, name, held_by]
            })
            .collect();
        let [r, b, ad, n] = DOMINATOR_HEADER;
        let align = [
            Align::Right,
            Align::Right,
            Align::Left,
            Align::Left,
            Align::Left,
        ];
        t.push_str(&render([r, b, ad, n, "held by"], align, &rows));
    }

    fn types_text(&self, t: &mut String) {
        if self.top_types.is_empty() {
            return;
        }
        let _ = writeln!(
            t,
            "\n{}",
            heading(&format!(
                "top {} by live bytes (from typed walks)",
                count(self.top_types.len() as u64, "type")
            ))
        );
        let rows: Vec<[String; 3]> = (self.top_types.iter())
            .map(|x| [bytes(x.bytes), x.blocks.to_string(), x.r#type.clone()])
            .collect();
        let align = [Align::Right, Align::Right, Align::Left];
        t.push_str(&render(["live bytes", "blocks", "type"], align, &rows));
    }

    fn sites_text(&self, t: &mut String) {
        let shown = self.top_sites.len();
        let total = self.totals.sites;
        if total == 0 {
            t.push_str(&format!("\n{}\n", "no live blocks, so no allocation sites"));
            return;
        }
        let _ = writeln!(
            t,
            "\n{}",
            heading(&format!(
                "top {shown} of {total} allocation sites, by live bytes"
            ))
        );
        let weights = SiteWeights::from_sample_bytes(self.capture.stack_sample_bytes);
        if let Some(note) = estimate_note(weights) {
            let _ = writeln!(t, "  {note}");
        }
        if shown == 0 {
            return;
        }
        let rows: Vec<[String; 4]> = self.top_sites.iter().map(SiteRow::cells).collect();
        let align = [Align::Right, Align::Right, Align::Right, Align::Left];
        t.push_str(&render(SITE_HEADER, align, &rows));
    }

    fn capture_text(&self, t: &mut String) {
        let c = &self.capture;
        t.push_str(&format!("\n{}\n", heading("capture")));
        line(t, "pause", millis(c.pause_ns));
        line(t, "scan", millis(c.scan_ns));
        line(t, "symbolize", millis(c.symbolize_ns));
        line(t, "scanned", bytes(c.scanned_bytes));
        line(t, "untracked blocks", c.untracked_blocks);
        line(t, "unknown frees", c.unknown_frees);
    }
}

/// The split of the resident memory, and the gap in one sentence if it is
/// flagged.
fn memory_text(t: &mut String, memory: Option<&Memory>) {
    t.push_str(&format!("\n{}\n", heading("resident memory")));
    let Some(Memory { split: s, gap }) = memory else {
        t.push_str(
            "  not recorded (a snapshot before format version 8, or /proc was unreadable)\n",
        );
        return;
    };
    let file = format!("{} file-backed: code, mapped files", bytes(s.file_backed));
    line(t, "resident", format!("{} ({file})", bytes(s.resident)));
    line(t, "live heap", bytes(s.live));
    let (rest, retained) = match &s.allocator {
        Some(a) => (
            "code, stacks, other mappings",
            format!(
                "{} ({}: {} free in its pools, {} overhead and untracked blocks)",
                bytes(a.total()),
                a.name,
                bytes(a.free),
                bytes(a.overhead)
            ),
        ),
        None => (
            "code, stacks, other mappings and the allocator's retention",
            "not recorded (the allocator gave no figures)".to_owned(),
        ),
    };
    line(t, "allocator retained", retained);
    let own = format!(
        "{} ({} tables, {} headers)",
        bytes(s.own.total()),
        bytes(s.own.tables),
        bytes(s.own.headers)
    );
    line(t, "TurboWish's own", own);
    line(t, "the rest", format!("{} ({rest})", bytes(s.rest)));
    if s.over > 0 {
        let over = format!(
            "  the parts add up to {} more than resident: some of that memory was never \
             touched, or is swapped out\n",
            bytes(s.over)
        );
        t.push_str(&over);
    }
    if let Some(gap) = gap {
        let _ = writeln!(t, "  {}", flagged(1, &gap_sentence(s, gap)));
    }
}

/// `54.0 MiB resident, 12.0 MiB live: the rest is mostly ...`.
fn gap_sentence(s: &Split, gap: &Gap) -> String {
    let why = match (gap.cause, &s.allocator) {
        (Cause::Allocator, Some(a)) => format!(
            "the rest is mostly allocator retention or fragmentation ({} holds {} free)",
            a.name,
            bytes(a.free)
        ),
        (Cause::TurboWish, _) => format!(
            "the rest is mostly TurboWish's own tables and headers ({})",
            bytes(s.own.total())
        ),
        (Cause::Outside, _) => format!(
            "the rest is mostly outside the heap (code, stacks, other mappings: {})",
            bytes(s.rest)
        ),
        _ => format!(
            "the allocator gave no figures, so its retention cannot be told apart from \
             code, stacks and other mappings ({} together)",
            bytes(s.rest)
        ),
    };
    format!(
        "{} resident, {} live: {why}",
        bytes(s.resident),
        bytes(s.live)
    )
}

fn line(t: &mut String, label: &str, value: impl std::fmt::Display) {
    let _ = writeln!(t, "  {label:<LABEL$}{value}");
}

/// Live bytes in human units, with the exact count when they are rounded,
/// and the allocator's count when it differs.
fn live_bytes(live: u64, allocator: u64) -> String {
    let mut notes = Vec::new();
    if live >= 1024 {
        notes.push(format!("{live} B"));
    }
    if allocator != live {
        notes.push(format!("the allocator counted {allocator} B"));
    }
    match notes.is_empty() {
        true => bytes(live),
        false => format!("{} ({})", bytes(live), notes.join("; ")),
    }
}
