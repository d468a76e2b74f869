//! A bounded stream of decompressed tables, for postcard to decode from as
//! the bytes arrive.
//!
//! The reader never holds the decompressed payload whole: [`Source`] pulls
//! it from the decompressor through a small buffer, and postcard decodes one
//! value at a time from it (through [`Feed`], a postcard flavor). Rules:
//!
//! 1. **Never past the limit.** No more than `limit` bytes (the length the
//!    header announces) are taken from the decompressor while decoding: a
//!    payload that runs on is cut there, however much it would inflate to.
//! 2. **Counts are checked before anything is allocated for them.** A table
//!    declares its length first; [`Source::len`] refuses a length whose
//!    entries (each at least `min_bytes` long) cannot fit in the bytes left
//!    before the limit. Strings grow only as their bytes arrive.
//! 3. **The decompressor's own errors are kept.** Postcard sees only "the
//!    data ended"; the reason (a damaged frame) is reported as it was.

use crate::Error;
use postcard::de_flavors::Flavor;
use serde::de::DeserializeOwned;
use std::io::{self, Read};

/// Bytes read from the decompressor at a time.
const CHUNK: usize = 64 << 10;

/// The decompressed tables, read through a buffer, at most `limit` bytes.
pub(crate) struct Source<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    /// Bytes taken from `inner` so far, buffered ones included.
    taken: u64,
    limit: u64,
    /// Holds one string while postcard decodes it.
    scratch: Vec<u8>,
    /// Why `inner` failed, if it did.
    failed: Option<io::Error>,
    /// Whether a read stopped at the limit rather than at the end of data.
    at_limit: bool,
}

impl<R: Read> Source<R> {
    /// Reads at most `limit` bytes of tables from `inner`.
    pub(crate) fn new(inner: R, limit: u64) -> Self {
        Source {
            inner,
            buf: vec![0; CHUNK].into_boxed_slice(),
            pos: 0,
            end: 0,
            taken: 0,
            limit,
            scratch: Vec::new(),
            failed: None,
            at_limit: false,
        }
    }

    /// The most bytes it reads.
    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes decoded so far.
    pub(crate) fn consumed(&self) -> u64 {
        self.taken - (self.end - self.pos) as u64
    }

    /// Bytes left before the limit.
    pub(crate) fn left(&self) -> u64 {
        self.limit - self.consumed()
    }

    /// Decodes one value (`what` names it in errors).
    pub(crate) fn value<T: DeserializeOwned>(&mut self, what: &str) -> Result<T, Error> {
        let mut de = postcard::Deserializer::from_flavor(Feed(self));
        let result = T::deserialize(&mut de);
        result.map_err(|e| self.error(what, e))
    }

    /// Decodes the length of a table of `what` whose entries take at least
    /// `min_bytes` each (rule 2).
    pub(crate) fn len(&mut self, what: &str, min_bytes: u64) -> Result<usize, Error> {
        let n: u64 = self.value(what)?;
        let left = self.left();
        if n.checked_mul(min_bytes.max(1))
            .is_none_or(|need| need > left)
        {
            return Err(Error::Corrupt(format!(
                "the {what} declare {n} entries, more than the {left} bytes left can hold"
            )));
        }
        usize::try_from(n).map_err(|_| Error::Corrupt(format!("too many {what}: {n}")))
    }

    /// Counts what the decompressor still yields after the tables, up to one
    /// byte past the limit, holding none of it: the total it decompresses to
    /// (or `limit + 1` for more), and the stray bytes that the tables left.
    pub(crate) fn finish(mut self) -> Result<(u64, u64), Error> {
        let stray = self.end - self.pos;
        let budget = (self.limit - self.taken).saturating_add(1);
        let rest = io::copy(&mut (&mut self.inner).take(budget), &mut io::sink())
            .map_err(|e| Error::Corrupt(format!("bad compressed data: {e}")))?;
        Ok((
            self.taken.saturating_add(rest),
            (stray as u64).saturating_add(rest),
        ))
    }

    /// The next byte, or `None` at the limit or the end of the data.
    fn byte(&mut self) -> Option<u8> {
        if self.pos == self.end && !self.refill() {
            return None;
        }
        let b = self.buf[self.pos];
        self.pos += 1;
        Some(b)
    }

    /// Reads the next chunk (rule 1); false at the limit, the end, or an error.
    fn refill(&mut self) -> bool {
        let want = (self.limit - self.taken).min(self.buf.len() as u64) as usize;
        self.at_limit = want == 0;
        if want == 0 || self.failed.is_some() {
            return false;
        }
        loop {
            match self.inner.read(&mut self.buf[..want]) {
                Ok(n) => {
                    self.pos = 0;
                    self.end = n;
                    self.taken += n as u64;
                    return n > 0;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.failed = Some(e);
                    return false;
                }
            }
        }
    }

