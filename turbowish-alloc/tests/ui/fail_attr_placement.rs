use turbowish_alloc::Trace;

#[derive(Trace)]
#[trace(skip)]
struct OnStruct {
    a: Box<u8>,
}

#[derive(Trace)]
#[trace(opaque)]
enum OnEnum {
    #[trace(skip)]
    OnVariant(Box<u8>),
}

fn main() {}
