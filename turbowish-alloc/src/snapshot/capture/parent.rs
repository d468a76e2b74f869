//! Snapshot capture by `fork()`.
//!
//! The parent stops only for the `fork` itself: the fork protocol (see
//! [`fork`](crate::snapshot::atfork)) holds every table lock across it, so the child
//! starts with a consistent copy of the table and of the whole address space,
//! frozen at one instant by copy-on-write. The child does the slow work
//! (scan, symbolize, compress, write) and leaves with `_exit`.
//!
//! # Rules
//!
//! 1. One capture at a time per process (a flag, which the child of a
//!    user's `fork` resets: fork rule 7).
//! 2. The child marks its only thread busy (the reentrancy guard) before
//!    anything else: its own allocations go untracked and never change the
//!    table it is reading.
//! 3. The child takes no lock another thread could have held at the fork: it
//!    prints nothing, never reads the environment, and reports to the parent
//!    through a pipe. (If user code panics inside the child, Rust's panic
//!    message could block on the stderr lock; the parent's time-out then
//!    kills the child.)
//! 4. The parent always reaps the child: it waits for the report up to the
//!    time-out, kills the child if it is late, and `waitpid`s it in every case.
//! 5. The snapshot file appears whole or not at all, readable by this user
//!    only, and no link another user planted redirects it: it is written to
//!    a new temporary file beside its final name and renamed (the rules of
//!    `turbowish_snap::files`). A child that failed or was killed leaves
//!    nothing: the parent removes its temporary files.
//! 6. The capturing thread's stack is scanned only above the point where the
//!    capture began. Below it are the capture's own frames, which hold copies
//!    of whatever the scan has just read (a conservative scan that read its
//!    own stack would find every block it had already visited).
//! 7. Reading the report survives signals (`EINTR`) and ends at its first
//!    line, so neither a signal nor another fork holding the pipe open can
//!    make the parent miss its deadline.
//! 8. The child blocks all signals, dies with its parent, closes the parent's
//!    descriptors and offers itself first to the OOM killer. Memory faults
//!    (`SIGSEGV`, `SIGBUS`) stay unblocked and are reported on the pipe.
//! 9. Typed walks (see [`typed`](crate::snapshot::typed)) run before the conservative
//!    scan, over the same frozen image; every block they read is checked
//!    first (trace rule 1), and a panic in a `Trace` impl is caught and
//!    recorded (trace rule 5) without losing the snapshot. The scan skips the
//!    blocks they walked completely: trace rule 4 would discard its edges
//!    from them anyway.
//! 10. No snapshot is written into a directory that every user may write to
//!     without the sticky bit: anyone could remove or replace the file there.
//!     The capture fails with an error that says so, before forking; it never
//!     writes elsewhere.
//! 11. Paths in the child's report and error messages are escaped
//!     ([`Shown`]): the report is one line, and so is every line printed
//!     from it.

use crate::error::Error;
use crate::heap::record::Record;
use crate::heap::stack::intern;
use crate::heap::stack::settings::Shown;
use crate::heap::{guard, table};
use crate::snapshot::atfork as fork;
use crate::snapshot::scan::{self, AddressIndex};
use crate::snapshot::statics::Statics;
use crate::snapshot::strings::StringTable;
use crate::snapshot::threads::{self, ThreadInfo};
use crate::snapshot::{modules, symbolize, typed};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};
use turbowish_snap::files;
use turbowish_snap::{Block, Edge, Root, RootKind, Snapshot};

/// What a finished snapshot holds, from [`snapshot_to`](crate::snapshot_to)
/// and the signal handler.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnapshotInfo {
    /// Where the file was written.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Live blocks in it.
    pub blocks: u64,
    /// Pointers between blocks found by the scan.
    pub edges: u64,
    /// This snapshot's number within the process, from 1.
    pub sequence: u32,
    /// How long the process was paused (the `fork`).
    pub pause: Duration,
    /// How long the whole capture took.
    pub elapsed: Duration,
}

