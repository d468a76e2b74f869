//! Rows that more than one command prints, in their JSON shape and as table
//! cells: allocation sites (`summary`, `sites`) and spawn sites that
//! changed (`diff`, `leaks --baseline`).

use super::units::bytes;
use crate::analysis::Analysis;
use crate::analysis::diff::SpawnSiteChange;
use crate::analysis::sites::SiteTotal;
use serde::Serialize;

/// The live blocks of one allocation stack, named.
#[derive(Debug, Serialize)]
pub struct SiteRow {
    /// The allocation stack.
    pub stack: u32,
    /// Its name: `None` when no stack was recorded.
    pub function: Option<String>,
    /// See `function`.
    pub location: Option<String>,
    /// Live blocks and bytes.
    pub blocks: u64,
    /// See `blocks`.
    pub bytes: u64,
    /// The whole stack, with `--stack` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames: Option<Vec<String>>,
}

impl SiteRow {
    /// Site `t` of `a`'s snapshot, named.
    pub fn new(a: &Analysis, t: &SiteTotal) -> SiteRow {
        let name = a.site(t.stack);
        SiteRow {
            stack: t.stack,
            function: name.function.clone(),
            location: name.location.clone(),
            blocks: t.blocks,
            bytes: t.bytes,
            frames: None,
        }
    }

    /// The table cells: live bytes, blocks, function, location.
    pub fn cells(&self) -> [String; 4] {
        [
            bytes(self.bytes),
            self.blocks.to_string(),
            (self.function.clone()).unwrap_or_else(|| "(no stack recorded)".into()),
            self.location.clone().unwrap_or_default(),
        ]
    }
}

/// The headers of [`SiteRow::cells`].
pub const SITE_HEADER: [&str; 4] = ["live bytes", "blocks", "function", "location"];

/// How one spawn site changed between two snapshots.
#[derive(Debug, Serialize)]
pub struct SpawnSiteRow {
    /// Where its tasks were spawned.
    pub spawned_at: String,
    /// Live tasks in A and B.
    pub tasks_a: u64,
    /// See `tasks_a`.
    pub tasks_b: u64,
    /// Bytes they retain in A and B.
    pub retained_a: u64,
    /// See `retained_a`.
    pub retained_b: u64,
    /// Live bytes they allocated, in A and B.
    pub allocated_a: u64,
    /// See `allocated_a`.
    pub allocated_b: u64,
    /// Tasks new in B, and ended since A.
    pub new_tasks: u64,
    /// See `new_tasks`.
    pub ended_tasks: u64,
}

impl From<SpawnSiteChange> for SpawnSiteRow {
    fn from(c: SpawnSiteChange) -> SpawnSiteRow {
        SpawnSiteRow {
            spawned_at: c.spawned_at,
            tasks_a: c.tasks_a,
            tasks_b: c.tasks_b,
            retained_a: c.retained_a,
            retained_b: c.retained_b,
            allocated_a: c.allocated_a,
            allocated_b: c.allocated_b,
            new_tasks: c.new_tasks,
            ended_tasks: c.ended_tasks,
        }
    }
}
