//! `turbowish report`: one self-contained HTML page about a snapshot, or
//! about what grew between two.

use super::render::file::{Written, write_output, written_fields};
use crate::analysis::Analysis;
use crate::analysis::diff::check_pair;
use crate::export::report::{self, Options};
use anyhow::{Result, bail};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Arguments of `turbowish report`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The snapshot file (`.twsnap`); with FILE2, the earlier one.
    file: PathBuf,
    /// A later snapshot of the same process: report on it, with what
    /// changed since FILE.
    file2: Option<PathBuf>,
    /// Where to write the page: a path, or - for stdout.
    #[arg(short, long, value_name = "PATH")]
    output: PathBuf,
    /// The most rows each table shows.
    #[arg(long, value_name = "N", default_value_t = Options::default().rows)]
    rows: usize,
    /// With FILE2: compare snapshots of different processes anyway.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    json: super::Json,
    #[command(flatten)]
    read: super::ReadArgs,
}

/// What the page holds, for `--help`.
pub const DETAILS: &str = concat!(
    "\
The page holds: the totals and findings of `summary` (unreachable blocks, zombie and stuck
tasks, bloated futures, unused capacity), a flame graph of live bytes by allocation stack (of
growth, with FILE2), sortable tables of spawn sites, tasks (most retained first) and allocation
sites, and with FILE2 what `diff` reports by spawn site and by allocation site.\n\n",
    written_fields!(),
    "\n\nExamples:
  turbowish report turbowish-4242-1.twsnap -o report.html
  turbowish report turbowish-4242-1.twsnap turbowish-4242-2.twsnap -o report.html"
);

/// Runs `turbowish report`.
pub fn run(args: &Args, out: &mut dyn Write) -> Result<()> {
    let options = Options { rows: args.rows };
    let first = super::read_snapshot(&args.file, &args.read, true)?;
    let Some(file2) = &args.file2 else {
        let a = Analysis::new(&first);
        let bytes = write_output(&args.output, out, |w| {
            Ok(report::write(&a, None, options, w)?)
        })?;
        return say_written(args, out, bytes);
    };
    let second = super::read_snapshot(file2, &args.read, true)?;
    if let Err(why) = check_pair(&first, &second)
        && !args.force
    {
        bail!("{why} (use --force to compare them anyway)");
    }
    let (a, b) = (Analysis::new(&first), Analysis::new(&second));
    let bytes = write_output(&args.output, out, |w| {
        Ok(report::write(&b, Some(&a), options, w)?)
    })?;
    say_written(args, out, bytes)
}

/// The line (or `--json` object) about the page written, unless stdout.
fn say_written(args: &Args, out: &mut dyn Write, bytes: u64) -> Result<()> {
    if args.output == Path::new("-") {
        return Ok(());
    }
    let written = Written::new("html", &args.output, bytes);
    args.json.emit(out, &written, || {
        written.line("a self-contained HTML report")
    })
}
