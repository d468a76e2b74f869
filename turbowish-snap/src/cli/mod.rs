//! The `turbowish` command line, as a library: arguments, dispatch and
//! error reporting. The binary (`src/main.rs`) only calls [`main`].
//!
//! # Layers
//!
//! Commands (one module each: `summary`, `tasks`, `diff`, `leaks`, `bloat`,
//! `sites`, `retainers`, `dominators`, `waits`, `snap`, `export`,
//! `flamegraph`, `report`) read snapshots, ask
//! [`Analysis`](crate::analysis::Analysis) for figures, select and render
//! them. They compute nothing themselves and never import each other: what
//! two of them print alike lives in `render` (tables, units, colors,
//! escaping, holder names, shared rows), how they choose a block from
//! arguments in `select`.
//!
//! # Rules
//!
//! 1. Exit status 0 on success, 2 on any error, with one line on stderr
//!    (`turbowish: ...`); usage errors are clap's, also 2.
//! 2. A closed pipe (`turbowish ... | head`) ends the command quietly, with
//!    status 0.
//! 3. Every name from the file is escaped before it reaches a terminal
//!    (`render::text`); JSON keeps names whole.
//! 4. One set of output flags: every command takes `--json`, which prints
//!    one pretty JSON object (never a bare array), and every command that
//!    lists rows takes `--top N` (default [`DEFAULT_TOP`], 0 for all),
//!    which cuts every list it prints and never the counts beside them. A
//!    byte threshold is called `--min-bytes` wherever there is one.

mod bloat;
mod diff;
mod dominators;
mod export;
mod flamegraph;
mod leaks;
mod process;
mod render;
mod report;
mod retainers;
mod select;
mod sites;
mod snap;
mod summary;
mod tasks;
mod waits;

