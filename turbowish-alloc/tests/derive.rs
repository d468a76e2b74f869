//! What `#[derive(Trace)]` reports: exact edges of in-process walks over
//! values whose blocks are known.

#[global_allocator]
static A: turbowish_alloc::TurboWish = turbowish_alloc::TurboWish::system();

use std::any::{Any, type_name};
use std::sync::Arc;
use turbowish_alloc::{EdgeKind, Trace, Walk, walk};

/// An edge as a comparable tuple: (from, to, size, label, type name, kind,
/// counts).
type Edge = (
    Option<usize>,
    usize,
    usize,
    String,
    &'static str,
    EdgeKind,
    Option<(u64, u64)>,
);

fn edges(walk: &Walk) -> Vec<Edge> {
    walk.edges
        .iter()
        .map(|e| {
            (
                e.from,
                e.to,
                e.size,
                e.label.clone(),
                e.type_name,
                e.kind,
                e.counts,
            )
        })
        .collect()
}

fn typed(
    from: Option<usize>,
    to: usize,
    size: usize,
    label: &str,
    type_name: &'static str,
    counts: Option<(u64, u64)>,
) -> Edge {
    (
        from,
        to,
        size,
        label.to_owned(),
        type_name,
        EdgeKind::Typed,
        counts,
    )
}

fn addr<T: ?Sized>(ptr: *const T) -> usize {
    ptr.cast::<u8>() as usize
}

/// A walk that rejected nothing, met no lock and did not panic.
fn clean(walk: &Walk) {
    assert_eq!(walk.rejected, 0, "{walk:#?}");
    assert_eq!(walk.locked, 0, "{walk:#?}");
    assert!(walk.panics.is_empty(), "{walk:#?}");
}

#[derive(Trace)]
struct Inner {
    id: u32,
    boxed: Box<u64>,
}

#[derive(Trace)]
struct Holder {
    name: String,
    items: Vec<Inner>,
    big: Option<Box<[u8; 100]>>,
    none: Option<Box<u64>>,
    empty: Vec<Inner>,
}

fn holder() -> Holder {
    let mut name = String::with_capacity(16);
    name.push_str("hello");
    let mut items = Vec::with_capacity(8);
    for id in 0..3 {
        items.push(Inner {
            id,
            boxed: Box::new(u64::from(id) * 10),
        });
    }
    Holder {
        name,
        items,
        big: Some(Box::new([7; 100])),
        none: None,
        empty: Vec::new(),
    }
}

#[test]
fn struct_fields_vec_elements_and_option() {
    let h = holder();
    let w = walk(&h);
    clean(&w);

    let name = addr(h.name.as_ptr());
    let items = addr(h.items.as_ptr());
    let boxes: Vec<usize> = h.items.iter().map(|i| addr(&*i.boxed)).collect();
    let big = addr(&**h.big.as_ref().unwrap());
    assert_eq!(size_of::<Inner>(), 16);
    assert_eq!(h.items.iter().map(|i| i.id).collect::<Vec<_>>(), [0, 1, 2]);

    assert_eq!(
        edges(&w),
        vec![
            typed(None, name, 16, "name", "String", Some((5, 16))),
            typed(
                None,
                items,
                8 * 16,
                "items",
                type_name::<Vec<Inner>>(),
                Some((3, 8))
            ),
            // Inside the buffer the path starts again; elements are `[]`.
            typed(Some(items), boxes[0], 8, "[].boxed", "u64", None),
            typed(Some(items), boxes[1], 8, "[].boxed", "u64", None),
            typed(Some(items), boxes[2], 8, "[].boxed", "u64", None),
            typed(None, big, 100, "big.Some", "[u8; 100]", None),
        ]
    );
    // Blocks are complete in the order their walks end: inner ones first.
    // A String's text holds no pointers, so its buffer is complete too.
    assert_eq!(w.complete, [name, boxes[0], boxes[1], boxes[2], items, big]);
}

