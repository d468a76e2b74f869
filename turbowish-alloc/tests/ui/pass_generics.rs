//! Generic types: every type parameter gets a `Trace` bound; lifetimes,
//! const parameters, defaults and where clauses are kept.

use std::fmt::Debug;
use turbowish_alloc::Trace;

#[derive(Trace)]
struct Pair<T, U> {
    first: T,
    second: U,
}

#[derive(Trace)]
struct View<'a, T>
where
    T: Debug + 'a,
{
    borrowed: &'a str,
    owned: Vec<T>,
}

#[derive(Trace)]
struct Buffer<const N: usize, T = u8> {
    bytes: [T; N],
}

// A `?Sized` parameter: `is_leaf` cannot ask `T`, so the type is not a leaf.
#[derive(Trace)]
struct Tail<T: ?Sized> {
    len: usize,
    tail: T,
}

#[derive(Trace)]
struct TailWhere<T>
where
    T: ?Sized,
{
    len: usize,
    tail: T,
}

#[derive(Trace)]
struct Slice {
    len: usize,
    data: [u64],
}

#[derive(Trace)]
struct Text {
    text: str,
}

#[derive(Trace)]
enum Either<L, R> {
    Left(L),
    Right { value: R },
}

fn main() {
    assert!(<Pair<u32, bool> as Trace>::is_leaf());
    assert!(!<Pair<u32, String> as Trace>::is_leaf());
    assert!(!<View<'static, u8> as Trace>::is_leaf());
    assert!(<Buffer<4> as Trace>::is_leaf());
    assert!(!<Buffer<4, Box<u8>> as Trace>::is_leaf());
    assert!(!<Tail<u8> as Trace>::is_leaf());
    assert!(!<TailWhere<u8> as Trace>::is_leaf());
    assert!(<Either<u8, char> as Trace>::is_leaf());
    assert!(!<Either<u8, Vec<u8>> as Trace>::is_leaf());

    // Unsized derived types trace behind a pointer.
    let tail: Box<Tail<[u8]>> = Box::new(Tail {
        len: 3,
        tail: [1, 2, 3],
    });
    let _ = turbowish_alloc::walk(&tail);
    let _ = turbowish_alloc::walk(&*tail);
    let view = View::<u8> {
        borrowed: "x",
        owned: vec![1],
    };
    let _ = turbowish_alloc::walk(&view);
    let _: Option<&Slice> = None;
    let _: Option<&Text> = None;
    let _ = Pair {
        first: 1u8,
        second: 2u8,
    }
    .first;
    let _ = Buffer::<1> { bytes: [0] }.bytes;
    let _ = (
        tail.len,
        Either::<u8, u8>::Left(1),
        Either::<u8, u8>::Right { value: 1 },
    );
}