/// Where a capture writes.
pub(crate) enum Target<'a> {
    /// This exact file.
    File(&'a Path),
    /// `turbowish-<pid>-<sequence>.twsnap` in this directory.
    Dir(&'a Path),
}

/// Rule 1. Not a `Mutex`: a user's `fork` during a capture must be able to
/// reset it in the child (fork rule 7), where the capturing thread is gone.
static CAPTURING: AtomicBool = AtomicBool::new(false);
static SEQUENCE: AtomicU32 = AtomicU32::new(0);

/// Holds [`CAPTURING`] for one capture.
struct OneAtATime;

impl OneAtATime {
    fn take() -> OneAtATime {
        while CAPTURING
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        OneAtATime
    }
}

impl Drop for OneAtATime {
    fn drop(&mut self) {
        CAPTURING.store(false, Ordering::Release);
    }
}

/// In the child of a user's fork (fork rule 7): no capture is running here.
pub(crate) fn reset_after_fork() {
    CAPTURING.store(false, Ordering::Release);
}

/// What the child needs, prepared by the parent before the fork.
struct Plan {
    path: PathBuf,
    pid: u32,
    start_token: u64,
    sequence: u32,
    modules: Vec<modules::LoadedModule>,
    fork_started: Instant,
    /// The capturing thread, and its stack pointer where the capture began:
    /// the child scans that thread's stack only above it (rule 6).
    tid: u32,
    capture_sp: usize,
    /// Clocks read just before the fork, for task times.
    clocks: typed::Clocks,
}

/// Takes one snapshot (rules 1 to 5, 10).
pub(crate) fn capture(target: Target<'_>, timeout: Duration) -> Result<SnapshotInfo, Error> {
    let _one = OneAtATime::take();
    let dir = match target {
        Target::File(path) => files::dir_of(path),
        Target::Dir(dir) => dir,
    };
    if let Some(why) = open_dir_problem(dir) {
        return Err(Error::Capture(format!("{why}; nothing was written")));
    }
    install_panic_hook();
    let started = Instant::now();
    let mut plan = plan(target, crate::heap::stack::walk::stack_pointer());
    let (read_fd, write_fd) = pipe()?;
    // The pause is the fork alone: everything before it ran while the rest of
    // the process went on.
    plan.fork_started = Instant::now();
    plan.clocks = typed::Clocks::now();
    fork::mark_snapshot_fork(true);
    // SAFETY: the child runs only `child_main`, which obeys rule 3 and ends
    // in `_exit`; the atfork handlers make TurboWish's own locks safe.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        child_main(&plan, write_fd);
    }
    let pause = plan.fork_started.elapsed();
    fork::mark_snapshot_fork(false);
    // SAFETY: closes our copy of the write end, which we own.
    unsafe { libc::close(write_fd) };
    if pid < 0 {
        // SAFETY: closes the read end, which we own.
        unsafe { libc::close(read_fd) };
        return Err(Error::last_os("fork"));
    }
    let report = wait_for_report(read_fd, pid, timeout);
    let report = reap(pid, report).inspect_err(|_| {
        // A child killed while writing leaves its temporary file (rule 5).
        files::remove_temp_files(&plan.path, pid as u32);
    })?;
    Ok(SnapshotInfo {
        path: plan.path,
        bytes: report.bytes,
        blocks: report.blocks,
        edges: report.edges,
        sequence: plan.sequence,
        pause,
        elapsed: started.elapsed(),
    })
}

fn plan(target: Target<'_>, capture_sp: usize) -> Plan {
    let pid = std::process::id();
    let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed) + 1;
    let path = match target {
        Target::File(p) => p.to_path_buf(),
        Target::Dir(d) => d.join(files::snapshot_name(pid, sequence)),
    };
    Plan {
        path,
        pid,
        start_token: start_token(pid),
        sequence,
        modules: modules::loaded_modules(),
        fork_started: Instant::now(),
        // SAFETY: gettid has no preconditions.
        tid: unsafe { libc::gettid() } as u32,
        capture_sp,
        clocks: typed::Clocks::now(),
    }
}

