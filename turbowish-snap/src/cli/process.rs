//! The target process, through `kill(2)` and `/proc` (Linux).

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::signal::MAX as MAX_SIGNAL;

/// Sends signal `sig` to process `pid`; signal 0 only checks that the process
/// exists and may be signalled.
pub fn send_signal(pid: u32, sig: i32) -> io::Result<()> {
    unsafe extern "C" {
        /// `kill(2)` from the C library (std links it on every Unix).
        fn kill(pid: i32, sig: i32) -> i32;
    }
    let pid = i32::try_from(pid)
        .ok()
        .filter(|&p| p > 0)
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    if !(0..=MAX_SIGNAL).contains(&sig) {
        return Err(io::ErrorKind::InvalidInput.into());
    }
    // SAFETY: `kill` takes two plain integers and touches no memory of ours.
    // `pid` is positive, so it names one process, never a process group or
    // every process (0 and -1 would).
    match unsafe { kill(pid, sig) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Whether process `pid` still runs: it exists and is not a zombie. When
/// `/proc` cannot tell, it is assumed to run.
pub fn is_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(state(&stat), Some('Z' | 'X')),
        Err(e) => e.kind() != io::ErrorKind::NotFound,
    }
}

/// The state letter of a `/proc/<pid>/stat` line: the first field after the
/// command name, which is in parentheses and may itself hold any character.
fn state(stat: &str) -> Option<char> {
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// How process `pid` handles signal `sig`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// A handler is installed.
    Caught,
    /// The signal is ignored.
    Ignored,
    /// The default action (for SIGUSR1 and SIGUSR2: terminate).
    Default,
}

/// How process `pid` handles signal `sig`, from `/proc/<pid>/status`; `None`
/// when that cannot be read.
pub fn disposition(pid: u32, sig: i32) -> Option<Disposition> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    disposition_in(&status, sig)
}

fn disposition_in(status: &str, sig: i32) -> Option<Disposition> {
    let bit = 1u64.checked_shl(u32::try_from(sig).ok()?.checked_sub(1)?)?;
    let mask = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
    };
    Some(if mask("SigCgt:")? & bit != 0 {
        Disposition::Caught
    } else if mask("SigIgn:")? & bit != 0 {
        Disposition::Ignored
    } else {
        Disposition::Default
    })
}

/// The directory process `pid` writes snapshots into: its `TURBOWISH_DIR`
/// (relative to its working directory), or else its working directory.
pub fn snapshot_dir(pid: u32) -> io::Result<PathBuf> {
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd"))?;
    Ok(match env_var_of(pid, "TURBOWISH_DIR") {
        Some(dir) => cwd.join(dir),
        None => cwd,
    })
}

/// The variable `name` in the environment process `pid` started with, unless
/// blank (the runtime ignores blank settings); `None` when unreadable.
pub fn env_var_of(pid: u32, name: &str) -> Option<OsString> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    env_var(&environ, name.as_bytes())
}

/// The value of `name` in a `/proc/<pid>/environ` block, unless blank; the
/// first setting counts, as for `getenv`.
fn env_var(environ: &[u8], name: &[u8]) -> Option<OsString> {
    environ
        .split(|&b| b == 0)
        .filter_map(|entry| entry.strip_prefix(name)?.strip_prefix(b"="))
        .next()
        .filter(|v| !v.trim_ascii().is_empty())
        .map(|v| OsStr::from_bytes(v).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_may_be_signalled() {
        assert!(is_alive(std::process::id()));
        send_signal(std::process::id(), 0).unwrap();
    }

    #[test]
    fn bad_pids_and_signals_are_refused_before_kill() {
        for (pid, sig) in [(0, 0), (u32::MAX, 0), (1 << 31, 0), (1, -1), (1, 65)] {
            let err = send_signal(pid, sig).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{pid} {sig}");
        }
    }

    #[test]
    fn the_state_follows_the_command_name() {
        assert_eq!(state("42 (sleep) S 1 42"), Some('S'));
        assert_eq!(state("42 (a) b) Z 1 42"), Some('Z'));
        assert_eq!(state("garbage"), None);
    }

    #[test]
    fn dispositions_come_from_the_signal_masks() {
        let status = "Name:\tsvc\nSigBlk:\t0000000000000000\n\
                      SigIgn:\t0000000000000001\nSigCgt:\t0000000000000200\n";
        assert_eq!(disposition_in(status, 10), Some(Disposition::Caught));
        assert_eq!(disposition_in(status, 1), Some(Disposition::Ignored));
        assert_eq!(disposition_in(status, 12), Some(Disposition::Default));
        assert_eq!(disposition_in(status, 64), Some(Disposition::Default));
        assert_eq!(disposition_in(status, 0), None);
        assert_eq!(disposition_in("Name:\tsvc\n", 10), None);
        assert_eq!(
            disposition(std::process::id(), 10),
            Some(Disposition::Default)
        );
    }

    #[test]
    fn the_first_setting_of_a_variable_counts() {
        let env = b"A=1\0TURBOWISH_DIRX=/x\0TURBOWISH_DIR=snaps\0TURBOWISH_DIR=/a\0";
        assert_eq!(env_var(env, b"TURBOWISH_DIR"), Some("snaps".into()));
        assert_eq!(env_var(b"TURBOWISH_DIR= \0", b"TURBOWISH_DIR"), None);
        assert_eq!(env_var(b"", b"TURBOWISH_DIR"), None);
    }
}
