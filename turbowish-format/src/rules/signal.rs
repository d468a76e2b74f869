//! Which signals may ask for a snapshot: one rule for the runtime
//! (`TURBOWISH_SIGNAL`, `Config::signal` in `turbowish-alloc`) and the CLI
//! (`turbowish snap --signal`, and the signal `snap` reads from a process's
//! environment), so that the two never disagree about a value.
//!
//! # Grammar
//!
//! Surrounding whitespace is ignored. A value is `off` (any case: no
//! signal), a signal name in any case with or without `SIG` (`USR1`,
//! `sigusr2`, `SiGhUp`, `RTMIN`, `RTMIN+3`, `RTMAX-1`), or a number with or
//! without `SIG` (`10`, `SIG10`).
//!
//! # Refused signals
//!
//! A signal that names no signal, or that would do harm if it took
//! snapshots, is refused ([`SignalError`]). The runtime then says so in one
//! line and uses [`DEFAULT`]; the CLI refuses to send it.
//!
//! 1. Only 1 to 64 are signals on Linux.
//! 2. `SIGKILL` and `SIGSTOP` cannot be caught.
//! 3. `SIGSEGV`, `SIGBUS`, `SIGILL` and `SIGFPE` report faults: catching
//!    them would turn a crash into a snapshot and a re-run of the faulting
//!    instruction (and Rust's stack-overflow report uses the first two).
//! 4. `SIGCHLD`: the exit of every capture child sends it, so each snapshot
//!    would start the next, for ever.
//! 5. `SIGPIPE`: every write to a closed pipe or socket raises it, so a
//!    service would snapshot on each broken connection.
//! 6. The signals between 31 and `SIGRTMIN` (32 and 33 with glibc) are
//!    glibc's own, for thread cancellation and `setxid`; the real-time
//!    signals `SIGRTMIN..=SIGRTMAX` (34 to 64 with glibc) are allowed.

use std::fmt;

/// The signal snapshots use unless told otherwise: `SIGUSR1`.
pub const DEFAULT: i32 = libc::SIGUSR1;

/// The largest signal number Linux has (`_NSIG - 1`).
pub const MAX: i32 = 64;

/// Named signals, by the names `kill -l` knows (aliases after the main name).
const NAMES: [(&str, i32); 34] = [
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
    ("IOT", libc::SIGIOT),
    ("CLD", libc::SIGCHLD),
    ("POLL", libc::SIGPOLL),
];

/// Why a value cannot take snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignalError {
    /// Neither `off`, a signal name nor a number.
    Unknown,
    /// A number that is no signal (rule 1).
    OutOfRange(i64),
    /// A signal that must not take snapshots (rules 2 to 6).
    Refused {
        /// The signal.
        signal: i32,
        /// Why, to follow "is SIGXXX, which".
        why: &'static str,
    },
}

impl fmt::Display for SignalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignalError::Unknown => f.write_str("is not a signal name or number"),
            SignalError::OutOfRange(_) => {
                write!(f, "is not a signal number (they run from 1 to {MAX})")
            }
            SignalError::Refused { signal, why } => write!(f, "is {}, which {why}", name(*signal)),
        }
    }
}

impl std::error::Error for SignalError {}

/// Reads a value by the grammar in the module docs: `Ok(None)` for `off`,
/// `Ok(Some(signal))` for a signal that may take snapshots.
pub fn parse(value: &str) -> Result<Option<i32>, SignalError> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let bare = match value.get(..3) {
        Some(sig) if sig.eq_ignore_ascii_case("SIG") => &value[3..],
        _ => value,
    };
    check(number_of(bare)?).map(Some)
}

/// `signal` itself if it may take snapshots (rules 1 to 6).
pub fn check(signal: i32) -> Result<i32, SignalError> {
    let refused = |why| Err(SignalError::Refused { signal, why });
    match signal {
        s if !(1..=MAX).contains(&s) => Err(SignalError::OutOfRange(s.into())),
        libc::SIGKILL | libc::SIGSTOP => refused("cannot be caught"),
        libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE => {
            refused("reports crashes (a snapshot handler would hide them)")
        }
        libc::SIGCHLD => refused("the end of every capture sends, so each would start the next"),
        libc::SIGPIPE => refused("every write to a closed connection raises"),
        s if (32..libc::SIGRTMIN()).contains(&s) => refused("glibc reserves for its threads"),
        s => Ok(s),
    }
}

/// The name `signal` is shown by: `SIGUSR1`, `SIGRTMIN+2`, or `signal 70`.
pub fn name(signal: i32) -> String {
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    if let Some((name, _)) = NAMES.iter().find(|&&(_, s)| s == signal) {
        format!("SIG{name}")
    } else if signal == max {
        "SIGRTMAX".to_owned()
    } else if signal == min {
        "SIGRTMIN".to_owned()
    } else if (min..max).contains(&signal) {
        format!("SIGRTMIN+{}", signal - min)
    } else {
        format!("signal {signal}")
    }
}

