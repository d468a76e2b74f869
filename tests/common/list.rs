//! A linked list a static holds: in a test process, one top block that
//! retains every node and buffer, with figures known in advance.

use std::sync::Mutex;

/// Bytes in each node's buffer.
pub const NODE_BUFFER: usize = 1000;

/// A list node: a buffer and the rest of the list.
pub struct Node {
    buf: Vec<u8>,
    next: Option<Box<Node>>,
}

/// The bytes one node retains: itself and its buffer.
pub const NODE_BYTES: usize = size_of::<Node>() + NODE_BUFFER;

/// The list, for the rest of the process.
pub static LIST: Mutex<Option<Box<Node>>> = Mutex::new(None);

/// Builds a list of `nodes` nodes into [`LIST`] (its allocation site).
#[inline(never)]
pub fn make_list(nodes: usize) {
    let mut head = None;
    for i in 0..nodes {
        let buf = std::hint::black_box(vec![i as u8; NODE_BUFFER]);
        head = Some(Box::new(Node { buf, next: head }));
    }
    *LIST.lock().unwrap() = head;
}

/// The bytes in the list's buffers, read through the list.
pub fn list_bytes() -> usize {
    let list = LIST.lock().unwrap();
    let (mut at, mut bytes) = (list.as_deref(), 0);
    while let Some(node) = at {
        bytes += node.buf.len();
        at = node.next.as_deref();
    }
    bytes
}
