//! Threads parked in the kernel across the fork, and their stack pointers
//! there (rule 14): proved by the parent from `/proc` around its `fork`
//! (rule 15), sent to the child, which scans their stacks from there up.

use crate::snapshot::threads::{MAX_THREADS, ThreadInfo};

/// Bytes kept below a parked thread's stack pointer (rule 14): x86_64's
/// red zone, which a leaf function may use without moving the pointer.
/// aarch64 has none; the same margin there costs nothing.
const BELOW_SP: usize = 128;

/// A thread's context switches (voluntary, involuntary), before the fork.
pub(super) struct Before {
    tid: u32,
    switches: (u64, u64),
}

/// Rule 14 (a): the switch counts of the threads `tids`, read just before
/// the fork; a thread whose counts cannot be read is left out.
pub(super) fn before(tids: impl Iterator<Item = u32>) -> Vec<Before> {
    tids.filter_map(|tid| {
        let switches = switches(tid)?;
        Some(Before { tid, switches })
    })
    .collect()
}

/// Rule 14 (b): of the threads read `before`, those that stayed off the CPU
/// across the fork, each with its stack pointer there, sorted by thread.
pub(super) fn after(before: &[Before]) -> Vec<(u32, u64)> {
    let mut parked: Vec<(u32, u64)> = before
        .iter()
        .filter_map(|b| {
            // The line first, the counts last (see rule 14).
            let sp = stack_pointer(b.tid)?;
            (switches(b.tid)? == b.switches).then_some((b.tid, sp))
        })
        .collect();
    parked.sort_unstable();
    parked
}

/// The stack pointer in `/proc/self/task/TID/syscall`, unless the thread is
/// `running` (on a CPU, runnable, or moving when the kernel looked).
fn stack_pointer(tid: u32) -> Option<u64> {
    let mut buf = [0u8; 256];
    let n = read_task_file(tid, b"syscall", &mut buf)?;
    parse_stack_pointer(&buf[..n])
}

/// `NR ARG1..ARG6 SP PC` in a system call, `-1 SP PC` asleep outside one
/// (a page fault): decimal, then hexadecimal with `0x`.
fn parse_stack_pointer(line: &[u8]) -> Option<u64> {
    let line = core::str::from_utf8(line).ok()?;
    let mut fields = [""; 9];
    let mut n = 0;
    for field in line.split_ascii_whitespace() {
        *fields.get_mut(n)? = field;
        n += 1;
    }
    let nr: i64 = fields[0].parse().ok()?;
    (n == if nr < 0 { 3 } else { 9 }).then_some(())?;
    u64::from_str_radix(fields[n - 2].strip_prefix("0x")?, 16).ok()
}

/// The thread's voluntary and involuntary context switches, from
/// `/proc/self/task/TID/status`.
fn switches(tid: u32) -> Option<(u64, u64)> {
    let mut buf = [0u8; 4096];
    let n = read_task_file(tid, b"status", &mut buf)?;
    parse_switches(&buf[..n])
}

fn parse_switches(status: &[u8]) -> Option<(u64, u64)> {
    let (mut voluntary, mut involuntary) = (None, None);
    for line in status.split(|&b| b == b'\n') {
        let count = |prefix: &[u8]| -> Option<u64> {
            let rest = line.strip_prefix(prefix)?;
            core::str::from_utf8(rest).ok()?.trim().parse().ok()
        };
        voluntary = voluntary.or_else(|| count(b"voluntary_ctxt_switches:"));
        involuntary = involuntary.or_else(|| count(b"nonvoluntary_ctxt_switches:"));
    }
    Some((voluntary?, involuntary?))
}

