//! Every struct and enum shape, and field names that could clash with the
//! generated code.

use turbowish_alloc::Trace;

#[derive(Trace)]
struct Unit;

#[derive(Trace)]
struct Empty {}

#[derive(Trace)]
struct Tuple(String, u32);

#[derive(Trace)]
struct Named {
    r#type: String,
    tracer: Vec<u8>,
    __tracer: u8,
    __field0: u8,
    t: u8,
}

#[derive(Trace)]
enum Shapes {
    Unit,
    Tuple(Box<u8>, u32),
    Named { tracer: String, __tracer: u8 },
    Empty {},
}

#[derive(Trace)]
enum Flags {
    A,
    B,
}

#[derive(Trace)]
enum Never {}

fn main() {
    assert!(<Unit as Trace>::is_leaf());
    assert!(<Empty as Trace>::is_leaf());
    assert!(!<Tuple as Trace>::is_leaf());
    assert!(!<Named as Trace>::is_leaf());
    assert!(!<Shapes as Trace>::is_leaf());
    assert!(<Flags as Trace>::is_leaf());
    assert!(<Never as Trace>::is_leaf());

    let _ = turbowish_alloc::walk(&Unit);
    let _ = turbowish_alloc::walk(&Tuple(String::new(), 1));
    let named = Named {
        r#type: String::new(),
        tracer: Vec::new(),
        __tracer: 0,
        __field0: 0,
        t: 0,
    };
    let _ = turbowish_alloc::walk(&named);
    for value in [
        Shapes::Unit,
        Shapes::Tuple(Box::new(1), 2),
        Shapes::Named {
            tracer: String::new(),
            __tracer: 0,
        },
        Shapes::Empty {},
    ] {
        let _ = turbowish_alloc::walk(&value);
    }
    let _ = turbowish_alloc::walk(&[Flags::A, Flags::B]);
    let _ = (
        named.r#type,
        named.tracer,
        named.__tracer,
        named.__field0,
        named.t,
        Empty {},
    );
}

// Types declared by a `macro_rules!` macro, with field types passed in: the
// generated code must resolve `self` and its locals whatever the hygiene of
// the field tokens.
macro_rules! declare {
    ($name:ident, $variants:ident, $ty:ty, $tail:ty) => {
        #[derive(Trace)]
        struct $name {
            first: $ty,
            #[trace(opaque)]
            second: $ty,
            tail: Box<$tail>,
        }

        #[derive(Trace)]
        enum $variants {
            Tuple($ty, #[trace(opaque)] $ty),
            Named { field: $ty, tail: Box<$tail> },
        }

        impl $name {
            fn check() {
                assert!(!<$name as Trace>::is_leaf());
                assert!(!<$variants as Trace>::is_leaf());
            }
        }
    };
}

declare!(FromMacro, VariantsFromMacro, String, [u8]);

#[allow(dead_code)]
fn from_macro() {
    FromMacro::check();
}
