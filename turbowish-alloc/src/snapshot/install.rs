//! `install()`: snapshots on a signal, into a directory.
//!
//! The signal handler does one thing: it writes a byte to a pipe (the
//! `signal-hook` self-pipe, async-signal-safe). A dedicated thread,
//! `turbowish-snap`, sleeps on the other end and takes the snapshot, so
//! nothing that allocates or locks ever runs in signal context.
//!
//! | variable | meaning | default |
//! |----------|---------|---------|
//! | `TURBOWISH_SIGNAL` | a signal name (`USR1`, `SIGUSR2`, `rtmin+2`), a number, or `off` | `USR1` |
//! | `TURBOWISH_DIR` | where snapshots are written (any path bytes) | the current directory |
//! | `TURBOWISH_TIMEOUT` | seconds a capture may take before it is killed (`0.5`, `30`) | 120 |
//!
//! # Rules
//!
//! 1. A value is never ignored silently: one that cannot be used (a refused
//!    signal, a value that is not UTF-8 where text is needed) gives one line
//!    on stderr (stderr rule 1) and the default is used. `TURBOWISH_DIR` is a
//!    path, so any bytes are used as they are.
//! 2. Signals follow the table the CLI uses too (`turbowish_format::signal`).
//!    A refused one (`SIGCHLD`, the fault signals, `SIGPIPE`, glibc's
//!    reserved ones, ...) in the environment gives one line and `SIGUSR1`;
//!    set in code ([`Config::signal`]), it makes [`Config::install`] fail.
//! 3. At install, the directory is checked once: a missing one, or one every
//!    user may write to without the sticky bit (capture rule 10), gives one
//!    line; snapshots into it then fail, each with its error, and never go
//!    elsewhere. In a usable directory, the temporary files of snapshot
//!    writers that died (a service killed mid-capture) are removed
//!    (`turbowish_format::files` rule 6).
//! 4. Each signal is a request for a snapshot. Requests that arrive
//!    together make one snapshot. Requests that arrive while a capture runs
//!    make one more snapshot after it, however many they are: the running
//!    capture froze the heap before they came, so merging them into it would
//!    answer them with an older heap than they asked for. A snapshot that
//!    answers more than the request that started it says so on its stderr
//!    line: how many requests, and whether they came at once or during the
//!    previous capture. (The kernel keeps one pending instance of a standard
//!    signal: one sent again before the handler ran is merged there, before
//!    TurboWish can count it. Real-time signals queue.)
//! 5. The snapshot thread and its settings are TurboWish's own memory:
//!    untracked (guard rule 1), the thread busy for its whole life but its
//!    captures' `fork`s. The signal registration is not: the signal
//!    registry's tables are the process's, shared with every other
//!    registrant (tokio's signal driver adds to them later), and made
//!    untracked they would hide the program's own entries from every
//!    snapshot (its `SignalData` blocks hung from an untracked table and
//!    showed as unreachable). Its name is the OS's only
//!    (`std::thread::current().name()` is `None` there): std copies a
//!    thread's name into a block as the thread starts, before it can mark
//!    itself busy.

use crate::error::Error;
use crate::heap::guard;
use crate::snapshot::capture::{self, SnapshotInfo, Target};
use crate::stderr::Shown;
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;
use turbowish_format::signal::{self, SignalError};

/// Snapshot settings: what [`install`] reads from the environment, adjustable
/// in code.
///
/// ```no_run
/// use std::time::Duration;
/// turbowish_alloc::Config::from_env()
///     .dir("/var/tmp/snapshots")
///     .timeout(Duration::from_secs(30))
///     .install()
///     .expect("snapshots installed");
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    signal: Option<i32>,
    dir: PathBuf,
    timeout: Duration,
}

/// How long a capture may take unless told otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

