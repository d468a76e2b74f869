//! The payload's wire layout: columns, delta-encoded, then validated on the
//! way back in.
//!
//! Blocks are stored as five columns rather than rows, addresses as
//! differences from the previous block (blocks are sorted by address) and
//! edges as differences too. Postcard writes every integer as a varint, so a
//! small difference costs one byte, and zstd then finds the remaining
//! regularity column by column.

use crate::Error;
use crate::model::{
    Block, Capture, Container, Edge, EdgeKind, Frame, Module, Process, Root, RootKind, Snapshot,
    Task,
};
use serde::{Deserialize, Serialize};

/// The payload, as serialized.
#[derive(Serialize, Deserialize)]
pub(crate) struct Wire {
    process: Process,
    capture: Capture,
    strings: Vec<String>,
    modules: Vec<Module>,
    frames: Vec<Frame>,
    stacks: Vec<Vec<u32>>,
    blocks: BlockColumns,
    edges: EdgeColumns,
    roots: Vec<WireRoot>,
    tasks: Vec<Task>,
    containers: Vec<Container>,
}

#[derive(Serialize, Deserialize)]
struct BlockColumns {
    /// Address minus the previous block's address (the first: minus 0).
    addr_delta: Vec<u64>,
    size: Vec<u64>,
    task: Vec<u64>,
    stack: Vec<u32>,
    epoch: Vec<u32>,
    type_name: Vec<u32>,
}

#[derive(Serialize, Deserialize)]
struct EdgeColumns {
    /// `from` minus the previous edge's `from` (edges are sorted).
    from_delta: Vec<u32>,
    /// `to` minus `from`: pointers tend to point at blocks allocated nearby.
    to_offset: Vec<i64>,
    kind: Vec<EdgeKind>,
    label: Vec<u32>,
}

#[derive(Serialize, Deserialize)]
struct WireRoot {
    kind: RootKind,
    label: u32,
    start: u64,
    len: u64,
    /// Sorted targets, each minus the previous one.
    target_delta: Vec<u32>,
    labels: Vec<u32>,
    task: Option<u32>,
}

impl Wire {
    /// The wire form of `s`, which must already be in canonical order
    /// (blocks by address, edges by (from, to), root targets ascending).
    pub(crate) fn from_snapshot(s: &Snapshot) -> Wire {
        Wire {
            process: s.process.clone(),
            capture: s.capture.clone(),
            strings: s.strings.clone(),
            modules: s.modules.clone(),
            frames: s.frames.clone(),
            stacks: s.stacks.clone(),
            blocks: BlockColumns {
                addr_delta: deltas(s.blocks.iter().map(|b| b.addr)),
                size: s.blocks.iter().map(|b| b.size).collect(),
                task: s.blocks.iter().map(|b| b.task).collect(),
                stack: s.blocks.iter().map(|b| b.stack).collect(),
                epoch: s.blocks.iter().map(|b| b.epoch).collect(),
                type_name: s.blocks.iter().map(|b| b.type_name).collect(),
            },
            edges: EdgeColumns {
                from_delta: deltas(s.edges.iter().map(|e| u64::from(e.from)))
                    .into_iter()
                    .map(|d| d as u32)
                    .collect(),
                to_offset: s
                    .edges
                    .iter()
                    .map(|e| i64::from(e.to) - i64::from(e.from))
                    .collect(),
                kind: s.edges.iter().map(|e| e.kind).collect(),
                label: s.edges.iter().map(|e| e.label).collect(),
            },
            roots: s
                .roots
                .iter()
                .map(|r| WireRoot {
                    kind: r.kind,
                    label: r.label,
                    start: r.start,
                    len: r.len,
                    target_delta: deltas(r.targets.iter().map(|&t| u64::from(t)))
                        .into_iter()
                        .map(|d| d as u32)
                        .collect(),
                    labels: r.labels.clone(),
                    task: r.task,
                })
                .collect(),
            tasks: s.tasks.clone(),
            containers: s.containers.clone(),
        }
    }

