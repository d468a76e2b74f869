//! `turbowish flamegraph`: the heap as a flame graph (SVG) or as folded
//! stacks, and the growth between two snapshots as a differential one.

use super::render::file::{Written, write_output, written_fields};
use crate::analysis::Analysis;
use crate::analysis::diff::check_pair;
use crate::export::flame::{self, Style};
use crate::export::folded::{self, Levels, View, Weigh};
use anyhow::{Result, bail};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What the frames of `--by` are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum By {
    /// The allocation stack alone.
    Stack,
    /// The task's spawn site and future type, then the allocation stack;
    /// blocks of no task under one "(no task)" frame.
    Task,
}

/// Arguments of `turbowish flamegraph`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The snapshot file (`.twsnap`); with FILE2, the earlier one.
    file: PathBuf,
    /// A later snapshot of the same process: draw the growth from FILE to
    /// FILE2 (red grew, blue shrank; widths are FILE2's bytes).
    file2: Option<PathBuf>,
    /// Where to write the SVG (or the folded text): a path, or - for
    /// stdout.
    #[arg(short, long, value_name = "PATH")]
    output: PathBuf,
    /// What the first frames are.
    #[arg(long, value_enum, default_value_t = By::Stack)]
    by: By,
    /// Weigh frames by retained bytes, each byte under one holder: by
    /// stack, the allocation stack of the block that retains it at the top
    /// of the dominator tree; by task, the task whose storage retains it
    /// (as `tasks`' retained). Blocks no root reaches are under
    /// "(unreachable)".
    #[arg(long)]
    retained: bool,
    /// Write folded stacks (`frame;frame;frame bytes` lines, outermost
    /// frame first) instead of an SVG, for other flame graph tools; with
    /// FILE2, each line has FILE's bytes then FILE2's.
    #[arg(long)]
    folded: bool,
    /// With FILE2: draw snapshots of different processes anyway.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    json: super::Json,
    #[command(flatten)]
    read: super::ReadArgs,
}

/// The folded-stack rules and the totals, for `--help`.
pub const DETAILS: &str = concat!(
    "\
Frames are the allocation stack's functions, outermost first, inlined functions as frames of
their own, without the allocator's frames above and start-up frames below (as `sites --stack`
shows stacks). Live bytes sum to `summary`'s live_bytes; by task, each task's to `tasks`'
allocated. With --retained they also sum to live_bytes, each byte counted once; by task, each
task's to `tasks`' retained. When stacks were sampled (TURBOWISH_STACK=sampled), live bytes
are estimates, as `sites` estimates them, and the title says so.\n\n",
    written_fields!(),
    "\n\nExamples:
  turbowish flamegraph turbowish-4242-1.twsnap -o live.svg
  turbowish flamegraph turbowish-4242-1.twsnap --by task --retained -o tasks.svg
  turbowish flamegraph turbowish-4242-1.twsnap turbowish-4242-2.twsnap -o growth.svg
  turbowish flamegraph turbowish-4242-1.twsnap --folded -o - | sort -k2 -n | tail"
);

/// Runs `turbowish flamegraph`.
pub fn run(args: &Args, out: &mut dyn Write) -> Result<()> {
    let view = View {
        weigh: match args.retained {
            true => Weigh::Retained,
            false => Weigh::Live,
        },
        levels: match args.by {
            By::Stack => Levels::Stacks,
            By::Task => Levels::Tasks,
        },
    };
    let a = super::read_snapshot(&args.file, &args.read, true)?;
    let fa = folded::fold(&Analysis::new(&a), view);
    let Some(file2) = &args.file2 else {
        let bytes = write_output(&args.output, out, |w| match args.folded {
            true => Ok(fa.write(w)?),
            false => Ok(flame::svg(&fa, view, &Style::default(), w)?),
        })?;
        return say_written(args, out, bytes);
    };
    let b = super::read_snapshot(file2, &args.read, true)?;
    if let Err(why) = check_pair(&a, &b)
        && !args.force
    {
        bail!("{why} (use --force to compare them anyway)");
    }
    drop(a);
    let fb = folded::fold(&Analysis::new(&b), view);
    let bytes = write_output(&args.output, out, |w| {
        if args.folded {
            for (frames, x, y) in folded::differential(&fa, &fb) {
                writeln!(w, "{frames} {x} {y}")?;
            }
            return Ok(());
        }
        Ok(flame::differential_svg(
            &fa,
            &fb,
            view,
            &Style::default(),
            w,
        )?)
    })?;
    say_written(args, out, bytes)
}

/// The line (or `--json` object) about the file written, unless stdout.
fn say_written(args: &Args, out: &mut dyn Write, bytes: u64) -> Result<()> {
    if args.output == Path::new("-") {
        return Ok(());
    }
    let (format, what) = match (args.folded, args.file2.is_some()) {
        (true, _) => ("folded", "folded stacks"),
        (false, false) => ("svg", "an SVG flame graph"),
        (false, true) => ("svg", "an SVG differential flame graph"),
    };
    let written = Written::new(format, &args.output, bytes);
    args.json.emit(out, &written, || written.line(what))
}
