//! The parent's side of a capture: one at a time (rule 1), the fork, the
//! wait for the child's report (rules 4, 7) and the reaping; a failed child's
//! temporary files removed (rule 5), an open directory refused (rule 10),
//! the pause sent to the child (rule 12), all of it untracked (rule 13); the
//! threads that stayed parked across the fork found and sent to the child
//! (rules 14, 15).

use super::child;
use super::parked;
use super::plan::{self, Target};
use crate::error::Error;
use crate::heap::guard;
use crate::heap::stack::walk::stack_pointer;
use crate::snapshot::{atfork, threads, typed, unregistered};
use crate::stderr::Shown;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};
use turbowish_format::files;

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
    /// How long the process was paused: from taking TurboWish's locks
    /// before the `fork` to releasing them after it, in this process
    /// (capture rule 12). The stderr line and the file's `pause_ns` give
    /// the same figure.
    pub pause: Duration,
    /// How long the whole capture took.
    pub elapsed: Duration,
}

/// Rule 1. Not a `Mutex`: a user's `fork` during a capture must be able to
/// reset it in the child (fork rule 7), where the capturing thread is gone.
static CAPTURING: AtomicBool = AtomicBool::new(false);

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

/// The thread id of the capture about to fork (fork rule 6), 0 when none: a
/// `fork` by any other thread in that window must not advance the epoch.
pub(crate) static SNAPSHOT_FORK: AtomicU32 = AtomicU32::new(0);

/// Marks the calling thread's next fork as a snapshot's (fork rule 6).
fn mark_snapshot_fork(on: bool) {
    let tid = if on {
        // SAFETY: gettid has no preconditions.
        (unsafe { libc::gettid() }) as u32
    } else {
        0
    };
    SNAPSHOT_FORK.store(tid, Ordering::Relaxed);
}

/// Takes one snapshot (rules 1 to 5, 10, 12, 13).
pub(crate) fn capture(target: Target<'_>, timeout: Duration) -> Result<SnapshotInfo, Error> {
    let _one = OneAtATime::take();
    // Rule 6: the child scans this thread's stack only above this point.
    let capture_sp = stack_pointer();
    // Rule 13: the capture's own memory is untracked; what goes back to the
    // caller is allocated anew in the caller's mode (guard rule 2).
    match guard::untracked(|| capture_untracked(target, timeout, capture_sp)) {
        Ok(info) => {
            let out = info.clone();
            guard::untracked(|| drop(info));
            Ok(out)
        }
        Err(e) => Err(e.handed_over()),
    }
}

/// The capture itself, with this thread busy (rule 13) but for the `fork`.
fn capture_untracked(
    target: Target<'_>,
    timeout: Duration,
    capture_sp: usize,
) -> Result<SnapshotInfo, Error> {
    let dir = match target {
        Target::File(path) => files::dir_of(path),
        Target::Dir(dir) => dir,
    };
    if let Some(why) = open_dir_problem(dir) {
        return Err(Error::Capture(format!("{why}; nothing was written")));
    }
    child::install_panic_hook();
    let started = Instant::now();
    let mut plan = plan::plan(target, capture_sp);
    let (report_read, report_write) = pipe()?;
    let (pause_read, pause_write) = socket_pair()?;
    plan.clocks = typed::Clocks::now();
    // Rules 14 and 15: the other threads' switches just before the fork
    // (and its locks), whether they stayed parked just after; the threads
    // not registered, which the child cannot find (unregistered rule 2).
    let listed = listed_threads();
    plan.unregistered = unregistered::find_in_parent(&threads::registered(), &listed);
    let before = parked::before(other_threads(&listed, plan.tid));
    mark_snapshot_fork(true);
    // SAFETY: the child runs only `child_main`, which obeys rule 3 and ends
    // in `_exit`; the atfork handlers make TurboWish's own locks safe, for a
    // thread that is not busy (guard rule 3).
    let pid = guard::lifted(|| unsafe { libc::fork() });
    if pid == 0 {
        child::child_main(&plan, report_write.0, pause_read.0);
    }
    let parked = if pid > 0 {
        parked::after(&before)
    } else {
        Vec::new()
    };
    let fork_failed = (pid < 0).then(|| Error::last_os("fork"));
    mark_snapshot_fork(false);
    drop((report_write, pause_read));
    if let Some(e) = fork_failed {
        return Err(e);
    }
    // Rule 12: the one pause, measured by the fork handlers, sent to the
    // child for the file, after the parked threads (rule 15).
    let pause = atfork::snapshot_pause();
    send_to_child(pause_write, &parked, pause, timeout);
    let report = wait_for_report(report_read, pid, timeout);
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

/// The threads `/proc/self/task` lists, sorted (none if it cannot be read).
fn listed_threads() -> Vec<u32> {
    let mut tids: Vec<u32> = match std::fs::read_dir("/proc/self/task") {
        Ok(dir) => (dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())).collect(),
        Err(_) => Vec::new(),
    };
    tids.sort_unstable();
    tids
}