/// Rule 10: why snapshots must not go into `dir`, if every user may write
/// to it without the sticky bit. A directory that cannot be read is left to
/// the write to report.
pub(crate) fn open_dir_problem(dir: &Path) -> Option<String> {
    const OTHERS_WRITE: u32 = 0o002;
    const STICKY: u32 = 0o1000;
    let m = std::fs::metadata(dir).ok()?;
    let open = m.is_dir() && m.mode() & OTHERS_WRITE != 0 && m.mode() & STICKY == 0;
    open.then(|| {
        format!(
            "directory {} is writable by every user and has no sticky bit, so anyone could \
             replace a snapshot there (chmod o-w or chmod +t it)",
            Shown::value(dir.as_os_str().as_bytes())
        )
    })
}

/// The process's start time in clock ticks since boot (`/proc/PID/stat`
/// field 22): with the pid, it names one run of one process.
fn start_token(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) may contain spaces: count after its ')'.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_ascii_whitespace().nth(19))
        .and_then(|t| t.parse().ok())
        .unwrap_or(0)
}

fn pipe() -> Result<(i32, i32), Error> {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` is a valid out-array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Error::last_os("creating the capture pipe"));
    }
    Ok((fds[0], fds[1]))
}

/// The child's report: `ok BYTES BLOCKS EDGES` or `error MESSAGE`.
struct Report {
    bytes: u64,
    blocks: u64,
    edges: u64,
}

fn wait_for_report(fd: i32, pid: i32, timeout: Duration) -> Result<String, Error> {
    // A time-out too large to add is as good as none.
    let deadline = Instant::now().checked_add(timeout);
    // SAFETY: sets a flag on our own pipe's read end.
    unsafe { libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK) };
    let mut text = Vec::new();
    let result = loop {
        // The report is one line; stop at its end rather than waiting for
        // EOF, which never comes if another fork inherited the write end.
        if let Some(end) = text.iter().position(|&b| b == b'\n') {
            text.truncate(end);
            break Ok(String::from_utf8_lossy(&text).into_owned());
        }
        let left = deadline.map_or(Duration::from_secs(3600), |d| {
            d.saturating_duration_since(Instant::now())
        });
        if left.is_zero() {
            // SAFETY: kills our own child (rule 4); it is reaped by `reap`.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            break Err(Error::TimedOut(timeout));
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, left.as_millis().clamp(1, 60_000) as i32) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue; // a signal arrived: the deadline still holds
            }
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            break Err(Error::last_os("waiting for the capture report"));
        }
        let mut buf = [0u8; 512];
        // SAFETY: reads into a valid buffer from our (non-blocking) pipe.
        let got = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        match got {
            0 => break Ok(String::from_utf8_lossy(&text).into_owned()),
            g if g > 0 => text.extend_from_slice(&buf[..g as usize]),
            _ => {} // EINTR or EAGAIN: poll again
        }
    };
    // SAFETY: closes the read end, which we own.
    unsafe { libc::close(fd) };
    result
}

/// Waits for the child to exit (rule 4) and interprets its report.
fn reap(pid: i32, report: Result<String, Error>) -> Result<Report, Error> {
    let mut status = 0;
    loop {
        // SAFETY: waits for our own child; `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            break;
        }
    }
    let text = report?;
    if let Some(rest) = text.strip_prefix("ok ") {
        let mut n = rest
            .split_ascii_whitespace()
            .map(|x| x.parse().unwrap_or(0));
        let mut next = || n.next().unwrap_or(0);
        return Ok(Report {
            bytes: next(),
            blocks: next(),
            edges: next(),
        });
    }
    if let Some(why) = text.strip_prefix("error ") {
        return Err(Error::Capture(why.trim_end().to_owned()));
    }
    Err(Error::ChildDied(if libc::WIFSIGNALED(status) {
        format!("was killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!(
            "exited with status {} without a report",
            libc::WEXITSTATUS(status)
        )
    }))
}

