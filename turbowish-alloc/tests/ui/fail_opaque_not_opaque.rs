use turbowish_alloc::Trace;

#[derive(Trace)]
struct Holder {
    #[trace(opaque)]
    count: u32,
}

#[derive(Trace)]
enum Holds {
    Named {
        #[trace(opaque)]
        inline: [u8; 4],
    },
}

fn main() {}
