//! `--stuck-queue`: a compaction pipeline whose workers nothing can ever
//! wake.
//!
//! Every write (`SET`, `DEL`, `SWAP`) asks for its keys to be compacted: a
//! job goes into the backlog, a bounded queue (when it is full the job is
//! dropped: compaction never slows a request down). The
//! `compaction-scheduler` task (traced) owns the backlog's receiver and the
//! only `Sender` of each of [`SHARDS`] shard queues, from which `compactor`
//! tasks (plain `tokio::spawn`) take jobs, a key always to the same shard.
//! Before it hands anything out, the scheduler waits for the store to
//! announce that it is ready.
//!
//! The bug is a lost wake-up, tokio's best-known `Notify` trap. The store
//! announces readiness once, with `notify_waiters`, which wakes the tasks
//! waiting at that moment and keeps no permit for one that comes later
//! (`notify_one` would keep one). The store has nothing to load, so it
//! announces before the scheduler, started after it, begins to wait. The
//! scheduler then waits forever, on a `Notify` only it still holds; every
//! compactor waits on a queue whose only sender the stuck scheduler holds;
//! and the backlog fills with jobs nobody takes.
//!
//! `turbowish waits` finds the scheduler stuck and the [`SHARDS`] compactors
//! stuck behind it. Nothing else does: no task count grows, and the backlog
//! is a bounded queue.

use super::clear_stack_below;
use crate::store::Store;
use std::sync::Arc;
use tokio::sync::{Notify, mpsc};
use turbowish_alloc::{Trace, TracedExt};

/// Compactor tasks, each fed by a queue of its own.
pub const SHARDS: usize = 4;

/// Jobs the backlog holds; it drops new ones beyond that.
pub const BACKLOG: usize = 4096;

/// Jobs a shard's queue holds.
const SHARD_QUEUE: usize = 64;

/// A key to compact.
#[derive(Debug)]
struct Job {
    key: String,
}

/// Where requests leave compaction jobs.
#[derive(Debug, Clone, Trace)]
pub struct Backlog {
    jobs: mpsc::Sender<Job>,
}

impl Backlog {
    /// Starts the pipeline in the background (so the server listens at
    /// once), compacting `store`'s values. Must be called inside a tokio
    /// runtime.
    pub fn start(store: Store) -> Backlog {
        let (jobs, backlog) = mpsc::channel(BACKLOG);
        // The setup runs as a task of its own, which then ends: the queues'
        // and tasks' addresses it handles stay off the caller's stack. It
        // clears the stack below it before (a task is built on the stack
        // and copied to the heap with its padding, which would carry stale
        // words of earlier polls, such as the cache's address, into the
        // scheduler's storage) and after (see `clear_stack_below`).
        drop(tokio::spawn(async move {
            clear_stack_below();
            start_pipeline(store, backlog);
            clear_stack_below();
        }));
        Backlog { jobs }
    }

    /// Asks for `key` to be compacted; a full backlog drops the job.
    pub fn enqueue(&self, key: &str) {
        let _ = self.jobs.try_send(Job {
            key: key.to_owned(),
        });
    }
}

/// The store's one-time announcement that it is ready.
#[derive(Debug, Clone, Default)]
struct Ready(Arc<Notify>);

impl Ready {
    /// Announces readiness, once. `notify_waiters` wakes only the tasks
    /// waiting now: the fault.
    fn announce(self) {
        self.0.notify_waiters();
    }

    /// Waits for the announcement.
    async fn wait(&self) {
        self.0.notified().await;
    }
}

/// The compactors start, the store announces it is ready (it has nothing
/// to load), then the scheduler starts, too late to hear it.
///
/// The compactors come first, their senders in an array rather than a
/// `Vec`: a cell's padding keeps stale words that can point at any block
/// made before it (README, Limits), and a compactor's cell pointing at the
/// `Notify` or at a buffer of every sender would look, to `waits`, like a
/// compactor that can wake the scheduler or the other compactors.
fn start_pipeline(store: Store, backlog: mpsc::Receiver<Job>) {
    let shards: [mpsc::Sender<Job>; SHARDS] = std::array::from_fn(|_| compactor(store.clone()));
    let ready = Ready::default();
    let waiter = ready.clone();
    ready.announce();
    schedule(backlog, shards, waiter)
        .named("compaction-scheduler")
        .spawn();
}

/// Starts a compactor; the sender of its queue.
fn compactor(store: Store) -> mpsc::Sender<Job> {
    let (tx, mut rx) = mpsc::channel::<Job>(SHARD_QUEUE);
    drop(tokio::spawn(async move {
        while let Some(job) = rx.recv().await {
            store.compact(&job.key);
        }
    }));
    tx
}

/// Once the store is ready, hands each job of the backlog to its key's
/// shard.
async fn schedule(
    mut backlog: mpsc::Receiver<Job>,
    shards: [mpsc::Sender<Job>; SHARDS],
    ready: Ready,
) {
    ready.wait().await;
    while let Some(job) = backlog.recv().await {
        let shard = shard_of(&job.key, shards.len());
        if shards[shard].send(job).await.is_err() {
            return;
        }
    }
}

/// The shard of `key`, one of `shards`: a key's jobs always go to the same
/// compactor, in order.
fn shard_of(key: &str, shards: usize) -> usize {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(key);
    (hash % shards as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_always_goes_to_the_same_shard() {
        assert_eq!(shard_of("k1", SHARDS), shard_of("k1", SHARDS));
        let used: std::collections::HashSet<usize> = (0..100)
            .map(|i| shard_of(&format!("k{i}"), SHARDS))
            .collect();
        assert_eq!(used.len(), SHARDS);
    }

    /// The fault: an announcement made before the scheduler waits is lost
    /// (where `notify_one` would have left a permit).
    #[test]
    fn an_announcement_before_the_wait_is_lost() {
        use std::future::Future;
        use std::task::{Context, Waker};
        let mut cx = Context::from_waker(Waker::noop());
        let ready = Ready::default();
        let waiter = ready.clone();
        ready.announce();
        let mut wait = std::pin::pin!(waiter.wait());
        assert!(wait.as_mut().poll(&mut cx).is_pending());

        let permit = Ready::default();
        permit.0.notify_one();
        let mut wait = std::pin::pin!(permit.wait());
        assert!(wait.as_mut().poll(&mut cx).is_ready());
    }
}