use crate::Snapshot;
use anyhow::{Result, anyhow};
use clap::{Parser, Subcommand};
use render::{color, text};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// Take TurboWish heap snapshots and tell what is in them.
///
/// A TurboWish snapshot (a `.twsnap` file) is the live heap of one process at
/// one instant, as a graph: every live block with its size, owning task and
/// allocation stack, the pointers between blocks, and the roots they are
/// reached from (static data, thread stacks, thread-locals). It holds no heap
/// contents, so it is safe to attach to a bug report.
///
/// A process takes snapshots when it uses the `TurboWish` global allocator and
/// has called `turbowish_alloc::install()`: on SIGUSR1 it writes
/// `turbowish-<pid>-<seq>.twsnap` into its TURBOWISH_DIR (default: its working
/// directory). `turbowish snap` sends the signal and waits for the file.
///
/// Exit status: 0 on success, 2 on any error (with one line on stderr).
#[derive(Debug, Parser)]
#[command(
    name = "turbowish",
    version,
    max_term_width = 100,
    after_long_help = "Examples:\n  turbowish snap $(pidof my-service)\n  \
                       turbowish summary turbowish-4242-1.twsnap --top 20"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Never color the output. Colors are used only when stdout is a
    /// terminal and NO_COLOR is unset (CLICOLOR_FORCE=1 forces them).
    #[arg(long, global = true)]
    no_color: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Summarize a snapshot: live totals, where the resident memory went,
    /// top allocation sites, capture statistics.
    ///
    /// An allocation site is named by the innermost frame of its stack that
    /// is not the allocator's, `std`'s, `core`'s, `alloc`'s, `hashbrown`'s or
    /// `tokio`'s: `crate version: Type::function (src/file.rs:line)`, the
    /// crate named when the code is not the program's own (it comes from a
    /// registry, git or vendored checkout, std's sources, or a shared
    /// library). Stacks named alike are one site.
    #[command(after_long_help = summary::JSON_FIELDS)]
    Summary(summary::Args),
    /// List tasks: traced ones, and every tokio task found from its task
    /// cell (kind tokio, blocking, or worker for the runtime's worker
    /// threads): where each was spawned (with the crate when a library
    /// spawned it), its state, the size of its future, and the memory it
    /// allocated, retains and shares.
    ///
    /// `retained` is what the task's storage block (its future) keeps alive on
    /// its own: the blocks it dominates in the heap graph. `allocated` is the
    /// live memory allocated inside its polls, wherever it is held now.
    /// Completed and cancelled tasks are zombies: finished futures whose
    /// storage something (a JoinHandle, a stored Waker) still holds.
    #[command(after_long_help = tasks::JSON_FIELDS)]
    Tasks(tasks::Args),
    /// Compare two snapshots of one process: what was born and freed in
    /// between, which spawn sites gained tasks and retained bytes, grouped
    /// by spawn site, task, allocation site or type.
    ///
    /// Blocks are matched by identity (address and birth epoch), so a block
    /// freed and replaced at the same address counts as freed and born.
    /// Snapshots of different processes are refused unless --force.
    #[command(after_long_help = diff::JSON_FIELDS)]
    Diff(diff::Args),
    /// Find leaks: blocks no root reaches (by allocation site and task),
    /// zombie futures and what holds them, how many tasks are stuck (see
    /// `waits`), idle tasks holding memory, and with --baseline the spawn
    /// sites that grew.
    #[command(after_long_help = leaks::JSON_FIELDS)]
    Leaks(leaks::Args),
    /// Find bloat: futures by state-machine size, grouped by spawn site and
    /// type, and containers with capacity they do not use.
    #[command(after_long_help = bloat::JSON_FIELDS)]
    Bloat(bloat::Args),
    /// List allocation sites by live bytes: for the whole process, for one
    /// task (--task), or for the tasks of one spawn site (--spawn).
    ///
    /// A site is named by the innermost frame of its allocation stack that
    /// is not the allocator's, `std`'s, `core`'s, `alloc`'s, `hashbrown`'s or
    /// `tokio`'s: `crate version: Type::function (src/file.rs:line)`, the
    /// crate named when the code is not the program's own (it comes from a
    /// registry, git or vendored checkout, std's sources, or a shared
    /// library). Stacks named alike are one site; --stack shows its stacks.
    #[command(after_long_help = sites::JSON_FIELDS)]
    Sites(sites::Args),
    /// Show what keeps blocks alive: the shortest chains of pointers from
    /// roots (statics, thread stacks and thread-locals, tasks, named typed
    /// roots) to the chosen blocks, each step naming its holder and how it
    /// points (a typed field, or a conservative pointer).
    ///
    /// Choose one block (--block), a task's future (--task), or all blocks
    /// with a frame on their allocation stack (--site) or of a type
    /// (--type); chosen blocks are grouped by path, most bytes first. Among
    /// equally short paths, one through a task or typed root is preferred,
    /// and one through a thread stack comes last (stacks hold stale pointers
    /// in dead slots).
    #[command(after_long_help = retainers::JSON_FIELDS)]
    Retainers(retainers::Args),
    /// Show what blocks keep alive on their own: the dominator tree below
    /// one block (--block), a task's future (--task), or the roots, each
    /// level biggest first.
    ///
    /// A block dominates another when every chain of pointers from a root
    /// to the other passes through it: freeing it would free the other.
    /// What a block *retains* is every block it dominates, itself included.
    /// Without --block or --task, the first level is the blocks no other
    /// block dominates, each with the root that holds it (or "several
    /// roots"): their retained bytes never overlap. Each level is cut to
    /// --top blocks and to --min-bytes, and what is cut is counted.
    #[command(after_long_help = dominators::JSON_FIELDS)]
    Dominators(dominators::Args),
    /// Find the tasks nothing can ever wake (stuck), and why: a deadlock
    /// cycle, stuck behind another stuck task, or no waker anywhere; with
    /// --task or --all, how the others can be woken.
    ///
    /// A pending task is stuck when no waker, join handle or waiter link
    /// for it is held by anything that can run: static data, thread-locals,
    /// thread stacks, named roots, a running or scheduled task, or what
    /// those reach, through tasks that can themselves be woken. On a thread
    /// stack only a whole waker counts: a bare pointer at a task or into
    /// its future there is a stale copy an earlier poll left (or a join
    /// handle, which cannot make it progress). Stuck tasks are listed by cause: each deadlock
    /// cycle (tasks holding each other's wakers), the tasks behind each
    /// stuck task that holds their wakers (grouped by spawn site), then the
    /// tasks nothing holds a waker for. A wake path is the chain from a
    /// root to the holder of the task's waker, named as `retainers` names
    /// holders (tokio's I/O driver, timer and signal driver by name); a
    /// step through another task's future means that task can be woken
    /// too, by the step before it.
    #[command(after_long_help = waits::JSON_FIELDS)]
    Waits(waits::Args),
    /// Take a snapshot of a running process and print the file's path.
    ///
    /// Sends the process its snapshot signal (see --signal), waits until a new
    /// `turbowish-<PID>-<SEQ>.twsnap` appears in its snapshot directory (see
    /// --dir), and prints the file's path. The signal is not sent to a process
    /// that has no handler for it: the default action of SIGUSR1 is to
    /// terminate the process.
    #[command(after_long_help = snap::JSON_FIELDS)]
    Snap(snap::Args),
    /// Write a snapshot in another tool's format, to a file (-o) or stdout
    /// (-o -).
    ///
    /// pprof: a gzipped pprof heap profile (`go tool pprof`, Pyroscope,
    /// Parca). Its samples are the live blocks, one sample per distinct
    /// allocation stack and label set, with the types inuse_objects and
    /// inuse_space, and retained_space: each task's retained bytes on one
    /// sample at its storage block's stack. Labels: spawn_site, task_state,
    /// future_type, type, and task_id with --task-ids. Blocks without a
    /// stack are under "[no stack recorded]". When stacks were sampled,
    /// inuse_* stay exact, and inuse_objects_estimate and
    /// inuse_space_estimate (the default then) estimate each stack's
    /// blocks. With two snapshots of one process, the profile is B minus
    /// A: blocks born count plus, blocks freed minus, for `go tool pprof`
    /// to read as a delta (exporting both and passing A as `-diff_base`
    /// works too).
    ///
    /// heapsnapshot: a V8 heap snapshot, to load in Chrome DevTools' Memory
    /// panel or analyse with memlab. Blocks are nodes named by their type
    /// (or a task's future type, or their allocation site); roots (tasks,
    /// named roots, static data, thread stacks and thread-locals) are
    /// synthetic nodes grouped by kind, and blocks no root reaches hang from
    /// `(unreachable)`. Typed pointers are properties named by their field,
    /// other pointers internal edges named by their kind; the pointers
    /// TurboWish leaves out as stale are weak edges. DevTools and memlab
    /// then compute the retained sizes and dominators TurboWish does.
    #[command(after_long_help = export::JSON_FIELDS)]
    Export(export::Args),
    /// Draw the heap as a flame graph (SVG) of live bytes by allocation
    /// stack; with two snapshots, the growth between them.
    ///
    /// With --by task, each task's blocks are under its spawn site and
    /// future type; with --retained, frames weigh what their blocks keep
    /// alive rather than their own size; with --folded, the folded stacks
    /// are written as text for other flame graph tools.
    #[command(after_long_help = flamegraph::DETAILS)]
    Flamegraph(flamegraph::Args),
    /// Write one self-contained HTML page about a snapshot: the summary and
    /// findings, sortable tables of tasks and spawn sites, a flame graph; with
    /// two snapshots, what grew between them.
    ///
    /// The page fetches nothing (inline styles and script, no fonts or
    /// images from elsewhere), so it can be attached to a bug report. Long
    /// tables are cut, and the page says how many rows it left out.
    #[command(after_long_help = report::DETAILS)]
    Report(report::Args),
}

