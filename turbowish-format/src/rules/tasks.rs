//! Task states: how a traced task's progress, as the runtime records it,
//! and a tokio task cell's state word read as a [`TaskState`]. The
//! runtime's in-process listing (`turbowish_alloc::tasks()`) and its
//! snapshots both map through [`state`], so a task never reads differently
//! in the two; cells found in a snapshot map through [`cell_state`].
//!
//! # Rules
//!
//! 1. The runtime records where a traced future stands as a [`Phase`]:
//!    [`Idle`](Phase::Idle) until a poll starts and after a poll that
//!    returned `Pending`, [`Running`](Phase::Running) inside a poll,
//!    [`Completed`](Phase::Completed) once a poll returned `Ready`, and
//!    [`Cancelled`](Phase::Cancelled) once the future is dropped without
//!    having returned `Ready`. A phase fits in [`Phase::BITS`] bits
//!    ([`Phase::code`]).
//! 2. Apart from the phase it records whether the future was dropped: its
//!    row is then *finished*, and stays listed only while the task's storage
//!    block lives (a zombie future).
//! 3. A future that returned `Ready` is [`TaskState::Completed`], dropped or
//!    not: it is done, and will never be polled again.
//! 4. A future dropped without `Ready` is [`TaskState::Cancelled`], whatever
//!    phase was last recorded (a poll that panicked leaves `Running`).
//! 5. Otherwise a future inside a poll is [`TaskState::Running`], and any
//!    other is [`TaskState::Pending`].
//! 6. A tokio task cell's state word (`runtime/task/state.rs`, unchanged
//!    since tokio 1.0) holds the bits [`cell::RUNNING`], [`cell::COMPLETE`],
//!    [`cell::NOTIFIED`], [`cell::JOIN_INTEREST`], [`cell::JOIN_WAKER`] and
//!    [`cell::CANCELLED`], and the reference count from bit
//!    [`cell::REF_SHIFT`] up.
//! 7. A cell whose task was cancelled (aborted, or its runtime shut down) is
//!    [`TaskState::Cancelled`], finished or not: it will never be polled for
//!    its output again. Otherwise a complete one is
//!    [`TaskState::Completed`], one inside a poll [`TaskState::Running`]
//!    (even if woken meanwhile), a woken one waiting in a run queue
//!    [`TaskState::Notified`], and any other [`TaskState::Pending`].

use crate::model::TaskState;

/// Where a traced future stands, as the runtime records it (rule 1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Not being polled, and not done: made, or returned `Pending`.
    #[default]
    Idle,
    /// Inside a poll.
    Running,
    /// A poll returned `Ready`.
    Completed,
    /// Dropped before returning `Ready`.
    Cancelled,
}

impl Phase {
    /// Bits a [`Phase::code`] takes.
    pub const BITS: u32 = 2;

    /// The phase as a number below 2^[`Phase::BITS`], to store in an atomic.
    pub const fn code(self) -> u8 {
        match self {
            Phase::Idle => 0,
            Phase::Running => 1,
            Phase::Completed => 2,
            Phase::Cancelled => 3,
        }
    }

    /// The phase whose [`code`](Phase::code) is in the low [`Phase::BITS`]
    /// bits of `code` (the rest is ignored).
    pub const fn from_code(code: u64) -> Phase {
        match code & ((1 << Phase::BITS) - 1) {
            0 => Phase::Idle,
            1 => Phase::Running,
            2 => Phase::Completed,
            _ => Phase::Cancelled,
        }
    }
}

/// The state of a task in `phase` whose future was `dropped` or not (rules
/// 3 to 5).
pub fn state(phase: Phase, dropped: bool) -> TaskState {
    match phase {
        Phase::Completed => TaskState::Completed,
        Phase::Cancelled => TaskState::Cancelled,
        _ if dropped => TaskState::Cancelled,
        Phase::Running => TaskState::Running,
        Phase::Idle => TaskState::Pending,
    }
}

/// The bits of a tokio task cell's state word (rule 6).
pub mod cell {
    /// The task is being polled.
    pub const RUNNING: u64 = 0x01;
    /// The future has completed (or was dropped): it is gone.
    pub const COMPLETE: u64 = 0x02;
    /// The task was woken and is (or will be) in a run queue.
    pub const NOTIFIED: u64 = 0x04;
    /// A `JoinHandle` still exists.
    pub const JOIN_INTEREST: u64 = 0x08;
    /// The `JoinHandle` registered a waker in the trailer.
    pub const JOIN_WAKER: u64 = 0x10;
    /// The task was cancelled.
    pub const CANCELLED: u64 = 0x20;
    /// The reference count starts at this bit.
    pub const REF_SHIFT: u32 = 6;
}

/// The state and reference count a tokio task cell's state `word` says
/// (rules 6 and 7).
pub fn cell_state(word: u64) -> (TaskState, u64) {
    let has = |bit: u64| word & bit != 0;
    let state = if has(cell::CANCELLED) {
        TaskState::Cancelled
    } else if has(cell::COMPLETE) {
        TaskState::Completed
    } else if has(cell::RUNNING) {
        TaskState::Running
    } else if has(cell::NOTIFIED) {
        TaskState::Notified
    } else {
        TaskState::Pending
    };
    (state, word >> cell::REF_SHIFT)
}

/// Whether a tokio task cell's state `word` says a `JoinHandle` of the
/// task still exists (rule 6).
pub fn cell_join_handle(word: u64) -> bool {
    word & cell::JOIN_INTEREST != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cell_state_word() {
        use TaskState::*;
        let refs = 3 << cell::REF_SHIFT;
        let table = [
            (0, Pending),
            (cell::JOIN_INTEREST | cell::JOIN_WAKER, Pending),
            (cell::NOTIFIED, Notified),
            (cell::RUNNING, Running),
            (cell::RUNNING | cell::NOTIFIED, Running),
            (cell::COMPLETE | cell::JOIN_INTEREST, Completed),
            (cell::CANCELLED | cell::NOTIFIED, Cancelled),
            (cell::CANCELLED | cell::COMPLETE, Cancelled),
        ];
        for (bits, want) in table {
            assert_eq!(cell_state(bits | refs), (want, 3), "{bits:#x}");
        }
        assert_eq!(cell_state(1 << 6).1, 1);
        assert!(cell_join_handle(cell::JOIN_INTEREST | refs));
        assert!(!cell_join_handle(cell::JOIN_WAKER | cell::NOTIFIED | refs));
    }

    const ALL: [Phase; 4] = [
        Phase::Idle,
        Phase::Running,
        Phase::Completed,
        Phase::Cancelled,
    ];

    #[test]
    fn codes_round_trip_in_two_bits() {
        for p in ALL {
            assert!(u32::from(p.code()) < 1 << Phase::BITS);
            assert_eq!(Phase::from_code(u64::from(p.code())), p);
            assert_eq!(Phase::from_code(u64::from(p.code()) | 40 << 2), p);
        }
    }

    #[test]
    fn every_phase_and_drop() {
        use TaskState::*;
        let table = [
            ((Phase::Idle, false), Pending),
            ((Phase::Running, false), Running),
            ((Phase::Completed, false), Completed),
            ((Phase::Cancelled, false), Cancelled),
            ((Phase::Idle, true), Cancelled),
            ((Phase::Running, true), Cancelled),
            ((Phase::Completed, true), Completed),
            ((Phase::Cancelled, true), Cancelled),
        ];
        for ((phase, dropped), want) in table {
            assert_eq!(state(phase, dropped), want, "{phase:?}, dropped: {dropped}");
        }
    }
}