    /// Rebuilds the snapshot, checking every length, order and index.
    pub(crate) fn into_snapshot(self) -> Result<Snapshot, Error> {
        let blocks = self.blocks.into_rows()?;
        let n = blocks.len();
        let snapshot = Snapshot {
            edges: self.edges.into_rows(n)?,
            roots: self
                .roots
                .into_iter()
                .map(|r| r.into_root(n))
                .collect::<Result<_, _>>()?,
            process: self.process,
            capture: self.capture,
            strings: self.strings,
            modules: self.modules,
            frames: self.frames,
            stacks: self.stacks,
            blocks,
            tasks: self.tasks,
            containers: self.containers,
        };
        crate::validate::check(&snapshot).map_err(Error::Corrupt)?;
        Ok(snapshot)
    }
}

impl BlockColumns {
    fn into_rows(self) -> Result<Vec<Block>, Error> {
        let n = self.addr_delta.len();
        if [
            self.size.len(),
            self.task.len(),
            self.stack.len(),
            self.epoch.len(),
            self.type_name.len(),
        ]
        .iter()
        .any(|&l| l != n)
        {
            return Err(corrupt("block columns differ in length"));
        }
        let addrs = prefix_sums(&self.addr_delta, "block addresses")?;
        Ok(addrs
            .into_iter()
            .enumerate()
            .map(|(i, addr)| Block {
                addr,
                size: self.size[i],
                task: self.task[i],
                stack: self.stack[i],
                epoch: self.epoch[i],
                type_name: self.type_name[i],
            })
            .collect())
    }
}

impl EdgeColumns {
    fn into_rows(self, blocks: usize) -> Result<Vec<Edge>, Error> {
        let n = self.from_delta.len();
        if [self.to_offset.len(), self.kind.len(), self.label.len()]
            .iter()
            .any(|&l| l != n)
        {
            return Err(corrupt("edge columns differ in length"));
        }
        let mut from = 0u64;
        let mut rows = Vec::with_capacity(n);
        for (i, (&d, &off)) in self.from_delta.iter().zip(&self.to_offset).enumerate() {
            from += u64::from(d);
            let to = from as i64 + off;
            if from >= blocks as u64 || to < 0 || to >= blocks as i64 {
                return Err(corrupt("an edge points outside the block table"));
            }
            rows.push(Edge {
                from: from as u32,
                to: to as u32,
                kind: self.kind[i],
                label: self.label[i],
            });
        }
        Ok(rows)
    }
}

impl WireRoot {
    fn into_root(self, blocks: usize) -> Result<Root, Error> {
        let mut targets = Vec::with_capacity(self.target_delta.len());
        let mut t = 0u64;
        for &d in &self.target_delta {
            t += u64::from(d);
            if t >= blocks as u64 {
                return Err(corrupt("a root points outside the block table"));
            }
            targets.push(t as u32);
        }
        Ok(Root {
            kind: self.kind,
            label: self.label,
            start: self.start,
            len: self.len,
            targets,
            labels: self.labels,
            task: self.task,
        })
    }
}

/// Differences between consecutive values (the first from 0). Values must be
/// non-decreasing.
fn deltas(values: impl Iterator<Item = u64>) -> Vec<u64> {
    let mut prev = 0;
    values
        .map(|v| {
            let d = v - prev;
            prev = v;
            d
        })
        .collect()
}

/// Undoes [`deltas`].
fn prefix_sums(deltas: &[u64], what: &str) -> Result<Vec<u64>, Error> {
    let mut out = Vec::with_capacity(deltas.len());
    let mut acc = 0u64;
    for &d in deltas {
        acc = acc
            .checked_add(d)
            .ok_or_else(|| corrupt(&format!("{what} overflow")))?;
        out.push(acc);
    }
    Ok(out)
}

fn corrupt(what: &str) -> Error {
    Error::Corrupt(what.to_owned())
}