/// The child: builds and writes the snapshot, reports, exits (rules 2, 3).
fn child_main(plan: &Plan, report_fd: i32) -> ! {
    // Rule 2.
    if let Some(busy) = guard::enter() {
        core::mem::forget(busy);
    }
    isolate(report_fd);
    let pause = plan.fork_started.elapsed();
    let result = std::panic::catch_unwind(|| build_and_write(plan, pause));
    let (line, code) = match result {
        Ok(Ok((bytes, blocks, edges))) => (format!("ok {bytes} {blocks} {edges}\n"), 0),
        Ok(Err(why)) => (format!("error {why}\n"), 1),
        Err(_) => ("error the capture panicked\n".to_owned(), 1),
    };
    // SAFETY: writes a valid buffer to our pipe, then ends the child without
    // running destructors or atexit handlers (rule 3).
    unsafe {
        libc::write(report_fd, line.as_ptr().cast(), line.len());
        libc::_exit(code)
    }
}

/// Cuts the child off from the parent's world (rule 8): it must not run the
/// parent's signal handlers (a `pkill -USR1` would otherwise trigger another
/// snapshot through the shared pipe), hold the parent's files open, outlive
/// the parent, or be spared by the OOM killer at the parent's expense.
fn isolate(report_fd: i32) {
    // SAFETY: plain system calls on this process: block every signal (the
    // parent's SIGKILL still works) and ask for SIGKILL when the parent
    // dies. Neither touches memory we own.
    unsafe {
        let mut all: libc::sigset_t = core::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, core::ptr::null_mut());
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() == 1 {
            libc::_exit(1); // the parent is already gone
        }
    }
    close_all_but(report_fd);
    let _ = std::fs::write("/proc/self/oom_score_adj", "1000");
    report_faults(report_fd);
    // A panic in a user's `Trace` impl is caught and recorded; the hook
    // installed before the fork stays silent here (rule 3).
    CHILD_PANICS_SILENT.store(true, Ordering::Relaxed);
}

/// Set in the capture child: the panic hook says nothing (rule 3).
static CHILD_PANICS_SILENT: AtomicBool = AtomicBool::new(false);

/// Installs, once and in the parent, a panic hook that defers to the one it
/// replaces except in the capture child. Setting a hook *in* the child would
/// take the hook lock, which a parent thread running a panic hook at the
/// fork may hold for ever (rule 3).
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !CHILD_PANICS_SILENT.load(Ordering::Relaxed) {
                previous(info);
            }
        }));
    });
}

/// Where a fault is reported (see [`report_faults`]).
static REPORT_FD: core::sync::atomic::AtomicI32 = core::sync::atomic::AtomicI32::new(-1);

/// Turns a memory fault in the child (a `Trace` impl that followed a pointer
/// its checks could not see, such as a torn value's) into a clear report
/// instead of a silent death.
fn report_faults(report_fd: i32) {
    extern "C" fn on_fault(_: libc::c_int) {
        const LINE: &[u8] = b"error the capture child hit a memory fault; a Trace impl may \
            have read through a torn value (no snapshot was written)\n";
        let fd = REPORT_FD.load(core::sync::atomic::Ordering::Relaxed);
        // SAFETY: write(2) and _exit(2) are async-signal-safe; the buffer is
        // a static.
        unsafe {
            libc::write(fd, LINE.as_ptr().cast(), LINE.len());
            libc::_exit(3);
        }
    }
    REPORT_FD.store(report_fd, core::sync::atomic::Ordering::Relaxed);
    // A stack overflow faults with no stack left to run the handler on: give
    // it its own (leaked: the child ends with `_exit`).
    let alt: &'static mut [u8] = Box::leak(vec![0u8; 64 * 1024].into_boxed_slice());
    // SAFETY: installs a handler that only calls async-signal-safe functions,
    // on an alternate stack that lives for the rest of the process, and
    // unblocks the two synchronous fault signals in this (single-threaded)
    // child.
    unsafe {
        let stack = libc::stack_t {
            ss_sp: alt.as_mut_ptr().cast(),
            ss_flags: 0,
            ss_size: alt.len(),
        };
        libc::sigaltstack(&stack, core::ptr::null_mut());
        let mut action: libc::sigaction = core::mem::zeroed();
        action.sa_flags = libc::SA_ONSTACK;
        action.sa_sigaction = on_fault as *const () as usize;
        let mut faults: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut faults);
        for sig in [libc::SIGSEGV, libc::SIGBUS] {
            libc::sigaction(sig, &action, core::ptr::null_mut());
            libc::sigaddset(&mut faults, sig);
        }
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &faults, core::ptr::null_mut());
    }
}

