//! The payload's wire layout: columns, delta-encoded, then decoded and
//! validated table by table on the way back in.
//!
//! Blocks are stored as six columns rather than rows, addresses as
//! differences from the previous block (blocks are sorted by address) and
//! edges as differences too. Postcard writes every integer as a varint, so a
//! small difference costs one byte, and zstd then finds the remaining
//! regularity column by column.
//!
//! The writer serializes [`Wire`] with serde. The reader ([`decode`]) does not
//! build a `Wire`: it reads the same fields in the same order straight from
//! the decompressor ([`Source`]), one value at a time, into the rows of a
//! [`Snapshot`]. Rules:
//!
//! 1. **Each table is checked as soon as it is read** (the rules of
//!    [`validate::table`]), before the next one is read: a file that is
//!    garbage after its header fails at its first bad table.
//! 2. **Counts before contents.** A table's length is checked against the
//!    bytes left before any entry is read ([`Source::len`]), with the least
//!    an entry can take: the postcard encoding of its default value (one byte
//!    per field). Every block column after the first must have as many
//!    entries as the first, and so must every edge column.
//! 3. **Rows grow as entries arrive**, up to the declared count, never to it
//!    at once ([`push`]): memory follows what the file holds.
//! 4. **Sums over file values are checked** (no wrapping in release builds,
//!    no overflow panic in debug ones), and every index a sum makes is
//!    checked against its table as it is made.

use crate::Error;
use crate::index::{BlockIndex, FrameIndex, StackIndex, StringIndex, TaskIndex};
use crate::legacy::{CaptureV3, CaptureV5, CaptureV7, TaskV3, TaskV4};
use crate::model::{
    Block, Capture, Container, Edge, EdgeKind, Frame, Module, Process, Root, RootKind, Snapshot,
    Task,
};
use crate::stream::Source;
use crate::validate::{self, Table};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::Read;

/// The payload, as serialized. [`decode`] reads the same fields in the same
/// order: change both together (the round-trip tests catch a mismatch).
#[derive(Serialize)]
pub(crate) struct Wire {
    process: Process,
    capture: Capture,
    strings: Vec<String>,
    modules: Vec<Module>,
    frames: Vec<Frame>,
    stacks: Vec<Vec<FrameIndex>>,
    blocks: BlockColumns,
    edges: EdgeColumns,
    roots: Vec<WireRoot>,
    tasks: Vec<Task>,
    containers: Vec<Container>,
}

#[derive(Serialize, Default)]
struct BlockColumns {
    /// Address minus the previous block's address (the first: minus 0).
    addr_delta: Vec<u64>,
    size: Vec<u64>,
    task: Vec<u64>,
    stack: Vec<StackIndex>,
    epoch: Vec<u32>,
    type_name: Vec<StringIndex>,
    /// Since version 7.
    stack_certain: Vec<bool>,
}

#[derive(Serialize, Default)]
struct EdgeColumns {
    /// `from` minus the previous edge's `from` (edges are sorted).
    from_delta: Vec<u32>,
    /// `to` minus `from`: pointers tend to point at blocks allocated nearby.
    to_offset: Vec<i64>,
    kind: Vec<EdgeKind>,
    label: Vec<StringIndex>,
}

#[derive(Serialize, Default)]
struct WireRoot {
    kind: RootKind,
    label: StringIndex,
    start: u64,
    len: u64,
    /// Sorted targets, each minus the previous one.
    target_delta: Vec<u32>,
    labels: Vec<StringIndex>,
    task: Option<TaskIndex>,
    /// Since version 5.
    kinds: Vec<EdgeKind>,
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
                stack_certain: s.blocks.iter().map(|b| b.stack_certain).collect(),
            },
            edges: EdgeColumns {
                from_delta: deltas(s.edges.iter().map(|e| u64::from(e.from.get())))
                    .into_iter()
                    .map(|d| d as u32)
                    .collect(),
                to_offset: s
                    .edges
                    .iter()
                    .map(|e| i64::from(e.to.get()) - i64::from(e.from.get()))
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
                    target_delta: deltas(r.targets.iter().map(|t| u64::from(t.get())))
                        .into_iter()
                        .map(|d| d as u32)
                        .collect(),
                    labels: r.labels.clone(),
                    task: r.task,
                    kinds: r.kinds.clone(),
                })
                .collect(),
            tasks: s.tasks.clone(),
            containers: s.containers.clone(),
        }
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

/// Reads the tables of a file of format `version` from `src`, checking each
/// as soon as it is read (rule 1). Rows whose encoding changed are read as
/// their version wrote them (the `legacy` module).
pub(crate) fn decode<R: Read>(src: &mut Source<R>, version: u16) -> Result<Snapshot, Error> {
    let mut s = Snapshot {
        strings: Vec::new(),
        stacks: Vec::new(),
        ..Snapshot::default()
    };
    s.process = src.value("process")?;
    s.capture = match version {
        ..4 => src.value::<CaptureV3>("capture figures")?.into(),
        4..6 => src.value::<CaptureV5>("capture figures")?.into(),
        6..8 => src.value::<CaptureV7>("capture figures")?.into(),
        _ => src.value("capture figures")?,
    };
    for t in Table::ALL {
        read_table(src, &mut s, t, version)?;
        validate::table(&s, t).map_err(Error::Corrupt)?;
    }
    Ok(s)
}

