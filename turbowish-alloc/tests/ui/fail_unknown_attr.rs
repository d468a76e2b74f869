use turbowish_alloc::Trace;

#[derive(Trace)]
struct Holder {
    #[trace(foo)]
    a: String,
    #[trace(skip, ignore)]
    b: String,
    #[trace(serde::skip)]
    c: String,
}

fn main() {}