/// Closes every descriptor from 3 up except `keep` (which may be below 3 if
/// the process had closed its standard streams).
fn close_all_but(keep: i32) {
    let keep = keep.max(0) as libc::c_uint;
    let close = |first: libc::c_uint, last: libc::c_uint| {
        if first <= last {
            // SAFETY: closes descriptors of this process only; the child
            // uses none of them (it opens its own files afterwards).
            unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) };
        }
    };
    if keep >= 3 {
        close(3, keep - 1);
    }
    close(keep.max(2) + 1, libc::c_uint::MAX);
}

fn build_and_write(plan: &Plan, pause: Duration) -> Result<(u64, u64, u64), String> {
    let mut records = table::records();
    records.sort_unstable_by_key(|r| r.addr);
    records.dedup_by_key(|r| r.addr);
    let mut snap = Snapshot::default();
    let readable = scan::readable_ranges().map_err(|e| format!("reading /proc/self/maps: {e}"))?;
    let index = AddressIndex::new(records.iter().map(|r| (r.addr as u64, r.size as u64)));
    let ranges = root_ranges(plan, &threads::registered());
    // Typed walks first (rule 9): a block they walked completely has its
    // exact edges, so the conservative scan need not read it.
    let typed = typed::Typed::collect(&records, &index, &readable, ranges.len() as u32);
    let scan_started = Instant::now();
    let mut scanned = 0u64;
    let walked = typed.complete_mask(records.len());
    snap.edges = block_edges(&records, &walked, &index, &readable, &mut scanned);
    let scanned_roots: Vec<_> = ranges
        .into_iter()
        .map(|r| {
            let found = scan_root(&index, &readable, r.start, r.end, &mut scanned);
            (r, found)
        })
        .collect();
    let scan_ns = scan_started.elapsed().as_nanos() as u64;
    let symbolize_started = Instant::now();
    let stack_index = add_stacks(&mut snap, plan, &records);
    let symbolize_ns = symbolize_started.elapsed().as_nanos() as u64;
    let mut strings = StringTable::new(&snap);
    let mut roots = Vec::with_capacity(scanned_roots.len());
    let mut statics: Vec<Option<Statics>> = plan.modules.iter().map(|_| None).collect();
    for (r, found) in scanned_roots {
        let labels = match r.module {
            Some(m) => {
                let statics = statics[m].get_or_insert_with(|| Statics::load(&plan.modules[m]));
                static_labels(&mut snap, &mut strings, statics, &found)
            }
            None => Vec::new(),
        };
        roots.push(Root {
            kind: r.kind,
            label: strings.intern(&mut snap, &r.label),
            start: r.start,
            len: r.end - r.start,
            targets: found.iter().map(|f| f.0).collect(),
            labels,
            task: None,
        });
    }
    snap.roots = roots;
    snap.blocks = records
        .iter()
        .map(|r| Block {
            addr: r.addr as u64,
            size: r.size as u64,
            task: u64::from(r.task),
            stack: stack_index(r.stack),
            epoch: r.epoch,
            type_name: 0,
        })
        .collect();
    fill_process(&mut snap, &mut strings, plan);
    fill_capture(&mut snap, pause, scan_ns, symbolize_ns, scanned);
    typed.apply(&mut snap, &mut strings, plan.clocks);
    let bytes = turbowish_snap::write_file(&snap, &plan.path)
        .map_err(|e| format!("cannot write {}: {e}", Shown::path(&plan.path)))?;
    Ok((bytes, snap.blocks.len() as u64, snap.edges.len() as u64))
}

