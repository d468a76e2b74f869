//! Tests of `turbowish_snap::analysis::dominators`: hand-built graphs with
//! known dominator trees, deep graphs that would overflow any recursion, and
//! a property test against petgraph's independent implementation.

use petgraph::algo::dominators::simple_fast;
use petgraph::graph::{DiGraph, NodeIndex};
use proptest::prelude::*;
use turbowish_snap::analysis::dominators::{Csr, UNREACHABLE, dominators};

const U: u32 = UNREACHABLE;

fn idoms(nodes: usize, edges: &[(u32, u32)], root: u32) -> Vec<u32> {
    dominators(&Csr::from_edges(nodes, edges.iter().copied()), root)
}

/// The immediate dominators petgraph finds, in our convention.
fn petgraph_idoms(nodes: usize, edges: &[(u32, u32)], root: u32) -> Vec<u32> {
    let mut g = DiGraph::<(), ()>::with_capacity(nodes, edges.len());
    for _ in 0..nodes {
        g.add_node(());
    }
    for &(a, b) in edges {
        g.add_edge(NodeIndex::new(a as usize), NodeIndex::new(b as usize), ());
    }
    let doms = simple_fast(&g, NodeIndex::new(root as usize));
    (0..nodes)
        .map(|v| {
            if v == root as usize {
                root
            } else {
                doms.immediate_dominator(NodeIndex::new(v))
                    .map_or(U, |d| d.index() as u32)
            }
        })
        .collect()
}

#[test]
fn csr_from_edges() {
    let g = Csr::from_edges(4, [(2, 1), (0, 3), (2, 0), (0, 3), (3, 3)]);
    assert_eq!(g.nodes(), 4);
    assert_eq!(g.offsets, [0, 2, 2, 4, 5]);
    assert_eq!(g.successors(0), [3, 3]); // duplicates kept
    assert_eq!(g.successors(1), [] as [u32; 0]);
    assert_eq!(g.successors(2), [1, 0]); // input order kept
    assert_eq!(g.successors(3), [3]);
    assert_eq!(Csr::default().nodes(), 0);
    assert_eq!(Csr::from_edges(0, []).nodes(), 0);
    assert_eq!(Csr::from_edges(3, []).offsets, [0, 0, 0, 0]);
}

#[test]
#[should_panic(expected = "out of range")]
fn csr_edge_out_of_range() {
    Csr::from_edges(2, [(0, 2)]);
}

#[test]
#[should_panic(expected = "not a node")]
fn root_out_of_range() {
    dominators(&Csr::from_edges(2, [(0, 1)]), 2);
}

#[test]
fn single_node() {
    assert_eq!(idoms(1, &[], 0), [0]);
    assert_eq!(idoms(1, &[(0, 0)], 0), [0]);
}

#[test]
fn diamond() {
    //     0
    //    / \
    //   1   2
    //    \ /
    //     3 -> 4
    let e = [(0, 1), (0, 2), (1, 3), (2, 3), (3, 4)];
    assert_eq!(idoms(5, &e, 0), [0, 0, 0, 0, 3]);
    // From another root, what is above it is unreachable.
    assert_eq!(idoms(5, &e, 1), [U, 1, U, 1, 3]);
}

#[test]
fn cycle() {
    // 0 -> 1 -> 2 -> 3 -> 1: the cycle is entered only at 1.
    let e = [(0, 1), (1, 2), (2, 3), (3, 1)];
    assert_eq!(idoms(4, &e, 0), [0, 0, 1, 2]);
    // A cycle through the root, rooted anywhere on it.
    let ring = [(0, 1), (1, 2), (2, 0)];
    assert_eq!(idoms(3, &ring, 0), [0, 0, 1]);
    assert_eq!(idoms(3, &ring, 1), [2, 1, 1]);
    assert_eq!(idoms(3, &ring, 2), [2, 0, 2]);
}

#[test]
fn shared_child_of_two_roots() {
    // A super-root 0 over two roots 1 and 2, which share child 3 (and 3's
    // own child 4); 5 is held by root 1 alone.
    let e = [(0, 1), (0, 2), (1, 3), (2, 3), (3, 4), (1, 5)];
    assert_eq!(idoms(6, &e, 0), [0, 0, 0, 0, 3, 1]);
    // Seen from root 1 alone, 3 is its own.
    assert_eq!(idoms(6, &e, 1), [U, 1, U, 1, 3, 1]);
}

#[test]
fn self_loops_and_duplicates() {
    let e = [
        (0, 0),
        (0, 1),
        (0, 1),
        (1, 1),
        (1, 2),
        (2, 2),
        (2, 1),
        (1, 2),
    ];
    assert_eq!(idoms(3, &e, 0), [0, 0, 1]);
}

#[test]
fn edges_into_root() {
    let e = [(1, 0), (0, 1), (1, 2), (2, 0), (2, 1)];
    assert_eq!(idoms(3, &e, 0), [0, 0, 1]);
}

#[test]
fn unreachable_nodes() {
    // 3 and 4 point into the reachable part, and at each other, but nothing
    // reachable points at them.
    let e = [(0, 1), (1, 2), (3, 1), (3, 4), (4, 3), (4, 2)];
    assert_eq!(idoms(6, &e, 0), [0, 0, 1, U, U, U]);
}