/// Reads `/proc/self/task/TID/NAME` into `buf` with plain system calls
/// (rule 15); the bytes read, `None` if it cannot be opened or read.
fn read_task_file(tid: u32, name: &[u8], buf: &mut [u8]) -> Option<usize> {
    let mut path = [0u8; 64];
    let mut len = 0;
    let mut digits = [0u8; 10];
    let mut d = digits.len();
    let mut t = tid;
    loop {
        d -= 1;
        digits[d] = b'0' + (t % 10) as u8;
        t /= 10;
        if t == 0 {
            break;
        }
    }
    for part in [&b"/proc/self/task/"[..], &digits[d..], b"/", name] {
        path.get_mut(len..len + part.len())?.copy_from_slice(part);
        len += part.len();
    }
    // `path` ends in a 0 byte: `name` is short (at most 64 - 16 - 10 - 2).
    (len < path.len()).then_some(())?;
    let path = core::ffi::CStr::from_bytes_until_nul(&path).ok()?;
    super::raw_read::read_file(path, buf)
}

/// Bytes of one thread on the wire: its id, then its stack pointer.
const ENTRY: usize = 4 + 8;

/// The parent's message to the child (rule 15): the count of threads, then
/// each thread's id and stack pointer, in native byte order.
pub(super) fn encode(parked: &[(u32, u64)]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(4 + parked.len() * ENTRY);
    bytes.extend_from_slice(&(parked.len() as u32).to_ne_bytes());
    for &(tid, sp) in parked {
        bytes.extend_from_slice(&tid.to_ne_bytes());
        bytes.extend_from_slice(&sp.to_ne_bytes());
    }
    bytes
}

/// How many entry bytes follow a message's first four bytes, if the count
/// they give is possible.
pub(super) fn entry_bytes(count: [u8; 4]) -> Option<usize> {
    let n = u32::from_ne_bytes(count) as usize;
    (n <= MAX_THREADS).then_some(n * ENTRY)
}

/// Where each parked thread's stack is scanned from, as the child learnt
/// it from the parent.
#[derive(Debug, Default)]
pub(super) struct Parked(Vec<(u32, u64)>);

impl Parked {
    /// The entries of a message (what follows its count); no thread
    /// parked unless they are whole and sorted by thread.
    pub(super) fn decode(entries: &[u8]) -> Parked {
        let parked: Vec<(u32, u64)> = entries
            .chunks_exact(ENTRY)
            .map(|e| {
                let (tid, sp) = e.split_at(4);
                let tid = u32::from_ne_bytes(tid.try_into().unwrap_or_default());
                (tid, u64::from_ne_bytes(sp.try_into().unwrap_or_default()))
            })
            .collect();
        let whole = entries.len().is_multiple_of(ENTRY);
        let sorted = parked.windows(2).all(|w| w[0].0 < w[1].0);
        Parked(if whole && sorted { parked } else { Vec::new() })
    }