/// Pointers from every block to every block, deduplicated per block,
/// except from the blocks `walked` marks (their edges are the typed walk's).
fn block_edges(
    records: &[Record],
    walked: &[bool],
    index: &AddressIndex,
    readable: &[(u64, u64)],
    scanned: &mut u64,
) -> Vec<Edge> {
    let mut edges = Vec::new();
    for (from, r) in records.iter().enumerate() {
        if walked[from] {
            continue;
        }
        // A stale record (a free TurboWish missed) may name unmapped memory:
        // `scan_clipped` reads only the mapped part.
        let (start, end) = (r.addr as u64, (r.addr + r.size) as u64);
        let targets = scan_clipped(index, readable, start, end, scanned);
        edges.extend(targets.into_iter().map(|to| Edge::new(from as u32, to)));
    }
    edges
}

/// The blocks pointed into from the mapped parts of `[start, end)`, sorted,
/// each once.
fn scan_clipped(
    index: &AddressIndex,
    readable: &[(u64, u64)],
    start: u64,
    end: u64,
    scanned: &mut u64,
) -> Vec<u32> {
    let mut targets = Vec::new();
    for (s, e) in scan::clip(readable, start, end) {
        *scanned += e - s;
        // SAFETY: `clip` keeps only ranges inside readable mappings. What is
        // scanned stays mapped: the child never frees the parent's blocks,
        // and roots are module segments, thread stacks and static TLS.
        unsafe { scan::scan(index, s, e - s, &mut targets) };
    }
    targets.sort_unstable();
    targets.dedup();
    targets
}

/// Bytes of static TLS beside the thread pointer: every module's TLS block
/// (`PT_TLS`, each rounded to its alignment), plus the surplus glibc reserves
/// for libraries loaded later (1664 bytes by default, and 512 more for
/// optional static TLS). Clipped to mapped memory before it is read.
fn static_tls_size(modules: &[modules::LoadedModule]) -> u64 {
    const SURPLUS: u64 = 1664 + 512;
    let blocks: u64 = modules
        .iter()
        .filter_map(|m| m.tls)
        .map(|(size, align)| size.next_multiple_of(align.next_power_of_two()))
        .sum();
    (blocks + SURPLUS).next_multiple_of(64)
}

/// A region scanned as a root.
struct RootRange {
    kind: RootKind,
    label: String,
    start: u64,
    end: u64,
    /// For module data, the module (whose symbols name the statics).
    module: Option<usize>,
}

impl RootRange {
    fn new(kind: RootKind, label: String, start: u64, end: u64) -> RootRange {
        RootRange {
            kind,
            label,
            start,
            end,
            module: None,
        }
    }
}

/// The root regions: module data, then each thread's stack and TLS.
fn root_ranges(plan: &Plan, threads: &[ThreadInfo]) -> Vec<RootRange> {
    let mut roots = Vec::new();
    let tls_size = static_tls_size(&plan.modules);
    for (i, m) in plan.modules.iter().enumerate() {
        for &(start, end) in &m.data {
            roots.push(RootRange {
                module: Some(i),
                ..RootRange::new(RootKind::Static, m.path.clone(), start, end)
            });
        }
    }
    for t in threads {
        let tp = t.thread_pointer as u64;
        // Rule 6.
        let lo = if t.tid == plan.tid {
            t.stack_lo.max(plan.capture_sp)
        } else {
            t.stack_lo
        };
        if lo < t.stack_hi {
            roots.push(RootRange::new(
                RootKind::ThreadStack,
                format!("thread {}", t.tid),
                lo as u64,
                t.stack_hi as u64,
            ));
        }
        // Threads other than the main one keep their TLS at the top of their
        // stack mapping, already scanned above.
        if (t.stack_lo..t.stack_hi).contains(&t.thread_pointer) {
            continue;
        }
        // x86_64 keeps static TLS below the thread pointer, aarch64 above
        // its 16-byte thread control block.
        let (tls_lo, tls_hi) = if cfg!(target_arch = "aarch64") {
            (tp, tp.saturating_add(16 + tls_size))
        } else {
            (tp.saturating_sub(tls_size), tp)
        };
        if tp != 0 {
            roots.push(RootRange::new(
                RootKind::ThreadLocal,
                format!("thread {}", t.tid),
                tls_lo,
                tls_hi,
            ));
        }
    }
    roots
}

