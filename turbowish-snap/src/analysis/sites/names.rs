//! Short function names: the function and what qualifies it, without its
//! crate and module path or generic arguments.
//!
//! # Rules
//!
//! 1. A name is cut into `::` segments, never inside brackets; a legacy
//!    symbol hash (`::h0123456789abcdef`) and v0 generic arguments
//!    (`::<T>`) are dropped first.
//! 2. The function is the last segment that is not a closure or another
//!    `{...}` segment. Kept: the segment that qualifies it (its type, its
//!    `<T as Trait>`, or its module, skipping `{impl#N}`), the function,
//!    and the closures inside it: `Bytes::copy_from_slice`,
//!    `<Conn as Future>::poll`, `server::run::{{closure}}`.
//! 3. Generic arguments are dropped, and paths inside `<T as Trait>` are
//!    cut to their last segment.
//! 4. A name without a path (as `debug = "line-tables-only"` records
//!    inlined functions) is kept as it is, without generic arguments.

/// `name` shortened by the rules of the module docs.
pub fn short_function(name: &str) -> String {
    let segments = segments(strip_hash(name));
    let segments: Vec<&str> = (segments.iter().enumerate())
        .filter(|&(i, s)| i == 0 || !s.starts_with('<'))
        .map(|(_, s)| *s)
        .collect();
    let is_inner = |s: &&str| s.starts_with('{');
    let is_impl = |s: &&str| s.starts_with("{impl#");
    let Some(function) = segments.iter().rposition(|s| !is_inner(s)) else {
        return join(segments.iter().copied());
    };
    let qualifier = segments[..function].iter().rposition(|s| !is_impl(s));
    let kept = (qualifier.iter().map(|&q| segments[q]))
        .chain(segments[function..].iter().copied().filter(|s| !is_impl(s)));
    join(kept)
}

/// `segments` shortened (rule 3) and joined with `::`.
fn join<'a>(segments: impl Iterator<Item = &'a str>) -> String {
    let short: Vec<String> = segments.map(short_segment).collect();
    short.join("::")
}

/// One segment without generic arguments; a `<T as Trait>` or `<T>` with
/// its paths cut to their last segment.
fn short_segment(segment: &str) -> String {
    let Some(inner) = segment.strip_prefix('<') else {
        return drop_generics(segment);
    };
    let inner = inner.strip_suffix('>').unwrap_or(inner);
    let simple = |s: &str| shorten_paths(&drop_generics(s));
    match split_top_level(inner, " as ") {
        Some((ty, tr)) => {
            let tr = segments(tr)
                .last()
                .map_or_else(String::new, |t| drop_generics(t));
            format!("<{} as {tr}>", simple(ty))
        }
        None => simple(inner),
    }
}

/// `name` without a trailing legacy hash, `::h` and 16 hex digits.
fn strip_hash(name: &str) -> &str {
    let at = name.len().saturating_sub(19);
    match (name.get(..at), name.get(at..)) {
        (Some(head), Some(tail))
            if tail.len() == 19
                && tail.starts_with("::h")
                && tail[3..].bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            head
        }
        _ => name,
    }
}

/// How a byte changes the bracket depth: `<`, `(`, `[` open, their mates
/// close, and the `>` of `->` does neither.
fn depth_change(bytes: &[u8], i: usize) -> i32 {
    match bytes[i] {
        b'<' | b'(' | b'[' => 1,
        b'>' if i > 0 && bytes[i - 1] == b'-' => 0,
        b'>' | b')' | b']' => -1,
        _ => 0,
    }
}

/// The `::`-separated segments of `name`, outside brackets.
fn segments(name: &str) -> Vec<&str> {
    let bytes = name.as_bytes();
    let (mut out, mut depth, mut start, mut i) = (Vec::new(), 0, 0, 0);
    while i < bytes.len() {
        if depth == 0 && bytes[i..].starts_with(b"::") {
            out.push(&name[start..i]);
            i += 2;
            start = i;
            continue;
        }
        depth += depth_change(bytes, i);
        i += 1;
    }
    out.push(&name[start..]);
    out
}

/// `s` split at the first `sep` outside brackets.
fn split_top_level<'s>(s: &'s str, sep: &str) -> Option<(&'s str, &'s str)> {
    let bytes = s.as_bytes();
    let mut depth = 0;
    for i in 0..bytes.len() {
        if depth == 0 && bytes[i..].starts_with(sep.as_bytes()) {
            return Some((&s[..i], &s[i + sep.len()..]));
        }
        depth += depth_change(bytes, i);
    }
    None
}

