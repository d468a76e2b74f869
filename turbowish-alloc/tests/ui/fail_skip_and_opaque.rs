use turbowish_alloc::Trace;

#[derive(Trace)]
struct Holder {
    #[trace(skip, opaque)]
    a: Box<u8>,
    #[trace(opaque)]
    #[trace(skip)]
    b: Box<u8>,
}

fn main() {}
