//! Writing the JSON as it is produced (rule 7): the header, the nodes, the
//! edges, the empty trace and location arrays, and the strings, in the
//! order V8 writes them (DevTools' loader reads them in that order).

use super::edges::Edges;
use super::ids::Ids;
use super::layout::{Layout, NODE_FIELDS, Node};
use super::names::Names;
use super::{Error, Written};
use crate::analysis::Analysis;
use std::io::{BufWriter, Write};

/// `snapshot.meta`: the fields of nodes and edges, as V8 declares them.
const META: &str = concat!(
    r#"{"node_fields":["type","name","id","self_size","edge_count","trace_node_id","#,
    r#""detachedness"],"node_types":[["hidden","array","string","object","code","#,
    r#""closure","regexp","number","native","synthetic","concatenated string","#,
    r#""sliced string","symbol","bigint","object shape"],"string","number","number","#,
    r#""number","number","number"],"edge_fields":["type","name_or_index","to_node"],"#,
    r#""edge_types":[["context","element","property","internal","hidden","shortcut","#,
    r#""weak"],"string_or_number","node"],"trace_function_info_fields":["function_id","#,
    r#""name","script_name","script_id","line","column"],"trace_node_fields":["id","#,
    r#""function_info_index","count","size","children"],"sample_fields":["#,
    r#""timestamp_us","last_assigned_id"],"location_fields":["object_index","#,
    r#""script_id","line","column"]}"#
);

/// Node types, as indices into the meta's node types.
const NATIVE: u32 = 8;
const SYNTHETIC: u32 = 9;

/// Writes the snapshot laid out as `layout`, with `edges`, `ids` and
/// `names`, to `out`.
pub fn write(
    a: &Analysis,
    layout: &Layout,
    edges: &Edges,
    ids: &Ids,
    mut names: Names,
    out: &mut dyn Write,
) -> Result<Written, Error> {
    let mut w = Numbers::new(out);
    let header = format!(
        r#"{{"snapshot":{{"meta":{META},"node_count":{},"edge_count":{},"trace_function_count":0}},"#,
        layout.nodes,
        edges.all.len()
    );
    w.raw(header.as_bytes())?;
    w.raw(b"\n\"nodes\":[")?;
    let clamped_blocks = nodes(&mut w, a, layout, edges, ids, &mut names)?;
    w.raw(b"],\n\"edges\":[")?;
    for (i, e) in edges.all.iter().enumerate() {
        w.row(i, &[e.kind as u32, e.name, e.to * NODE_FIELDS])?;
    }
    w.raw(b"],\n\"trace_function_infos\":[],\n\"trace_tree\":[],\n\"samples\":[],")?;
    w.raw(b"\n\"locations\":[],\n\"strings\":[")?;
    for (i, s) in names.strings.iter().enumerate() {
        if i > 0 {
            w.raw(b",\n")?;
        }
        serde_json::to_writer(&mut w.out, s).map_err(std::io::Error::from)?;
    }
    w.raw(b"]}\n")?;
    w.out.flush()?;
    Ok(Written {
        nodes: u64::from(layout.nodes),
        edges: edges.all.len() as u64,
        weak_edges: edges.weak,
        strings: names.strings.len() as u64,
        bytes: w.out.get_ref().bytes,
        clamped_blocks,
    })
}

/// Writes every node; returns how many blocks had their size cut (rule 3).
fn nodes(
    w: &mut Numbers,
    a: &Analysis,
    layout: &Layout,
    edges: &Edges,
    ids: &Ids,
    names: &mut Names,
) -> Result<u64, Error> {
    let mut clamped = 0;
    for n in 0..layout.nodes {
        let (kind, size) = match layout.node(n) {
            Node::Block(b) => {
                let size = a.snapshot().blocks[b as usize].size;
                clamped += u64::from(size > u64::from(u32::MAX));
                (NATIVE, size.min(u64::from(u32::MAX)) as u32)
            }
            _ => (SYNTHETIC, 0),
        };
        let name = names.node(layout, n);
        let count = edges.counts[n as usize];
        w.row(
            n as usize,
            &[kind, name, ids.of(layout, n), size, count, 0, 0],
        )?;
    }
    Ok(clamped)
}

/// A buffered writer of comma-separated numbers, counting bytes.
struct Numbers<'w> {
    out: BufWriter<Counting<'w>>,
    digits: itoa::Buffer,
}

impl<'w> Numbers<'w> {
    fn new(out: &'w mut dyn Write) -> Numbers<'w> {
        let counting = Counting { out, bytes: 0 };
        Numbers {
            out: BufWriter::with_capacity(1 << 20, counting),
            digits: itoa::Buffer::new(),
        }
    }

    fn raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.out.write_all(bytes)
    }

    /// Row `i` of an array of rows of `values`: one line each.
    fn row(&mut self, i: usize, values: &[u32]) -> std::io::Result<()> {
        if i > 0 {
            self.out.write_all(b",\n")?;
        }
        for (j, &v) in values.iter().enumerate() {
            if j > 0 {
                self.out.write_all(b",")?;
            }
            self.out.write_all(self.digits.format(v).as_bytes())?;
        }
        Ok(())
    }
}

/// A writer that counts the bytes through it.
struct Counting<'w> {
    out: &'w mut dyn Write,
    bytes: u64,
}

impl Write for Counting<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}
