//! Waking the snapshot thread, and its waiting: for signals (a byte each
//! on the signal-hook self-pipe, install rule 4), for a trigger's wake (an
//! `eventfd`, rule 1), and for the end of a trigger's interval (a time-out,
//! rule 5).

use crate::error::Error;
use core::sync::atomic::{AtomicI32, Ordering::Relaxed};
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// The eventfd triggers write to; -1 before [`create`].
static EVENT_FD: AtomicI32 = AtomicI32::new(-1);

/// Creates the eventfd (once, at install, before any trigger is armed).
pub(crate) fn create() -> Result<i32, Error> {
    // SAFETY: eventfd has no memory preconditions.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(Error::last_os("creating the trigger eventfd"));
    }
    EVENT_FD.store(fd, Relaxed);
    Ok(fd)
}

/// Wakes the snapshot thread (rule 1): one `write`, no allocation, no
/// lock, async-signal-safe; `errno` is left as it was.
pub(crate) fn wake() {
    let fd = EVENT_FD.load(Relaxed);
    if fd < 0 {
        return;
    }
    // SAFETY: reads and restores this thread's errno through the pointer
    // libc gives for it; writes 8 bytes from a valid u64 to the eventfd
    // (the counter cannot overflow from these small adds).
    unsafe {
        let errno = *libc::__errno_location();
        libc::write(fd, (&1u64 as *const u64).cast(), 8);
        *libc::__errno_location() = errno;
    }
}

/// What ended a wait.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Woke {
    /// This many signal requests (install rule 4).
    Signals(u64),
    /// A trigger's wake, or the time-out.
    Other,
    /// The signal pipe is gone and nothing else can wake the thread.
    Closed,
}

/// The snapshot thread's two sources of wakes.
#[derive(Debug)]
pub(crate) struct Waiter {
    signals: Option<UnixStream>,
    event_fd: Option<i32>,
}

impl Waiter {
    /// Waits on `signals` (non-blocking from now on) and on `event_fd`.
    pub(crate) fn new(signals: Option<UnixStream>, event_fd: Option<i32>) -> Waiter {
        let signals = signals.filter(|s| s.set_nonblocking(true).is_ok());
        Waiter { signals, event_fd }
    }

    /// Blocks until a wake or `timeout` (`None`: no limit).
    pub(crate) fn wait(&mut self, timeout: Option<Duration>) -> Woke {
        let fd = |f: Option<i32>| libc::pollfd {
            fd: f.unwrap_or(-1), // poll skips negative descriptors
            events: libc::POLLIN,
            revents: 0,
        };
        let mut fds = [
            fd(self.signals.as_ref().map(|s| s.as_raw_fd())),
            fd(self.event_fd),
        ];
        if fds.iter().all(|f| f.fd < 0) && timeout.is_none() {
            return Woke::Closed;
        }
        let ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as i32);
        // A time-out under a millisecond must not round to busy polling.
        let ms = if timeout.is_some_and(|t| !t.is_zero()) {
            ms.max(1)
        } else {
            ms
        };
        // SAFETY: two valid pollfds.
        unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) };
        if fds[1].revents != 0 {
            self.drain_events();
        }
        match self.pending_signals() {
            Some(0) => Woke::Other,
            Some(n) => Woke::Signals(n),
            None if self.event_fd.is_some() => {
                self.signals = None;
                Woke::Other
            }
            None => Woke::Closed,
        }
    }

    /// The signal requests waiting now (one byte each), read without
    /// blocking; `None` once the pipe is closed.
    pub(crate) fn pending_signals(&mut self) -> Option<u64> {
        let Some(stream) = self.signals.as_mut() else {
            return Some(0);
        };
        let (mut count, mut buf) = (0, [0u8; 64]);
        loop {
            match stream.read(&mut buf) {
                Ok(0) if count == 0 => return None,
                Ok(n) if n > 0 => count += n as u64,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                _ => return Some(count),
            }
        }
    }

    fn drain_events(&mut self) {
        if let Some(fd) = self.event_fd {
            let mut n = 0u64;
            // SAFETY: reads 8 bytes into a valid u64 from our non-blocking
            // eventfd.
            unsafe { libc::read(fd, (&mut n as *mut u64).cast(), 8) };
        }
    }
}
