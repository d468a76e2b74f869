//! `turbowish export`: a snapshot, or the difference of two, in another
//! tool's format, written to a file (or stdout), with one line saying what
//! was written. It selects and writes: the format's module in
//! [`export`](crate::export) renders.

use super::render::file::{Written, write_output};
use super::render::units::count;
use crate::Snapshot;
use crate::analysis::Analysis;
use crate::analysis::diff::check_pair;
use crate::export::{heapsnapshot, pprof};
use anyhow::{Result, bail};
use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// The fields of `export --json`, for `--help`.
pub const JSON_FIELDS: &str = "\
JSON output (--json) is one object, about the file written (nothing is printed with -o -):
  format     the format written: pprof or heapsnapshot
  output     the file written
  bytes      the file's size
  samples    (pprof) how many samples the profile holds (one per distinct stack and label set)
  nodes, edges, weak_edges, strings  (heapsnapshot) what the heap snapshot holds (weak edges
             retain nothing)
  clamped_blocks  (heapsnapshot) blocks of 4 GiB or more, whose size was cut to 4 GiB - 1 byte

Examples:
  turbowish export turbowish-4242-1.twsnap --format pprof -o heap.pb.gz
  go tool pprof -top heap.pb.gz
  go tool pprof -tagroot=spawn_site -top heap.pb.gz
  turbowish export a.twsnap b.twsnap --format pprof -o growth.pb.gz
  turbowish export turbowish-4242-1.twsnap --format heapsnapshot -o heap.heapsnapshot";

/// The formats `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// A gzipped pprof heap profile (`profile.proto`), for `go tool
    /// pprof`, Pyroscope and Parca.
    Pprof,
    /// A V8 heap snapshot (JSON), for Chrome DevTools' Memory panel (Load)
    /// and memlab: blocks are nodes named by type or allocation site, with
    /// TurboWish's dominators and retained sizes.
    Heapsnapshot,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Pprof => "pprof",
            Format::Heapsnapshot => "heapsnapshot",
        }
    }
}

/// Arguments of `turbowish export`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The snapshot file (`.twsnap`).
    file: PathBuf,
    /// A later snapshot of the same process: export what changed, FILE2
    /// minus FILE (pprof only; for heap snapshots, export both and compare
    /// them in DevTools' Comparison view).
    #[arg(value_name = "FILE2")]
    later: Option<PathBuf>,
    /// The format to write.
    #[arg(long, value_enum)]
    format: Format,
    /// Where to write it: a file, or `-` for stdout (a pprof profile is
    /// refused when stdout is a terminal).
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
    /// Label every sample with its task's id (pprof's `task_id` label). Off
    /// by default: one label value per task is costly for fleet backends.
    #[arg(long)]
    task_ids: bool,
    /// Compare snapshots of different processes anyway (block identities will
    /// not match: everything looks born and freed).
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    json: super::Json,
    #[command(flatten)]
    read: super::ReadArgs,
}

/// What `export` prints after writing a file, in the shape of its JSON.
#[derive(Debug, Serialize)]
struct Report {
    #[serde(flatten)]
    written: Written,
    #[serde(flatten)]
    details: Details,
}

/// What the file written holds, by format.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Details {
    Pprof {
        samples: usize,
    },
    Heapsnapshot {
        nodes: u64,
        edges: u64,
        weak_edges: u64,
        strings: u64,
        clamped_blocks: u64,
    },
}

/// Runs `turbowish export`.
pub fn run(args: &Args, out: &mut dyn Write) -> Result<()> {
    let to_stdout = args.output == Path::new("-");
    if to_stdout && args.format == Format::Pprof && std::io::stdout().is_terminal() {
        bail!("refusing to write a binary file to a terminal: give -o FILE or redirect stdout");
    }
    if args.later.is_some() && args.format == Format::Heapsnapshot {
        bail!("--format heapsnapshot takes one snapshot: export each and compare them in DevTools");
    }
    // Names stay whole: they go to another tool, not to a terminal.
    let a = super::read_snapshot(&args.file, &args.read, true)?;
    let b = (args.later.as_ref())
        .map(|path| super::read_snapshot(path, &args.read, true))
        .transpose()?;
    if let Some(b) = &b
        && let Err(why) = check_pair(&a, b)
        && !args.force
    {
        bail!("{why} (use --force to compare them anyway)");
    }
    let (details, bytes) = match args.format {
        Format::Pprof => {
            let profile = profile(&a, b.as_ref(), args);
            let samples = profile.sample.len();
            let bytes = write_output(&args.output, out, |w| Ok(pprof::write(&profile, w)?))?;
            (Details::Pprof { samples }, bytes)
        }
        Format::Heapsnapshot => {
            let a = Analysis::new(&a);
            let mut written = None;
            let bytes = write_output(&args.output, out, |w| {
                written = Some(heapsnapshot::write(&a, w)?);
                Ok(())
            })?;
            (heapsnapshot_details(written), bytes)
        }
    };
    if to_stdout {
        return Ok(());
    }
    let report = Report {
        written: Written::new(args.format.name(), &args.output, bytes),
        details,
    };
    args.json.emit(out, &report, || report.text())
}

/// The pprof profile of `a`, or of `b` minus `a`.
fn profile(a: &Snapshot, b: Option<&Snapshot>, args: &Args) -> pprof::profile::Profile {
    let options = pprof::Options {
        task_ids: args.task_ids,
    };
    let a = Analysis::new(a);
    match b {
        Some(b) => pprof::diff(&a, &Analysis::new(b), options),
        None => pprof::heap(&a, options),
    }
}

fn heapsnapshot_details(w: Option<heapsnapshot::Written>) -> Details {
    let w = w.expect("written before its figures are read");
    Details::Heapsnapshot {
        nodes: w.nodes,
        edges: w.edges,
        weak_edges: w.weak_edges,
        strings: w.strings,
        clamped_blocks: w.clamped_blocks,
    }
}

impl Report {
    fn text(&self) -> String {
        match self.details {
            Details::Pprof { samples } => {
                let samples = count(samples as u64, "sample");
                (self.written).line(&format!("a pprof heap profile of {samples}"))
            }
            Details::Heapsnapshot {
                nodes,
                edges,
                weak_edges,
                clamped_blocks,
                ..
            } => {
                let what = format!(
                    "a V8 heap snapshot of {}, {} ({weak_edges} weak)",
                    count(nodes, "node"),
                    count(edges, "edge"),
                );
                let mut text = self.written.line(&what);
                if clamped_blocks > 0 {
                    let blocks = count(clamped_blocks, "block");
                    text.push_str(&format!(
                        "{blocks} of 4 GiB or more written as 4 GiB - 1 byte\n"
                    ));
                }
                text
            }
        }
    }
}