#[test]
fn nested_structs_join_labels_until_a_heap_hop() {
    #[derive(Trace)]
    struct Config {
        path: String,
    }
    #[derive(Trace)]
    struct Service {
        config: Config,
        boxed: Box<Config>,
    }
    let s = Service {
        config: Config {
            path: "/etc".to_owned(),
        },
        boxed: Box::new(Config {
            path: "/var".to_owned(),
        }),
    };
    let w = walk(&s);
    clean(&w);
    let boxed = addr(&*s.boxed);
    assert_eq!(
        edges(&w),
        vec![
            typed(
                None,
                addr(s.config.path.as_ptr()),
                4,
                "config.path",
                "String",
                Some((4, 4))
            ),
            typed(
                None,
                boxed,
                size_of::<Config>(),
                "boxed",
                type_name::<Config>(),
                None
            ),
            typed(
                Some(boxed),
                addr(s.boxed.path.as_ptr()),
                4,
                "path",
                "String",
                Some((4, 4))
            ),
        ]
    );
    assert_eq!(
        w.complete,
        [
            addr(s.config.path.as_ptr()),
            addr(s.boxed.path.as_ptr()),
            boxed
        ]
    );
}

#[test]
fn tuple_struct_labels_are_indices() {
    #[derive(Trace)]
    struct Pair(u8, Box<u32>, String);
    let p = Pair(1, Box::new(2), "abc".to_owned());
    let w = walk(&p);
    clean(&w);
    assert_eq!(
        edges(&w),
        vec![
            typed(None, addr(&*p.1), 4, "1", "u32", None),
            typed(None, addr(p.2.as_ptr()), 3, "2", "String", Some((3, 3))),
        ]
    );
    assert_eq!(p.0, 1);
}

