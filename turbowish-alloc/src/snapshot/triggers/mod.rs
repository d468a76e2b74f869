//! Snapshot triggers: snapshots the process takes by itself, when its heap
//! has grown, at a new high, and at exit, with no one there to send a
//! signal. Set in [`Config`](crate::Config) or from the environment (the
//! table in `snapshot::install`).
//!
//! - [`wake`]: how an allocating thread or a signal handler wakes the
//!   snapshot thread, and how that thread waits.
//! - [`exit`]: the `atexit` hook and the `SIGTERM` handler.
//! - [`keep`]: only the newest N files stay.
//! - [`parse`]: the environment's values.
//!
//! # Rules
//!
//! The submodules cite these as "rule N"; elsewhere they are "trigger rule
//! N".
//!
//! 1. No new work per allocation. The growth and peak checks ride on the
//!    per-thread batches that already publish live bytes (counters rule 5,
//!    `heap::stats::publish`): each publication compares the new total with
//!    one armed threshold ([`ARMED`]), one relaxed load and a compare. The
//!    thread that crosses it disarms it and wakes the snapshot thread (an
//!    `eventfd` write): no allocation, no lock, async-signal-safe, so it is
//!    safe inside the allocator and inside TurboWish's own bookkeeping. It
//!    never captures, and never waits. A forked child has no snapshot
//!    thread, and shares the parent's eventfd: its fork handler disarms
//!    the threshold ([`disarm`]), so a capture child's own allocations
//!    never wake the parent.
//! 2. The snapshot thread decides ([`Schedule`]). On each wake, and when a
//!    trigger's interval ends, it reads the published live bytes, takes the
//!    snapshots that are due, and arms the threshold again at the lowest
//!    level a trigger outside its interval waits for. Published live bytes
//!    trail the exact figure by up to `FLUSH_BYTES` per thread, so a
//!    threshold fires within that much of its level.
//! 3. Growth: a snapshot when live bytes exceed those at the previous
//!    numbered snapshot (one taken by signal, growth or `SIGTERM`; before
//!    the first, those at install) by the threshold. Its line says by how
//!    much they grew (`growth +64.0 MiB`).
//! 4. Peak: one extra file, `turbowish-<pid>-peak.twsnap`, replaced whole
//!    (written new, then renamed over: files rule 1) whenever live bytes
//!    exceed those in the snapshot it holds (before the first, those at
//!    install). Being rate-limited (rule 5), it holds the highest heap of
//!    those it was taken at, which may miss the true peak by what the heap
//!    grew within one interval. It is not numbered, counts for neither
//!    rule 3 nor rule 7.
//! 5. Rate limit: growth and peak snapshots each wait at least the minimum
//!    interval from the end of their previous snapshot (a failed one
//!    included) before the next. A threshold crossed meanwhile is checked
//!    again when the interval ends, and the snapshot taken if it still
//!    holds. Signals and exit are never rate-limited.
//! 6. Exit: an `atexit` hook takes a snapshot from the exiting thread, in
//!    the process that installed only (a forked child that calls `exit`
//!    takes none). `SIGTERM` is handled only if its disposition was the
//!    default at install: the handler only wakes the snapshot thread, which
//!    takes the snapshot, restores the default and raises `SIGTERM` again,
//!    so the process ends as it would have. A program's own handler,
//!    installed before, is left alone; one installed after replaces ours,
//!    and one that chains to ours (signal-hook's registry does) finds ours
//!    doing nothing: the program handles its own termination, and its exit
//!    gets the at-exit snapshot.
//! 7. Keep: after each numbered snapshot written into the directory, only
//!    the newest N of the numbered files this process wrote there stay. The
//!    process removes only files it remembers writing: never another
//!    process's, never a file written elsewhere, never the peak file.
//! 8. Every snapshot's line on stderr begins with what triggered it
//!    (`signal`, `growth +64.0 MiB`, `peak`, `exit`, `SIGTERM`).

pub(crate) mod exit;
pub(crate) mod keep;
pub(crate) mod parse;
pub(crate) mod wake;

use core::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::fmt;
use std::time::{Duration, Instant};

/// The live-byte level at which a publication wakes the snapshot thread
/// (rule 1); `i64::MAX` when disarmed.
static ARMED: AtomicI64 = AtomicI64::new(i64::MAX);

/// Called with the published live bytes after each publication (rule 1).
#[inline(always)]
pub(crate) fn published(live: i64) {
    if live >= ARMED.load(Relaxed) {
        crossed();
    }
}

