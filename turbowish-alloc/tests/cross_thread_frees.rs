//! Counters rule 2: in an 8-thread churn where every block is freed by a
//! different thread than the one that allocated it, the summed figures are
//! exact once the threads are done, and a snapshot taken meanwhile lists
//! exactly the blocks its own totals say.

mod common;

use std::sync::mpsc;
use turbowish_alloc::{TurboWish, stats};

#[global_allocator]
static ALLOC: TurboWish = TurboWish::system();

const THREADS: usize = 8;
const PER_THREAD: usize = 20_000;

/// Allocates `PER_THREAD` blocks (sizes from tiny to past the header limit)
/// and sends them on; frees every block it receives.
fn worker(seed: usize, out: mpsc::SyncSender<Vec<u8>>, inbox: mpsc::Receiver<Vec<u8>>) -> u64 {
    let mut bytes = 0u64;
    let mut x = seed as u64 | 1;
    for i in 0..PER_THREAD {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let size = if i % 500 == 0 {
            300_000
        } else {
            1 + (x % 2000) as usize
        };
        bytes += size as u64;
        out.send(vec![seed as u8; size]).unwrap();
        while let Ok(v) = inbox.try_recv() {
            drop(v);
        }
    }
    drop(out);
    for v in inbox {
        drop(v);
    }
    bytes
}

#[test]
fn frees_from_other_threads_keep_totals_exact() {
    let _serial = common::serial();
    // The first snapshot keeps what it sets up once (its thread, its
    // settings): take it before counting.
    drop(common::snapshot("warm-up").expect("snapshot"));
    let before = stats();
    // A ring: thread i sends to thread i + 1.
    let (senders, receivers): (Vec<_>, Vec<_>) =
        (0..THREADS).map(|_| mpsc::sync_channel(64)).unzip();
    let mut receivers: Vec<_> = receivers.into_iter().map(Some).collect();
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let out = senders[(i + 1) % THREADS].clone();
            let inbox = receivers[i].take().unwrap();
            std::thread::spawn(move || worker(i, out, inbox))
        })
        .collect();
    drop(senders);
    // A snapshot in the middle of the churn agrees with itself.
    let (info, s) = common::snapshot_with_info("cross", &Default::default()).expect("snapshot");
    assert_eq!(info.blocks, s.blocks.len() as u64);
    let sum: u64 = s.blocks.iter().map(|b| b.size).sum();
    assert_eq!(s.capture.live_bytes, sum);
    let bytes: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    drop((s, info, receivers));
    common::settles_to(&before);
    let after = stats();
    // Totals also count the channels, the threads and reading the snapshot.
    assert!(after.total_blocks - before.total_blocks >= (THREADS * PER_THREAD) as u64);
    assert!(after.total_bytes - before.total_bytes >= bytes);
}
