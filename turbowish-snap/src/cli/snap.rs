//! `turbowish snap`: signal a process and wait for the snapshot it writes.
//!
//! Which signal is sent follows the table the runtime uses
//! ([`crate::signal`]): `--signal` refuses what the runtime would
//! refuse, and without it the process's `TURBOWISH_SIGNAL` is read exactly as
//! the runtime read it (a refused or unreadable value means `SIGUSR1`).

use super::process::{self, Disposition};
use crate::files;
use crate::signal::{self, SignalError};
use anyhow::{Context, Result, bail};
use std::collections::HashSet;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often the directory is looked at while waiting.
const POLL: Duration = Duration::from_millis(20);

/// Arguments of `turbowish snap`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Id of the process to snapshot.
    #[arg(value_parser = clap::value_parser!(u32).range(1..=i64::from(i32::MAX)))]
    pid: u32,
    /// Directory the process writes snapshots into [default: its TURBOWISH_DIR,
    /// else its working directory].
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// How long to wait for the snapshot, in seconds.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = parse_timeout)]
    timeout: Duration,
    /// Signal that asks for a snapshot: a name in any case, with or without
    /// SIG (USR1, sigusr2, RTMIN+2), or a number; signals the runtime refuses
    /// (CHLD, PIPE, SEGV, BUS, ILL, FPE, KILL, STOP, 32, 33) are refused
    /// [default: the process's TURBOWISH_SIGNAL, else USR1].
    #[arg(long, value_name = "NAME", value_parser = parse_signal)]
    signal: Option<Signal>,
    #[command(flatten)]
    output: super::Json,
}

/// The fields of `snap --json`, for `--help`.
pub const JSON_FIELDS: &str = "\
JSON output (--json) is one object:
  path   the path of the new snapshot file
  bytes  its size in bytes (null if it could not be read)";

/// What `snap` prints, in the shape of its JSON output.
#[derive(Debug, serde::Serialize)]
struct Report {
    path: String,
    bytes: Option<u64>,
}

/// A signal, by number, with the name it is shown by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    number: i32,
    name: String,
}

/// Runs `turbowish snap`.
pub fn run(args: &Args, out: &mut dyn Write) -> Result<()> {
    let pid = args.pid;
    process::send_signal(pid, 0).map_err(|e| signal_error(pid, e))?;
    let signal = &match &args.signal {
        Some(signal) => signal.clone(),
        None => signal_of(pid)?,
    };
    let dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => process::snapshot_dir(pid).map_err(|e| {
            anyhow::anyhow!(
                "cannot read the working directory of process {pid} ({e}); pass --dir \
                 with the directory it writes snapshots into"
            )
        })?,
    };
    refuse_without_handler(pid, signal)?;
    let before: HashSet<PathBuf> = snapshot_files(&dir, pid)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .into_iter()
        .map(|(_, path)| path)
        .collect();
    process::send_signal(pid, signal.number).map_err(|e| signal_error(pid, e))?;
    let path = wait_for_new_snapshot(&dir, pid, &before, args.timeout)?;
    let report = Report {
        path: path.to_string_lossy().into_owned(),
        bytes: std::fs::metadata(&path).map(|m| m.len()).ok(),
    };
    args.output
        .emit(out, &report, || format!("{}\n", path.display()))
}

/// The signal process `pid` takes snapshots on, from its `TURBOWISH_SIGNAL`
/// as the runtime reads it (USR1 when unset, refused or not UTF-8).
fn signal_of(pid: u32) -> Result<Signal> {
    let setting = process::env_var_of(pid, "TURBOWISH_SIGNAL");
    match setting_signal(setting.as_deref()) {
        Some(signal) => Ok(signal),
        None => bail!(
            "process {pid} takes no snapshots on a signal (its TURBOWISH_SIGNAL is off); \
             nothing was sent"
        ),
    }
}

/// The signal a `TURBOWISH_SIGNAL` setting (unset or blank: `None`) makes
/// the runtime use; `None` for `off`.
fn setting_signal(setting: Option<&std::ffi::OsStr>) -> Option<Signal> {
    let parsed = match setting {
        None => Ok(Some(signal::DEFAULT)),
        Some(s) => s
            .to_str()
            .ok_or(SignalError::Unknown)
            .and_then(signal::parse),
    };
    match parsed {
        Ok(number) => number.map(Signal::new),
        Err(_) => Some(Signal::new(signal::DEFAULT)),
    }
}

/// Refuses to send a signal the process has no handler for: it could not
/// take a snapshot, and the default action of SIGUSR1 is to terminate.
fn refuse_without_handler(pid: u32, signal: &Signal) -> Result<()> {
    if process::disposition(pid, signal.number) == Some(Disposition::Default) {
        bail!(
            "process {pid} has no handler for {}, so the signal would take no snapshot \
             and could terminate it; nothing was sent. Has the process called \
             turbowish_alloc::install()?",
            signal.name
        );
    }
    Ok(())
}

