//! Immediate dominators of a directed graph, for graphs of millions of nodes.
//!
//! A node `d` *dominates* `v` when every path from the root to `v` passes
//! through `d`; the *immediate* dominator of `v` is its closest strict
//! dominator. In a heap graph the immediate dominator of a block is the one
//! block whose release would make it unreachable, which is what retained sizes
//! are built from.
//!
//! # Algorithm
//!
//! [`dominators`] is the Lengauer–Tarjan algorithm in its "simple" form (path
//! compression without balancing), written without recursion:
//!
//! 1. **Depth-first search** from the root numbers the reachable nodes in
//!    preorder. The DFS stack is implicit: the path back from the current
//!    node is the chain of DFS-tree parents, which the algorithm keeps anyway,
//!    and the position in each node's successor list is kept in an array that
//!    is reused afterwards. A linked list of a million nodes costs no stack.
//! 2. **Predecessors.** Only edges that go *backwards* in preorder (to a node
//!    numbered lower than their source) are stored, as a reverse CSR in
//!    preorder numbering. A forward edge `v -> w` can only offer `v` itself
//!    as a semidominator candidate, so those are folded into the initial
//!    semidominator of `w` while counting, and never stored.
//! 3. **Semidominators** in reverse preorder, with the classic `eval` over a
//!    forest linked in reverse preorder. Since vertices are linked exactly in
//!    that order, "is linked" is "is numbered above the vertex being
//!    processed", and the forest's links are the DFS parents themselves: no
//!    separate link step. Path compression in `eval` is iterative by pointer
//!    reversal (the compressed path is threaded through the `ancestor` array
//!    on the way up and restored on the way down), so it uses no stack either.
//! 4. **Immediate dominators** from the buckets (each a linked list threaded
//!    through one array) and a final pass in preorder.
//!
//! The semi-NCA variant is often slightly faster, but its NCA step can be
//! quadratic (a deep list whose tail points at many nodes also held near the
//! root), which real heaps can come close to; this variant cannot.
//!
//! # Complexity
//!
//! Time `O(m log_(2+m/n) n)` for `n` reachable nodes and `m` edges (path
//! compression alone), close to linear in practice: three passes over the
//! edges (DFS, counting, filling the reverse CSR) and one over the stored
//! backward edges.
//!
//! # Memory
//!
//! Besides the result (one `u32` per node, which doubles as the
//! node-to-preorder map during the run), five `u32` arrays of one entry per
//! node (DFS parent / forest ancestor, DFS cursor / semidominator, preorder
//! vertex / eval label, bucket link / dominator, reverse-CSR offsets) and one
//! `u32` per *backward* edge (one going to a node earlier in preorder): at
//! most `20 n + 4 m` bytes on top of the graph and the result, about 25 bytes
//! per node on heap-like graphs of 3 edges per node (`benches/dominators.rs`
//! measures it). Nothing is recursive; no allocation depends on the graph's
//! depth.

/// A directed graph in compressed sparse row form: the successors of node
/// `v` are `targets[offsets[v] as usize .. offsets[v + 1] as usize]`.
///
/// A graph of `n` nodes has `n + 1` offsets (the first 0, the last
/// `targets.len()`, never decreasing) and every target below `n`.
/// [`Csr::default`] is the graph of no nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Csr {
    /// Where each node's successors start in [`Csr::targets`], plus one final
    /// entry: the number of edges.
    pub offsets: Vec<u32>,
    /// The successors of every node, node by node.
    pub targets: Vec<u32>,
}

impl Csr {
    /// The graph of `nodes` nodes (numbered `0..nodes`) and the given edges
    /// `(from, to)`, in any order; duplicate edges and self loops are kept.
    /// Each node's successors keep the order the edges came in.
    ///
    /// A counting sort: two passes over the edges, which are first collected
    /// (8 bytes per edge, freed before returning).
    ///
    /// # Panics
    ///
    /// If an edge names a node `>= nodes`, if `nodes >= u32::MAX` (which is
    /// [`UNREACHABLE`]), or if there are more than `u32::MAX` edges.
    pub fn from_edges(nodes: usize, edges: impl IntoIterator<Item = (u32, u32)>) -> Csr {
        assert!(
            nodes < UNREACHABLE as usize,
            "Csr::from_edges: {nodes} nodes is too many (at most u32::MAX - 1)"
        );
        let edges: Vec<(u32, u32)> = edges.into_iter().collect();
        assert!(
            u32::try_from(edges.len()).is_ok(),
            "Csr::from_edges: {} edges is too many (at most u32::MAX)",
            edges.len()
        );
        // offsets[v + 1] counts v's edges; the prefix sum then makes
        // offsets[v] the start of v's range.
        let mut offsets = vec![0u32; nodes + 1];
        for &(from, to) in &edges {
            assert!(
                (from as usize) < nodes && (to as usize) < nodes,
                "Csr::from_edges: edge ({from}, {to}) out of range for {nodes} nodes"
            );
            offsets[from as usize + 1] += 1;
        }
        for v in 0..nodes {
            offsets[v + 1] += offsets[v];
        }
        // Fill, with offsets[v] as v's write cursor: it ends at the end of
        // v's range, so shifting the array right by one restores the starts.
        let mut targets = vec![0u32; edges.len()];
        for &(from, to) in &edges {
            let cursor = &mut offsets[from as usize];
            targets[*cursor as usize] = to;
            *cursor += 1;
        }
        drop(edges);
        offsets.rotate_right(1);
        offsets[0] = 0;
        Csr { offsets, targets }
    }