    /// Copies the next `n` bytes into the scratch buffer, which grows only as
    /// they arrive (rule 2).
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if n as u64 > self.left() {
            self.at_limit = true;
            return None;
        }
        self.scratch.clear();
        while self.scratch.len() < n {
            if self.pos == self.end && !self.refill() {
                return None;
            }
            let step = (n - self.scratch.len()).min(self.end - self.pos);
            self.scratch
                .extend_from_slice(&self.buf[self.pos..self.pos + step]);
            self.pos += step;
        }
        Some(&self.scratch)
    }

    /// The error for a failed decode of `what` (rule 3).
    fn error(&mut self, what: &str, e: postcard::Error) -> Error {
        if let Some(io) = self.failed.take() {
            return Error::Corrupt(format!("bad compressed data: {io}"));
        }
        if e == postcard::Error::DeserializeUnexpectedEnd {
            return Error::Corrupt(if self.at_limit {
                format!(
                    "cannot decode the {what}: the tables run past the {} bytes the header \
                     announces",
                    self.limit
                )
            } else {
                let at = self.consumed();
                format!("cannot decode the {what}: the data ends after {at} bytes")
            });
        }
        Error::Corrupt(format!("cannot decode the {what}: {e}"))
    }
}

/// [`Source`] as a postcard flavor. Values are decoded into owned types only:
/// borrowing from the input is refused.
struct Feed<'a, R>(&'a mut Source<R>);

impl<'de, 'a: 'de, R: Read + 'de> Flavor<'de> for Feed<'a, R> {
    type Remainder = ();
    type Source = ();

    fn pop(&mut self) -> postcard::Result<u8> {
        self.0
            .byte()
            .ok_or(postcard::Error::DeserializeUnexpectedEnd)
    }

    fn try_take_n(&mut self, _ct: usize) -> postcard::Result<&'de [u8]> {
        Err(postcard::Error::WontImplement)
    }

    fn try_take_n_temp<'b>(&'b mut self, ct: usize) -> postcard::Result<&'b [u8]>
    where
        'de: 'b,
    {
        self.0
            .take(ct)
            .ok_or(postcard::Error::DeserializeUnexpectedEnd)
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_decode_across_chunks_and_stop_at_the_limit() {
        let long = "x".repeat(3 * CHUNK);
        let raw = postcard::to_stdvec(&(7u64, long.clone(), 300u32)).unwrap();
        let mut src = Source::new(&raw[..], raw.len() as u64);
        assert_eq!(src.value::<u64>("a").unwrap(), 7);
        assert_eq!(src.value::<String>("b").unwrap(), long);
        assert_eq!(src.value::<u32>("c").unwrap(), 300);
        assert_eq!(src.finish().unwrap(), (raw.len() as u64, 0));
        // One byte short of the limit: the string is refused before it is read.
        let mut src = Source::new(&raw[..], raw.len() as u64 - 4);
        src.value::<u64>("a").unwrap();
        let err = src.value::<String>("b").unwrap_err();
        assert!(err.to_string().contains("run past"), "{err}");
    }

    #[test]
    fn lengths_that_the_bytes_left_cannot_hold_are_refused() {
        let raw = postcard::to_stdvec(&(5u64, [0u8; 10])).unwrap();
        let mut src = Source::new(&raw[..], raw.len() as u64);
        assert_eq!(src.len("rows", 2).unwrap(), 5);
        let mut src = Source::new(&raw[..], raw.len() as u64);
        let err = src.len("rows", 3).unwrap_err();
        assert!(err.to_string().contains("declare 5 entries"), "{err}");
        let raw = postcard::to_stdvec(&u64::MAX).unwrap();
        let mut src = Source::new(&raw[..], 1 << 40);
        assert!(src.len("rows", 2).is_err());
    }

    #[test]
    fn the_rest_is_counted_up_to_one_past_the_limit() {
        let raw = [1u8, 2, 3, 4, 5, 6];
        let mut src = Source::new(&raw[..], 4);
        src.value::<u8>("a").unwrap();
        assert_eq!(src.finish().unwrap(), (5, 4));
        let mut src = Source::new(&raw[..2], 4);
        src.value::<u8>("a").unwrap();
        assert_eq!(src.finish().unwrap(), (2, 1));
    }
}