/// The number a name (without `SIG`) or number stands for.
fn number_of(bare: &str) -> Result<i32, SignalError> {
    if let Ok(n) = bare.parse::<i64>() {
        return i32::try_from(n).map_err(|_| SignalError::OutOfRange(n));
    }
    let upper = bare.to_ascii_uppercase();
    if let Some(&(_, s)) = NAMES.iter().find(|&&(n, _)| n == upper) {
        return Ok(s);
    }
    real_time(&upper).ok_or(SignalError::Unknown)
}

/// `RTMIN`, `RTMIN+N`, `RTMAX`, `RTMAX-N`, within `SIGRTMIN..=SIGRTMAX`.
fn real_time(upper: &str) -> Option<i32> {
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    // "" or SIGN followed by digits only.
    let offset = |rest: &str, sign: char| -> Option<i32> {
        if rest.is_empty() {
            return Some(0);
        }
        let digits = rest.strip_prefix(sign)?;
        let all_digits = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
        all_digits.then(|| digits.parse().ok()).flatten()
    };
    let signal = if let Some(rest) = upper.strip_prefix("RTMIN") {
        min.checked_add(offset(rest, '+')?)?
    } else {
        max.checked_sub(offset(upper.strip_prefix("RTMAX")?, '-')?)?
    };
    (min..=max).contains(&signal).then_some(signal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_in_any_case_with_or_without_sig() {
        for v in [
            "USR2", "usr2", "SIGUSR2", "sigusr2", "SiGuSr2", " 12\n", "SIG12", "sig12",
        ] {
            assert_eq!(parse(v), Ok(Some(libc::SIGUSR2)), "{v:?}");
        }
        assert_eq!(parse("hup"), Ok(Some(libc::SIGHUP)));
        assert_eq!(parse("Prof"), Ok(Some(libc::SIGPROF)));
        assert_eq!(parse("OFF"), Ok(None));
        assert_eq!(parse(" off "), Ok(None));
    }

    #[test]
    fn real_time_signals_are_glibcs_34_to_64() {
        assert_eq!((libc::SIGRTMIN(), libc::SIGRTMAX()), (34, 64));
        assert_eq!(parse("RTMIN"), Ok(Some(34)));
        assert_eq!(parse("sigrtmin+3"), Ok(Some(37)));
        assert_eq!(parse("rtmax"), Ok(Some(64)));
        assert_eq!(parse("SIGRTMAX-2"), Ok(Some(62)));
        assert_eq!(parse("34"), Ok(Some(34)));
        assert_eq!(parse("64"), Ok(Some(64)));
        for v in [
            "RTMIN+31", "RTMAX-31", "RTMIN-1", "RTMAX+1", "RTMIN+x", "RTMIN+-1", "RTMIN3",
        ] {
            assert_eq!(parse(v), Err(SignalError::Unknown), "{v}");
        }
        assert_eq!(name(34), "SIGRTMIN");
        assert_eq!(name(36), "SIGRTMIN+2");
        assert_eq!(name(64), "SIGRTMAX");
    }

    #[test]
    fn the_refused_set() {
        let refused = [4, 7, 8, 9, 11, 13, 17, 19, 32, 33];
        for s in 1..=MAX {
            assert_eq!(check(s).is_err(), refused.contains(&s), "{s} ({})", name(s));
        }
        for v in [
            "CHLD", "cld", "SIGCHLD", "17", "pipe", "KILL", "stop", "segv", "BUS",
        ] {
            assert!(matches!(parse(v), Err(SignalError::Refused { .. })), "{v}");
        }
        for v in ["0", "65", "-1", "99999999999"] {
            assert!(matches!(parse(v), Err(SignalError::OutOfRange(_))), "{v}");
        }
        for v in ["", "SIG", "USR3", "banana", "1.5", "US R1", "sigsig10"] {
            assert_eq!(parse(v), Err(SignalError::Unknown), "{v:?}");
        }
    }

    #[test]
    fn every_name_is_found_and_shown() {
        for &(n, s) in &NAMES {
            assert_eq!(number_of(n), Ok(s), "{n}");
        }
        assert_eq!(name(libc::SIGUSR1), "SIGUSR1");
        assert_eq!(name(libc::SIGCHLD), "SIGCHLD");
        assert_eq!(name(32), "signal 32");
        assert_eq!(name(70), "signal 70");
        assert_eq!(
            parse("17").unwrap_err().to_string(),
            "is SIGCHLD, which the end of every capture sends, so each would start the next"
        );
        assert_eq!(
            parse("32").unwrap_err().to_string(),
            "is signal 32, which glibc reserves for its threads"
        );
    }
}
