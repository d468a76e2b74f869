//! `install()`: snapshots on a signal and on the triggers, into a
//! directory.
//!
//! The signal handler does one thing: it writes a byte to a pipe (the
//! `signal-hook` self-pipe, async-signal-safe). A dedicated thread,
//! `turbowish-snap`, sleeps on the other end and takes the snapshot, so
//! nothing that allocates or locks ever runs in signal context. The
//! triggers (`snapshot::triggers`) wake the same thread.
//!
//! | variable | meaning | default |
//! |----------|---------|---------|
//! | `TURBOWISH_SIGNAL` | a signal name (`USR1`, `SIGUSR2`, `rtmin+2`), a number, or `off` | `USR1` |
//! | `TURBOWISH_DIR` | where snapshots are written (any path bytes) | the current directory |
//! | `TURBOWISH_TIMEOUT` | seconds a capture may take before it is killed (`0.5`, `30`) | 120 |
//! | `TURBOWISH_ON_GROWTH` | a snapshot when live bytes exceed the previous snapshot's by this size (`64MiB`; trigger rule 3) | off |
//! | `TURBOWISH_MIN_INTERVAL` | least time between two growth, or two peak, snapshots (`30s`, `2m`, `0.5`; trigger rule 5) | `60s` |
//! | `TURBOWISH_AT_PEAK` | `1`: keep `turbowish-<pid>-peak.twsnap`, replaced at each new high, at most once per interval (trigger rule 4) | `0` |
//! | `TURBOWISH_AT_EXIT` | `1`: a snapshot at normal exit, and on `SIGTERM` if the program has no handler (trigger rule 6) | `0` |
//! | `TURBOWISH_KEEP` | keep only this process's newest N numbered snapshots (trigger rule 7) | all |
//!
//! # Rules
//!
//! 1. A value is never ignored silently: one that cannot be used (a refused
//!    signal, a value that is not UTF-8 where text is needed, a size or
//!    count that is not one) gives one line on stderr (stderr rule 1) and
//!    the default is used (for a trigger: off). `TURBOWISH_DIR` is a path,
//!    so any bytes are used as they are. Set in code, a value that cannot be
//!    used is an error ([`Error::BadSetting`]).
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
//!    showed as unreachable). The thread starts if there is a signal or a
//!    trigger to wait for. Its name is the OS's only
//!    (`std::thread::current().name()` is `None` there): std copies a
//!    thread's name into a block as the thread starts, before it can mark
//!    itself busy.

use crate::error::Error;
use crate::heap::{guard, stats};
use crate::snapshot::capture::{self, SnapshotInfo, Target};
use crate::snapshot::triggers::wake::{self, Waiter, Woke};
use crate::snapshot::triggers::{Schedule, Trigger, Triggers, exit, keep, parse};
use crate::stderr::Shown;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use turbowish_format::signal::{self, SignalError};

/// Snapshot settings: what [`install`] reads from the environment, adjustable
/// in code.
///
/// ```no_run
/// use std::time::Duration;
/// turbowish_alloc::Config::from_env()
///     .dir("/var/tmp/snapshots")
///     .timeout(Duration::from_secs(30))
///     .on_growth(Some(64 << 20))?
///     .min_interval(Duration::from_secs(30))
///     .at_exit(true)
///     .keep(Some(10))?
///     .install()?;
/// # Ok::<(), turbowish_alloc::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    signal: Option<i32>,
    dir: PathBuf,
    timeout: Duration,
    triggers: Triggers,
}

/// How long a capture may take unless told otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

impl Default for Config {
    fn default() -> Self {
        Config {
            signal: Some(signal::DEFAULT),
            dir: PathBuf::from("."),
            timeout: DEFAULT_TIMEOUT,
            triggers: Triggers::default(),
        }
    }
}

impl Config {
    /// The defaults, overridden by the variables of the table in the
    /// README (`TURBOWISH_SIGNAL`, `TURBOWISH_DIR`, `TURBOWISH_TIMEOUT`, and
    /// the triggers': `TURBOWISH_ON_GROWTH`, `TURBOWISH_MIN_INTERVAL`,
    /// `TURBOWISH_AT_PEAK`, `TURBOWISH_AT_EXIT`, `TURBOWISH_KEEP`). A bad
    /// value prints one line on stderr and keeps the default (rule 1).
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
        c.triggers = triggers_from_env();
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

