//! `turbowish snap`: signal a process and wait for the snapshot it writes.

use super::process::{self, Disposition, MAX_SIGNAL};
use anyhow::{Context, Result, bail};
use std::collections::HashSet;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Signal numbers on Linux (x86, ARM, RISC-V).
const SIGHUP: i32 = 1;
const SIGUSR1: i32 = 10;
const SIGUSR2: i32 = 12;
const SIGPROF: i32 = 27;
/// Signals no handler can catch (KILL, STOP) or that the runtime refuses
/// (ILL, FPE, SEGV): they never take a snapshot.
const UNCATCHABLE: [i32; 5] = [4, 8, 9, 11, 19];
/// `errno` values `kill` fails with.
const EPERM: i32 = 1;
const ESRCH: i32 = 3;
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
    /// Signal that asks for a snapshot: USR1, USR2, HUP or PROF (with or
    /// without SIG), or a number [default: the process's TURBOWISH_SIGNAL, else
    /// USR1].
    #[arg(long, value_name = "NAME", value_parser = parse_signal)]
    signal: Option<Signal>,
    /// Print {"path": ..., "bytes": ...} as JSON instead of the path.
    #[arg(long)]
    json: bool,
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
    if args.json {
        let bytes = std::fs::metadata(&path).map(|m| m.len()).ok();
        let json = serde_json::json!({ "path": path.to_string_lossy(), "bytes": bytes });
        writeln!(out, "{json}")?;
    } else {
        writeln!(out, "{}", path.display())?;
    }
    Ok(())
}

/// The signal process `pid` takes snapshots on, from its `TURBOWISH_SIGNAL`
/// as the runtime reads it (USR1 when unset or invalid).
fn signal_of(pid: u32) -> Result<Signal> {
    let setting = process::env_var_of(pid, "TURBOWISH_SIGNAL");
    let setting = setting.as_ref().and_then(|s| s.to_str()).map(str::trim);
    if setting.is_some_and(|s| s.eq_ignore_ascii_case("off")) {
        bail!(
            "process {pid} takes no snapshots on a signal (its TURBOWISH_SIGNAL is off); \
             nothing was sent"
        );
    }
    Ok(setting
        .and_then(|s| parse_signal(s).ok())
        .unwrap_or_else(|| Signal::new(SIGUSR1)))
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
        Some(ESRCH) => anyhow::anyhow!("no process has pid {pid}; is it still running?"),
        Some(EPERM) => anyhow::anyhow!(
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

/// The snapshots of process `pid` in `dir`, `turbowish-<pid>-<seq>.twsnap`,
/// with their sequence numbers.
fn snapshot_files(dir: &Path, pid: u32) -> io::Result<Vec<(u64, PathBuf)>> {
    let prefix = format!("turbowish-{pid}-");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let seq = name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix)?.strip_suffix(".twsnap"))
            .filter(|seq| !seq.is_empty() && seq.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|seq| seq.parse().ok());
        if let Some(seq) = seq {
            found.push((seq, entry.path()));
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

fn parse_signal(s: &str) -> Result<Signal, String> {
    let upper = s.trim().to_ascii_uppercase();
    let number = match upper.strip_prefix("SIG").unwrap_or(&upper) {
        "HUP" => SIGHUP,
        "USR1" => SIGUSR1,
        "USR2" => SIGUSR2,
        "PROF" => SIGPROF,
        n => n
            .parse()
            .ok()
            .filter(|n| (1..=MAX_SIGNAL).contains(n))
            .ok_or_else(|| {
                format!("expected USR1, USR2, HUP, PROF or a number from 1 to {MAX_SIGNAL}")
            })?,
    };
    if UNCATCHABLE.contains(&number) {
        return Err(format!(
            "signal {number} cannot be caught, so it takes no snapshot"
        ));
    }
    Ok(Signal::new(number))
}

impl Signal {
    fn new(number: i32) -> Signal {
        let name = match number {
            SIGHUP => "SIGHUP".to_owned(),
            SIGUSR1 => "SIGUSR1".to_owned(),
            SIGUSR2 => "SIGUSR2".to_owned(),
            SIGPROF => "SIGPROF".to_owned(),
            n => format!("signal {n}"),
        };
        Signal { number, name }
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
            assert_eq!(parse_signal(s).unwrap().number, SIGUSR1, "{s}");
        }
        assert_eq!(parse_signal("USR2").unwrap().name, "SIGUSR2");
        assert_eq!(parse_signal("hup").unwrap().number, SIGHUP);
        assert_eq!(parse_signal("SIGPROF").unwrap().number, SIGPROF);
        assert_eq!(parse_signal("34").unwrap().name, "signal 34");
        for s in ["", "0", "65", "-1", "KILL", "9", "19", "11", "SIG", "USR3"] {
            assert!(parse_signal(s).is_err(), "{s}");
        }
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
        let dir = temp_dir("missing").join("nope");
        let err =
            wait_for_new_snapshot(&dir, 1, &HashSet::new(), Duration::from_secs(1)).unwrap_err();
        assert!(err.to_string().starts_with("cannot list "), "{err}");
    }
}
