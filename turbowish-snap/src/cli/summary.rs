//! `turbowish summary`: what one snapshot holds, in a page.

use super::sites::{Site, sites};
use super::table::{Align, render};
use super::units::{bytes, millis, utc_iso8601};
use anyhow::Result;
use serde::Serialize;
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use turbowish_snap::{RootKind, Snapshot, TaskState};

/// The fields of `summary --json`, for `--help`.
pub const JSON_FIELDS: &str = "\
JSON output (--json) is one object; sizes are in bytes, times in nanoseconds:
  process    pid, exe, sequence, epoch, time (UTC ISO-8601), time_ns
  totals     live_blocks, live_bytes (summed over the blocks in the snapshot),
             allocator_live_blocks, allocator_live_bytes (the allocator's own counters),
             sites, edges, roots {total, static, thread_stack, thread_local}
  top_sites  [{stack, function, location, blocks, bytes}], largest first;
             function and location are null when unknown
  capture    pause_ns, scan_ns, symbolize_ns, scanned_bytes, untracked_blocks,
             unknown_frees";

/// Arguments of `turbowish summary`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The snapshot file (`.twsnap`).
    file: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// How many allocation sites to list.
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,
}

/// Runs `turbowish summary`.
pub fn run(args: &Args, out: &mut dyn Write) -> Result<()> {
    let snapshot = super::read_snapshot(&args.file)?;
    let report = Report::new(&snapshot, args.top);
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        out.write_all(report.to_text().as_bytes())?;
    }
    Ok(())
}

/// Everything `summary` prints, in the shape of its JSON output.
#[derive(Debug, Serialize)]
struct Report {
    process: ProcessReport,
    totals: Totals,
    top_sites: Vec<Site>,
    capture: CaptureReport,
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
    edges: u64,
    roots: Roots,
    tasks: Tasks,
}

/// Traced tasks by state.
#[derive(Debug, Default, Serialize)]
struct Tasks {
    total: u64,
    pending: u64,
    running: u64,
    /// Finished, storage still alive: zombie futures.
    completed: u64,
    cancelled: u64,
}

#[derive(Debug, Default, Serialize)]
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
}

impl Report {
    fn new(s: &Snapshot, top: usize) -> Report {
        let p = &s.process;
        let c = &s.capture;
        let sites = sites(s, |_| true);
        Report {
            process: ProcessReport {
                pid: p.pid,
                exe: super::site::string(s, p.exe).to_owned(),
                sequence: p.sequence,
                epoch: p.epoch,
                time: utc_iso8601(p.time_ns),
                time_ns: p.time_ns,
            },
            totals: Totals {
                live_blocks: s.blocks.len() as u64,
                live_bytes: s.blocks.iter().fold(0, |sum, b| sum.saturating_add(b.size)),
                allocator_live_blocks: c.live_blocks,
                allocator_live_bytes: c.live_bytes,
                sites: sites.len() as u64,
                edges: s.edges.len() as u64,
                roots: roots(s),
                tasks: tasks(s),
            },
            top_sites: sites.into_iter().take(top).collect(),
            capture: CaptureReport {
                pause_ns: c.pause_ns,
                scan_ns: c.scan_ns,
                symbolize_ns: c.symbolize_ns,
                scanned_bytes: c.scanned_bytes,
                untracked_blocks: c.untracked_blocks,
                unknown_frees: c.unknown_frees,
            },
        }
    }
}

fn roots(s: &Snapshot) -> Roots {
    let mut roots = Roots::default();
    for r in &s.roots {
        roots.total += 1;
        match r.kind {
            RootKind::Static => roots.statics += 1,
            RootKind::ThreadStack => roots.thread_stack += 1,
            RootKind::ThreadLocal => roots.thread_local += 1,
            RootKind::Task => roots.task += 1,
            RootKind::Named => roots.named += 1,
        }
    }
    roots
}

fn tasks(s: &Snapshot) -> Tasks {
    let mut t = Tasks::default();
    for task in &s.tasks {
        t.total += 1;
        match task.state {
            TaskState::Pending => t.pending += 1,
            TaskState::Running => t.running += 1,
            TaskState::Completed => t.completed += 1,
            TaskState::Cancelled => t.cancelled += 1,
        }
    }
    t
}

/// Width of the labels in the key-value sections.
const LABEL: usize = 20;

impl Report {
    fn to_text(&self) -> String {
        let mut t = String::new();
        self.process_text(&mut t);
        self.totals_text(&mut t);
        self.sites_text(&mut t);
        self.capture_text(&mut t);
        t
    }

    fn process_text(&self, t: &mut String) {
        let p = &self.process;
        t.push_str("process\n");
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
        t.push_str("\ntotals\n");
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
        let k = &n.tasks;
        let tasks = format!(
            "{} traced ({} pending, {} running; finished but still stored: {} completed, {} cancelled)",
            k.total, k.pending, k.running, k.completed, k.cancelled
        );
        line(t, "tasks", tasks);
    }

    fn sites_text(&self, t: &mut String) {
        let shown = self.top_sites.len();
        let total = self.totals.sites;
        if total == 0 {
            t.push_str("\nno live blocks, so no allocation sites\n");
            return;
        }
        let _ = writeln!(
            t,
            "\ntop {shown} of {total} allocation sites, by live bytes"
        );
        if shown == 0 {
            return;
        }
        let rows: Vec<[String; 4]> = self.top_sites.iter().map(Site::row).collect();
        let header = ["live bytes", "blocks", "function", "location"];
        let align = [Align::Right, Align::Right, Align::Left, Align::Left];
        t.push_str(&render(header, align, &rows));
    }

    fn capture_text(&self, t: &mut String) {
        let c = &self.capture;
        t.push_str("\ncapture\n");
        line(t, "pause", millis(c.pause_ns));
        line(t, "scan", millis(c.scan_ns));
        line(t, "symbolize", millis(c.symbolize_ns));
        line(t, "scanned", bytes(c.scanned_bytes));
        line(t, "untracked blocks", c.untracked_blocks);
        line(t, "unknown frees", c.unknown_frees);
    }
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
