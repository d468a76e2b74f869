//! Clocks: the coarse one for task times, cheap enough to read on every
//! poll; a precise one for the capture's pause; the wall clock.

/// Nanoseconds on the coarse monotonic clock (resolution about 4 ms, cost a
/// few nanoseconds through the vDSO): good enough for idle times, and the
/// task wrapper reads it on every poll.
pub(crate) fn now_ns() -> u64 {
    read(libc::CLOCK_MONOTONIC_COARSE)
}

/// Nanoseconds on the monotonic clock, to the nanosecond: for the capture's
/// pause. Async-signal-safe (it runs in fork handlers).
pub(crate) fn precise_ns() -> u64 {
    read(libc::CLOCK_MONOTONIC)
}

/// Nanoseconds since the Unix epoch.
pub(crate) fn wall_ns() -> u64 {
    read(libc::CLOCK_REALTIME)
}

fn read(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; both clocks always exist on Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    (ts.tv_sec as u64).saturating_mul(1_000_000_000) + ts.tv_nsec as u64
}