/// Runs `turbowish` with the process's arguments, on stdout (rule 1 and
/// 2): what `src/main.rs` does.
pub fn main() -> ExitCode {
    let args = Cli::parse(); // usage errors exit 2, --help exits 0
    match run(&args, &mut std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`| head`): nothing left to say.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("turbowish: {}", one_line(&e));
            ExitCode::from(2)
        }
    }
}

/// Runs the command `cli` asks for, writing its output to `out`.
///
/// ```no_run
/// use clap::Parser;
/// use turbowish_snap::cli::{Cli, run};
///
/// let cli = Cli::parse_from(["turbowish", "summary", "turbowish-4242-1.twsnap", "--json"]);
/// let mut out = Vec::new();
/// run(&cli, &mut out)?;
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn run(cli: &Cli, out: &mut dyn Write) -> Result<()> {
    color::init(cli.no_color);
    match &cli.command {
        Command::Summary(args) => summary::run(args, out),
        Command::Tasks(args) => tasks::run(args, out),
        Command::Diff(args) => diff::run(args, out),
        Command::Leaks(args) => leaks::run(args, out),
        Command::Bloat(args) => bloat::run(args, out),
        Command::Retainers(args) => retainers::run(args, out),
        Command::Dominators(args) => dominators::run(args, out),
        Command::Sites(args) => sites::run(args, out),
        Command::Waits(args) => waits::run(args, out),
        Command::Snap(args) => snap::run(args, out),
        Command::Export(args) => export::run(args, out),
        Command::Flamegraph(args) => flamegraph::run(args, out),
        Command::Report(args) => report::run(args, out),
    }?;
    out.flush()?;
    Ok(())
}

/// How many rows each list shows unless `--top` says otherwise: ten rows
/// of each of `summary`'s lists still fit a screen, and `--top 0`
/// shows everything.
pub const DEFAULT_TOP: usize = 10;

/// The output flags of every command that lists rows (rule 4).
#[derive(Debug, clap::Args)]
struct Output {
    /// How many rows to show in each list (0: all).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_TOP)]
    top: usize,
    #[command(flatten)]
    json: Json,
}

