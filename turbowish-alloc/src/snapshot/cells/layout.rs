//! Reading a candidate cell and its vtable from the frozen image (rules 1b
//! to 1e and 3). Every word is read through [`read_word`], which checks
//! that it is mapped.

use crate::snapshot::scan::read_word;
use crate::snapshot::symbolize::Names;

/// Words of tokio's `Vtable` (seven functions, three offsets; a fourth
/// offset under `tokio_unstable` comes after them, see [`Vtable::stage`]).
const VTABLE_WORDS: u64 = 10;
/// Functions among them.
const VTABLE_FUNCTIONS: usize = 7;
/// Bytes of the `Header` before the core: state, `queue_next`, vtable,
/// `owner_id`.
const HEADER: u64 = 32;
/// Where the header keeps the vtable pointer.
pub(crate) const VTABLE_AT: u64 = 16;
/// Where the header keeps the injection queue's link (rule 5a).
pub(crate) const QUEUE_NEXT_AT: u64 = 8;
/// Cells are aligned to this, so their size is a multiple of it (rule 1b).
pub(crate) const CELL_ALIGN: u64 = 128;

/// What one vtable says, read once per vtable.
#[derive(Debug, Clone)]
pub(crate) struct Vtable {
    /// Offsets from the cell's start of the task id and the trailer (rule
    /// 1d).
    pub(crate) id: u64,
    /// See `id`.
    pub(crate) trailer: u64,
    /// Where the stage (the future, its output or nothing) starts: after
    /// the id, or after `tokio_unstable`'s spawn location when the word
    /// after the seven functions and three offsets is its offset, right
    /// after the id.
    pub(crate) stage: u64,
    /// The vtable's `raw::poll<T, S>` (0 if none is) and its name, whose
    /// generic arguments give the future's type (rule 3).
    pub(crate) poll: u64,
    /// See `poll`.
    pub(crate) poll_symbol: String,
}

/// A future's type, as a monomorphized function's name gives it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct FutureType {
    /// `Pin<Box<F>>` unwrapped to `F`.
    pub(crate) name: String,
    /// Whether the spawn boxed the future (the stage holds `Pin<Box<F>>`).
    pub(crate) boxed: bool,
}

impl FutureType {
    /// The type of a function `f<T, S>` of the task (`poll`, `Cell::new`,
    /// `new_task`): `T`, or `F` for `T = Pin<Box<F>>`. `None` when the name
    /// has no generic arguments (a linkage name under the legacy mangling)
    /// or names its parameter (`Cell<T,S>::new`): a future's type has a
    /// path.
    pub(crate) fn of(function: &str) -> Option<FutureType> {
        let ty = first_argument(function).filter(|t| t.contains("::"))?;
        // `Pin<Box<F>>`, or `Pin<Box<F, Global>>` as DWARF names it.
        let boxed = (ty.strip_prefix("core::pin::Pin<"))
            .filter(|t| t.starts_with("alloc::boxed::Box<"))
            .and_then(first_argument);
        Some(FutureType {
            name: boxed.unwrap_or(ty).to_owned(),
            boxed: boxed.is_some(),
        })
    }
}

