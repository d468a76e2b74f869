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
//! 5. In a running process another thread may unmap memory at any time, so
//!    memory is copied with `process_vm_readv`, which fails instead of
//!    faulting (or, where a sandbox forbids that call, read from
//!    `/proc/self/mem`, which fails likewise); a block half-written or freed
//!    during the copy is listed or not, as at one of the instants the copy
//!    spanned.
//! 6. In the fork child nothing else runs, so memory is read in place, which
//!    is several times faster. But the walk's own frees could make the
//!    allocator give memory back to the kernel (glibc trims a heap's top with
//!    `brk` or seals it with `PROT_NONE`; a growing buffer moves with
//!    `mremap`) under pages the walk has still to read. So everything the
//!    walk needs is allocated before it starts and freed after it ends:
//!    the map list and its text, the pagemap buffer and file, and the output,
//!    reserved for the blocks the counters count plus a margin. Should the
//!    output fill up all the same, the walk copies from then on (rule 5).

use crate::heap::header::{self, HEADER};
use crate::heap::record::Record;
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::fs::File;
use std::os::unix::fs::FileExt;

/// Where the walk runs (rules 5 and 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reading {
    /// In a running process: memory is copied.
    Live,
    /// In the fork child: memory is read in place.
    Frozen,
}

/// Every live tracked block, sorted by address: the side table's and those
/// with headers.
pub(crate) fn live_blocks(reading: Reading) -> Vec<Record> {
    let mut out = crate::heap::table::records();
    // Rule 6: every allocation before the walk, every free after it (the
    // last free before it, opening a file, comes before the maps are read).
    let pagemap = File::open("/proc/self/pagemap").ok();
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let ranges: Vec<(usize, usize)> = maps.lines().filter_map(parse_maps_line).collect();
    let counted = crate::heap::counters::sum().live_blocks.max(0) as usize;
    out.reserve(counted + counted / 8 + 4096);
    let mut walk = Walk {
        next: 0,
        in_place: reading == Reading::Frozen,
        out,
        pagemap,
        entries: vec![0u64; PAGEMAP_BATCH],
        buf: vec![[0u64; 2]; COPY_CHUNK / HEADER],
    };
    for &(start, end) in &ranges {
        walk.mapping(start, end);
    }
    let Walk { mut out, .. } = walk;
    drop((ranges, maps));
    out.sort_unstable_by_key(|r| r.addr);
    out.dedup_by_key(|r| r.addr);
    out
}

/// Rule 1: `(start, end)` of a private anonymous read-write mapping.
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

/// The walk's state, all of it allocated before it starts (rule 6).
struct Walk {
    /// The next address a header may start at (rule 3).
    next: usize,
    /// Rule 6 (else rule 5).
    in_place: bool,
    out: Vec<Record>,
    pagemap: Option<File>,
    entries: Vec<u64>,
    buf: Vec<[u64; 2]>,
}

/// Bytes copied at once (rule 5).
const COPY_CHUNK: usize = 64 * 1024;

impl Walk {
    /// Walks one mapping, run of populated pages by run (rule 1).
    fn mapping(&mut self, start: usize, end: usize) {
        let mut page = start;
        while page < end {
            let n = ((end - page) / PAGE).min(PAGEMAP_BATCH);
            let mut entries = core::mem::take(&mut self.entries);
            let populated = populated_pages(self.pagemap.as_ref(), page, &mut entries[..n]);
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
                self.run(page + run_start * PAGE, page + i * PAGE);
            }
            self.entries = entries;
            page += n * PAGE;
        }
    }

    /// Walks `[a, b)`: page-aligned, populated and, as far as the maps said,
    /// readable.
    fn run(&mut self, a: usize, b: usize) {
        let mut at = a.max(self.next & !(PAGE - 1));
        while at < b {
            let len = (b - at).min(COPY_CHUNK);
            if self.in_place {
                // SAFETY: rule 6: nothing else runs in the child and the walk
                // has freed nothing since reading the maps, so `[at, at +
                // len)`, in a populated page run of a read-write mapping, is
                // mapped and unchanged while read; `at` is page-aligned.
                let words =
                    unsafe { core::slice::from_raw_parts(at as *const [u64; 2], len / HEADER) };
                self.words(at, words);
                // Rule 6: if the output filled up, copy from where it did.
                at = if self.in_place {
                    at + len
                } else {
                    self.next & !(PAGE - 1)
                };
                continue;
            }
            let mut buf = core::mem::take(&mut self.buf);
            let got = copy_live(at, &mut buf[..len / HEADER]);
            let copied = size_of_val(got);
            self.words(at, got);
            self.buf = buf;
            at += if copied == 0 { PAGE } else { copied }; // unmapped meanwhile: skip a page
        }
    }

    /// Checks each 16-byte position of `words` (read at `base`) at or after
    /// `self.next` (rules 2-4).
    fn words(&mut self, base: usize, words: &[[u64; 2]]) {
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
                    if self.in_place && self.out.len() == self.out.capacity() {
                        // Rule 6: growing the output may free memory; this
                        // header is read again, copied.
                        self.in_place = false;
                        self.next = at;
                        return;
                    }
                    let addr = at + HEADER;
                    self.out.push(Record {
                        addr,
                        size: f.size,
                        task: f.task,
                        stack: f.stack,
                        epoch: f.epoch,
                        // Table rule 4: the row is on the watch list.
                        watcher: if f.watched {
                            crate::heap::table::watcher_of(addr)
                        } else {
                            0
                        },
                        headed: true,
                    });
                }
            }
        }
    }
}