    /// The number of nodes.
    pub fn nodes(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// The successors of node `v`, in order (with any duplicates).
    ///
    /// # Panics
    ///
    /// If `v` is not a node of the graph.
    pub fn successors(&self, v: u32) -> &[u32] {
        let v = v as usize;
        &self.targets[self.offsets[v] as usize..self.offsets[v + 1] as usize]
    }
}

/// The value of [`dominators`]' result for a node not reachable from the
/// root: `u32::MAX`, which is never a node.
pub const UNREACHABLE: u32 = u32::MAX;

/// "No vertex": the end of a bucket list, and of a reversed compression path.
const NIL: u32 = u32::MAX;

/// Immediate dominators of every node reachable from `root`: `idom[root] ==
/// root`, `idom[v] == UNREACHABLE` for nodes not reachable from `root`.
///
/// The result has one entry per node of `graph`. Edges into the root, self
/// loops and duplicate edges are allowed and change nothing. See the
/// [module documentation](self) for the algorithm, its cost and its memory.
///
/// ```
/// use turbowish_snap::analysis::dominators::{Csr, UNREACHABLE, dominators};
///
/// // 0 -> 1 -> 3, 0 -> 2 -> 3: a diamond; node 4 is unreachable.
/// let g = Csr::from_edges(5, [(0, 1), (0, 2), (1, 3), (2, 3), (4, 0)]);
/// assert_eq!(dominators(&g, 0), [0, 0, 0, 0, UNREACHABLE]);
/// ```
///
/// # Panics
///
/// If `root` is not a node of `graph`. A malformed graph (see [`Csr`]) may
/// panic or give a meaningless result, but is never undefined behaviour.
pub fn dominators(graph: &Csr, root: u32) -> Vec<u32> {
    let n = graph.nodes();
    assert!(
        (root as usize) < n,
        "dominators: root {root} is not a node of a graph of {n} nodes"
    );
    assert!(n < UNREACHABLE as usize, "dominators: too many nodes");
    let offsets = &graph.offsets[..];
    let targets = &graph.targets[..];

    // --- 1. Depth-first search, numbering reachable nodes in preorder. ---
    // `pre[node]`: the node's preorder number (later: the result).
    // `vertex[i]`: the node numbered `i`.
    // `parent[i]`: DFS-tree parent of `i` (preorder numbers); the DFS stack.
    // `cursor[i]`: the next successor edge of `vertex[i]` to explore.
    let mut pre = vec![UNREACHABLE; n];
    let mut vertex: Vec<u32> = Vec::with_capacity(n);
    let mut parent: Vec<u32> = Vec::with_capacity(n);
    let mut cursor: Vec<u32> = Vec::with_capacity(n);
    pre[root as usize] = 0;
    vertex.push(root);
    parent.push(0);
    cursor.push(offsets[root as usize]);
    let mut current = 0usize;
    'dfs: loop {
        let end = offsets[vertex[current] as usize + 1];
        let mut edge = cursor[current];
        while edge < end {
            let target = targets[edge as usize];
            edge += 1;
            if pre[target as usize] == UNREACHABLE {
                cursor[current] = edge;
                let number = vertex.len() as u32;
                pre[target as usize] = number;
                vertex.push(target);
                parent.push(current as u32);
                cursor.push(offsets[target as usize]);
                current = number as usize;
                continue 'dfs;
            }
        }
        if current == 0 {
            break;
        }
        current = parent[current] as usize;
    }
    let reachable = vertex.len();