fn signal_error(pid: u32, e: io::Error) -> anyhow::Error {
    match e.raw_os_error() {
        Some(libc::ESRCH) => anyhow::anyhow!("no process has pid {pid}; is it still running?"),
        Some(libc::EPERM) => anyhow::anyhow!(
            "not permitted to signal process {pid}: it belongs to another user; \
             run turbowish as that user or as root"
        ),
        _ => anyhow::anyhow!("cannot signal process {pid}: {e}"),
    }
}

/// Waits until a snapshot of process `pid` that is not in `before` appears in
/// `dir`, and returns its path (the newest, if several appeared). Snapshot
/// files are complete once they appear: the writer renames them into place.
///
/// Fails when `timeout` passes first, or when the process exits without
/// writing one.
pub fn wait_for_new_snapshot(
    dir: &Path,
    pid: u32,
    before: &HashSet<PathBuf>,
    timeout: Duration,
) -> Result<PathBuf> {
    // A timeout beyond what `Instant` can represent never passes.
    let deadline = Instant::now().checked_add(timeout);
    loop {
        // Liveness first: a snapshot written just before the process exits is
        // still found below.
        let alive = process::is_alive(pid);
        let newest = snapshot_files(dir, pid)
            .with_context(|| format!("cannot list {}", dir.display()))?
            .into_iter()
            .filter(|(_, path)| !before.contains(path))
            .max();
        if let Some((_, path)) = newest {
            return Ok(path);
        }
        if !alive {
            bail!(
                "process {pid} exited without writing a snapshot into {}",
                dir.display()
            );
        }
        let left = deadline.map_or(POLL, |d| d.saturating_duration_since(Instant::now()));
        if left.is_zero() {
            bail!(
                "timed out after {} s: process {pid} wrote no new snapshot into {}. \
                 Has it called turbowish_alloc::install()? If it writes elsewhere \
                 (TURBOWISH_DIR), pass --dir",
                timeout.as_secs_f64(),
                dir.display()
            );
        }
        std::thread::sleep(left.min(POLL));
    }
}

/// The snapshots of process `pid` in `dir`, `turbowish-<pid>-<seq>.twsnap`
/// ([`files::snapshot_name`]), with their sequence numbers.
fn snapshot_files(dir: &Path, pid: u32) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        match files::parse_snapshot_name(&entry.file_name()) {
            Some((of, seq)) if of == pid => found.push((seq, entry.path())),
            _ => {}
        }
    }
    Ok(found)
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    s.parse::<f64>()
        .ok()
        .filter(|&secs| secs > 0.0)
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .ok_or_else(|| "expected a number of seconds greater than 0".into())
}

/// `--signal`: the shared grammar and refusals; `off` sends nothing, so it
/// is no value here.
fn parse_signal(s: &str) -> Result<Signal, String> {
    let v = s.trim();
    match signal::parse(v) {
        Ok(Some(number)) => Ok(Signal::new(number)),
        Ok(None) => Err("off is not a signal to send".to_owned()),
        Err(why @ SignalError::Refused { .. }) => {
            Err(format!("{v} {why}; the runtime takes no snapshot on it"))
        }
        Err(why) => Err(format!(
            "{v} {why} (a name such as USR1, SIGUSR2 or RTMIN+2, or a number)"
        )),
    }
}

