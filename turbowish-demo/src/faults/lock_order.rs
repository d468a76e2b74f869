//! `--lock-order`: `SWAP a b` run as two tasks that take two locks in
//! opposite orders, a deadlock on every `SWAP`, masked by a time-out.
//!
//! Each key's half of the exchange runs in a task of its own (plain
//! `tokio::spawn`), with a slot per key (a `tokio::sync::Mutex` holding the
//! key's entry). A half locks its own key's slot and reads the key's entry
//! into it; waits at a barrier until the other half has read too (so that
//! both entries are read before either is used); then locks the other key's
//! slot to take the entry it will write. Half `a` holds slot `a` and waits
//! for slot `b`; half `b` holds `b` and waits for `a`: each waits for a lock
//! the other holds, for ever. The barrier makes that happen every time,
//! however the runtime schedules the two.
//!
//! The handler waits [`SWAP_TIMEOUT`] for the halves, then swaps under the
//! store's lock instead and answers `OK`: clients see a correct, slightly
//! slow `SWAP`. Dropping the halves' `JoinHandle`s detaches the tasks, it
//! does not cancel them, so every `SWAP` leaves two tasks deadlocked on two
//! locks that only they hold.
//!
//! `turbowish waits` finds each pair as a cycle of two stuck tasks.

use super::clear_stack_below;
use crate::store::{Entry, Store};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Barrier, Mutex};
use tokio::task::{JoinError, JoinHandle};

/// How long `SWAP` waits for its two halves before it swaps by itself.
pub const SWAP_TIMEOUT: Duration = Duration::from_millis(20);

/// A key's slot: its entry, read while the exchange holds the lock.
type Slot = Arc<Mutex<Option<Entry>>>;

/// Swaps the entries of `a` and `b` in `store`.
pub async fn swap(store: &Store, a: &str, b: &str) {
    // Boxed, so that the halves' handles live in a block of their own,
    // freed when the time-out drops it: in the connection's future their
    // bytes would stay behind, stale words that a snapshot's conservative
    // scan reads as handles to the halves.
    // The halves are built on the stack and copied to the heap with their
    // padding: no stale word of earlier polls goes with them; and no copy
    // of the slots' addresses stays in a dead slot (see `clear_stack_below`).
    clear_stack_below();
    let halves = Box::pin(both(spawn_halves(store, [a, b], Default::default())));
    clear_stack_below();
    match tokio::time::timeout(SWAP_TIMEOUT, halves).await {
        Ok((Ok(for_a), Ok(for_b))) => {
            store.put(a, for_a);
            store.put(b, for_b);
        }
        _ => store.swap(a, b),
    }
}

/// The outputs of both halves.
async fn both<T>([a, b]: [JoinHandle<T>; 2]) -> (Result<T, JoinError>, Result<T, JoinError>) {
    (a.await, b.await)
}

/// Spawns the two halves of a swap of keys `a` and `b`, whose slots are
/// `slots`; each gives the entry its key gets.
fn spawn_halves(
    store: &Store,
    [a, b]: [&str; 2],
    [slot_a, slot_b]: [Slot; 2],
) -> [JoinHandle<Option<Entry>>; 2] {
    let both_read = Arc::new(Barrier::new(2));
    [(a, &slot_a, &slot_b), (b, &slot_b, &slot_a)].map(|(key, mine, theirs)| {
        let half = Half {
            store: store.clone(),
            key: key.to_owned(),
            mine: mine.clone(),
            theirs: theirs.clone(),
            both_read: both_read.clone(),
        };
        tokio::spawn(half.run())
    })
}

/// One half of a swap.
struct Half {
    store: Store,
    /// The key whose entry this half reads.
    key: String,
    /// That key's slot.
    mine: Slot,
    /// The other key's slot.
    theirs: Slot,
    /// Where the halves wait for each other to have read.
    both_read: Arc<Barrier>,
}

impl Half {
    /// The entry for this half's key: the other key's.
    async fn run(self) -> Option<Entry> {
        let mut staged = self.mine.lock().await;
        *staged = self.store.entry(&self.key);
        self.both_read.wait().await;
        // Waking the other half left its `Waker` in a dead stack slot.
        clear_stack_below();
        // The other order from the other half's: the deadlock.
        let other = self.theirs.lock().await;
        other.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fault is real: both slots end up locked at once, and then
    /// neither half can ever finish (each unlocks its slot only after it
    /// gets the other's). The fallback still swaps.
    #[test]
    fn the_halves_deadlock_and_the_swap_still_happens() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let store = Store::new();
        store.set("a".into(), "1".into(), None);
        let slots: [Slot; 2] = Default::default();
        let halves = rt.block_on(async { spawn_halves(&store, ["a", "b"], slots.clone()) });
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while slots.iter().any(|s| s.try_lock().is_ok()) {
            assert!(std::time::Instant::now() < deadline, "no deadlock");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(halves.iter().all(|h| !h.is_finished()));
        rt.block_on(swap(&store, "a", "b"));
        assert_eq!(
            (store.get("a"), store.get("b").as_deref()),
            (None, Some("1"))
        );
        rt.shutdown_background();
    }
}
