//! `turbowish export`: a snapshot in another tool's format, written to a
//! file (or stdout), with one line saying what was written.

use super::render::units::{bytes, count};
use crate::analysis::Analysis;
use crate::export::heapsnapshot;
use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The fields of `export --json`, for `--help`.
pub const JSON_FIELDS: &str = "\
JSON output (--json) is one object, about the file written (nothing is printed with -o -):
  format     the format written
  output     the file written
  nodes, edges, weak_edges, strings  what the heap snapshot holds (weak edges retain nothing)
  bytes      the file's size
  clamped_blocks  blocks of 4 GiB or more, whose size was cut to 4 GiB - 1 byte

Examples:
  turbowish export turbowish-4242-1.twsnap --format heapsnapshot -o heap.heapsnapshot";

/// The formats `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// A V8 heap snapshot (JSON), for Chrome DevTools' Memory panel (Load)
    /// and memlab: blocks are nodes named by type or allocation site, with
    /// TurboWish's dominators and retained sizes.
    Heapsnapshot,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Heapsnapshot => "heapsnapshot",
        }
    }
}

/// Arguments of `turbowish export`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The snapshot file (`.twsnap`).
    file: PathBuf,
    /// A later snapshot of the same process, for formats that show a
    /// difference (a heap snapshot does not: export both and compare them
    /// in DevTools' Comparison view).
    file2: Option<PathBuf>,
    /// The format to write.
    #[arg(long, value_enum)]
    format: Format,
    /// The file to write, or `-` for stdout.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    output: PathBuf,
    #[command(flatten)]
    json: super::Json,
    #[command(flatten)]
    read: super::ReadArgs,
}

/// What `export` prints after writing a file, in the shape of its JSON.
#[derive(Debug, Serialize)]
struct Report {
    format: &'static str,
    output: String,
    nodes: u64,
    edges: u64,
    weak_edges: u64,
    strings: u64,
    bytes: u64,
    clamped_blocks: u64,
}

/// Runs `turbowish export`.
pub fn run(args: &Args, out: &mut dyn Write) -> Result<()> {
    if args.file2.is_some() {
        bail!(
            "--format {} takes one snapshot: export each and compare them in DevTools",
            args.format.name()
        );
    }
    // Names go to the file whole, as with --json.
    let snapshot = super::read_snapshot(&args.file, &args.read, true)?;
    let a = Analysis::new(&snapshot);
    if args.output == Path::new("-") {
        heapsnapshot::write(&a, out)?;
        return Ok(());
    }
    let w = write_file(&a, &args.output)?;
    let report = Report {
        format: args.format.name(),
        output: args.output.display().to_string(),
        nodes: w.nodes,
        edges: w.edges,
        weak_edges: w.weak_edges,
        strings: w.strings,
        bytes: w.bytes,
        clamped_blocks: w.clamped_blocks,
    };
    args.json.emit(out, &report, || report.text())
}

/// Writes the heap snapshot of `a` to `path`; a file left half written by
/// an error is removed.
fn write_file(a: &Analysis, path: &Path) -> Result<heapsnapshot::Written> {
    let context = || format!("cannot write {}", path.display());
    let mut file = File::create(path).with_context(context)?;
    let written = heapsnapshot::write(a, &mut file).and_then(|w| Ok((w, file.sync_all()?)));
    match written {
        Ok((w, ())) => Ok(w),
        Err(e) => {
            let _ = std::fs::remove_file(path);
            Err(e).with_context(context)
        }
    }
}

impl Report {
    fn text(&self) -> String {
        let mut text = format!(
            "wrote {}: a V8 heap snapshot of {}, {} ({} weak), {}\n",
            self.output,
            count(self.nodes, "node"),
            count(self.edges, "edge"),
            self.weak_edges,
            bytes(self.bytes),
        );
        if self.clamped_blocks > 0 {
            let blocks = count(self.clamped_blocks, "block");
            text.push_str(&format!(
                "{blocks} of 4 GiB or more written as 4 GiB - 1 byte\n"
            ));
        }
        text
    }
}
