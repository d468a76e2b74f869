use turbowish_alloc::Trace;

#[derive(Trace)]
struct Holder {
    #[trace]
    a: Box<u8>,
    #[trace = "skip"]
    b: Box<u8>,
    #[trace()]
    c: Box<u8>,
    #[trace("skip")]
    d: Box<u8>,
}

fn main() {}
