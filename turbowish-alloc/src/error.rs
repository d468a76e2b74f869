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
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { what, source } => write!(f, "{what}: {source}"),
            Error::Capture(why) => write!(f, "snapshot failed: {why}"),
            Error::TimedOut(after) => write!(
                f,
                "snapshot did not finish within {:.0} s; the capture process was killed",
                after.as_secs_f64()
            ),
            Error::ChildDied(how) => write!(f, "the capture process {how}"),
            Error::AlreadyInstalled => f.write_str("turbowish_alloc::install() was already called"),
            Error::BadSignal(why) => write!(f, "cannot use that signal for snapshots: {why}"),
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

impl Error {
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