    /// A snapshot each time live bytes exceed those at the previous
    /// numbered snapshot by `bytes` (trigger rule 3); `None` for none.
    /// Zero bytes is an error.
    pub fn on_growth(mut self, bytes: Option<u64>) -> Result<Config, Error> {
        if bytes == Some(0) {
            return Err(Error::BadSetting("on_growth: a growth of 0 bytes".into()));
        }
        self.triggers.on_growth = bytes;
        Ok(self)
    }

    /// The least time between two growth snapshots, and between two peak
    /// snapshots (trigger rule 5); 60 s unless set.
    pub fn min_interval(mut self, interval: Duration) -> Config {
        self.triggers.min_interval = interval;
        self
    }

    /// Keep `turbowish-<pid>-peak.twsnap`, replaced at each new high of
    /// live bytes, at most once per [`min_interval`](Config::min_interval):
    /// it may miss the true peak by what the heap grew within one interval
    /// (trigger rule 4).
    pub fn at_peak(mut self, on: bool) -> Config {
        self.triggers.at_peak = on;
        self
    }

    /// A snapshot at normal exit, and on `SIGTERM` if the program has not
    /// set its own action for it by [`install`](Config::install) (trigger
    /// rule 6).
    pub fn at_exit(mut self, on: bool) -> Config {
        self.triggers.at_exit = on;
        self
    }

    /// Keep only the newest `n` numbered snapshots this process wrote into
    /// the directory (trigger rule 7); `None` keeps them all. Zero is an
    /// error.
    pub fn keep(mut self, n: Option<usize>) -> Result<Config, Error> {
        if n == Some(0) {
            return Err(Error::BadSetting("keep: 0 files".into()));
        }
        self.triggers.keep = n;
        Ok(self)
    }

    /// Takes a snapshot now, from the calling thread, into `path`, with this
    /// configuration's time-out. The file is readable by this user only
    /// (mode 0600); a directory every user may write to without the sticky
    /// bit is refused.
    pub fn snapshot_to(&self, path: impl AsRef<Path>) -> Result<SnapshotInfo, Error> {
        capture::capture(Target::File(path.as_ref()), self.timeout)
    }

    /// Installs the signal handler and the triggers, and starts the
    /// snapshot thread. Only the first call in a process succeeds; a
    /// refused signal (rule 2) fails.
    pub fn install(self) -> Result<(), Error> {
        if let Some(s) = self.signal {
            signal::check(s).map_err(|why| Error::BadSignal(format!("signal {s} {why}")))?;
        }
        static INSTALLED: OnceLock<()> = OnceLock::new();
        if INSTALLED.set(()).is_err() {
            return Err(Error::AlreadyInstalled);
        }
        check_dir(&self.dir);
        if self.signal.is_none() && !self.triggers.any() {
            return Ok(());
        }
        // Rule 5: the registration tracked, the thread untracked, errors
        // handed over (guard rule 2).
        let reader = self.signal.map(register).transpose()?;
        guard::untracked(|| start_snapshot_thread(reader, self.clone())).map_err(Error::handed_over)
    }
}

/// The triggers' variables (rule 1: a bad one warns and is left off).
fn triggers_from_env() -> Triggers {
    let switch = |name| parsed(name, "1 or 0; ignored", parse::switch).unwrap_or(false);
    let defaults = Triggers::default();
    Triggers {
        on_growth: parsed(
            "TURBOWISH_ON_GROWTH",
            "a size such as 64MiB; ignored",
            parse::size,
        ),
        min_interval: parsed(
            "TURBOWISH_MIN_INTERVAL",
            "a time such as 30s; using 60s",
            parse::interval,
        )
        .unwrap_or(defaults.min_interval),
        at_peak: switch("TURBOWISH_AT_PEAK"),
        at_exit: switch("TURBOWISH_AT_EXIT"),
        keep: parsed(
            "TURBOWISH_KEEP",
            "a number of files from 1 up; keeping all",
            parse::keep,
        ),
    }
}

/// A variable's value, parsed from text; `None` when unset, or, after its
/// one line (rule 1), when it is not UTF-8 or `parse` refuses it.
fn parsed<T>(name: &str, expected: &str, parse: impl FnOnce(&str) -> Option<T>) -> Option<T> {
    let raw = var(name)?;
    let got = raw.to_str().and_then(parse);
    if got.is_none() {
        warn(&format!(
            "{name}={} is not {expected}",
            Shown::value(raw.as_bytes())
        ));
    }
    got
}

