//! [`Trace`] and [`Opaque`] for std types.

use super::{Heap, Opaque, Trace, Tracer};
use core::alloc::Layout;
use core::any::type_name;
use core::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::rc::Rc;
use std::sync::{Arc, Mutex, RwLock};

macro_rules! leaf {
    ($($t:ty),* $(,)?) => {$(
        impl Trace for $t {
            #[inline]
            fn trace(&self, _: &mut Tracer<'_>) {}
            #[inline]
            fn is_leaf() -> bool { true }
        }
    )*};
}

leaf!(
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    bool,
    char,
    (),
    core::num::NonZeroU8,
    core::num::NonZeroU16,
    core::num::NonZeroU32,
    core::num::NonZeroU64,
    core::num::NonZeroUsize,
    core::time::Duration,
    std::time::Instant,
    std::time::SystemTime,
    core::sync::atomic::AtomicBool,
    core::sync::atomic::AtomicU32,
    core::sync::atomic::AtomicU64,
    core::sync::atomic::AtomicUsize,
    core::sync::atomic::AtomicI64,
    std::net::SocketAddr,
    std::net::IpAddr,
);

impl Trace for str {
    fn trace(&self, _: &mut Tracer<'_>) {}
}

impl<T: ?Sized> Trace for core::marker::PhantomData<T> {
    fn trace(&self, _: &mut Tracer<'_>) {}
    fn is_leaf() -> bool {
        true
    }
}

impl<T: ?Sized> Trace for &T {
    /// A borrow owns nothing, but it may point into the heap (a leaked box,
    /// an arena): its bytes are scanned, so the edge is kept, unlabelled by
    /// type.
    fn trace(&self, tracer: &mut Tracer<'_>) {
        tracer.scan(self);
    }
}

impl Trace for String {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        if let Some(block) = Opaque::heap_block(self) {
            // Text holds no pointers: the buffer is walked, and complete.
            tracer.heap(block, |_| {});
        }
    }
}

impl Opaque for String {
    fn heap_block(&self) -> Option<Heap> {
        Some(
            Heap::block(self.as_ptr(), self.capacity())
                .named("String")
                .counts(self.len(), self.capacity()),
        )
    }
}

impl<T: ?Sized + Trace> Trace for Box<T> {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        let block = Opaque::heap_block(self);
        if let Some(block) = block {
            tracer.heap(block, |t| (**self).trace(t));
        } else {
            (**self).trace(tracer); // zero-sized: nothing on the heap
        }
    }
}

impl<T: ?Sized> Opaque for Box<T> {
    fn heap_block(&self) -> Option<Heap> {
        let bytes = size_of_val::<T>(self);
        (bytes > 0).then(|| Heap::block(&**self as *const T, bytes).named(type_name::<T>()))
    }
}

/// Element edges of a slice that lives in a block already entered.
fn elements<T: Trace>(tracer: &mut Tracer<'_>, items: &[T]) {
    if !T::is_leaf() {
        for item in items {
            tracer.field("[]", item);
        }
    }
}

impl<T: Trace> Trace for Vec<T> {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        match Opaque::heap_block(self) {
            Some(block) => tracer.heap(block, |t| elements(t, self)),
            None => elements(tracer, self), // zero-sized elements
        }
    }
}

impl<T> Opaque for Vec<T> {
    fn heap_block(&self) -> Option<Heap> {
        let bytes = self.capacity() * size_of::<T>();
        (bytes > 0).then(|| {
            Heap::block(self.as_ptr(), bytes)
                .named(type_name::<Self>())
                .counts(self.len(), self.capacity())
        })
    }
}

impl<T: Trace> Trace for VecDeque<T> {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        // The buffer's start is private; any element lies inside it.
        let Some(first) = self.iter().next() else {
            return; // an empty deque's buffer holds nothing to follow
        };
        let block = Heap::containing(first)
            .named(type_name::<Self>())
            .counts(self.len(), self.capacity());
        tracer.heap(block, |t| {
            let (a, b) = self.as_slices();
            elements(t, a);
            elements(t, b);
        });
    }
}