    /// Where thread `t`'s stack scan starts (rule 14): a margin below its
    /// stack pointer at the fork if it was parked there with the pointer in
    /// its stack, else `None` (its whole stack).
    pub(super) fn scan_from(&self, t: &ThreadInfo) -> Option<usize> {
        let i = self.0.binary_search_by_key(&t.tid, |e| e.0).ok()?;
        let sp = usize::try_from(self.0[i].1).ok()?;
        (t.stack_lo..t.stack_hi)
            .contains(&sp)
            .then(|| sp.saturating_sub(BELOW_SP).max(t.stack_lo))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscall_lines_give_the_stack_pointer() {
        let in_call =
            b"202 0x5608247db088 0x189 0x0 0x0 0x0 0xffffffff 0x7fd56feebdc0 0x7fd570776f16\n";
        assert_eq!(parse_stack_pointer(in_call), Some(0x7fd5_6fee_bdc0));
        assert_eq!(
            parse_stack_pointer(b"-1 0x7ffc1000 0x401000\n"),
            Some(0x7ffc_1000)
        );
        for bad in [
            &b"running\n"[..],
            b"",
            b"202 0x1 0x2\n",
            b"-1 0x1 0x2 0x3 0x4\n",
            b"x 0x1 0x2\n",
            b"-1 7ffc1000 0x401000\n",
        ] {
            assert_eq!(parse_stack_pointer(bad), None, "{:?}", bad);
        }
    }

    #[test]
    fn status_gives_both_switch_counts() {
        let status = b"Name:\tx\nvoluntary_ctxt_switches:\t12\nnonvoluntary_ctxt_switches:\t3\n";
        assert_eq!(parse_switches(status), Some((12, 3)));
        assert_eq!(parse_switches(b"voluntary_ctxt_switches:\t12\n"), None);
    }

    #[test]
    fn this_threads_files_read() {
        // SAFETY: gettid has no preconditions.
        let me = unsafe { libc::gettid() } as u32;
        assert!(switches(me).is_some());
        // Reading its own `syscall`, a thread is in a system call: `read`.
        assert!(stack_pointer(me).is_some());
        assert_eq!(switches(u32::MAX), None);
    }

    /// Thread `tid`'s scheduler state letter, `R`, `S`, ...
    fn state(tid: u32) -> u8 {
        let stat = std::fs::read(format!("/proc/self/task/{tid}/stat")).unwrap();
        let close = stat.iter().rposition(|&b| b == b')').unwrap();
        stat[close + 2]
    }

    /// Waits (for a condition, not a time) until thread `tid` sleeps.
    fn wait_asleep(tid: u32) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while state(tid) != b'S' {
            assert!(
                std::time::Instant::now() < deadline,
                "thread {tid} never slept"
            );
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }

    #[test]
    fn a_thread_that_ran_in_between_is_not_parked_even_on_the_same_line() {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        let (reader, mut writer) = std::io::pipe().unwrap();
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let (ack_tx, ack_rx) = std::sync::mpsc::channel();
        let h = std::thread::spawn(move || {
            // SAFETY: gettid has no preconditions.
            tid_tx.send(unsafe { libc::gettid() } as u32).unwrap();
            let mut byte = 0u8;
            // SAFETY: reads one byte into a valid local from our pipe.
            while unsafe { libc::read(reader.as_raw_fd(), (&raw mut byte).cast(), 1) } == 1 {
                ack_tx.send(()).unwrap();
            }
        });
        let tid = tid_rx.recv().unwrap();
        wait_asleep(tid);
        let before = before([tid].into_iter());
        let parked = after(&before);
        assert!(matches!(parked[..], [(t, _)] if t == tid), "{parked:?}");
        // It wakes, runs, and sleeps again in the same `read`.
        writer.write_all(b"x").unwrap();
        ack_rx.recv().unwrap();
        wait_asleep(tid);
        assert_eq!(stack_pointer(tid), Some(parked[0].1), "the same line");
        assert_eq!(after(&before), [], "only its switch counts tell");
        drop(writer);
        h.join().unwrap();
    }

    #[test]
    fn a_message_round_trips_and_a_broken_one_means_none() {
        let parked = [(7, 0x1000), (9, 0x2000)];
        let bytes = encode(&parked);
        let count: [u8; 4] = bytes[..4].try_into().unwrap();
        assert_eq!(entry_bytes(count), Some(2 * ENTRY));
        assert_eq!(Parked::decode(&bytes[4..]).0, parked);
        assert!(Parked::decode(&bytes[4..bytes.len() - 1]).0.is_empty());
        let unsorted = encode(&[(9, 0x2000), (7, 0x1000)]);
        assert!(Parked::decode(&unsorted[4..]).0.is_empty());
        assert_eq!(entry_bytes((MAX_THREADS as u32 + 1).to_ne_bytes()), None);
    }

    #[test]
    fn the_scan_starts_below_the_pointer_inside_the_stack_only() {
        let t = ThreadInfo {
            tid: 7,
            stack_lo: 0x1000,
            stack_hi: 0x9000,
            thread_pointer: 0x8f00,
        };
        let at = |sp| Parked(vec![(7, sp)]).scan_from(&t);
        assert_eq!(at(0x5000), Some(0x5000 - BELOW_SP));
        assert_eq!(at(0x1010), Some(0x1000));
        assert_eq!(at(0x9000), None, "an alternate signal stack");
        assert_eq!(at(0x800), None);
        assert_eq!(Parked(vec![(8, 0x5000)]).scan_from(&t), None);
    }
}
