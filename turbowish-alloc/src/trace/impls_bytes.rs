//! [`Trace`] for `bytes::Bytes` and `bytes::BytesMut` (feature `bytes`).
//!
//! Both are views into storage whose start is private, and which may be
//! shared between views: the block is found by containment and visited once.
//! A `Bytes` over static memory reaches no heap block and reports nothing.

use super::{Heap, Trace, Tracer};
use bytes::{Bytes, BytesMut};

impl Trace for Bytes {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        if !self.is_empty() {
            let block = Heap::containing(self.as_ptr()).named("Bytes").shared();
            tracer.heap(block, |_| {});
        }
    }
}

impl Trace for BytesMut {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        if self.capacity() > 0 {
            let block = Heap::containing(self.as_ptr())
                .named("BytesMut")
                .shared()
                .counts(self.len(), self.capacity());
            tracer.heap(block, |_| {});
        }
    }
}