/// Every thread but `me` (rule 14): the registered ones and the others
/// listed, whose stacks the child scans too when the registry lacks them
/// ([`unregistered`]).
fn other_threads(listed: &[u32], me: u32) -> impl Iterator<Item = u32> {
    let mut tids: Vec<u32> = (threads::registered().into_iter()).map(|t| t.tid).collect();
    tids.extend_from_slice(listed);
    tids.sort_unstable();
    tids.dedup();
    tids.into_iter().filter(move |&t| t != me)
}

/// Rules 12 and 15: the parked threads' stack pointers, then the parent's
/// pause, to the child, and the socket closed. A child that finds the
/// message cut short (it died, or did not read within `timeout`: rule 4)
/// scans whole stacks.
fn send_to_child(socket: Fd, parked: &[(u32, u64)], pause: Duration, timeout: Duration) {
    let mut bytes = parked::encode(parked);
    bytes.extend_from_slice(&(pause.as_nanos() as u64).to_ne_bytes());
    limit_sends(&socket, timeout);
    let mut sent = 0;
    while sent < bytes.len() {
        let rest = &bytes[sent..];
        // SAFETY: sends from a valid buffer on our socket; a child already
        // gone makes it fail, without a SIGPIPE (`MSG_NOSIGNAL`).
        let n = unsafe {
            libc::send(
                socket.0,
                rest.as_ptr().cast(),
                rest.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        match n {
            n if n > 0 => sent += n as usize,
            _ if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {}
            _ => break,
        }
    }
}

/// Makes a send on `socket` give up after `timeout` (rule 4: a child that
/// stopped reading cannot hold the parent).
fn limit_sends(socket: &Fd, timeout: Duration) {
    // A zero `timeval` would mean no limit: at least a microsecond.
    let limit = libc::timeval {
        tv_sec: timeout.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_usec: timeout.subsec_micros().max(1) as libc::suseconds_t,
    };
    // SAFETY: sets an option on our own socket from a valid `timeval` of
    // the size given.
    unsafe {
        libc::setsockopt(
            socket.0,
            libc::SOL_SOCKET,
            libc::SO_SNDTIMEO,
            (&limit as *const libc::timeval).cast(),
            size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
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

/// A descriptor this process owns, closed on drop.
struct Fd(i32);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: closes a descriptor we own and nothing else uses.
        unsafe { libc::close(self.0) };
    }
}

/// A new pipe: its read end, then its write end.
fn pipe() -> Result<(Fd, Fd), Error> {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` is a valid out-array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Error::last_os("creating the capture pipe"));
    }
    Ok((Fd(fds[0]), Fd(fds[1])))
}

/// A new pair of connected sockets: the child's end, then the parent's
/// (which sends without risking a SIGPIPE).
fn socket_pair() -> Result<(Fd, Fd), Error> {
    let mut fds = [0i32; 2];
    let kind = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
    // SAFETY: `fds` is a valid out-array of two ints.
    if unsafe { libc::socketpair(libc::AF_UNIX, kind, 0, fds.as_mut_ptr()) } != 0 {
        return Err(Error::last_os("creating the capture's pause socket"));
    }
    Ok((Fd(fds[0]), Fd(fds[1])))
}

/// The child's report: `ok BYTES BLOCKS EDGES` or `error MESSAGE`.
struct Report {
    bytes: u64,
    blocks: u64,
    edges: u64,
}

fn wait_for_report(pipe: Fd, pid: i32, timeout: Duration) -> Result<String, Error> {
    let fd = pipe.0;
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
    drop(pipe);
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