impl Vtable {
    /// Reads the vtable at `at` (rules 1c and 1d); `None` if it does not
    /// verify. `image` tells whether an address lies in a loaded module.
    pub(crate) fn read(
        at: u64,
        readable: &[(u64, u64)],
        names: &Names<'_, '_>,
        image: impl Fn(u64) -> bool,
    ) -> Option<Vtable> {
        if !image(at) || !at.is_multiple_of(8) {
            return None;
        }
        let words: Vec<u64> = (0..VTABLE_WORDS)
            .map(|i| read_word(readable, at + 8 * i))
            .collect::<Option<_>>()?;
        let functions: Vec<u64> = words
            .iter()
            .copied()
            .filter(|&w| names.is_code(w))
            .collect();
        let mut offsets: Vec<u64> = (words.iter().copied())
            .filter(|&w| (HEADER..1 << 24).contains(&w) && w.is_multiple_of(8))
            .collect();
        offsets.sort_unstable();
        let &[scheduler, id, trailer] = offsets.as_slice() else {
            return None;
        };
        if functions.len() != VTABLE_FUNCTIONS || !(scheduler < id && id < trailer) {
            return None;
        }
        let (poll, poll_symbol) = poll_of(&functions, names).unwrap_or_default();
        let spawned_at = read_word(readable, at + 8 * VTABLE_WORDS).filter(|&w| w == id + 8);
        Some(Vtable {
            id,
            trailer,
            stage: spawned_at.unwrap_or(id) + 8,
            poll,
            poll_symbol,
        })
    }
}

/// The vtable's `raw::poll<T, S>` and its name.
fn poll_of(functions: &[u64], names: &Names<'_, '_>) -> Option<(u64, String)> {
    let is_poll = |n: &str| {
        n.split('<')
            .next()
            .is_some_and(|b| b.ends_with("raw::poll"))
    };
    (functions.iter())
        .filter_map(|&f| Some((f, names.function_at(f)?)))
        .find(|(_, n)| is_poll(n))
}

/// The first generic argument of a function name `path::f<A, B>`.
fn first_argument(name: &str) -> Option<&str> {
    let open = name.find('<')?;
    let mut depth = 0i32;
    for (i, c) in name[open..].char_indices() {
        match c {
            '<' | '(' | '[' => depth += 1,
            '>' if !name[..open + i].ends_with('-') => depth -= 1,
            ')' | ']' => depth -= 1,
            ',' if depth == 1 => {
                return Some(name[open + 1..open + i].trim()).filter(|a| !a.is_empty());
            }
            _ => {}
        }
        if depth == 0 {
            return Some(name[open + 1..open + i].trim()).filter(|a| !a.is_empty());
        }
    }
    None
}

/// What one cell holds (rules 1e and 3).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CellWords {
    /// The state word.
    pub(crate) state: u64,
    /// The tokio task id.
    pub(crate) id: u64,
    /// The stage's tag: 0 while the future is there.
    pub(crate) stage_tag: u32,
    /// The word after the tag: a boxed future's address.
    pub(crate) first_payload: u64,
}

impl CellWords {
    /// Reads the cell at `start` (of `size` bytes) as `vt` lays it out;
    /// `None` if it does not verify.
    pub(crate) fn read(
        start: u64,
        size: u64,
        vt: &Vtable,
        readable: &[(u64, u64)],
    ) -> Option<CellWords> {
        if vt.trailer >= size {
            return None;
        }
        let word = |off: u64| read_word(readable, start + off);
        let id = word(vt.id).filter(|&id| id != 0)?;
        let tag = word(vt.stage)?;
        Some(CellWords {
            state: word(0)?,
            id,
            stage_tag: tag as u32,
            first_payload: word(vt.stage + 8).unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_generic_arguments() {
        let poll = "tokio::runtime::task::raw::poll<lib::start::{async_block_env#0}, alloc::sync::Arc<tokio::runtime::scheduler::multi_thread::handle::Handle>>";
        assert_eq!(
            first_argument(poll),
            Some("lib::start::{async_block_env#0}")
        );
        assert_eq!(
            first_argument("poll<core::pin::Pin<alloc::boxed::Box<a::B<C, D>>>, S>"),
            Some("core::pin::Pin<alloc::boxed::Box<a::B<C, D>>>")
        );
        assert_eq!(first_argument("poll<fn() -> u8, S>"), Some("fn() -> u8"));
        assert_eq!(first_argument("poll<X>"), Some("X"));
        assert_eq!(first_argument("tokio::runtime::task::raw::poll"), None);
        assert_eq!(first_argument("poll<>"), None);
    }
}