/// Whether `c` belongs to a path: identifiers, `::` and `{closure#0}`.
fn in_path(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | ':' | '{' | '}' | '#')
}

/// `s` without the generic arguments that follow a name (`Vec<u8>` is
/// `Vec`); a `<` that starts a qualified path is kept.
fn drop_generics(s: &str) -> String {
    let bytes = s.as_bytes();
    let (mut out, mut skip) = (String::with_capacity(s.len()), 0);
    for (i, c) in s.char_indices() {
        if skip == 0 && c == '<' && out.ends_with(in_path) {
            skip = 1;
            continue;
        }
        if skip > 0 {
            skip += depth_change(bytes, i);
            continue;
        }
        out.push(c);
    }
    out
}

/// `s` with every path cut to its last segment: `&dyn core::ops::Fn` is
/// `&dyn Fn`.
fn shorten_paths(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut path = String::new();
    let flush = |out: &mut String, path: &mut String| {
        if path.starts_with("::") {
            out.push_str("::");
        }
        out.push_str(path.rsplit("::").next().unwrap_or_default());
        path.clear();
    };
    for c in s.chars() {
        if in_path(c) {
            path.push(c);
        } else {
            flush(&mut out, &mut path);
            out.push(c);
        }
    }
    flush(&mut out, &mut path);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_the_function_and_what_qualifies_it() {
        for (name, short) in [
            (
                "bytes::bytes::Bytes::copy_from_slice",
                "Bytes::copy_from_slice",
            ),
            ("svc::cache::Cache::insert", "Cache::insert"),
            ("mini_redis::server::run", "server::run"),
            ("svc::main::{{closure}}", "svc::main::{{closure}}"),
            (
                "mini_redis::parse::Parse::next_bytes::{closure#0}",
                "Parse::next_bytes::{closure#0}",
            ),
            ("bytes::bytes::{impl#0}::data_mut", "bytes::data_mut"),
            ("alloc::vec::Vec<T>::with_capacity", "Vec::with_capacity"),
            (
                "<svc::conn::Conn as core::future::Future>::poll",
                "<Conn as Future>::poll",
            ),
            (
                "<alloc::boxed::Box<str>>::try_clone_from_ref_in",
                "Box::try_clone_from_ref_in",
            ),
            (
                "<&dyn core::ops::function::Fn<(), Output = i32> + core::marker::Sync as \
                 core::ops::function::FnOnce<()>>::call_once",
                "<&dyn Fn + Sync as FnOnce>::call_once",
            ),
            (
                "std::panicking::catch_unwind::do_call::<std::rt::lang_start_internal::{closure#0}, isize>",
                "catch_unwind::do_call",
            ),
            ("svc::run::h0123456789abcdef", "svc::run"),
            (
                "<<std::thread::ThreadName as core::convert::From<alloc::string::String>>::from \
                 as core::ops::function::FnOnce<(alloc::string::String,)>>::call_once",
                "<<ThreadName as From>::from as FnOnce>::call_once",
            ),
            (
                "<alloc::string::String as <alloc::ffi::c_str::CString>::new::SpecNewImpl>::spec_new_impl",
                "<String as SpecNewImpl>::spec_new_impl",
            ),
            ("main", "main"),
        ] {
            assert_eq!(short_function(name), short, "{name}");
        }
    }

    #[test]
    fn names_without_a_path_lose_only_their_generic_arguments() {
        for (name, short) in [
            ("copy_from_slice", "copy_from_slice"),
            (
                "with_capacity_in<u8, alloc::alloc::Global>",
                "with_capacity_in",
            ),
            (
                "{closure#0}<mini_redis::server::{impl#0}::run::{async_fn#0}>",
                "{closure#0}",
            ),
            ("call_once<fn() -> u8, ()>", "call_once"),
            ("__rust_alloc", "__rust_alloc"),
            ("0x7f0000029abc", "0x7f0000029abc"),
            ("", ""),
        ] {
            assert_eq!(short_function(name), short, "{name}");
        }
    }

    #[test]
    fn malformed_names_do_not_panic() {
        for name in [
            "<",
            ">>::",
            "a<<b::c",
            "::",
            "<a as >::b",
            "x::->::y",
            "é<ü>::ö",
        ] {
            let _ = short_function(name);
        }
    }
}