/// A hash table's entries, which all live in one private block: the block
/// is found through the address of the first entry.
fn table<'a, K: Trace + 'a, V: Trace + 'a>(
    tracer: &mut Tracer<'_>,
    block: Heap,
    mut items: impl Iterator<Item = (&'a K, Option<&'a V>)>,
) {
    let Some(first) = items.next() else {
        return; // empty: no entry to find the table by, and nothing to follow
    };
    let block = Heap::containing(first.0)
        .named(block.type_name)
        .with_counts(block.counts);
    tracer.heap(block, |t| {
        if !(K::is_leaf() && V::is_leaf()) {
            for (k, v) in core::iter::once(first).chain(items) {
                entry(t, k, v);
            }
        }
    });
}

fn entry<K: Trace, V: Trace>(tracer: &mut Tracer<'_>, k: &K, v: Option<&V>) {
    tracer.field("[].key", k);
    if let Some(v) = v {
        tracer.field("[].value", v);
    }
}

/// A B-tree's entries, spread over many private node blocks: entries are
/// grouped by the node they live in, and each node is walked once with its
/// own entries, so every edge starts at the node that really holds it.
fn tree<'a, K: Trace + 'a, V: Trace + 'a>(
    tracer: &mut Tracer<'_>,
    name: &'static str,
    len: usize,
    items: impl Iterator<Item = (&'a K, Option<&'a V>)>,
) {
    let mut groups: Vec<Vec<(&K, Option<&V>)>> = Vec::new();
    let mut by_node = std::collections::HashMap::new();
    for (k, v) in items {
        let node = tracer.block_of(k as *const K as usize);
        let i = *by_node.entry(node).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[i].push((k, v));
    }
    let leaf = K::is_leaf() && V::is_leaf();
    for (i, group) in groups.iter().enumerate() {
        let block = Heap::containing(group[0].0).named(name);
        let block = if i == 0 {
            block.counts(len, len)
        } else {
            block
        };
        tracer.heap(block, |t| {
            if !leaf {
                for &(k, v) in group {
                    entry(t, k, v);
                }
            }
        });
    }
}

impl<K: Trace, V: Trace, S> Trace for HashMap<K, V, S> {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        let block = Heap::block(self, 0)
            .named(type_name::<Self>())
            .counts(self.len(), self.capacity());
        table(tracer, block, self.iter().map(|(k, v)| (k, Some(v))));
    }
}

impl<K: Trace, S> Trace for HashSet<K, S> {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        let block = Heap::block(self, 0)
            .named(type_name::<Self>())
            .counts(self.len(), self.capacity());
        table(tracer, block, self.iter().map(|k| (k, None::<&()>)));
    }
}

impl<K: Trace, V: Trace> Trace for BTreeMap<K, V> {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        let items = self.iter().map(|(k, v)| (k, Some(v)));
        tree(tracer, type_name::<Self>(), self.len(), items);
    }
}

impl<K: Trace> Trace for BTreeSet<K> {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        let items = self.iter().map(|k| (k, None::<&()>));
        tree(tracer, type_name::<Self>(), self.len(), items);
    }
}

impl<T: Trace> Trace for Option<T> {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        if let Some(v) = self {
            tracer.field("Some", v);
        }
    }
    fn is_leaf() -> bool {
        T::is_leaf()
    }
}

impl<T: Trace, E: Trace> Trace for Result<T, E> {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        match self {
            Ok(v) => tracer.field("Ok", v),
            Err(e) => tracer.field("Err", e),
        }
    }
    fn is_leaf() -> bool {
        T::is_leaf() && E::is_leaf()
    }
}

impl<T: Trace, const N: usize> Trace for [T; N] {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        elements(tracer, self);
    }
    fn is_leaf() -> bool {
        T::is_leaf()
    }
}

impl<T: Trace> Trace for [T] {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        elements(tracer, self);
    }
}

macro_rules! tuple {
    ($(($($n:tt $t:ident),+)),* $(,)?) => {$(
        impl<$($t: Trace),+> Trace for ($($t,)+) {
            fn trace(&self, tracer: &mut Tracer<'_>) {
                $(tracer.field(stringify!($n), &self.$n);)+
            }
            fn is_leaf() -> bool {
                true $(&& $t::is_leaf())+
            }
        }
    )*};
}

tuple!(
    (0 A),
    (0 A, 1 B),
    (0 A, 1 B, 2 C),
    (0 A, 1 B, 2 C, 3 D),
    (0 A, 1 B, 2 C, 3 D, 4 E),
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F),
);