    // --- 2. Backward edges as a reverse CSR in preorder numbering. ---
    // `semi[w]` starts as the lowest-numbered forward predecessor of `w`
    // (its DFS parent is one); backward predecessors go to `preds`.
    let mut semi = cursor;
    semi.copy_from_slice(&parent);
    let mut pred_offsets = vec![0u32; reachable + 1];
    for (from, &i) in pre.iter().enumerate() {
        if i == UNREACHABLE {
            continue;
        }
        for &to in &targets[offsets[from] as usize..offsets[from + 1] as usize] {
            let j = pre[to as usize];
            if i < j {
                let s = &mut semi[j as usize];
                *s = (*s).min(i);
            } else if i > j {
                pred_offsets[j as usize] += 1;
            }
        }
    }
    // Prefix sums to range ends; filling then moves each back to its start.
    let mut total = 0u32;
    for entry in &mut pred_offsets {
        total += *entry;
        *entry = total;
    }
    let mut preds = vec![0u32; total as usize];
    for (from, &i) in pre.iter().enumerate() {
        if i == UNREACHABLE {
            continue;
        }
        for &to in &targets[offsets[from] as usize..offsets[from + 1] as usize] {
            let j = pre[to as usize];
            if i > j {
                let slot = &mut pred_offsets[j as usize];
                *slot -= 1;
                preds[*slot as usize] = i;
            }
        }
    }

    // --- 3 and 4. Semidominators, buckets, dominators. ---
    // `ancestor`: the forest, over the DFS parents (vertex `v` is linked once
    // processed, i.e. while processing `w < v`), compressed by `eval`.
    // `label[v]`: the vertex of least semidominator on v's compressed path.
    // `bucket[i]`: for `i` not yet processed, the first vertex whose
    // semidominator is `i`; for processed `i`, the next vertex in i's
    // bucket, then (once its bucket is done) i's dominator, as in
    // Lengauer–Tarjan's `dom` (the semidominator or a vertex to copy from).
    let mut ancestor = parent;
    let mut label = vertex;
    for (i, l) in label.iter_mut().enumerate() {
        *l = i as u32;
    }
    let mut bucket = vec![NIL; reachable];
    for w in (0..reachable as u32).rev() {
        // Every vertex `v` with semi[v] == w: all of them were linked.
        let mut v = bucket[w as usize];
        while v != NIL {
            let next = bucket[v as usize];
            let u = eval(&mut ancestor, &mut label, &semi, v, w);
            bucket[v as usize] = if semi[u as usize] < w { u } else { w };
            v = next;
        }
        if w == 0 {
            break;
        }
        let range = pred_offsets[w as usize] as usize..pred_offsets[w as usize + 1] as usize;
        let mut s = semi[w as usize];
        for &v in &preds[range] {
            let u = eval(&mut ancestor, &mut label, &semi, v, w);
            s = s.min(semi[u as usize]);
        }
        semi[w as usize] = s;
        bucket[w as usize] = bucket[s as usize];
        bucket[s as usize] = w;
    }
    drop(preds);
    drop(pred_offsets);
    drop(ancestor);
    let mut idom = bucket;
    idom[0] = 0;
    for w in 1..reachable {
        let d = idom[w];
        if d != semi[w] {
            idom[w] = idom[d as usize];
        }
    }
    drop(semi);

    // Back to node numbering, in place in `pre`.
    let mut vertex = label;
    for (node, &i) in pre.iter().enumerate() {
        if i != UNREACHABLE {
            vertex[i as usize] = node as u32;
        }
    }
    for entry in &mut pre {
        if *entry != UNREACHABLE {
            *entry = vertex[idom[*entry as usize] as usize];
        }
    }
    pre
}

/// Lengauer–Tarjan's `eval(v)` while processing vertex `w`, for a linked
/// `v > w`: the vertex of least semidominator on the forest path from `v` up
/// to (not including) the root of its tree, compressing that path.
///
/// Iterative: the path is walked up with its `ancestor` links reversed into
/// a chain back down to `v`, then walked down, propagating labels from the
/// top and pointing every vertex at the root.
#[inline]
fn eval(ancestor: &mut [u32], label: &mut [u32], semi: &[u32], v: u32, w: u32) -> u32 {
    debug_assert!(v > w);
    let mut x = v;
    let mut up = ancestor[x as usize];
    if up <= w {
        return label[v as usize];
    }
    // Walk up while `x`'s ancestor is itself linked, reversing the links.
    let mut below = NIL;
    loop {
        ancestor[x as usize] = below;
        below = x;
        x = up;
        up = ancestor[x as usize];
        if up <= w {
            break;
        }
    }
    // `x` hangs directly off the root `up`; walk back down to `v`.
    let root = up;
    let mut top_label = label[x as usize];
    let mut y = below;
    while y != NIL {
        let next = ancestor[y as usize];
        let l = &mut label[y as usize];
        if semi[top_label as usize] < semi[*l as usize] {
            *l = top_label;
        }
        top_label = *l;
        ancestor[y as usize] = root;
        y = next;
    }
    label[v as usize]
}
