//! The runtime's error type.

use std::fmt;
use std::io;
use std::time::Duration;

/// Why a snapshot or [`install`](crate::install) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A system call failed.
    Io {
        /// What TurboWish was doing.
        what: &'static str,
        /// The error.
        source: io::Error,
    },
    /// The capture child reported a failure (for example, the snapshot
    /// directory is not writable).
    Capture(String),
    /// The capture child did not finish in time and was killed.
    TimedOut(Duration),
    /// The capture child died without reporting (a crash or a signal).
    ChildDied(String),
    /// [`install`](crate::install) was already called.
    AlreadyInstalled,
    /// A signal that cannot trigger snapshots.
    BadSignal(String),
    /// A [`Config`](crate::Config) setting that cannot be used (a growth of
    /// 0 bytes, keeping 0 files).
    BadSetting(String),
    /// A snapshot a test took could not be read back (`testing`).
    Unreadable(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { what, source } => write!(f, "{what}: {source}"),
            Error::Capture(why) => write!(f, "snapshot failed: {why}"),
            Error::TimedOut(after) => write!(
                f,
                "snapshot did not finish within {} s; the capture process was killed",
                seconds(*after)
            ),
            Error::ChildDied(how) => write!(f, "the capture process {how}"),
            Error::AlreadyInstalled => f.write_str("turbowish_alloc::install() was already called"),
            Error::BadSignal(why) => write!(f, "cannot use that signal for snapshots: {why}"),
            Error::BadSetting(why) => write!(f, "cannot use that snapshot setting: {why}"),
            Error::Unreadable(why) => write!(f, "cannot read the snapshot back: {why}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Seconds as a person writes them: `120`, `0.5`, `2.25` (to the
/// millisecond).
fn seconds(d: Duration) -> String {
    let shown = format!("{:.3}", d.as_secs_f64());
    shown.trim_end_matches('0').trim_end_matches('.').to_owned()
}

impl Error {
    /// The same error for the caller, its text allocated anew in the
    /// caller's mode; this one, made untracked, is dropped untracked (guard
    /// rule 2).
    pub(crate) fn handed_over(self) -> Error {
        let out = self.reallocated();
        crate::heap::guard::untracked(|| drop(self));
        out
    }

    fn reallocated(&self) -> Error {
        match self {
            Error::Io { what, source } => Error::Io {
                what,
                source: match source.raw_os_error() {
                    Some(code) => io::Error::from_raw_os_error(code),
                    None => io::Error::new(source.kind(), source.to_string()),
                },
            },
            Error::Capture(why) => Error::Capture(why.as_str().into()),
            Error::TimedOut(after) => Error::TimedOut(*after),
            Error::ChildDied(how) => Error::ChildDied(how.as_str().into()),
            Error::AlreadyInstalled => Error::AlreadyInstalled,
            Error::BadSignal(why) => Error::BadSignal(why.as_str().into()),
            Error::BadSetting(why) => Error::BadSetting(why.as_str().into()),
            Error::Unreadable(why) => Error::Unreadable(why.as_str().into()),
        }
    }

    pub(crate) fn io(what: &'static str) -> impl FnOnce(io::Error) -> Error {
        move |source| Error::Io { what, source }
    }

    /// The last OS error, for a failed libc call.
    pub(crate) fn last_os(what: &'static str) -> Error {
        Error::Io {
            what,
            source: io::Error::last_os_error(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_outs_show_fractions_of_a_second() {
        let shown = |d| Error::TimedOut(d).to_string();
        assert_eq!(
            shown(Duration::from_millis(500)),
            "snapshot did not finish within 0.5 s; the capture process was killed"
        );
        assert!(shown(Duration::from_secs(120)).contains(" within 120 s;"));
        assert!(shown(Duration::from_millis(2250)).contains(" within 2.25 s;"));
    }
}