/// Rule 1: no threshold until the snapshot thread arms one (in a forked
/// child, never).
pub(crate) fn disarm() {
    ARMED.store(i64::MAX, Relaxed);
}

/// Rule 1: disarm, then wake the snapshot thread, which arms again.
#[cold]
fn crossed() {
    disarm();
    wake::wake();
}

/// How long a trigger waits between two of its snapshots unless told
/// otherwise (rule 5).
pub(crate) const DEFAULT_MIN_INTERVAL: Duration = Duration::from_secs(60);

/// The triggers a [`Config`](crate::Config) sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Triggers {
    /// Rule 3: the growth, in bytes, that makes a snapshot.
    pub(crate) on_growth: Option<u64>,
    /// Rule 5.
    pub(crate) min_interval: Duration,
    /// Rule 4.
    pub(crate) at_peak: bool,
    /// Rule 6.
    pub(crate) at_exit: bool,
    /// Rule 7: how many numbered files to keep.
    pub(crate) keep: Option<usize>,
}

impl Default for Triggers {
    fn default() -> Self {
        Triggers {
            on_growth: None,
            min_interval: DEFAULT_MIN_INTERVAL,
            at_peak: false,
            at_exit: false,
            keep: None,
        }
    }
}

impl Triggers {
    /// Whether the snapshot thread has anything to wait for besides
    /// signals.
    pub(crate) fn any(&self) -> bool {
        self.on_growth.is_some() || self.at_peak || self.at_exit
    }
}

/// What a snapshot was taken for (rule 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    Signal,
    /// Grown by this many bytes since the previous numbered snapshot.
    Growth(i64),
    Peak,
    Exit,
    Sigterm,
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::Signal => f.write_str("signal"),
            Trigger::Growth(by) => write!(f, "growth +{}", Size(*by)),
            Trigger::Peak => f.write_str("peak"),
            Trigger::Exit => f.write_str("exit"),
            Trigger::Sigterm => f.write_str("SIGTERM"),
        }
    }
}

/// Bytes in binary units, one decimal (`64.0 MiB`).
struct Size(i64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0.max(0) as f64;
        match ["B", "KiB", "MiB", "GiB", "TiB"]
            .iter()
            .enumerate()
            .rev()
            .find(|(i, _)| b >= (1u64 << (10 * i)) as f64)
        {
            Some((0, _)) | None => write!(f, "{} B", self.0.max(0)),
            Some((i, unit)) => write!(f, "{:.1} {unit}", b / (1u64 << (10 * i)) as f64),
        }
    }
}

/// The snapshot thread's view of the growth and peak triggers (rule 2).
#[derive(Debug)]
pub(crate) struct Schedule {
    triggers: Triggers,
    /// Rule 3: live bytes at the previous numbered snapshot.
    base: i64,
    /// Rule 4: live bytes in the peak file.
    high: i64,
    /// Rule 5: when each trigger may fire again.
    growth_from: Option<Instant>,
    peak_from: Option<Instant>,
}

/// The snapshots due now.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Due {
    /// Grown by this much (rule 3).
    pub(crate) growth: Option<i64>,
    /// A new high (rule 4).
    pub(crate) peak: bool,
}

impl Schedule {
    /// The schedule at install, when live bytes are `live`.
    pub(crate) fn new(triggers: Triggers, live: i64) -> Schedule {
        Schedule {
            triggers,
            base: live,
            high: live,
            growth_from: None,
            peak_from: None,
        }
    }

    /// What is due at `now` with `live` bytes live (rules 3 to 5).
    pub(crate) fn due(&self, now: Instant, live: i64) -> Due {
        let ready = |from: Option<Instant>| from.is_none_or(|t| now >= t);
        let growth = self
            .triggers
            .on_growth
            .map(|_| live - self.base)
            .filter(|&grown| ready(self.growth_from) && grown >= self.growth_threshold());
        let peak = self.triggers.at_peak && ready(self.peak_from) && live > self.high;
        Due { growth, peak }
    }

    fn growth_threshold(&self) -> i64 {
        self.triggers
            .on_growth
            .map_or(i64::MAX, |g| g.min(i64::MAX as u64) as i64)
    }

    /// A numbered snapshot was taken with `live` bytes live (rule 3).
    pub(crate) fn numbered(&mut self, live: i64) {
        self.base = live;
    }