/// Copies this process's memory at `at` into `buf` (rule 5); returns the
/// part filled, which may be short or empty where memory was unmapped.
fn copy_live(at: usize, buf: &mut [[u64; 2]]) -> &[[u64; 2]] {
    if VM_READV_REFUSED.load(Relaxed) {
        let n = read_proc_mem(at, buf);
        return &buf[..n / HEADER];
    }
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
        // A sandbox's refusal is for good (seccomp filters are never
        // lifted), so later reads go straight to the fallback, which reads
        // the same bytes from any thread.
        VM_READV_REFUSED.store(true, Relaxed);
        read_proc_mem(at, buf)
    } else {
        n.max(0) as usize
    };
    &buf[..n / HEADER]
}

/// Set once `process_vm_readv` failed for another reason than an unmapped
/// address (rule 5).
static VM_READV_REFUSED: AtomicBool = AtomicBool::new(false);

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::header::Fields;

    /// Four pages with a tracked header every 48 bytes (32-byte blocks), and
    /// a copy of one of them planted inside another block.
    fn pages_with_headers() -> (*mut u8, std::alloc::Layout, Vec<usize>) {
        let layout = std::alloc::Layout::from_size_align(4 * PAGE, PAGE).unwrap();
        // SAFETY: a non-zero layout; freed by the caller.
        let base = unsafe { std::alloc::alloc_zeroed(layout) };
        let mut blocks = Vec::new();
        for at in (0..4 * PAGE - 48).step_by(48) {
            let f = Fields {
                size: 32,
                stack: 0,
                task: at as u32,
                epoch: 0,
                tracked: true,
                watched: false,
            };
            // SAFETY: 16-aligned, inside the allocation.
            unsafe { header::write(base.add(at), &f) };
            blocks.push(base as usize + at + HEADER);
        }
        // SAFETY: a copy of the first header inside the first block's data.
        unsafe {
            base.add(HEADER + 16)
                .cast::<[u64; 2]>()
                .write(base.cast::<[u64; 2]>().read())
        };
        (base, layout, blocks)
    }

    fn walk(in_place: bool, capacity: usize, a: usize, b: usize) -> Vec<usize> {
        let mut w = Walk {
            next: 0,
            in_place,
            out: Vec::with_capacity(capacity),
            pagemap: None,
            entries: vec![0; PAGEMAP_BATCH],
            buf: vec![[0; 2]; COPY_CHUNK / HEADER],
        };
        w.run(a, b);
        w.out.iter().map(|r| r.addr).collect()
    }

    /// Rules 3, 5 and 6: in place, copied, and in place with an output that
    /// fills up half-way (the walk goes on copying), every header is found
    /// once and the planted copy never.
    #[test]
    fn every_reading_finds_the_same_blocks() {
        let (base, layout, blocks) = pages_with_headers();
        let (a, b) = (base as usize, base as usize + 4 * PAGE);
        assert_eq!(walk(true, blocks.len(), a, b), blocks);
        assert_eq!(walk(false, 0, a, b), blocks);
        assert_eq!(walk(true, blocks.len() / 2, a, b), blocks);
        // SAFETY: allocated above with `layout`.
        unsafe { std::alloc::dealloc(base, layout) };
    }
}
