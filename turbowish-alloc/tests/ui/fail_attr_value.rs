use turbowish_alloc::Trace;

#[derive(Trace)]
struct Holder {
    #[trace(skip = true)]
    a: Box<u8>,
    #[trace(opaque("yes"))]
    b: Box<u8>,
}

fn main() {}
