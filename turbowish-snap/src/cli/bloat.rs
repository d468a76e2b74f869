//! `turbowish bloat`: big futures, and containers with room they do not use.

use super::render::color::heading;
use super::render::table::{Align, render};
use super::render::units::bytes;
use crate::StringIndex;
use crate::analysis::Analysis;
use crate::analysis::bloat::{self, BLOATED};
use anyhow::Result;
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;

/// The fields of `bloat --json`, for `--help`.
pub const JSON_FIELDS: &str = "\
JSON output (--json) is one object; sizes are in bytes:
  futures     [{spawned_at, future_type, future_size, tasks, bloated}], largest first;
              bloated: future_size is at least --min-bytes
  containers  [{type, blocks, bytes, unused_bytes}]: containers found by typed walks, by
              bytes of capacity they do not use, largest first";

/// Arguments of `turbowish bloat`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The snapshot file (`.twsnap`).
    file: PathBuf,
    /// Futures of at least this many bytes are flagged as bloated (tokio
    /// moves futures above 16 KiB into a box of their own in release
    /// builds).
    #[arg(long, value_name = "BYTES", default_value_t = BLOATED)]
    min_bytes: u64,
    #[command(flatten)]
    output: super::Output,
    #[command(flatten)]
    read: super::ReadArgs,
}

#[derive(Debug, Serialize)]
struct Report {
    futures: Vec<Future>,
    containers: Vec<Container>,
}

#[derive(Debug, Serialize)]
struct Future {
    spawned_at: String,
    future_type: String,
    future_size: u64,
    tasks: u64,
    bloated: bool,
}

#[derive(Debug, Serialize)]
struct Container {
    r#type: String,
    blocks: u64,
    bytes: u64,
    unused_bytes: u64,
}

/// Runs `turbowish bloat`.
pub fn run(args: &Args, out: &mut dyn Write) -> Result<()> {
    let snap = super::read_snapshot(&args.file, &args.read, args.output.json())?;
    let a = Analysis::new(&snap);
    let type_name = |i: StringIndex| match snap.string(i) {
        "" => "(untyped)".to_owned(),
        t => t.to_owned(),
    };
    let futures: Vec<Future> = (bloat::futures(&a).into_iter())
        .map(|f| Future {
            future_type: snap.string(f.future_type).to_owned(),
            bloated: f.future_size >= args.min_bytes,
            spawned_at: f.spawned_at,
            future_size: f.future_size,
            tasks: f.tasks,
        })
        .collect();
    let containers: Vec<Container> = (bloat::containers(&snap).into_iter())
        .map(|c| Container {
            r#type: type_name(c.type_name),
            blocks: c.blocks,
            bytes: c.bytes,
            unused_bytes: c.unused_bytes,
        })
        .collect();
    let report = Report {
        futures: args.output.cut(futures),
        containers: args.output.cut(containers),
    };
    args.output
        .emit(out, &report, || report.to_text(args.min_bytes))
}

impl Report {
    fn to_text(&self, min_bytes: u64) -> String {
        use Align::{Left, Right};
        let mut s = format!(
            "futures by state-machine size (bloated: {} or more)\n",
            bytes(min_bytes)
        );
        if self.futures.is_empty() {
            s.push_str("  no tasks in this snapshot\n");
        } else {
            let rows: Vec<[String; 4]> = self
                .futures
                .iter()
                .map(|f| {
                    [
                        format!(
                            "{}{}",
                            if f.bloated { "! " } else { "" },
                            bytes(f.future_size)
                        ),
                        f.tasks.to_string(),
                        f.spawned_at.clone(),
                        f.future_type.clone(),
                    ]
                })
                .collect();
            s.push_str(&render(
                ["size", "tasks", "spawned at", "future type"],
                [Right, Right, Left, Left],
                &rows,
            ));
        }
        s.push_str(&format!(
            "\n{}\n",
            heading("containers with unused capacity (from typed walks)")
        ));
        if self.containers.is_empty() {
            s.push_str("  none found\n");
        } else {
            let rows: Vec<[String; 4]> = self
                .containers
                .iter()
                .map(|c| {
                    [
                        bytes(c.unused_bytes),
                        bytes(c.bytes),
                        c.blocks.to_string(),
                        c.r#type.clone(),
                    ]
                })
                .collect();
            s.push_str(&render(
                ["unused", "of", "blocks", "type"],
                [Right, Right, Right, Left],
                &rows,
            ));
        }
        s
    }
}