/// Reads table `t` of `s`, whose earlier tables are read.
fn read_table<R: Read>(
    src: &mut Source<R>,
    s: &mut Snapshot,
    t: Table,
    version: u16,
) -> Result<(), Error> {
    let blocks = s.blocks.len();
    match t {
        Table::Strings => s.strings = rows(src, "strings")?,
        Table::Modules => s.modules = rows(src, "modules")?,
        Table::Frames => s.frames = rows(src, "frames")?,
        Table::Stacks => s.stacks = seq(src, "stacks", 1, |src| values(src, "stack frames", 1))?,
        Table::Blocks => s.blocks = read_blocks(src, version)?,
        Table::Edges => s.edges = read_edges(src, blocks)?,
        Table::Roots => {
            // Before version 5 a root had no kinds column (one byte less).
            let least = min_bytes::<WireRoot>() - u64::from(version < 5);
            s.roots = seq(src, "roots", least, |src| read_root(src, blocks, version))?
        }
        Table::Tasks if version < 4 => {
            let old: Vec<TaskV3> = rows(src, "tasks")?;
            s.tasks = old.into_iter().map(Task::from).collect();
        }
        Table::Tasks if version < 5 => {
            let old: Vec<TaskV4> = rows(src, "tasks")?;
            s.tasks = old.into_iter().map(Task::from).collect();
        }
        Table::Tasks => s.tasks = rows(src, "tasks")?,
        Table::Containers => s.containers = values(src, "containers", least(&NO_CONTAINER))?,
    }
    Ok(())
}

/// The block columns, into rows: the first column makes them, the others
/// fill them in. Index columns are decoded as the `u32`s they are on the
/// wire and wrapped after: one decoder for all of them, in the reader's
/// hottest loop.
fn read_blocks<R: Read>(src: &mut Source<R>, version: u16) -> Result<Vec<Block>, Error> {
    // Before version 7 a block had no `stack_certain` column.
    let least = min_bytes::<BlockColumns>() - u64::from(version < 7);
    let n = src.len("blocks", least)?;
    let mut rows = Vec::new();
    let mut addr = 0u64;
    for _ in 0..n {
        let delta: u64 = src.value("block addresses")?;
        addr = addr
            .checked_add(delta)
            .ok_or_else(|| corrupt("block addresses overflow"))?;
        push(
            &mut rows,
            n,
            Block {
                addr,
                ..Block::default()
            },
        );
    }
    column(
        src,
        &mut rows,
        "block sizes",
        ok(|b: &mut Block, v| b.size = v),
    )?;
    column(
        src,
        &mut rows,
        "block tasks",
        ok(|b: &mut Block, v| b.task = v),
    )?;
    column(
        src,
        &mut rows,
        "block stacks",
        ok(|b: &mut Block, v| b.stack = StackIndex::new(v)),
    )?;
    column(
        src,
        &mut rows,
        "block epochs",
        ok(|b: &mut Block, v| b.epoch = v),
    )?;
    column(
        src,
        &mut rows,
        "block types",
        ok(|b: &mut Block, v| b.type_name = StringIndex::new(v)),
    )?;
    if version >= 7 {
        column(
            src,
            &mut rows,
            "block stack certainty",
            ok(|b: &mut Block, v: bool| b.stack_certain = v),
        )?;
    }
    Ok(rows)
}

/// The edge columns, into rows, every index checked against the `blocks`.
fn read_edges<R: Read>(src: &mut Source<R>, blocks: usize) -> Result<Vec<Edge>, Error> {
    const OUTSIDE: &str = "an edge points outside the block table";
    let n = src.len("edges", min_bytes::<EdgeColumns>())?;
    let mut rows = Vec::new();
    let mut from = 0u64;
    for _ in 0..n {
        let delta: u32 = src.value("edge sources")?;
        from = index(from, delta.into(), blocks).ok_or_else(|| corrupt(OUTSIDE))?;
        push(
            &mut rows,
            n,
            Edge::new(BlockIndex::new(from as u32), BlockIndex::new(0)),
        );
    }
    column(src, &mut rows, "edge targets", |e, offset: i64| {
        let to = i64::from(e.from.get()).checked_add(offset);
        let to = to.and_then(|t| index(0, u64::try_from(t).ok()?, blocks));
        e.to = BlockIndex::new(to.ok_or_else(|| corrupt(OUTSIDE))? as u32);
        Ok(())
    })?;
    column(
        src,
        &mut rows,
        "edge kinds",
        ok(|e: &mut Edge, v| e.kind = v),
    )?;
    column(
        src,
        &mut rows,
        "edge labels",
        ok(|e: &mut Edge, v| e.label = StringIndex::new(v)),
    )?;
    Ok(rows)
}

