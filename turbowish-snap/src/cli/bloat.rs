//! `turbowish bloat`: big futures, and containers with room they do not use.

use super::color::heading;
use super::diff::Analyzed;
use super::site::string;
use super::table::{Align, render};
use super::units::bytes;
use anyhow::Result;
use serde::Serialize;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

/// The fields of `bloat --json`, for `--help`.
pub const JSON_FIELDS: &str = "\
JSON output (--json) is one object; sizes are in bytes:
  futures     [{spawned_at, future_type, future_size, tasks, bloated}], largest first;
              bloated: future_size is at least --min-size
  containers  [{type, blocks, bytes, unused_bytes}]: containers found by typed walks, by
              bytes of capacity they do not use, largest first";

/// Futures of this size or more are bloated, by default.
pub const BLOATED: u64 = 16 << 10;

/// Arguments of `turbowish bloat`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The snapshot file (`.twsnap`).
    file: PathBuf,
    /// Futures at least this large are flagged as bloated (tokio moves
    /// futures above 16 KiB into a box of their own in release builds).
    #[arg(long, value_name = "BYTES", default_value_t = BLOATED)]
    min_size: u64,
    /// How many rows per section (0: all).
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
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
    let snap = super::read_snapshot(&args.file, &args.read, args.json)?;
    let a = Analyzed::new(&snap);
    let mut futures: HashMap<(String, u32), Future> = HashMap::new();
    for (i, t) in snap.tasks.iter().enumerate() {
        let f = futures
            .entry((a.spawned_at(i as u32), t.future_type))
            .or_insert_with(|| Future {
                spawned_at: a.spawned_at(i as u32),
                future_type: string(&snap, t.future_type).to_owned(),
                future_size: t.future_size,
                tasks: 0,
                bloated: t.future_size >= args.min_size,
            });
        f.tasks += 1;
    }
    let mut futures: Vec<Future> = futures.into_values().collect();
    futures.sort_by(|x, y| {
        (y.future_size, y.tasks, &x.spawned_at).cmp(&(x.future_size, x.tasks, &y.spawned_at))
    });
    let mut containers: HashMap<u32, Container> = HashMap::new();
    for c in &snap.containers {
        let block = &snap.blocks[c.block as usize];
        let c_entry = containers
            .entry(block.type_name)
            .or_insert_with(|| Container {
                r#type: match string(&snap, block.type_name) {
                    "" => "(untyped)".to_owned(),
                    t => t.to_owned(),
                },
                blocks: 0,
                bytes: 0,
                unused_bytes: 0,
            });
        c_entry.blocks += 1;
        c_entry.bytes = c_entry.bytes.saturating_add(block.size);
        let unused = unused(block.size, c.len, c.capacity);
        c_entry.unused_bytes = c_entry.unused_bytes.saturating_add(unused);
    }
    let mut containers: Vec<Container> = containers
        .into_values()
        .filter(|c| c.unused_bytes > 0)
        .collect();
    containers.sort_by(|x, y| (y.unused_bytes, &x.r#type).cmp(&(x.unused_bytes, &y.r#type)));
    if args.top > 0 {
        futures.truncate(args.top);
        containers.truncate(args.top);
    }
    let report = Report {
        futures,
        containers,
    };
    super::emit(out, args.json, &report, || report.to_text(args.min_size))
}

/// Bytes of a container's block that hold no element: its share of the
/// block beyond `len` of `capacity` elements.
fn unused(block_bytes: u64, len: u64, capacity: u64) -> u64 {
    if capacity == 0 || len >= capacity {
        return 0;
    }
    (block_bytes as u128 * u128::from(capacity - len) / u128::from(capacity)) as u64
}

impl Report {
    fn to_text(&self, min_size: u64) -> String {
        use Align::{Left, Right};
        let mut s = format!(
            "futures by state-machine size (bloated: {} or more)\n",
            bytes(min_size)
        );
        if self.futures.is_empty() {
            s.push_str("  no traced tasks in this snapshot\n");
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

#[cfg(test)]
mod tests {
    #[test]
    fn unused_capacity_is_the_share_beyond_len() {
        assert_eq!(super::unused(800, 3, 8), 500);
        assert_eq!(super::unused(800, 8, 8), 0);
        assert_eq!(super::unused(0, 0, 0), 0);
        assert_eq!(super::unused(u64::MAX, 0, 2), u64::MAX);
    }
}