    /// A growth snapshot, taken with `live` bytes live, ended at `ended`.
    pub(crate) fn grown(&mut self, live: i64, ended: Instant) {
        self.base = live;
        self.growth_from = ended.checked_add(self.triggers.min_interval);
    }

    /// A peak snapshot, taken with `live` bytes live, ended at `ended`.
    pub(crate) fn peaked(&mut self, live: i64, ended: Instant) {
        self.high = self.high.max(live);
        self.peak_from = ended.checked_add(self.triggers.min_interval);
    }

    /// Arms [`ARMED`] for the triggers outside their interval (rule 2);
    /// returns how long the thread may sleep before it must look again
    /// (`None`: until woken).
    pub(crate) fn arm(&self, now: Instant, live: impl Fn() -> i64) -> Option<Duration> {
        let cooling = |from: Option<Instant>| from.filter(|&t| t > now);
        let (growth_wait, peak_wait) = (cooling(self.growth_from), cooling(self.peak_from));
        let mut level = i64::MAX;
        if self.triggers.on_growth.is_some() && growth_wait.is_none() {
            level = level.min(self.base.saturating_add(self.growth_threshold()));
        }
        if self.triggers.at_peak && peak_wait.is_none() {
            level = level.min(self.high.saturating_add(1));
        }
        ARMED.store(level, Relaxed);
        // Crossed before the store was seen: no publication may come to
        // tell (a heap that stays where it is).
        if live() >= level {
            return Some(Duration::ZERO);
        }
        [growth_wait, peak_wait]
            .into_iter()
            .flatten()
            .min()
            .map(|t| t.saturating_duration_since(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: i64 = 1 << 20;

    fn schedule(on_growth: Option<u64>, at_peak: bool) -> Schedule {
        let triggers = Triggers {
            on_growth,
            at_peak,
            min_interval: Duration::from_secs(10),
            ..Triggers::default()
        };
        Schedule::new(triggers, 100 * MIB)
    }

    #[test]
    fn growth_fires_at_its_threshold_above_the_last_numbered_snapshot() {
        let mut s = schedule(Some(64 << 20), false);
        let t = Instant::now();
        assert_eq!(s.due(t, 163 * MIB).growth, None);
        assert_eq!(s.due(t, 164 * MIB).growth, Some(64 * MIB));
        s.numbered(150 * MIB);
        assert_eq!(s.due(t, 164 * MIB).growth, None);
        assert_eq!(s.due(t, 214 * MIB).growth, Some(64 * MIB));
    }

    #[test]
    fn each_trigger_waits_its_interval_then_looks_again() {
        let mut s = schedule(Some(MIB as u64), true);
        let t = Instant::now();
        s.grown(102 * MIB, t);
        assert_eq!(
            s.due(t, 200 * MIB),
            Due {
                growth: None,
                peak: true
            }
        );
        s.peaked(200 * MIB, t);
        assert_eq!(s.due(t, 300 * MIB), Due::default());
        let later = t + Duration::from_secs(10);
        assert_eq!(
            s.due(later, 300 * MIB),
            Due {
                growth: Some(198 * MIB),
                peak: true
            }
        );
        assert!(!s.due(later, 150 * MIB).peak, "below the high");
    }

    /// One test: [`ARMED`] is process-wide.
    #[test]
    fn arming_sets_the_lowest_level_and_the_time_to_look_again() {
        let mut s = schedule(None, true);
        let t = Instant::now();
        assert_eq!(s.arm(t, || 100 * MIB), None);
        assert_eq!(ARMED.load(Relaxed), 100 * MIB + 1);
        // Crossed already: look again at once.
        assert_eq!(s.arm(t, || 101 * MIB), Some(Duration::ZERO));
        // Cooling down: nothing armed, sleep until the interval ends.
        s.peaked(200 * MIB, t);
        assert_eq!(
            s.arm(t + Duration::from_secs(4), || 0),
            Some(Duration::from_secs(6))
        );
        assert_eq!(ARMED.load(Relaxed), i64::MAX);
    }

    #[test]
    fn lines_name_their_trigger() {
        assert_eq!(Trigger::Growth(64 * MIB).to_string(), "growth +64.0 MiB");
        assert_eq!(Trigger::Growth(1536).to_string(), "growth +1.5 KiB");
        assert_eq!(Trigger::Growth(100).to_string(), "growth +100 B");
        assert_eq!(Trigger::Growth(3 << 30).to_string(), "growth +3.0 GiB");
        assert_eq!(Trigger::Sigterm.to_string(), "SIGTERM");
    }
}
