use turbowish_alloc::Trace;

#[derive(Trace)]
struct Holder {
    #[trace(skip, skip)]
    a: Box<u8>,
    #[trace(opaque)]
    #[trace(opaque)]
    b: Box<u8>,
}

fn main() {}