/// One root, field by field as [`WireRoot`] stores them.
fn read_root<R: Read>(src: &mut Source<R>, blocks: usize, version: u16) -> Result<Root, Error> {
    let kind: RootKind = src.value("roots")?;
    let label = src.value("roots")?;
    let start = src.value("roots")?;
    let len = src.value("roots")?;
    let n = src.len("root targets", 1)?;
    let mut targets = Vec::new();
    let mut t = 0u64;
    for _ in 0..n {
        let delta: u32 = src.value("root targets")?;
        t = index(t, delta.into(), blocks)
            .ok_or_else(|| corrupt("a root points outside the block table"))?;
        push(&mut targets, n, BlockIndex::new(t as u32));
    }
    Ok(Root {
        kind,
        label,
        start,
        len,
        targets,
        labels: rows(src, "root labels")?,
        task: src.value("roots")?,
        kinds: match version {
            ..5 => Vec::new(),
            _ => rows(src, "root pointer kinds")?,
        },
    })
}

/// `acc + delta`, if it is an index into a table of `len` rows (rule 4).
fn index(acc: u64, delta: u64, len: usize) -> Option<u64> {
    acc.checked_add(delta).filter(|&i| i < len as u64)
}

/// One more column of `rows`: as many entries as rows, each handed to `set`
/// with its row (rule 2).
fn column<R: Read, X, T: DeserializeOwned>(
    src: &mut Source<R>,
    rows: &mut [X],
    what: &str,
    mut set: impl FnMut(&mut X, T) -> Result<(), Error>,
) -> Result<(), Error> {
    let n = src.len(what, 1)?;
    if n != rows.len() {
        return Err(Error::Corrupt(format!(
            "{n} {what} for {} rows: the columns differ in length",
            rows.len()
        )));
    }
    for row in rows {
        set(row, src.value(what)?)?;
    }
    Ok(())
}

/// A column setter that cannot fail.
fn ok<X, T>(mut set: impl FnMut(&mut X, T)) -> impl FnMut(&mut X, T) -> Result<(), Error> {
    move |x, v| {
        set(x, v);
        Ok(())
    }
}

/// A table of `T` as serde stores a `Vec<T>`.
fn rows<R: Read, T>(src: &mut Source<R>, what: &str) -> Result<Vec<T>, Error>
where
    T: DeserializeOwned + Serialize + Default,
{
    values(src, what, min_bytes::<T>())
}

/// A table of `T` as serde stores a `Vec<T>`, each entry at least `min`
/// bytes.
fn values<R: Read, T: DeserializeOwned>(
    src: &mut Source<R>,
    what: &str,
    min: u64,
) -> Result<Vec<T>, Error> {
    seq(src, what, min, |src| src.value(what))
}

/// A length, then that many entries of at least `min` bytes each, read by
/// `entry` (rules 2 and 3).
fn seq<R: Read, T>(
    src: &mut Source<R>,
    what: &str,
    min: u64,
    mut entry: impl FnMut(&mut Source<R>) -> Result<T, Error>,
) -> Result<Vec<T>, Error> {
    let n = src.len(what, min)?;
    let mut out = Vec::new();
    for _ in 0..n {
        push(&mut out, n, entry(src)?);
    }
    Ok(out)
}

/// Pushes `x`, growing `v` by doubling but never past the `declared` count
/// (rule 3): an honest count ends with an exact fit.
fn push<T>(v: &mut Vec<T>, declared: usize, x: T) {
    if v.len() == v.capacity() {
        let more = v.len().max(16).min(declared.saturating_sub(v.len()));
        v.reserve_exact(more.max(1));
    }
    v.push(x);
}

/// The fewest bytes a `T` takes: the postcard encoding of its default value,
/// whose integers are one-byte varints and whose vectors are empty.
fn min_bytes<T: Serialize + Default>() -> u64 {
    least(&T::default())
}

/// The bytes `x` takes: for the fewest a row takes, a row of zeroes and
/// empty vectors.
fn least<T: Serialize>(x: &T) -> u64 {
    postcard::to_stdvec(x).map_or(1, |v| v.len() as u64)
}

/// The smallest container row (a container has no default: block 0 is a
/// block like any other).
const NO_CONTAINER: Container = Container {
    block: BlockIndex::new(0),
    len: 0,
    capacity: 0,
};

fn corrupt(what: &str) -> Error {
    Error::Corrupt(what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_an_entry_takes_is_one_byte_per_field() {
        assert_eq!(min_bytes::<BlockColumns>(), 7);
        assert_eq!(min_bytes::<EdgeColumns>(), 4);
        assert_eq!(min_bytes::<WireRoot>(), 8);
        assert_eq!(min_bytes::<Task>(), 20);
        assert_eq!(min_bytes::<TaskV4>(), 19);
        assert_eq!(min_bytes::<TaskV3>(), 15);
        assert_eq!(min_bytes::<String>(), 1);
        assert_eq!(least(&NO_CONTAINER), 3);
    }

    #[test]
    fn rows_grow_to_the_declared_count_and_no_further() {
        let mut v = Vec::new();
        for i in 0..1000 {
            push(&mut v, 1000, i);
        }
        assert_eq!(v.capacity(), 1000);
    }
}
