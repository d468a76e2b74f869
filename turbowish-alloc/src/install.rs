//! `install()`: snapshots on a signal, into a directory.
//!
//! The signal handler does one thing: it writes a byte to a pipe (the
//! `signal-hook` self-pipe, async-signal-safe). A dedicated thread,
//! `turbowish-snapshot`, sleeps on the other end and takes the snapshot, so
//! nothing that allocates or locks ever runs in signal context.
//!
//! | variable | meaning | default |
//! |----------|---------|---------|
//! | `TURBOWISH_SIGNAL` | `USR1`, `SIGUSR2`, a number, or `off` | `USR1` |
//! | `TURBOWISH_DIR` | where snapshots are written | the current directory |
//! | `TURBOWISH_TIMEOUT` | seconds a capture may take before it is killed | 120 |

use crate::capture::{self, SnapshotInfo, Target};
use crate::error::Error;
use std::io::Read;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

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
            signal: Some(libc::SIGUSR1),
            dir: PathBuf::from("."),
            timeout: Duration::from_secs(120),
        }
    }
}

impl Config {
    /// The defaults, overridden by `TURBOWISH_SIGNAL`, `TURBOWISH_DIR` and
    /// `TURBOWISH_TIMEOUT`. A bad value prints one line on stderr and keeps
    /// the default.
    pub fn from_env() -> Config {
        let mut c = Config::default();
        if let Some(v) = var("TURBOWISH_SIGNAL") {
            match parse_signal(&v) {
                Ok(s) => c.signal = s,
                Err(why) => warn(&format!("TURBOWISH_SIGNAL={v:?} {why}; using USR1")),
            }
        }
        if let Some(v) = var("TURBOWISH_DIR") {
            c.dir = PathBuf::from(v);
        }
        if let Some(v) = var("TURBOWISH_TIMEOUT") {
            match v.trim().parse::<u64>() {
                Ok(s) if s > 0 => c.timeout = Duration::from_secs(s),
                _ => warn(&format!(
                    "TURBOWISH_TIMEOUT={v:?} is not a number of seconds; using 120"
                )),
            }
        }
        c
    }

    /// The signal that triggers a snapshot; `None` for none (snapshots only
    /// from [`snapshot_to`](crate::snapshot_to)).
    pub fn signal(mut self, signal: Option<i32>) -> Config {
        self.signal = signal;
        self
    }

    /// The directory snapshot files are written to.
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
    /// configuration's time-out.
    pub fn snapshot_to(&self, path: impl AsRef<Path>) -> Result<SnapshotInfo, Error> {
        capture::capture(Target::File(path.as_ref()), self.timeout)
    }

    /// Installs the signal handler and starts the snapshot thread. Only the
    /// first call in a process succeeds.
    pub fn install(self) -> Result<(), Error> {
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
            info.path.display(),
            info.blocks,
            info.edges,
            info.bytes,
            info.pause.as_secs_f64() * 1e3,
            info.elapsed.as_secs_f64()
        )),
        Err(e) => warn(&e.to_string()),
    }
}

fn check_dir(dir: &Path) {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => warn(&format!(
            "TURBOWISH_DIR {} is not a directory; snapshots will fail",
            dir.display()
        )),
        Err(e) => warn(&format!(
            "TURBOWISH_DIR {}: {e}; snapshots will fail",
            dir.display()
        )),
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `USR1`, `SIGUSR1`, `usr2`, `10`, or `off`.
pub(crate) fn parse_signal(v: &str) -> Result<Option<i32>, &'static str> {
    let v = v.trim();
    if v.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let name = v
        .strip_prefix("SIG")
        .or_else(|| v.strip_prefix("sig"))
        .unwrap_or(v);
    let signal = match name.to_ascii_uppercase().as_str() {
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "HUP" => libc::SIGHUP,
        "PROF" => libc::SIGPROF,
        n => n.parse().map_err(|_| "is not a signal name or number")?,
    };
    if signal_hook::consts::FORBIDDEN.contains(&signal) || !(1..=64).contains(&signal) {
        return Err("cannot be caught");
    }
    Ok(Some(signal))
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
    fn signals_parse_by_name_and_number() {
        assert_eq!(parse_signal("USR1"), Ok(Some(libc::SIGUSR1)));
        assert_eq!(parse_signal("sigusr2"), Ok(Some(libc::SIGUSR2)));
        assert_eq!(parse_signal(" 12 "), Ok(Some(12)));
        assert_eq!(parse_signal("off"), Ok(None));
        assert!(parse_signal("KILL").is_err());
        assert!(parse_signal("9").is_err());
        assert!(parse_signal("banana").is_err());
        assert!(parse_signal("0").is_err());
    }
}
