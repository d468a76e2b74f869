//! Where the process's resident memory goes (rule 16): the resident set and
//! its anonymous part and TurboWish's own memory, read by the parent before
//! the fork; the inner allocator's figures, read by the child (figures
//! rules 2 and 3). The live heap bytes are the snapshot's own blocks,
//! counted by the child.

use super::raw_read;
use crate::heap::figures::{self, AllocatorFigures};
use crate::heap::stats;

/// The figures the parent reads for the child (rule 16).
#[derive(Debug, Default)]
pub(super) struct Memory {
    /// Resident bytes, and of them the anonymous ones; `None` when unknown.
    pub(super) resident: Option<(u64, u64)>,
    /// TurboWish's tables and interned stacks, then its block headers.
    pub(super) own_tables: u64,
    pub(super) own_headers: u64,
}

impl Memory {
    /// Reads them now, in the parent, with this thread busy and before the
    /// fork handlers take any lock (rule 16). The resident set is read
    /// last, nearest the fork.
    pub(super) fn read() -> Memory {
        let (own_tables, own_headers) = stats::own_memory();
        Memory {
            resident: resident(),
            own_tables,
            own_headers,
        }
    }

    /// The inner allocator's figures, read in the child before it allocates
    /// anything of its own (rule 16, figures rule 3).
    pub(super) fn read_allocator() -> Option<AllocatorFigures> {
        figures::read()
    }

    /// Into the file's figures, with the `allocator`'s the child read.
    pub(super) fn fill(
        &self,
        allocator: Option<AllocatorFigures>,
        c: &mut turbowish_format::Capture,
    ) {
        let (resident, anon) = self.resident.unwrap_or((0, 0));
        c.resident_bytes = resident;
        c.resident_anon_bytes = anon;
        c.allocator = allocator.map(|a| turbowish_format::AllocatorFigures {
            name: a.name.to_owned(),
            held_bytes: a.held_bytes,
            in_use_bytes: a.in_use_bytes,
            free_bytes: a.free_bytes,
        });
        c.own_table_bytes = self.own_tables;
        c.own_header_bytes = self.own_headers;
    }
}

/// Resident and anonymous bytes: from `smaps_rollup`, else from `statm`;
/// `None` when neither can be read (rule 16).
fn resident() -> Option<(u64, u64)> {
    let mut buf = [0u8; 4096];
    if let Some(n) = raw_read::read_file(c"/proc/self/smaps_rollup", &mut buf) {
        let found = parse_smaps_rollup(&buf[..n]);
        if found.is_some() {
            return found;
        }
    }
    let n = raw_read::read_file(c"/proc/self/statm", &mut buf)?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    parse_statm(&buf[..n], u64::try_from(page).ok()?)
}

/// `Rss` and `Anonymous` of `smaps_rollup`, in bytes (the file gives kB).
fn parse_smaps_rollup(text: &[u8]) -> Option<(u64, u64)> {
    let field = |name: &[u8]| {
        let line = text.split(|&b| b == b'\n').find(|l| l.starts_with(name))?;
        let mut words = line[name.len()..].split(|b| b.is_ascii_whitespace());
        let kb = words.find(|w| !w.is_empty())?;
        number(kb)?.checked_mul(1024)
    };
    let rss = field(b"Rss:")?;
    Some((rss, field(b"Anonymous:")?.min(rss))).filter(|&(rss, _)| rss > 0)
}

/// Resident and anonymous bytes from `statm` (pages: size, resident,
/// shared, ...): anonymous is resident less shared (file-backed) pages.
fn parse_statm(text: &[u8], page: u64) -> Option<(u64, u64)> {
    let mut fields = text.split(|b| b.is_ascii_whitespace()).map(number);
    let (_size, resident, shared) = (fields.next()?, fields.next()??, fields.next()??);
    let resident = resident.checked_mul(page).filter(|&r| r > 0)?;
    Some((
        resident,
        resident.saturating_sub(shared.saturating_mul(page)),
    ))
}

/// A decimal number, `None` if `word` is anything else.
fn number(word: &[u8]) -> Option<u64> {
    std::str::from_utf8(word).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smaps_rollup_gives_rss_and_anonymous_in_bytes() {
        let text = b"55d0-7ffd ---p 00000000 00:00 0  [rollup]\n\
            Rss:               56320 kB\nPss:               50000 kB\n\
            Anonymous:         49152 kB\nSwap:                  0 kB\n";
        assert_eq!(parse_smaps_rollup(text), Some((56320 << 10, 49152 << 10)));
        assert_eq!(parse_smaps_rollup(b"Rss: 12 kB\n"), None, "no Anonymous");
        assert_eq!(parse_smaps_rollup(b"Rss: x kB\nAnonymous: 1 kB\n"), None);
    }

    #[test]
    fn statm_gives_resident_less_shared_pages() {
        assert_eq!(
            parse_statm(b"5000 1200 200 10 0 900 0\n", 4096),
            Some((1200 * 4096, 1000 * 4096))
        );
        assert_eq!(parse_statm(b"5000\n", 4096), None);
        assert_eq!(parse_statm(b"5000 0 0 1 0 1 0\n", 4096), None);
    }

    #[test]
    fn this_process_has_a_resident_set() {
        let (rss, anon) = resident().expect("smaps_rollup or statm reads");
        assert!(rss > 0 && anon <= rss, "{rss} {anon}");
    }
}