/// Registers `signal` to write to a pipe; returns the pipe's reading end.
/// (Rule 5: call it tracked.)
fn register(signal: i32) -> Result<UnixStream, Error> {
    let (reader, writer) = UnixStream::pair().map_err(Error::io("creating the signal pipe"))?;
    signal_hook::low_level::pipe::register(signal, writer)
        .map_err(|e| Error::BadSignal(format!("signal {signal}: {e}")))?;
    Ok(reader)
}

/// Sets up the triggers and starts the thread that takes snapshots on
/// requests read from `reader` and on the triggers (rule 5: call it
/// untracked).
fn start_snapshot_thread(reader: Option<UnixStream>, config: Config) -> Result<(), Error> {
    let event_fd = config.triggers.any().then(wake::create).transpose()?;
    if config.triggers.at_exit {
        exit::install(&config);
    }
    let waiter = Waiter::new(reader, event_fd);
    // Trigger rules 3 and 4: the heap at install, before the thread runs.
    let schedule = Schedule::new(config.triggers, stats::published_live());
    // Named for the OS only: std would copy a name into a block of the new
    // thread's as it starts, before the thread can mark itself busy.
    std::thread::Builder::new()
        .spawn(move || {
            guard::untracked(|| {
                name_this_thread();
                snapshot_thread(waiter, schedule, &config);
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
pub(crate) struct Requests {
    count: u64,
    /// They arrived while the previous capture ran.
    during_previous: bool,
}

fn snapshot_thread(mut waiter: Waiter, mut schedule: Schedule, config: &Config) {
    let mut carried = None;
    loop {
        let requests = match carried.take() {
            Some(r) => Some(r),
            None => match waiter.wait(schedule.arm(Instant::now(), stats::published_live)) {
                Woke::Closed => return,
                Woke::Signals(count) => Some(Requests {
                    count,
                    during_previous: false,
                }),
                Woke::Other => None,
            },
        };
        if let Some(r) = requests {
            schedule.numbered(take_numbered(config, Trigger::Signal, Some(r)));
        }
        if exit::sigterm_requested() {
            take_numbered(config, Trigger::Sigterm, None);
            exit::end_by_sigterm();
        }
        let took = take_due(config, &mut schedule) || requests.is_some();
        // Rule 4: those that came during these captures make one more.
        carried = took
            .then(|| waiter.pending_signals())
            .flatten()
            .filter(|&count| count > 0)
            .map(|count| Requests {
                count,
                during_previous: true,
            });
    }
}

/// Takes the growth and peak snapshots due now (trigger rules 2 to 5);
/// whether it took any.
fn take_due(config: &Config, schedule: &mut Schedule) -> bool {
    let due = schedule.due(Instant::now(), stats::published_live());
    if let Some(grown) = due.growth {
        let live = take_numbered(config, Trigger::Growth(grown), None);
        schedule.grown(live, Instant::now());
    }
    if due.peak {
        let name = turbowish_format::files::peak_snapshot_name(std::process::id());
        let live = stats::published_live();
        let result = capture::capture(Target::File(&config.dir.join(name)), config.timeout);
        report(result, Trigger::Peak, None);
        schedule.peaked(live, Instant::now());
    }
    due.growth.is_some() || due.peak
}

/// Takes a numbered snapshot into the directory for `trigger`, reports it
/// and keeps the newest files (trigger rule 7); returns the live bytes
/// published when it began.
pub(crate) fn take_numbered(config: &Config, trigger: Trigger, requests: Option<Requests>) -> i64 {
    let live = stats::published_live();
    let result = capture::capture(Target::Dir(&config.dir), config.timeout);
    if let Ok(info) = &result {
        keep::written(&info.path, config.triggers.keep);
    }
    report(result, trigger, requests);
    live
}

/// The snapshot's one line, beginning with its trigger (trigger rule 8).
fn report(result: Result<SnapshotInfo, Error>, trigger: Trigger, requests: Option<Requests>) {
    match result {
        Ok(info) => warn(&format!(
            "{trigger}: wrote {} ({} blocks, {} edges, {} bytes; paused {:.1} ms, took {:.2} s){}",
            Shown::path(&info.path),
            info.blocks,
            info.edges,
            info.bytes,
            info.pause.as_secs_f64() * 1e3,
            info.elapsed.as_secs_f64(),
            requests.map(merged).unwrap_or_default(),
        )),
        Err(e) => warn(&format!("{trigger}: {e}")),
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