impl Signal {
    fn new(number: i32) -> Signal {
        Signal {
            number,
            name: signal::name(number),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("turbowish-snap-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn signals_parse_by_name_or_number() {
        for s in ["USR1", "SIGUSR1", "usr1", "SigUsr1", " 10 ", "sig10"] {
            assert_eq!(parse_signal(s).unwrap().number, libc::SIGUSR1, "{s}");
        }
        assert_eq!(parse_signal("USR2").unwrap().name, "SIGUSR2");
        assert_eq!(parse_signal("hup").unwrap().number, libc::SIGHUP);
        assert_eq!(parse_signal("SIGPROF").unwrap().number, libc::SIGPROF);
        assert_eq!(parse_signal("34").unwrap().name, "SIGRTMIN");
        for s in [
            "", "0", "65", "-1", "KILL", "9", "19", "11", "SIG", "USR3", "off",
        ] {
            assert!(parse_signal(s).is_err(), "{s}");
        }
        let err = parse_signal("17").unwrap_err();
        assert!(err.starts_with("17 is SIGCHLD, which"), "{err}");
    }

    /// One rule on both sides: `--signal` accepts exactly the values the
    /// runtime would catch, and a process's `TURBOWISH_SIGNAL` is read as
    /// the runtime reads it (its own test checks what it catches).
    #[test]
    fn the_cli_refuses_what_the_runtime_refuses() {
        let mut values: Vec<String> = (-2..=70).map(|n| n.to_string()).collect();
        for name in [
            "CHLD", "PIPE", "SEGV", "BUS", "ILL", "FPE", "KILL", "STOP", "USR1",
        ] {
            values.extend([name.to_owned(), format!("sig{name}"), format!("SiG{name}")]);
        }
        values.extend(
            [
                "RTMIN", "rtmin+30", "RTMAX-1", "RTMIN+31", "banana", "off", " usr2 ",
            ]
            .map(String::from),
        );
        for v in &values {
            let runtime = signal::parse(v);
            let cli = parse_signal(v);
            assert_eq!(
                cli.as_ref().ok().map(|s| s.number),
                runtime.ok().flatten(),
                "{v:?}"
            );
            let expected = match runtime {
                Ok(Some(n)) => Some(n),
                Ok(None) => None,
                Err(_) => Some(libc::SIGUSR1),
            };
            let setting = setting_signal(Some(std::ffi::OsStr::new(v)));
            assert_eq!(setting.map(|s| s.number), expected, "{v:?}");
        }
        use std::os::unix::ffi::OsStrExt;
        let bytes = std::ffi::OsStr::from_bytes(b"USR\xff2");
        assert_eq!(setting_signal(Some(bytes)).unwrap().number, libc::SIGUSR1);
        assert_eq!(setting_signal(None).unwrap().number, libc::SIGUSR1);
    }

    #[test]
    fn timeouts_are_positive_seconds() {
        assert_eq!(parse_timeout("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_timeout("0.5"), Ok(Duration::from_millis(500)));
        for s in ["0", "-1", "NaN", "inf", "1e300", "soon"] {
            assert!(parse_timeout(s).is_err(), "{s}");
        }
    }

    #[test]
    fn signal_errors_say_what_happened() {
        let msg = |errno| signal_error(42, io::Error::from_raw_os_error(errno)).to_string();
        assert!(msg(3).contains("no process has pid 42"));
        assert!(msg(1).contains("not permitted to signal process 42"));
        assert!(msg(22).starts_with("cannot signal process 42: "));
    }

    #[test]
    fn only_snapshot_names_of_the_pid_count() {
        let dir = temp_dir("names");
        for name in [
            "turbowish-7-1.twsnap",
            "turbowish-7-12.twsnap",
            "turbowish-7-2.twsnap.tmp-99",
            "turbowish-77-3.twsnap",
            "turbowish-7-.twsnap",
            "turbowish-7-+4.twsnap",
            "other.twsnap",
        ] {
            fs::write(dir.join(name), b"").unwrap();
        }
        let mut found = snapshot_files(&dir, 7).unwrap();
        found.sort();
        assert_eq!(
            found,
            [
                (1, dir.join("turbowish-7-1.twsnap")),
                (12, dir.join("turbowish-7-12.twsnap"))
            ]
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_snapshot_written_later_is_found() {
        let dir = temp_dir("later");
        let pid = std::process::id();
        let old = dir.join(format!("turbowish-{pid}-1.twsnap"));
        fs::write(&old, b"old").unwrap();
        let before = HashSet::from([old]);
        let new = dir.join(format!("turbowish-{pid}-2.twsnap"));
        let writer = {
            let (dir, new) = (dir.clone(), new.clone());
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(150));
                fs::write(dir.join("unrelated.twsnap"), b"x").unwrap();
                let tmp = dir.join("partial.tmp");
                fs::write(&tmp, b"new").unwrap();
                fs::rename(&tmp, &new).unwrap();
            })
        };
        let start = Instant::now();
        let found = wait_for_new_snapshot(&dir, pid, &before, Duration::from_secs(10));
        writer.join().unwrap();
        assert_eq!(found.unwrap(), new);
        assert!(start.elapsed() >= Duration::from_millis(150));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn waiting_for_a_snapshot_that_never_comes_times_out() {
        let dir = temp_dir("never");
        let pid = std::process::id();
        let old = dir.join(format!("turbowish-{pid}-1.twsnap"));
        fs::write(&old, b"old").unwrap();
        let before = HashSet::from([old]);
        let start = Instant::now();
        let err = wait_for_new_snapshot(&dir, pid, &before, Duration::from_millis(200))
            .unwrap_err()
            .to_string();
        assert!(start.elapsed() >= Duration::from_millis(200));
        assert!(err.starts_with("timed out after 0.2 s"), "{err}");
        assert!(err.contains("turbowish_alloc::install()"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn waiting_on_a_dead_process_stops_at_once() {
        let dir = temp_dir("dead");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap(); // reaped: the pid no longer exists
        let err = wait_for_new_snapshot(&dir, pid, &HashSet::new(), Duration::from_secs(10))
            .unwrap_err()
            .to_string();
        assert!(err.contains("exited without writing a snapshot"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_directory_is_an_error() {
        let parent = temp_dir("missing");
        let dir = parent.join("nope");
        let err =
            wait_for_new_snapshot(&dir, 1, &HashSet::new(), Duration::from_secs(1)).unwrap_err();
        assert!(err.to_string().starts_with("cannot list "), "{err}");
        fs::remove_dir_all(&parent).unwrap();
    }
}
