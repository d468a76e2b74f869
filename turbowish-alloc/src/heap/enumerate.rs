//! Finding every live block: the side table's records, plus every valid
//! header in the process's writable anonymous memory.
//!
//! Blocks with a header (header rule 1) are listed nowhere: they are found by
//! walking memory. The walk follows these rules, cited as "enumeration rule
//! N":
//!
//! 1. Only private anonymous read-write mappings are walked (the brk heap,
//!    malloc arenas, `mmap`ed chunks, and thread stacks, which hold no
//!    headers but cost little), and in them only pages the kernel reports
//!    present or swapped in `/proc/self/pagemap`: a page never touched is
//!    zero and holds no header. If pagemap cannot be read, every page is
//!    walked.
//! 2. Headers are 16-aligned (the shim asks for 16-byte alignment), so only
//!    16-aligned positions are checked, in address order.
//! 3. A valid header announces its block; the walk resumes after it (header
//!    rule 5), so user data is never read as headers.
//! 4. Blocks with `tracked` clear (TurboWish's own, header rule 2) are
//!    skipped like any other but not listed.
//! 5. In the fork child the image is frozen and single-threaded, so memory is
//!    read in place. In a running process another thread may unmap memory at
//!    any time, so memory is copied with `process_vm_readv`, which fails
//!    instead of faulting (or, where a sandbox forbids that call, read from
//!    `/proc/self/mem`, which fails likewise); a block half-written or freed
//!    during the copy is listed or not, as at one of the instants the copy
//!    spanned.

use crate::heap::header::{self, HEADER};
use crate::heap::record::Record;
use std::fs::File;
use std::os::unix::fs::FileExt;

/// How memory is read (rule 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reading {
    /// In the fork child: in place.
    Frozen,
    /// In a running process: copied.
    Live,
}

/// Every live tracked block, sorted by address: the side table's and those
/// with headers.
pub(crate) fn live_blocks(reading: Reading) -> Vec<Record> {
    let mut out = crate::heap::table::records();
    for (start, end) in anonymous_writable().unwrap_or_default() {
        walk_mapping(start, end, reading, &mut out);
    }
    out.sort_unstable_by_key(|r| r.addr);
    out.dedup_by_key(|r| r.addr);
    out
}

/// Rule 1: `(start, end)` of private anonymous read-write mappings.
fn anonymous_writable() -> std::io::Result<Vec<(usize, usize)>> {
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    Ok(maps.lines().filter_map(parse_maps_line).collect())
}

fn parse_maps_line(line: &str) -> Option<(usize, usize)> {
    let mut f = line.split_ascii_whitespace();
    let (range, perms, _offset, _dev, inode) =
        (f.next()?, f.next()?, f.next()?, f.next()?, f.next()?);
    if !perms.starts_with("rw") || !perms.ends_with('p') || inode != "0" {
        return None;
    }
    let (a, b) = range.split_once('-')?;
    Some((
        usize::from_str_radix(a, 16).ok()?,
        usize::from_str_radix(b, 16).ok()?,
    ))
}

const PAGE: usize = 4096;
/// Pagemap entries read at once: 16 MiB of address space.
const PAGEMAP_BATCH: usize = 4096;

/// Walks one mapping, run of populated pages by run (rule 1).
fn walk_mapping(start: usize, end: usize, reading: Reading, out: &mut Vec<Record>) {
    let pagemap = File::open("/proc/self/pagemap").ok();
    let mut cursor = Cursor { next: start, out };
    let mut entries = vec![0u64; PAGEMAP_BATCH];
    let mut page = start;
    while page < end {
        let n = ((end - page) / PAGE).min(PAGEMAP_BATCH);
        let populated = populated_pages(pagemap.as_ref(), page, &mut entries[..n]);
        let mut i = 0;
        while i < n {
            if !populated(&entries, i) {
                i += 1;
                continue;
            }
            let run_start = i;
            while i < n && populated(&entries, i) {
                i += 1;
            }
            let (a, b) = (page + run_start * PAGE, page + i * PAGE);
            cursor.walk_run(a, b, reading);
        }
        page += n * PAGE;
    }
}

/// Fills `entries` from pagemap for the pages from `page`; returns the test
/// of one entry (every page counts as populated without pagemap).
fn populated_pages(
    pagemap: Option<&File>,
    page: usize,
    entries: &mut [u64],
) -> fn(&[u64], usize) -> bool {
    const PRESENT: u64 = 1 << 63;
    const SWAPPED: u64 = 1 << 62;
    let Some(file) = pagemap else {
        return |_, _| true;
    };
    // SAFETY: viewing initialised `u64`s as bytes; every byte pattern is a
    // valid `u64` when read back.
    let bytes = unsafe {
        core::slice::from_raw_parts_mut(entries.as_mut_ptr().cast::<u8>(), size_of_val(entries))
    };
    match file.read_exact_at(bytes, (page / PAGE * 8) as u64) {
        Ok(()) => |e, i| e[i] & (PRESENT | SWAPPED) != 0,
        Err(_) => |_, _| true,
    }
}

