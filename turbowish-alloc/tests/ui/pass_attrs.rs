//! `#[trace(skip)]` and `#[trace(opaque)]`, on struct and variant fields.

use std::any::Any;
use std::rc::Rc;
use std::sync::Arc;
use turbowish_alloc::Trace;

/// Implements neither `Trace` nor `Opaque`.
struct Foreign(#[allow(dead_code)] u64);

#[derive(Trace)]
struct Attrs {
    plain: String,
    #[trace(skip)]
    foreign: Foreign,
    #[trace(opaque)]
    any: Box<dyn Any>,
    #[trace(opaque)]
    any_send: Box<dyn Any + Send + Sync>,
    #[trace(opaque)]
    foreigners: Vec<Foreign>,
    #[trace(opaque)]
    shared: Arc<Foreign>,
    #[trace(opaque)]
    counted: Rc<Foreign>,
    #[trace(opaque)]
    text: String,
    #[trace(skip)]
    trailing_comma: Foreign,
}

#[derive(Trace)]
struct LeafButSkipped {
    #[trace(skip)]
    n: u32,
}

#[derive(Trace)]
enum Variants {
    Tuple(#[trace(skip)] Foreign, #[trace(opaque)] Box<dyn Any>),
    Named {
        #[trace(opaque)]
        boxed: Box<Foreign>,
        #[trace(skip)]
        foreign: Foreign,
    },
}

// Other attributes pass through.
#[derive(Trace, Debug, Clone, Default)]
#[allow(dead_code)]
struct Mixed {
    #[allow(dead_code)]
    #[trace(skip)]
    a: u8,
    #[doc = "documented"]
    b: u8,
}

fn main() {
    assert!(!<Attrs as Trace>::is_leaf());
    assert!(!<LeafButSkipped as Trace>::is_leaf());
    assert!(!<Variants as Trace>::is_leaf());
    assert!(!<Mixed as Trace>::is_leaf());

    let attrs = Attrs {
        plain: "plain".to_owned(),
        foreign: Foreign(1),
        any: Box::new(5u64),
        any_send: Box::new(6u64),
        foreigners: vec![Foreign(2)],
        shared: Arc::new(Foreign(3)),
        counted: Rc::new(Foreign(4)),
        text: "text".to_owned(),
        trailing_comma: Foreign(5),
    };
    let _ = turbowish_alloc::walk(&attrs);
    let _ = turbowish_alloc::walk(&LeafButSkipped { n: 1 });
    let _ = turbowish_alloc::walk(&Variants::Tuple(Foreign(1), Box::new(1u8)));
    let _ = turbowish_alloc::walk(&Variants::Named {
        boxed: Box::new(Foreign(1)),
        foreign: Foreign(2),
    });
    let _ = turbowish_alloc::walk(&Mixed::default().clone());
}
