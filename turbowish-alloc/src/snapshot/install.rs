//! `install()`: snapshots on a signal, into a directory.
//!
//! The signal handler does one thing: it writes a byte to a pipe (the
//! `signal-hook` self-pipe, async-signal-safe). A dedicated thread,
//! `turbowish-snapshot`, sleeps on the other end and takes the snapshot, so
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
//! 2. Signals follow the table the CLI uses too (`turbowish_snap::signal`).
//!    A refused one (`SIGCHLD`, the fault signals, `SIGPIPE`, glibc's
//!    reserved ones, ...) in the environment gives one line and `SIGUSR1`;
//!    set in code ([`Config::signal`]), it makes [`Config::install`] fail.
//! 3. At install, the directory is checked once: a missing one, or one every
//!    user may write to without the sticky bit (capture rule 10), gives one
//!    line; snapshots into it then fail, each with its error, and never go
//!    elsewhere. In a usable directory, the temporary files of snapshot
//!    writers that died (a service killed mid-capture) are removed
//!    (`turbowish_snap::files` rule 6).

use crate::error::Error;
use crate::snapshot::capture::{self, SnapshotInfo, Target};
use crate::stderr::Shown;
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;
use turbowish_snap::signal::{self, SignalError};

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

impl Default for Config {
    fn default() -> Self {
        Config {
            signal: Some(signal::DEFAULT),
            dir: PathBuf::from("."),
            timeout: Duration::from_secs(120),
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
        let (reader, writer) = UnixStream::pair().map_err(Error::io("creating the signal pipe"))?;
        signal_hook::low_level::pipe::register(signal, writer)
            .map_err(|e| Error::BadSignal(format!("signal {signal}: {e}")))?;
        std::thread::Builder::new()
            .name("turbowish-snapshot".into())
            .spawn(move || snapshot_thread(reader, &self))
            .map_err(Error::io("starting the snapshot thread"))?;
        Ok(())
    }
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
    Config::default().snapshot_to(path)
}

fn snapshot_thread(mut wake: UnixStream, config: &Config) {
    let mut buf = [0u8; 64];
    loop {
        match wake.read(&mut buf) {
            // Several signals that arrived together make one snapshot.
            Ok(n) if n > 0 => report(capture::capture(Target::Dir(&config.dir), config.timeout)),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            _ => return,
        }
    }
}

fn report(result: Result<SnapshotInfo, Error>) {
    match result {
        Ok(info) => warn(&format!(
            "wrote {} ({} blocks, {} edges, {} bytes; paused {:.1} ms, took {:.2} s)",
            Shown::path(&info.path),
            info.blocks,
            info.edges,
            info.bytes,
            info.pause.as_secs_f64() * 1e3,
            info.elapsed.as_secs_f64()
        )),
        Err(e) => warn(&e.to_string()),
    }
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
    match turbowish_snap::files::remove_stale_temp_files(dir) {
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
    fn a_refused_signal_set_in_code_fails_install() {
        let err = Config::default().signal(Some(libc::SIGCHLD)).install();
        match err {
            Err(Error::BadSignal(why)) => assert!(why.contains("SIGCHLD"), "{why}"),
            other => panic!("expected BadSignal, got {other:?}"),
        }
    }
}