impl Default for Config {
    fn default() -> Self {
        Config {
            signal: Some(signal::DEFAULT),
            dir: PathBuf::from("."),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl Config {
    /// The defaults, overridden by `TURBOWISH_SIGNAL`, `TURBOWISH_DIR` and
    /// `TURBOWISH_TIMEOUT`. A bad value prints one line on stderr and keeps
    /// the default (rule 1).
    pub fn from_env() -> Config {
        let mut c = Config::default();
        if let Some(v) = var("TURBOWISH_SIGNAL") {
            match v
                .to_str()
                .ok_or(SignalError::Unknown)
                .and_then(signal::parse)
            {
                Ok(s) => c.signal = s,
                Err(why) => warn(&format!(
                    "TURBOWISH_SIGNAL={} {why}; using {}",
                    Shown::value(v.as_bytes()),
                    signal::name(signal::DEFAULT)
                )),
            }
        }
        if let Some(v) = var("TURBOWISH_DIR") {
            c.dir = PathBuf::from(v);
        }
        if let Some(v) = var("TURBOWISH_TIMEOUT") {
            match v.to_str().and_then(parse_timeout) {
                Some(t) => c.timeout = t,
                None => warn(&format!(
                    "TURBOWISH_TIMEOUT={} is not a number of seconds; using 120",
                    Shown::value(v.as_bytes())
                )),
            }
        }
        c
    }

    /// The signal that triggers a snapshot; `None` for none (snapshots only
    /// from [`snapshot_to`](crate::snapshot_to)). A signal the shared table
    /// refuses (rule 2) makes [`install`](Config::install) fail.
    pub fn signal(mut self, signal: Option<i32>) -> Config {
        self.signal = signal;
        self
    }

    /// The directory snapshot files are written to. One every user may
    /// write to without the sticky bit is refused: snapshots into it fail.
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Config {
        self.dir = dir.into();
        self
    }

    /// How long one capture may take before its process is killed.
    pub fn timeout(mut self, timeout: Duration) -> Config {
        self.timeout = timeout;
        self
    }

    /// Takes a snapshot now, from the calling thread, into `path`, with this
    /// configuration's time-out. The file is readable by this user only
    /// (mode 0600); a directory every user may write to without the sticky
    /// bit is refused.
    pub fn snapshot_to(&self, path: impl AsRef<Path>) -> Result<SnapshotInfo, Error> {
        capture::capture(Target::File(path.as_ref()), self.timeout)
    }

    /// Installs the signal handler and starts the snapshot thread. Only the
    /// first call in a process succeeds; a refused signal (rule 2) fails.
    pub fn install(self) -> Result<(), Error> {
        if let Some(s) = self.signal {
            signal::check(s).map_err(|why| Error::BadSignal(format!("signal {s} {why}")))?;
        }
        static INSTALLED: OnceLock<()> = OnceLock::new();
        if INSTALLED.set(()).is_err() {
            return Err(Error::AlreadyInstalled);
        }
        check_dir(&self.dir);
        let Some(signal) = self.signal else {
            return Ok(());
        };
        // Rule 5: the registration tracked, the thread untracked, errors
        // handed over (guard rule 2).
        let reader = register(signal)?;
        guard::untracked(|| start_snapshot_thread(reader, self.clone())).map_err(Error::handed_over)
    }
}

/// Registers `signal` to write to a pipe; returns the pipe's reading end.
/// (Rule 5: call it tracked.)
fn register(signal: i32) -> Result<UnixStream, Error> {
    let (reader, writer) = UnixStream::pair().map_err(Error::io("creating the signal pipe"))?;
    signal_hook::low_level::pipe::register(signal, writer)
        .map_err(|e| Error::BadSignal(format!("signal {signal}: {e}")))?;
    Ok(reader)
}

/// Starts the thread that takes snapshots on requests read from `reader`
/// (rule 5: call it untracked).
fn start_snapshot_thread(reader: UnixStream, config: Config) -> Result<(), Error> {
    // Named for the OS only: std would copy a name into a block of the new
    // thread's as it starts, before the thread can mark itself busy.
    std::thread::Builder::new()
        .spawn(move || {
            guard::untracked(|| {
                name_this_thread();
                snapshot_thread(reader, &config);
            });
        })
        .map(drop)
        .map_err(Error::io("starting the snapshot thread"))
}

/// Names the calling thread `turbowish-snap` for `ps`, `top` and
/// debuggers, without allocating.
fn name_this_thread() {
    // SAFETY: names this very thread with a NUL-terminated static string
    // within the kernel's 16 bytes.
    unsafe { libc::pthread_setname_np(libc::pthread_self(), c"turbowish-snap".as_ptr()) };
}

/// Sets up snapshots from the environment (see [`Config::from_env`]): after
/// this, `kill -USR1 <pid>` writes `turbowish-<pid>-<n>.twsnap`. Problems are
/// reported as one line on stderr; use [`Config::install`] to handle them.
pub fn install() {
    if let Err(e) = Config::from_env().install() {
        warn(&e.to_string());
    }
}

/// Takes a snapshot now and writes it to `path`, from the calling thread,
/// with the default settings (see [`Config::snapshot_to`]).
pub fn snapshot_to(path: impl AsRef<Path>) -> Result<SnapshotInfo, Error> {
    // Not through a `Config`, whose directory would be a block of
    // TurboWish's own in the snapshot.
    capture::capture(Target::File(path.as_ref()), DEFAULT_TIMEOUT)
}

/// The requests one snapshot answers (rule 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Requests {
    count: u64,
    /// They arrived while the previous capture ran.
    during_previous: bool,
}

fn snapshot_thread(mut wake: UnixStream, config: &Config) {
    let mut next = wait_for_requests(&mut wake);
    while let Some(requests) = next {
        let result = capture::capture(Target::Dir(&config.dir), config.timeout);
        report(result, requests);
        // Rule 4: those that came meanwhile make one more snapshot.
        next = match pending_requests(&mut wake) {
            0 => wait_for_requests(&mut wake),
            count => Some(Requests {
                count,
                during_previous: true,
            }),
        };
    }
}

/// Blocks until a request comes; returns those that came together (rule
/// 4). `None` when the pipe is gone.
fn wait_for_requests(wake: &mut UnixStream) -> Option<Requests> {
    let mut buf = [0u8; 64];
    loop {
        match wake.read(&mut buf) {
            Ok(n) if n > 0 => {
                return Some(Requests {
                    count: n as u64 + pending_requests(wake),
                    during_previous: false,
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            _ => return None,
        }
    }
}

/// The requests waiting in the pipe now (one byte each), read without
/// blocking.
fn pending_requests(wake: &mut UnixStream) -> u64 {
    if wake.set_nonblocking(true).is_err() {
        return 0;
    }
    let (mut count, mut buf) = (0, [0u8; 64]);
    loop {
        match wake.read(&mut buf) {
            Ok(n) if n > 0 => count += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            _ => break,
        }
    }
    let _ = wake.set_nonblocking(false);
    count
}

fn report(result: Result<SnapshotInfo, Error>, requests: Requests) {
    match result {
        Ok(info) => warn(&format!(
            "wrote {} ({} blocks, {} edges, {} bytes; paused {:.1} ms, took {:.2} s){}",
            Shown::path(&info.path),
            info.blocks,
            info.edges,
            info.bytes,
            info.pause.as_secs_f64() * 1e3,
            info.elapsed.as_secs_f64(),
            merged(requests),
        )),
        Err(e) => warn(&e.to_string()),
    }
}

/// What a snapshot's line says about the requests it answers (rule 4):
/// nothing for the one request that started it alone.
fn merged(r: Requests) -> String {
    let when = match r {
        Requests {
            during_previous: true,
            ..
        } => "during the previous capture",
        Requests { count: 2.., .. } => "together",
        _ => return String::new(),
    };
    let (n, were) = match r.count {
        1 => ("1 request".to_owned(), "was"),
        n => (format!("{n} requests"), "were"),
    };
    format!("; {n} arrived {when} and {were} merged into this one")
}

/// Rule 3: one line for a directory snapshots cannot go to; stale
/// temporary files removed from one they can.
fn check_dir(dir: &Path) {
    let shown = Shown::value(dir.as_os_str().as_bytes());
    let problem = match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => capture::open_dir_problem(dir).map(|why| format!("snapshot {why}")),
        Ok(_) => Some(format!("snapshot directory {shown} is not a directory")),
        Err(e) => Some(format!("snapshot directory {shown}: {e}")),
    };
    if let Some(problem) = problem {
        warn(&format!("{problem}; snapshots will fail"));
        return;
    }
    match turbowish_format::files::remove_stale_temp_files(dir) {
        Ok(0) => {}
        Ok(n) => warn(&format!(
            "removed {n} stale temporary snapshot file{} from {shown} (left by captures that died)",
            if n == 1 { "" } else { "s" }
        )),
        Err(e) => warn(&format!("cannot list snapshot directory {shown}: {e}")),
    }
}

/// A variable's value, unless unset or blank.
fn var(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|v| !v.as_bytes().trim_ascii().is_empty())
}

/// A positive number of seconds, fractions allowed (`0.5`).
fn parse_timeout(v: &str) -> Option<Duration> {
    let secs: f64 = v.trim().parse().ok()?;
    if secs > 0.0 {
        Duration::try_from_secs_f64(secs).ok()
    } else {
        None
    }
}

/// One line on stderr. Never panics: `eprintln!` would, if stderr were a
/// closed pipe, and take the snapshot thread (or, with `panic = "abort"`, the
/// service) with it.
fn warn(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "turbowish: {line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_outs_are_positive_seconds_with_fractions() {
        assert_eq!(parse_timeout("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_timeout(" 30 "), Some(Duration::from_secs(30)));
        assert_eq!(parse_timeout("1e3"), Some(Duration::from_secs(1000)));
        for v in ["0", "-1", "0.0", "NaN", "inf", "1e300", "soon", "", "5s"] {
            assert_eq!(parse_timeout(v), None, "{v}");
        }
    }

    #[test]
    fn a_line_says_what_requests_beyond_its_own_it_answers() {
        let line = |count, during_previous| {
            merged(Requests {
                count,
                during_previous,
            })
        };
        assert_eq!(line(1, false), "");
        assert_eq!(
            line(5, false),
            "; 5 requests arrived together and were merged into this one"
        );
        assert_eq!(
            line(1, true),
            "; 1 request arrived during the previous capture and was merged into this one"
        );
        assert_eq!(
            line(4, true),
            "; 4 requests arrived during the previous capture and were merged into this one"
        );
    }

    #[test]
    fn a_refused_signal_set_in_code_fails_install() {
        let err = Config::default().signal(Some(libc::SIGCHLD)).install();
        match err {
            Err(Error::BadSignal(why)) => assert!(why.contains("SIGCHLD"), "{why}"),
            other => panic!("expected BadSignal, got {other:?}"),
        }
    }
}