#[test]
fn raw_identifiers_are_labelled_without_r_hash() {
    #[derive(Trace)]
    struct Keyword {
        r#type: Box<u16>,
    }
    let k = Keyword {
        r#type: Box::new(1),
    };
    let w = walk(&k);
    assert_eq!(
        edges(&w),
        vec![typed(None, addr(&*k.r#type), 2, "type", "u16", None)]
    );
}

#[derive(Trace)]
struct Payload {
    text: String,
}

#[derive(Trace)]
struct Shared {
    a: Arc<Payload>,
    b: Arc<Payload>,
}

#[test]
fn arc_reached_twice_gives_two_edges_but_is_walked_once() {
    let payload = Arc::new(Payload {
        text: "shared".to_owned(),
    });
    let s = Shared {
        a: Arc::clone(&payload),
        b: Arc::clone(&payload),
    };
    let w = walk(&s);
    clean(&w);
    // The block starts at the two counters before the value.
    let block = addr(Arc::as_ptr(&payload)) - 2 * size_of::<usize>();
    let size = 2 * size_of::<usize>() + size_of::<Payload>();
    let text = addr(payload.text.as_ptr());
    let arc = type_name::<Arc<Payload>>();
    assert_eq!(
        edges(&w),
        vec![
            typed(None, block, size, "a", arc, None),
            typed(Some(block), text, 6, "text", "String", Some((6, 6))),
            typed(None, block, size, "b", arc, None),
        ]
    );
    assert_eq!(w.complete, [text, block]);
}

#[derive(Trace)]
struct WithSkip {
    kept: Box<u32>,
    #[trace(skip)]
    hidden: Vec<u64>,
}

#[derive(Trace)]
struct WithoutSkip {
    kept: Box<u32>,
    shown: Vec<u64>,
}

#[test]
fn skipped_field_is_not_visited_and_its_holder_is_incomplete() {
    let skip = Box::new(WithSkip {
        kept: Box::new(1),
        hidden: vec![1, 2, 3],
    });
    let w = walk(&skip);
    clean(&w);
    let holder = addr(&*skip);
    let kept = addr(&*skip.kept);
    assert_eq!(
        edges(&w),
        vec![
            typed(
                None,
                holder,
                size_of::<WithSkip>(),
                "",
                type_name::<WithSkip>(),
                None
            ),
            typed(Some(holder), kept, 4, "kept", "u32", None),
        ]
    );
    assert!(!w.edges.iter().any(|e| e.to == addr(skip.hidden.as_ptr())));
    assert_eq!(
        w.complete,
        [kept],
        "the holder of a skipped field is incomplete"
    );

    // The same shape without the skip: the holder is complete.
    let full = Box::new(WithoutSkip {
        kept: Box::new(1),
        shown: vec![1, 2, 3],
    });
    let w = walk(&full);
    clean(&w);
    let holder = addr(&*full);
    let kept = addr(&*full.kept);
    let shown = addr(full.shown.as_ptr());
    assert_eq!(
        edges(&w),
        vec![
            typed(
                None,
                holder,
                size_of::<WithoutSkip>(),
                "",
                type_name::<WithoutSkip>(),
                None
            ),
            typed(Some(holder), kept, 4, "kept", "u32", None),
            typed(
                Some(holder),
                shown,
                24,
                "shown",
                type_name::<Vec<u64>>(),
                Some((3, 3))
            ),
        ]
    );
    assert_eq!(w.complete, [kept, shown, holder]);
}

#[derive(Trace)]
enum State {
    Idle,
    Named {
        label: String,
        #[trace(skip)]
        _scratch: Vec<u8>,
    },
    Pair(Box<u32>, Box<u8>),
}

#[test]
fn enum_variants_are_labelled_with_their_name() {
    let idle = walk(&State::Idle);
    clean(&idle);
    assert!(idle.edges.is_empty());
    assert!(idle.complete.is_empty());

    let named = State::Named {
        label: "ab".to_owned(),
        _scratch: vec![9; 5],
    };
    let State::Named { label, _scratch } = &named else {
        unreachable!()
    };
    let w = walk(&named);
    clean(&w);
    assert_eq!(
        edges(&w),
        vec![typed(
            None,
            addr(label.as_ptr()),
            2,
            "Named.label",
            "String",
            Some((2, 2))
        )]
    );

    let pair = State::Pair(Box::new(1), Box::new(2));
    let State::Pair(a, b) = &pair else {
        unreachable!()
    };
    let w = walk(&pair);
    clean(&w);
    assert_eq!(
        edges(&w),
        vec![
            typed(None, addr(&**a), 4, "Pair.0", "u32", None),
            typed(None, addr(&**b), 1, "Pair.1", "u8", None),
        ]
    );
    assert_eq!(w.complete, [addr(&**a), addr(&**b)]);
}

#[test]
fn enum_in_a_vec_and_a_skipped_variant_field_leaves_the_buffer_incomplete() {
    let states = vec![
        State::Idle,
        State::Pair(Box::new(3), Box::new(4)),
        State::Named {
            label: "x".to_owned(),
            _scratch: Vec::new(),
        },
    ];
    let w = walk(&states);
    clean(&w);
    let buffer = addr(states.as_ptr());
    let (State::Pair(a, b), State::Named { label, .. }) = (&states[1], &states[2]) else {
        unreachable!()
    };
    assert_eq!(
        edges(&w),
        vec![
            typed(
                None,
                buffer,
                3 * size_of::<State>(),
                "",
                type_name::<Vec<State>>(),
                Some((3, 3))
            ),
            typed(Some(buffer), addr(&**a), 4, "[].Pair.0", "u32", None),
            typed(Some(buffer), addr(&**b), 1, "[].Pair.1", "u8", None),
            typed(
                Some(buffer),
                addr(label.as_ptr()),
                1,
                "[].Named.label",
                "String",
                Some((1, 1))
            ),
        ]
    );
    // `Named` has a skipped field: the buffer holding it is incomplete.
    assert_eq!(w.complete, [addr(&**a), addr(&**b), addr(label.as_ptr())]);
}

/// Implements neither `Trace` nor `Opaque`.
struct Foreign {
    _ptr: Box<u64>,
}

#[derive(Trace)]
struct WithOpaque {
    #[trace(opaque)]
    any: Box<dyn Any>,
    #[trace(opaque)]
    foreign: Vec<Foreign>,
}

#[test]
fn opaque_fields_report_their_block_without_looking_inside() {
    let holder = Box::new(WithOpaque {
        any: Box::new(Box::new(5u64)),
        foreign: {
            let mut v = Vec::with_capacity(2);
            v.push(Foreign { _ptr: Box::new(6) });
            v
        },
    });
    let w = walk(&holder);
    clean(&w);
    let outer = addr(&*holder);
    let any = addr(&*holder.any);
    let foreign = addr(holder.foreign.as_ptr());
    assert_eq!(
        edges(&w),
        vec![
            typed(
                None,
                outer,
                size_of::<WithOpaque>(),
                "",
                type_name::<WithOpaque>(),
                None
            ),
            // Only the blocks the fields own; not the `Box<u64>` inside the
            // `dyn Any`, nor the one inside the `Foreign` element.
            typed(
                Some(outer),
                any,
                size_of::<Box<u64>>(),
                "any",
                "dyn core::any::Any",
                None
            ),
            typed(
                Some(outer),
                foreign,
                2 * size_of::<Foreign>(),
                "foreign",
                type_name::<Vec<Foreign>>(),
                Some((1, 2))
            ),
        ]
    );
    // Opaque blocks are never complete: the conservative scan keeps their
    // edges. Their holder reported every pointer it has, so it is complete.
    assert_eq!(w.complete, [outer]);
}

#[test]
fn is_leaf_follows_the_fields() {
    #[derive(Trace)]
    struct Point {
        x: u32,
        y: f64,
    }
    #[derive(Trace)]
    struct Unit;
    #[derive(Trace)]
    struct Tagged(u8, Point, [Point; 2]);
    #[derive(Trace)]
    enum Dir {
        North,
        South,
    }
    #[derive(Trace)]
    enum Shape {
        Dot(Point),
        Line { from: Point, to: Point },
        Nothing,
    }
    #[derive(Trace)]
    enum Never {}
    #[derive(Trace)]
    struct SkippedLeaf {
        #[trace(skip)]
        n: u32,
    }
    #[derive(Trace)]
    struct Generic<T> {
        t: T,
        n: u8,
    }
    #[derive(Trace)]
    struct Borrow<'a> {
        s: &'a str,
    }

    assert!(Point::is_leaf());
    assert!(Unit::is_leaf());
    assert!(Tagged::is_leaf());
    assert!(Dir::is_leaf());
    assert!(Shape::is_leaf());
    assert!(Never::is_leaf());
    // A borrow owns nothing, but may point into the heap: its bytes are
    // scanned, so a type holding one is not a leaf.
    assert!(!Borrow::is_leaf());
    assert!(Generic::<Point>::is_leaf());
    assert!(Generic::<Option<u8>>::is_leaf());
    assert!(!Generic::<String>::is_leaf());
    assert!(!Generic::<Option<Box<u8>>>::is_leaf());
    assert!(!SkippedLeaf::is_leaf());
    assert_eq!(SkippedLeaf { n: 7 }.n, 7);
    assert!(!WithOpaque::is_leaf());
    assert!(!Inner::is_leaf());
    assert!(!State::is_leaf());

    // A leaf's elements are not visited: the buffer is the only edge, and it
    // is complete.
    let points = vec![Point { x: 1, y: 2.0 }, Point { x: 3, y: 4.0 }];
    let w = walk(&points);
    clean(&w);
    assert_eq!(w.edges.len(), 1);
    assert_eq!(w.complete, [addr(points.as_ptr())]);
    assert_eq!(points[1].x + points[0].y as u32, 5);
    let _ = (
        Dir::North,
        Dir::South,
        Shape::Dot(Point { x: 0, y: 0.0 }),
        Shape::Line {
            from: Point { x: 0, y: 0.0 },
            to: Point { x: 0, y: 0.0 },
        },
        Shape::Nothing,
    );
}