/// Where the walk stands: the next address a header may start at (rule 3).
struct Cursor<'a> {
    next: usize,
    out: &'a mut Vec<Record>,
}

/// Bytes copied at once when reading a live process (rule 5).
const COPY_CHUNK: usize = 64 * 1024;

impl Cursor<'_> {
    /// Walks `[a, b)`, page-aligned and readable.
    fn walk_run(&mut self, a: usize, b: usize, reading: Reading) {
        match reading {
            Reading::Frozen => {
                let from = self.next.max(a);
                if from < b {
                    // SAFETY: rule 5: in the fork child nothing else runs,
                    // and `[a, b)` lies in a readable mapping (rule 1), so
                    // the words stay mapped and unchanged while read.
                    let words = unsafe { words_at(from & !(HEADER - 1), b) };
                    self.walk_words(from & !(HEADER - 1), words);
                }
            }
            Reading::Live => {
                let mut buf = vec![[0u64; 2]; COPY_CHUNK / HEADER];
                let mut at = a;
                while at < b {
                    let len = (b - at).min(COPY_CHUNK);
                    let got = copy_live(at, &mut buf[..len / HEADER]);
                    if got.is_empty() {
                        at += PAGE; // unmapped meanwhile: skip a page
                        continue;
                    }
                    self.walk_words(at, got);
                    at += size_of_val(got);
                }
            }
        }
    }

    /// Checks each 16-byte position of `words` (read at `base`) at or after
    /// `self.next` (rules 2-4).
    fn walk_words(&mut self, base: usize, words: &[[u64; 2]]) {
        let end = base + size_of_val(words);
        while self.next < end {
            let at = self.next.max(base).next_multiple_of(HEADER);
            if at >= end {
                break;
            }
            let w = words[(at - base) / HEADER];
            self.next = at + HEADER;
            if w[1] == 0 {
                continue; // cleared or never written: the common case
            }
            if let Some(f) = header::decode(at, w) {
                self.next = (at + HEADER + f.size).next_multiple_of(HEADER);
                if f.tracked {
                    self.out.push(Record {
                        addr: at + HEADER,
                        size: f.size,
                        task: f.task,
                        stack: f.stack,
                        epoch: f.epoch,
                        watcher: 0,
                    });
                }
            }
        }
    }
}

/// The 16-byte words of `[from, to)`.
///
/// # Safety
///
/// The range must be readable, 16-aligned at `from`, and unchanged for `'a`.
unsafe fn words_at<'a>(from: usize, to: usize) -> &'a [[u64; 2]] {
    // SAFETY: as the caller guarantees.
    unsafe { core::slice::from_raw_parts(from as *const [u64; 2], (to - from) / HEADER) }
}

/// Copies this process's memory at `at` into `buf` (rule 5); returns the
/// part filled, which may be short or empty where memory was unmapped.
fn copy_live(at: usize, buf: &mut [[u64; 2]]) -> &[[u64; 2]] {
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: size_of_val(buf),
    };
    let remote = libc::iovec {
        iov_base: at as *mut libc::c_void,
        iov_len: size_of_val(buf),
    };
    // SAFETY: `local` is our own writable buffer of exactly `iov_len` bytes;
    // the kernel reads `remote` with fault checks and reports failure instead
    // of faulting.
    let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    let n = if n < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EFAULT) {
        read_proc_mem(at, buf)
    } else {
        n.max(0) as usize
    };
    &buf[..n / HEADER]
}

/// [`copy_live`]'s fallback: the same bytes through `/proc/self/mem`.
fn read_proc_mem(at: usize, buf: &mut [[u64; 2]]) -> usize {
    // SAFETY: viewing our own initialised words as bytes.
    let bytes =
        unsafe { core::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<u8>(), size_of_val(buf)) };
    File::open("/proc/self/mem")
        .and_then(|f| f.read_at(bytes, at as u64))
        .unwrap_or(0)
}

/// Reads the header of the block that would start at `addr`, in a running
/// process (rule 5's reading: `addr` may be any pointer).
pub(crate) fn header_before(addr: usize) -> Option<header::Fields> {
    let base = addr.checked_sub(HEADER)?;
    if !base.is_multiple_of(HEADER) {
        return None;
    }
    let mut buf = [[0u64; 2]; 1];
    let got = copy_live(base, &mut buf);
    got.first().and_then(|&w| header::decode(base, w))
}
