use turbowish_alloc::Trace;

struct NoTrace;

#[derive(Trace)]
struct Holder {
    ok: String,
    missing: NoTrace,
}

#[derive(Trace)]
enum Holds {
    Tuple(Vec<NoTrace>),
}

fn main() {}
