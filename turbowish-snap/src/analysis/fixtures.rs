//! Small hand-built heaps for the analysis's unit tests.

use crate::model::{Block, BlockIndex, Edge, Root, RootKind, Snapshot};

/// Blocks of sizes 1, 10, 100, ... (at 0x1000, 0x2000, ...), the given
/// edges between them, and roots of the given kinds and targets.
pub fn heap(blocks: usize, edges: &[(u32, u32)], roots: &[(RootKind, &[u32])]) -> Snapshot {
    let b = BlockIndex::new;
    let mut edges: Vec<Edge> = edges.iter().map(|&(f, t)| Edge::new(b(f), b(t))).collect();
    edges.sort();
    Snapshot {
        blocks: (0..blocks)
            .map(|i| Block {
                addr: 0x1000 * (i as u64 + 1),
                size: 10u64.pow(i as u32),
                ..Block::default()
            })
            .collect(),
        edges,
        roots: (roots.iter())
            .map(|&(kind, t)| Root {
                kind,
                targets: t.iter().copied().map(b).collect(),
                ..Root::default()
            })
            .collect(),
        ..Snapshot::default()
    }
}
