//! A block with what it retains, as `summary` and `dominators` print it:
//! named as `retainers` names holders ([`Holders`]), a task's storage as
//! its task.

use super::holder::Holders;
use super::units::bytes;
use crate::analysis::Analysis;
use crate::analysis::dominator_tree::{Dominator, HeldBy};
use serde::Serialize;

/// A block and what it retains, in its JSON shape.
#[derive(Debug, Serialize)]
pub struct DominatorRow {
    /// The block's address, `0x...`.
    pub address: String,
    /// The block as `retainers` names a holder.
    pub name: String,
    /// Its own size.
    pub size: u64,
    /// Bytes it retains, its own included.
    pub retained: u64,
    /// Blocks it retains, itself included.
    pub retained_blocks: u64,
    /// Its type, when a typed walk named it.
    pub r#type: Option<String>,
    /// Its allocation site; `None` when no stack was recorded.
    pub site: Option<String>,
    /// The task whose storage (future) it is.
    pub task: Option<TaskRef>,
    /// What holds it, when that is not a block shown above it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_by: Option<String>,
}

/// A task, as rows name it.
#[derive(Debug, Serialize)]
pub struct TaskRef {
    /// Its id.
    pub id: u64,
    /// Its name, if it has one.
    pub name: String,
    /// Where it was spawned.
    pub spawned_at: String,
}

impl DominatorRow {
    /// Row `d`, saying what holds it when `held_by` (see [`held_by`]).
    pub fn new(a: &Analysis, holders: &Holders, d: &Dominator, held_by: bool) -> DominatorRow {
        let snap = a.snapshot();
        let b = snap.block(d.block);
        DominatorRow {
            address: format!("{:#x}", b.addr),
            name: holders.block(d.block),
            size: d.size,
            retained: d.retained,
            retained_blocks: d.retained_blocks,
            r#type: match snap.string(d.type_name) {
                "" => None,
                t => Some(t.to_owned()),
            },
            site: a.site(d.stack).label(),
            task: d.task.map(|t| TaskRef {
                id: snap.task(t).id,
                name: snap.string(snap.task(t).name).to_owned(),
                spawned_at: a.spawned_at(t).to_owned(),
            }),
            held_by: held_by.then(|| self::held_by(holders, d)),
        }
    }

    /// The table cells: retained bytes, retained blocks, address, name.
    pub fn cells(&self) -> [String; 4] {
        [
            bytes(self.retained),
            self.retained_blocks.to_string(),
            self.address.clone(),
            self.name.clone(),
        ]
    }
}

/// What holds `d`: a root by name, "several roots", or a block by name and
/// address.
pub fn held_by(holders: &Holders, d: &Dominator) -> String {
    let snap = holders.snap;
    match d.held_by {
        HeldBy::Root(r) => holders.root(r, snap.roots[r as usize].label_of(d.block)).1,
        HeldBy::Roots => "several roots".to_owned(),
        HeldBy::Block(p) => format!("{} at {:#x}", holders.block(p), snap.block(p).addr),
    }
}

/// The headers of [`DominatorRow::cells`].
pub const DOMINATOR_HEADER: [&str; 4] = ["retained", "blocks", "address", "block"];