impl Output {
    /// Whether the output is JSON.
    fn json(&self) -> bool {
        self.json.json
    }

    /// How many rows of a list to show.
    fn limit(&self) -> usize {
        match self.top {
            0 => usize::MAX,
            n => n,
        }
    }

    /// `rows` cut to `--top`.
    fn cut<T>(&self, mut rows: Vec<T>) -> Vec<T> {
        rows.truncate(self.limit());
        rows
    }

    /// See [`Json::emit`].
    fn emit(
        &self,
        out: &mut dyn Write,
        report: &impl serde::Serialize,
        text: impl FnOnce() -> String,
    ) -> Result<()> {
        self.json.emit(out, report, text)
    }
}

/// `--json`, the output flag of every command (rule 4).
#[derive(Debug, clap::Args)]
struct Json {
    /// Print one JSON object instead of text (its fields are listed below).
    #[arg(long)]
    json: bool,
}

impl Json {
    /// Writes `report` to `out` as one pretty JSON object (with `--json`),
    /// else as the text `text` makes.
    fn emit(
        &self,
        out: &mut dyn Write,
        report: &impl serde::Serialize,
        text: impl FnOnce() -> String,
    ) -> Result<()> {
        if self.json {
            serde_json::to_writer_pretty(&mut *out, report)?;
            writeln!(out)?;
        } else {
            out.write_all(text().as_bytes())?;
        }
        Ok(())
    }
}

/// The limits of every command that reads snapshots.
#[derive(Debug, clap::Args)]
struct ReadArgs {
    /// Read snapshots whose tables decompress to up to BYTES, whatever their
    /// compression ratio. By default a file may decompress to 64 times its
    /// size (at least 1 MiB): more is refused as a likely decompression bomb.
    /// Give this for a trusted snapshot that is very large or very regular.
    #[arg(long, value_name = "BYTES")]
    max_size: Option<u64>,
}

/// Reads the snapshot at `path` within `limits`, with an error that names it
/// and says what to pass when the limit is too low. Unless the report is
/// `json`, its strings are escaped for the terminal (see [`text`]).
fn read_snapshot(path: &Path, limits: &ReadArgs, json: bool) -> Result<Snapshot> {
    let options = crate::ReadOptions {
        max_size: limits.max_size,
    };
    let mut snap = crate::read_file_with(path, &options).map_err(|e| {
        let hint = match e {
            crate::Error::TooLarge { size, .. } => {
                format!("; if you trust the file, pass --max-size {size}")
            }
            crate::Error::NotAFile(_) => "; give the path of a .twsnap file".into(),
            _ => String::new(),
        };
        anyhow!("cannot read {}: {e}{hint}", path.display())
    })?;
    if !json {
        text::escape_snapshot(&mut snap);
    }
    Ok(snap)
}

/// `error` and its causes on one line, `: `-separated, each cause once
/// (an error that displays its source would otherwise repeat it).
pub fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.replace(['\n', '\r'], " ")
}

/// Whether `error` comes from writing to a closed pipe (`turbowish ... | head`):
/// an `io::Error` anywhere in its chain, also inside a `serde_json::Error`
/// (whose `source()` skips the `io::Error` it wraps).
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    error.chain().any(|cause| {
        let io = cause.downcast_ref::<std::io::Error>().map(|e| e.kind());
        let json = (cause.downcast_ref::<serde_json::Error>()).and_then(|e| e.io_error_kind());
        io == Some(BrokenPipe) || json == Some(BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn a_closed_pipe_is_told_from_other_errors_however_wrapped() {
        use std::io::{Error, ErrorKind};
        /// A writer whose every write fails with `kind`.
        struct Failing(ErrorKind);
        impl Write for Failing {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(Error::new(self.0, "failed"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let json = |kind| {
            let err = serde_json::to_writer(Failing(kind), &[1, 2]).unwrap_err();
            anyhow::Error::from(err).context("writing the report")
        };
        assert!(is_broken_pipe(&json(ErrorKind::BrokenPipe)));
        assert!(!is_broken_pipe(&json(ErrorKind::StorageFull)));
        let text = Failing(ErrorKind::BrokenPipe).write_all(b"x").unwrap_err();
        assert!(is_broken_pipe(&anyhow::Error::from(text)));
        assert!(!is_broken_pipe(&anyhow!("broken pipe")));
    }

    #[test]
    fn errors_fit_on_one_line_without_repeats() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone\nreally");
        let err = Err::<(), _>(crate::Error::Io(io))
            .context("cannot read x")
            .unwrap_err();
        assert_eq!(one_line(&err), "cannot read x: gone really");
    }
}