/// The blocks pointed into from the mapped parts of `[start, end)`, sorted,
/// each once, with the address of the first word pointing at each.
fn scan_root(
    index: &AddressIndex,
    readable: &[(u64, u64)],
    start: u64,
    end: u64,
    scanned: &mut u64,
) -> Vec<(u32, u64)> {
    let mut found = Vec::new();
    for (s, e) in scan::clip(readable, start, end) {
        *scanned += e - s;
        // SAFETY: as in `scan_clipped`: `clip` keeps only readable ranges,
        // and roots stay mapped in the child.
        unsafe { scan::scan_words(index, s, e - s, |at, b| found.push((b, at))) };
    }
    found.sort_unstable();
    found.dedup_by_key(|f| f.0);
    found
}

/// Per target of a module-data root, the static holding the first word
/// that points at it (0 where no symbol covers the word); empty when no
/// word is named, as the format allows.
fn static_labels(
    snap: &mut Snapshot,
    strings: &mut StringTable,
    statics: &Statics,
    found: &[(u32, u64)],
) -> Vec<u32> {
    let labels: Vec<u32> = found
        .iter()
        .map(|&(_, at)| statics.name_of(at).map_or(0, |n| strings.intern(snap, n)))
        .collect();
    if labels.iter().all(|&l| l == 0) {
        return Vec::new();
    }
    labels
}

/// Symbolizes the stacks the blocks use; returns the map from interned
/// stack id to the snapshot's stack index.
fn add_stacks(snap: &mut Snapshot, plan: &Plan, records: &[Record]) -> impl Fn(u32) -> u32 + use<> {
    let mut ids: Vec<u32> = records
        .iter()
        .map(|r| r.stack)
        .filter(|&s| s != 0)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let frames: Vec<&[usize]> = ids.iter().map(|&id| intern::frames_of(id)).collect();
    let first = snap.stacks.len() as u32;
    symbolize::add_stacks(snap, &plan.modules, &frames);
    move |id| {
        if id == 0 {
            return 0;
        }
        ids.binary_search(&id).map_or(0, |i| first + i as u32)
    }
}

fn fill_process(snap: &mut Snapshot, strings: &mut StringTable, plan: &Plan) {
    let exe = std::fs::read_link("/proc/self/exe")
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let build_id = plan
        .modules
        .iter()
        .find(|m| m.path == exe)
        .map(|m| m.build_id.clone())
        .unwrap_or_default();
    snap.process = turbowish_snap::Process {
        pid: plan.pid,
        exe: strings.intern(snap, &exe),
        build_id,
        start_token: plan.start_token,
        sequence: plan.sequence,
        epoch: table::EPOCH.load(Ordering::Relaxed),
        time_ns: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    };
}

fn fill_capture(
    snap: &mut Snapshot,
    pause: Duration,
    scan_ns: u64,
    symbolize_ns: u64,
    scanned: u64,
) {
    // The table's own counters in the frozen image: what `stats()` would
    // have said under the same locks, independent of the records read.
    // (Not `crate::stats()` itself: this thread is marked busy.)
    let totals = table::lock_all().totals();
    snap.capture = turbowish_snap::Capture {
        pause_ns: pause.as_nanos() as u64,
        scan_ns,
        symbolize_ns,
        scanned_bytes: scanned,
        live_bytes: totals.live_bytes,
        live_blocks: totals.live_blocks,
        untracked_blocks: table::UNTRACKED.load(Ordering::Relaxed),
        unknown_frees: table::UNKNOWN_FREES.load(Ordering::Relaxed),
        ..Default::default() // the typed part's figures come after
    };
}
