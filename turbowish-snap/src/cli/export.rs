//! `turbowish export`: a snapshot, or the difference of two, in another
//! tool's format, written to a file (or stdout). It selects and writes:
//! the format's module in [`export`](crate::export) renders.

use crate::Snapshot;
use crate::analysis::Analysis;
use crate::analysis::diff::check_pair;
use crate::export::pprof;
use anyhow::{Context, Result, bail};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// The fields of `export --json`, for `--help`.
pub const JSON_FIELDS: &str = "\
JSON output (--json, with -o FILE) is one object:
  output   the path written
  format   pprof
  samples  how many samples the profile holds (one per distinct stack and label set)
  bytes    the size of the file written

Examples:
  turbowish export turbowish-4242-1.twsnap --format pprof -o heap.pb.gz
  go tool pprof -top heap.pb.gz
  go tool pprof -tagroot=spawn_site -top heap.pb.gz
  turbowish export a.twsnap b.twsnap --format pprof -o growth.pb.gz";

/// The formats `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// A gzipped pprof heap profile (`profile.proto`), for `go tool
    /// pprof`, Pyroscope and Parca.
    Pprof,
    /// A V8 heap snapshot, for Chrome DevTools and memlab.
    Heapsnapshot,
}

/// Arguments of `turbowish export`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The snapshot file (`.twsnap`).
    file: PathBuf,
    /// A later snapshot of the same process: export what changed, FILE2
    /// minus FILE.
    #[arg(value_name = "FILE2")]
    later: Option<PathBuf>,
    /// The format to write.
    #[arg(long, value_enum)]
    format: Format,
    /// Where to write it: a file, or `-` for stdout (refused when stdout is
    /// a terminal).
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

/// What `export` prints after writing a file, in the shape of its JSON
/// output.
#[derive(Debug, serde::Serialize)]
struct Report {
    output: String,
    format: &'static str,
    samples: usize,
    bytes: u64,
}

/// Runs `turbowish export`.
pub fn run(args: &Args, out: &mut dyn Write) -> Result<()> {
    let to_stdout = args.output == Path::new("-");
    if to_stdout && std::io::stdout().is_terminal() {
        bail!("refusing to write a binary file to a terminal: give -o FILE or redirect stdout");
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
    let profile = match args.format {
        Format::Pprof => profile(&a, b.as_ref(), args),
        Format::Heapsnapshot => bail!("--format heapsnapshot is not part of this build"),
    };
    if to_stdout {
        return Ok(pprof::write(&profile, out)?);
    }
    let bytes = write_file(&args.output, &profile)?;
    let report = Report {
        output: args.output.display().to_string(),
        format: "pprof",
        samples: profile.sample.len(),
        bytes,
    };
    args.json
        .emit(out, &report, || format!("{}\n", report.output))
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

/// Writes `profile` to a new file at `path`; its size.
fn write_file(path: &Path, profile: &pprof::profile::Profile) -> Result<u64> {
    let fail = || format!("cannot write {}", path.display());
    let file = std::fs::File::create(path).with_context(fail)?;
    let mut writer = std::io::BufWriter::new(file);
    pprof::write(profile, &mut writer).with_context(fail)?;
    let file = writer
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(fail)?;
    Ok(file.metadata().with_context(fail)?.len())
}