#[test]
fn lengauer_tarjan_paper_example() {
    // The flowgraph of Lengauer & Tarjan (1979), figure 1.
    let [r, a, b, c, d, e, f, g, h, i, j, k, l] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
    let edges = [
        (r, a),
        (r, b),
        (r, c),
        (a, d),
        (b, a),
        (b, d),
        (b, e),
        (c, f),
        (c, g),
        (d, l),
        (e, h),
        (f, i),
        (g, i),
        (g, j),
        (h, e),
        (h, k),
        (i, k),
        (j, i),
        (k, i),
        (k, r),
        (l, h),
    ];
    let idom = idoms(13, &edges, r);
    let expected = [r, r, r, r, r, r, c, c, r, r, g, r, d];
    assert_eq!(idom, expected);
    // The edge order changes the DFS, not the answer.
    let mut reversed = edges;
    reversed.reverse();
    assert_eq!(idoms(13, &reversed, r), expected);
}

const DEEP: u32 = 1_000_000;

#[test]
fn million_node_linked_list() {
    // 0 -> 1 -> ... -> DEEP - 1, entered from the root at 0.
    let edges = (0..DEEP - 1).map(|v| (v, v + 1));
    let idom = dominators(&Csr::from_edges(DEEP as usize, edges), 0);
    assert_eq!(idom[0], 0);
    assert!(
        idom.iter()
            .enumerate()
            .skip(1)
            .all(|(v, &d)| d == v as u32 - 1)
    );
    // The same list rooted in its middle.
    let edges = (0..DEEP - 1).map(|v| (v, v + 1));
    let idom = dominators(&Csr::from_edges(DEEP as usize, edges), DEEP / 2);
    assert!(idom[..DEEP as usize / 2].iter().all(|&d| d == U));
    assert_eq!(idom[DEEP as usize / 2], DEEP / 2);
    assert_eq!(idom[DEEP as usize - 1], DEEP - 2);
}

#[test]
fn million_node_list_with_back_edges() {
    // A deep list whose tail points back at node 1, and whose every node also
    // points back at its predecessor: long forest paths for `eval` to
    // compress (no recursion there either), while the answer stays a chain.
    let n = DEEP;
    let edges = (0..n - 1)
        .map(|v| (v, v + 1))
        .chain((2..n).map(|v| (v, v - 1)))
        .chain([(n - 1, 1)]);
    let idom = dominators(&Csr::from_edges(n as usize, edges), 0);
    assert_eq!(idom[0], 0);
    assert!(
        idom.iter()
            .enumerate()
            .skip(1)
            .all(|(v, &d)| d == v as u32 - 1)
    );

    // A list whose every node is also held by the root: each dominated by the
    // root only, though the DFS tree is a million deep.
    let edges = (0..n - 1).map(|v| (v, v + 1)).chain((2..n).map(|v| (0, v)));
    let idom = dominators(&Csr::from_edges(n as usize, edges), 0);
    assert!(idom.iter().all(|&d| d == 0));

    // A deep list whose tail holds many leaves that the root holds too
    // (quadratic for the semi-NCA variant, linear here).
    let leaves = 100_000;
    let edges = (0..n - 1)
        .map(|v| (v, v + 1))
        .chain((n..n + leaves).flat_map(|x| [(n - 1, x), (0, x)]));
    let idom = dominators(&Csr::from_edges((n + leaves) as usize, edges), 0);
    assert!(idom[n as usize..].iter().all(|&d| d == 0));
    assert_eq!(idom[n as usize - 1], n - 2);
}

/// A random graph: node count, edges, root.
fn graph() -> impl Strategy<Value = (usize, Vec<(u32, u32)>, u32)> {
    (1usize..300)
        .prop_flat_map(|n| {
            let nodes = 0..n as u32;
            (
                Just(n),
                prop::collection::vec((nodes.clone(), nodes.clone()), 0..n * 4),
                nodes,
            )
        })
        .boxed()
}

/// A random sparse graph shaped more like a heap: most edges go to nearby
/// nodes, so the DFS tree is deep and paths long.
fn heapish_graph() -> impl Strategy<Value = (usize, Vec<(u32, u32)>, u32)> {
    (2usize..400)
        .prop_flat_map(|n| {
            let edge = (0..n as u32, -8i32..8, any::<bool>(), 0..n as u32).prop_map(
                move |(from, delta, long, far)| {
                    let to = if long {
                        far
                    } else {
                        (from as i32 + delta).rem_euclid(n as i32) as u32
                    };
                    (from, to)
                },
            );
            (Just(n), prop::collection::vec(edge, n..n * 3), 0..n as u32)
        })
        .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn same_as_petgraph((n, edges, root) in graph()) {
        prop_assert_eq!(idoms(n, &edges, root), petgraph_idoms(n, &edges, root));
    }

    #[test]
    fn same_as_petgraph_heapish((n, edges, root) in heapish_graph()) {
        prop_assert_eq!(idoms(n, &edges, root), petgraph_idoms(n, &edges, root));
    }
}