/// Where an `Arc`'s or `Rc`'s allocation starts, and its size: std lays both
/// out as two counters followed by the value (`#[repr(C)]`).
fn counted_block<T: ?Sized>(value: &T) -> Option<(usize, usize)> {
    let (layout, offset) = Layout::new::<[usize; 2]>()
        .extend(Layout::for_value(value))
        .ok()?;
    let start = (value as *const T).cast::<u8>() as usize - offset;
    Some((start, layout.pad_to_align().size()))
}

macro_rules! counted {
    ($($ptr:ident),*) => {$(
        impl<T: ?Sized + Trace> Trace for $ptr<T> {
            fn trace(&self, tracer: &mut Tracer<'_>) {
                if let Some(block) = Opaque::heap_block(self) {
                    tracer.heap(block, |t| (**self).trace(t));
                }
            }
        }

        impl<T: ?Sized> Opaque for $ptr<T> {
            fn heap_block(&self) -> Option<Heap> {
                let (start, bytes) = counted_block::<T>(self)?;
                Some(Heap::block(start as *const u8, bytes).named(type_name::<Self>()).shared())
            }
        }
    )*};
}

counted!(Arc, Rc);

/// Traces what a lock guard gives access to, then lets the guard go with
/// [`Tracer::release`], also when an impl panics: dropped while unwinding,
/// the guard would poison the user's lock in-process, or release a tokio
/// lock in the capture child (trace rule 3).
pub(crate) fn under_guard<G: core::ops::Deref>(
    tracer: &mut Tracer<'_>,
    label: &'static str,
    guard: G,
) where
    G::Target: Trace,
{
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tracer.field(label, &*guard)
    }));
    tracer.release(guard);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

impl<T: ?Sized + Trace> Trace for Mutex<T> {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        match self.try_lock() {
            Ok(guard) => under_guard(tracer, "lock", guard),
            Err(std::sync::TryLockError::Poisoned(p)) => {
                under_guard(tracer, "lock", p.into_inner())
            }
            Err(std::sync::TryLockError::WouldBlock) => tracer.locked(self),
        }
    }
}

impl<T: ?Sized + Trace> Trace for RwLock<T> {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        match self.try_read() {
            Ok(guard) => under_guard(tracer, "lock", guard),
            Err(std::sync::TryLockError::Poisoned(p)) => {
                under_guard(tracer, "lock", p.into_inner())
            }
            Err(std::sync::TryLockError::WouldBlock) => tracer.locked(self),
        }
    }
}

impl<T: ?Sized + Trace> Trace for RefCell<T> {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        match self.try_borrow() {
            Ok(v) => under_guard(tracer, "borrow", v),
            Err(_) => tracer.locked(self),
        }
    }
}

impl<T: Copy> Trace for Cell<T> {
    /// A `Copy` value can still be a pointer (`Cell<*mut T>`): its bytes are
    /// scanned, so the walk never hides an edge the scan would find.
    fn trace(&self, tracer: &mut Tracer<'_>) {
        tracer.scan(self);
    }
}

impl<T: ?Sized + Trace> Trace for std::pin::Pin<Box<T>> {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        let inner: &T = self;
        let bytes = size_of_val(inner);
        if bytes > 0 {
            let block = Heap::block(inner as *const T, bytes).named(type_name::<T>());
            tracer.heap(block, |t| inner.trace(t));
        }
    }
}

/// Trait objects whose concrete type a walk cannot know: their block is
/// counted (through the `Box` or `Arc` holding them) and the contents are
/// left to the conservative scan.
macro_rules! opaque_dyn {
    ($($t:ty),* $(,)?) => {$(
        impl Trace for $t {
            fn trace(&self, tracer: &mut Tracer<'_>) {
                tracer.skip();
            }
        }
    )*};
}

opaque_dyn!(
    dyn core::any::Any,
    dyn core::any::Any + Send,
    dyn core::any::Any + Send + Sync,
    dyn std::error::Error,
    dyn std::error::Error + Send + Sync,
    dyn Fn() + Send + Sync,
    dyn FnMut() + Send,
    dyn FnOnce() + Send,
);

impl<O> Trace for dyn core::future::Future<Output = O> + Send {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        tracer.skip();
    }
}

impl<T: ?Sized + Trace> Trace for std::borrow::Cow<'_, T>
where
    T: ToOwned,
    T::Owned: Trace,
{
    fn trace(&self, tracer: &mut Tracer<'_>) {
        if let std::borrow::Cow::Owned(v) = self {
            v.trace(tracer);
        }
    }
}
