//! Rows that more than one command prints, in their JSON shape and as table
//! cells: allocation sites (`summary`, `sites`, `leaks`) and spawn sites
//! that changed (`diff`, `leaks --baseline`); and how estimated site
//! figures are marked (a `~` before each, a note above).

use super::units::bytes;
use crate::analysis::Analysis;
use crate::analysis::sites::estimate::SiteWeights;
use crate::analysis::sites::view::{StackView, view};
use crate::analysis::sites::{NO_STACK, Site, SiteName};
use serde::Serialize;

/// The line above estimated site figures, when `w` says they are:
/// `stacks sampled every 512 KiB: site figures are estimates (~)`.
pub fn estimate_note(w: SiteWeights) -> Option<String> {
    let mean = w.sampled_every()?;
    let unit = [(30, "GiB"), (20, "MiB"), (10, "KiB")]
        .into_iter()
        .find(|&(shift, _)| mean.is_multiple_of(1 << shift));
    let mean = match unit {
        Some((shift, unit)) => format!("{} {unit}", mean >> shift),
        None => format!("{mean} B"),
    };
    Some(format!(
        "stacks sampled every {mean}: site figures are estimates (~)"
    ))
}

/// `figure`, with `~` before it when it is an estimate.
pub fn approx(estimated: bool, figure: String) -> String {
    match estimated {
        true => format!("~{figure}"),
        false => figure,
    }
}

/// A site's block count, with `~` and the sampled blocks it rests on when it
/// is an estimate (`samples` given).
pub fn blocks_cell(blocks: u64, samples: Option<u64>) -> String {
    match samples {
        Some(n) => format!("~{blocks} ({n} sampled)"),
        None => blocks.to_string(),
    }
}

/// A site's name, in its JSON shape.
#[derive(Debug, Serialize)]
pub struct NameColumns {
    /// `dependency: function (location)`: the text rows are merged by;
    /// `None` when no stack was recorded.
    pub site: Option<String>,
    /// The crate or library, when the code is not the program's own.
    pub dependency: Option<DependencyColumns>,
    /// The function, shortened; `None` when no stack was recorded.
    pub function: Option<String>,
    /// `file:line`, if known.
    pub location: Option<String>,
}

/// A crate or library and its version.
#[derive(Debug, Serialize)]
pub struct DependencyColumns {
    /// Its name (`bytes`, `libc.so.6`).
    pub name: String,
    /// Its version, if known.
    pub version: Option<String>,
}

impl From<&SiteName> for NameColumns {
    fn from(n: &SiteName) -> NameColumns {
        NameColumns {
            site: n.label(),
            dependency: (n.dependency.as_ref()).map(|d| DependencyColumns {
                name: d.name.clone(),
                version: d.version.clone(),
            }),
            function: n.function.clone(),
            location: n.location.clone(),
        }
    }
}

impl NameColumns {
    /// The name as a table cell.
    pub fn cell(&self) -> String {
        (self.site.clone()).unwrap_or_else(|| NO_STACK.into())
    }
}

/// The live blocks of the stacks of one site name.
#[derive(Debug, Serialize)]
pub struct SiteRow {
    /// The name.
    #[serde(flatten)]
    pub name: NameColumns,
    /// How many distinct allocation stacks the row merges.
    pub stacks: u64,
    /// Live blocks and bytes.
    pub blocks: u64,
    /// See `blocks`.
    pub bytes: u64,
    /// Whether `blocks` and `bytes` (and those of `frames_by_stack`) are
    /// estimates: the snapshot's stacks were sampled, and the row has
    /// sampled blocks (blocks whose stack was kept whatever the sample
    /// count exactly).
    pub estimated: bool,
    /// With `estimated`: how many sampled blocks the estimates rest on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub samples: Option<u64>,
    /// With `--stack` only: the stacks as shown, stacks shown alike
    /// merged, heaviest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames_by_stack: Option<Vec<StackRow>>,
}

/// Stacks of a site that are shown alike.
#[derive(Debug, Serialize)]
pub struct StackRow {
    /// How many stacks.
    pub stacks: u64,
    /// Their live blocks and bytes.
    pub blocks: u64,
    /// See `blocks`.
    pub bytes: u64,
    /// Allocator frames hidden above the first frame shown.
    pub hidden_allocator_frames: usize,
    /// The frames shown, innermost first, as `crate: function (file:line)`.
    pub frames: Vec<String>,
    /// Start-up frames hidden below the last frame shown.
    pub hidden_startup_frames: usize,
}

impl SiteRow {
    /// Site `s` of `a`'s snapshot, with its stacks as shown when `stacks`
    /// is given (`Some(true)`: every frame).
    pub fn new<K>(a: &Analysis, s: &Site<K>, stacks: Option<bool>) -> SiteRow {
        SiteRow {
            name: s.name(a).into(),
            stacks: s.stacks.len() as u64,
            blocks: s.blocks,
            bytes: s.bytes,
            estimated: s.samples().is_some(),
            samples: s.samples(),
            frames_by_stack: stacks.map(|full| stack_rows(a, s, full)),
        }
    }

    /// The table cells: live bytes, blocks, stacks, name.
    pub fn cells(&self) -> [String; 4] {
        [
            approx(self.estimated, bytes(self.bytes)),
            blocks_cell(self.blocks, self.samples),
            self.stacks.to_string(),
            self.name.cell(),
        ]
    }
}

/// The stacks of `s` as shown, those shown alike merged, heaviest first.
fn stack_rows<K>(a: &Analysis, s: &Site<K>, full: bool) -> Vec<StackRow> {
    let mut rows: Vec<(StackView, StackRow)> = Vec::new();
    for t in &s.stacks {
        let v = view(a.snapshot(), t.stack, full);
        let at = match rows.iter().position(|(seen, _)| *seen == v) {
            Some(at) => at,
            None => {
                let row = StackRow {
                    stacks: 0,
                    blocks: 0,
                    bytes: 0,
                    hidden_allocator_frames: v.hidden_allocator,
                    frames: v.lines.clone(),
                    hidden_startup_frames: v.hidden_startup,
                };
                rows.push((v, row));
                rows.len() - 1
            }
        };
        let row = &mut rows[at].1;
        row.stacks += 1;
        row.blocks += t.blocks;
        row.bytes = row.bytes.saturating_add(t.bytes);
    }
    let mut rows: Vec<StackRow> = rows.into_iter().map(|(_, r)| r).collect();
    rows.sort_by_key(|r| std::cmp::Reverse((r.bytes, r.blocks)));
    rows
}

/// The headers of [`SiteRow::cells`].
pub const SITE_HEADER: [&str; 4] = ["live bytes", "blocks", "stacks", "allocation site"];
